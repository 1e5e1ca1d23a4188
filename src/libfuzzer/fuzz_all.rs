//! `delalloc-fuzz fuzz-all`: every fuzz target for a fixed time, one summary table, a non-zero
//! exit on any finding. Meant for CI.
//!
//! - **libFuzzer** (default): builds every cargo-fuzz target of `fuzz/` once (`cargo fuzz build
//!   -O`, `-s none` on the current toolchain or `-s address` on nightly), then runs each binary
//!   for N seconds from its seed corpus `corpus/<target>/`, new inputs going to `fuzz/corpus/<target>/`
//!   (cargo-fuzz's own folder, so the committed seeds stay as `delalloc-fuzz corpus` wrote them),
//!   with the libFuzzer flags of `oss-fuzz/<target>.options` (the same as OSS-Fuzz). A crash is
//!   written to `fuzz/artifacts/<target>/` and named with the `import` command that keeps it.
//! - **builtin**: the built-in engine ([`engines::campaign`]) for N seconds at the fs and tree
//!   levels; a finding is minimized and written to `findings/`.
//!
//! Both honour `DELALLOC_FUZZ_BUGS` ([`injected`]), checked before anything runs: a misspelt bug
//! must not turn every input into a "crash". Exit codes: 0 every target ran clean, 1 a finding
//! (or a target that failed), 2 it could not run (no `fuzz/`, cargo-fuzz or nightly missing, a
//! build failure, an unknown target).

use super::{
    build, crash_excerpt, libfuzzer_flags, run_libfuzzer, select, Built, Finished, Sanitizer, GRACE,
};
use crate::engines::{self, Campaign, Config};
use crate::generators::{Dialect, Level};
use crate::injected::{self, WrapperBugs};
use crate::oracles::differential::Differential;
use crate::oracles::WithRunLine;
use crate::report;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum EngineChoice {
    /// cargo-fuzz's libFuzzer binaries.
    Libfuzzer,
    /// The built-in engine, at the fs and tree levels.
    Builtin,
    /// Both, libFuzzer first.
    All,
}

#[derive(Clone, Debug)]
pub struct Options {
    pub seconds: u64,
    pub engine: EngineChoice,
    pub sanitizer: Sanitizer,
    /// Only these targets; empty means all (but [`CALIBRATION_TARGET`](super::CALIBRATION_TARGET)).
    pub targets: Vec<String>,
    /// The repository root (holds `fuzz/`, `corpus/`, `oss-fuzz/`).
    pub root: PathBuf,
}

/// How one target's run ended.
#[derive(Clone, Debug, PartialEq)]
pub enum TargetOutcome {
    Clean,
    /// A divergence or crash: what it was and how to keep it.
    Found {
        summary: String,
        keep: String,
    },
    /// The run itself went wrong (no artifact, killed after its time).
    Failed(String),
    /// Stopped by Ctrl-C before its time, with nothing found.
    Interrupted,
}

/// One line of the summary table.
#[derive(Clone, Debug, PartialEq)]
pub struct TargetRow {
    pub target: String,
    pub engine: &'static str,
    pub seconds: f64,
    pub execs: Option<u64>,
    pub execs_per_sec: Option<f64>,
    pub corpus: Option<u64>,
    pub outcome: TargetOutcome,
}

/// Runs the command; prints progress, the table and the findings; returns the exit code
/// ([`crate::interrupt::EXIT_CODE`] after Ctrl-C, with the table of the runs so far).
pub fn main(opts: &Options) -> u8 {
    match run(opts) {
        Err(e) => {
            eprintln!("error: fuzz-all: {e}");
            2
        }
        Ok(rows) => {
            print!("\n{}", table(&rows));
            let mut code = 0;
            for r in &rows {
                match &r.outcome {
                    TargetOutcome::Clean => {}
                    TargetOutcome::Found { summary, keep } => {
                        println!(
                            "\nFINDING in {} ({}):\n{summary}\n{keep}",
                            r.target, r.engine
                        );
                        code = 1;
                    }
                    TargetOutcome::Failed(why) => {
                        println!("\nFAILED {} ({}): {why}", r.target, r.engine);
                        code = 1;
                    }
                    TargetOutcome::Interrupted => {}
                }
            }
            let found = rows
                .iter()
                .filter(|r| !matches!(r.outcome, TargetOutcome::Clean | TargetOutcome::Interrupted))
                .count();
            println!(
                "\nfuzz-all: {} target runs, {found} with a finding or failure{}",
                rows.len(),
                if crate::interrupt::requested() {
                    format!("; {}", crate::interrupt::NOTE)
                } else {
                    String::new()
                }
            );
            if crate::interrupt::requested() {
                crate::interrupt::EXIT_CODE
            } else {
                code
            }
        }
    }
}

