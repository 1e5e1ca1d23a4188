//! Era C's delalloc reservations (SPEC §4.1, 6.12 delalloc-space.c) and its inode update
//! (SPEC §5.1, delayed-inode.c with the inode's reservation as the transaction's).
//!
//! Each inode has its own block reservation ([`Accounting::block_rsv`]), kept under the inode
//! lock beside the counters its size is computed from. Only this module recomputes the size
//! (btrfs_calculate_inode_block_rsv_size), always followed by a trim
//! (btrfs_inode_rsv_release); the hooks and ordered-extent creation change outstanding_extents
//! without recomputing, so the size may be stale until the next call here (SPEC §8.1), exactly
//! as in the kernel.

use crate::inode::{Accounting, IMutexGuard, Inode, InodeInner};
use crate::space::{Enospc, FsInfo, Rsv, Warning};
use crate::sync::yield_point;

/// leaves(b): btrfs_csum_bytes_to_leaves with the geometry's csums_per_leaf.
fn csum_leaves(fs: &FsInfo, csum_bytes: u64) -> u64 {
    fs.geo.csum_leaves(csum_bytes)
}

/// size(inode) of SPEC §4.1 (btrfs_calculate_inode_block_rsv_size :240): the extents' inserts
/// plus one inode update while any is outstanding, and the checksum leaves' inserts.
pub fn rsv_size(acct: &Accounting, fs: &FsInfo) -> u64 {
    let extents = if acct.outstanding_extents > 0 {
        fs.insert(acct.outstanding_extents) + fs.meta(1)
    } else {
        0
    };
    extents + fs.insert(csum_leaves(fs, acct.csum_bytes))
}

/// Recompute the size, then trim (btrfs_inode_rsv_release :216, block_rsv_release_bytes with
/// 0 bytes): what is reserved above the size goes back to metadata may_use (SPEC §3.1).
pub fn recompute_and_trim(acct: &mut Accounting, fs: &FsInfo) {
    acct.block_rsv.size = rsv_size(acct, fs);
    trim(acct, fs);
}

/// btrfs_inode_rsv_release: the reserved excess over the size goes back to may_use.
pub fn trim(acct: &mut Accounting, fs: &FsInfo) {
    let r = &mut acct.block_rsv;
    if r.reserved > r.size {
        let excess = r.reserved - r.size;
        r.reserved = r.size;
        fs.free_metadata(excess);
    }
}

/// calc_inode_reservations (:280): count(num) extents and the checksum leaves of `disk` bytes
/// inserted, and one inode update.
fn needed(fs: &FsInfo, num: u64, disk: u64) -> u64 {
    fs.insert(fs.count(num) + csum_leaves(fs, disk)) + fs.meta(1)
}

/// btrfs_delalloc_reserve_metadata(num, disk) (:305). The bytes are asked for first, without
/// the inode lock (nothing of the inode changes on ENOSPC); then, under the inode lock, the
/// counters grow, the size is recomputed and the bytes join the reservation without its size
/// (btrfs_block_rsv_add_bytes(.., false)): an over-reservation the op's release_extents trims.
///
/// The caller holds the inode's i_mutex (the kernel's inode lock around the write paths).
pub fn reserve_metadata(
    inode: &Inode,
    i_mutex: &IMutexGuard<'_>,
    fs: &FsInfo,
    num: u64,
    disk: u64,
) -> Result<(), Enospc> {
    debug_assert_eq!(
        i_mutex.ino(),
        inode.ino,
        "reservation under another inode's i_mutex"
    );
    let (num, disk) = (fs.geo.round_up(num), fs.geo.round_up(disk));
    let need = needed(fs, num, disk);
    // btrfs_reserve_metadata_bytes may flush and sleep: another task may run first.
    yield_point();
    fs.reserve_metadata(need)?;
    let mut g = inode.lock_inner();
    let acct = &mut g.acct;
    acct.outstanding_extents += fs.count(num);
    acct.csum_bytes += disk;
    acct.block_rsv.size = rsv_size(acct, fs);
    acct.block_rsv.reserved += need;
    Ok(())
}

