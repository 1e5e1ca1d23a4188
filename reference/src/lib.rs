//! The executable specification: SPEC.md run as plainly as possible, obvious over fast.
//!
//! - [`tree`]: the extent io tree (SPEC §1) as a sorted `Vec` of records, with the hook counters
//!   of SPEC §2 derived from its records;
//! - `space`: space infos and block reservations (SPEC §3);
//! - `account`: an inode's delalloc reservations, ordered extents and inode update (SPEC §4, §5);
//! - `inode_rsv`: era C's per-inode block reservation (SPEC §3.1, §4.1, §5.1);
//! - `fs`: the file-system ops (SPEC §6); `fs_c`: where era C's differ (SPEC §6.1);
//! - this file: the [`Model`] implementation, the extent-tree ops (SPEC §7) and the snapshot.

mod account;
mod fs;
mod fs_c;
mod inode_rsv;
mod space;
pub mod tree;

use delalloc_contract::{Accounting, Bits, Geometry, InodeSnapshot, Model, Op, Outcome, Snapshot};
use fs::Fs;
use space::Rsv;
use tree::Tree;

#[derive(Clone, Debug)]
pub struct Reference {
    /// The stand-alone tree of the extent-tree ops (the self-tests' dummy inode: hooks, no space).
    tree: Tree,
    fs: Fs,
}

impl Reference {
    /// Mounts a file system of the (validated) geometry (SPEC §3 Mount).
    pub fn new(geometry: &Geometry) -> Reference {
        Reference { tree: Tree::new(geometry.era), fs: Fs::mount(geometry) }
    }

    /// The extent-tree ops (SPEC §7). `cached` is ignored: a cursor never changes a result.
    fn tree_op(&mut self, op: &Op) -> Outcome {
        let t = &mut self.tree;
        match *op {
            Op::SetBits { start, end, bits, exclusive, .. } => match t.set(start, end, bits, exclusive) {
                Ok(()) => Outcome::Done,
                Err(failed_start) => Outcome::Exists { failed_start },
            },
            Op::ClearBits { start, end, bits, delete, .. } => {
                t.clear(start, end, bits, delete);
                Outcome::Done
            }
            Op::ConvertBits { start, end, set, clear } => {
                t.convert(start, end, set, clear);
                Outcome::Done
            }
            Op::SetDelalloc { start, end } => {
                // set_extent_delalloc: era B adds UPTODATE, 6.x does not (SPEC §1.2).
                let bits = self.fs.g.era.delalloc_bits();
                let _ = t.set(start, end, bits, Bits::NONE);
                Outcome::Done
            }
            Op::Lock { start, end } => match lock(t, start, end) {
                Ok(()) => Outcome::Done,
                Err(failed_start) => Outcome::WouldBlock { failed_start },
            },
            Op::TryLock { start, end } => match lock(t, start, end) {
                Ok(()) => Outcome::Done,
                Err(_) => Outcome::Busy,
            },
            Op::Unlock { start, end } => {
                t.clear(start, end, Bits::LOCKED, false);
                Outcome::Done
            }
            Op::TestRangeBit { start, end, bits, filled } => t.test_range_bit(start, end, bits, filled),
            Op::CountRangeBits { start, end, max_bytes, bits, contig } => {
                t.count_range_bits(start, end, max_bytes, bits, contig)
            }
            Op::FindFirstBit { start, bits } => t.find_first_bit(start, bits),
            Op::FindDelalloc { start, max_bytes } => t.find_delalloc(start, max_bytes),
            Op::FindFirstClearBit { start, bits } => {
                let (start, end) = t.find_first_clear_bit(start, bits);
                Outcome::Clear { start, end }
            }
            Op::BufferedWrite { .. }
            | Op::DirectWrite { .. }
            | Op::PageMkwrite { .. }
            | Op::Defrag { .. }
            | Op::Writeback { .. }
            | Op::FinishOrdered { .. }
            | Op::Truncate { .. }
            | Op::Evict { .. }
            | Op::Commit
            | Op::Unmount
            | Op::SetFreeSpace { .. }
            | Op::FailNextReservation { .. }
            | Op::DrainDelallocRsv => unreachable!("not a tree op: {op:?}"),
        }
    }
}

/// lock_extent on a sequential program: LOCKED exclusively, or, on a conflict at
/// `failed_start`, the partial lock undone (there is nobody to wait for).
fn lock(t: &mut Tree, start: u64, end: u64) -> Result<(), u64> {
    let result = t.set(start, end, Bits::LOCKED, Bits::LOCKED);
    if let Err(failed_start) = result {
        if failed_start > start {
            t.clear(start, failed_start - 1, Bits::LOCKED, false);
        }
    }
    result
}

