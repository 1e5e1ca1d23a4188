//! The fuzz-engine side of the command line: `import` of crash artifacts, `replay` of raw
//! artifacts, `corpus` regeneration and `--check`, and their errors (exit 2, naming the problem).

use delalloc_contract::text::parse_program;
use delalloc_fuzz::injected::{self, WrapperBugs};
use delalloc_fuzz::input;
use delalloc_fuzz::oracles::Verdict;
use std::path::Path;
use std::process::{Command, Output};

const BUG: &str = "nocow-writeback-end-rounds-down";

fn cli(args: &[&str], dir: &Path, bugs: Option<&str>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_delalloc-fuzz"));
    c.args(args).current_dir(dir).env_remove(injected::ENV);
    if let Some(b) = bugs {
        c.env(injected::ENV, b);
    }
    c.output().expect("runs")
}

fn out(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A crash input as libFuzzer would save it for fs_level: literal mode, diverging only with the
/// injected bug, with ops around the divergence for the minimizer to drop.
fn write_artifact(dir: &Path) -> std::path::PathBuf {
    let p = parse_program(
        "buffered_write ino=1 pos=0 len=4K\ncommit\nset_free_space data=0 meta=64M\n\
         buffered_write ino=0 pos=0 len=8K nocow\nwriteback ino=0 start=0 len=5000\ncommit\n\
         evict ino=1\n",
    )
    .unwrap();
    let path = dir.join("fuzz/artifacts/fs_level/crash-0123abcd");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, input::encode(&p)).unwrap();
    path
}

#[test]
fn import_turns_an_artifact_into_a_minimized_readable_regression() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let artifact = write_artifact(d);
    let a = artifact.to_str().unwrap();

    // Without the bug the models agree: nothing is imported, and the input was not what
    // import needs (2).
    let o = cli(&["import", a], d, None);
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    assert!(out(&o).contains("does not diverge"), "{}", out(&o));
    assert!(out(&o).contains("not imported"), "{}", out(&o));
    assert!(!d.join("corpus").exists());

    let o = cli(&["import", a], d, Some(BUG));
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let written = d
        .join("corpus/injected")
        .join(BUG)
        .join("crash-0123abcd.txt");
    assert!(out(&o).contains("7 ops -> 2 ops"), "{}", out(&o));
    assert!(out(&o).contains("literal mode"), "{}", out(&o));
    let text = std::fs::read_to_string(&written).unwrap();
    assert!(
        text.contains("# Imported by `delalloc-fuzz import` from"),
        "{text}"
    );
    assert!(
        text.contains("# Divergence: state differs at op 1: writeback"),
        "{text}"
    );
    assert!(text.contains(&format!("{}={BUG}", injected::ENV)), "{text}");
    let p = parse_program(&text).unwrap();
    assert_eq!(p.ops.len(), 2);
    let bugs = WrapperBugs::parse(BUG).unwrap();
    assert!(matches!(injected::run(&p, bugs), Verdict::Diverged(_)));
    assert!(matches!(
        injected::run(&p, WrapperBugs::NONE),
        Verdict::Agree(_)
    ));

    // Never overwritten without --force.
    std::fs::write(&written, "keep me\n").unwrap();
    let o = cli(&["import", a], d, Some(BUG));
    assert_eq!(o.status.code(), Some(2));
    assert!(
        out(&o).contains("already exists (pass --force"),
        "{}",
        out(&o)
    );
    assert_eq!(std::fs::read_to_string(&written).unwrap(), "keep me\n");
    let o = cli(
        &["import", a, "--force", "--out", "elsewhere"],
        d,
        Some(BUG),
    );
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert!(d.join("elsewhere/crash-0123abcd.txt").exists());

    // The regression replays: FAIL with the bug (its run line names it: no variable needed),
    // PASS without.
    assert!(
        text.contains(&format!("\nrun against=optimized bugs={BUG}\n")),
        "{text}"
    );
    let w = written.to_str().unwrap();
    std::fs::write(&written, &text).unwrap();
    for bugs in [Some(BUG), None] {
        let o = cli(&["replay", w], d, bugs);
        assert_eq!(o.status.code(), Some(1), "{}", out(&o));
        assert!(
            out(&o).contains("DIVERGENCE (state differs) at op 1"),
            "{}",
            out(&o)
        );
    }
    let o = cli(&["replay", "--bug", "none", w], d, None);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert!(
        out(&o).contains(&format!("--bug none overrides the run line's bugs={BUG}")),
        "{}",
        out(&o)
    );
}

