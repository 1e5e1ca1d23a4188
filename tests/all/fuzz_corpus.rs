//! The fuzz targets' seed corpora (corpus/<target>/) and the reproducers of injected bugs
//! (corpus/injected/<bugs>/): what is committed is what the readable programs say, every seed
//! is the program it was made from and runs clean, and the injected bug is not already in the
//! seeds (a fuzzer has to find it).

use delalloc_contract::text::parse_program;
use delalloc_contract::OpKind;
use delalloc_fuzz::corpus::{self, PARSE_TEXT};
use delalloc_fuzz::input;
use delalloc_fuzz::oracles::differential::{self, Verdict};
use delalloc_fuzz::scoreboard::injected::{self, BugSet};
use delalloc_fuzz::{report, targets};
use std::collections::BTreeSet;
use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_committed_corpus_is_what_the_seed_programs_say() {
    let seeds = corpus::plan(root()).unwrap();
    let stale = corpus::stale(root(), &seeds);
    assert!(
        stale.is_empty(),
        "run `cargo run -- corpus`:\n{}",
        stale
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn every_seed_input_decodes_to_its_program_and_runs_clean_even_with_the_injected_bug() {
    differential::quiet_model_panics();
    let all_bugs = BugSet::parse(
        &injected::Bug::ALL
            .iter()
            .map(|b| b.name())
            .collect::<Vec<_>>()
            .join(","),
    )
    .unwrap();
    let seeds = corpus::plan(root()).unwrap();
    for (target, level) in corpus::DIFFERENTIAL {
        let mine: Vec<_> = seeds.iter().filter(|s| s.target == target).collect();
        let mut kinds = BTreeSet::new();
        for s in &mine {
            let bytes = std::fs::read(root().join(&s.output)).unwrap();
            let from_disk = input::decode(&bytes, level);
            let text = std::fs::read_to_string(&s.source).unwrap();
            assert_eq!(
                from_disk,
                parse_program(&text).unwrap(),
                "{}",
                s.output.display()
            );
            for bugs in [BugSet::NONE, all_bugs] {
                if let Verdict::Diverged(d) = injected::run(&from_disk, bugs) {
                    panic!(
                        "{} ({}): {}",
                        s.output.display(),
                        bugs.names(),
                        report::text(&d)
                    );
                }
            }
            kinds.extend(from_disk.ops.iter().map(|op| op.kind()));
        }
        let missing: Vec<OpKind> = level.kinds().filter(|k| !kinds.contains(k)).collect();
        assert!(missing.is_empty(), "{target}: no seed uses {missing:?}");
    }
    for commit in ["seed000", "seed002", "seed003", "seed004"] {
        assert!(
            seeds
                .iter()
                .any(|s| s.target == "fs_level" && s.output.to_string_lossy().contains(commit)),
            "no fs_level seed for {commit}"
        );
    }
    for s in seeds.iter().filter(|s| s.target == PARSE_TEXT) {
        let bytes = std::fs::read(root().join(&s.output)).unwrap();
        targets::parse_text(&bytes);
        let parsed = parse_program(std::str::from_utf8(&bytes).unwrap()).unwrap();
        assert_eq!(parsed, s.program, "{}", s.output.display());
    }
}

/// corpus/injected/<bug names>/*.txt: each diverges with its bugs injected and agrees without,
/// so it reproduces what the fuzzer found and stays harmless to `cargo test`.
#[test]
fn injected_bug_reproducers_fail_with_the_bug_and_pass_without() {
    differential::quiet_model_panics();
    let dir = root().join("corpus/injected");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let folder = entry.unwrap().path();
        let name = folder
            .file_name()
            .unwrap()
            .to_string_lossy()
            .replace('+', ",");
        let bugs = BugSet::parse(&name).unwrap_or_else(|e| panic!("{}: {e}", folder.display()));
        for file in std::fs::read_dir(&folder).unwrap() {
            let file = file.unwrap().path();
            let p = parse_program(&std::fs::read_to_string(&file).unwrap()).unwrap();
            assert!(
                matches!(injected::run(&p, bugs), Verdict::Diverged(_)),
                "{} no longer shows {}",
                file.display(),
                bugs.names()
            );
            if let Verdict::Diverged(d) = injected::run(&p, BugSet::NONE) {
                panic!(
                    "{}: diverges without the bug:\n{}",
                    file.display(),
                    report::text(&d)
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 0, "no reproducer under {}", dir.display());
}
