//! The fuzz targets' seed corpora (corpus/<target>/) and the reproducers of injected bugs
//! (corpus/injected/<bugs>/): what is committed is what the readable programs say, every seed
//! is the program it was made from and runs clean, and the injected bug is not already in the
//! seeds (a fuzzer has to find it).

use delalloc_contract::concurrent_text::{
    is_concurrent_text, parse_concurrent_program, print_concurrent_program,
};
use delalloc_contract::text::{parse_program, parse_program_file, print_program};
use delalloc_contract::OpKind;
use delalloc_fuzz::corpus::{self, PARSE_TEXT};
use delalloc_fuzz::injected::{self, WrapperBugs};
use delalloc_fuzz::input;
use delalloc_fuzz::oracles::Verdict;
use delalloc_fuzz::pairing::{self, Pairing};
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
    delalloc_fuzz::oracles::panics::quiet_model_panics();
    let all_bugs = WrapperBugs::parse(
        &injected::WrapperBug::ALL
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
            for bugs in [WrapperBugs::NONE, all_bugs] {
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

/// corpus/injected/<bug names>/*.txt: each names its bugs in its run line, diverges with them
/// injected and agrees without, so it reproduces what the fuzzer found and stays harmless to
/// `cargo test`.
#[test]
fn injected_bug_reproducers_fail_with_the_bug_and_pass_without() {
    delalloc_fuzz::oracles::panics::quiet_model_panics();
    let dir = root().join("corpus/injected");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let folder = entry.unwrap().path();
        let name = folder
            .file_name()
            .unwrap()
            .to_string_lossy()
            .replace('+', ",");
        let bugs =
            WrapperBugs::parse(&name).unwrap_or_else(|e| panic!("{}: {e}", folder.display()));
        for file in std::fs::read_dir(&folder).unwrap() {
            let file = file.unwrap().path();
            let text = std::fs::read_to_string(&file).unwrap();
            let p = parse_program(&text).unwrap();
            // The file alone replays as found: its run line names the folder's bugs.
            let (_, run) = parse_program_file(&text, &pairing::check_bug).unwrap();
            let run = run.unwrap_or_else(|| panic!("{}: no run line", file.display()));
            assert_eq!(
                Pairing::of_line(&run).map(|p| p.bugs),
                Ok(bugs),
                "{}: its run line names other bugs than its folder",
                file.display()
            );
            assert!(
                matches!(injected::run(&p, bugs), Verdict::Diverged(_)),
                "{} no longer shows {}",
                file.display(),
                bugs.names()
            );
            if let Verdict::Diverged(d) = injected::run(&p, WrapperBugs::NONE) {
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

/// The golden file of [`every_committed_seed_decodes_to_the_program_it_always_did`].
const GOLDEN: &str = "corpus/decoded.golden";

/// Set to 1 to rewrite [`GOLDEN`] from what the seeds decode to now.
const BLESS: &str = "DELALLOC_FUZZ_BLESS";

/// The files below `dir`, recursively, relative to the repository root, sorted.
fn files_below(dir: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![root().join(dir)];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else {
                let rel = path.strip_prefix(root()).unwrap();
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    out.sort();
    out
}

/// What one committed seed decodes to, as the golden file records it: how it was read, the
/// printed program and its Debug form (so that a change of the printer cannot hide a change of
/// the decoder, nor the other way round).
fn decoded(path: &str) -> String {
    let bytes = std::fs::read(root().join(path)).unwrap();
    let level = |dir: &str| corpus::DIFFERENTIAL.into_iter().find(|(t, _)| *t == dir);
    let dir = path.split('/').nth(1).unwrap_or_default();
    if let Some((_, level)) = level(dir) {
        // At the target's own level only: how a kind byte of another level maps onto this
        // level's kinds depends on how many kinds the level has, so a new op may change it.
        let p = input::decode(&bytes, level);
        return format!("literal {level}\n{}debug {p:?}\n", print_program(&p));
    }
    // Everything else is text: the parse_text target's lossy reading, the injected reproducers
    // as tests read them, the concurrent seeds by their own parser.
    let text = String::from_utf8_lossy(&bytes);
    if is_concurrent_text(&text) {
        match parse_concurrent_program(&text) {
            Ok(p) => format!(
                "concurrent text\n{}debug {p:?}\n",
                print_concurrent_program(&p)
            ),
            Err(e) => format!("concurrent text\nerror {e}\n"),
        }
    } else {
        match parse_program(&text) {
            Ok(p) => format!("text\n{}debug {p:?}\n", print_program(&p)),
            Err(e) => format!("text\nerror {e}\n"),
        }
    }
}

/// Every committed seed (the literal corpora at their target's level, the text seeds with the
/// text parsers) decodes to exactly the program recorded in corpus/decoded.golden: a change to
/// the op language, the literal codec or the text format that changes what a seed means fails
/// here, naming the seed.
#[test]
fn every_committed_seed_decodes_to_the_program_it_always_did() {
    let mut paths = Vec::new();
    for dir in [
        "corpus/fs_level",
        "corpus/tree_level",
        "corpus/parse_text",
        "corpus/injected",
        "corpus/concurrent",
        "corpus/programs",
        "corpus/regressions",
    ] {
        paths.extend(files_below(dir));
    }
    let now: Vec<(String, String)> = paths
        .into_iter()
        .map(|p| (p.clone(), decoded(&p)))
        .collect();
    let golden_path = root().join(GOLDEN);
    if std::env::var(BLESS).as_deref() == Ok("1") {
        let text: String = now.iter().map(|(p, d)| format!("== {p}\n{d}")).collect();
        std::fs::write(&golden_path, text).unwrap();
        return;
    }
    let golden = std::fs::read_to_string(&golden_path).unwrap_or_default();
    let mut recorded: Vec<(String, String)> = Vec::new();
    for line in golden.split_inclusive('\n') {
        if let Some(path) = line.strip_prefix("== ") {
            recorded.push((path.trim_end().to_owned(), String::new()));
        } else if let Some((_, body)) = recorded.last_mut() {
            body.push_str(line);
        }
    }
    let bless = format!(
        "if the change is meant, regenerate {GOLDEN} with \
         `{BLESS}=1 cargo test --test all fuzz_corpus::every_committed_seed` and commit it"
    );
    for i in 0..now.len().max(recorded.len()) {
        match (now.get(i), recorded.get(i)) {
            (Some((path, d)), Some((gpath, g))) if path == gpath => {
                assert!(
                    d == g,
                    "{path} decodes differently now:\n--- recorded\n{g}--- now\n{d}{bless}"
                );
            }
            (Some((path, _)), Some((gpath, _))) => {
                panic!(
                    "{} is not recorded, or {gpath} is gone; {bless}",
                    path.min(gpath)
                )
            }
            (Some((path, _)), None) => panic!("{path} is not recorded; {bless}"),
            (None, Some((gpath, _))) => panic!("{gpath} is recorded but gone; {bless}"),
            (None, None) => unreachable!(),
        }
    }
}
