//! cargo-fuzz's libFuzzer binaries, driven from Rust: build them (`cargo fuzz build -O`, `-s
//! none` on the current toolchain or `-s address` on nightly), run one for N seconds from its
//! seed corpus with the flags of `oss-fuzz/<target>.options` (the same as OSS-Fuzz), and read
//! what it printed (execs, corpus size, the crash's report). [`fuzz_all`] and the scoreboard's
//! libFuzzer engine ([`crate::scoreboard::libfuzzer`]) run the targets through this.

pub mod fuzz_all;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The cargo-fuzz target that only measures libFuzzer's ceiling; run only when named.
pub const CALIBRATION_TARGET: &str = "empty";

/// How long a target may run past its time before it is stopped and reported (libFuzzer loads
/// its corpus and exits on its own well within this).
pub const GRACE: Duration = Duration::from_secs(120);

/// libFuzzer's per-input timeout, as OSS-Fuzz sets it: a program of at most 64 ops that takes
/// this long is a finding.
const UNIT_TIMEOUT_SECS: u64 = 25;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Sanitizer {
    /// No sanitizer, on the current (stable) toolchain: `cargo fuzz build -s none`.
    None,
    /// AddressSanitizer, on the nightly toolchain: `cargo +nightly fuzz build -s address`.
    Address,
}

impl Sanitizer {
    pub fn flag(self) -> &'static str {
        match self {
            Sanitizer::None => "none",
            Sanitizer::Address => "address",
        }
    }
}

/// `cargo` in `root` with the toolchain the sanitizer needs (the rustup proxy honours
/// RUSTUP_TOOLCHAIN).
fn cargo(root: &Path, sanitizer: Sanitizer) -> Command {
    let mut c = Command::new("cargo");
    c.current_dir(root);
    if sanitizer == Sanitizer::Address {
        c.env("RUSTUP_TOOLCHAIN", "nightly");
    }
    c
}

/// Runs a short command to completion; its stdout, or an error naming it.
fn output(mut c: Command, what: &str) -> Result<String, String> {
    let out = c
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The cargo-fuzz targets of `root`'s `fuzz/` crate, built.
#[derive(Clone, Debug)]
pub struct Built {
    /// The targets chosen (see [`build`]), in `cargo fuzz list` order.
    pub targets: Vec<String>,
    /// Where their binaries are.
    pub bin_dir: PathBuf,
}

impl Built {
    /// The binary of `target`, which must be one of [`Built::targets`].
    pub fn binary(&self, target: &str) -> Result<PathBuf, String> {
        let bin = self.bin_dir.join(target);
        if self.targets.iter().any(|t| t == target) && bin.is_file() {
            Ok(bin)
        } else {
            Err(format!("{}: not built", bin.display()))
        }
    }
}

/// Checks that `root` has the cargo-fuzz crate and that cargo-fuzz (and nightly, for ASan) is
/// installed, chooses `wanted` among its targets (all but the calibration one when empty), and
/// builds them all once: `cargo fuzz build -O -s <sanitizer>`, saying so through `announce`
/// first (cargo's own output goes to stderr). Every error says what is missing and how to get
/// it.
pub fn build(
    root: &Path,
    sanitizer: Sanitizer,
    wanted: &[String],
    announce: impl FnOnce(&str),
) -> Result<Built, String> {
    let fuzz_dir = root.join("fuzz");
    if !fuzz_dir.join("Cargo.toml").is_file() {
        return Err(format!(
            "{}: no cargo-fuzz crate (fuzz/Cargo.toml); run from the repository root or pass --root",
            fuzz_dir.display()
        ));
    }
    let mut version = cargo(root, sanitizer);
    version.args(["fuzz", "--version"]);
    output(version, "`cargo fuzz --version`").map_err(|e| {
        let toolchain = match sanitizer {
            Sanitizer::Address => {
                " (--sanitizer address also needs a nightly toolchain: rustup toolchain install nightly)"
            }
            Sanitizer::None => "",
        };
        format!("cargo-fuzz is needed for the libFuzzer engine: cargo install cargo-fuzz --locked{toolchain}\n  ({e})")
    })?;
    let mut list = cargo(root, sanitizer);
    list.args(["fuzz", "list"]);
    let all: Vec<String> = output(list, "`cargo fuzz list`")?
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    let targets = select(&all, wanted, "cargo-fuzz")?;
    if targets.is_empty() {
        return Ok(Built {
            targets,
            bin_dir: PathBuf::new(),
        });
    }

    announce(&format!(
        "== building {} ({}): cargo fuzz build -O -s {}",
        targets.join(", "),
        match sanitizer {
            Sanitizer::None => "current toolchain",
            Sanitizer::Address => "nightly",
        },
        sanitizer.flag()
    ));
    let mut build = cargo(root, sanitizer);
    build
        .args(["fuzz", "build", "-O", "-s", sanitizer.flag()])
        .stdout(std::io::stderr());
    let status = crate::interrupt::status(&mut build)
        .map_err(|e| format!("cannot run cargo fuzz build: {e}"))?;
    if !status.success() {
        return Err(format!("cargo fuzz build failed ({status})"));
    }
    let triple = host_triple()?;
    Ok(Built {
        targets,
        bin_dir: fuzz_dir.join("target").join(triple).join("release"),
    })
}

fn host_triple() -> Result<String, String> {
    let mut c = Command::new("rustc");
    c.arg("-vV");
    let out = output(c, "`rustc -vV`")?;
    out.lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(|h| h.trim().to_string())
        .ok_or_else(|| "`rustc -vV` printed no host triple".to_string())
}

/// `[libfuzzer]` entries of an OSS-Fuzz options file as libFuzzer flags; a `dict` is resolved
/// against the file's folder.
pub fn options_flags(text: &str, dir: &Path) -> Vec<String> {
    let mut section = String::new();
    let mut flags = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = s.trim().to_string();
            continue;
        }
        if section != "libfuzzer" {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            let (k, v) = (k.trim(), v.trim());
            let v = if k == "dict" {
                dir.join(v).display().to_string()
            } else {
                v.to_string()
            };
            flags.push(format!("-{k}={v}"));
        }
    }
    flags
}

