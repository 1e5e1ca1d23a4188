//! Era C's reservations (SPEC §3.1, §4.1, §5.1; 6.12 delalloc-space.c and block-rsv.c): each
//! inode's own block reservation, sized from its outstanding_extents and csum_bytes whenever
//! delalloc-space.c recomputes it, and trimmed to that size.
//!
//! outstanding_extents stays derived (see `account`): `pending` holds the count(num) of each
//! reservation until its release_extents, and every ordered extent counts 1 (it is never longer
//! than max_extent, so that is its count(len)). The size is stored, not derived: it is whatever
//! the last recompute made it, which is what the kernel keeps (SPEC §8.1).

use crate::fs::Fs;
use crate::space::{dec, Enospc, Rsv};
use delalloc_contract::OrderedKind;

impl Fs {
    /// btrfs_calculate_inode_block_rsv_size (6.12 delalloc-space.c:240): insert size for the
    /// outstanding extents plus one inode update while there are any, and insert size for the
    /// checksum leaves.
    fn inode_rsv_size(&self, ino: usize) -> u64 {
        let (g, i) = (&self.g, &self.inodes[ino]);
        let outstanding = i.outstanding_extents(g);
        let extents =
            if outstanding > 0 { g.trans_metadata_size(outstanding) + g.metadata_size(1) } else { 0 };
        extents + g.trans_metadata_size(g.csum_leaves(i.csum_bytes))
    }

    /// Recompute the size, then btrfs_inode_rsv_release (:216): what is reserved above the
    /// size goes back to metadata may_use (SPEC §3.1).
    fn recompute_and_trim(&mut self, ino: usize) {
        let size = self.inode_rsv_size(ino);
        let rsv = &mut self.inodes[ino].block_rsv;
        rsv.size = size;
        let excess = rsv.reserved.saturating_sub(size);
        rsv.reserved -= excess;
        dec(&mut self.space.meta.bytes_may_use, excess);
    }

    /// btrfs_delalloc_reserve_metadata(num, disk) (:305, calc_inode_reservations :280). The
    /// space first; only on success the counters, the recompute, and the whole reservation
    /// into the inode's (more than the new size: the op's release_extents trims it).
    pub(crate) fn reserve_metadata_c(&mut self, ino: usize, num: u64, disk: u64) -> Result<(), Enospc> {
        let g = self.g;
        let (num, disk) = (g.round_up(num), g.round_up(disk));
        let count = g.count_max_extents(num);
        let need = g.trans_metadata_size(count + g.csum_leaves(disk)) + g.metadata_size(1);
        self.space.reserve_meta(need)?;
        let i = &mut self.inodes[ino];
        i.pending += count;
        i.csum_bytes += disk;
        let size = self.inode_rsv_size(ino);
        let rsv = &mut self.inodes[ino].block_rsv;
        rsv.size = size;
        rsv.reserved += need;
        Ok(())
    }

    /// btrfs_delalloc_release_metadata(num) (:395): the checksum bytes go; outstanding_extents
    /// is not touched in era C.
    pub(crate) fn release_metadata_c(&mut self, ino: usize, num: u64) {
        dec(&mut self.inodes[ino].csum_bytes, self.g.round_up(num));
        self.recompute_and_trim(ino);
    }

    /// btrfs_delalloc_release_extents(num) (:425): the reservation's count(num) extents go.
    pub(crate) fn release_extents(&mut self, ino: usize, num: u64) {
        dec(&mut self.inodes[ino].pending, self.g.count_max_extents(num));
        self.recompute_and_trim(ino);
    }

    /// The sector-rounded bytes of [start, start + len): what btrfs_check_data_free_space and
    /// btrfs_free_reserved_data_space account.
    fn data_range(&self, start: u64, len: u64) -> u64 {
        self.g.round_up(start + len) - self.g.round_down(start)
    }

    /// btrfs_delalloc_reserve_space(start, len) (:467): data, then metadata; on the metadata's
    /// ENOSPC the data goes back.
    pub(crate) fn reserve_space_c(&mut self, ino: usize, start: u64, len: u64) -> Result<(), Enospc> {
        let data = self.data_range(start, len);
        self.space.reserve_data(data)?;
        self.reserve_metadata_c(ino, len, len).inspect_err(|_| self.space.free_data(data))
    }

    /// btrfs_delalloc_release_space(start, len) (:498): the metadata, then the data.
    pub(crate) fn release_space_c(&mut self, ino: usize, start: u64, len: u64) {
        self.release_metadata_c(ino, len);
        self.space.free_data(self.data_range(start, len));
    }

    /// The inode update of finish_ordered_io (SPEC §5.1, 6.12 delayed-inode.c:572 with the
    /// inode's reservation as the transaction's): once per transaction, meta(1) migrates from
    /// the inode's reservation to the delayed reserve. A short inode reservation is
    /// btrfs_update_inode_fallback's in-place update (inode.c:4100), not modelled: counted.
    fn reserve_inode_update_c(&mut self, ino: usize) {
        if self.inodes[ino].delayed_bytes > 0 {
            return;
        }
        let num = self.g.metadata_size(1);
        let rsv = &mut self.inodes[ino].block_rsv;
        if rsv.reserved < num {
            self.warnings.unreserved_inode_updates += 1;
            return;
        }
        rsv.reserved -= num;
        self.space.add(Rsv::Delayed, num);
        self.inodes[ino].delayed_bytes = num;
    }

    /// btrfs_finish_one_ordered (SPEC §5.1, 6.12 inode.c:3025) of the inode's `idx`-th ordered
    /// extent, then btrfs_remove_ordered_extent (ordered-data.c:634).
    pub(crate) fn finish_ordered_io_c(&mut self, ino: usize, idx: usize) {
        let oe = self.inodes[ino].ordered[idx];
        let end = oe.start + oe.len - 1;
        let locked = oe.kind != OrderedKind::Nocow;
        if locked {
            self.lock(ino, oe.start, end);
        }
        if oe.kind == OrderedKind::Cow {
            self.inodes[ino].tree.clear(oe.start, end, delalloc_contract::Bits::DELALLOC_NEW, false);
        }
        self.reserve_inode_update_c(ino);
        if oe.kind != OrderedKind::Nocow {
            dec(&mut self.space.data.bytes_reserved, oe.len);
            self.space.data.bytes_used += oe.len;
        }
        let mut bits = delalloc_contract::Bits::DEFRAG;
        if locked {
            bits = bits.union(delalloc_contract::Bits::LOCKED);
        }
        self.inodes[ino].tree.clear(oe.start, end, bits, false);
        // The extent's 1 outstanding extent goes with it (the derivation), then its metadata.
        self.inodes[ino].ordered.remove(idx);
        self.release_metadata_c(ino, oe.len);
    }
}
