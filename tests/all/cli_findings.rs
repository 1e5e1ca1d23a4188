//! A finding is self-contained (issue 14): the file an engine writes records, as its `run` line,
//! the models and injected bugs its divergence depends on, so that the printed `replay` fails
//! with no environment variable, `minimize` keeps the line, and `trace` shows both models with
//! the differing field marked. The chain runs for a sequential finding of an injected bug, a
//! concurrent one of a race bug, and a kernel finding; then the overrides and the errors.

use delalloc_contract::concurrent_text::parse_concurrent_file;
use delalloc_contract::run_line::{RightModel, RunLine};
use delalloc_contract::text::parse_program_file;
use delalloc_fuzz::injected;
use delalloc_fuzz::pairing::{check_bug, check_race_bug};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `delalloc-fuzz ARGS` in `dir`, with `DELALLOC_FUZZ_BUGS` unset (or set to `bugs`).
fn run(args: &[&str], dir: &Path, bugs: Option<&str>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_delalloc-fuzz"));
    c.args(args).current_dir(dir).env_remove(injected::ENV);
    if let Some(b) = bugs {
        c.env(injected::ENV, b);
    }
    c.output().expect("runs")
}

fn cli(args: &[&str], dir: &Path) -> Output {
    run(args, dir, None)
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The program file a campaign's output names on its `replay:` line (whatever command it
/// prints, the file is its last word).
fn replayed_file(o: &Output, dir: &Path) -> PathBuf {
    let text = stdout(o);
    let line = text
        .lines()
        .find(|l| l.starts_with("replay:"))
        .unwrap_or_else(|| panic!("no replay line: {text}"));
    dir.join(line.split_whitespace().last().unwrap())
}

/// The op lines of a sequential program file.
fn op_lines(text: &str) -> Vec<&str> {
    text.lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty()
                && !l.starts_with('#')
                && !l.starts_with("geometry")
                && !l.starts_with("run ")
        })
        .collect()
}

/// The rows of a side-by-side trace marked `!` (a field or the outcome the models differ
/// on), as their words.
fn marked_rows(trace: &str) -> Vec<Vec<&str>> {
    trace
        .lines()
        .filter_map(|l| l.strip_prefix("    ! "))
        .map(|l| l.split_whitespace().collect())
        .collect()
}

fn assert_exit(o: &Output, code: i32, what: &str) {
    assert_eq!(o.status.code(), Some(code), "{what}: {}", out(o));
}

