//! delalloc-fuzz: differential fuzzing of btrfs delayed-allocation space accounting.
//!
//! The reference model (`delalloc_reference`) and the optimized implementation
//! (`delalloc_optimized`) run the same programs; any difference in outcomes, reserved bytes,
//! extent records or delalloc bits is a finding. Engine-independent, as wasmtime's fuzzing
//! crate: the fuzz targets (cargo-fuzz, AFL, bolero, the built-in [`engines`]) are a few lines
//! of glue. One folder per stage of the pipeline
//! (bytes → program → oracle → verdict → shrink → report):
//!
//! | module | one concept |
//! |---|---|
//! | [`generators`] | fuzzer bytes (`arbitrary::Unstructured`) or a seed → a valid program, sequential or concurrent |
//! | [`input`] | an engine's bytes ↔ a [`Program`](delalloc_contract::Program) (generated or literal mode), and the op-level mutator |
//! | [`oracles`] | a program → a [`Verdict`](oracles::Verdict): the differential oracle, the linearizability oracle, SPEC §8's invariants |
//! | [`shrink`] | a diverging program → a small one diverging the same way (one driver, a set of passes per program kind) |
//! | [`report`] | a divergence → human text, JSON or an HTML page; a program's trace |
//! | [`engines`] | the built-in campaign over any oracle (threads, seeds, progress, findings on disk); stress on real threads |
//! | [`targets`] | the fuzz target bodies every engine calls: fs level, tree level, text parser, concurrent |
//! | [`against`] | which model the reference is compared with: the optimized implementation, or the kernel's own code (`delalloc-kernel`) |
//! | [`pairing`] | that model and the bugs injected into it, as a program file's `run` line records them, and the command line's overrides |
//! | [`kernel_variant`] | this binary rebuilt on another kernel tree or a patched one (`--kernel-src`, kernel mutants) |
//! | [`interrupt`] | Ctrl-C on the long commands: a flag the engines read between programs, passed on to the processes they run |
//! | [`injected`] | deliberately wrong behaviours behind `DELALLOC_FUZZ_BUGS`, to test the pipeline itself |
//! | [`libfuzzer`] | cargo-fuzz's targets built and run for N seconds each, one summary table (`fuzz-all`) |
//! | [`scoreboard`] | campaigns against each re-introduced historical bug (`mutants`), with either engine |
//! | [`corpus`] | the fuzz targets' seed corpora from readable programs; a crash input → a regression |
//! | [`commands`] | the command line: one `XCommand` per subcommand (flags + `execute` → exit code); uses the stages, never used by them |
//!
//! Where an op is generated: `generators::Gen::op`; where it is compared:
//! `oracles::differential::Run::step`.
//!
//! A cargo-fuzz target (`fuzz/fuzz_targets/`) is this much glue; [`input`] says how its bytes
//! become a program:
//!
//! ```text
//! fuzz_target!(|data: &[u8]| delalloc_fuzz::targets::fs_level(data));
//! ```
//!
//! and a seeded one, as the engine runs it:
//!
//! ```
//! use delalloc_fuzz::generators::{self, Level};
//! use delalloc_fuzz::oracles::{differential, Verdict};
//! let program = generators::program_from_seed(7, Level::Mixed);
//! if let Verdict::Diverged(d) = differential::run(&program) {
//!     panic!("{}", delalloc_fuzz::report::text(&d));
//! }
//! ```

/// How printed follow-up commands run this binary: from the checkout, as every command of the
/// README does (`cargo run --release -- replay FILE`), so that they work as printed.
pub const RUN: &str = "cargo run --release --";

pub mod against;
pub mod commands;
pub mod corpus;
pub mod engines;
pub mod generators;
pub mod injected;
pub mod input;
pub mod interrupt;
pub mod kernel_variant;
pub mod libfuzzer;
pub mod oracles;
pub mod pairing;
pub mod report;
pub mod scoreboard;
pub mod shrink;
pub mod targets;
