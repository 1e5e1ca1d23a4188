//! Delalloc reservations (SPEC §4, era B btrfs_delalloc_reserve_metadata and friends) and the
//! inode-update reservation of the delayed inode (SPEC §5, seed 002).
//!
//! Everything here that changes an inode's accounting runs under its inode lock; the fs-wide
//! side goes through [`FsInfo`]'s leaf locks. [`reserve_metadata`] is the one function that
//! drops the inode lock in the middle (while the space info is asked for bytes), which is why a
//! release can race with it and why its failure path has two branches.

use crate::bugs::Bug;
use crate::inode::{Accounting, IMutexGuard, Inode, InodeInner};
use crate::space::{Enospc, FsInfo, Rsv, Warning};
use crate::sync::yield_point;

impl Accounting {
    /// calc_csum_metadata_size(n, reserve = 1): csum_bytes += n; the bytes of the checksum
    /// leaves this adds.
    pub fn csum_reserve(&mut self, fs: &FsInfo, n: u64) -> u64 {
        let old = fs.geo.csum_leaves(self.csum_bytes);
        self.csum_bytes += n;
        fs.trans(fs.geo.csum_leaves(self.csum_bytes) - old)
    }

    /// calc_csum_metadata_size(n, reserve = 0): csum_bytes −= n; the bytes of the checksum
    /// leaves this frees.
    pub fn csum_release(&mut self, fs: &FsInfo, n: u64) -> u64 {
        let old = fs.geo.csum_leaves(self.csum_bytes);
        self.csum_bytes = self.csum_bytes.saturating_sub(n);
        fs.trans(old - fs.geo.csum_leaves(self.csum_bytes))
    }

    /// drop_outstanding_extent(n): outstanding −= count(n); the last one takes the inode-update
    /// item with it; reserved extents beyond the outstanding ones are dropped. Returns the items
    /// whose reservation can go.
    pub fn drop_outstanding_extent(&mut self, fs: &FsInfo, n: u64) -> u64 {
        self.outstanding_extents = self.outstanding_extents.saturating_sub(fs.count(n));
        let mut dropped = 0;
        if self.outstanding_extents == 0
            && self.meta_reserved
            && !fs.bugs.contains(Bug::MetaReservedNeverDropped)
        {
            self.meta_reserved = false;
            dropped = 1;
        }
        if self.outstanding_extents < self.reserved_extents {
            dropped += self.reserved_extents - self.outstanding_extents;
            self.reserved_extents = self.outstanding_extents;
        }
        dropped
    }
}

/// btrfs_delalloc_release_metadata(n): under the inode lock (it is also called from the clear
/// hook, inside a tree operation).
pub fn release_metadata(acct: &mut Accounting, fs: &FsInfo, n: u64) {
    let dropped = acct.drop_outstanding_extent(fs, n);
    let to_free = acct.csum_release(fs, n) + fs.trans(dropped);
    fs.release(Rsv::Delalloc, to_free);
}

/// btrfs_delalloc_release_space(n): metadata, then data (SPEC §4).
pub fn release_space(acct: &mut Accounting, fs: &FsInfo, n: u64) {
    release_metadata(acct, fs, n);
    fs.free_data(n);
}

/// The hand-off (SPEC §4): the reservation counted count(n) outstanding extents for the extent
/// the caller just marked DELALLOC, whose set hook counted its records; drop the reservation's
/// count so that each extent is counted once. Era A/B did this with EXTENT_FIRST_DELALLOC.
pub fn hand_off(acct: &mut Accounting, fs: &FsInfo, n: u64) {
    acct.outstanding_extents = acct.outstanding_extents.saturating_sub(fs.count(n));
}

/// What a metadata reservation of n bytes asks the space info for (steps 1-3 of SPEC §4).
struct Asked {
    /// Outstanding extents not yet backed by reserved ones.
    extent_items: u64,
    /// Whether the inode-update item is asked for too (seed 002).
    inode_item: bool,
    to_reserve: u64,
}

