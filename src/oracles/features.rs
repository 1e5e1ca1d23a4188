//! What one agreeing program reached, as a set of feature bits: the built-in engine's coverage
//! guidance keeps a program that sets a bit no earlier program set ([`crate::engines::guidance`]).
//!
//! The features are what the coverage table counts, made per program and a little finer:
//! - each (op kind, outcome) pair an op answered;
//! - each WARN path, op shape and geometry band of [`crate::oracles::stats`];
//! - counter bands: after every op, each counter of [`COUNTERS`] (the op's inode's, or the file
//!   system's) in a log2 bucket, so a program that first drives `outstanding_extents` past 16,
//!   or `bytes_may_use` past 1 GiB, is new;
//! - record-count bands: the same log2 buckets for the number of io-tree records and ordered
//!   extents.
//!
//! A band is a power of two wide so that the set stays small (a few hundred bits reachable) and
//! a bit means a new order of magnitude, not a new value: the corpus stays small enough that
//! each entry is mutated often.

use crate::oracles::stats::{GEOMETRY_ROWS, SHAPES, WARN_PATHS};
use delalloc_contract::{Op, OpKind, Outcome, Snapshot};

/// The counters whose log2 band is a feature, as the feature names print them.
pub const COUNTERS: [&str; 20] = [
    "tree.records",
    "tree.outstanding_extents",
    "tree.delalloc_bytes",
    "tree.defrag_bytes",
    "inode.records",
    "inode.ordered",
    "inode.outstanding_extents",
    "inode.reserved_extents",
    "inode.csum_bytes",
    "inode.delalloc_bytes",
    "inode.block_rsv.size",
    "inode.block_rsv.reserved",
    "inode.delayed_bytes_reserved",
    "data.bytes_may_use",
    "meta.bytes_may_use",
    "meta.bytes_reserved",
    "delalloc_rsv.reserved",
    "delayed_rsv.reserved",
    "global_rsv.reserved",
    "fs_delalloc_bytes",
];

/// Log2 buckets of a u64: 0, then `ilog2 + 1` (1..=64).
const BANDS: usize = 65;

const KIND_OUTCOME: usize = 0;
const KIND_OUTCOMES: usize = OpKind::ALL.len() * Outcome::NAMES.len();
const WARN: usize = KIND_OUTCOME + KIND_OUTCOMES;
const SHAPE: usize = WARN + WARN_PATHS.len();
const GEOMETRY: usize = SHAPE + SHAPES.len();
const COUNTER: usize = GEOMETRY + GEOMETRY_ROWS;
/// Every feature bit.
pub const BITS: usize = COUNTER + COUNTERS.len() * BANDS;
const WORDS: usize = BITS.div_ceil(64);

/// A set of features: one program's, or the union of a campaign's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Features([u64; WORDS]);

impl Default for Features {
    fn default() -> Features {
        Features([0; WORDS])
    }
}

impl Features {
    fn set(&mut self, bit: usize) {
        self.0[bit / 64] |= 1 << (bit % 64);
    }

    /// How many features are set.
    pub fn count(&self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// Adds `other`'s features to these.
    pub fn union_with(&mut self, other: &Features) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a |= b;
        }
    }

    /// Whether `self` has a feature `seen` lacks.
    pub fn has_new(&self, seen: &Features) -> bool {
        self.0.iter().zip(seen.0).any(|(a, b)| a & !b != 0)
    }

    /// An op of `kind` answered `outcome`.
    pub fn op(&mut self, kind: OpKind, outcome: &Outcome) {
        self.set(KIND_OUTCOME + kind as usize * Outcome::NAMES.len() + outcome.index());
    }

    /// The [`WARN_PATHS`] row `row` was reached.
    pub fn warn_path(&mut self, row: usize) {
        self.set(WARN + row);
    }

    /// The [`SHAPES`] row `row` ran.
    pub fn shape(&mut self, row: usize) {
        self.set(SHAPE + row);
    }

    /// The program's geometry is in flat geometry row `row`.
    pub fn geometry(&mut self, row: usize) {
        self.set(GEOMETRY + row);
    }

    fn band(&mut self, counter: usize, value: u64) {
        let bucket = if value == 0 {
            0
        } else {
            value.ilog2() as usize + 1
        };
        self.set(COUNTER + counter * BANDS + bucket);
    }

    /// The counter bands of `s`, the state after `op`: the file system's and the tree's, and
    /// those of the op's inode (an op of no inode: inode 0's, which tree ops leave alone).
    pub fn counters(&mut self, s: &Snapshot, op: &Op) {
        let t = &s.tree;
        let fs = [
            t.records.len() as u64,
            t.outstanding_extents,
            t.delalloc_bytes,
            t.defrag_bytes,
        ];
        for (c, v) in fs.into_iter().enumerate() {
            self.band(c, v);
        }
        if let Some(inode) = s.inodes.get(op.ino().map_or(0, usize::from)) {
            let rsv = inode.block_rsv.unwrap_or_default();
            let ino = [
                inode.records.len() as u64,
                inode.ordered.len() as u64,
                inode.outstanding_extents,
                inode.reserved_extents.unwrap_or(0),
                inode.csum_bytes,
                inode.delalloc_bytes,
                rsv.size,
                rsv.reserved,
                inode.delayed_bytes_reserved,
            ];
            for (c, v) in ino.into_iter().enumerate() {
                self.band(fs.len() + c, v);
            }
        }
        let space = [
            s.data.bytes_may_use,
            s.meta.bytes_may_use,
            s.meta.bytes_reserved,
            s.delalloc_rsv.unwrap_or_default().reserved,
            s.delayed_rsv.reserved,
            s.global_rsv.reserved,
            s.fs_delalloc_bytes,
        ];
        for (c, v) in space.into_iter().enumerate() {
            self.band(COUNTERS.len() - space.len() + c, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_are_log2_and_distinct_per_counter() {
        let mut a = Features::default();
        a.band(0, 0);
        a.band(0, 1);
        a.band(0, 3);
        a.band(0, 2);
        assert_eq!(a.count(), 3, "0, 1 and 2..=3 are three bands");
        let mut b = Features::default();
        b.band(1, 1);
        assert!(b.has_new(&a), "the same band of another counter is new");
        a.union_with(&b);
        assert!(!b.has_new(&a));
        a.band(COUNTERS.len() - 1, u64::MAX);
        assert_eq!(a.count(), 5);
    }

    #[test]
    fn kind_outcome_pairs_are_distinct() {
        let mut a = Features::default();
        a.op(OpKind::ALL[0], &Outcome::Done);
        let mut b = Features::default();
        b.op(OpKind::ALL[1], &Outcome::Done);
        assert!(b.has_new(&a) && a.has_new(&b));
        let last = OpKind::ALL[OpKind::ALL.len() - 1];
        b.op(last, &Outcome::Done);
        assert_eq!(b.count(), 2);
    }
}
