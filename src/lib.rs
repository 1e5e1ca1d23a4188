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
//! | [`mutants_libfuzzer`] | the scoreboard's campaigns run by the cargo-fuzz targets (`--engine libfuzzer`) |
//! | [`generate_concurrent`], [`schedule`], [`concurrent_run`] | concurrent programs; shuttle runs their tasks as their schedule bytes say |
//! | [`linearize`], [`concurrent_oracle`] | SPEC §10: a run explained by some sequential order, §8 on the run, no leak |
//! | [`concurrent_report`], [`concurrent_minimize`], [`concurrent_engine`], [`race_scoreboard`] | per-task timelines, shrinking, `fuzz --concurrent`, the race rows |
//! | [`stress`], [`targets_concurrent`] | real threads on the std build; the concurrent fuzz-target body |
//! | [`fuzz_input`] | an engine's bytes ↔ a [`Program`](delalloc_contract::Program) (generated or literal mode) |
//! | [`artifact`] | a fuzz engine's crash input → a program (as the target decoded it) → a regression |
//! | [`corpus`] | the fuzz targets' seed corpora, generated from readable programs |
//! | [`mutate`] | structure-aware mutation of fuzz inputs (libFuzzer's custom mutator) |
//! | [`targets`] | the fuzz target bodies every engine calls: fs level, tree level, text parser |
//! | [`injected`] | deliberately wrong behaviours behind `DELALLOC_FUZZ_BUGS`, to test the pipeline |
//! | [`fuzz_all`] | every fuzz target for N seconds, one summary table: the CI command |
//! | [`commands`] | the command line: one `XCommand` per subcommand (flags + `execute` → exit code); uses the stages, never used by them |
//!
//! Where an op is generated: `generators::Gen::op`; where it is compared: `oracle::Run::step`.
//!
//! A cargo-fuzz target (`fuzz/fuzz_targets/`) is this much glue; [`fuzz_input`] says how its bytes
//! become a program:
//!
//! ```text
//! fuzz_target!(|data: &[u8]| delalloc_fuzz::targets::fs_level(data));
//! ```
//!
//! and a seeded one, as the engine runs it:
//!
//! ```
//! use delalloc_fuzz::{generators::{self, Level}, oracle::{self, Verdict}};
//! let program = generators::program_from_seed(7, Level::Mixed);
//! if let Verdict::Diverged(d) = oracle::run(&program) {
//!     panic!("{}", delalloc_fuzz::report::text(&d));
//! }
//! ```

pub mod commands;
pub mod corpus;
pub mod engines;
pub mod generators;
pub mod input;
pub mod libfuzzer;
pub mod oracles;
pub mod report;
pub mod scoreboard;
pub mod shrink;
pub mod targets;