#[test]
fn replay_reads_raw_artifacts_and_says_how() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_artifact(d);
    // A directory walk picks up crash-* files; the level comes from the fs_level folder.
    let o = cli(&["replay", "fuzz/artifacts"], d, None);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert!(
        out(&o).contains("PASS fuzz/artifacts/fs_level/crash-0123abcd (7 ops; fuzz input, literal mode, decoded as the fs-level target does)"),
        "{}",
        out(&o)
    );
    let o = cli(&["replay", "fuzz/artifacts"], d, Some(BUG));
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(
        out(&o).contains("FAIL fuzz/artifacts/fs_level/crash-0123abcd: diverged"),
        "{}",
        out(&o)
    );

    // Elsewhere the level must be given.
    std::fs::copy(
        d.join("fuzz/artifacts/fs_level/crash-0123abcd"),
        d.join("input.bin"),
    )
    .unwrap();
    let o = cli(&["replay", "input.bin"], d, None);
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    assert!(
        out(&o).contains("input.bin: not a text program, and no level"),
        "{}",
        out(&o)
    );
    let o = cli(&["replay", "input.bin", "--level", "fs"], d, None);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
}

#[test]
fn bad_artifacts_and_switches_are_named_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("crash-empty"), b"").unwrap();
    std::fs::create_dir(d.join("a-dir")).unwrap();
    for (args, bugs, needle) in [
        (
            &["import", "crash-missing", "--level", "fs"][..],
            None,
            "crash-missing: cannot read",
        ),
        (
            &["import", "no/such/dir/crash-1", "--level", "fs"][..],
            None,
            "no/such/dir/crash-1: cannot read",
        ),
        (
            &["import", "crash-empty", "--level", "fs"][..],
            None,
            "crash-empty: empty file",
        ),
        (
            &["import", "a-dir", "--level", "fs"][..],
            None,
            "a-dir: is a directory",
        ),
        (
            &["import", "crash-empty", "--level", "disk"][..],
            None,
            "disk",
        ),
        (
            &["replay", "crash-empty", "--level", "fs"][..],
            None,
            "crash-empty: empty file",
        ),
        (
            &["replay", "no/such/dir"][..],
            None,
            "no/such/dir: cannot read",
        ),
        (
            &["replay", "a-dir/x.txt"][..],
            None,
            "a-dir/x.txt: cannot read",
        ),
        (
            &["import", "crash-empty"][..],
            Some("typo"),
            "unknown injected bug `typo`",
        ),
        (
            &["replay", "crash-empty"][..],
            Some("typo"),
            "unknown injected bug `typo`",
        ),
    ] {
        let o = cli(args, d, bugs);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", out(&o));
        assert!(out(&o).contains(needle), "{args:?}: {}", out(&o));
        assert!(!out(&o).contains("panicked"), "{args:?}: {}", out(&o));
    }
}

