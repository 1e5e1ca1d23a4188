//! `delalloc-fuzz fuzz-all`: its errors (exit 2, naming what is wrong) and, with the built-in
//! engine, which needs no tool, a clean run (exit 0, one table row per level) and a run with the
//! injected bug (exit 1, the finding and how to see it). The libFuzzer engine needs cargo-fuzz:
//! CI runs it (`.ci/run`), the tests only check that its absence is reported.

use delalloc_fuzz::injected;
use std::path::Path;
use std::process::{Command, Output};

fn cli(args: &[&str], dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_delalloc-fuzz"));
    c.arg("fuzz-all")
        .args(args)
        .current_dir(dir)
        .env_remove(injected::ENV);
    c
}

fn run(c: &mut Command) -> (i32, String) {
    let o: Output = c.output().expect("runs");
    (
        o.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

#[test]
fn bad_flags_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["--seconds-per-target", "0"][..],
        &["--seconds-per-target", "x"],
        &["--engine", "honggfuzz"],
        &["--sanitizer", "memory"],
    ] {
        let (code, out) = run(&mut cli(args, dir.path()));
        assert_eq!(code, 2, "{args:?}: {out}");
        assert!(out.contains(args[0]), "{args:?}: {out}");
    }
}

#[test]
fn a_root_without_the_cargo_fuzz_crate_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = run(&mut cli(&["--seconds-per-target", "1"], dir.path()));
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("fuzz/Cargo.toml"), "{out}");
    assert!(!out.contains("panicked"), "{out}");
}

#[test]
fn missing_cargo_fuzz_is_named_with_its_install_command() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let empty = tempfile::tempdir().unwrap();
    // No cargo (so no cargo-fuzz) on the PATH.
    let (code, out) = run(cli(&["--seconds-per-target", "1"], root).env("PATH", empty.path()));
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("cargo-fuzz is needed") && out.contains("cargo install cargo-fuzz --locked"),
        "{out}"
    );
}

#[test]
fn an_unknown_injected_bug_stops_it_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = run(cli(&["--engine", "builtin"], dir.path()).env(injected::ENV, "typo"));
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("`typo`"), "{out}");
    assert!(!out.contains("== "), "something ran: {out}");
}

#[test]
fn the_builtin_engine_only_has_the_differential_levels() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = run(&mut cli(
        &["--engine", "builtin", "--target", "parse_text"],
        dir.path(),
    ));
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("fs_level, tree_level"), "{out}");
}

#[test]
fn a_clean_builtin_run_prints_a_row_per_level_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = run(&mut cli(
        &["--engine", "builtin", "--seconds-per-target", "1"],
        dir.path(),
    ));
    assert_eq!(code, 0, "{out}");
    let rows: Vec<&str> = out.lines().filter(|l| l.contains(" builtin ")).collect();
    assert_eq!(rows.len(), 2, "{out}");
    assert!(
        rows[0].starts_with("fs_level") && rows[0].ends_with(" ok"),
        "{out}"
    );
    assert!(
        rows[1].starts_with("tree_level") && rows[1].ends_with(" ok"),
        "{out}"
    );
    assert!(out.contains("2 target runs, 0 with a finding"), "{out}");
    // findings/ is created and probed before the campaigns, and nothing is left in it.
    let findings = std::fs::read_dir(dir.path().join("findings")).expect("created");
    assert_eq!(findings.count(), 0);
}

#[test]
fn the_injected_bug_is_a_finding_with_its_program_and_exit_1() {
    // The built-in engine's programs show this bug within about a thousand (a fraction of a
    // second); the campaign stops at the first divergence, so the time is only a bound.
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = run(cli(
        &[
            "--engine",
            "builtin",
            "--target",
            "fs_level",
            "--seconds-per-target",
            "120",
        ],
        dir.path(),
    )
    .env(injected::ENV, "nocow-writeback-end-rounds-down"));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FINDING in fs_level (builtin)"), "{out}");
    let program = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("minimized program: "))
        .unwrap_or_else(|| panic!("no program named: {out}"));
    assert!(dir.path().join(program).is_file(), "{program}: {out}");
    assert!(
        out.contains(&format!(
            "DELALLOC_FUZZ_BUGS=nocow-writeback-end-rounds-down cargo run --release -- replay {program}"
        )),
        "{out}"
    );
}