/// Every run of the campaign; `Err` when it could not start.
pub fn run(opts: &Options) -> Result<Vec<TargetRow>, String> {
    let bugs = WrapperBugs::from_env()?;
    if !bugs.is_empty() {
        println!(
            "note: {}: the optimized model runs with injected bugs",
            bugs.assignment()
        );
    }
    let builtin = matches!(opts.engine, EngineChoice::Builtin | EngineChoice::All);
    if builtin {
        engines::findings::prepare_dir(&opts.root.join("findings"))?;
    }
    let mut rows = Vec::new();
    if matches!(opts.engine, EngineChoice::Libfuzzer | EngineChoice::All) {
        match libfuzzer_all(opts, bugs) {
            // Ctrl-C during the build.
            Err(_) if crate::interrupt::requested() => return Ok(rows),
            r => rows.extend(r?),
        }
    }
    if builtin && !crate::interrupt::requested() {
        rows.extend(builtin_all(opts, bugs)?);
    }
    Ok(rows)
}

fn libfuzzer_all(opts: &Options, bugs: WrapperBugs) -> Result<Vec<TargetRow>, String> {
    let built = build(&opts.root, opts.sanitizer, &opts.targets, |line| {
        println!("{line}");
    })?;
    let mut rows = Vec::new();
    for t in &built.targets {
        if crate::interrupt::requested() {
            break;
        }
        rows.push(libfuzzer_one(opts, &built, t, bugs)?);
    }
    Ok(rows)
}

fn libfuzzer_one(
    opts: &Options,
    built: &Built,
    target: &str,
    bugs: WrapperBugs,
) -> Result<TargetRow, String> {
    let root = &opts.root;
    let bin = built.binary(target)?;
    let work = root.join("fuzz").join("corpus").join(target);
    // The kernel targets take tree- and fs-level inputs: those targets' seeds are theirs.
    let seed_dir = match target {
        "kernel_tree" => "tree_level",
        "kernel_fs" => "fs_level",
        _ => target,
    };
    let seeds = root.join("corpus").join(seed_dir);
    let artifacts = root.join("fuzz").join("artifacts").join(target);
    for d in [&work, &artifacts] {
        std::fs::create_dir_all(d).map_err(|e| format!("{}: cannot create: {e}", d.display()))?;
    }
    let mut args = libfuzzer_flags(root, target, opts.seconds, &artifacts);
    args.push(work.display().to_string());
    let n_seeds = std::fs::read_dir(&seeds).map_or(0, |d| d.count());
    if n_seeds > 0 {
        args.push(seeds.display().to_string());
    }
    let kept = std::fs::read_dir(&work).map_or(0, |d| d.count());
    println!(
        "== {target}: libFuzzer for {} s from {} ({n_seeds} seeds){}, new inputs to {}",
        opts.seconds,
        rel(root, &seeds),
        if kept > 0 {
            format!(" and {kept} inputs of earlier runs")
        } else {
            String::new()
        },
        rel(root, &work)
    );

    let Finished {
        status,
        seconds,
        text,
        stats,
    } = run_libfuzzer(&bin, &args, root, &[], opts.seconds)?;
    let outcome = match (status, &stats.artifact) {
        (_, Some(artifact)) => {
            let artifact = root.join(artifact);
            let log = artifacts.join(format!(
                "fuzz-all-{}.log",
                artifact
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or("run")
            ));
            let saved = engines::findings::write_new(&log, &text).is_ok();
            TargetOutcome::Found {
                summary: format!(
                    "{}artifact: {}{}",
                    crash_excerpt(&text, 60),
                    rel(root, &artifact),
                    if saved {
                        format!("\nfull output: {}", rel(root, &log))
                    } else {
                        String::new()
                    }
                ),
                keep: format!(
                    "to keep it: {}{} import {}",
                    bugs.command_prefix(),
                    crate::RUN,
                    rel(root, &artifact)
                ),
            }
        }
        (_, None) if crate::interrupt::requested() => TargetOutcome::Interrupted,
        (None, None) => TargetOutcome::Failed(format!(
            "still running {} s after its {} s; stopped",
            GRACE.as_secs(),
            opts.seconds
        )),
        (Some(s), None) if s.success() => TargetOutcome::Clean,
        (Some(s), None) => TargetOutcome::Failed(format!(
            "libFuzzer exited with {s} and saved no input:\n{}",
            crash_excerpt(&text, 40)
        )),
    };
    Ok(TargetRow {
        target: target.to_string(),
        engine: "libfuzzer",
        seconds,
        execs: stats.execs,
        execs_per_sec: stats.execs_per_sec,
        corpus: stats.corpus,
        outcome,
    })
}

