//! The interface both models implement.

use crate::{Op, Outcome, Snapshot};

/// A delalloc accounting model: a mounted file system plus a stand-alone extent tree.
///
/// `new` mounts a file system of the (validated) geometry: the global reserve is filled from
/// metadata space and every inode is empty. `apply` runs one validated op to completion.
pub trait Model {
    /// A short name for reports ("reference", "optimized").
    fn name(&self) -> &'static str;
    /// Runs one validated op to completion and says what it answered.
    fn apply(&mut self, op: &Op) -> Outcome;
    /// The observable state now.
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
    /// call, and records in `seen` what it needs for the next. Returns the parts it wrote: every
    /// other part of `out` is as that last call left it (the oracle need not re-check them).
    /// The default remembers nothing and writes everything.
    fn snapshot_update(&self, out: &mut Snapshot, seen: &mut PartStamps) -> Rewritten {
        self.snapshot_into(out);
        seen.0.clear();
        Rewritten::ALL
    }

    /// What the model's own code complained about since the last call (a kernel WARN_ON or
    /// ASSERT that fired), oldest first. The differential oracle asks after every op: any
    /// complaint is a divergence of its own kind, whatever the other model did. Models that
    /// only panic have none.
    fn take_complaints(&mut self) -> Vec<Complaint> {
        Vec::new()
    }
}

/// A check inside a model's code that failed without stopping it: the kernel's WARN_ON, WARN,
/// ASSERT (CONFIG_BTRFS_ASSERT) or a refcount warning.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Complaint {
    /// "WARN_ON", "WARN", "ASSERT", "REFCOUNT" or "MESSAGE".
    pub kind: String,
    /// Where it fired: the source file (relative to the tree) and line, "extent-io-tree.c:1655".
    pub location: String,
    /// The condition that failed, or the message.
    pub text: String,
}

impl std::fmt::Display for Complaint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at {}: {}", self.kind, self.location, self.text)
    }
}

/// The parts of a [`Snapshot`] a [`Model::snapshot_update`] call wrote (and so may have
/// changed): the stand-alone tree, each inode, and the fs-wide fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rewritten {
    /// The stand-alone tree's part.
    pub tree: bool,
    /// Bit i: `inodes[i]`. Inodes past the 64th (no geometry has them) always count as written.
    pub inodes: u64,
    /// The fs-wide fields (space infos, block reserves, warnings).
    pub fs: bool,
}

impl Rewritten {
    /// Everything: a whole snapshot.
    pub const ALL: Rewritten = Rewritten {
        tree: true,
        inodes: u64::MAX,
        fs: true,
    };

    /// Whether `inodes[i]` was written.
    pub fn inode(&self, i: usize) -> bool {
        i >= 64 || self.inodes >> i & 1 == 1
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