/// What libFuzzer's output says about a run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LibfuzzerStats {
    pub execs: Option<u64>,
    pub execs_per_sec: Option<f64>,
    /// The in-memory corpus at the last status line (`corp: N/...`).
    pub corpus: Option<u64>,
    /// The input libFuzzer saved (`Test unit written to PATH`).
    pub artifact: Option<PathBuf>,
}

/// Reads `-print_final_stats=1` output, status lines and the artifact line.
pub fn parse_libfuzzer(output: &str) -> LibfuzzerStats {
    let mut s = LibfuzzerStats::default();
    let mut last_status = None;
    for line in output.lines() {
        if let Some(v) = line.strip_prefix("stat::number_of_executed_units:") {
            s.execs = v.trim().parse().ok().or(s.execs);
        } else if let Some(v) = line.strip_prefix("stat::average_exec_per_sec:") {
            s.execs_per_sec = v.trim().parse().ok().or(s.execs_per_sec);
        } else if let Some((_, path)) = line.split_once("Test unit written to ") {
            s.artifact = Some(PathBuf::from(path.trim()));
        }
        if let Some(status) = line.strip_prefix('#') {
            if let Some(n) = status
                .split_once(" corp: ")
                .and_then(|(_, rest)| rest.split('/').next())
                .and_then(|n| n.trim().parse().ok())
            {
                s.corpus = Some(n);
            }
            if let Some(n) = status
                .split(|c: char| c.is_whitespace())
                .next()
                .and_then(|n| n.parse().ok())
            {
                last_status = Some(n);
            }
        }
    }
    // Without final stats (a run killed, or without -print_final_stats), the last status line.
    s.execs = s.execs.or(last_status);
    s
}

/// The part of a crashed run's output worth reading: from the panic (the oracle's report) to
/// libFuzzer's own crash lines, at most `max_lines`.
pub fn crash_excerpt(output: &str, max_lines: usize) -> String {
    let lines: Vec<&str> = output.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.contains("panicked at") || l.contains("the models diverged"))
        .or_else(|| lines.iter().position(|l| l.starts_with("==")))
        .unwrap_or(lines.len().saturating_sub(max_lines));
    let end = lines[start..]
        .iter()
        .skip(1)
        .position(|l| {
            (l.starts_with("==") && l.contains("ERROR")) || l.trim() == "stack backtrace:"
        })
        .map_or(lines.len(), |i| start + 1 + i);
    let mut s = String::new();
    for l in lines[start..end].iter().take(max_lines) {
        let _ = writeln!(s, "  {l}");
    }
    if end - start > max_lines {
        let _ = writeln!(s, "  ... ({} more lines)", end - start - max_lines);
    }
    s
}