#[test]
fn a_sequential_finding_replays_minimizes_and_traces_with_its_bug() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let bug = "merge-hook-era-a";
    let o = cli(
        &[
            "fuzz",
            "--bug",
            bug,
            "--seed",
            "2",
            "--seconds",
            "120",
            "--out",
            "found",
        ],
        d,
    );
    assert_exit(&o, 1, "fuzz finds the bug");
    let file = replayed_file(&o, d);
    let text = std::fs::read_to_string(&file).unwrap();
    // The run line is data, not a comment: the parser returns it.
    let (program, line) = parse_program_file(&text, &check_bug).unwrap();
    let line = line.expect("the finding has a run line");
    assert_eq!(line.against, RightModel::Optimized);
    assert_eq!(line.bugs, [bug]);
    assert!(text.contains("--bug merge-hook-era-a`"), "{text}");

    // The printed replay, with no variable: FAIL, exit 1.
    let f = file.to_str().unwrap();
    let o = cli(&["replay", f], d);
    assert_exit(&o, 1, "the finding replays as found");
    assert!(stdout(&o).contains("FAIL "), "{}", out(&o));
    assert!(stdout(&o).contains("bugs=merge-hook-era-a"), "{}", out(&o));

    // minimize: the finding itself (already minimized by the engine) and a copy with two
    // queries more, which it drops; both keep the run line and still fail.
    let padded = {
        // The queries go after the geometry line, before the first op.
        let mut lines: Vec<&str> = text.lines().collect();
        let at = lines
            .iter()
            .position(|l| l.starts_with("geometry"))
            .map_or(0, |i| i + 1);
        lines.insert(at, "find_first_bit 0 DIRTY");
        lines.insert(at, "count_range_bits 0 4095 DIRTY max=1G");
        lines.join("\n") + "\n"
    };
    std::fs::write(d.join("padded.txt"), &padded).unwrap();
    assert_exit(
        &cli(&["replay", "padded.txt"], d),
        1,
        "the padded copy fails too",
    );
    let o = cli(&["minimize", "padded.txt"], d);
    assert_exit(&o, 0, "minimize");
    let min = std::fs::read_to_string(d.join("padded.min.txt")).unwrap();
    assert!(
        op_lines(&min).len() < op_lines(&padded).len() && op_lines(&min).len() <= program.ops.len(),
        "{min}"
    );
    assert!(
        min.contains("\nrun against=optimized bugs=merge-hook-era-a\n"),
        "{min}"
    );
    assert_exit(
        &cli(&["replay", "padded.min.txt"], d),
        1,
        "the minimized file fails",
    );
    let o = cli(&["minimize", f, "-o", "again.txt"], d);
    assert_exit(&o, 0, "minimize of the finding");
    let again = std::fs::read_to_string(d.join("again.txt")).unwrap();
    assert!(
        again.contains("\nrun against=optimized bugs=merge-hook-era-a\n"),
        "{again}"
    );

    // trace: both models, the field the report names marked.
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(file.with_extension("json")).unwrap())
            .unwrap();
    let field = report["fields"][0]["field"]
        .as_str()
        .expect("a differing field");
    let o = cli(&["trace", f], d);
    assert_exit(&o, 1, "trace");
    let t = stdout(&o);
    assert!(t.contains("trace of reference | optimized"), "{t}");
    assert!(t.contains("optimized with merge-hook-era-a"), "{t}");
    let rows = marked_rows(&t);
    let row = rows
        .iter()
        .find(|r| r[0] == field)
        .unwrap_or_else(|| panic!("{field} is not marked: {t}"));
    // Each model's value after the op, as the report has them.
    let (left, right) = (
        report["fields"][0]["left"].as_str().unwrap(),
        report["fields"][0]["right"].as_str().unwrap(),
    );
    let text_row = row.join(" ");
    assert!(
        text_row.ends_with(&format!("-> {right}")) && text_row.contains(&format!("-> {left} ")),
        "{text_row}"
    );
    assert!(t.contains("   <- state differs"), "{t}");
    // JSON: one object per model, the field listed as differing.
    let o = cli(&["trace", "--json", f], d);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let step = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| {
            s["differs"]
                .as_array()
                .is_some_and(|d| d.iter().any(|x| x == field))
        })
        .unwrap_or_else(|| panic!("no step differs on {field}: {v}"));
    assert!(step["models"]["reference"]["outcome"].is_object(), "{step}");
    assert!(step["models"]["optimized"]["changes"].is_array(), "{step}");
    assert_eq!(v["run"], "run against=optimized bugs=merge-hook-era-a");

    // The page of the finding, from its run line alone.
    let o = cli(&["report", f, "--html", "seq.html"], d);
    assert_exit(&o, 0, "report --html");
    let page = std::fs::read_to_string(d.join("seq.html")).unwrap();
    assert!(page.contains("id=\"diverging-op\""), "{page}");
    assert!(page.contains(field), "the page shows the differing field");
}

