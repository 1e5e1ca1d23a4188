//! The re-introducible historical bugs (`delalloc_optimized::bugs`) against the suite:
//! - each reproducer under corpus/regressions/mutants/ diverges with its bug on the field its
//!   header names, and agrees on the correct model (tests/all/regressions.rs replays them clean too);
//! - every bug a sequential program can see has a reproducer, and every file names a real bug;
//! - the race bugs stay invisible to sequential programs (else they are not race-only);
//! - the built-in engine finds every non-race bug within a fixed budget of programs from fixed
//!   seeds, so that a generator change that loses a bug fails here, not in a scoreboard run.

use delalloc_contract::text::parse_program;
use delalloc_contract::Program;
use delalloc_fuzz::engines::{self, Search};
use delalloc_fuzz::generators::{program_from_seed, Level};
use delalloc_fuzz::oracles::differential::Differential;
use delalloc_fuzz::oracles::{differential, Verdict};
use delalloc_fuzz::scoreboard::{self, first_field, run_with_bugs};
use delalloc_fuzz::{report, scoreboard::libfuzzer, shrink};
use delalloc_optimized::bugs::Bug;

use crate::common::corpus::{catalog_reproducers, corpus_dir, program_files};

/// The acceptance bound on a reproducer's length.
const MAX_REPRODUCER_OPS: usize = 10;

#[test]
fn each_reproducer_diverges_on_its_field_with_its_bug_and_agrees_without() {
    delalloc_fuzz::oracles::panics::quiet_model_panics();
    let all = catalog_reproducers();
    assert!(!all.is_empty());
    for (f, h, p) in &all {
        let name = f.display();
        assert!(
            p.ops.len() <= MAX_REPRODUCER_OPS,
            "{name}: {} ops",
            p.ops.len()
        );
        assert!(
            h.bug.expects(&h.expect),
            "{name}: `# expect: {}` is not one of {}'s fields {:?}",
            h.expect,
            h.bug,
            h.bug.expected_fields()
        );
        match run_with_bugs(p, h.bug.into()) {
            Verdict::Diverged(d) => assert_eq!(
                first_field(&d),
                h.expect,
                "{name}: {}",
                report::headline(&d)
            ),
            Verdict::Agree(_) => panic!("{name}: no divergence with {} injected", h.bug),
        }
        if let Verdict::Diverged(d) = differential::run(p) {
            panic!(
                "{name}: the correct model diverges: {}",
                report::headline(&d)
            );
        }
    }
}

#[test]
fn every_sequential_bug_has_a_reproducer_and_every_file_names_a_real_bug() {
    let all = catalog_reproducers();
    for bug in Bug::ALL {
        let file = corpus_dir("regressions").join(format!("mutants/{}.txt", bug.name()));
        if bug.is_race() {
            // A sequential reproducer would prove the bug is not race-only.
            assert!(
                all.iter().all(|(_, h, _)| h.bug != bug),
                "{bug} is marked race-only but has a sequential reproducer"
            );
            continue;
        }
        let (_, h, _) = all
            .iter()
            .find(|(f, _, _)| *f == file)
            .unwrap_or_else(|| panic!("{bug} has no reproducer {}", file.display()));
        assert_eq!(h.bug, bug, "{} names another bug", file.display());
    }
    // Every file is `<its bug>.txt` or `<its bug>.<variant>.txt`.
    for (f, h, _) in &all {
        let stem = f.file_name().unwrap().to_str().unwrap();
        let named = stem
            .strip_prefix(h.bug.name())
            .is_some_and(|rest| rest == ".txt" || rest.starts_with('.'));
        assert!(named, "{} holds a reproducer of {}", f.display(), h.bug);
    }
}

#[test]
fn race_bugs_are_invisible_to_sequential_programs() {
    delalloc_fuzz::oracles::panics::quiet_model_panics();
    let races: Vec<Bug> = Bug::ALL.into_iter().filter(|b| b.is_race()).collect();
    let corpus_programs: Vec<Program> = program_files(&corpus_dir("regressions"))
        .iter()
        .map(|f| parse_program(&std::fs::read_to_string(f).unwrap()).unwrap())
        .collect();
    for bug in races {
        let generated = (0..300).map(|i| program_from_seed(0x7ace_0000 + i, Level::Fs));
        for (i, p) in corpus_programs.iter().cloned().chain(generated).enumerate() {
            if let Verdict::Diverged(d) = run_with_bugs(&p, bug.into()) {
                panic!(
                    "{bug} (race-only) diverges in a sequential program (#{i}):\n{}",
                    report::text(&d)
                );
            }
        }
    }
}

