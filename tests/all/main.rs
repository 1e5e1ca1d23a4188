//! The integration tests, as one test binary (`cargo test --test all`): each file of this folder
//! was a test target of its own, and each of those linked the whole crate and its dependencies
//! again. A filter picks a file's tests by module path, e.g. `cargo test --test all bolero::`.
//!
//! One process runs them all, so a test may not assume it has the process to itself: the panic
//! hooks involved (`differential::quiet_model_panics`, the linearizable oracle's, bolero's) are
//! installed once and pass on what they do not handle, and no test sets an environment variable
//! of its own process (the CLI tests set them on the child they run).

mod common;

mod bolero;
mod cli;
mod cli_concurrent;
mod cli_contract;
mod cli_findings;
mod cli_fuzz;
mod cli_fuzz_all;
mod cli_interrupt;
mod cli_kernel;
mod cli_report;
mod cli_report_concurrent;
mod concurrent;
mod conformance;
mod engine;
mod era_c_optimized;
mod fuzz_corpus;
mod guidance;
mod kernel_selftests;
mod minimize;
mod mutants;
mod mutation_campaign;
mod oracle;
mod oss_fuzz;
mod reach;
mod regressions;
mod seed_scenarios;
mod smoke;
mod snapshot_update;
