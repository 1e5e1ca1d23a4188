//! Oracles take a program and decide whether the models under test have a bug: they run it on
//! the reference model and on the model under test and say, field by field, where the two part.
//!
//! - [`differential`]: a sequential program, both models op by op, outcome and observable
//!   snapshot compared after every op, then the unmount's leak checks;
//! - [`linearizable`]: a concurrent program (tasks and a schedule), accepted when some
//!   sequential order of its ops explains every outcome and the quiescent state;
//! - [`invariants`]: SPEC §8 on one model's snapshot, used by both.

pub mod differential;
pub mod features;
pub mod invariants;
pub mod linearizable;
pub mod panics;
pub mod stats;

use delalloc_contract::run_line::RunLine;
use serde::Serialize;

/// An oracle's answer for one program: the models agree (with what the run exercised), or they
/// diverged. The differential oracle answers `Verdict<Stats, Divergence>`, the
/// linearizability oracle `Verdict<RaceStats, Rejection>`.
// Agree is the hot path (one per program): it stays unboxed, the rare divergence is boxed.
#[derive(Clone, Debug)]
pub enum Verdict<S, D> {
    /// Nothing wrong; `S` counts what the run exercised.
    Agree(S),
    /// The first thing found wrong, with everything its report needs.
    Diverged(Box<D>),
}

impl<S, D> Verdict<S, D> {
    /// The divergence, if there is one.
    pub fn divergence(&self) -> Option<&D> {
        match self {
            Verdict::Agree(_) => None,
            Verdict::Diverged(d) => Some(d),
        }
    }
}

/// What a campaign counts of the programs an oracle accepted, summed over its workers.
pub trait Coverage: Default + Clone + Serialize + Send {
    /// Adds another run's (or worker's) counts to these.
    fn merge(&mut self, other: &Self);
    /// Programs counted.
    fn programs(&self) -> u64;
    /// Ops counted.
    fn ops(&self) -> u64;
    /// Bit `k` set when `OpKind::ALL[k]` ran at least once.
    fn kinds_mask(&self) -> u32;
    /// The features reached, for coverage guidance; `None` for an oracle that has none (the
    /// engine then runs it unguided).
    fn features(&self) -> Option<&features::Features> {
        None
    }
    /// The campaign summary's lines after its totals: per-kind counts and whatever else this
    /// oracle tracks.
    fn text(&self) -> String;
}

/// One kind of program and the oracle that judges it: everything the engine, the shrinker
/// and the report layer need, so that sequential and concurrent programs share one pipeline.
pub trait Oracle: Sync {
    /// The test case: a sequential program, or tasks with a schedule.
    type Program: Clone + PartialEq + Send;
    /// What agreeing runs exercised.
    type Stats: Coverage;
    /// Where and how a run went wrong.
    type Divergence: Clone + Send;

    /// The program a campaign with this oracle runs for generator seed `seed`.
    fn generate(&self, seed: u64) -> Self::Program;
    /// Runs `program` and judges it.
    fn check(&self, program: &Self::Program) -> Verdict<Self::Stats, Self::Divergence>;
    /// "This bug" for the shrinker: two divergences with one signature are the same bug.
    fn signature(divergence: &Self::Divergence) -> String;
    /// The program in its text format, replayable by `delalloc-fuzz replay`.
    fn print(program: &Self::Program) -> String;
    /// The campaign's name in finding file names and summaries: its level, or `concurrent`.
    fn label(&self) -> String;
    /// The level of the generated programs, for oracles whose programs have one.
    fn level(&self) -> Option<crate::generators::Level> {
        None
    }
    /// The `fuzz` flags that choose this oracle, for the line that says how to find a
    /// finding again: `--level mixed`, `--concurrent`.
    fn flags(&self) -> String;
    /// The `run` line a finding is written with: the models and injected bugs its divergence
    /// depends on (the default pair, no bugs, unless the oracle knows better).
    fn run_line(&self) -> RunLine {
        RunLine::default()
    }
    /// `program` as a program file with its `run` line, which `replay` runs as it was found.
    fn print_file(program: &Self::Program, run: &RunLine) -> String;
    /// A structure-aware mutation of `program`, deterministic in `seed`, for coverage guidance;
    /// `None` when this oracle has no mutator or no mutation applies.
    fn mutate(&self, _program: &Self::Program, _seed: u64) -> Option<Self::Program> {
        None
    }
}

/// An oracle whose findings record `run_line` (the bugs and model of the closure it runs, which
/// it cannot tell itself), and whose flags say how to choose them again (`extra_flags`).
pub struct WithRunLine<O> {
    pub oracle: O,
    pub run_line: RunLine,
    /// Added to the oracle's flags: ` --bug merge-hook-era-a`, ` --against kernel`.
    pub extra_flags: String,
}

impl<O: Oracle> Oracle for WithRunLine<O> {
    type Program = O::Program;
    type Stats = O::Stats;
    type Divergence = O::Divergence;

    fn generate(&self, seed: u64) -> Self::Program {
        self.oracle.generate(seed)
    }
    fn check(&self, program: &Self::Program) -> Verdict<Self::Stats, Self::Divergence> {
        self.oracle.check(program)
    }
    fn signature(divergence: &Self::Divergence) -> String {
        O::signature(divergence)
    }
    fn print(program: &Self::Program) -> String {
        O::print(program)
    }
    fn label(&self) -> String {
        self.oracle.label()
    }
    fn level(&self) -> Option<crate::generators::Level> {
        self.oracle.level()
    }
    fn flags(&self) -> String {
        format!("{}{}", self.oracle.flags(), self.extra_flags)
    }
    fn run_line(&self) -> RunLine {
        self.run_line.clone()
    }
    fn print_file(program: &Self::Program, run: &RunLine) -> String {
        O::print_file(program, run)
    }
    fn mutate(&self, program: &Self::Program, seed: u64) -> Option<Self::Program> {
        self.oracle.mutate(program, seed)
    }
}
