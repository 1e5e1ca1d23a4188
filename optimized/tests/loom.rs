//! loom's exhaustive checks of the smallest lock-light primitives, with the crate built on loom's
//! types (sync.rs under `--cfg loom`). Run by .ci/run:
//!
//! ```sh
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p delalloc-optimized --test loom --release
//! ```
//!
//! - the extent range lock's wait/wake ([`Inode::lock_extent`], [`Inode::unlock_extent`]): a
//!   waiter counts itself under the inode lock before it sleeps, and an unlock notifies only when
//!   the count is non-zero; no interleaving may lose a wake-up (loom reports a deadlock) or leave
//!   a range locked;
//! - inode_dio_wait / inode_dio_end on the same wait queue;
//! - the space info's reservation: check-and-take under one lock, so two reservations never both
//!   take the last free bytes; the consumed-once fault flag;
//! - the fs-wide delalloc byte counter (an atomic, saturating decrement by fetch_update).
//!
//! Each model is small (two threads, a handful of operations) so that the whole file runs in
//! seconds with LOOM_MAX_PREEMPTIONS=2.

#![cfg(loom)]

use delalloc_contract::{Bits, Era, FaultKind, Geometry, Snapshot};
use delalloc_optimized::bugs::BugSet;
use delalloc_optimized::extent_tree::Cursor;
use delalloc_optimized::inode::Inode;
use delalloc_optimized::space::FsInfo;
use loom::sync::Arc;
use loom::thread;

fn geometry() -> Geometry {
    Geometry {
        inodes: 1,
        ..Geometry::default()
    }
}

fn no_locked_records(inode: &Inode) {
    let g = inode.lock_inner();
    assert!(
        g.tree.records().all(|r| !r.bits.intersects(Bits::LOCKED)),
        "a range stayed locked"
    );
}

/// Lock a range, give the inode lock up (as the fs paths do while they hold a range), take it
/// again and unlock the range.
fn lock_unlock(inode: &Inode, fs: &FsInfo, start: u64, end: u64) {
    let mut cursor = Cursor::new();
    drop(inode.lock_extent(inode.lock_inner(), fs, start, end, &mut cursor));
    let mut g = inode.lock_inner();
    inode.unlock_extent(&mut g, fs, start, end, &mut cursor);
}

#[test]
fn range_lock_waiters_are_always_woken() {
    loom::model(|| {
        let fs = Arc::new(FsInfo::mount(&geometry()));
        let inode = Arc::new(Inode::new(0, BugSet::NONE, Era::B));
        let other = {
            let (fs, inode) = (Arc::clone(&fs), Arc::clone(&inode));
            // Overlapping ranges: one of the two must wait for the other.
            thread::spawn(move || lock_unlock(&inode, &fs, 4096, 12287))
        };
        lock_unlock(&inode, &fs, 0, 8191);
        other.join().expect("no panic");
        no_locked_records(&inode);
    });
}

#[test]
fn a_waiter_resumes_from_where_it_stopped() {
    // Two lockers of the same range and a third of a disjoint one: every lock is granted once
    // the holder unlocks, whatever the order.
    loom::model(|| {
        let fs = Arc::new(FsInfo::mount(&geometry()));
        let inode = Arc::new(Inode::new(0, BugSet::NONE, Era::B));
        let a = {
            let (fs, inode) = (Arc::clone(&fs), Arc::clone(&inode));
            thread::spawn(move || lock_unlock(&inode, &fs, 0, 4095))
        };
        let b = {
            let (fs, inode) = (Arc::clone(&fs), Arc::clone(&inode));
            thread::spawn(move || lock_unlock(&inode, &fs, 8192, 12287))
        };
        lock_unlock(&inode, &fs, 0, 4095);
        a.join().expect("no panic");
        b.join().expect("no panic");
        no_locked_records(&inode);
    });
}

#[test]
fn dio_wait_is_woken_by_the_last_dio_end() {
    loom::model(|| {
        let inode = Arc::new(Inode::new(0, BugSet::NONE, Era::B));
        inode.dio_begin(&mut inode.lock_inner());
        let dio = {
            let inode = Arc::clone(&inode);
            thread::spawn(move || inode.dio_end(&mut inode.lock_inner()))
        };
        // truncate's inode_dio_wait: returns only once the DIO is done.
        let g = inode.dio_wait(inode.lock_inner());
        drop(g);
        dio.join().expect("no panic");
    });
}

#[test]
fn two_reservations_never_share_the_last_free_bytes() {
    loom::model(|| {
        let g = Geometry {
            data_bytes: 4096,
            ..geometry()
        };
        let fs = Arc::new(FsInfo::mount(&g));
        let other = {
            let fs = Arc::clone(&fs);
            thread::spawn(move || fs.reserve_data(4096).is_ok())
        };
        let mine = fs.reserve_data(4096).is_ok();
        let theirs = other.join().expect("no panic");
        assert!(mine ^ theirs, "exactly one takes the last 4 KiB");
        let mut s = Snapshot::default();
        fs.snapshot_into(&mut s);
        assert_eq!(s.data.bytes_may_use, 4096);
    });
}

#[test]
fn an_injected_fault_fails_exactly_one_reservation() {
    loom::model(|| {
        let fs = Arc::new(FsInfo::mount(&geometry()));
        fs.inject_fault(FaultKind::Data);
        let other = {
            let fs = Arc::clone(&fs);
            thread::spawn(move || fs.reserve_data(4096).is_err())
        };
        let mine = fs.reserve_data(4096).is_err();
        let theirs = other.join().expect("no panic");
        assert!(mine ^ theirs, "the fault is consumed once");
    });
}

#[test]
fn the_delalloc_byte_counter_never_loses_an_update() {
    loom::model(|| {
        let fs = Arc::new(FsInfo::mount(&geometry()));
        fs.add_delalloc_bytes(0, 8192);
        let other = {
            let fs = Arc::clone(&fs);
            thread::spawn(move || {
                fs.add_delalloc_bytes(0, 4096);
                fs.sub_delalloc_bytes(0, 8192);
            })
        };
        fs.sub_delalloc_bytes(0, 4096);
        other.join().expect("no panic");
        let mut s = Snapshot::default();
        fs.snapshot_into(&mut s);
        // 8K + 4K - 8K - 4K in any order: the saturating decrement never hits zero early
        // (8K covers either subtraction first), so nothing is lost.
        assert_eq!(s.fs_delalloc_bytes, 0);
    });
}
