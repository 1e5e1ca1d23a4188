//! The fs-wide half of the accounting (SPEC §3; extent-tree.c and block-rsv.c of 4.x): the data
//! and metadata space infos, the three block reservations, fault injection, the fs-wide
//! delalloc byte counter and the warning counters. This is the kernel's `fs_info`.
//!
//! Locking, as in the kernel: each space info has its own lock (space_info->lock) and each block
//! reservation its own (rsv->lock). A reservation checks the free space and adds to
//! bytes_may_use under one hold of the space info lock, so two racing reservations can never
//! both take the last free bytes. These locks are leaves: nothing else is taken while one is
//! held, except in [`FsInfo::refill_global`] and [`FsInfo::release_global`], which take the
//! metadata space info lock and then the global reservation's (update_global_block_rsv's
//! order). No path takes them the other way round.
//!
//! Every decrement saturates at zero (SPEC §3): the kernel would WARN or BUG, the model goes on
//! so that the oracle reports the divergence.

use crate::bugs::BugSet;
use crate::stamp::Stamp;
use crate::sync::{
    atomic_sub_saturating, lock, AtomicBool, AtomicU64, Mutex, MutexGuard, Ordering, Padded,
};
use delalloc_contract::{
    Accounting, BlockRsv as RsvCounters, FaultKind, Geometry, Ino, SpaceInfo as SpaceCounters,
};
use delalloc_contract::{Snapshot, Warnings};

/// Shards of the fs-wide delalloc byte counter (inode `ino` uses shard ino % 4).
const DELALLOC_SHARDS: usize = 4;

/// A reservation or migration failed for lack of space (or an injected fault).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Enospc;

/// One btrfs_space_info: total, bytes_may_use, bytes_reserved, bytes_used under its lock.
#[derive(Debug)]
// Aligned like [`Padded`]: the lock and its stamp share one cache line, which only the thread
// holding the lock writes.
#[repr(align(64))]
struct SpaceInfo {
    counters: Mutex<SpaceCounters>,
    stamp: Stamp,
}

impl SpaceInfo {
    fn new(total: u64, may_use: u64) -> SpaceInfo {
        SpaceInfo {
            counters: Mutex::new(SpaceCounters {
                total,
                bytes_may_use: may_use,
                ..SpaceCounters::default()
            }),
            stamp: Stamp::default(),
        }
    }

    /// Takes the lock to change the counters: the only mutable path, so it moves the stamp.
    fn update(&self) -> MutexGuard<'_, SpaceCounters> {
        let guard = lock(&self.counters);
        self.stamp.moved();
        guard
    }

    /// Check free space and take it, atomically with respect to other reservations.
    fn try_reserve(&self, n: u64) -> Result<(), Enospc> {
        let mut s = self.update();
        if s.free() < n {
            return Err(Enospc);
        }
        s.bytes_may_use += n;
        Ok(())
    }

    fn sub_may_use(&self, n: u64) {
        let mut s = self.update();
        s.bytes_may_use = s.bytes_may_use.saturating_sub(n);
    }

    fn counters(&self) -> SpaceCounters {
        *lock(&self.counters)
    }
}

/// One btrfs_block_rsv: size and reserved under its lock.
#[derive(Debug)]
// Aligned like [`Padded`], for the same reason as [`SpaceInfo`].
#[repr(align(64))]
struct BlockRsv {
    counters: Mutex<RsvCounters>,
    stamp: Stamp,
}

impl BlockRsv {
    fn new(size: u64, reserved: u64) -> BlockRsv {
        BlockRsv {
            counters: Mutex::new(RsvCounters { size, reserved }),
            stamp: Stamp::default(),
        }
    }

    /// Takes the lock to change the counters: the only mutable path, so it moves the stamp.
    fn update(&self) -> MutexGuard<'_, RsvCounters> {
        let guard = lock(&self.counters);
        self.stamp.moved();
        guard
    }

    /// block_rsv_add_bytes: reserved += n, and size too when `update_size`.
    fn add(&self, n: u64, update_size: bool) {
        let mut r = self.update();
        r.reserved += n;
        if update_size {
            r.size += n;
        }
    }

    /// block_rsv_use_bytes: take n reserved bytes (the size stays), or fail.
    fn use_bytes(&self, n: u64) -> Result<(), Enospc> {
        let mut r = self.update();
        if r.reserved < n {
            return Err(Enospc);
        }
        r.reserved -= n;
        Ok(())
    }

    /// The first half of block_rsv_release_bytes: the size shrinks by n (saturating), and what
    /// is now reserved beyond the size leaves the reservation. Returns that excess.
    fn shrink(&self, n: u64) -> u64 {
        let mut r = self.update();
        r.size = r.size.saturating_sub(n);
        if r.reserved > r.size {
            let excess = r.reserved - r.size;
            r.reserved = r.size;
            excess
        } else {
            0
        }
    }

    /// The size grows by n, the reserved bytes do not: the reserve is owed n bytes.
    fn grow(&self, n: u64) {
        self.update().size += n;
    }

    /// The destination half of block_rsv_release_bytes: take up to n bytes while below the size
    /// (the kernel's `!dest->full`). Returns what was taken.
    fn top_up(&self, n: u64) -> u64 {
        let mut r = self.update();
        let take = n.min(r.size.saturating_sub(r.reserved));
        r.reserved += take;
        take
    }

    fn counters(&self) -> RsvCounters {
        *lock(&self.counters)
    }
}

