//! Ctrl-C on the long commands, as a user's terminal sends it: each stops at its next program,
//! prints its summary on stdout and exits 130. The signal is `kill -INT` on the command's
//! process alone (nix's kill(2)), about a second after the campaign started.

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What an interrupted command left: its exit code, stdout and stderr.
struct Stopped {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `delalloc-fuzz ARGS` in `dir`; once `started` shows on stdout or stderr, waits a second, sends
/// SIGINT, and waits (at most two minutes) for the command to end.
fn interrupt(args: &[&str], dir: &Path, started: &str) -> Stopped {
    let mut child = Command::new(env!("CARGO_BIN_EXE_delalloc-fuzz"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs");
    let pipe = |mut from: Box<dyn Read + Send>| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let b = Arc::clone(&buf);
        let t = std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n) = from.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                b.lock().unwrap().extend_from_slice(&chunk[..n]);
            }
        });
        (buf, t)
    };
    let (out, out_thread) = pipe(Box::new(child.stdout.take().unwrap()));
    let (err, err_thread) = pipe(Box::new(child.stderr.take().unwrap()));
    let text = |b: &Arc<Mutex<Vec<u8>>>| String::from_utf8_lossy(&b.lock().unwrap()).into_owned();
    let start = Instant::now();
    while !(text(&out) + &text(&err)).contains(started) {
        assert!(
            child.try_wait().unwrap().is_none(),
            "{args:?} ended before it started: {}{}",
            text(&out),
            text(&err)
        );
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{args:?}: no `{started}` printed: {}",
            text(&err)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_secs(1));
    let pid = Pid::from_raw(i32::try_from(child.id()).unwrap());
    kill(pid, Signal::SIGINT).expect("SIGINT sent");
    let signalled = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if signalled.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("{args:?} still running 120 s after SIGINT: {}", text(&err));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    out_thread.join().unwrap();
    err_thread.join().unwrap();
    Stopped {
        code: status.code(),
        stdout: text(&out),
        stderr: text(&err),
    }
}

fn assert_130(s: &Stopped, what: &str) {
    assert_eq!(
        s.code,
        Some(130),
        "{what}: stdout:\n{}\nstderr:\n{}",
        s.stdout,
        s.stderr
    );
    assert!(
        s.stderr
            .contains("interrupted: stopping at the next program"),
        "{what}: {}",
        s.stderr
    );
}

#[test]
fn fuzz_prints_its_summary_and_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    let s = interrupt(
        &["fuzz", "--seconds", "600", "--seed", "1", "--out", "f"],
        dir.path(),
        "fuzzing for 600 s",
    );
    assert_130(&s, "fuzz");
    let first = s.stdout.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("seed 1 level mixed jobs 1: ")
            && first.ends_with("0 divergence(s); interrupted (Ctrl-C)"),
        "{}",
        s.stdout
    );
    assert!(s.stdout.contains("op kinds ("), "{}", s.stdout);

    let s = interrupt(
        &["fuzz", "--seconds", "600", "--jobs", "2", "--json"],
        dir.path(),
        "fuzzing for 600 s",
    );
    assert_130(&s, "fuzz --json");
    let v: serde_json::Value = serde_json::from_str(&s.stdout).expect("one JSON document");
    assert_eq!(v["summary"]["interrupted"], true, "{v}");
    assert!(v["summary"]["stats"]["programs"].as_u64() > Some(0), "{v}");
}

#[test]
fn fuzz_concurrent_prints_its_summary_and_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    let s = interrupt(
        &["fuzz", "--concurrent", "--seconds", "600", "--out", "f"],
        dir.path(),
        "fuzzing for 600 s",
    );
    assert_130(&s, "fuzz --concurrent");
    assert!(
        s.stdout.starts_with("seed ") && s.stdout.contains("concurrent"),
        "{}",
        s.stdout
    );
    assert!(
        s.stdout.contains("0 divergence(s); interrupted (Ctrl-C)"),
        "{}",
        s.stdout
    );
}

#[test]
fn stress_prints_its_summary_and_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    let s = interrupt(
        &["stress", "--seconds", "600"],
        dir.path(),
        "stress for 600 s",
    );
    assert_130(&s, "stress");
    assert!(
        s.stdout.starts_with("stress, seed ")
            && s.stdout.trim_end().ends_with("interrupted (Ctrl-C)"),
        "{}",
        s.stdout
    );
}

