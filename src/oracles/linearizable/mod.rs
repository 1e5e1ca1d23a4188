//! The oracle for concurrent programs (SPEC §10): run the program on the optimized model under
//! its schedule ([`mod@run`]), then decide.
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

use crate::generators::concurrent::TASK_KINDS;
use crate::oracles::linearizable::run::RunRecord;
use crate::oracles::linearizable::search::{Nearest, OrderSearch};
use crate::oracles::{Coverage, Oracle, Verdict};
use delalloc_contract::concurrent_text::{print_concurrent_file, print_concurrent_program};
use delalloc_contract::run_line::RunLine;
use delalloc_contract::{Accounting, ConcurrentProgram, Model, Op, OpKind, Outcome, Snapshot};
use delalloc_optimized_shuttle::bugs::BugSet;
use delalloc_reference::Reference;
use serde::Serialize;
use std::fmt::Write as _;

/// Counters of agreeing runs, summed over a campaign.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RaceStats {
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
    /// Programs or task ops per row of [`RACE_ROWS`].
    #[serde(serialize_with = "serialize_rows")]
    pub rows: [u64; RACE_ROWS.len()],
}

/// The concurrent coverage table's rows beside the task op kinds: programs per inode count and
/// era, task ops of the shapes SPEC §10 allows in tasks (several write chunks, several defrag
/// clusters, an evict, an unmount), and programs whose setup injects a fault.
pub const RACE_ROWS: [&str; 15] = [
    "inodes 1",
    "inodes 2",
    "inodes 3",
    "inodes 4",
    "inodes 5",
    "inodes 6",
    "inodes 7",
    "inodes 8",
    "era b",
    "era 6",
    "task buffered_write over several chunks",
    "task defrag over several clusters",
    "task evict",
    "task unmount",
    "setup fault injected",
];

fn serialize_rows<S: serde::Serializer>(
    rows: &[u64; RACE_ROWS.len()],
    s: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(Some(rows.len()))?;
    for (name, n) in RACE_ROWS.iter().zip(rows) {
        m.serialize_entry(name, n)?;
    }
    m.end()
}

/// The [`RACE_ROWS`] a program reaches, once per program or per task op.
fn race_rows(p: &ConcurrentProgram) -> [u64; RACE_ROWS.len()] {
    let g = &p.geometry;
    let mut rows = [0; RACE_ROWS.len()];
    rows[usize::from(g.inodes.clamp(1, 8)) - 1] += 1;
    rows[if g.era.accounting() == Accounting::B {
        8
    } else {
        9
    }] += 1;
    let s = g.sectorsize.max(1);
    for op in p.tasks.iter().flatten() {
        match *op {
            Op::BufferedWrite { pos, len, .. } if pos % s + len > g.write_chunk => rows[10] += 1,
            Op::Defrag { len, .. } if len > g.write_chunk => rows[11] += 1,
            Op::Evict { .. } => rows[12] += 1,
            Op::Unmount => rows[13] += 1,
            _ => {}
        }
    }
    if p.setup
        .iter()
        .any(|op| op.kind() == OpKind::FailNextReservation)
    {
        rows[14] += 1;
    }
    rows
}