/// The flags of a libFuzzer run of `target` for `seconds`, crashes written under `artifacts`:
/// those of `oss-fuzz/<target>.options` (as OSS-Fuzz runs it), the time limit, OSS-Fuzz's
/// per-input timeout and the final stats [`parse_libfuzzer`] reads. The corpus folders follow.
pub fn libfuzzer_flags(root: &Path, target: &str, seconds: u64, artifacts: &Path) -> Vec<String> {
    let options = root.join("oss-fuzz").join(format!("{target}.options"));
    let mut args = match std::fs::read_to_string(&options) {
        Ok(text) => options_flags(&text, &root.join("oss-fuzz")),
        Err(_) => Vec::new(),
    };
    args.extend([
        format!("-max_total_time={seconds}"),
        format!("-timeout={UNIT_TIMEOUT_SECS}"),
        "-print_final_stats=1".to_string(),
        format!("-artifact_prefix={}/", artifacts.display()),
    ]);
    args
}

/// How a libFuzzer process ended.
#[derive(Clone, Debug)]
pub struct Finished {
    /// `None` when it was still running [`GRACE`] after its time and was stopped.
    pub status: Option<std::process::ExitStatus>,
    /// Wall time from the start to its exit.
    pub seconds: f64,
    /// Its stdout then its stderr.
    pub text: String,
    pub stats: LibfuzzerStats,
}

/// Runs a libFuzzer binary with `args` in `dir` (with `env` added) until it exits, or stops it
/// when it is still running [`GRACE`] after its `seconds`. Ctrl-C is passed on to it
/// ([`crate::interrupt::wait`]): libFuzzer then prints its final stats and exits.
pub fn run_libfuzzer(
    bin: &Path,
    args: &[String],
    dir: &Path,
    env: &[(&str, &str)],
    seconds: u64,
) -> Result<Finished, String> {
    let start = Instant::now();
    let mut child = crate::interrupt::spawn(
        Command::new(bin)
            .args(args)
            .envs(env.iter().copied())
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    )
    .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    let readers = [
        child.stdout.take().map(crate::interrupt::read_all),
        child.stderr.take().map(crate::interrupt::read_all),
    ];
    let deadline = Duration::from_secs(seconds) + GRACE;
    // Polled every millisecond for the first two seconds (a crash in the seed corpus is timed
    // to the millisecond), then every 10 ms (a wake-up cost nobody sees, on a 10 ms error).
    let poll = |elapsed| {
        if elapsed < Duration::from_secs(2) {
            Duration::from_millis(1)
        } else {
            Duration::from_millis(10)
        }
    };
    let status = match crate::interrupt::wait(&mut child, start, Some(deadline), poll) {
        Ok(crate::interrupt::Waited::Exited(status)) => Some(status),
        Ok(crate::interrupt::Waited::Killed) => None,
        Err(e) => return Err(format!("waiting for {}: {e}", bin.display())),
    };
    let seconds = start.elapsed().as_secs_f64();
    let mut text = String::new();
    for r in readers.into_iter().flatten() {
        text.push_str(&String::from_utf8_lossy(&r.join().unwrap_or_default()));
    }
    let stats = parse_libfuzzer(&text);
    Ok(Finished {
        status,
        seconds,
        text,
        stats,
    })
}