/// Steps 1-3 of btrfs_delalloc_reserve_metadata, under the inode lock: count the new
/// outstanding extents, and size the reservation for the extents not yet reserved, the inode
/// update item unless held already, and the checksum leaves of n more bytes.
fn ask(acct: &mut Accounting, fs: &FsInfo, n: u64) -> Asked {
    acct.outstanding_extents += fs.count(n);
    let extent_items = acct
        .outstanding_extents
        .saturating_sub(acct.reserved_extents);
    // Seed 002: one more item for the inode update at ordered completion, unless held already.
    let inode_item = !acct.meta_reserved && !fs.bugs.contains(Bug::NoInodeUpdateItem);
    let to_reserve = fs.trans(extent_items + u64::from(inode_item)) + acct.csum_reserve(fs, n);
    Asked {
        extent_items,
        inode_item,
        to_reserve,
    }
}

/// btrfs_delalloc_reserve_metadata(n), era B with seeds 000 and 002.
///
/// The caller holds the inode's i_mutex, so no other reservation of this inode runs meanwhile;
/// releases (writeback completion, a DO_ACCOUNTING clear) can, since they take only the inode
/// lock, which is dropped while the space info is asked.
pub fn reserve_metadata(
    inode: &Inode,
    i_mutex: &IMutexGuard<'_>,
    fs: &FsInfo,
    n: u64,
) -> Result<(), Enospc> {
    debug_assert_eq!(
        i_mutex.ino(),
        inode.ino,
        "reservation under another inode's i_mutex"
    );
    if fs.bugs.contains(Bug::ReserveBeforeSuccess) {
        return reserve_metadata_before_660d3f6cde55(inode, fs, n);
    }
    // Steps 1-3, under the inode lock.
    let mut g = inode.lock_inner();
    let acct = &mut g.acct;
    let Asked {
        extent_items,
        inode_item,
        to_reserve,
    } = ask(acct, fs, n);
    let csum_bytes = acct.csum_bytes;
    drop(g);

    // Step 4: the space info, without the inode lock (the kernel drops its spin lock here, and
    // reserve_metadata_bytes may sleep: a release of this inode can run meanwhile).
    yield_point();
    let res = fs.block_rsv_add(Rsv::Delalloc, to_reserve);

    let mut g = inode.lock_inner();
    let acct = &mut g.acct;
    match res {
        Ok(()) => {
            // Seed 000: reserved_extents grows only once the bytes are really reserved.
            if inode_item {
                acct.meta_reserved = true;
            }
            acct.reserved_extents += extent_items;
            Ok(())
        }
        Err(Enospc) => {
            // Step 5.
            let dropped = acct.drop_outstanding_extent(fs, n);
            // Seed 000's race, re-created on request: a racing release goes unnoticed.
            let unraced =
                acct.csum_bytes == csum_bytes || fs.bugs.contains(Bug::RacingReleaseIgnored);
            let settled = if unraced {
                // Nobody released meanwhile: our csum bytes were never reserved, just forget them.
                acct.csum_bytes = acct.csum_bytes.saturating_sub(n);
                Settlement::default()
            } else {
                csum_after_racing_release(acct, fs, csum_bytes, n)
            };
            drop(g);
            fs.grow_size(Rsv::Delalloc, settled.overfreed);
            fs.release(Rsv::Delalloc, settled.owed + fs.trans(dropped));
            Err(Enospc)
        }
    }
}

/// [`reserve_metadata`] as it was before 660d3f6cde55 (seed 000, [`Bug::ReserveBeforeSuccess`]):
/// reserved_extents and the inode item are counted before the bytes are asked for, and a
/// failure releases as if everything had been reserved, less what this call asked for. The u64
/// subtraction is the kernel's: it wraps when drop_outstanding_extent gives back less than was
/// counted (the inode item stays when other extents are outstanding), and the release then
/// saturates (SPEC §3). Cold and out of line, so that the correct path pays one bit test.
#[cold]
#[inline(never)]
fn reserve_metadata_before_660d3f6cde55(inode: &Inode, fs: &FsInfo, n: u64) -> Result<(), Enospc> {
    let mut g = inode.lock_inner();
    let acct = &mut g.acct;
    let Asked {
        extent_items,
        inode_item,
        to_reserve,
    } = ask(acct, fs, n);
    acct.reserved_extents += extent_items;
    acct.meta_reserved |= inode_item;
    drop(g);

    yield_point();
    if fs.block_rsv_add(Rsv::Delalloc, to_reserve).is_ok() {
        return Ok(());
    }
    let mut g = inode.lock_inner();
    let acct = &mut g.acct;
    let dropped = acct.drop_outstanding_extent(fs, n);
    let to_free = acct.csum_release(fs, n) + fs.trans(dropped);
    drop(g);
    fs.release(Rsv::Delalloc, to_free.wrapping_sub(to_reserve));
    Err(Enospc)
}

