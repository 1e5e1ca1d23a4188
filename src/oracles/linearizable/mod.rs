//! The oracle for concurrent programs (SPEC §10): run the program on the optimized model under
//! its schedule ([`concurrent_run`]), then decide.
//!
//! In this order:
//! 1. the setup ops answer as the reference answers them (they run alone);
//! 2. the run finished: no panic in the model, no deadlock, no livelock;
//! 3. the quiescent snapshot satisfies SPEC §8 (1-5);
//! 4. nothing leaked: after the unmount the run's snapshot satisfies §8 with no evict or
//!    unmount WARN;
//! 5. linearizability ([`crate::oracles::linearizable::search::search`]): some order of the task ops consistent with the
//!    run's real-time order gives every op the run's outcome on the reference and, after a sync
//!    of both, the run's state (compared fields), and after the unmount its final state.

pub mod run;
pub mod schedule;
pub mod search;

use crate::oracles::linearizable::run::RunRecord;
use crate::oracles::linearizable::search::{Nearest, Search};
use delalloc_contract::{ConcurrentProgram, Model, OpKind, Outcome, Snapshot};
use delalloc_optimized_shuttle::bugs::BugSet;
use delalloc_reference::Reference;
use serde::Serialize;

/// What a concurrent program's run came to.
#[derive(Clone, Debug)]
pub enum ConcurrentVerdict {
    Agree(ConcurrentStats),
    Diverged(Box<ConcurrentDivergence>),
}

impl ConcurrentVerdict {
    pub fn divergence(&self) -> Option<&ConcurrentDivergence> {
        match self {
            ConcurrentVerdict::Agree(_) => None,
            ConcurrentVerdict::Diverged(d) => Some(d),
        }
    }
}

/// Counters of agreeing runs, summed over a campaign.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ConcurrentStats {
    pub programs: u64,
    /// Task ops (the setup not counted).
    pub ops: u64,
    /// Runs in which some op waited or was overtaken: at least two ops overlapped in time.
    pub overlapping: u64,
    /// Runs whose search ran out of budget (neither accepted nor reported).
    pub inconclusive: u64,
    /// Reference steps the searches took.
    pub search_nodes: u64,
    /// Scheduling decisions made, and schedule bytes consumed.
    pub decisions: u64,
    pub bytes_used: u64,
    /// Task ops per kind.
    pub per_kind: Vec<(OpKind, u64)>,
}

impl ConcurrentStats {
    pub fn merge(&mut self, o: &ConcurrentStats) {
        self.programs += o.programs;
        self.ops += o.ops;
        self.overlapping += o.overlapping;
        self.inconclusive += o.inconclusive;
        self.search_nodes += o.search_nodes;
        self.decisions += o.decisions;
        self.bytes_used += o.bytes_used;
        for &(k, n) in &o.per_kind {
            match self.per_kind.iter_mut().find(|(j, _)| *j == k) {
                Some((_, m)) => *m += n,
                None => self.per_kind.push((k, n)),
            }
        }
        self.per_kind.sort();
    }
}

/// How a concurrent run failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ConcurrentDivergenceKind {
    /// A setup op (run alone) answered differently: a sequential divergence.
    SetupOutcomeDiffers {
        index: usize,
        reference: Outcome,
        optimized: Outcome,
    },
    /// The model panicked, deadlocked or livelocked.
    RunFailed { message: String },
    /// The run's own snapshot breaks SPEC §8 (`when`: quiescent or after unmount).
    InvariantBroken {
        when: &'static str,
        invariant: &'static str,
        message: String,
    },
    /// After the unmount something is still accounted (btrfs_destroy_inode's or close_ctree's
    /// WARN_ONs).
    Leaked {
        evict_leaks: u64,
        unmount_leaks: u64,
    },
    /// No sequential order explains the run.
    NotLinearizable,
}

impl ConcurrentDivergenceKind {
    pub fn name(&self) -> &'static str {
        match self {
            ConcurrentDivergenceKind::SetupOutcomeDiffers { .. } => "setup outcome differs",
            ConcurrentDivergenceKind::RunFailed { .. } => "run failed",
            ConcurrentDivergenceKind::InvariantBroken { .. } => "invariant broken",
            ConcurrentDivergenceKind::Leaked { .. } => "leaked at unmount",
            ConcurrentDivergenceKind::NotLinearizable => "not linearizable",
        }
    }
}

/// A concurrent run the oracle rejected, with everything its report shows.
#[derive(Clone, Debug, Serialize)]
pub struct ConcurrentDivergence {
    pub program: ConcurrentProgram,
    pub kind: ConcurrentDivergenceKind,
    pub run: RunRecord,
    /// For [`ConcurrentDivergenceKind::NotLinearizable`]: the order that got furthest.
    pub nearest: Option<Nearest>,
    /// The reference's snapshot after the setup.
    pub reference_after_setup: Snapshot,
}

