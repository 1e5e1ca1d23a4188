//! The command line, one subcommand per file, as wasmtime's `src/commands/`: each file holds a
//! `#[derive(clap::Args)]` struct of that subcommand's flags (`FuzzCommand`, `ReplayCommand`,
//! ...) whose `execute` runs it and returns the exit code, its `--concurrent` side included.
//! The binary (`src/main.rs`) only parses and dispatches. Nothing else in the crate uses this
//! module: it depends on the stages (generators, oracles, shrink, report, engines, ...), never
//! the reverse.
//!
//! Exit codes (the README's "Exit codes" table has each command's): 0 the models agree, or
//! what was asked is done; [`FAILED`] a divergence, or another check that failed (a missed
//! mutant, a stale corpus); [`ERROR`] bad input or an unusable path (bad flags, unreadable or
//! malformed input, nothing to replay or minimize, a folder that cannot be written);
//! [`crate::interrupt::EXIT_CODE`] stopped by Ctrl-C after printing its summary.

mod common;
mod corpus;
mod fuzz;
mod fuzz_all;
mod import;
mod minimize;
mod mutants;
mod replay;
mod report;
mod stress;
mod trace;

pub use common::{ERROR, FAILED};
pub use corpus::CorpusCommand;
pub use fuzz::FuzzCommand;
pub use fuzz_all::FuzzAllCommand;
pub use import::ImportCommand;
pub use minimize::MinimizeCommand;
pub use mutants::MutantsCommand;
pub use replay::ReplayCommand;
pub use report::ReportCommand;
pub use stress::StressCommand;
pub use trace::TraceCommand;