impl Model for Reference {
    fn name(&self) -> &'static str {
        "reference"
    }

    fn apply(&mut self, op: &Op) -> Outcome {
        if !self.fs.mounted {
            return Outcome::Unmounted;
        }
        let fs = &mut self.fs;
        let g = fs.g;
        let c = g.era.accounting() == Accounting::C;
        match *op {
            Op::BufferedWrite { ino, pos, len, copied, nocow } if c => {
                fs.buffered_write_c(ino.into(), pos, len, copied, nocow)
            }
            Op::BufferedWrite { ino, pos, len, copied, nocow } => {
                fs.buffered_write(ino.into(), pos, len, copied, nocow)
            }
            Op::DirectWrite { ino, pos, len, fallback } if c => {
                fs.direct_write_c(ino.into(), pos, len, fallback)
            }
            Op::DirectWrite { ino, pos, len, fallback } => fs.direct_write(ino.into(), pos, len, fallback),
            Op::PageMkwrite { ino, pos } if c => fs.page_mkwrite_c(ino.into(), pos),
            Op::PageMkwrite { ino, pos } => fs.page_mkwrite(ino.into(), pos),
            Op::Defrag { ino, start, len } if c => fs.defrag_c(ino.into(), start, len),
            Op::Defrag { ino, start, len } => fs.defrag(ino.into(), start, len),
            Op::Writeback { ino, start, len } => {
                fs.writeback(ino.into(), g.round_down(start), g.round_up(start + len) - 1);
                Outcome::Done
            }
            Op::FinishOrdered { ino, nth } => fs.finish_ordered(ino.into(), nth),
            Op::Truncate { ino, size } => fs.truncate(ino.into(), size),
            Op::Evict { ino } => fs.evict(ino.into()),
            Op::Commit => fs.commit(),
            Op::Unmount => fs.unmount(),
            Op::SetFreeSpace { data, meta } => {
                fs.space.set_free(data, meta);
                Outcome::Done
            }
            Op::FailNextReservation { kind } => {
                fs.space.inject_fault(kind);
                Outcome::Done
            }
            Op::DrainDelallocRsv => {
                fs.space.drain(Rsv::Delalloc);
                Outcome::Done
            }
            Op::SetBits { .. }
            | Op::ClearBits { .. }
            | Op::ConvertBits { .. }
            | Op::SetDelalloc { .. }
            | Op::Lock { .. }
            | Op::TryLock { .. }
            | Op::Unlock { .. }
            | Op::TestRangeBit { .. }
            | Op::CountRangeBits { .. }
            | Op::FindFirstBit { .. }
            | Op::FindDelalloc { .. }
            | Op::FindFirstClearBit { .. } => self.tree_op(op),
        }
    }

    fn snapshot(&self) -> Snapshot {
        let mut s = Snapshot::default();
        self.snapshot_into(&mut s);
        s
    }

    fn snapshot_into(&self, s: &mut Snapshot) {
        let (fs, g) = (&self.fs, &self.fs.g);
        s.inodes.resize_with(fs.inodes.len(), InodeSnapshot::default);
        for (out, i) in s.inodes.iter_mut().zip(&fs.inodes) {
            out.i_size = i.i_size;
            out.records.clear();
            out.records.extend_from_slice(i.tree.records());
            let (extents, delalloc, defrag, new_delalloc) = i.tree.hook_counters(g);
            out.outstanding_extents = extents + i.outstanding_beyond_records(g);
            let era_b = g.era.accounting() == Accounting::B;
            out.reserved_extents = era_b.then_some(i.reserved_extents);
            out.csum_bytes = i.csum_bytes;
            out.delalloc_bytes = delalloc;
            out.defrag_bytes = defrag;
            out.new_delalloc_bytes = new_delalloc;
            out.delalloc_meta_reserved = era_b.then_some(i.meta_reserved);
            out.block_rsv = (!era_b).then_some(i.block_rsv);
            out.delayed_bytes_reserved = i.delayed_bytes;
            out.ordered.clear();
            out.ordered.extend_from_slice(&i.ordered);
        }
        s.mounted = fs.mounted;
        s.tree.records.clear();
        s.tree.records.extend_from_slice(self.tree.records());
        (s.tree.outstanding_extents, s.tree.delalloc_bytes, s.tree.defrag_bytes, s.tree.new_delalloc_bytes) =
            self.tree.hook_counters(g);
        s.fs_delalloc_bytes = s.inodes.iter().map(|i| i.delalloc_bytes).sum();
        s.data = fs.space.data;
        s.meta = fs.space.meta;
        s.delalloc_rsv = (g.era.accounting() == Accounting::B).then_some(fs.space.delalloc);
        s.delayed_rsv = fs.space.delayed;
        s.global_rsv = fs.space.global;
        s.warnings = fs.warnings;
    }
}
