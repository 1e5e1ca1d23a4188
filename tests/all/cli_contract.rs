//! What the command line promises across commands: the exit codes of the README's table (one
//! row per command), follow-up commands that run as printed, and `mutants --concurrent`'s
//! race rows printed once and whole.

use crate::common::cli::{cli, out, stderr, stdout};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const AGREES: &str = "buffered_write ino=0 pos=0 len=8K\nwriteback ino=0 start=0 len=8K\n";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `DELALLOC_FUZZ_BUGS=bugs delalloc-fuzz ARGS` in `dir`.
fn cli_with_bugs(args: &[&str], dir: &Path, bugs: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_delalloc-fuzz"))
        .args(args)
        .current_dir(dir)
        .env("DELALLOC_FUZZ_BUGS", bugs)
        .output()
        .expect("runs")
}

/// The commands of the README's "Exit codes" table, in its order.
fn table_commands() -> Vec<String> {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let section = readme
        .split("\n## Exit codes\n")
        .nth(1)
        .expect("README has an Exit codes section");
    let section = section.split("\n## ").next().unwrap();
    section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| l[3..].split('`').next().unwrap().to_string())
        .collect()
}

#[test]
fn the_readme_exit_code_table_has_a_row_for_every_command() {
    let help = stdout(&cli(&["--help"], &root()));
    let commands: Vec<String> = help
        .split("Commands:")
        .nth(1)
        .expect("help lists the commands")
        .lines()
        .skip(1)
        .map_while(|l| l.strip_prefix("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(String::from)
        .collect();
    assert!(commands.len() >= 9, "{help}");
    let mut table = table_commands();
    let mut commands = commands;
    table.sort();
    commands.sort();
    assert_eq!(table, commands, "one row per command");
}

#[test]
fn replay_of_a_path_with_no_programs_is_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("empty")).unwrap();
    std::fs::write(d.join("empty/notes.md"), "not a program").unwrap();
    for args in [
        &["replay", "empty"][..],
        &["replay", "--json", "empty"],
        &["replay", "mistyped"],
    ] {
        let o = cli(args, d);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", out(&o));
    }
    let o = cli(&["replay", "empty"], d);
    assert!(
        stderr(&o).contains("error: no program files (*.txt) or fuzz artifacts found in empty"),
        "{}",
        stderr(&o)
    );
    assert!(stdout(&o).contains("0 passed, 0 failed"), "{}", stdout(&o));
    let o = cli(&["replay", "mistyped"], d);
    assert!(
        stdout(&o).contains("FAIL mistyped: cannot read"),
        "{}",
        out(&o)
    );

    // A folder with a program: 0 when it agrees, 1 when it diverges.
    std::fs::write(d.join("empty/p.txt"), AGREES).unwrap();
    let o = cli(&["replay", "empty"], d);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let repro = root().join("corpus/regressions/mutants/merge-hook-era-a.txt");
    let o = cli_with_bugs(&["replay", repro.to_str().unwrap()], d, "merge-hook-era-a");
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
}

#[test]
fn minimize_and_import_of_an_agreeing_input_are_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("p.txt"), AGREES).unwrap();
    let o = cli(&["minimize", "p.txt"], d);
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    assert!(stderr(&o).contains("p.txt does not diverge"), "{}", out(&o));
    assert!(!d.join("p.min.txt").exists());

    let concurrent = root().join("corpus/concurrent/seed003_dio_fallback_vs_buffered_write.txt");
    let o = cli(
        &["minimize", concurrent.to_str().unwrap(), "-o", "c.txt"],
        d,
    );
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));

    // A diverging program minimizes (0): tests/all/cli_kernel.rs' kernel WARN.
}

#[test]
fn trace_exits_as_replay_does() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("p.txt"), AGREES).unwrap();
    let o = cli(&["trace", "p.txt"], d);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let o = cli(&["trace", "--json", "p.txt"], d);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let o = cli(&["trace", "missing.txt"], d);
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    // A diverging trace is 1: tests/all/cli_kernel.rs' kernel WARN.
}

#[test]
fn the_long_commands_exit_0_1_and_2_as_the_table_says() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = cli(&["fuzz", "--seconds", "1", "--seed", "3", "--out", "f"], d);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let o = cli(
        &[
            "fuzz",
            "--bug",
            "merge-hook-era-a",
            "--seed",
            "1",
            "--out",
            "f",
        ],
        d,
    );
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    let o = cli(&["fuzz", "--seconds", "1", "--out", "/proc/x"], d);
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));

    let o = cli(&["stress", "--seconds", "1", "--seed", "3"], d);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let o = cli(&["stress", "--threads", "9"], d);
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));

    let o = cli(
        &[
            "mutants",
            "--bug",
            "merge-hook-era-a",
            "--runs",
            "1",
            "--seed",
            "1",
        ],
        d,
    );
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let o = cli(&["mutants", "--bug", "no-such-bug"], d);
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));

    let root = root();
    let o = cli(&["corpus", "--check", "--root", root.to_str().unwrap()], d);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let o = cli(&["corpus", "--root", "nowhere"], d);
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
}

