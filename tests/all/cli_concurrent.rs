//! The concurrent side of the command line, run as a user would: `fuzz --concurrent` finding a
//! re-introduced race and writing a replayable file, replay / trace / minimize of concurrent
//! files, `stress`, and the errors (file:line:column, exit 2, no overwrite without --force).

use crate::common::cli::{cli, out};

fn corpus(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/corpus/concurrent/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("corpus file")
}

#[test]
fn fuzz_concurrent_finds_a_race_and_writes_a_replayable_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = cli(
        &[
            "fuzz",
            "--concurrent",
            "--bug",
            "unlock-before-set-delalloc",
            "--seconds",
            "120",
            "--seed",
            "7",
            "--out",
            "found",
        ],
        d,
    );
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    let text = out(&o);
    assert!(text.contains("timeline"), "{text}");
    assert!(text.contains("task 0"), "{text}");
    let files: Vec<_> = std::fs::read_dir(d.join("found"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    // The program, its report, its JSON and its page.
    assert_eq!(files.len(), 4, "{files:?}");
    assert!(
        files
            .iter()
            .any(|p| p.extension().is_some_and(|e| e == "html")),
        "{files:?}"
    );
    let program = files
        .iter()
        .find(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.ends_with(".txt") && !n.ends_with(".report.txt")
        })
        .expect("the program file");
    // The file names the bug: it replays as found, and the fixed model runs the same
    // interleaving cleanly.
    let o = cli(&["replay", program.to_str().unwrap()], d);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    let o = cli(&["replay", "--bug", "none", program.to_str().unwrap()], d);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert!(out(&o).contains("1 passed, 0 failed"), "{}", out(&o));
}

#[test]
fn replay_trace_and_minimize_take_concurrent_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("race.txt"),
        corpus("seed003_dio_fallback_vs_buffered_write.txt"),
    )
    .unwrap();
    let o = cli(&["trace", "race.txt"], d);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert!(out(&o).contains("timeline"), "{}", out(&o));
    assert!(out(&o).contains("verdict: agree"), "{}", out(&o));
    // Nothing to minimize with the fixed model: not what minimize needs (2).
    let o = cli(&["minimize", "race.txt"], d);
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    // Never overwrite without --force.
    std::fs::write(d.join("race.min.txt"), "mine").unwrap();
    let o = cli(&["minimize", "race.txt"], d);
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    assert_eq!(
        std::fs::read_to_string(d.join("race.min.txt")).unwrap(),
        "mine"
    );
}

#[test]
fn a_malformed_concurrent_file_is_an_error_with_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("bad.txt"), "task 0\n  commit\ntask 2\n").unwrap();
    let o = cli(&["replay", "bad.txt"], d);
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    assert!(out(&o).contains("bad.txt:3:6"), "{}", out(&o));
    assert!(out(&o).contains("expected task 1"), "{}", out(&o));
    std::fs::write(d.join("bad2.txt"), "task 0\nschedule 0z\n").unwrap();
    let o = cli(&["trace", "bad2.txt"], d);
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    assert!(out(&o).contains("bad2.txt:2:11"), "{}", out(&o));
}

#[test]
fn stress_runs_and_rejects_bad_flags() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = cli(
        &["stress", "--seconds", "1", "--threads", "2", "--seed", "5"],
        d,
    );
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert!(out(&o).contains("iterations"), "{}", out(&o));
    let o = cli(&["stress", "--threads", "9"], d);
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    assert!(out(&o).contains("--threads"), "{}", out(&o));
    let o = cli(&["fuzz", "--concurrent", "--level", "tree"], d);
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    assert!(out(&o).contains("--level"), "{}", out(&o));
    let o = cli(&["fuzz", "--concurrent", "--bug", "no-such-bug"], d);
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    assert!(out(&o).contains("no-such-bug"), "{}", out(&o));
}
