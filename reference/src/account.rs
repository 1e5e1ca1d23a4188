//! An inode's delalloc accounting: the reservations of SPEC §4 (era B
//! btrfs_delalloc_reserve_metadata and friends) and the ordered extents and delayed-inode update
//! of SPEC §5; where era C differs, the call goes to `inode_rsv`.
//!
//! outstanding_extents is derived, never stored: at any moment it is
//!   Σ count(len) over DELALLOC records + Σ count(len) over ordered extents + `pending`,
//! where `pending` is the part no record or ordered extent carries yet: the count(n) of a
//! reservation in progress (SPEC §4 step 1), the short-copy bump (SPEC §6 buffered_write step 4),
//! until the hand-off (SPEC §4) or a release gives them back (era C: release_extents, §4.1).
//! Everything that depends on history is stored: reserved_extents, csum_bytes, META_RESERVED,
//! the delayed node's bytes, era C's block reservation.

use crate::fs::Fs;
use crate::space::{dec, Enospc, Rsv};
use crate::tree::Tree;
use delalloc_contract::{Accounting, Bits, BlockRsv, Geometry, OrderedExtent, OrderedKind, Outcome};

#[derive(Clone, Debug, Default)]
pub struct Inode {
    pub i_size: u64,
    pub tree: Tree,
    /// Ordered extents, sorted by start, disjoint.
    pub ordered: Vec<OrderedExtent>,
    pub reserved_extents: u64,
    pub csum_bytes: u64,
    pub meta_reserved: bool,
    /// The delayed node's reservation (node->bytes_reserved).
    pub delayed_bytes: u64,
    /// Outstanding extents counted by a reservation but not yet carried by a record.
    pub pending: u64,
    /// Era C: the inode's own block reservation (SPEC §4.1); always empty in era B.
    pub block_rsv: BlockRsv,
}

impl Inode {
    pub fn outstanding_extents(&self, g: &Geometry) -> u64 {
        self.tree.outstanding_extents(g) + self.outstanding_beyond_records(g)
    }

    /// The part of outstanding_extents no record carries: ordered extents and `pending`.
    pub fn outstanding_beyond_records(&self, g: &Geometry) -> u64 {
        let ordered: u64 = self.ordered.iter().map(|o| g.count_max_extents(o.len)).sum();
        ordered + self.pending
    }

    /// Whether any accounting field of btrfs_destroy_inode's WARN_ONs is non-zero (4.4: no WARN
    /// on META_RESERVED; 6.12: none on reserved_extents, which era C does not have).
    pub fn leaks(&self, g: &Geometry) -> bool {
        self.outstanding_extents(g) != 0
            || self.reserved_extents != 0
            || self.csum_bytes != 0
            || self.tree.bytes_with(Bits::DELALLOC) != 0
            || self.tree.bytes_with(Bits::DEFRAG) != 0
            || self.tree.bytes_with(Bits::DELALLOC_NEW) != 0
            || self.block_rsv != BlockRsv::default()
    }

    /// Inserts an ordered extent at its place by file offset (SPEC §5); it counts count(len)
    /// outstanding extents through the derivation above.
    pub fn add_ordered(&mut self, start: u64, len: u64, kind: OrderedKind) {
        let at = self.ordered.partition_point(|o| o.start < start);
        self.ordered.insert(at, OrderedExtent { start, len, kind });
    }
}

impl Fs {
    /// csum reserve(n) (SPEC §4, calc_csum_metadata_size(reserve)): the bytes of the new leaves.
    fn csum_reserve(&mut self, ino: usize, n: u64) -> u64 {
        let (g, i) = (&self.g, &mut self.inodes[ino]);
        let old = g.csum_leaves(i.csum_bytes);
        i.csum_bytes += n;
        g.trans_metadata_size(g.csum_leaves(i.csum_bytes) - old)
    }

    /// csum release(n) (SPEC §4, calc_csum_metadata_size(release)): the bytes of the freed leaves.
    fn csum_release(&mut self, ino: usize, n: u64) -> u64 {
        let (g, i) = (&self.g, &mut self.inodes[ino]);
        let old = g.csum_leaves(i.csum_bytes);
        dec(&mut i.csum_bytes, n);
        g.trans_metadata_size(old - g.csum_leaves(i.csum_bytes))
    }