#[test]
fn a_concurrent_finding_replays_minimizes_and_traces_with_its_race_bug() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let bug = "unlock-before-set-delalloc";
    let o = cli(
        &[
            "fuzz",
            "--concurrent",
            "--bug",
            bug,
            "--seed",
            "6",
            "--seconds",
            "120",
            "--out",
            "found",
        ],
        d,
    );
    assert_exit(&o, 1, "fuzz --concurrent finds the race");
    let file = replayed_file(&o, d);
    let text = std::fs::read_to_string(&file).unwrap();
    let (program, line) = parse_concurrent_file(&text, &check_race_bug).unwrap();
    assert_eq!(line.expect("a run line").bugs, [bug]);
    let f = file.to_str().unwrap();
    assert_exit(&cli(&["replay", f], d), 1, "the finding replays as found");
    let o = cli(&["replay", "--bug", "none", f], d);
    assert_exit(&o, 0, "the fixed model runs it cleanly");
    assert!(out(&o).contains("--bug none overrides the run line's bugs=unlock-before-set-delalloc"));

    // Two harmless setup queries more, which minimize drops; the run line stays.
    let queries = "  find_first_bit 0 DIRTY\n  count_range_bits 0 4095 DIRTY max=1G\n";
    let padded = if text.contains("\nsetup\n") {
        text.replacen("\nsetup\n", &format!("\nsetup\n{queries}"), 1)
    } else {
        text.replacen("\ntask 0\n", &format!("\nsetup\n{queries}task 0\n"), 1)
    };
    std::fs::write(d.join("padded.txt"), &padded).unwrap();
    assert_exit(
        &cli(&["replay", "padded.txt"], d),
        1,
        "the padded copy fails too",
    );
    let o = cli(&["minimize", "padded.txt"], d);
    assert_exit(&o, 0, "minimize");
    let min_text = std::fs::read_to_string(d.join("padded.min.txt")).unwrap();
    let (min, line) = parse_concurrent_file(&min_text, &check_race_bug).unwrap();
    assert_eq!(line.expect("the run line is kept").bugs, [bug]);
    assert!(min.setup.len() <= program.setup.len(), "{min_text}");
    assert!(min.setup.len() < program.setup.len() + 2, "{min_text}");
    assert_exit(
        &cli(&["replay", "padded.min.txt"], d),
        1,
        "the minimized file fails",
    );

    // trace: the timeline, what the bug changed against the fixed model, both verdicts.
    let o = cli(&["trace", f], d);
    assert_exit(&o, 1, "trace");
    let t = stdout(&o);
    assert!(
        t.contains("timeline of the optimized model's run with bugs=unlock-before-set-delalloc"),
        "{t}"
    );
    assert!(t.contains("with the bugs | the fixed model:"), "{t}");
    assert!(t.lines().any(|l| l.starts_with("  ! ")), "{t}");
    assert!(t.contains("verdict: DIVERGED"), "{t}");
    assert!(
        t.contains("without the bugs (the fixed model, same schedule): agree"),
        "{t}"
    );
    let o = cli(&["trace", "--json", f], d);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(
        v["verdict"].is_object() && v["fixed"]["verdict"].is_null(),
        "{v}"
    );

    // report: the page, from the run line alone.
    let o = cli(&["report", f, "--html", "race.html"], d);
    assert_exit(&o, 0, "report --html");
    let page = std::fs::read_to_string(d.join("race.html")).unwrap();
    assert!(page.contains(&format!("bugs=<b>{bug}</b>")), "{page}");
    assert!(page.contains("id=\"nearest-order\""), "{page}");
}

/// A DEFRAG set without DELALLOC: btrfs_set_delalloc_extent WARNs (6.1 and 6.12).
const WARNS: &str = "geometry era=6\nset_bits 0 4095 DELALLOC\nset_bits 8192 12287 DEFRAG\n";