/// Which block reservation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rsv {
    /// fs_info->delalloc_block_rsv: every inode's delalloc metadata (era A/B).
    Delalloc,
    /// fs_info->delayed_block_rsv: the delayed-inode items' reservations.
    Delayed,
    /// fs_info->global_block_rsv: the last resort, refilled at commit, released at unmount.
    Global,
}

/// The kernel WARN_ONs the model counts (snapshot `warnings`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Warning {
    GlobalRsvSteal = 0,
    UnreservedInodeUpdate = 1,
    EvictLeak = 2,
    UnmountLeak = 3,
}

/// The fs-wide state: geometry, spaces, reservations, fault flags, counters.
#[derive(Debug)]
pub struct FsInfo {
    pub geo: Geometry,
    data: SpaceInfo,
    meta: SpaceInfo,
    delalloc_rsv: BlockRsv,
    delayed_rsv: BlockRsv,
    global_rsv: BlockRsv,
    /// fail_next_reservation: consumed (swap to false) by the next positive reservation. Read
    /// first, swapped only when set, so that reservations do not write a shared line.
    fail_data: AtomicBool,
    fail_meta: AtomicBool,
    /// fs_info->delalloc_bytes, a percpu counter in the kernel: here one padded counter per
    /// inode shard (ino % DELALLOC_SHARDS), summed when read, so that hooks of different inodes
    /// never write the same cache line.
    delalloc_bytes: [Padded<AtomicU64>; DELALLOC_SHARDS],
    warnings: [AtomicU64; 4],
    /// The era's reservation design is era C (SPEC §0): per-inode block reservations, no
    /// fs-wide delalloc reserve, and a release's excess goes straight back to may_use (§3.1).
    pub era_c: bool,
    /// The re-introduced bugs ([`crate::bugs`]); every layer that holds the fs_info reads them
    /// here. None by default.
    pub bugs: BugSet,
}

impl FsInfo {
    /// Mount (SPEC §3): totals from the geometry, the global reserve filled from metadata.
    pub fn mount(geo: &Geometry) -> FsInfo {
        FsInfo::mount_with_bugs(geo, BugSet::NONE)
    }

    /// [`FsInfo::mount`] with `bugs` re-introduced.
    pub fn mount_with_bugs(geo: &Geometry, bugs: BugSet) -> FsInfo {
        FsInfo {
            geo: *geo,
            data: SpaceInfo::new(geo.data_bytes, 0),
            meta: SpaceInfo::new(geo.meta_bytes, geo.global_rsv),
            delalloc_rsv: BlockRsv::new(0, 0),
            delayed_rsv: BlockRsv::new(0, 0),
            global_rsv: BlockRsv::new(geo.global_rsv, geo.global_rsv),
            fail_data: AtomicBool::new(false),
            fail_meta: AtomicBool::new(false),
            delalloc_bytes: std::array::from_fn(|_| Padded(AtomicU64::new(0))),
            warnings: Default::default(),
            era_c: geo.era.accounting() == Accounting::C,
            bugs,
        }
    }

    // ---- geometry formulas (SPEC notation) ----

    /// count(len): count_max_extents.
    pub fn count(&self, len: u64) -> u64 {
        self.geo.count_max_extents(len)
    }

    /// trans(n): btrfs_calc_trans_metadata_size.
    pub fn trans(&self, items: u64) -> u64 {
        self.geo.trans_metadata_size(items)
    }

    /// insert(n) (era C, SPEC §4.1): btrfs_calc_insert_metadata_size, the same as trans(n).
    pub fn insert(&self, items: u64) -> u64 {
        self.geo.trans_metadata_size(items)
    }

    /// meta(n) (era C, SPEC §4.1): btrfs_calc_metadata_size, one item updated in place.
    pub fn meta(&self, items: u64) -> u64 {
        self.geo.metadata_size(items)
    }

    fn rsv(&self, r: Rsv) -> &BlockRsv {
        match r {
            Rsv::Delalloc => &self.delalloc_rsv,
            Rsv::Delayed => &self.delayed_rsv,
            Rsv::Global => &self.global_rsv,
        }
    }

    // ---- fault injection ----

