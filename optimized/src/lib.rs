//! The optimized model: what a kernel engineer would write (DESIGN.md, SPEC.md).
//!
//! - [`extent_tree`]: the extent io tree on a balanced ordered map, with hooks and cursors (SPEC §1);
//! - [`hooks`]: the inode's set/clear/merge/split hooks, counters kept incrementally (§2);
//! - [`space`]: space infos, block reservations, fault injection, fs-wide counters (§3);
//! - [`reservation`]: delalloc reservations and the delayed-inode steal chain (§4, §5);
//! - [`reservation_c`]: era C's per-inode block reservation (§4.1, §5.1);
//! - [`inode`]: per-inode state and its locks, including the waiting extent range lock;
//! - [`fs`]: the file-system paths (§6); [`fs_c`]: their era C forms (§6.1);
//! - [`bugs`]: historical bugs that can be re-introduced, chosen at construction (off by default);
//! - this file: the [`Model`], the stand-alone tree of the extent-tree ops (§7), unmount.
//!
//! Thread safety: [`Optimized::apply_shared`] takes `&self`; ops on different inodes share no
//! lock but the fs-wide leaves held for the moment of a reservation. Lock order, outermost first:
//! `s_umount` (shared by every op, exclusive for unmount) → an inode's i_mutex → that inode's
//! inner lock → a space info lock → a block reservation lock. The stand-alone tree's lock is
//! never held with another. An extent range wait releases the inner lock (see [`inode`]).

pub mod bugs;
pub mod extent_map;
pub mod extent_tree;
pub mod fs;
pub mod fs_c;
pub mod hooks;
pub mod inode;
pub mod reservation;
pub mod reservation_c;
pub mod space;
pub mod stamp;
pub mod sync;

use crate::bugs::BugSet;
use crate::extent_tree::{Cursor, ExtentIoTree};
use crate::fs::FileSystem;
use crate::hooks::DummyHooks;
use crate::space::Rsv;
use crate::stamp::Stamp;
use crate::sync::{lock, read, write, AtomicBool, Mutex, MutexGuard, Ordering, Padded, RwLock};
use delalloc_contract::{
    Bits, Geometry, InodeSnapshot, Model, Op, Outcome, PartStamps, Rewritten, Snapshot,
};

/// The program's stand-alone tree (SPEC §7): the self-tests' dummy inode, and the cursor the
/// `cached` tree ops pass along.
#[derive(Debug)]
struct StandAloneTree {
    tree: ExtentIoTree,
    hooks: DummyHooks,
    cursor: Cursor,
}

/// The optimized model. See the crate documentation.
#[derive(Debug)]
pub struct Optimized {
    fs: FileSystem,
    tree: Mutex<StandAloneTree>,
    /// Moved by every [`Optimized::lock_tree`].
    tree_stamp: Stamp,
    /// sb->s_umount: every op holds it shared, unmount exclusively, so that unmount never runs
    /// beside an op. Sharded like the kernel's percpu_rw_semaphore (sb->s_writers): an op takes
    /// its inode's shard, unmount every shard in order; a single lock word, written by every
    /// op's read-lock, would be the one cache line all threads fight over.
    s_umount: [Padded<RwLock<()>>; S_UMOUNT_SHARDS],
    unmounted: Padded<AtomicBool>,
}

/// Shards of [`Optimized`]'s s_umount (inode `ino` takes shard ino % 4): enough for the
/// threads of this 2-core machine's runs, small enough that building a model stays cheap.
const S_UMOUNT_SHARDS: usize = 4;

fn assert_send_sync<T: Send + Sync>() {}
/// `Optimized` must be shareable between the threads of a concurrent run.
const _: fn() = assert_send_sync::<Optimized>;

impl Optimized {
    /// Mounts a file system of `geometry` (validated by the caller).
    pub fn new(geometry: &Geometry) -> Optimized {
        Optimized::with_bugs(geometry, BugSet::NONE)
    }

    /// [`Optimized::new`] with the historical bugs of `bugs` re-introduced ([`bugs`]).
    pub fn with_bugs(geometry: &Geometry, bugs: BugSet) -> Optimized {
        Optimized {
            fs: FileSystem::mount_with_bugs(geometry, bugs),
            tree: Mutex::new(StandAloneTree {
                tree: ExtentIoTree::with_bugs(bugs).with_era(geometry.era),
                hooks: DummyHooks::with_bugs(geometry.max_extent, bugs),
                cursor: Cursor::new(),
            }),
            tree_stamp: Stamp::default(),
            s_umount: std::array::from_fn(|_| Padded(RwLock::new(()))),
            unmounted: Padded(AtomicBool::new(false)),
        }
    }