#[test]
fn a_kernel_finding_replays_minimizes_and_traces_against_the_kernel() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("warns.txt"), WARNS).unwrap();
    // Against the optimized model (no run line: the default pair) it agrees.
    assert_exit(&cli(&["replay", "warns.txt"], d), 0, "the default pair");
    let o = cli(&["minimize", "--against", "kernel", "warns.txt"], d);
    assert_exit(&o, 0, "minimize against the kernel");
    let min = std::fs::read_to_string(d.join("warns.min.txt")).unwrap();
    let (_, line) = parse_program_file(&min, &check_bug).unwrap();
    let line = line.expect("a run line");
    assert_eq!(line.against, RightModel::Kernel);
    let release = line
        .kernel
        .clone()
        .expect("the kernel release it was found on");
    assert!(release.starts_with("6."), "{min}");
    assert_eq!(op_lines(&min), ["set_bits 0 0 DEFRAG"], "{min}");

    // No flag: the run line says kernel.
    let o = cli(&["replay", "warns.min.txt"], d);
    assert_exit(&o, 1, "the kernel finding replays as found");
    assert!(
        out(&o).contains("DIVERGENCE (complained) at op 0"),
        "{}",
        out(&o)
    );
    let o = cli(&["minimize", "warns.min.txt", "-o", "again.txt"], d);
    assert_exit(&o, 0, "minimize follows the run line");
    let again = std::fs::read_to_string(d.join("again.txt")).unwrap();
    assert!(
        again.contains(&format!("\nrun against=kernel kernel={release}\n")),
        "{again}"
    );
    let o = cli(&["trace", "warns.min.txt"], d);
    assert_exit(&o, 1, "trace");
    let t = stdout(&o);
    assert!(t.contains("trace of reference | kernel"), "{t}");
    assert!(t.contains("      ! kernel: WARN_ON at "), "{t}");
    assert!(t.contains("set_bits 0 0 DEFRAG   <- complained"), "{t}");
    let o = cli(&["trace", "--model", "kernel", "warns.min.txt"], d);
    assert_exit(&o, 1, "trace of the kernel alone");
    assert!(stdout(&o).contains("trace of kernel\n"), "{}", stdout(&o));
    let o = cli(&["report", "warns.min.txt", "--html", "k.html"], d);
    assert_exit(&o, 0, "report --html of the kernel finding");
    let page = std::fs::read_to_string(d.join("k.html")).unwrap();
    assert!(
        page.contains("id=\"diverging-op\"") && page.contains("WARN_ON at "),
        "{page}"
    );

    // Found on another release: a warning, and it still runs.
    let old = min.replace(&format!("kernel={release}"), "kernel=5.0.1 mutant=x.patch");
    std::fs::write(d.join("old.txt"), old).unwrap();
    let o = cli(&["replay", "old.txt"], d);
    assert_exit(&o, 1, "a finding of another release still runs");
    assert!(
        out(&o).contains(&format!(
            "warning: old.txt: found on kernel 5.0.1 patched with x.patch, run on this binary's kernel {release}"
        )),
        "{}",
        out(&o)
    );
    // --against overrides the run line, and says so.
    let o = cli(&["replay", "--against", "optimized", "warns.min.txt"], d);
    assert!(
        out(&o).contains(
            "note: warns.min.txt: --against optimized overrides the run line's against=kernel"
        ),
        "{}",
        out(&o)
    );
}

