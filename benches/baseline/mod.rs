//! The benchmarks' baseline: an extent-bit tree built the straightforward way on a well-kept
//! interval-map crate, `rangemap::RangeMap<u64, u32>` (half-open ranges, bits as a raw `u32`).
//!
//! It is what one would write instead of a hand-built tree, and it does the same work as the
//! kernel-style trees for the benchmarks' operations:
//! - set bits on [start, end]: every stored range overlapping it is re-inserted, clipped to the
//!   range, with `value | bits`, and every gap in the range is inserted with `bits`;
//!   `RangeMap::insert` splits what it overwrites and coalesces equal neighbours itself;
//! - clear bits: every overlapping range that has one of the bits is re-inserted, clipped, with
//!   `value & !bits`, or removed if nothing is left;
//! - lock: refused (Err(first conflicting byte)) if an overlapping range is LOCKED, else set
//!   LOCKED; unlock: clear LOCKED.
//!
//! Deliberately none of the kernel's extras: no hooks, no cursor, no DELALLOC→NORESERVE rule,
//! and neighbours with equal bits always coalesce, LOCKED/WRITEBACK/BOUNDARY ones included (the
//! kernel trees keep those apart). On the benchmarks' trees — records separated by holes — none
//! of that makes a difference, which the self-check in `extent_tree.rs` asserts.

use delalloc_contract::{Bits, Record};
use rangemap::RangeMap;
use std::ops::Range;

/// An extent-bit tree on `RangeMap`. See the module documentation.
#[derive(Clone, Debug, Default)]
pub struct RangeMapTree {
    map: RangeMap<u64, u32>,
    /// Pieces to (re)insert, collected before changing the map; kept to reuse its allocation.
    scratch: Vec<(Range<u64>, u32)>,
}

impl RangeMapTree {
    pub fn new() -> RangeMapTree {
        RangeMapTree::default()
    }

    /// Number of stored ranges.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// The stored ranges as inclusive records, in order.
    pub fn records(&self) -> impl Iterator<Item = Record> + '_ {
        self.map.iter().map(|(r, &v)| Record {
            start: r.start,
            end: r.end - 1,
            bits: Bits(v),
        })
    }

    /// Gives every byte of [start, end] `bits`.
    pub fn set(&mut self, start: u64, end: u64, bits: Bits) {
        let range = start..end + 1;
        self.scratch.clear();
        self.scratch.extend(
            self.map
                .overlapping(&range)
                .map(|(r, &v)| (r.start.max(start)..r.end.min(end + 1), v | bits.0)),
        );
        self.scratch
            .extend(self.map.gaps(&range).map(|g| (g, bits.0)));
        for (r, v) in self.scratch.drain(..) {
            self.map.insert(r, v);
        }
    }

    /// Takes `bits` off every byte of [start, end]; ranges left with none are removed.
    pub fn clear(&mut self, start: u64, end: u64, bits: Bits) {
        let range = start..end + 1;
        self.scratch.clear();
        self.scratch.extend(
            self.map
                .overlapping(&range)
                .filter(|(_, &v)| v & bits.0 != 0)
                .map(|(r, &v)| (r.start.max(start)..r.end.min(end + 1), v & !bits.0)),
        );
        for (r, v) in self.scratch.drain(..) {
            if v == 0 {
                self.map.remove(r);
            } else {
                self.map.insert(r, v);
            }
        }
    }

    /// Locks [start, end] unless some byte of it is locked already: then Err(the first such
    /// byte) and nothing changes.
    pub fn try_lock(&mut self, start: u64, end: u64) -> Result<(), u64> {
        let range = start..end + 1;
        if let Some((r, _)) = self
            .map
            .overlapping(&range)
            .find(|(_, &v)| v & Bits::LOCKED.0 != 0)
        {
            return Err(r.start.max(start));
        }
        self.set(start, end, Bits::LOCKED);
        Ok(())
    }

    /// Unlocks [start, end].
    pub fn unlock(&mut self, start: u64, end: u64) {
        self.clear(start, end, Bits::LOCKED);
    }
}