/// What a failed reservation settles after racing releases (seed 000 case 1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Settlement {
    /// Checksum-leaf bytes the releases would have freed without our inflation and did not:
    /// freed now.
    pub owed: u64,
    /// Checksum-leaf bytes the releases freed only because our inflation pushed csum_bytes over
    /// a leaf boundary: leaves we never got. The kernel (3.10-4.14) leaves the reserve short
    /// here ("the other free-ers did the correct thing"); the model gives the reserve's size
    /// back, so that it stays sized for what the inode holds (SPEC §4 step 5, §8.5).
    pub overfreed: u64,
}

/// The failure path of a reservation that raced with releases (the out_fail arithmetic of
/// btrfs_delalloc_reserve_metadata, 3.10-4.14). `reserved_csum` is csum_bytes as this
/// reservation left it (including its own n bytes); the releases since then lowered it to the
/// current value. They freed leaves computed against a count inflated by our n bytes, which
/// were never really reserved; compare with what they would have freed without the inflation.
/// Leaves csum_bytes as if our n bytes had never been added.
fn csum_after_racing_release(
    acct: &mut Accounting,
    fs: &FsInfo,
    reserved_csum: u64,
    n: u64,
) -> Settlement {
    let now = acct.csum_bytes;
    let released = reserved_csum.saturating_sub(now);
    // What the racing releases freed, counted from the inflated csum_bytes.
    acct.csum_bytes = reserved_csum;
    let freed = acct.csum_release(fs, released);
    // What they would have freed from the true csum_bytes.
    acct.csum_bytes = reserved_csum.saturating_sub(n);
    let owed = acct.csum_release(fs, released);
    acct.csum_bytes = now.saturating_sub(n);
    Settlement {
        owed: owed.saturating_sub(freed),
        overfreed: freed.saturating_sub(owed),
    }
}

/// btrfs_delalloc_reserve_space(n): data, then metadata; a metadata failure gives the data back.
pub fn reserve_space(
    inode: &Inode,
    i_mutex: &IMutexGuard<'_>,
    fs: &FsInfo,
    n: u64,
) -> Result<(), Enospc> {
    fs.reserve_data(n)?;
    reserve_metadata(inode, i_mutex, fs, n).inspect_err(|_| fs.free_data(n))
}

/// btrfs_delayed_inode_reserve_metadata with the delalloc reserve as the transaction's (SPEC §5,
/// seed 002): give the inode's delayed node trans(1) bytes for the inode item update.
pub fn delayed_inode_reserve(inner: &mut InodeInner, fs: &FsInfo) {
    if inner.delayed_bytes_reserved != 0 {
        return;
    }
    let num = fs.trans(1);
    let reserved = if fs.bugs.contains(Bug::NoInodeUpdateItem) {
        // Before seed 002: nothing was set aside for this update; steal it from the delalloc
        // reserve, or go without (the kernel's ENOSPC in finish_ordered_io).
        let ok = fs.migrate(Rsv::Delalloc, Rsv::Delayed, num).is_ok();
        if !ok {
            fs.warn(Warning::UnreservedInodeUpdate);
        }
        ok
    } else if inner.acct.meta_reserved {
        // The item reserved at delalloc time: move its bytes. Migrate moves bytes, not size, so
        // the delalloc reserve's size is released separately, migrate or not. A failed migrate
        // goes straight to `out:` in 4.4 (delayed-inode.c:671-672, no global step): the update
        // is done unreserved by btrfs_update_inode_fallback.
        inner.acct.meta_reserved = false;
        let ok = fs.migrate(Rsv::Delalloc, Rsv::Delayed, num).is_ok();
        if !ok {
            fs.warn(Warning::UnreservedInodeUpdate);
        }
        fs.release(Rsv::Delalloc, num);
        ok
    } else {
        fs.block_rsv_add(Rsv::Delayed, num).is_ok()
            || fs.migrate(Rsv::Delalloc, Rsv::Delayed, num).is_ok()
            || steal_from_global(fs, num)
    };
    if reserved {
        inner.delayed_bytes_reserved = num;
    }
}