    /// Runs one op to completion. Callable from several threads at once.
    pub fn apply_shared(&self, op: &Op) -> Outcome {
        if let Op::Unmount = op {
            let _s_umount: [_; S_UMOUNT_SHARDS] = std::array::from_fn(|i| write(&self.s_umount[i]));
            if self.unmounted.swap(true, Ordering::SeqCst) {
                return Outcome::Unmounted;
            }
            return self.fs.unmount();
        }
        let shard = op.ino().map_or(0, |ino| usize::from(ino) % S_UMOUNT_SHARDS);
        let _s_umount = read(&self.s_umount[shard]);
        if self.unmounted.load(Ordering::SeqCst) {
            return Outcome::Unmounted;
        }
        let fs = &self.fs;
        match *op {
            Op::BufferedWrite {
                ino,
                pos,
                len,
                copied,
                nocow,
            } => fs.buffered_write(ino, pos, len, copied, nocow),
            Op::DirectWrite {
                ino,
                pos,
                len,
                fallback,
            } => fs.direct_write(ino, pos, len, fallback),
            Op::PageMkwrite { ino, pos } => fs.page_mkwrite(ino, pos),
            Op::Defrag { ino, start, len } => fs.defrag(ino, start, len),
            Op::Writeback { ino, start, len } => fs.writeback_op(ino, start, len),
            Op::FinishOrdered { ino, nth } => fs.finish_ordered(ino, nth),
            Op::Truncate { ino, size } => fs.truncate(ino, size),
            Op::Evict { ino } => fs.evict(ino),
            Op::Commit => fs.commit(),
            Op::Unmount => unreachable!("handled above"),
            Op::SetFreeSpace { data, meta } => {
                fs.info.set_free_space(data, meta);
                Outcome::Done
            }
            Op::FailNextReservation { kind } => {
                fs.info.inject_fault(kind);
                Outcome::Done
            }
            Op::DrainDelallocRsv => {
                fs.info.drain(Rsv::Delalloc);
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
            | Op::FindFirstClearBit { .. } => self.apply_tree(op),
        }
    }

    /// The extent-tree ops (SPEC §7) on the stand-alone tree. Only the `cached` ops see the
    /// cursor; the others leave it as it is (it is a hint, and the tree checks it before use).
    fn apply_tree(&self, op: &Op) -> Outcome {
        // The queries only read the tree (`&self` methods): its stamp stays, and the oracle
        // need not look at the tree again after them.
        let query = match op {
            Op::TestRangeBit { .. }
            | Op::CountRangeBits { .. }
            | Op::FindFirstBit { .. }
            | Op::FindDelalloc { .. }
            | Op::FindFirstClearBit { .. } => true,
            Op::SetBits { .. }
            | Op::ClearBits { .. }
            | Op::ConvertBits { .. }
            | Op::SetDelalloc { .. }
            | Op::Lock { .. }
            | Op::TryLock { .. }
            | Op::Unlock { .. } => false,
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
            | Op::DrainDelallocRsv => {
                unreachable!("file-system ops are dispatched by apply_shared")
            }
        };
        let mut guard = if query {
            lock(&self.tree)
        } else {
            self.lock_tree()
        };
        let StandAloneTree {
            tree,
            hooks,
            cursor,
        } = &mut *guard;
        let era = tree.era();
        match *op {
            Op::SetBits {
                start,
                end,
                bits,
                exclusive,
                cached,
            } => {
                match tree.set_bits(start, end, bits, exclusive, cached.then_some(cursor), hooks) {
                    Ok(()) => Outcome::Done,
                    Err(failed_start) => Outcome::Exists { failed_start },
                }
            }
            Op::ClearBits {
                start,
                end,
                bits,
                wake,
                delete,
                cached,
            } => {
                tree.clear_bits(
                    start,
                    end,
                    bits,
                    wake,
                    delete,
                    cached.then_some(cursor),
                    hooks,
                );
                Outcome::Done
            }
            Op::ConvertBits {
                start,
                end,
                set,
                clear,
            } => {
                tree.convert_bits(start, end, set, clear, None, hooks);
                Outcome::Done
            }
            Op::SetDelalloc { start, end } => {
                let res = tree.set_bits(
                    start,
                    end,
                    // set_extent_delalloc: era B adds UPTODATE, 6.x not (SPEC §1.2).
                    era.delalloc_bits(),
                    Bits::NONE,
                    None,
                    hooks,
                );
                debug_assert!(res.is_ok());
                Outcome::Done
            }
            // No other task exists to wait for: a conflict undoes and reports (SPEC §1).
            Op::Lock { start, end } => match tree.try_lock(start, end, hooks) {
                Ok(()) => Outcome::Done,
                Err(failed_start) => Outcome::WouldBlock { failed_start },
            },
            Op::TryLock { start, end } => match tree.try_lock(start, end, hooks) {
                Ok(()) => Outcome::Done,
                Err(_) => Outcome::Busy,
            },
            Op::Unlock { start, end } => {
                tree.unlock(start, end, hooks);
                Outcome::Done
            }
            Op::TestRangeBit {
                start,
                end,
                bits,
                filled,
            } => Outcome::Test {
                result: tree.test_range_bit(start, end, bits, filled),
            },
            Op::CountRangeBits {
                start,
                end,
                max_bytes,
                bits,
                contig,
            } => {
                let (bytes, first_start) =
                    tree.count_range_bits(start, end, max_bytes, bits, contig);
                Outcome::Count { bytes, first_start }
            }
            Op::FindFirstBit { start, bits } => Outcome::Found {
                found: tree
                    .find_first_bit(start, bits)
                    .map(|r| (r.start, r.end, r.bits)),
            },
            Op::FindDelalloc { start, max_bytes } => {
                let (found, start, end) = tree.find_delalloc_range(start, max_bytes);
                Outcome::Delalloc { found, start, end }
            }
            Op::FindFirstClearBit { start, bits } => {
                let (start, end) = tree.find_first_clear_bit(start, bits);
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
            | Op::DrainDelallocRsv => {
                unreachable!("file-system ops are dispatched by apply_shared")
            }
        }
    }

    /// Takes the stand-alone tree's lock to run an op on it that may change it: the only path
    /// to the tree but the read-only queries', so it moves the tree's stamp.
    fn lock_tree(&self) -> MutexGuard<'_, StandAloneTree> {
        let guard = lock(&self.tree);
        self.tree_stamp.moved();
        guard
    }

    /// The structure of every io tree (the stand-alone one, then each inode's): records sorted,
    /// disjoint and canonical, and the extent map beneath sound
    /// ([`ExtentIoTree::check_invariants`]). A map whose inner nodes route a search to the
    /// wrong leaf may still list its records in order, so the snapshot need not show it; a check
    /// that wants the structure itself (the mutation campaign) asks here. For a quiescent
    /// model, as the snapshot.
    pub fn check_structure(&self) -> Result<(), String> {
        lock(&self.tree)
            .tree
            .check_invariants()
            .map_err(|e| format!("stand-alone tree: {e}"))?;
        for inode in &self.fs.inodes {
            inode
                .lock_inner()
                .tree
                .check_invariants()
                .map_err(|e| format!("inode {}: {e}", inode.ino))?;
        }
        Ok(())
    }

    /// The observable state. Meant for a quiescent model: it takes the locks one at a time in
    /// the fixed order (stand-alone tree, inodes by number, then the fs-wide ones).
    pub fn snapshot_shared(&self) -> Snapshot {
        let mut s = Snapshot::default();
        self.snapshot_shared_into(&mut s);
        s
    }

    /// [`Optimized::snapshot_shared`], written into `s` (reusing its vectors).
    pub fn snapshot_shared_into(&self, s: &mut Snapshot) {
        self.snapshot_update_shared(s, &mut PartStamps::default());
    }

    /// [`Model::snapshot_update`]: copies only the parts whose stamps moved since `seen` —
    /// the stand-alone tree, the fs-wide locked counters, each inode ([`stamp`](crate::stamp)) — and always
    /// the few lock-free fields. `seen` holds those stamps in that order.
    pub fn snapshot_update_shared(&self, s: &mut Snapshot, seen: &mut PartStamps) -> Rewritten {
        let inodes = &self.fs.inodes;
        let parts = 2 + inodes.len();
        // Nothing known (a fresh `seen`, another model's buffer): copy every part.
        let whole = seen.0.len() != parts || s.inodes.len() != inodes.len();
        if whole {
            s.inodes.resize_with(inodes.len(), InodeSnapshot::default);
            seen.0.resize(parts, 0);
        }
        // The lock-free fields (`mounted` and those below) are written every time.
        let mut wrote = Rewritten {
            tree: false,
            inodes: 0,
            fs: true,
        };
        s.mounted = !self.unmounted.load(Ordering::SeqCst);
        // Each stamp is read before its part is copied: a change in between is copied now and
        // copied again next time, never missed.
        let tree = self.tree_stamp.get();
        if whole || tree != seen.0[0] {
            let t = lock(&self.tree);
            s.tree.records.clear();
            t.tree.records_into(&mut s.tree.records);
            s.tree.outstanding_extents = t.hooks.outstanding_extents;
            s.tree.delalloc_bytes = t.hooks.delalloc_bytes;
            s.tree.defrag_bytes = t.hooks.defrag_bytes;
            s.tree.new_delalloc_bytes = t.hooks.new_delalloc_bytes;
            seen.0[0] = tree;
            wrote.tree = true;
        }
        for (k, (out, i)) in s.inodes.iter_mut().zip(inodes).enumerate() {
            let stamp = i.stamp();
            if whole || stamp != seen.0[2 + k] {
                i.snapshot_into(out);
                seen.0[2 + k] = stamp;
                wrote.inodes |= if k < 64 { 1 << k } else { 0 };
            }
        }
        let fs = self.fs.info.stamp();
        if whole || fs != seen.0[1] {
            self.fs.info.snapshot_locked_into(s);
            seen.0[1] = fs;
        }
        self.fs.info.snapshot_counters_into(s);
        wrote
    }
}

impl Model for Optimized {
    fn name(&self) -> &'static str {
        "optimized"
    }

    fn apply(&mut self, op: &Op) -> Outcome {
        self.apply_shared(op)
    }

    fn snapshot(&self) -> Snapshot {
        self.snapshot_shared()
    }

    fn snapshot_into(&self, out: &mut Snapshot) {
        self.snapshot_shared_into(out);
    }

    fn snapshot_update(&self, out: &mut Snapshot, seen: &mut PartStamps) -> Rewritten {
        self.snapshot_update_shared(out, seen)
    }
}
