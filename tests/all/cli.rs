//! The command line, run as a user would: exit codes, PASS/FAIL summaries, refusing to
//! overwrite, errors that name file, line and column, and a short fuzz campaign.

use crate::common::cli::{cli, stderr, stdout};
use std::path::Path;
use std::process::Command;

const GOOD: &str = "# a write, written back and completed\nbuffered_write ino=0 pos=0 len=8K\nwriteback ino=0 start=0 len=8K\nfinish_ordered ino=0 nth=0\n";
const MALFORMED: &str = "buffered_write ino=0 pos=0 len=4K\nwriteback ino=0 start=0 lne=4K\n";

#[test]
fn replay_reports_pass_fail_and_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("corpus/sub")).unwrap();
    std::fs::write(d.join("corpus/good.txt"), GOOD).unwrap();
    std::fs::write(d.join("corpus/sub/also-good.txt"), "commit\n").unwrap();
    // Not programs: skipped in directories.
    std::fs::write(d.join("corpus/x.report.txt"), "DIVERGENCE ...").unwrap();
    std::fs::write(d.join("corpus/notes.md"), "# notes").unwrap();

    let o = cli(&["replay", "corpus"], d);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("PASS corpus/good.txt"), "{out}");
    assert!(out.contains("PASS corpus/sub/also-good.txt"), "{out}");
    assert!(out.trim_end().ends_with("2 passed, 0 failed"), "{out}");

    std::fs::write(d.join("bad.txt"), MALFORMED).unwrap();
    let o = cli(&["replay", "corpus", "bad.txt", "missing.txt"], d);
    // Input that cannot be read or parsed: the command could not do its job (2), not a finding.
    assert_eq!(o.status.code(), Some(2));
    let out = stdout(&o);
    assert!(out.contains("FAIL bad.txt:2:25: "), "{out}");
    assert!(out.contains("`lne`"), "{out}");
    assert!(out.contains("FAIL missing.txt: cannot read"), "{out}");
    assert!(out.trim_end().ends_with("2 passed, 2 failed"), "{out}");

    let o = cli(&["replay", "--json", "corpus", "bad.txt"], d);
    assert_eq!(o.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    assert_eq!(
        (v["passed"].as_u64(), v["failed"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(v["results"][2]["status"], "fail");
}

#[test]
fn replay_needs_a_path() {
    let dir = tempfile::tempdir().unwrap();
    let o = cli(&["replay"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("FILE|DIR"), "{}", stderr(&o));
}

#[test]
fn minimize_refuses_to_overwrite_and_explains_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("p.txt"), GOOD).unwrap();
    std::fs::write(d.join("p.min.txt"), "keep me\n").unwrap();

    let o = cli(&["minimize", "p.txt"], d);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("p.min.txt already exists (pass --force"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        std::fs::read_to_string(d.join("p.min.txt")).unwrap(),
        "keep me\n"
    );

    // Not diverging: not what minimize needs (2), not a finding (1).
    let o = cli(&["minimize", "p.txt", "--output", "elsewhere.txt"], d);
    assert_eq!(o.status.code(), Some(2), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stderr(&o).contains("p.txt does not diverge"),
        "{}",
        stderr(&o)
    );
    assert!(!d.join("elsewhere.txt").exists());

    std::fs::write(d.join("bad.txt"), MALFORMED).unwrap();
    let o = cli(&["minimize", "bad.txt"], d);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("bad.txt:2:25:"), "{}", stderr(&o));
}

#[test]
fn fuzz_runs_a_short_campaign_and_summarizes() {
    let dir = tempfile::tempdir().unwrap();
    let o = cli(
        &["fuzz", "--seconds", "2", "--seed", "1", "--out", "findings"],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(out.starts_with("seed 1 level mixed jobs 1: "), "{out}");
    assert!(
        out.contains("0 divergence(s)") && out.contains("op kinds (") && out.contains("outcomes:"),
        "{out}"
    );
    assert!(stderr(&o).contains("seed 1"), "{}", stderr(&o));
    // Created and probed up front, and nothing left in it by a clean campaign.
    let findings = std::fs::read_dir(dir.path().join("findings")).expect("created");
    assert_eq!(findings.count(), 0);

    let o = cli(
        &[
            "fuzz",
            "--seconds",
            "1",
            "--seed",
            "2",
            "--jobs",
            "2",
            "--level",
            "tree",
            "--json",
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    assert_eq!(v["summary"]["level"], "tree");
    assert!(v["summary"]["stats"]["programs"].as_u64().unwrap() > 0);
    assert_eq!(v["summary"]["stats"]["per_kind"]["buffered_write"], 0);
}

#[test]
fn bad_flags_are_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a-file"), "").unwrap();
    for (args, needle) in [
        (
            &["fuzz", "--out", "a-file"][..],
            "--out a-file: exists and is not a directory",
        ),
        (&["fuzz", "--jobs", "0"][..], "--jobs"),
        (&["fuzz", "--level", "disk"][..], "disk"),
        (&["fuzz", "--seconds", "soon"][..], "soon"),
        (&["fuzz", "--seed", "-1"][..], "-1"),
        (&["fuzz", "--guidance", "yes"][..], "'yes'"),
        (
            &["fuzz", "--concurrent", "--guidance", "on"][..],
            "cannot be used with",
        ),
        (&["frobnicate"][..], "frobnicate"),
    ] {
        let o = cli(args, dir.path());
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(stderr(&o).contains(needle), "{args:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{args:?}: {}", stderr(&o));
    }
}

#[test]
fn trace_shows_each_op_and_what_it_changed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("good.txt"), GOOD).unwrap();
    let o = cli(&["trace", "good.txt"], d);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    // Both models, side by side: each op, each model's outcome, each changed field.
    let line = |prefix: &str| {
        out.lines()
            .find(|l| l.trim_start().starts_with(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` line: {out}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert!(out.contains("trace of reference | optimized"), "{out}");
    assert!(
        out.contains("   0  buffered_write ino=0 pos=0 len=8K\n"),
        "{out}"
    );
    assert_eq!(line("outcome"), "outcome => written(8192) => written(8192)");
    assert_eq!(
        line("inodes[0].outstanding_extents"),
        "inodes[0].outstanding_extents 0 -> 1 0 -> 1"
    );
    assert!(out.contains(" end  unmount\n"), "{out}");
    assert!(!out.contains("    ! "), "nothing differs: {out}");
    assert!(
        out.trim_end().ends_with("verdict: the models agree"),
        "{out}"
    );

    let o = cli(&["trace", "--json", "good.txt"], d);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    let steps = v["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 4, "three ops and the closing unmount");
    assert_eq!(v["models"], serde_json::json!(["reference", "optimized"]));
    let changes = &steps[0]["models"]["optimized"]["changes"];
    assert!(
        changes
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["field"] == "inodes[0].outstanding_extents" && c["after"] == "1"),
        "{v}"
    );
    assert_eq!(steps[0]["differs"], serde_json::json!([]));
    // --model narrows it to one.
    let o = cli(&["trace", "--model", "reference", "good.txt"], d);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("trace of reference\n"),
        "{}",
        stdout(&o)
    );
    let o = cli(&["trace", "--model", "kernel", "good.txt"], d);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("--model kernel: good.txt is traced on reference and optimized"),
        "{}",
        stderr(&o)
    );

    std::fs::write(d.join("bad.txt"), MALFORMED).unwrap();
    let o = cli(&["trace", "bad.txt"], d);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("bad.txt:2:25: "), "{}", stderr(&o));
}

#[test]
fn mutants_scores_the_chosen_bugs_and_says_which_are_races() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = cli(
        &[
            "mutants",
            "--bug",
            "merge-hook-era-a,unlock-before-set-delalloc",
            "--bug",
            "exclusive-misses-straddler",
            "--runs",
            "2",
            "--seed",
            "3",
            "--reproducers",
            "out",
        ],
        d,
    );
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stderr(&o).contains("base seed 3"), "{}", stderr(&o));
    let out = stdout(&o);
    let row = |name: &str| {
        out.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no row {name}:\n{out}"))
            .to_string()
    };
    assert!(row("merge-hook-era-a ").contains(" 2/2 "), "{out}");
    assert!(
        row("exclusive-misses-straddler ").contains(" 2/2 "),
        "{out}"
    );
    assert!(
        row("unlock-before-set-delalloc ").contains("race: needs --concurrent, not counted"),
        "{out}"
    );
    assert!(
        out.contains("2 of 2 non-race bugs found in every campaign"),
        "{out}"
    );
    // Bugs in the order of Bug::ALL, whatever the order of --bug.
    let pos = |n: &str| out.find(n).unwrap();
    assert!(pos("merge-hook-era-a") < pos("exclusive-misses-straddler"));
    // One reproducer per bug found, with its header; none for the race.
    let repro = std::fs::read_to_string(d.join("out/merge-hook-era-a.txt")).unwrap();
    assert!(
        repro.starts_with("# bug: merge-hook-era-a\n# expect: "),
        "{repro}"
    );
    assert!(d.join("out/exclusive-misses-straddler.txt").exists());
    assert!(!d.join("out/unlock-before-set-delalloc.txt").exists());

    // The same seed gives the same campaigns; JSON has the same rows. Reproducers are never
    // overwritten.
    let o = cli(
        &[
            "mutants",
            "--bug",
            "merge-hook-era-a",
            "--runs",
            "2",
            "--seed",
            "3",
            "--json",
        ],
        d,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    assert_eq!(v["base_seed"], 3);
    assert_eq!(v["rows"][0]["bug"], "merge-hook-era-a");
    assert_eq!(v["rows"][0]["found"], 2);
    assert_eq!(v["missed"], serde_json::json!([]));
    let o = cli(
        &[
            "mutants",
            "--bug",
            "merge-hook-era-a",
            "--runs",
            "1",
            "--seed",
            "3",
            "--reproducers",
            "out",
        ],
        d,
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("merge-hook-era-a.txt already exists"),
        "{}",
        stderr(&o)
    );
    assert!(
        stdout(&o).is_empty(),
        "refused before running: {}",
        stdout(&o)
    );
}

#[test]
fn mutants_exits_1_when_a_bug_is_missed() {
    let dir = tempfile::tempdir().unwrap();
    // noreserve-data-freed needs a nocow write that falls back to metadata only and then a
    // DO_ACCOUNTING clear of it: the first program of this seed's campaign does not.
    let o = cli(
        &[
            "mutants",
            "--bug",
            "noreserve-data-freed",
            "--runs",
            "1",
            "--seed",
            "3",
            "--programs-per-bug",
            "1",
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("noreserve-data-freed"),
        "{}",
        stdout(&o)
    );
    assert!(
        stdout(&o).contains("0 of 1 non-race bugs found in every campaign"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn mutants_rejects_bad_input_by_name() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a-file"), "").unwrap();
    for (args, needle) in [
        (
            &["mutants", "--bug", "no-such-bug"][..],
            "unknown bug `no-such-bug`; valid bugs: reserve-before-success,",
        ),
        (&["mutants", "--bug", ""][..], "names no bug"),
        (&["mutants", "--runs", "0"][..], "--runs"),
        (
            &["mutants", "--seconds-per-bug", "0"][..],
            "--seconds-per-bug",
        ),
        (&["mutants", "--engine", "afl"][..], "afl"),
        (&["mutants", "--seed", "x"][..], "'x'"),
        (
            &["mutants", "--reproducers", "a-file"][..],
            "--reproducers a-file: exists and is not a directory",
        ),
        (
            &["mutants", "--engine", "libfuzzer"][..],
            "error: mutants --engine libfuzzer: ./fuzz: no cargo-fuzz crate (fuzz/Cargo.toml)",
        ),
        (
            &["mutants", "--engine", "libfuzzer", "--jobs", "2"][..],
            "--jobs is the builtin engine's",
        ),
        (
            &["mutants", "--engine", "libfuzzer", "--guidance", "on"][..],
            "--guidance is the builtin engine's",
        ),
        (&["mutants", "--guidance", "maybe"][..], "'maybe'"),
        (
            &["mutants", "--engine", "libfuzzer", "--sanitizer", "memory"][..],
            "'memory'",
        ),
        (
            &["mutants", "--sanitizer", "address"][..],
            "--sanitizer and --root are for --engine libfuzzer",
        ),
        (
            &["mutants", "--root", "."][..],
            "--sanitizer and --root are for --engine libfuzzer",
        ),
    ] {
        let o = cli(args, dir.path());
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{args:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{args:?}: {}", stderr(&o));
        assert!(stdout(&o).is_empty(), "{args:?}: {}", stdout(&o));
    }
}

#[test]
fn mutants_with_libfuzzer_names_a_missing_cargo_fuzz_with_its_install_command() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let empty = tempfile::tempdir().unwrap();
    // No cargo (so no cargo-fuzz) on the PATH.
    let o = Command::new(env!("CARGO_BIN_EXE_delalloc-fuzz"))
        .args([
            "mutants",
            "--engine",
            "libfuzzer",
            "--bug",
            "merge-hook-era-a",
        ])
        .args(["--runs", "1", "--root"])
        .arg(root)
        .current_dir(empty.path())
        .env("PATH", empty.path())
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(
            "cargo-fuzz is needed for the libFuzzer engine: cargo install cargo-fuzz --locked"
        ),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    assert!(stdout(&o).is_empty(), "{}", stdout(&o));
}
