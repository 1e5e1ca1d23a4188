//! The test cargo-mutants runs on every mutant of optimized/ (`scripts/cargo-mutants.sh`): a short
//! built-in campaign of the optimized model against the reference at each level and era, and of
//! the concurrent oracle on its shuttle build (which compiles the same sources), each from a fixed
//! seed with a fixed program budget, so that a mutant's verdict does not depend on the machine or
//! the time of day. Any divergence fails it: on a mutant that is the mutant caught.
//!
//! Ignored in the normal suite: the suite has its own differential batches, and this one only
//! means something as the judge of a mutant. Run it alone with
//! `cargo test --test all mutation_campaign:: -- --ignored`.

use delalloc_contract::{Era, Program};
use delalloc_fuzz::engines::{self, Search};
use delalloc_fuzz::generators::{Dialect, Level};
use delalloc_fuzz::oracles::differential::Differential;
use delalloc_fuzz::oracles::linearizable::Linearizable;
use delalloc_fuzz::oracles::stats::Stats;
use delalloc_fuzz::oracles::{Coverage, Oracle, Verdict};
use delalloc_fuzz::scoreboard;
use delalloc_optimized::bugs::BugSet;

/// Sequential programs per (level, era) campaign, and concurrent programs. Chosen so that the
/// whole test takes a few seconds in the `mutants` profile (scripts/cargo-mutants.sh), which
/// cargo-mutants pays once per mutant; see the script for the measured numbers.
const PROGRAMS: u64 = 4_000;
const CONCURRENT_PROGRAMS: u64 = 1_500;
/// The campaigns' base seed; each campaign's seed mixes in its place in the list, so that no two
/// run the same programs.
const SEED: u64 = 0x6d75_7461_6e74;

/// Runs `oracle` for `budget` programs from `seed`; the first divergence, as a line, if any.
fn campaign<O: Oracle>(name: &str, seed: u64, budget: u64, oracle: &O) -> Option<String>
where
    O::Program: Sync,
{
    let config = engines::Config {
        // The program budget decides; the time limit only guards against a mutant that hangs
        // (cargo-mutants' own timeout stops it first).
        seconds: 3_600,
        max_programs: Some(budget),
        seed,
        jobs: 1,
        out: None,
        progress: false,
    };
    let Search { summary, found } = engines::search(&config, oracle);
    eprintln!(
        "{name}: {} programs, {} ops",
        summary.stats.programs(),
        summary.stats.ops()
    );
    found.map(|(index, program)| {
        let why = oracle
            .check(&program)
            .divergence()
            .map_or_else(|| "(not again)".into(), O::signature);
        format!(
            "{name}: program {index} of seed {seed} diverges ({why}):\n{}",
            O::print(&program)
        )
    })
}

#[test]
#[ignore = "the judge of scripts/cargo-mutants.sh, not a suite test"]
fn mutation_campaign() {
    delalloc_fuzz::oracles::panics::quiet_model_panics();
    let mut failed = Vec::new();
    let mut seed = SEED;
    for level in [Level::Tree, Level::Fs, Level::Mixed] {
        for era in [Era::B, Era::V6] {
            seed = seed.wrapping_add(1);
            let dialect = Dialect {
                era: Some(era),
                ..Dialect::ANY
            };
            let oracle = Differential {
                level,
                dialect,
                // As `fuzz --era`: a program outside the era is not this campaign's.
                run: move |p: &Program| {
                    if dialect.fits(p) {
                        scoreboard::run_with_bugs(p, BugSet::NONE)
                    } else {
                        Verdict::Agree(Stats::default())
                    }
                },
            };
            failed.extend(campaign(
                &format!("{level:?} era {era:?}"),
                seed,
                PROGRAMS,
                &oracle,
            ));
        }
    }
    let oracle = Linearizable {
        bugs: delalloc_optimized_shuttle::bugs::BugSet::NONE,
    };
    failed.extend(campaign(
        "concurrent",
        seed.wrapping_add(1),
        CONCURRENT_PROGRAMS,
        &oracle,
    ));
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}
