//! Per-inode state: the btrfs_inode of era B (SPEC §2, §4, §5) and its three locks.
//!
//! - `i_mutex`: the inode's mutex (i_mutex / delalloc_mutex). Serialises the delalloc
//!   reservations of the inode (seed 000): [`crate::reservation::reserve_metadata`] demands
//!   proof of it ([`IMutexGuard`]). Buffered write, truncate and evict hold it for the whole op,
//!   as their syscalls do; defrag for each chunk (4.x btrfs_defrag_file); O_DIRECT around the
//!   reservation, and for the whole op when it extends the file (btrfs_direct_IO keeps it
//!   then); page_mkwrite only around the reservation (seed 000).
//! - `inner`: the inode's spin lock and its io tree's lock in one: the extent tree, the
//!   accounting counters the hooks keep, the ordered extents, i_size and the delayed node.
//!   Held for short, non-blocking stretches; released while a reservation asks the space info
//!   for bytes (reserve_metadata drops it as the kernel drops BTRFS_I(inode)->lock), and while
//!   waiting for an extent range lock.
//! - the extent range lock: LOCKED bits in the tree, with a condition variable for the tasks
//!   waiting for a range ([`Inode::lock_extent`], woken by [`Inode::unlock_extent`]).
//!
//! Lock order: i_mutex, then inner, then the fs-wide leaves of [`crate::space`]. Waiting for an
//! extent range happens with i_mutex possibly held and inner released; no task holding a range
//! lock ever waits for an i_mutex, so the two cannot deadlock.

use crate::bugs::BugSet;
use crate::extent_tree::{Cursor, ExtentIoTree};
use crate::hooks::InodeHooks;
use crate::space::FsInfo;
use crate::stamp::Stamp;
#[cfg(feature = "shuttle")]
use crate::sync::yield_point;
use crate::sync::{lock, wait, Condvar, Mutex, MutexGuard};
use delalloc_contract::{
    Accounting as Design, Bits, BlockRsv, Era, Ino, InodeSnapshot, OrderedExtent, OrderedKind,
};
use std::collections::BTreeMap;
use std::ops::Bound::{Excluded, Included};

/// The accounting fields of btrfs_inode, kept incrementally by the hooks and the reservation
/// code, never recomputed from the tree. Era B uses reserved_extents and meta_reserved, era C
/// the inode's own block reservation (SPEC §4.1); the other era's fields stay zero.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Accounting {
    pub outstanding_extents: u64,
    pub reserved_extents: u64,
    pub csum_bytes: u64,
    pub delalloc_bytes: u64,
    pub defrag_bytes: u64,
    /// Bytes of the records carrying DELALLOC_NEW (SPEC §2.1).
    pub new_delalloc_bytes: u64,
    /// BTRFS_INODE_DELALLOC_META_RESERVED: the inode-update item is reserved (seed 002).
    pub meta_reserved: bool,
    /// btrfs_inode::block_rsv (era C): size recomputed only by delalloc-space.c, reserved
    /// trimmed down to it (SPEC §4.1, §8.1). Kept under the inode lock with the counters it is
    /// sized from, so a recompute and its trim are one critical section.
    pub block_rsv: BlockRsv,
}

impl Accounting {
    /// btrfs_destroy_inode's WARN_ONs: anything they check still accounted. 4.4's check
    /// outstanding_extents, reserved_extents, delalloc_bytes, csum_bytes and defrag_bytes, not
    /// META_RESERVED; 6.12's (inode.c:7756) the block reservation, outstanding_extents,
    /// delalloc_bytes, new_delalloc_bytes, csum_bytes and defrag_bytes. The other era's fields
    /// stay zero, so one test serves both.
    pub fn leaks(&self) -> bool {
        Accounting {
            meta_reserved: false,
            ..*self
        } != Accounting::default()
    }
}

/// A pending ordered extent; its start is the key of [`InodeInner::ordered`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ordered {
    pub len: u64,
    pub kind: OrderedKind,
}

/// Everything the inode lock protects.
#[derive(Debug, Default)]
pub struct InodeInner {
    /// The inode's number (the hooks name it to the fs-wide counters).
    pub ino: Ino,
    pub tree: ExtentIoTree,
    pub acct: Accounting,
    /// Ordered extents by file offset; they never overlap (SPEC §5).
    pub ordered: BTreeMap<u64, Ordered>,
    pub i_size: u64,
    /// The delayed node's reservation (node->bytes_reserved), released at commit.
    pub delayed_bytes_reserved: u64,
    /// Tasks asleep in `lock_extent`. Unlocking wakes only when there are some, as the kernel
    /// checks waitqueue_active: a Condvar notify is a futex syscall even with nobody waiting.
    range_waiters: u32,
    /// O_DIRECT writes running without i_mutex (inode->i_dio_count): truncate and evict wait for
    /// them ([`Inode::dio_wait`]), as btrfs_setsize's inode_dio_wait does.
    dio_in_flight: u32,
}