impl ConcurrentDivergence {
    /// "This bug" for the minimizer: the kind, with the invariant's name or the panic's words.
    pub fn signature(&self) -> String {
        match &self.kind {
            ConcurrentDivergenceKind::InvariantBroken { invariant, .. } => {
                format!("invariant broken: {invariant}")
            }
            ConcurrentDivergenceKind::RunFailed { message } => {
                format!(
                    "run failed: {}",
                    crate::oracles::differential::message_shape(message)
                )
            }
            k => k.name().to_string(),
        }
    }
}

/// The oracle with the fixed model.
pub fn run(p: &ConcurrentProgram) -> ConcurrentVerdict {
    run_with(p, BugSet::NONE)
}

/// The oracle with the bugs `bugs` re-introduced in the model.
pub fn run_with(p: &ConcurrentProgram, bugs: BugSet) -> ConcurrentVerdict {
    let record = run::run(p, bugs);
    judge(p, record)
}

fn judge(p: &ConcurrentProgram, run: RunRecord) -> ConcurrentVerdict {
    let mut reference = Reference::new(&p.geometry);
    let diverged = |kind, run: RunRecord, reference: &Reference, nearest| {
        ConcurrentVerdict::Diverged(Box::new(ConcurrentDivergence {
            program: p.clone(),
            kind,
            run,
            nearest,
            reference_after_setup: reference.snapshot(),
        }))
    };
    // 1. The setup, alone.
    for (i, op) in p.setup.iter().enumerate() {
        let r = reference.apply(op);
        match run.setup_outcomes.get(i) {
            Some(&o) if o != r => {
                let kind = ConcurrentDivergenceKind::SetupOutcomeDiffers {
                    index: i,
                    reference: r,
                    optimized: o,
                };
                return diverged(kind, run, &reference, None);
            }
            Some(_) => {}
            None => break,
        }
    }
    // 2. A finished run.
    if let Some(message) = run.failure.clone() {
        return diverged(
            ConcurrentDivergenceKind::RunFailed { message },
            run,
            &reference,
            None,
        );
    }
    let (Some(quiescent), Some(_), Some(after)) = (
        run.quiescent.clone(),
        run.synced.clone(),
        run.after_unmount.clone(),
    ) else {
        let message = "the run ended without its final snapshots".to_string();
        return diverged(
            ConcurrentDivergenceKind::RunFailed { message },
            run,
            &reference,
            None,
        );
    };
    // 3. and 4. The run's own snapshots.
    for (when, snap) in [("quiescent", &quiescent), ("after unmount", &after)] {
        if let Err(v) = crate::oracles::invariants::check(snap, &p.geometry) {
            let kind = ConcurrentDivergenceKind::InvariantBroken {
                when,
                invariant: v.invariant,
                message: v.message,
            };
            return diverged(kind, run, &reference, None);
        }
    }
    let w = &after.warnings;
    if w.evict_leaks + w.unmount_leaks > 0 {
        let kind = ConcurrentDivergenceKind::Leaked {
            evict_leaks: w.evict_leaks,
            unmount_leaks: w.unmount_leaks,
        };
        return diverged(kind, run, &reference, None);
    }
    // 5. Linearizability.
    let mut stats = ConcurrentStats {
        programs: 1,
        ops: p.task_ops() as u64,
        overlapping: u64::from(overlapping(&run)),
        decisions: run.decisions as u64,
        bytes_used: run.bytes_used as u64,
        ..ConcurrentStats::default()
    };
    for op in p.tasks.iter().flatten() {
        stats.merge(&ConcurrentStats {
            per_kind: vec![(op.kind(), 1)],
            ..ConcurrentStats::default()
        });
    }
    match search::search(p, &run, &reference) {
        Search::Linearizable { nodes, .. } => {
            stats.search_nodes = nodes as u64;
            ConcurrentVerdict::Agree(stats)
        }
        Search::Inconclusive { nodes } => {
            stats.search_nodes = nodes as u64;
            stats.inconclusive = 1;
            ConcurrentVerdict::Agree(stats)
        }
        Search::NotLinearizable { nearest, .. } => diverged(
            ConcurrentDivergenceKind::NotLinearizable,
            run,
            &reference,
            Some(*nearest),
        ),
    }
}

/// Whether two task ops overlapped in time (one was invoked before another returned).
fn overlapping(run: &RunRecord) -> bool {
    let mut spans: Vec<(usize, usize)> = run
        .ops
        .iter()
        .flatten()
        .filter_map(|r| r.returned.map(|ret| (r.invoked, ret)))
        .collect();
    spans.sort();
    spans.windows(2).any(|w| w[1].0 < w[0].1)
}
