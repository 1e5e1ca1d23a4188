//! The linearizability search of the concurrent oracle (SPEC §10): is there a sequential order
//! of the task ops, consistent with the run's real-time order, in which the reference model
//! answers every op as the run did and ends in the state the run ended in?
//!
//! Depth-first over the orders: at each step any op whose real-time predecessors are all placed
//! may go next (tried in invocation order, so the run's own order comes first); an op whose
//! reference outcome differs from the run's cuts the branch. States are memoized by (placed set,
//! reference state): two prefixes that reach the same state are explored once. The search is
//! sized for [`LINEARIZABILITY_OPS_PER_TASK`](delalloc_contract::concurrent::LINEARIZABILITY_OPS_PER_TASK)
//! ops in each of up to 4 tasks and stops after [`NODE_BUDGET`] reference steps: beyond that
//! the answer is [`OrderSearch::Inconclusive`], which the oracle counts and does not report.

use crate::oracles::linearizable::run::{sync, RunRecord};
use delalloc_contract::{
    Bits, ConcurrentProgram, FieldDiff, Geometry, Model, Op, Outcome, Record, Snapshot,
};
use delalloc_reference::Reference;
use serde::Serialize;
use std::collections::hash_map::DefaultHasher;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};

/// Reference steps one search may take.
pub const NODE_BUDGET: usize = 200_000;

/// A task op: (task, index in the task).
pub type OpId = (usize, usize);

/// Why the nearest order tried was rejected.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Mismatch {
    /// The reference answered this op differently in that order.
    Outcome {
        task: usize,
        index: usize,
        reference: Outcome,
        run: Outcome,
    },
    /// Every op agreed, the states after the sync differ (the compared fields, SPEC §10).
    State { fields: Vec<FieldDiff> },
    /// Every op and the quiescent state agreed, the states after the unmount differ.
    AfterUnmount { fields: Vec<FieldDiff> },
}

/// The order that got furthest, and what stopped it.
#[derive(Clone, Debug, Serialize)]
pub struct Nearest {
    /// The ops placed, in order (the rejected op last for an outcome mismatch).
    pub order: Vec<OpId>,
    pub mismatch: Mismatch,
}

#[derive(Clone, Debug)]
pub enum OrderSearch {
    Linearizable {
        order: Vec<OpId>,
        nodes: usize,
    },
    NotLinearizable {
        nearest: Box<Nearest>,
        nodes: usize,
    },
    /// The budget ran out first.
    Inconclusive {
        nodes: usize,
    },
}

/// The fields compared after the sync (SPEC §10). The sync removes the timing of writeback and
/// ordered completion, which a task's op may do on another's data at a moment no sequential
/// order reproduces (a DIO flushing its range, a writer finishing the ordered extents under its
/// pages). Left out besides: bytes_used (how often a range reached the disk depends on that
/// timing too), the delayed-inode reservations (commit timing) and with them metadata
/// bytes_may_use, the delayed and global reserves and the steal-chain warnings; in era C the
/// inode reservations too (how much a reservation over-reserved before a racing release
/// depends on the interleaving, as era B's reserved_extents does). The run's own snapshots are
/// held to SPEC §8 and §8.1 separately, and after the unmount everything must be zero.
///
/// Era B also leaves out DEFRAG (the records' bit, merged away, and defrag_bytes): 4.4's
/// btrfs_finish_ordered_io clears DEFRAG only from an ordered extent that is DEFRAG throughout,
/// and which ordered extents a writeback forms depends on that same timing (a DIO flushing its
/// range between another task's defrag and writeback leaves the writeback only the DEFRAG part).
pub fn synced_view(s: &Snapshot) -> Snapshot {
    let mut v = s.clone();
    for i in &mut v.inodes {
        if i.reserved_extents.is_some() {
            without_defrag(&mut i.records);
            i.defrag_bytes = 0;
        }
        i.delayed_bytes_reserved = 0;
        // Era C: present but not compared (era B has None here, and keeps it).
        if let Some(rsv) = &mut i.block_rsv {
            *rsv = Default::default();
        }
    }
    v.data.bytes_used = 0;
    v.meta.bytes_may_use = 0;
    v.delayed_rsv = Default::default();
    v.global_rsv = Default::default();
    v.warnings.global_rsv_steals = 0;
    v.warnings.unreserved_inode_updates = 0;
    v
}