impl InodeInner {
    /// set_extent_bit without exclusive bits (it cannot fail), with the inode's hooks.
    pub fn set_bits(
        &mut self,
        fs: &FsInfo,
        start: u64,
        end: u64,
        bits: Bits,
        cursor: Option<&mut Cursor>,
    ) {
        let mut hooks = InodeHooks {
            acct: &mut self.acct,
            fs,
            ino: self.ino,
        };
        let res = self
            .tree
            .set_bits(start, end, bits, Bits::NONE, cursor, &mut hooks);
        debug_assert!(res.is_ok(), "a set without exclusive bits cannot conflict");
    }

    /// clear_extent_bit with the inode's hooks; returns whether LOCKED was cleared (waiters to
    /// wake). Callers that may clear LOCKED use [`Inode::clear_and_wake`].
    pub(crate) fn clear_bits(
        &mut self,
        fs: &FsInfo,
        start: u64,
        end: u64,
        bits: Bits,
        delete: bool,
        cursor: Option<&mut Cursor>,
    ) -> bool {
        let mut hooks = InodeHooks {
            acct: &mut self.acct,
            fs,
            ino: self.ino,
        };
        self.tree
            .clear_bits(start, end, bits, true, delete, cursor, &mut hooks)
    }

    /// The first ordered extent (by offset) overlapping [start, end]: the one containing start,
    /// else the first starting inside the range. Two descents.
    pub fn first_ordered_in(&self, start: u64, end: u64) -> Option<u64> {
        if let Some((&s, oe)) = self.ordered.range(..=start).next_back() {
            if s + oe.len > start {
                return Some(s);
            }
        }
        if start >= end {
            return None;
        }
        self.ordered
            .range((Excluded(start), Included(end)))
            .next()
            .map(|(&s, _)| s)
    }

    /// btrfs_add_ordered_extent: an ordered extent holds count(len) outstanding extents until it
    /// finishes (SPEC §5). (A function of the two fields, so that writeback can add ordered
    /// extents while it reads the tree.)
    pub fn add_ordered(
        fs: &FsInfo,
        acct: &mut Accounting,
        ordered: &mut BTreeMap<u64, Ordered>,
        start: u64,
        len: u64,
        kind: OrderedKind,
    ) {
        debug_assert!(
            !matches!(ordered.range(..start + len).next_back(), Some((&s, oe)) if s + oe.len > start),
            "ordered extents overlap"
        );
        ordered.insert(start, Ordered { len, kind });
        // Era C: alloc_ordered_extent adds 1 (6.12 ordered-data.c:209), no recompute; every
        // ordered extent is at most max_extent long, so it is count(len) too.
        acct.outstanding_extents += if fs.era_c { 1 } else { fs.count(len) };
    }

    /// Writes the inode's observable state into `out`, reusing its vectors.
    pub fn snapshot_into(&self, out: &mut InodeSnapshot) {
        let a = &self.acct;
        out.i_size = self.i_size;
        out.records.clear();
        self.tree.records_into(&mut out.records);
        out.outstanding_extents = a.outstanding_extents;
        // Each era's own fields, the other's None (SPEC §0).
        let era_b = self.tree.era().accounting() == Design::B;
        out.reserved_extents = era_b.then_some(a.reserved_extents);
        out.delalloc_meta_reserved = era_b.then_some(a.meta_reserved);
        out.block_rsv = (!era_b).then_some(a.block_rsv);
        out.csum_bytes = a.csum_bytes;
        out.delalloc_bytes = a.delalloc_bytes;
        out.defrag_bytes = a.defrag_bytes;
        out.new_delalloc_bytes = a.new_delalloc_bytes;
        out.delayed_bytes_reserved = self.delayed_bytes_reserved;
        out.ordered.clear();
        out.ordered
            .extend(self.ordered.iter().map(|(&start, oe)| OrderedExtent {
                start,
                len: oe.len,
                kind: oe.kind,
            }));
    }
}

/// Proof that the caller holds an inode's i_mutex.
pub struct IMutexGuard<'a> {
    _guard: MutexGuard<'a, ()>,
    ino: Ino,
}

impl IMutexGuard<'_> {
    pub fn ino(&self) -> Ino {
        self.ino
    }
}

/// One inode of the mounted file system. Aligned like [`crate::sync::Padded`]: the inodes sit
/// side by side in one slice, and the lock words of one must not share a cache line with the
/// next one's (two threads on two inodes would fight over it).
#[derive(Debug)]
#[repr(align(64))]
pub struct Inode {
    pub ino: Ino,
    i_mutex: Mutex<()>,
    inner: Mutex<InodeInner>,
    /// Moved by every [`Inode::lock_inner`]: the snapshot skips inodes whose stamp is still.
    stamp: Stamp,
    /// Tasks waiting for an extent range lock sleep here (the io tree's wait queue).
    range_unlocked: Condvar,
}

impl Inode {
    /// An empty inode whose io tree carries the tree bugs of `bugs` and follows `era`.
    pub fn new(ino: Ino, bugs: BugSet, era: Era) -> Inode {
        Inode {
            ino,
            i_mutex: Mutex::new(()),
            inner: Mutex::new(InodeInner {
                ino,
                tree: ExtentIoTree::with_bugs(bugs).with_era(era),
                ..InodeInner::default()
            }),
            stamp: Stamp::default(),
            range_unlocked: Condvar::new(),
        }
    }

