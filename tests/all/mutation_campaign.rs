//! The test cargo-mutants runs on every mutant of optimized/ (`scripts/cargo-mutants.sh`): a short
//! built-in campaign of the optimized model against the reference at each level and era, and of
//! the concurrent oracle on its shuttle build (which compiles the same sources), each from a fixed
//! seed with a fixed program budget, so that a mutant's verdict does not depend on the machine or
//! the time of day; beside it, every sequential reproducer of the bug catalog must still show its
//! bug, the committed deep-state programs must agree, and the io trees' structure must hold
//! after the long programs. Any divergence fails it,
//! and so does a campaign that hangs (as libFuzzer's -timeout makes a hang a finding): on a
//! mutant that is the mutant caught.
//!
//! Ignored in the normal suite: the suite has its own differential batches, and this one only
//! means something as the judge of a mutant. Run it alone with
//! `cargo test --test all mutation_campaign:: -- --ignored`.

use delalloc_contract::text::parse_program;
use delalloc_contract::{Era, Model, Program, Snapshot};
use delalloc_fuzz::engines::{self, Search};
use delalloc_fuzz::generators::{Dialect, Level};
use delalloc_fuzz::oracles::differential::Differential;
use delalloc_fuzz::oracles::linearizable::Linearizable;
use delalloc_fuzz::oracles::stats::Stats;
use delalloc_fuzz::oracles::{Coverage, Oracle, Verdict};
use delalloc_fuzz::scoreboard::{self, first_field};
use delalloc_optimized::bugs::BugSet;
use delalloc_optimized::Optimized;
use delalloc_reference::Reference;
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::sync::mpsc;
use std::time::Duration;

use crate::common::corpus::{catalog_reproducers, corpus_dir, programs};

/// Sequential programs per (level, era) campaign, and concurrent programs. Chosen so that the
/// whole test takes a few seconds in the `mutants` profile (scripts/cargo-mutants.sh), which
/// cargo-mutants pays once per mutant; see the script for the measured numbers.
const PROGRAMS: u64 = 4_000;
const CONCURRENT_PROGRAMS: u64 = 1_500;
/// The campaigns' base seed; each campaign's seed mixes in its place in the list, so that no two
/// run the same programs.
const SEED: u64 = 0x6d75_7461_6e74;

/// Long stand-alone-tree programs, and how many of them per era. A generated program has at
/// most 64 ops and rarely 20 records; these hold hundreds, so that the extent map's inner nodes
/// fill, split and merge and its searches cross every block and group of a node, which the
/// generated programs never make happen.
const BIG_TREES: u64 = 4;
/// Records of a big tree before its mixed ops, each in a slot of its own with a gap after it.
const BIG_TREE_SLOTS: u64 = 1_200;
const BIG_TREE_OPS: usize = 1_500;