/// The targets to run: `wanted` (each must exist), or all of `known` but the calibration one.
pub fn select(known: &[String], wanted: &[String], what: &str) -> Result<Vec<String>, String> {
    if wanted.is_empty() {
        return Ok(known
            .iter()
            .filter(|t| *t != CALIBRATION_TARGET)
            .cloned()
            .collect());
    }
    for w in wanted {
        if !known.contains(w) {
            return Err(format!(
                "unknown {what} target `{w}` (known: {})",
                known.join(", ")
            ));
        }
    }
    Ok(known
        .iter()
        .filter(|t| wanted.contains(t))
        .cloned()
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tail of a real `-print_final_stats=1` run that found a crash (fs_level, injected bug).
    const CRASHED: &str = "\
INFO: Seed: 1234
#2\tINITED cov: 1510 ft: 1601 corp: 17/1003b exec/s: 0 rss: 40Mb
#1024\tNEW    cov: 1611 ft: 1800 corp: 25/1500b lim: 64 exec/s: 512 rss: 41Mb L: 60/90 MS: 1 Custom-
\n
thread '<unnamed>' panicked at src/targets.rs:33:9:
delalloc-fuzz: the models diverged on this fs-level input (literal mode, 44 bytes)
DIVERGENCE (state differs) at op 1: writeback ino=0 start=0 len=5000
to keep it: cargo run --release -- import --level fs <the artifact file>
==4321== ERROR: libFuzzer: deadly signal
MS: 1 Custom-; base unit: 0123
artifact_prefix='fuzz/artifacts/fs_level/'; Test unit written to fuzz/artifacts/fs_level/crash-abc123
stat::number_of_executed_units: 2048
stat::average_exec_per_sec:     1024
stat::new_units_added:          8
";

    #[test]
    fn parses_stats_corpus_and_artifact() {
        let s = parse_libfuzzer(CRASHED);
        assert_eq!(s.execs, Some(2048));
        assert_eq!(s.execs_per_sec, Some(1024.0));
        assert_eq!(s.corpus, Some(25));
        assert_eq!(
            s.artifact,
            Some(PathBuf::from("fuzz/artifacts/fs_level/crash-abc123"))
        );
        let clean = "#100\tDONE   cov: 5 ft: 6 corp: 3/30b lim: 4 exec/s: 50 rss: 30Mb\n\
                     stat::number_of_executed_units: 100\nstat::average_exec_per_sec:     50\n";
        let s = parse_libfuzzer(clean);
        assert_eq!((s.execs, s.corpus, s.artifact), (Some(100), Some(3), None));
        assert_eq!(parse_libfuzzer("garbage"), LibfuzzerStats::default());
    }

    #[test]
    fn without_final_stats_the_execs_are_the_last_status_lines() {
        let killed = "#2\tINITED cov: 10 ft: 11 corp: 2/20b exec/s: 0 rss: 30Mb\n\
                      #4096\tpulse  cov: 12 ft: 14 corp: 3/31b lim: 4 exec/s: 2048 rss: 31Mb\n\
                      #5000\tNEW    cov: 13 ft: 15 corp: 4/40b lim: 4 exec/s: 2500 rss: 31Mb L: 9/9 MS: 1 ChangeBit-\n\
                      \tNEW_FUNC[1/1]: 0x55d0 in f\n";
        let s = parse_libfuzzer(killed);
        assert_eq!((s.execs, s.corpus, s.artifact), (Some(5000), Some(4), None));
        // Final stats win over the status lines.
        let s = parse_libfuzzer(&format!("{killed}stat::number_of_executed_units: 5003\n"));
        assert_eq!(s.execs, Some(5003));
    }

    #[test]
    fn the_excerpt_is_the_report_up_to_libfuzzers_crash_line() {
        let e = crash_excerpt(CRASHED, 60);
        assert!(e.starts_with("  thread '<unnamed>' panicked at"), "{e}");
        assert!(e.contains("DIVERGENCE (state differs) at op 1"), "{e}");
        assert!(!e.contains("deadly signal") && !e.contains("INITED"), "{e}");
        let with_backtrace = CRASHED.replace(
            "to keep it:",
            "stack backtrace:\n   0: rust_begin_unwind\nto keep it:",
        );
        let e = crash_excerpt(&with_backtrace, 60);
        assert!(
            e.contains("DIVERGENCE") && !e.contains("rust_begin_unwind"),
            "{e}"
        );
        let cut = crash_excerpt(CRASHED, 2);
        assert!(cut.contains("... (2 more lines)"), "{cut}");
    }

    #[test]
    fn options_become_flags_with_the_dict_beside_the_file() {
        let text =
            "# comment\n[libfuzzer]\ndict = parse_text.dict\nmax_len = 4096\n\n[asan]\nx = 1\n";
        assert_eq!(
            options_flags(text, Path::new("/r/oss-fuzz")),
            ["-dict=/r/oss-fuzz/parse_text.dict", "-max_len=4096"]
        );
        assert!(options_flags("max_len = 1\n", Path::new(".")).is_empty());
    }

    #[test]
    fn targets_default_to_all_but_the_calibration_one_and_unknown_ones_are_named() {
        let known: Vec<String> = ["empty", "fs_level", "parse_text"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            select(&known, &[], "x").unwrap(),
            ["fs_level", "parse_text"]
        );
        assert_eq!(
            select(&known, &["empty".to_string()], "x").unwrap(),
            ["empty"]
        );
        let e = select(&known, &["fs".to_string()], "cargo-fuzz").unwrap_err();
        assert!(
            e.contains("`fs`") && e.contains("known: empty, fs_level, parse_text"),
            "{e}"
        );
    }
}