    /// drop_outstanding_extent (SPEC §4) after its `outstanding -= count(n)` has already happened
    /// (a record lost DELALLOC, an ordered extent went away, or `pending` fell): clear
    /// META_RESERVED at zero outstanding, clamp reserved_extents. Returns the dropped items.
    fn drop_reserved(&mut self, ino: usize) -> u64 {
        let outstanding = self.inodes[ino].outstanding_extents(&self.g);
        let i = &mut self.inodes[ino];
        let mut dropped = 0;
        if outstanding == 0 && i.meta_reserved {
            i.meta_reserved = false;
            dropped += 1;
        }
        if outstanding < i.reserved_extents {
            dropped += i.reserved_extents - outstanding;
            i.reserved_extents = outstanding;
        }
        dropped
    }

    /// btrfs_delalloc_release_metadata(n) (SPEC §4), its count(n) outstanding extents already
    /// gone from the state (see `drop_reserved`).
    pub(crate) fn release_metadata(&mut self, ino: usize, n: u64) {
        let dropped = self.drop_reserved(ino);
        let bytes = self.csum_release(ino, n) + self.g.trans_metadata_size(dropped);
        self.space.release(Rsv::Delalloc, bytes);
    }

    /// btrfs_delalloc_reserve_metadata(n), era B (SPEC §4, seeds 000 and 002).
    pub(crate) fn reserve_metadata(&mut self, ino: usize, n: u64) -> Result<(), Enospc> {
        let count = self.g.count_max_extents(n);
        self.inodes[ino].pending += count; // step 1
        let outstanding = self.inodes[ino].outstanding_extents(&self.g);
        let i = &self.inodes[ino];
        let extent_items = outstanding.saturating_sub(i.reserved_extents); // step 2
        let items = extent_items + u64::from(!i.meta_reserved);
        let to_reserve = self.g.trans_metadata_size(items) + self.csum_reserve(ino, n); // step 3
        if self.space.reserve_meta(to_reserve).is_ok() {
            // Step 4: reserved_extents is raised only now that the space is ours (seed 000).
            let i = &mut self.inodes[ino];
            i.meta_reserved = true;
            i.reserved_extents += extent_items;
            self.space.add(Rsv::Delalloc, to_reserve);
            return Ok(());
        }
        // Step 5. Sequential program: nothing released against our csum bytes in between, so
        // they are simply taken back and none of the csum reservation is freed.
        dec(&mut self.inodes[ino].pending, count);
        let dropped = self.drop_reserved(ino);
        dec(&mut self.inodes[ino].csum_bytes, n);
        self.space.release(Rsv::Delalloc, self.g.trans_metadata_size(dropped));
        Err(Enospc)
    }

    /// btrfs_delalloc_reserve_space(n): data, then metadata (SPEC §4).
    pub(crate) fn reserve_space(&mut self, ino: usize, n: u64) -> Result<(), Enospc> {
        self.space.reserve_data(n)?;
        self.reserve_metadata(ino, n).inspect_err(|_| self.space.free_data(n))
    }

    /// Gives back n bytes of a reservation that were never handed to the tree: its count(n)
    /// pending extents, then btrfs_delalloc_release_space(n), or only the metadata release when
    /// the reservation was metadata-only (SPEC §4).
    pub(crate) fn release_reservation(&mut self, ino: usize, n: u64, with_data: bool) {
        dec(&mut self.inodes[ino].pending, self.g.count_max_extents(n));
        self.release_metadata(ino, n);
        if with_data {
            self.space.free_data(n);
        }
    }

    /// The hand-off (SPEC §4): the records just set carry the extents the reservation counted.
    pub(crate) fn hand_off(&mut self, ino: usize, n: u64) {
        dec(&mut self.inodes[ino].pending, self.g.count_max_extents(n));
    }