#[test]
fn mutants_prints_the_rows_so_far_and_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    // Each campaign finds its bug in milliseconds to a tenth of a second: a thousand keep it busy past
    // the signal.
    let s = interrupt(
        &[
            "mutants",
            "--bug",
            "noreserve-data-freed,merge-ignores-boundary",
            "--runs",
            "1000",
        ],
        dir.path(),
        "mutants: base seed",
    );
    assert_130(&s, "mutants");
    assert!(s.stdout.starts_with("bug "), "{}", s.stdout);
    assert!(s.stdout.contains("\nnoreserve-data-freed "), "{}", s.stdout);
    let last = s.stdout.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("interrupted (Ctrl-C): 1 of 2 bug(s) scored; noreserve-data-freed ran ")
            && last.ends_with(" of 1000 campaigns; not run: merge-ignores-boundary"),
        "{}",
        s.stdout
    );
}

#[test]
fn mutants_concurrent_prints_the_race_rows_so_far_and_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    let s = interrupt(
        &[
            "mutants",
            "--concurrent",
            "--bug",
            "unlock-before-set-delalloc",
            "--runs",
            "1000",
        ],
        dir.path(),
        "mutants: base seed",
    );
    assert_130(&s, "mutants --concurrent");
    assert!(
        s.stdout
            .contains("race bugs, concurrent mode (1000 campaign(s) each"),
        "{}",
        s.stdout
    );
    // The row, unless Ctrl-C came during its first campaign.
    let last = s.stdout.lines().last().unwrap_or_default();
    let row = s.stdout.contains("\n  unlock-before-set-delalloc ");
    let expected = if row {
        "interrupted (Ctrl-C): 1 of 1 race bug(s) hunted, the last with the campaigns that ran to their end"
    } else {
        "interrupted (Ctrl-C): 0 of 1 race bug(s) hunted, the last with the campaigns that ran to their end; not hunted: unlock-before-set-delalloc"
    };
    assert_eq!(last, expected, "{}", s.stdout);
    assert!(
        !s.stdout.contains("race: needs --concurrent"),
        "race rows once: {}",
        s.stdout
    );
}

#[test]
fn fuzz_all_prints_its_table_and_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    let s = interrupt(
        &[
            "fuzz-all",
            "--engine",
            "builtin",
            "--seconds-per-target",
            "600",
            "--root",
            ".",
        ],
        dir.path(),
        "== fs_level: built-in engine for 600 s",
    );
    assert_130(&s, "fuzz-all");
    assert!(
        s.stdout.contains("fs_level     builtin")
            && s.stdout
                .lines()
                .any(|l| l.starts_with("fs_level") && l.ends_with("interrupted")),
        "{}",
        s.stdout
    );
    assert!(!s.stdout.contains("tree_level   builtin"), "{}", s.stdout);
    assert!(
        s.stdout
            .contains("fuzz-all: 1 target runs, 0 with a finding or failure; interrupted (Ctrl-C)"),
        "{}",
        s.stdout
    );
}

/// `--out` is created and probed before the campaign: a folder that cannot be, is exit 2 at once.
#[test]
fn an_unusable_out_folder_stops_the_command_before_it_starts() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("file"), "x").unwrap();
    for args in [
        &["fuzz", "--seconds", "600", "--out", "/proc/x"][..],
        &[
            "fuzz",
            "--concurrent",
            "--seconds",
            "600",
            "--out",
            "/proc/x",
        ],
        &["fuzz", "--seconds", "600", "--out", "file"],
        &["stress", "--seconds", "600", "--out", "/proc/x"],
        &["mutants", "--reproducers", "/proc/x"],
    ] {
        let start = Instant::now();
        let o = crate::common::cli::cli(args, dir.path());
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let e = crate::common::cli::stderr(&o);
        assert!(
            e.contains("cannot create the folder") || e.contains("exists and is not a directory"),
            "{args:?}: {e}"
        );
        assert!(start.elapsed() < Duration::from_secs(30), "{args:?}");
    }
    let o = crate::common::cli::cli(
        &["fuzz", "--seconds", "1", "--out", "new/deeper"],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(0));
    assert!(dir.path().join("new/deeper").is_dir(), "created up front");
}

/// `mutants --against kernel` builds each kernel variant with cargo, then runs its campaigns
/// in processes of their own: Ctrl-C reaches whichever is running (here the build, or the
/// first campaign if the variant is already built), and the board of what ran is printed.
#[test]
fn kernel_mutants_pass_ctrl_c_on_and_exit_130() {
    let dir = tempfile::tempdir().unwrap();
    let patches =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus/kernel-mutants");
    let s = interrupt(
        &[
            "mutants",
            "--against",
            "kernel",
            "--runs",
            "1",
            "--seconds-per-bug",
            "600",
            "--patches",
            patches.to_str().unwrap(),
        ],
        dir.path(),
        "kernel variant clean: building",
    );
    assert_130(&s, "mutants --against kernel");
    assert!(
        s.stdout.starts_with("kernel mutants: 1 campaign(s)"),
        "{}",
        s.stdout
    );
    let last = s.stdout.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("interrupted (Ctrl-C): ")
            && last.contains(" variant(s) scored (clean + patches)"),
        "{}",
        s.stdout
    );
}
