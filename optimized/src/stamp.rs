//! Change stamps: a counter kept beside a lock and moved each time the lock is taken to change
//! what it guards, so that a quiescent reader can tell "unchanged since I last looked" from the
//! counter alone, without taking the lock or copying the data.
//!
//! The oracle snapshots the model after every op; most ops touch one inode or the stand-alone
//! tree, and the snapshot skips the parts whose stamps did not move ([`crate::Optimized`]'s
//! `snapshot_update`). Soundness rests on one rule: the lock's only path to a mutable view is
//! the function that moves the stamp (`lock_inner`, `update`, ...). A stamp may move without a
//! change (a lock taken to read); a change never happens without a move.

use crate::sync::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct Stamp(AtomicU64);

impl Stamp {
    /// Records a change. Call with the guarding lock held: writers are serialized by it, so a
    /// load and a store suffice, with no read-modify-write on the op path.
    #[inline]
    pub fn moved(&self) {
        let n = self.0.load(Ordering::Relaxed);
        self.0.store(n.wrapping_add(1), Ordering::Relaxed);
    }

    /// The count of changes so far.
    #[inline]
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}