/// A tree-level program that inserts [`BIG_TREE_SLOTS`] records, in ascending order (which
/// leaves every node full, so inner nodes reach the keys of their search's last group) or in
/// random order (inserts all over the map), then mixes ranges of one to a few hundred slots:
/// sets that fill gaps (records merge away), clears with and without delete (records split or
/// go, nodes underflow), converts, and the searches.
fn big_tree_program(seed: u64, era: Era, ascending: bool) -> Program {
    const SLOT: u64 = 8192;
    const BITS: [&str; 6] = [
        "DIRTY",
        "UPTODATE",
        "DEFRAG",
        "DIRTY|BOUNDARY",
        "UPTODATE|DEFRAG",
        "DELALLOC",
    ];
    let mut rng = SmallRng::seed_from_u64(seed);
    let era_field = if era == Era::V6 { " era=6" } else { "" };
    let mut text = format!("geometry inodes=1{era_field}\n");
    let mut slots: Vec<u64> = (0..BIG_TREE_SLOTS).collect();
    if !ascending {
        slots.shuffle(&mut rng);
    }
    for s in slots {
        // The first half of the slot: the gap keeps neighbours apart whatever their bits.
        let bits = BITS[rng.gen_range(0..BITS.len())];
        text += &format!("set_bits {} {} {bits}\n", s * SLOT, s * SLOT + SLOT / 2 - 1);
    }
    let end = BIG_TREE_SLOTS * SLOT;
    // Mostly the edges of the slots' halves: a search for exactly a record's start is the one
    // that tells `<=` from `<` in a node's search.
    let position = |rng: &mut SmallRng, below: u64| -> u64 {
        if rng.gen_ratio(3, 4) {
            (rng.gen_range(0..below / (SLOT / 2))) * (SLOT / 2)
        } else {
            rng.gen_range(0..below)
        }
    };
    for _ in 0..BIG_TREE_OPS {
        let len = if rng.gen_ratio(1, 20) {
            position(&mut rng, end / 2).max(1)
        } else {
            position(&mut rng, 4 * SLOT).max(1)
        };
        let start = position(&mut rng, end - len);
        let last = start + len - 1;
        let bits = BITS[rng.gen_range(0..BITS.len())];
        let op = match rng.gen_range(0..9) {
            0 | 1 => format!("set_bits {start} {last} {bits}"),
            2 => format!("clear_bits {start} {last} {bits}"),
            3 => format!("clear_bits {start} {last} 0 delete"),
            4 => format!("convert_bits {start} {last} set={bits} clear=DIRTY"),
            5 => format!("test_range_bit {start} {last} {bits}"),
            6 => format!("count_range_bits {start} {last} max=1G {bits}"),
            7 => format!("find_first_bit {start} {bits}"),
            _ => format!("find_first_clear_bit {start} {bits}"),
        };
        text += &op;
        text.push('\n');
    }
    parse_program(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// Generated programs per (level, era) whose full snapshots and structure are also checked
/// ([`snapshot_paths_and_structure`]).
const FULL_SNAPSHOT_PROGRAMS: u64 = 100;

/// What is wrong after `program` beyond what the differential oracle compares, if anything:
/// the models' full snapshots ([`Model::snapshot`]) differ, the optimized model's snapshot
/// written into a used buffer (`buffer`, left from the previous program, maybe of another
/// geometry) differs from its full one, or its io trees' structure is broken. The differential
/// oracle keeps each model's snapshot up to date op by op ([`Model::snapshot_update`]) and takes
/// a full one only for a divergence's report, so on an agreeing run nothing else looks at these.
fn snapshot_paths_and_structure(program: &Program, buffer: &mut Snapshot) -> Option<String> {
    let mut reference = Reference::new(&program.geometry);
    let mut optimized = Optimized::new(&program.geometry);
    for op in &program.ops {
        reference.apply(op);
        optimized.apply(op);
    }
    let full = optimized.snapshot();
    optimized.snapshot_into(buffer);
    if reference.snapshot() != full {
        Some("the full snapshots differ".into())
    } else if *buffer != full {
        Some("snapshot_into differs from snapshot".into())
    } else {
        optimized.check_structure().err()
    }
}

/// What is wrong after `program` on the correct models, if anything: a divergence, else
/// [`snapshot_paths_and_structure`].
fn program_failure(program: &Program, buffer: &mut Snapshot) -> Option<String> {
    match scoreboard::run_with_bugs(program, BugSet::NONE).divergence() {
        Some(d) => Some(format!("diverges: {}", d.signature())),
        None => snapshot_paths_and_structure(program, buffer),
    }
}

/// The committed programs that reach deep states on purpose (the seeds' episodes, the steal
/// chain, each op's libFuzzer seed: corpus/programs, corpus/regressions/seeds) must pass
/// [`program_failure`]: a generated campaign of a few thousand programs rarely drains the
/// global reserve, say, and these do it in a dozen ops.
fn committed_program_failures(buffer: &mut Snapshot) -> Vec<String> {
    ["programs", "regressions/seeds"]
        .into_iter()
        .flat_map(|dir| programs(&corpus_dir(dir)))
        .filter_map(|(file, _, program)| {
            program_failure(&program, buffer).map(|why| format!("{}: {why}", file.display()))
        })
        .collect()
}

/// Every sequential reproducer of the bug catalog (corpus/regressions/mutants) must still
/// diverge with its bug on the field its header names: the re-introduced bugs' branches are
/// code of the optimized model too, and a mutant that disarms one makes the scoreboard blind
/// to that bug. (tests/all/mutants.rs checks the same on the unmutated tree.)
fn catalog_failures() -> Vec<String> {
    let mut failed = Vec::new();
    for (file, header, program) in catalog_reproducers() {
        let name = file.display();
        match scoreboard::run_with_bugs(&program, header.bug.into()) {
            Verdict::Diverged(d) if first_field(&d) == header.expect => {}
            Verdict::Diverged(d) => failed.push(format!(
                "{name}: diverges on {} instead of {}",
                first_field(&d),
                header.expect
            )),
            Verdict::Agree(_) => failed.push(format!("{name}: {} no longer shows", header.bug)),
        }
    }
    failed
}

/// Runs `oracle` for `budget` programs from `seed`; the first divergence, as a line, if any.
fn campaign<O: Oracle>(name: &str, seed: u64, budget: u64, oracle: &O) -> Option<String>
where
    O::Program: Sync,
{
    let config = engines::Config {
        // The program budget decides; a mutant that hangs is stopped by the judge's own hang
        // check (HANG) long before this limit.
        seconds: 3_600,
        max_programs: Some(budget),
        seed,
        jobs: 1,
        out: None,
        progress: false,
        // Fresh programs only: the verdict depends on the seed and the budget alone.
        guidance: false,
    };
    let Search { summary, found, .. } = engines::search(&config, oracle);
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

/// How long the whole judge may take before it counts as hung: about ten times what the
/// unmutated tree takes in the `mutants` profile (2-3 s, which scripts/cargo-mutants.sh prints
/// before the mutants), so a slow machine does not turn a slow mutant into a finding; a mutant
/// that makes a model loop never ends.
const HANG: Duration = Duration::from_secs(20);

#[test]
#[ignore = "the judge of scripts/cargo-mutants.sh, not a suite test"]
fn mutation_campaign() {
    delalloc_fuzz::oracles::panics::quiet_model_panics();
    // A hang is a finding: the judge runs on a thread of its own and fails when it does not
    // answer in time (the process exits with the test, taking the looping thread along), so
    // a looping mutant is caught rather than left to cargo-mutants' own timeout.
    let (done, answer) = mpsc::channel();
    std::thread::spawn(move || {
        let failed = std::panic::catch_unwind(all_failures)
            .unwrap_or_else(|_| vec!["a model panicked (see above)".into()]);
        let _ = done.send(failed);
    });
    let failed = answer
        .recv_timeout(HANG)
        .unwrap_or_else(|_| panic!("the campaign did not finish in {HANG:?}: a model hangs"));
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

/// The judge's findings, one line each.
fn all_failures() -> Vec<String> {
    let mut failed = catalog_failures();
    let mut buffer = Snapshot::default();
    failed.extend(committed_program_failures(&mut buffer));
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
            let name = format!("{level:?} era {era:?}");
            failed.extend(campaign(&name, seed, PROGRAMS, &oracle));
            for i in 0..FULL_SNAPSHOT_PROGRAMS {
                let program = oracle.generate(engines::program_seed(seed, i));
                if let Some(why) = snapshot_paths_and_structure(&program, &mut buffer) {
                    failed.push(format!("{name}: program {i}: {why}"));
                }
            }
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
    for era in [Era::B, Era::V6] {
        for i in 0..BIG_TREES {
            let seed = SEED ^ (i << 8) ^ u64::from(era == Era::V6);
            let program = big_tree_program(seed, era, i % 2 == 0);
            if let Some(why) = program_failure(&program, &mut buffer) {
                failed.push(format!("big tree {i} of era {era:?} (seed {seed}): {why}"));
            }
        }
    }
    failed
}