#[test]
fn corpus_regenerates_checks_and_prunes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let programs = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/programs");
    for target in ["fs_level", "tree_level"] {
        std::fs::create_dir_all(d.join("corpus/programs").join(target)).unwrap();
        for f in std::fs::read_dir(programs.join(target)).unwrap() {
            let f = f.unwrap().path();
            std::fs::copy(
                &f,
                d.join("corpus/programs")
                    .join(target)
                    .join(f.file_name().unwrap()),
            )
            .unwrap();
        }
    }
    let o = cli(&["corpus", "--check"], d, None);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(
        out(&o).contains("missing: corpus/fs_level/seed002_steal_chain"),
        "{}",
        out(&o)
    );

    let o = cli(&["corpus"], d, None);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let o = cli(&["corpus", "--check"], d, None);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert!(out(&o).contains("corpus up to date"), "{}", out(&o));
    // What was generated is what is committed.
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/fs_level/op_commit");
    assert_eq!(
        std::fs::read(d.join("corpus/fs_level/op_commit")).unwrap(),
        std::fs::read(committed).unwrap()
    );

    // An edited seed program and a stray input make it stale; --prune removes the stray.
    let seed = d.join("corpus/programs/fs_level/op_commit.txt");
    std::fs::write(&seed, "buffered_write ino=0 pos=0 len=4K\ncommit\n").unwrap();
    std::fs::write(d.join("corpus/fs_level/0a1b2c3d"), b"\x01").unwrap();
    let o = cli(&["corpus", "--check"], d, None);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(
        out(&o).contains("out of date: corpus/fs_level/op_commit"),
        "{}",
        out(&o)
    );
    assert!(
        out(&o).contains("from no seed program: corpus/fs_level/0a1b2c3d"),
        "{}",
        out(&o)
    );
    let o = cli(&["corpus"], d, None);
    assert_eq!(o.status.code(), Some(0));
    assert!(
        d.join("corpus/fs_level/0a1b2c3d").exists(),
        "removed without --prune"
    );
    let o = cli(&["corpus", "--prune"], d, None);
    assert_eq!(o.status.code(), Some(0));
    assert!(!d.join("corpus/fs_level/0a1b2c3d").exists());
    let o = cli(&["corpus", "--check"], d, None);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));

    // A seed that does not fit its target, and no seed programs at all.
    std::fs::write(&seed, "set_bits 0 4095 DIRTY\n").unwrap();
    let o = cli(&["corpus"], d, None);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        out(&o).contains(
            "op_commit.txt: not a seed for fs_level: op 0 (set_bits) is not a fs-level op"
        ),
        "{}",
        out(&o)
    );
    let empty = tempfile::tempdir().unwrap();
    let o = cli(&["corpus", "--check"], empty.path(), None);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        out(&o).contains("cannot read the seed programs"),
        "{}",
        out(&o)
    );
}

/// `DELALLOC_FUZZ_BUGS` also takes the optimized model's own bug names, so a fuzz
/// target, `import` and `replay` can run against `Optimized::with_bugs`.
#[test]
fn the_switch_takes_the_models_bug_names_for_import_and_replay() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // merge-hook-era-a's reproducer with an op before it for the minimizer to drop, as the
    // tree_level target would save it.
    let p = parse_program(
        "geometry inodes=1\ncount_range_bits 0 4095 max=1G DIRTY\nset_delalloc 0 0\n\
         set_delalloc 0 134217728\n",
    )
    .unwrap();
    let artifact = d.join("fuzz/artifacts/tree_level/crash-77");
    std::fs::create_dir_all(artifact.parent().unwrap()).unwrap();
    std::fs::write(&artifact, input::encode(&p)).unwrap();
    let a = artifact.to_str().unwrap();
    let model_bug = "merge-hook-era-a";

    let o = cli(&["replay", a], d, None);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let o = cli(&["replay", a], d, Some(model_bug));
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(
        out(&o).contains(
            "DELALLOC_FUZZ_BUGS=merge-hook-era-a: the optimized model runs with injected bugs"
        ) && out(&o).contains("tree.outstanding_extents"),
        "{}",
        out(&o)
    );

    let o = cli(&["import", a], d, Some(model_bug));
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let written = d.join("corpus/injected/merge-hook-era-a/crash-77.txt");
    let text = std::fs::read_to_string(&written).unwrap();
    assert!(
        text.contains(
            "DELALLOC_FUZZ_BUGS=merge-hook-era-a (the merge hook drops one outstanding extent"
        ),
        "{text}"
    );
    let min = parse_program(&text).unwrap();
    assert_eq!(min.ops.len(), 2, "{text}");
    let bugs = WrapperBugs::parse(model_bug).unwrap();
    assert!(matches!(injected::run(&min, bugs), Verdict::Diverged(_)));
    assert!(matches!(
        injected::run(&min, WrapperBugs::NONE),
        Verdict::Agree(_)
    ));

    // An unknown name stops the command and lists both kinds of names.
    let o = cli(&["replay", a], d, Some("merge-hook-era-z"));
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    assert!(
        out(&o).contains("unknown injected bug `merge-hook-era-z`")
            && out(&o).contains(BUG)
            && out(&o).contains("merge-hook-era-a"),
        "{}",
        out(&o)
    );
}