/// The last resort of the steal chain: WARN_ON(1) and take it from the global reserve; if even
/// that fails the update goes unreserved (the kernel would abort the transaction).
fn steal_from_global(fs: &FsInfo, num: u64) -> bool {
    fs.warn(Warning::GlobalRsvSteal);
    if fs.migrate(Rsv::Global, Rsv::Delayed, num).is_ok() {
        true
    } else {
        fs.warn(Warning::UnreservedInodeUpdate);
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use delalloc_contract::Geometry;

    fn fs() -> FsInfo {
        FsInfo::mount(&Geometry::default())
    }

    #[test]
    fn csum_leaves_are_charged_when_crossed() {
        let fs = fs();
        let mut a = Accounting::default();
        let leaf = fs.trans(1);
        assert_eq!(a.csum_reserve(&fs, 4096), leaf);
        assert_eq!(a.csum_reserve(&fs, 4096), 0);
        assert_eq!(a.csum_release(&fs, 4096), 0);
        assert_eq!(a.csum_release(&fs, 4096), leaf);
        assert_eq!(a.csum_bytes, 0);
    }

    #[test]
    fn drop_outstanding_extent_takes_the_inode_item_with_the_last_extent() {
        let fs = fs();
        let mut a = Accounting {
            outstanding_extents: 2,
            reserved_extents: 2,
            meta_reserved: true,
            ..Default::default()
        };
        assert_eq!(a.drop_outstanding_extent(&fs, 4096), 1);
        assert_eq!(
            (a.outstanding_extents, a.reserved_extents, a.meta_reserved),
            (1, 1, true)
        );
        assert_eq!(a.drop_outstanding_extent(&fs, 4096), 2);
        assert_eq!(
            (a.outstanding_extents, a.reserved_extents, a.meta_reserved),
            (0, 0, false)
        );
    }

    #[test]
    fn a_racing_release_is_settled_by_the_failed_reservation() {
        // One leaf holds L = (16384 - 101 - 25) / 4 = 4064 sectors' checksums (4.4
        // btrfs_csum_bytes_to_leaves, 16 KiB nodes, crc32c).
        let fs = fs();
        let s = fs.geo.sectorsize;
        const L: u64 = 4064;
        assert_eq!(fs.geo.csums_per_leaf(), L);

        // Before: L - 1 sectors of csum (1 leaf). Our reservation of 2 sectors takes csum_bytes
        // to L + 1 (2 leaves, one leaf charged). A racing release of 2 sectors computes from
        // L + 1: 2 leaves -> 1, frees a leaf that was only ours. Without us: L - 1 -> L - 3
        // frees nothing. So the failed reservation owes nothing more (the kernel's
        // max(0, owed - freed) = 0), and the racing release over-freed by our leaf, which we
        // never got: the reserve is one leaf short.
        let mut a = Accounting {
            csum_bytes: (L - 1) * s, // after the racing release
            ..Default::default()
        };
        assert_eq!(
            csum_after_racing_release(&mut a, &fs, (L + 1) * s, 2 * s),
            Settlement {
                owed: 0,
                overfreed: fs.trans(1)
            }
        );
        assert_eq!(a.csum_bytes, (L - 3) * s);

        // Before: L + 1 sectors (2 leaves); we add 1 (L + 2, 2 leaves, nothing charged). A
        // release of 2 sectors from L + 2 -> L: 2 -> 1 leaf, frees one. Without us L + 1 ->
        // L - 1: 2 -> 1, frees one too. Nothing owed.
        let mut a = Accounting {
            csum_bytes: L * s,
            ..Default::default()
        };
        assert_eq!(
            csum_after_racing_release(&mut a, &fs, (L + 2) * s, s),
            Settlement::default()
        );
        assert_eq!(a.csum_bytes, (L - 1) * s);

        // And when the release frees nothing but would have freed a leaf without us: before
        // L + 1 (2 leaves), we add L + 39 (2L + 40: 3 leaves). Release 2: 2L + 40 -> 2L + 38:
        // 3 -> 3, frees nothing; without us L + 1 -> L - 1: 2 -> 1, one leaf owed.
        let mut a = Accounting {
            csum_bytes: (2 * L + 38) * s,
            ..Default::default()
        };
        assert_eq!(
            csum_after_racing_release(&mut a, &fs, (2 * L + 40) * s, (L + 39) * s),
            Settlement {
                owed: fs.trans(1),
                overfreed: 0
            }
        );
        assert_eq!(a.csum_bytes, (L - 1) * s);
    }
}