/// `records` with DEFRAG taken off, records left with no bits dropped, and neighbours whose
/// bits became equal merged, as the tree would hold them had DEFRAG never been set.
fn without_defrag(records: &mut Vec<Record>) {
    let mut out: Vec<Record> = Vec::with_capacity(records.len());
    for r in records.drain(..) {
        let bits = r.bits.minus(Bits::DEFRAG);
        if bits.is_empty() {
            continue;
        }
        match out.last_mut() {
            Some(prev) if prev.end.checked_add(1) == Some(r.start) && prev.bits == bits => {
                prev.end = r.end;
            }
            _ => out.push(Record { bits, ..r }),
        }
    }
    *records = out;
}

/// The fields compared after the unmount: everything but bytes_used and the steal-chain
/// warnings (see [`synced_view`]).
pub fn after_unmount_view(s: &Snapshot) -> Snapshot {
    let mut v = s.clone();
    v.data.bytes_used = 0;
    v.warnings.global_rsv_steals = 0;
    v.warnings.unreserved_inode_updates = 0;
    v
}

fn state_hash(m: &Reference) -> u64 {
    let mut h = DefaultHasher::new();
    m.snapshot().hash(&mut h);
    h.finish()
}

/// finish_ordered stands for end_io, which the kernel runs whenever the IO completes: whether an
/// ordered extent was there to complete depends on writeback done inside other ops (a DIO's
/// flush, a writeback that gives its lock up between extents), so its answer is not compared.
/// Its effect is: the sync at the leaf completes whatever it left.
pub fn background(op: &Op) -> bool {
    match op {
        Op::FinishOrdered { .. } => true,
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
        | Op::FindFirstClearBit { .. }
        | Op::BufferedWrite { .. }
        | Op::DirectWrite { .. }
        | Op::PageMkwrite { .. }
        | Op::Defrag { .. }
        | Op::Writeback { .. }
        | Op::Truncate { .. }
        | Op::Evict { .. }
        | Op::Commit
        | Op::Unmount
        | Op::SetFreeSpace { .. }
        | Op::FailNextReservation { .. }
        | Op::DrainDelallocRsv => false,
    }
}

struct Searcher<'a> {
    geometry: Geometry,
    ids: Vec<OpId>,
    ops: Vec<&'a Op>,
    outcomes: Vec<Outcome>,
    /// preds[k]: the ops that returned before op k was invoked.
    preds: Vec<u128>,
    synced: Snapshot,
    after_unmount: Snapshot,
    seen: HashSet<(u128, u64)>,
    nodes: usize,
    path: Vec<OpId>,
    nearest: Option<Nearest>,
}