/// `path` relative to `root` where it is below it, for shorter messages.
fn rel(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

fn builtin_all(opts: &Options, bugs: WrapperBugs) -> Result<Vec<TargetRow>, String> {
    let known = ["fs_level".to_string(), "tree_level".to_string()];
    // Named targets the built-in engine has no level for (parse_text, empty) are cargo-fuzz's.
    let wanted: Vec<String> = opts
        .targets
        .iter()
        .filter(|t| known.contains(t))
        .cloned()
        .collect();
    if !opts.targets.is_empty() && wanted.is_empty() {
        if opts.engine == EngineChoice::Builtin {
            return Err(format!(
                "the built-in engine runs only {}; none of them was named",
                known.join(", ")
            ));
        }
        return Ok(Vec::new());
    }
    let mut rows = Vec::new();
    for target in select(&known, &wanted, "built-in")? {
        if crate::interrupt::requested() {
            break;
        }
        let level = if target == "fs_level" {
            Level::Fs
        } else {
            Level::Tree
        };
        let config = Config {
            seconds: opts.seconds,
            seed: Config::clock_seed(),
            jobs: 1,
            out: Some(opts.root.join("findings")),
            progress: false,
            max_programs: None,
            guidance: engines::guidance::DEFAULT,
        };
        println!(
            "== {target}: built-in engine for {} s, level {level}, seed {}",
            opts.seconds, config.seed
        );
        // The finding's run line records DELALLOC_FUZZ_BUGS: its file replays alone.
        let oracle = WithRunLine {
            oracle: Differential {
                level,
                dialect: Dialect::ANY,
                run: |p: &delalloc_contract::Program| injected::run(p, bugs),
            },
            run_line: crate::pairing::Pairing {
                against: crate::against::Against::Optimized,
                bugs,
            }
            .run_line(),
            extra_flags: String::new(),
        };
        let campaign = engines::campaign(&config, &oracle)
            .map_err(|e| format!("built-in engine at level {level}: {e}"))?;
        let (summary, outcome) = match campaign {
            Campaign::Clean(s) if s.interrupted => (s, TargetOutcome::Interrupted),
            Campaign::Clean(s) => (s, TargetOutcome::Clean),
            Campaign::Diverged(s, f) => {
                let d = &f.minimized.divergence;
                let outcome = match (&f.files, &f.unwritten) {
                    (Some([program, report, _]), _) => {
                        let program = rel(&opts.root, program);
                        TargetOutcome::Found {
                            summary: format!(
                                "  {}\n  minimized program: {program}\n  report: {}",
                                report::headline(d),
                                rel(&opts.root, report)
                            ),
                            keep: format!(
                                "to see it: {}{} replay {program}",
                                bugs.command_prefix(),
                                crate::RUN
                            ),
                        }
                    }
                    // Not written: the program and its report go to stdout instead.
                    (None, unwritten) => TargetOutcome::Found {
                        summary: format!(
                            "  {}\n  error: {}; the program:\n{}\n{}",
                            report::headline(d),
                            unwritten
                                .as_ref()
                                .map_or("the finding was not written", |u| u.error.as_str()),
                            unwritten.as_ref().map_or("", |u| u.program.as_str()),
                            report::text(d)
                        ),
                        keep: format!(
                            "to see it: save the program above as a .txt file and run {}{} replay FILE",
                            bugs.command_prefix(),
                            crate::RUN
                        ),
                    },
                };
                (s, outcome)
            }
        };
        let programs = summary.stats.programs + summary.divergences;
        rows.push(TargetRow {
            target,
            engine: "builtin",
            seconds: summary.seconds,
            execs: Some(programs),
            execs_per_sec: Some(programs as f64 / summary.seconds.max(1e-9)),
            corpus: None,
            outcome,
        });
    }
    Ok(rows)
}

/// The summary table: target, engine, seconds, execs, execs/s, corpus size, result.
pub fn table(rows: &[TargetRow]) -> String {
    let mut s = format!(
        "{:<12} {:<10} {:>8} {:>12} {:>10} {:>8}  result\n",
        "target", "engine", "seconds", "execs", "execs/s", "corpus"
    );
    let opt = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
    for r in rows {
        let _ = writeln!(
            s,
            "{:<12} {:<10} {:>8.0} {:>12} {:>10} {:>8}  {}",
            r.target,
            r.engine,
            r.seconds,
            opt(r.execs),
            r.execs_per_sec
                .map_or("-".to_string(), |v| format!("{v:.0}")),
            opt(r.corpus),
            match r.outcome {
                TargetOutcome::Clean => "ok",
                TargetOutcome::Found { .. } => "FINDING",
                TargetOutcome::Failed(_) => "FAILED",
                TargetOutcome::Interrupted => "interrupted",
            }
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_has_a_row_per_run_and_says_which_found_something() {
        let row = |t: &str, outcome| TargetRow {
            target: t.into(),
            engine: "libfuzzer",
            seconds: 60.2,
            execs: Some(300_000),
            execs_per_sec: Some(4999.6),
            corpus: Some(120),
            outcome,
        };
        let t = table(&[
            row("fs_level", TargetOutcome::Clean),
            row(
                "tree_level",
                TargetOutcome::Found {
                    summary: String::new(),
                    keep: String::new(),
                },
            ),
        ]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3, "{t}");
        assert!(lines[0].starts_with("target") && lines[0].ends_with("result"));
        assert!(
            lines[1].starts_with("fs_level") && lines[1].ends_with("ok"),
            "{t}"
        );
        assert!(
            lines[1].contains(" 300000 ") && lines[1].contains(" 5000 "),
            "{t}"
        );
        assert!(lines[2].ends_with("FINDING"), "{t}");
    }
}