#[test]
fn overrides_are_named_and_bad_run_lines_are_placed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // merge-hook-era-a's reproducer (corpus/regressions/mutants/merge-hook-era-a.txt).
    let program = "geometry inodes=1\nbuffered_write ino=0 pos=0 len=126977\n\
                   buffered_write ino=0 pos=128K len=134086657\n";
    std::fs::write(d.join("plain.txt"), program).unwrap();
    std::fs::write(
        d.join("bug.txt"),
        format!("run against=optimized bugs=merge-hook-era-a\n{program}"),
    )
    .unwrap();
    assert_exit(
        &cli(&["replay", "plain.txt"], d),
        0,
        "no run line: the real models",
    );
    assert_exit(&cli(&["replay", "bug.txt"], d), 1, "the run line's bug");
    let o = cli(&["replay", "--bug", "merge-hook-era-a", "plain.txt"], d);
    assert_exit(&o, 1, "--bug on a file without a run line");
    let o = run(&["replay", "bug.txt"], d, Some("split-hook-era-a"));
    assert!(
        out(&o).contains("note: bug.txt: DELALLOC_FUZZ_BUGS=split-hook-era-a overrides the run line's bugs=merge-hook-era-a"),
        "{}",
        out(&o)
    );
    let o = run(
        &["replay", "--bug", "none", "bug.txt"],
        d,
        Some("split-hook-era-a"),
    );
    assert_exit(&o, 0, "--bug none wins over the variable and the file");
    assert!(
        out(&o).contains("--bug wins over DELALLOC_FUZZ_BUGS=split-hook-era-a"),
        "{}",
        out(&o)
    );
    // minimize and import honour it too; import writes where injected reproducers go.
    assert_exit(
        &cli(&["minimize", "bug.txt"], d),
        0,
        "minimize with the run line's bug",
    );
    assert_exit(
        &cli(&["minimize", "--bug", "none", "bug.txt", "-o", "x.txt"], d),
        2,
        "nothing without",
    );
    assert!(!d.join("x.txt").exists());
    let o = cli(&["import", "bug.txt"], d);
    assert_exit(&o, 0, "import follows the run line");
    let imported =
        std::fs::read_to_string(d.join("corpus/injected/merge-hook-era-a/bug.txt")).unwrap();
    assert!(
        imported.contains("\nrun against=optimized bugs=merge-hook-era-a\n"),
        "{imported}"
    );

    // Bad run lines: file:line:column, exit 2, never a panic.
    for (name, text, place, needle) in [
        (
            "typo.txt",
            "run bugs=merge-hook-era-a,typo\ncommit\n",
            "typo.txt:1:27: ",
            "unknown injected bug `typo`",
        ),
        (
            "late.txt",
            "commit\nrun\n",
            "late.txt:2:1: ",
            "before the first op",
        ),
        (
            "key.txt",
            "run against=kernal\n",
            "key.txt:1:13: ",
            "unknown model `kernal`",
        ),
        (
            "race.txt",
            "run bugs=nocow-writeback-end-rounds-down\ntask 0\n  commit\n",
            "race.txt:1:10: ",
            "a bug of the sequential wrapper",
        ),
        (
            "kernel.txt",
            "run against=kernel\ntask 0\n  commit\n",
            "kernel.txt:1:5: ",
            "runs against the optimized model",
        ),
    ] {
        std::fs::write(d.join(name), text).unwrap();
        for cmd in ["replay", "trace", "minimize"] {
            let o = cli(&[cmd, name], d);
            assert_exit(&o, 2, &format!("{cmd} {name}"));
            assert!(
                out(&o).contains(place) && out(&o).contains(needle),
                "{cmd} {name}: {}",
                out(&o)
            );
            assert!(!out(&o).contains("panicked"), "{}", out(&o));
        }
    }
    // The wrapper's bug has no concurrent form: a concurrent file runs without it, and says so.
    let seed003 = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("corpus/concurrent/seed003_dio_fallback_vs_buffered_write.txt"),
    )
    .unwrap();
    std::fs::write(d.join("seed003.txt"), &seed003).unwrap();
    let o = run(
        &["replay", "seed003.txt"],
        d,
        Some("nocow-writeback-end-rounds-down"),
    );
    assert_exit(&o, 0, "a wrapper bug on a concurrent file");
    assert!(
        out(&o).contains(
            "note: seed003.txt: nocow-writeback-end-rounds-down changes sequential ops only"
        ),
        "{}",
        out(&o)
    );
    // The committed seed 003 shows its race with the bug from the variable or the flag.
    let o = run(
        &["replay", "seed003.txt"],
        d,
        Some("unlock-before-set-delalloc"),
    );
    assert_exit(&o, 1, "seed 003 with its bug from the variable");
    let o = cli(
        &[
            "replay",
            "--bug",
            "unlock-before-set-delalloc",
            "seed003.txt",
        ],
        d,
    );
    assert_exit(&o, 1, "seed 003 with its bug from --bug");

    // --bug takes known names only.
    let o = cli(&["replay", "--bug", "typo", "plain.txt"], d);
    assert_exit(&o, 2, "an unknown --bug");
    assert!(
        out(&o).contains("unknown injected bug `typo`"),
        "{}",
        out(&o)
    );
}

#[test]
fn trace_and_minimize_take_raw_artifacts_with_a_level() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let p = delalloc_contract::text::parse_program(
        "geometry inodes=1\ncount_range_bits 0 4095 max=1G DIRTY\nset_delalloc 0 0\n\
         set_delalloc 0 134217728\n",
    )
    .unwrap();
    std::fs::write(d.join("crash-1"), delalloc_fuzz::input::encode(&p)).unwrap();
    let o = cli(&["trace", "crash-1"], d);
    assert_exit(&o, 2, "no level");
    assert!(out(&o).contains("--level"), "{}", out(&o));
    let o = cli(
        &[
            "trace",
            "--level",
            "tree",
            "--bug",
            "merge-hook-era-a",
            "crash-1",
        ],
        d,
    );
    assert_exit(&o, 1, "trace of an artifact");
    assert!(
        marked_rows(&stdout(&o))
            .iter()
            .any(|r| r[0] == "tree.outstanding_extents"),
        "{}",
        out(&o)
    );
    let o = cli(
        &[
            "minimize",
            "--level",
            "tree",
            "--bug",
            "merge-hook-era-a",
            "crash-1",
        ],
        d,
    );
    assert_exit(&o, 0, "minimize of an artifact");
    let min = std::fs::read_to_string(d.join("crash-1.min.txt")).unwrap();
    assert_eq!(op_lines(&min).len(), 2, "{min}");
    let (_, line) = parse_program_file(&min, &check_bug).unwrap();
    assert_eq!(
        line,
        Some(RunLine {
            bugs: vec!["merge-hook-era-a".into()],
            ..RunLine::default()
        })
    );
}