/// The `replay:` line a finding prints is a command that works as printed, from the checkout
/// (the README's first command is `cargo run --release -- fuzz`: no binary to install). It is
/// run here with the test's build of the same binary, which is what `cargo run` runs.
#[test]
fn a_findings_printed_replay_command_runs_as_printed() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    assert!(
        readme.contains("```sh\ncargo run --release -- fuzz "),
        "the README starts from the checkout"
    );
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = cli(
        &[
            "fuzz",
            "--bug",
            "merge-hook-era-a",
            "--seed",
            "1",
            "--out",
            "D",
        ],
        d,
    );
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    let text = stdout(&o);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("replay: "))
        .unwrap_or_else(|| panic!("no replay line: {text}"));
    let args = line
        .strip_prefix("cargo run --release -- ")
        .unwrap_or_else(|| panic!("not a cargo run command: {line}"));
    let args: Vec<&str> = args.split_whitespace().collect();
    assert_eq!(args[0], "replay", "{line}");
    assert!(d.join(args[1]).is_file(), "{line}");
    // The bug set travels with the environment variable until the file records it.
    let o = cli_with_bugs(&args, d, "merge-hook-era-a");
    assert_eq!(o.status.code(), Some(1), "{line}: {}", out(&o));
    assert!(stdout(&o).contains("FAIL"), "{}", out(&o));
}

/// No printed follow-up command names a `delalloc-fuzz` binary the README never installs:
/// code (not comments) of src/ spells them with `crate::RUN`.
#[test]
fn no_printed_command_names_an_installed_binary() {
    const COMMANDS: [&str; 9] = [
        "fuzz", "stress", "replay", "import", "corpus", "trace", "fuzz-all", "minimize", "mutants",
    ];
    let mut found = Vec::new();
    let mut dirs = vec![root().join("src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
                continue;
            }
            let text = std::fs::read_to_string(&p).unwrap();
            for (n, line) in text.lines().enumerate() {
                if line.trim_start().starts_with("//") {
                    continue;
                }
                for c in COMMANDS {
                    if line.contains(&format!("delalloc-fuzz {c} ")) {
                        found.push(format!("{}:{}: {}", p.display(), n + 1, line.trim()));
                    }
                }
            }
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

/// `mutants --concurrent`: each race bug has one row, in the concurrent table (not also as
/// "needs --concurrent" in the first), and its verdict is there whole, wrapped at spaces.
#[test]
fn mutants_concurrent_prints_each_race_row_once_with_its_whole_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "mutants",
        "--concurrent",
        "--bug",
        "unlock-before-set-delalloc,merge-hook-era-a",
        "--runs",
        "1",
        "--seed",
        "5",
        "--seconds-per-bug",
        "600",
        "--programs-per-bug",
        "5000",
    ];
    let o = cli(&args, dir.path());
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let text = stdout(&o);
    assert_eq!(
        text.matches("unlock-before-set-delalloc").count(),
        1,
        "{text}"
    );
    assert!(!text.contains("race: needs --concurrent"), "{text}");
    assert!(
        text.contains("; race bugs: the concurrent table below\n"),
        "{text}"
    );

    let mut json_args = args.to_vec();
    json_args.push("--json");
    let o = cli(&json_args, dir.path());
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("one JSON document");
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "the race bug is not a row of the board: {v}");
    assert_eq!(rows[0]["bug"], "merge-hook-era-a");
    let verdict = v["race_rows"][0]["campaigns"][0]["verdict"]
        .as_str()
        .unwrap_or_else(|| panic!("a verdict: {v}"));

    // The table's verdict column, joined back, is the verdict: nothing cut, no word broken.
    let lines: Vec<&str> = text.lines().collect();
    let head = lines
        .iter()
        .position(|l| l.ends_with("first verdict"))
        .unwrap_or_else(|| panic!("{text}"));
    let column = lines[head].find("first verdict").unwrap();
    let cells: Vec<&str> = lines[head + 1..]
        .iter()
        .take_while(|l| l.starts_with("  "))
        .map(|l| {
            l.get(column..)
                .unwrap_or_else(|| panic!("{text}"))
                .trim_end()
        })
        .collect();
    assert_eq!(cells.join(" "), verdict, "{text}");
    assert!(
        cells.len() > 1 || verdict.chars().count() <= 60,
        "a long verdict wraps: {text}"
    );
}
