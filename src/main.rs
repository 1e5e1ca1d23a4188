//! The command line: `delalloc-fuzz fuzz | replay | trace | minimize | report | mutants | stress | import | corpus | fuzz-all`.
//!
//! Exit codes: 0 the models agree (or what was asked is done); 1 a divergence (or another
//! check that failed: a missed mutant, a stale corpus); 2 bad input or an unusable path (bad
//! flags, unreadable or malformed input, nothing to replay, nothing to minimize, a folder that
//! cannot be written); 130 stopped by Ctrl-C after its summary. The README's "Exit codes"
//! table has each command's.
//!
//! Each subcommand is a struct of `delalloc_fuzz::commands` whose `execute` returns the exit code.

use clap::{Parser, Subcommand};
use delalloc_fuzz::commands::{
    CorpusCommand, FuzzAllCommand, FuzzCommand, ImportCommand, MinimizeCommand, MutantsCommand,
    ReplayCommand, ReportCommand, StressCommand, TraceCommand,
};
use delalloc_fuzz::oracles::panics::quiet_model_panics;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "delalloc-fuzz",
    version,
    about = "Differential fuzzing of btrfs delalloc space accounting: reference vs optimized"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run generated programs through both models until time runs out or they diverge.
    Fuzz(FuzzCommand),
    /// Concurrent programs on real threads (the std build, no scheduler), checking SPEC §8 at
    /// quiescence and that nothing leaks after the unmount.
    Stress(StressCommand),
    /// Run program files or raw fuzz artifacts (directories: every *.txt below, reports
    /// excluded, and crash-*/id:* artifacts) with the models and bugs of each file's run line;
    /// PASS if the models agree. No program found is exit 2.
    Replay(ReplayCommand),
    /// Turn libFuzzer/AFL crash inputs into readable, minimized regression programs.
    Import(ImportCommand),
    /// Regenerate the fuzz targets' seed corpora corpus/<target>/ from corpus/programs/.
    Corpus(CorpusCommand),
    /// Show what a program file does on each model of its pair, side by side: each op's
    /// outcomes and the fields it changed, differing values marked, then the oracle's verdict;
    /// exit 1 if the models diverge, as `replay`.
    Trace(TraceCommand),
    /// Run every fuzz target N seconds (cargo-fuzz's libFuzzer binaries from their seed
    /// corpora, and/or the built-in engine); a summary table; exit 1 on any finding. For CI.
    FuzzAll(FuzzAllCommand),
    /// Shrink a diverging program file to a small one diverging the same way (one that does not
    /// diverge is exit 2: nothing to minimize).
    Minimize(MinimizeCommand),
    /// Draw a finding as one self-contained HTML page: the program with the diverging op
    /// marked, each model's extent map after each op, the counters over the ops (a concurrent
    /// one: the run's timeline beside the nearest sequential order, what it cannot explain).
    Report(ReportCommand),
    /// The scoreboard: campaigns against the optimized model with each historical bug
    /// re-introduced, until the first divergence; exits 1 if a non-race bug is missed.
    Mutants(MutantsCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    quiet_model_panics();
    ExitCode::from(match cli.command {
        Command::Fuzz(c) => c.execute(),
        Command::Stress(c) => c.execute(),
        Command::Replay(c) => c.execute(),
        Command::Import(c) => c.execute(),
        Command::Corpus(c) => c.execute(),
        Command::Trace(c) => c.execute(),
        Command::FuzzAll(c) => c.execute(),
        Command::Minimize(c) => c.execute(),
        Command::Report(c) => c.execute(),
        Command::Mutants(c) => c.execute(),
    })
}