impl RaceStats {
    pub fn merge(&mut self, o: &RaceStats) {
        self.programs += o.programs;
        self.ops += o.ops;
        self.overlapping += o.overlapping;
        self.inconclusive += o.inconclusive;
        self.search_nodes += o.search_nodes;
        self.decisions += o.decisions;
        self.bytes_used += o.bytes_used;
        for (a, b) in self.rows.iter_mut().zip(o.rows) {
            *a += b;
        }
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
pub enum RejectionKind {
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

impl RejectionKind {
    pub fn name(&self) -> &'static str {
        match self {
            RejectionKind::SetupOutcomeDiffers { .. } => "setup outcome differs",
            RejectionKind::RunFailed { .. } => "run failed",
            RejectionKind::InvariantBroken { .. } => "invariant broken",
            RejectionKind::Leaked { .. } => "leaked at unmount",
            RejectionKind::NotLinearizable => "not linearizable",
        }
    }
}

/// A concurrent run the oracle rejected, with everything its report shows.
#[derive(Clone, Debug, Serialize)]
pub struct Rejection {
    pub program: ConcurrentProgram,
    pub kind: RejectionKind,
    pub run: RunRecord,
    /// For [`RejectionKind::NotLinearizable`]: the order that got furthest.
    pub nearest: Option<Nearest>,
    /// The reference's snapshot after the setup.
    pub reference_after_setup: Snapshot,
    /// The bugs re-introduced in the model that ran (none: the fixed model).
    pub bugs: Vec<&'static str>,
}

impl Rejection {
    /// "This bug" for the minimizer: the kind, with the invariant's name or the panic's words.
    pub fn signature(&self) -> String {
        match &self.kind {
            RejectionKind::InvariantBroken { invariant, .. } => {
                format!("invariant broken: {invariant}")
            }
            RejectionKind::RunFailed { message } => {
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
pub fn run(p: &ConcurrentProgram) -> Verdict<RaceStats, Rejection> {
    run_with(p, BugSet::NONE)
}

/// The oracle with the bugs `bugs` re-introduced in the model.
pub fn run_with(p: &ConcurrentProgram, bugs: BugSet) -> Verdict<RaceStats, Rejection> {
    let record = run::run(p, bugs);
    judge(p, record, bugs)
}

fn judge(p: &ConcurrentProgram, run: RunRecord, bugs: BugSet) -> Verdict<RaceStats, Rejection> {
    let mut reference = Reference::new(&p.geometry);
    let diverged = |kind, run: RunRecord, reference: &Reference, nearest| {
        Verdict::Diverged(Box::new(Rejection {
            program: p.clone(),
            kind,
            run,
            nearest,
            reference_after_setup: reference.snapshot(),
            bugs: bugs.iter().map(|b| b.name()).collect(),
        }))
    };
    // 1. The setup, alone.
    for (i, op) in p.setup.iter().enumerate() {
        let r = reference.apply(op);
        match run.setup_outcomes.get(i) {
            Some(&o) if o != r => {
                let kind = RejectionKind::SetupOutcomeDiffers {
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
        return diverged(RejectionKind::RunFailed { message }, run, &reference, None);
    }
    let (Some(quiescent), Some(_), Some(after)) = (
        run.quiescent.clone(),
        run.synced.clone(),
        run.after_unmount.clone(),
    ) else {
        let message = "the run ended without its final snapshots".to_string();
        return diverged(RejectionKind::RunFailed { message }, run, &reference, None);
    };
    // 3. and 4. The run's own snapshots.
    for (when, snap) in [("quiescent", &quiescent), ("after unmount", &after)] {
        if let Err(v) = crate::oracles::invariants::check(snap, &p.geometry) {
            let kind = RejectionKind::InvariantBroken {
                when,
                invariant: v.invariant,
                message: v.message,
            };
            return diverged(kind, run, &reference, None);
        }
    }
    let w = &after.warnings;
    if w.evict_leaks + w.unmount_leaks > 0 {
        let kind = RejectionKind::Leaked {
            evict_leaks: w.evict_leaks,
            unmount_leaks: w.unmount_leaks,
        };
        return diverged(kind, run, &reference, None);
    }
    // 5. Linearizability.
    let mut stats = RaceStats {
        programs: 1,
        ops: p.task_ops() as u64,
        overlapping: u64::from(overlapping(&run)),
        decisions: run.decisions as u64,
        bytes_used: run.bytes_used as u64,
        rows: race_rows(p),
        ..RaceStats::default()
    };
    for op in p.tasks.iter().flatten() {
        stats.merge(&RaceStats {
            per_kind: vec![(op.kind(), 1)],
            ..RaceStats::default()
        });
    }
    match search::search(p, &run, &reference) {
        OrderSearch::Linearizable { nodes, .. } => {
            stats.search_nodes = nodes as u64;
            Verdict::Agree(stats)
        }
        OrderSearch::Inconclusive { nodes } => {
            stats.search_nodes = nodes as u64;
            stats.inconclusive = 1;
            Verdict::Agree(stats)
        }
        OrderSearch::NotLinearizable { nearest, .. } => diverged(
            RejectionKind::NotLinearizable,
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

/// The linearizability oracle as an engine runs it: generated concurrent programs, with
/// `bugs` re-introduced in the model (none for a real campaign; the scoreboard's race rows).
pub struct Linearizable {
    /// Bugs re-introduced in the shuttle build of the optimized model.
    pub bugs: BugSet,
}

impl Oracle for Linearizable {
    type Program = ConcurrentProgram;
    type Stats = RaceStats;
    type Divergence = Rejection;

    fn generate(&self, seed: u64) -> ConcurrentProgram {
        crate::generators::concurrent::program_from_seed(seed)
    }

    fn check(&self, program: &ConcurrentProgram) -> Verdict<RaceStats, Rejection> {
        run_with(program, self.bugs)
    }

    fn signature(divergence: &Rejection) -> String {
        divergence.signature()
    }

    fn print(program: &ConcurrentProgram) -> String {
        print_concurrent_program(program)
    }

    fn print_file(program: &ConcurrentProgram, run: &RunLine) -> String {
        print_concurrent_file(program, run)
    }

    fn run_line(&self) -> RunLine {
        RunLine {
            bugs: self.bugs.iter().map(|b| b.name().to_string()).collect(),
            ..RunLine::default()
        }
    }

    fn label(&self) -> String {
        "concurrent".into()
    }

    fn flags(&self) -> String {
        let mut flags = String::from("--concurrent");
        for b in self.bugs.iter() {
            flags.push_str(" --bug ");
            flags.push_str(b.name());
        }
        flags
    }
}

impl Coverage for RaceStats {
    fn merge(&mut self, other: &RaceStats) {
        RaceStats::merge(self, other);
    }

    fn programs(&self) -> u64 {
        self.programs
    }

    fn ops(&self) -> u64 {
        self.ops
    }

    fn kinds_mask(&self) -> u32 {
        // OpKind::ALL is in discriminant order (the op table checks it).
        self.per_kind
            .iter()
            .filter(|(_, n)| *n > 0)
            .fold(0, |m, &(k, _)| m | 1 << k as usize)
    }

    /// How often ops overlapped, what the order search cost, the scheduling decisions and the
    /// task ops per kind.
    fn text(&self) -> String {
        let pct = |n: u64| 100.0 * n as f64 / self.programs.max(1) as f64;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "  runs with overlapping ops: {} ({:.1}%); searches out of budget (not judged): {}; reference steps searched: {}",
            self.overlapping,
            pct(self.overlapping),
            self.inconclusive,
            self.search_nodes
        );
        let _ = writeln!(
            s,
            "  scheduling decisions: {}, schedule bytes used: {}",
            self.decisions, self.bytes_used
        );
        let _ = writeln!(s, "task op kinds:");
        let mut unreached = Vec::new();
        for k in TASK_KINDS {
            let n = self
                .per_kind
                .iter()
                .find(|(j, _)| *j == k)
                .map_or(0, |&(_, n)| n);
            let _ = writeln!(s, "  {:<40}{n:>10}", k.name());
            if n == 0 {
                unreached.push(k.name());
            }
        }
        let _ = writeln!(
            s,
            "programs per inode count and era, task op shapes, setup faults:"
        );
        for (name, &n) in RACE_ROWS.iter().zip(&self.rows) {
            let _ = writeln!(s, "  {name:<40}{n:>10}");
            if n == 0 {
                unreached.push(name);
            }
        }
        s.push_str(&crate::oracles::stats::coverage_verdict(&unreached));
        s
    }
}