/// btrfs_delalloc_release_metadata(num) (:395): csum_bytes −= num, recompute, trim. Under the
/// inode lock (also called from the clear hook, inside a tree operation).
pub fn release_metadata(acct: &mut Accounting, fs: &FsInfo, num: u64) {
    acct.csum_bytes = acct.csum_bytes.saturating_sub(fs.geo.round_up(num));
    recompute_and_trim(acct, fs);
}

/// btrfs_delalloc_release_extents(num) (:425): the reservation's own count(num) extents go,
/// recompute, trim.
pub fn release_extents(acct: &mut Accounting, fs: &FsInfo, num: u64) {
    acct.outstanding_extents = acct.outstanding_extents.saturating_sub(fs.count(num));
    recompute_and_trim(acct, fs);
}

/// The data bytes btrfs_check_data_free_space and btrfs_free_reserved_data_space account for
/// [start, start + len): the range rounded out to sectors.
pub fn data_bytes(fs: &FsInfo, start: u64, len: u64) -> u64 {
    fs.geo.round_up(start + len) - fs.geo.round_down(start)
}

/// btrfs_delalloc_reserve_space(start, len) (:467): data, then metadata(len, len); a metadata
/// failure gives the data back.
pub fn reserve_space(
    inode: &Inode,
    i_mutex: &IMutexGuard<'_>,
    fs: &FsInfo,
    start: u64,
    len: u64,
) -> Result<(), Enospc> {
    let data = data_bytes(fs, start, len);
    fs.reserve_data(data)?;
    reserve_metadata(inode, i_mutex, fs, len, len).inspect_err(|_| fs.free_data(data))
}

/// btrfs_delalloc_release_space(start, len) (:498): metadata, then the data of the range.
pub fn release_space(acct: &mut Accounting, fs: &FsInfo, start: u64, len: u64) {
    release_metadata(acct, fs, len);
    fs.free_data(data_bytes(fs, start, len));
}

/// btrfs_delayed_inode_reserve_metadata with trans->block_rsv = the inode's reservation (SPEC
/// §5.1): migrate meta(1) from it into the delayed reserve, size included on the delayed side;
/// the inode reservation's size stays (the next recompute sets it). No steal chain: if the
/// inode reservation holds less, btrfs_update_inode_fallback updates the inode item in place
/// (6.12 inode.c:4100), which the model does not have; it counts an unreserved update and goes
/// on.
pub fn delayed_inode_reserve(inner: &mut InodeInner, fs: &FsInfo) {
    if inner.delayed_bytes_reserved != 0 {
        return;
    }
    let num = fs.meta(1);
    let rsv = &mut inner.acct.block_rsv;
    if rsv.reserved >= num {
        rsv.reserved -= num;
        fs.rsv_add(Rsv::Delayed, num);
        inner.delayed_bytes_reserved = num;
    } else {
        fs.warn(Warning::UnreservedInodeUpdate);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use delalloc_contract::{Era, Geometry};

    fn fs() -> FsInfo {
        FsInfo::mount(&Geometry {
            era: Era::V6,
            ..Geometry::default()
        })
    }

    #[test]
    fn size_counts_one_inode_update_only_while_extents_are_outstanding() {
        let fs = fs();
        let mut a = Accounting::default();
        assert_eq!(rsv_size(&a, &fs), 0);
        a.csum_bytes = 4096;
        assert_eq!(rsv_size(&a, &fs), fs.insert(1));
        a.outstanding_extents = 2;
        assert_eq!(rsv_size(&a, &fs), fs.insert(2) + fs.meta(1) + fs.insert(1));
    }

    #[test]
    fn release_extents_trims_the_over_reservation_to_the_size() {
        let fs = fs();
        let mut a = Accounting {
            outstanding_extents: 2,
            csum_bytes: 4096,
            ..Default::default()
        };
        a.block_rsv.reserved = needed(&fs, 4096, 4096) + 1000;
        release_extents(&mut a, &fs, 4096);
        assert_eq!(a.outstanding_extents, 1);
        assert_eq!(a.block_rsv.size, fs.insert(1) + fs.meta(1) + fs.insert(1));
        assert_eq!(a.block_rsv.reserved, a.block_rsv.size);
    }
}
