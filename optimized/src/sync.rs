//! The synchronisation primitives of the crate, in one place.
//!
//! Every other module takes its locks and atomics from here and nowhere else, so that a later
//! `cfg` can swap std's types for a deterministic scheduler's (shuttle has the same API: Mutex,
//! Condvar, RwLock, atomics) without touching the accounting code.
//!
//! Poisoning: a thread that panics inside the model leaves a poisoned lock. The model makes no
//! attempt to continue from a half-done operation, so taking a poisoned lock panics too, with a
//! message that points at the first panic.

pub use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
pub use std::sync::{Condvar, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

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
