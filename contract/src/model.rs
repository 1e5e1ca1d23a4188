//! The interface both models implement.

use crate::{Op, Outcome, Snapshot};

/// A delalloc accounting model: a mounted file system plus a stand-alone extent tree.
///
/// `new` mounts a file system of the (validated) geometry: the global reserve is filled from
/// metadata space and every inode is empty. `apply` runs one validated op to completion.
pub trait Model {
    /// A short name for reports ("reference", "optimized").
    fn name(&self) -> &'static str;
    fn apply(&mut self, op: &Op) -> Outcome;
    fn snapshot(&self) -> Snapshot;
    /// The same snapshot, written into `out` so that its vectors' allocations are reused: the
    /// oracle takes two snapshots after every op, and allocating them afresh cost more than
    /// the models' own work on extent-tree programs.
    fn snapshot_into(&self, out: &mut Snapshot) {
        *out = self.snapshot();
    }
}