/// Searches an order for the task ops of `record` (every one of which returned), starting from
/// `after_setup`, the reference after the program's setup.
pub fn search(p: &ConcurrentProgram, record: &RunRecord, after_setup: &Reference) -> OrderSearch {
    let mut ids = Vec::new();
    let mut ops = Vec::new();
    let mut outcomes = Vec::new();
    let mut spans = Vec::new();
    for (t, recs) in record.ops.iter().enumerate() {
        for (i, r) in recs.iter().enumerate() {
            let (Some(ret), Some(o)) = (r.returned, r.outcome) else {
                continue;
            };
            ids.push((t, i));
            ops.push(&p.tasks[t][i]);
            outcomes.push(o);
            spans.push((r.invoked, ret));
        }
    }
    assert!(ids.len() <= 128, "at most 4 tasks of 32 ops");
    // Invocation order first: the run's own order is the first one tried.
    let mut by_invocation: Vec<usize> = (0..ids.len()).collect();
    by_invocation.sort_by_key(|&k| spans[k].0);
    let ids: Vec<OpId> = by_invocation.iter().map(|&k| ids[k]).collect();
    let ops: Vec<&Op> = by_invocation.iter().map(|&k| ops[k]).collect();
    let outcomes: Vec<Outcome> = by_invocation.iter().map(|&k| outcomes[k]).collect();
    let spans: Vec<(usize, usize)> = by_invocation.iter().map(|&k| spans[k]).collect();
    let preds = spans
        .iter()
        .map(|&(inv, _)| {
            spans
                .iter()
                .enumerate()
                .filter(|(_, &(_, ret))| ret < inv)
                .fold(0u128, |m, (j, _)| m | 1 << j)
        })
        .collect();
    let mut s = Searcher {
        geometry: p.geometry,
        ids,
        ops,
        outcomes,
        preds,
        synced: synced_view(record.synced.as_ref().expect("a finished run")),
        after_unmount: after_unmount_view(record.after_unmount.as_ref().expect("a finished run")),
        seen: HashSet::new(),
        nodes: 0,
        path: Vec::new(),
        nearest: None,
    };
    let found = s.dfs(0, after_setup);
    let nodes = s.nodes;
    if found {
        OrderSearch::Linearizable {
            order: s.path,
            nodes,
        }
    } else if s.nodes >= NODE_BUDGET {
        OrderSearch::Inconclusive { nodes }
    } else {
        let nearest = s.nearest.unwrap_or(Nearest {
            order: Vec::new(),
            mismatch: Mismatch::State { fields: Vec::new() },
        });
        OrderSearch::NotLinearizable {
            nearest: Box::new(nearest),
            nodes,
        }
    }
}

impl Searcher<'_> {
    fn all(&self) -> u128 {
        if self.ids.len() == 128 {
            u128::MAX
        } else {
            (1u128 << self.ids.len()) - 1
        }
    }

    /// Keeps the rejection that got furthest (a state mismatch beats an outcome one at the same
    /// depth; fewer differing fields beat more).
    fn reject(&mut self, order: Vec<OpId>, mismatch: Mismatch) {
        let rank = |n: &Nearest| {
            let (class, fields) = match &n.mismatch {
                Mismatch::Outcome { .. } => (0, 0),
                Mismatch::State { fields } => (1, fields.len()),
                Mismatch::AfterUnmount { fields } => (2, fields.len()),
            };
            (n.order.len(), class, usize::MAX - fields)
        };
        let candidate = Nearest { order, mismatch };
        if self
            .nearest
            .as_ref()
            .is_none_or(|n| rank(&candidate) > rank(n))
        {
            self.nearest = Some(candidate);
        }
    }

    fn dfs(&mut self, done: u128, model: &Reference) -> bool {
        if done == self.all() {
            return self.leaf(model);
        }
        if self.nodes >= NODE_BUDGET || !self.seen.insert((done, state_hash(model))) {
            return false;
        }
        for k in 0..self.ids.len() {
            let bit = 1u128 << k;
            if done & bit != 0 || self.preds[k] & !done != 0 {
                continue;
            }
            self.nodes += 1;
            let mut next = model.clone();
            let o = next.apply(self.ops[k]);
            self.path.push(self.ids[k]);
            if o != self.outcomes[k] && !background(self.ops[k]) {
                let (task, index) = self.ids[k];
                let m = Mismatch::Outcome {
                    task,
                    index,
                    reference: o,
                    run: self.outcomes[k],
                };
                self.reject(self.path.clone(), m);
            } else if self.dfs(done | bit, &next) {
                return true;
            }
            self.path.pop();
            if self.nodes >= NODE_BUDGET {
                return false;
            }
        }
        false
    }

    /// Every op placed: sync and compare, then unmount and compare again.
    fn leaf(&mut self, model: &Reference) -> bool {
        let mut m = model.clone();
        sync(&self.geometry, &mut |op| m.apply(op));
        let view = synced_view(&m.snapshot());
        if view != self.synced {
            let fields = view.diff(&self.synced);
            self.reject(self.path.clone(), Mismatch::State { fields });
            return false;
        }
        let _ = m.apply(&Op::Unmount);
        let after = after_unmount_view(&m.snapshot());
        if after != self.after_unmount {
            let fields = after.diff(&self.after_unmount);
            self.reject(self.path.clone(), Mismatch::AfterUnmount { fields });
            return false;
        }
        true
    }
}