/// The budget: programs per campaign, campaigns per bug. Fixed, so that the result does not
/// depend on the machine. Programs needed have a long tail: the slowest bugs' medians are
/// 150-200 programs, and a rare campaign needs ten times that (find-delalloc-ignores-boundary:
/// median 163 and at most 1,061 programs over `delalloc-fuzz mutants --runs 200`, 2,128 in one
/// of this test's campaigns), so the budget is 25 times the slowest median: a change that merely
/// reshuffles the streams passes, one that loses a bug's path (or makes it ten times rarer)
/// fails.
const BUDGET_PROGRAMS: u64 = 5_000;
const BUDGET_CAMPAIGNS: u32 = 3;
const BUDGET_SEED: u64 = 0x00b0_0c5e_ed00;

#[test]
fn the_builtin_engine_finds_every_sequential_bug_within_a_fixed_budget() {
    delalloc_fuzz::oracles::panics::quiet_model_panics();
    let mut missed = Vec::new();
    for bug in Bug::ALL.into_iter().filter(|b| !b.is_race()) {
        let run = move |p: &Program| scoreboard::run_in_era(p, bug);
        for r in 0..BUDGET_CAMPAIGNS {
            let config = engines::Config {
                // The program budget decides; the time limit only guards against a hang.
                seconds: 3_600,
                max_programs: Some(BUDGET_PROGRAMS),
                seed: scoreboard::campaign_seed(BUDGET_SEED, bug, r),
                jobs: 1,
                out: None,
                progress: false,
                guidance: false,
            };
            let oracle = Differential {
                dialect: scoreboard::dialect(bug),
                level: scoreboard::LEVEL,
                run,
            };
            let Search { summary, found, .. } = engines::search(&config, &oracle);
            let Some((index, program)) = found else {
                missed.push(format!(
                    "{bug}: campaign {r} (seed {}) ran {} programs without a divergence",
                    config.seed, summary.stats.programs
                ));
                continue;
            };
            // The first campaign's finding also minimizes to a short program in an expected
            // field, as the scoreboard reports it.
            if r == 0 {
                let m = shrink::minimize_by(&program, run, |a, b| scoreboard::same_bug(bug, a, b))
                    .expect("the finding diverges again");
                let field = first_field(&m.divergence);
                assert!(
                    m.size_after <= MAX_REPRODUCER_OPS && bug.expects(&field),
                    "{bug}: program {index} of seed {} minimized to {} ops, first field {field}",
                    config.seed,
                    m.size_after
                );
            }
        }
    }
    assert!(missed.is_empty(), "{}", missed.join("\n"));
}

#[test]
fn a_campaign_without_budget_left_misses_and_the_row_says_so() {
    let config = scoreboard::Plan {
        seconds_per_bug: 3_600,
        max_programs: Some(1),
        runs: 2,
        base_seed: 3,
        jobs: 1,
        guidance: false,
        engine: scoreboard::Engine::Builtin,
        bugs: vec![Bug::NoreserveDataFreed, Bug::UnlockBeforeSetDelalloc],
    };
    let board = scoreboard::scoreboard(&config, |_| {}).unwrap();
    let [row, race] = &board.rows[..] else {
        panic!("two rows")
    };
    assert_eq!((row.found(), row.campaigns.len()), (0, 2));
    assert!(row.missed() && row.detection_seconds().is_none());
    assert!(race.campaigns.is_empty() && !race.missed());
    assert_eq!(board.missed(), [Bug::NoreserveDataFreed]);
    assert!(board.text().contains("missed: noreserve-data-freed"));

    // The libFuzzer engine in a folder without the cargo-fuzz crate: an error before any
    // campaign, naming what is missing.
    let empty = tempfile::tempdir().unwrap();
    let libfuzzer = scoreboard::Plan {
        engine: scoreboard::Engine::Libfuzzer {
            root: empty.path().to_path_buf(),
            sanitizer: delalloc_fuzz::libfuzzer::Sanitizer::None,
        },
        ..config
    };
    let mut rows = 0;
    let e = scoreboard::scoreboard(&libfuzzer, |_| rows += 1).unwrap_err();
    assert!(e.contains("no cargo-fuzz crate (fuzz/Cargo.toml)"), "{e}");
    assert_eq!(rows, 0);
}

/// The libFuzzer engine runs each bug on one target (`Bug::reach`): that target's ops must be
/// able to show the bug, as one of its reproducers under corpus/regressions/mutants/ does with
/// that level's ops alone.
#[test]
fn each_sequential_bug_has_a_reproducer_in_the_ops_of_its_libfuzzer_target() {
    delalloc_fuzz::oracles::panics::quiet_model_panics();
    let all = catalog_reproducers();
    for bug in Bug::ALL.into_iter().filter(|b| !b.is_race()) {
        let (target, level) = libfuzzer::target(bug);
        let fits = all.iter().any(|(_, h, p)| {
            h.bug == bug
                && p.ops.iter().all(|op| level.kinds().any(|k| k == op.kind()))
                && matches!(run_with_bugs(p, bug.into()), Verdict::Diverged(_))
        });
        assert!(
            fits,
            "{bug} is hunted by {target}, but no reproducer of it uses only {level}-level ops"
        );
    }
}