    /// clear_extent_bit with DO_ACCOUNTING (SPEC §2 clear hook): each record losing DELALLOC calls
    /// btrfs_delalloc_release_metadata(len) and, without NORESERVE, frees its data.
    ///
    /// Done here once per clear call with the sum of those lengths. This equals the per-record
    /// releases because, across one clear call:
    /// - outstanding only decreases between two drop points: each drop removes count(piece) ≥ 1,
    ///   and between drops only the split at end + 1 can add (at most 1), while merges after the
    ///   clear join records without DELALLOC (it is in every accounted mask) and change nothing;
    ///   so the successive clamps of reserved_extents to outstanding reduce to one clamp at the
    ///   final value, and META_RESERVED is cleared iff that final value is 0 (once outstanding is
    ///   0 no DELALLOC record is left to drop);
    /// - the csum-leaf releases telescope: Σ (leaves(c_k-1) − leaves(c_k)) = leaves(c_0) − leaves(c_n);
    /// - sequential block-rsv releases equal one release of the sum: the size falls by the same
    ///   total and the excess over it goes to the global reserve first either way.
    pub(crate) fn clear_accounted(&mut self, ino: usize, start: u64, end: u64, bits: Bits, delete: bool) {
        debug_assert!(delete || bits.contains(Bits::DELALLOC), "the argument above needs DELALLOC");
        let cleared = self.inodes[ino].tree.clear(start, end, bits, delete);
        if cleared.delalloc > 0 {
            // Era C: the same argument, with size(inode) falling at each record's release, so
            // the successive trims reduce to one at the final size.
            match self.g.era.accounting() {
                Accounting::B => self.release_metadata(ino, cleared.delalloc),
                Accounting::C => self.release_metadata_c(ino, cleared.delalloc),
            }
        }
        self.space.free_data(cleared.data_reserved);
    }

    /// The inode-update reservation (SPEC §5, btrfs_delayed_inode_reserve_metadata with the
    /// transaction's reservation being the delalloc one, seed 002).
    fn reserve_inode_update(&mut self, ino: usize) {
        let num = self.g.trans_metadata_size(1);
        if self.inodes[ino].delayed_bytes > 0 {
            return;
        }
        let reserved = if self.inodes[ino].meta_reserved {
            // The delalloc reservation carries the inode item: hand it to the delayed node. If
            // the delalloc reserve has run dry there is no global step here (4.4): the update
            // goes unreserved (btrfs_update_inode_fallback).
            self.inodes[ino].meta_reserved = false;
            let ok = self.space.migrate(Rsv::Delalloc, Rsv::Delayed, num).is_ok();
            if !ok {
                self.warnings.unreserved_inode_updates += 1;
            }
            // The migrate moved bytes but not size.
            self.space.release(Rsv::Delalloc, num);
            ok
        } else {
            let fresh = self.space.reserve_meta(num).is_ok();
            if fresh {
                self.space.add(Rsv::Delayed, num);
            }
            fresh || self.space.migrate(Rsv::Delalloc, Rsv::Delayed, num).is_ok() || self.steal_global(num)
        };
        if reserved {
            self.inodes[ino].delayed_bytes = num;
        }
    }

    /// The last resort of the inode update: WARN_ON(1) and migrate from the global reserve; if
    /// even that fails the update goes unreserved.
    fn steal_global(&mut self, num: u64) -> bool {
        self.warnings.global_rsv_steals += 1;
        let ok = self.space.migrate(Rsv::Global, Rsv::Delayed, num).is_ok();
        if !ok {
            self.warnings.unreserved_inode_updates += 1;
        }
        ok
    }

    /// finish_ordered_io of the inode's `idx`-th ordered extent (SPEC §5; era C §5.1).
    pub(crate) fn finish_ordered_io(&mut self, ino: usize, idx: usize) {
        if self.g.era.accounting() == Accounting::C {
            return self.finish_ordered_io_c(ino, idx);
        }
        // 4.4 btrfs_finish_ordered_io: a COW ordered extent whose whole range is DEFRAG
        // (test_range_bit with filled = 1) loses DEFRAG; a NOCOW one, or a partly DEFRAG range,
        // keeps it.
        let oe = self.inodes[ino].ordered[idx];
        let end = oe.start + oe.len - 1;
        let all_defrag = self.inodes[ino].tree.test_range_bit(oe.start, end, Bits::DEFRAG, true);
        if oe.kind != OrderedKind::Nocow && all_defrag == (Outcome::Test { result: true }) {
            self.inodes[ino].tree.clear(oe.start, end, Bits::DEFRAG, false);
        }
        self.reserve_inode_update(ino);
        let oe = self.inodes[ino].ordered.remove(idx);
        if oe.kind != OrderedKind::Nocow {
            dec(&mut self.space.data.bytes_reserved, oe.len);
            self.space.data.bytes_used += oe.len;
        }
        self.release_metadata(ino, oe.len);
    }

    /// "Finish ordered in R" (SPEC §6): every ordered extent overlapping [start, end], by offset.
    pub(crate) fn finish_ordered_in(&mut self, ino: usize, start: u64, end: u64) {
        while let Some(idx) =
            self.inodes[ino].ordered.iter().position(|o| o.start <= end && o.start + o.len > start)
        {
            self.finish_ordered_io(ino, idx);
        }
    }
}