    /// fail_next_reservation(kind).
    pub fn inject_fault(&self, kind: FaultKind) {
        match kind {
            FaultKind::Data => self.fail_data.store(true, Ordering::SeqCst),
            FaultKind::Metadata => self.fail_meta.store(true, Ordering::SeqCst),
        }
    }

    // ---- data (btrfs_check_data_free_space and the allocator) ----

    /// reserve data(n): a pending data fault fails it (and is consumed), else free space decides.
    pub fn reserve_data(&self, n: u64) -> Result<(), Enospc> {
        if n == 0 {
            return Ok(());
        }
        if self.fail_data.load(Ordering::Relaxed) && self.fail_data.swap(false, Ordering::SeqCst) {
            return Err(Enospc);
        }
        self.data.try_reserve(n)
    }

    /// btrfs_free_reserved_data_space: data bytes_may_use −= n.
    pub fn free_data(&self, n: u64) {
        if n > 0 {
            self.data.sub_may_use(n);
        }
    }

    /// The allocation of an extent for a reservation (cow_file_range's btrfs_reserve_extent,
    /// btrfs_get_blocks_direct): may_use −= n, bytes_reserved += n, under one lock.
    pub fn alloc_data(&self, n: u64) {
        let mut s = self.data.update();
        s.bytes_may_use = s.bytes_may_use.saturating_sub(n);
        s.bytes_reserved += n;
    }

    /// finish_ordered_io of an allocated extent: bytes_reserved −= n, bytes_used += n.
    pub fn data_written(&self, n: u64) {
        let mut s = self.data.update();
        s.bytes_reserved = s.bytes_reserved.saturating_sub(n);
        s.bytes_used += n;
    }

    // ---- metadata and block reservations ----

    /// reserve_metadata_bytes(n): no flushing, no overcommit (SPEC §3 simplification).
    pub fn reserve_metadata(&self, n: u64) -> Result<(), Enospc> {
        if n == 0 {
            return Ok(());
        }
        if self.fail_meta.load(Ordering::Relaxed) && self.fail_meta.swap(false, Ordering::SeqCst) {
            return Err(Enospc);
        }
        self.meta.try_reserve(n)
    }

    /// btrfs_space_info_free_bytes_may_use on the metadata space: what an inode reservation
    /// trims above its size goes straight back (era C, SPEC §3.1: the delayed-refs reserve,
    /// not modelled, takes nothing).
    pub fn free_metadata(&self, n: u64) {
        if n > 0 {
            self.meta.sub_may_use(n);
        }
    }

    /// btrfs_block_rsv_add_bytes(dst, n, update_size = 1) of bytes taken from an inode
    /// reservation (era C's migrate into the delayed reserve, SPEC §5.1).
    pub fn rsv_add(&self, r: Rsv, n: u64) {
        self.rsv(r).add(n, true);
    }

    /// btrfs_block_rsv_add: a fresh metadata reservation of n into `r`, size included.
    #[inline]
    pub fn block_rsv_add(&self, r: Rsv, n: u64) -> Result<(), Enospc> {
        self.reserve_metadata(n)?;
        self.rsv(r).add(n, true);
        Ok(())
    }

    /// btrfs_block_rsv_migrate(src, dst, n, update_size = 1): the bytes move, the source's size
    /// does not (the caller releases it if it must, seed 002).
    pub fn migrate(&self, src: Rsv, dst: Rsv, n: u64) -> Result<(), Enospc> {
        self.rsv(src).use_bytes(n)?;
        self.rsv(dst).add(n, true);
        Ok(())
    }

    /// btrfs_block_rsv_release(rsv, n) = block_rsv_release_bytes(rsv, global, n): shrink the size,
    /// and hand the reserved excess to the global reserve up to its size, the rest back to
    /// metadata bytes_may_use. The global reserve itself gives to nobody but may_use.
    pub fn release(&self, r: Rsv, n: u64) {
        if n == 0 {
            return;
        }
        let mut excess = self.rsv(r).shrink(n);
        // Era C (6.12 btrfs_block_rsv_release): the excess goes to the delayed-refs reserve,
        // whose size is 0 here, so all of it back to may_use; never to the global reserve.
        if excess > 0 && r != Rsv::Global && !self.era_c {
            excess -= self.global_rsv.top_up(excess);
        }
        if excess > 0 {
            self.meta.sub_may_use(excess);
        }
    }

    /// The reserve `r` is sized for n more bytes than it holds (a failed reservation settling a
    /// racing release that freed leaves it never had, see reservation::Settlement).
    pub fn grow_size(&self, r: Rsv, n: u64) {
        if n > 0 {
            self.rsv(r).grow(n);
        }
    }

