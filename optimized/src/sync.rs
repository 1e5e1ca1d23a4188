//! The synchronisation primitives of the crate, in one place.
//!
//! Every other module takes its locks and atomics from here and nowhere else, so that one switch
//! swaps them without touching the accounting code:
//! - the default build: std's types; [`yield_point`] is an empty inline function;
//! - feature `shuttle`: shuttle's types (same API), so that a deterministic scheduler chooses
//!   every context switch (the concurrent oracle, SPEC §10); [`yield_point`] is
//!   `shuttle::thread::yield_now`, a scheduling decision where the kernel drops its locks;
//! - `--cfg loom`: loom's types, for the exhaustive tests of the smallest primitives
//!   (`tests/loom.rs`); [`yield_point`] stays empty there, to keep loom's state space small.
//!
//! Poisoning: a thread that panics inside the model leaves a poisoned lock. The model makes no
//! attempt to continue from a half-done operation, so taking a poisoned lock panics too, with a
//! message that points at the first panic.

#[cfg(all(feature = "shuttle", loom))]
compile_error!("the shuttle feature and --cfg loom choose different sync types: use one");

#[cfg(not(any(feature = "shuttle", loom)))]
pub use std::sync::{
    atomic::{AtomicBool, AtomicU64, Ordering},
    Condvar, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard,
};

#[cfg(feature = "shuttle")]
pub use shuttle::sync::{
    atomic::{AtomicBool, AtomicU64, Ordering},
    Condvar, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard,
};

#[cfg(loom)]
pub use loom::sync::{
    atomic::{AtomicBool, AtomicU64, Ordering},
    Condvar, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard,
};

/// `T` alone on its cache line (64 bytes), so that a counter or lock one task writes never
/// slows down tasks that use its neighbours (false sharing), as the kernel's
/// ____cacheline_aligned_in_smp fields. (Not 128: every model is built anew per program, and
/// the bigger it is the more a short program pays for it.)
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct Padded<T>(pub T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

const POISONED: &str = "a thread panicked inside the optimized model while holding this lock";

/// Takes a mutex (spin_lock / mutex_lock).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().expect(POISONED)
}

/// Sleeps on `cv`, giving up `guard` meanwhile (the kernel's wait queue + schedule()).
pub fn wait<'a, T>(cv: &Condvar, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
    cv.wait(guard).expect(POISONED)
}

pub fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().expect(POISONED)
}

pub fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().expect(POISONED)
}

/// `counter -= n`, saturating at zero (where the kernel would WARN on an underflow, SPEC §3).
pub fn atomic_sub_saturating(a: &AtomicU64, n: u64) {
    // The closure never answers None, so fetch_update cannot fail.
    let _ = a.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
        Some(v.saturating_sub(n))
    });
}

/// A point where the kernel path drops its locks and may sleep (SPEC §10 lists them with their
/// kernel functions): under shuttle, a scheduling decision that the program's schedule bytes
/// make; in the std build nothing at all.
#[inline(always)]
pub fn yield_point() {
    #[cfg(feature = "shuttle")]
    shuttle::thread::yield_now();
}