    pub fn i_mutex(&self) -> IMutexGuard<'_> {
        IMutexGuard {
            _guard: lock(&self.i_mutex),
            ino: self.ino,
        }
    }

    /// Takes the inner lock: the only path to the inode's state but [`Inode::snapshot_into`],
    /// so it moves the inode's stamp. (A range-lock wait re-takes the lock inside an op that
    /// has already taken it here.)
    #[inline]
    pub fn lock_inner(&self) -> MutexGuard<'_, InodeInner> {
        let guard = lock(&self.inner);
        self.stamp.moved();
        guard
    }

    /// The count of [`Inode::lock_inner`] calls: unchanged means the inode is unchanged.
    pub fn stamp(&self) -> u64 {
        self.stamp.get()
    }

    /// The inode's observable state, read under the inner lock without moving the stamp.
    pub fn snapshot_into(&self, out: &mut InodeSnapshot) {
        lock(&self.inner).snapshot_into(out);
    }

    /// A yield point (SPEC §10) with the inode lock given up meanwhile, as where the kernel
    /// drops its spin lock and may sleep. Under shuttle the schedule may run another task here;
    /// the std build returns `g` untouched (no lock round trip: the default build pays nothing,
    /// and a real thread can still get in wherever the path really waits).
    #[inline(always)]
    pub fn yield_unlocked<'a>(
        &'a self,
        g: MutexGuard<'a, InodeInner>,
    ) -> MutexGuard<'a, InodeInner> {
        #[cfg(feature = "shuttle")]
        {
            drop(g);
            yield_point();
            lock(&self.inner)
        }
        #[cfg(not(feature = "shuttle"))]
        g
    }

    /// lock_extent_bits (4.x): set LOCKED exclusively; on a conflict keep what is locked, sleep
    /// until some range is unlocked, and go on from failed_start. Two tasks locking ranges
    /// this way cannot deadlock: each holds a prefix of its own range and waits past it.
    /// A sequential program never waits (no op leaves a range locked).
    pub fn lock_extent<'a>(
        &'a self,
        mut g: MutexGuard<'a, InodeInner>,
        fs: &FsInfo,
        start: u64,
        end: u64,
        cursor: &mut Cursor,
    ) -> MutexGuard<'a, InodeInner> {
        let mut from = start;
        // lock_extent_bits may sleep: another task may go first.
        g = self.yield_unlocked(g);
        loop {
            let inner = &mut *g;
            let mut hooks = InodeHooks {
                acct: &mut inner.acct,
                fs,
                ino: inner.ino,
            };
            match inner.tree.set_bits(
                from,
                end,
                Bits::LOCKED,
                Bits::LOCKED,
                Some(&mut *cursor),
                &mut hooks,
            ) {
                Ok(()) => return g,
                Err(failed_start) => {
                    from = failed_start;
                    g.range_waiters += 1;
                    g = wait(&self.range_unlocked, g);
                    g.range_waiters -= 1;
                }
            }
        }
    }

    /// inode_dio_begin: an O_DIRECT write goes on without i_mutex.
    pub fn dio_begin(&self, g: &mut InodeInner) {
        g.dio_in_flight += 1;
    }

    /// inode_dio_end: wakes whoever waits in [`Inode::dio_wait`] (they share the range-lock
    /// wait queue, and re-check what they wait for).
    pub fn dio_end(&self, g: &mut InodeInner) {
        g.dio_in_flight -= 1;
        if g.dio_in_flight == 0 && g.range_waiters > 0 {
            self.range_unlocked.notify_all();
        }
    }

    /// inode_dio_wait: under i_mutex (so that no new O_DIRECT write starts), sleep until the
    /// running ones are done. A sequential program never waits.
    pub fn dio_wait<'a>(&'a self, mut g: MutexGuard<'a, InodeInner>) -> MutexGuard<'a, InodeInner> {
        while g.dio_in_flight > 0 {
            g.range_waiters += 1;
            g = wait(&self.range_unlocked, g);
            g.range_waiters -= 1;
        }
        g
    }

    /// clear_extent_bit that wakes the range-lock waiters when it clears LOCKED.
    #[expect(
        clippy::too_many_arguments,
        reason = "the tree's clear_bits arguments plus the locked inode state and the fs counters"
    )]
    pub fn clear_and_wake(
        &self,
        g: &mut InodeInner,
        fs: &FsInfo,
        start: u64,
        end: u64,
        bits: Bits,
        delete: bool,
        cursor: Option<&mut Cursor>,
    ) {
        if g.clear_bits(fs, start, end, bits, delete, cursor) && g.range_waiters > 0 {
            self.range_unlocked.notify_all();
        }
    }

    /// unlock_extent_cached: clear LOCKED (dropping the cached state) and wake waiters.
    pub fn unlock_extent(
        &self,
        g: &mut InodeInner,
        fs: &FsInfo,
        start: u64,
        end: u64,
        cursor: &mut Cursor,
    ) {
        self.clear_and_wake(g, fs, start, end, Bits::LOCKED, false, Some(cursor));
    }
}