    /// update_global_block_rsv at commit: refill the global reserve from free metadata space up
    /// to its size. Space info lock, then the reservation's lock.
    pub fn refill_global(&self) {
        let mut s = self.meta.update();
        let mut g = self.global_rsv.update();
        let take = s.free().min(g.size.saturating_sub(g.reserved));
        g.reserved += take;
        s.bytes_may_use += take;
    }

    /// The drain_delalloc_rsv fault: the reserve gives back all it holds, reserved to 0 and out
    /// of metadata bytes_may_use, its size kept. Space info lock, then the reservation's lock.
    pub fn drain(&self, r: Rsv) {
        let mut s = self.meta.update();
        let mut c = self.rsv(r).update();
        s.bytes_may_use = s
            .bytes_may_use
            .saturating_sub(std::mem::take(&mut c.reserved));
    }

    /// close_ctree's release_global_block_rsv: may_use −= reserved, size = reserved = 0.
    pub fn release_global(&self) {
        let mut s = self.meta.update();
        let mut g = self.global_rsv.update();
        s.bytes_may_use = s.bytes_may_use.saturating_sub(g.reserved);
        *g = RsvCounters::default();
    }

    /// set_free_space: resize both spaces so that exactly `data` and `meta` bytes are free.
    pub fn set_free_space(&self, data: u64, meta: u64) {
        for (info, free) in [(&self.data, data), (&self.meta, meta)] {
            let mut s = info.update();
            s.total = s.bytes_may_use + s.bytes_reserved + s.bytes_used + free;
        }
    }

    // ---- counters ----

    /// fs delalloc_bytes += n, from inode `ino`'s hooks.
    pub fn add_delalloc_bytes(&self, ino: Ino, n: u64) {
        self.delalloc_bytes[usize::from(ino) % DELALLOC_SHARDS].fetch_add(n, Ordering::Relaxed);
    }

    /// fs delalloc_bytes −= n, from inode `ino`'s hooks (saturating in its shard: an inode only
    /// takes back what it added, unless the model is wrong).
    pub fn sub_delalloc_bytes(&self, ino: Ino, n: u64) {
        atomic_sub_saturating(&self.delalloc_bytes[usize::from(ino) % DELALLOC_SHARDS], n);
    }

    /// percpu_counter_sum: the shards added up.
    fn delalloc_bytes_sum(&self) -> u64 {
        self.delalloc_bytes
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }

    pub fn warn(&self, w: Warning) {
        self.warnings[w as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// close_ctree's checks: anything still reserved after everything was released.
    pub fn leaks_at_unmount(&self) -> bool {
        let (d, m) = (self.data.counters(), self.meta.counters());
        let (dl, dy) = (self.delalloc_rsv.counters(), self.delayed_rsv.counters());
        d.bytes_may_use != 0
            || d.bytes_reserved != 0
            || m.bytes_may_use != 0
            || m.bytes_reserved != 0
            || dl != RsvCounters::default()
            || dy != RsvCounters::default()
            || self.delalloc_bytes_sum() != 0
    }

    /// Moves whenever a space info or block reservation changes (the sum of their stamps).
    pub fn stamp(&self) -> u64 {
        [&self.data.stamp, &self.meta.stamp]
            .into_iter()
            .chain([
                &self.delalloc_rsv.stamp,
                &self.delayed_rsv.stamp,
                &self.global_rsv.stamp,
            ])
            .fold(0, |sum: u64, s| sum.wrapping_add(s.get()))
    }

    /// Fills the fs-wide fields of a snapshot. Quiescent use only: each lock is taken alone.
    pub fn snapshot_into(&self, s: &mut Snapshot) {
        self.snapshot_locked_into(s);
        self.snapshot_counters_into(s);
    }

    /// The fs-wide fields of a snapshot under the space infos' and block reservations' locks,
    /// which [`Self::stamp`] covers. Quiescent use only: each lock is taken alone.
    pub fn snapshot_locked_into(&self, s: &mut Snapshot) {
        s.data = self.data.counters();
        s.meta = self.meta.counters();
        // Era C has no fs-wide delalloc reservation (SPEC §3.1).
        s.delalloc_rsv = (!self.era_c).then(|| self.delalloc_rsv.counters());
        s.delayed_rsv = self.delayed_rsv.counters();
        s.global_rsv = self.global_rsv.counters();
    }

    /// The lock-free fields: the fs-wide delalloc bytes and the warning counts.
    pub fn snapshot_counters_into(&self, s: &mut Snapshot) {
        s.fs_delalloc_bytes = self.delalloc_bytes_sum();
        let w = |k: Warning| self.warnings[k as usize].load(Ordering::Relaxed);
        s.warnings = Warnings {
            global_rsv_steals: w(Warning::GlobalRsvSteal),
            unreserved_inode_updates: w(Warning::UnreservedInodeUpdate),
            evict_leaks: w(Warning::EvictLeak),
            unmount_leaks: w(Warning::UnmountLeak),
        };
    }
}
