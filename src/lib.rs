//! delalloc-fuzz: differential fuzzing of btrfs delayed-allocation space accounting.
//!
//! The reference model (`delalloc_reference`) and the optimized implementation
//! (`delalloc_optimized`) run the same programs; any difference in outcomes, reserved bytes,
//! extent records or delalloc bits is a finding. Engine-independent, as wasmtime's fuzzing crate:
//! fuzz targets (cargo-fuzz, AFL, bolero, the built-in [`engine`]) are a few lines of glue.
//!
//! | module | one concept |
//! |---|---|
//! | [`generate`] | fuzzer bytes (`arbitrary::Unstructured`) → a valid [`Program`](delalloc_contract::Program) |
//! | [`oracle`] | one program on two models → [`Verdict`](oracle::Verdict): agree, or where and how they diverged |
//! | [`invariants`] | SPEC §8 on one snapshot |
//! | [`minimize`] | a diverging program → a small one diverging the same way |
//! | [`report`] | a divergence → human text or JSON |
//! | [`trace`] | a program → each op's outcome and the fields it changed |
//! | [`engine`] | the built-in campaign: threads, seeds, progress, findings on disk |
//! | [`mutants`] | the scoreboard: campaigns against each re-introduced historical bug |
//!
//! Where an op is generated: `generate::Gen::op`; where it is compared: `oracle::Run::step`.
//!
//! A cargo-fuzz target is this much glue (the same bytes drive the built-in engine's programs):
//!
//! ```text
//! fuzz_target!(|data: &[u8]| {
//!     let mut u = arbitrary::Unstructured::new(data);
//!     if let Ok(program) = delalloc_fuzz::generate::program(&mut u, Level::Mixed) {
//!         delalloc_fuzz::oracle::assert_agree(&program);
//!     }
//! });
//! ```
//!
//! and a seeded one, as the engine runs it:
//!
//! ```
//! use delalloc_fuzz::{generate::{self, Level}, oracle::{self, Verdict}};
//! let program = generate::program_from_seed(7, Level::Mixed);
//! if let Verdict::Diverged(d) = oracle::run(&program) {
//!     panic!("{}", delalloc_fuzz::report::text(&d));
//! }
//! ```

pub mod concurrent_engine;
pub mod concurrent_minimize;
pub mod concurrent_oracle;
pub mod concurrent_report;
pub mod concurrent_run;
pub mod engine;
pub mod generate;
pub mod generate_concurrent;
pub mod invariants;
pub mod linearize;
pub mod minimize;
pub mod mutants;
pub mod oracle;
pub mod report;
pub mod schedule;
pub mod stress;
pub mod targets_concurrent;
pub mod trace;
