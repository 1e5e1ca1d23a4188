//! bolero harnesses over the two differential oracles: the same target bodies as cargo-fuzz and
//! AFL (`delalloc_fuzz::targets`), on bytes decoded by `input::decode`.
//!
//! Under plain `cargo test` (stable, no tool installed) each harness replays the committed seed
//! corpus `corpus/<target>/` one file at a time, then runs [`RANDOM_ITERATIONS`] random inputs
//! from bolero's own engine (`BOLERO_RANDOM_ITERATIONS=N` asks for more, `BOLERO_RANDOM_SEED=S`
//! repeats the seed a failure printed). A divergence fails the test with the oracle's report;
//! bolero shrinks the input first and prints it.
//!
//! For a real campaign the same tests run under a coverage-guided engine:
//!
//! ```text
//! cargo +nightly bolero test bolero::fs_level --engine libfuzzer -T 60s
//! ```
//!
//! (the README's "bolero" section has the details; findings land in `tests/all/__fuzz__/`).

use bolero::check;
use delalloc_fuzz::generators::Level;
use delalloc_fuzz::injected::WrapperBugs;
use delalloc_fuzz::{input, targets};
use std::any::Any;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Random inputs per harness under `cargo test`, unless `BOLERO_RANDOM_ITERATIONS` is set: a
/// count, not a time, so the run is the same size on a slow machine (well under a second in a debug
/// build). bolero's own default would be one second of inputs.
const RANDOM_ITERATIONS: usize = 1000;

/// The files of the seed corpus `corpus/<target>/`, sorted; at least one.
fn seed_corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("readable corpus entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{}: no seed inputs", dir.display());
    files
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p, bytes)
        })
        .collect()
}

fn message(e: &(dyn Any + Send)) -> String {
    e.downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "(no message)".to_string())
}

/// Runs `target` on every seed of `corpus/<name>/`; a failure names the seed file.
fn replay_seeds(name: &str, target: fn(&[u8])) {
    for (path, bytes) in seed_corpus(name) {
        if let Err(e) = catch_unwind(|| target(&bytes)) {
            panic!("seed {} failed:\n{}", path.display(), message(&*e));
        }
    }
}

#[test]
fn fs_level() {
    replay_seeds("fs_level", targets::fs_level);
    check!()
        .with_iterations(RANDOM_ITERATIONS)
        .for_each(|data: &[u8]| targets::fs_level(data));
}

#[test]
fn tree_level() {
    replay_seeds("tree_level", targets::tree_level);
    check!()
        .with_iterations(RANDOM_ITERATIONS)
        .for_each(|data: &[u8]| targets::tree_level(data));
}

/// The harness shape above reports a divergence as a failing test: the same `check!()` over the
/// fs-level oracle, with the injected bug on and fed an input that shows it. bolero prints the
/// oracle's report with the (shrunk) input and fails with its own message, so the report is
/// caught on its way through.
#[test]
fn a_divergence_fails_the_check() {
    let bugs = WrapperBugs::parse("nocow-writeback-end-rounds-down").unwrap();
    // A nocow write that falls back to metadata-only (no data space), then a writeback ending
    // inside it, off a sector boundary: what the injected bug needs.
    let program = delalloc_contract::text::parse_program(
        "set_free_space data=0 meta=64M\nbuffered_write ino=0 pos=0 len=8K nocow\n\
         writeback ino=0 start=0 len=5000\n",
    )
    .unwrap();
    let input = input::encode(&program);
    let report = Mutex::new(None);
    let check = catch_unwind(AssertUnwindSafe(|| {
        check!()
            .with_generator(bolero::generator::constant(input))
            .with_iterations(1)
            .for_each(|data: &Vec<u8>| {
                if let Err(e) = catch_unwind(|| targets::differential(data, Level::Fs, bugs)) {
                    *report.lock().unwrap() = Some(message(&*e));
                    resume_unwind(e);
                }
            });
    }));
    assert!(check.is_err(), "bolero passed a diverging input");
    let report = report
        .into_inner()
        .unwrap()
        .expect("the target never failed");
    for needle in [
        "the models diverged on this fs-level input",
        "DIVERGENCE (state differs) at op 2: writeback ino=0 start=0 len=5000",
    ] {
        assert!(report.contains(needle), "{needle}: {report}");
    }
}
