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

    /// Brings `out` up to date: `out` must hold this model's snapshot as of the last call with
    /// this `seen`, or `seen` be empty (a fresh [`PartStamps`]: nothing is known, and the
    /// snapshot is taken whole). A model may skip the parts it can prove unchanged since that
    /// call, and records in `seen` what it needs for the next. The default remembers nothing.
    fn snapshot_update(&self, out: &mut Snapshot, seen: &mut PartStamps) {
        self.snapshot_into(out);
        seen.0.clear();
    }
}

/// What a model's [`Model::snapshot_update`] remembers between calls: change counters of the
/// parts of its snapshot, in a layout of the model's choosing. Empty means nothing is known.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PartStamps(pub Vec<u64>);

impl PartStamps {
    /// Forgets everything: the next update takes a whole snapshot (a new model, a new buffer).
    pub fn clear(&mut self) {
        self.0.clear();
    }
}
