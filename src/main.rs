//! The command line: `delalloc-fuzz fuzz | replay | trace | minimize | mutants | stress | import | corpus | fuzz-all`.
//!
//! Exit codes: 0 all good; 1 a divergence was found or a replayed program failed; 2 the
//! command could not run (bad flags, unreadable or malformed input, a file in the way).

use clap::{Parser, Subcommand, ValueEnum};
use delalloc_contract::text::{parse_program, print_program};
use delalloc_contract::Program;
use delalloc_fuzz::corpus::artifact::{self, Decoding};
use delalloc_fuzz::engines::builtin::{self, Campaign, Config};
use delalloc_fuzz::generators::Level;
use delalloc_fuzz::oracles::differential::{self, Verdict};
use delalloc_fuzz::scoreboard::injected;
use delalloc_fuzz::{libfuzzer, report, scoreboard, shrink};
use delalloc_optimized::bugs::{Bug, BugSet};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[path = "commands/cli_concurrent.rs"]
mod cli_concurrent;

#[derive(Parser)]
#[command(
    name = "delalloc-fuzz",
    version,
    about = "Differential fuzzing of btrfs delalloc space accounting: reference vs optimized"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run generated programs through both models until time runs out or they diverge.
    Fuzz {
        /// How long to fuzz.
        #[arg(long, default_value_t = 60, value_name = "N")]
        seconds: u64,
        /// Campaign seed; program i uses seed S+i (default: from the clock, printed).
        #[arg(long, value_name = "S")]
        seed: Option<u64>,
        /// Worker threads.
        #[arg(long, default_value_t = 1, value_name = "J", value_parser = clap::value_parser!(u64).range(1..=256))]
        jobs: u64,
        /// Which ops programs use.
        #[arg(long, value_enum, default_value_t = LevelArg::Mixed, value_name = "L")]
        level: LevelArg,
        /// Where findings are written.
        #[arg(long, default_value = "findings", value_name = "DIR")]
        out: PathBuf,
        /// Print the summary (and any finding) as JSON on stdout.
        #[arg(long)]
        json: bool,
        /// Concurrent programs (tasks and a schedule) through the concurrent oracle (SPEC §10).
        #[arg(long, conflicts_with = "level")]
        concurrent: bool,
        /// Re-introduce these bugs in the optimized model (repeatable, or comma-separated).
        #[arg(long = "bug", value_name = "NAME", num_args = 1.., value_parser = parse_bugs)]
        bugs: Vec<BugSet>,
    },
    /// Concurrent programs on real threads (the std build, no scheduler), checking SPEC §8 at
    /// quiescence and that nothing leaks after the unmount.
    Stress {
        #[arg(long, default_value_t = 60, value_name = "N")]
        seconds: u64,
        /// Threads (one task each).
        #[arg(long, default_value_t = 2, value_name = "T", value_parser = clap::value_parser!(u64).range(1..=4))]
        threads: u64,
        /// How many times each thread runs its task's ops per iteration.
        #[arg(long, default_value_t = 8, value_name = "R", value_parser = clap::value_parser!(u64).range(1..=10_000))]
        rounds: u64,
        /// Seed; iteration i uses S+i (default: from the clock, printed).
        #[arg(long, value_name = "S")]
        seed: Option<u64>,
        /// Where a failing program is written (never overwriting).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Run program files or raw fuzz artifacts (directories: every *.txt below, reports
    /// excluded, and crash-*/id:* artifacts); PASS if the models agree.
    Replay {
        #[arg(required = true, value_name = "FILE|DIR")]
        paths: Vec<PathBuf>,
        /// Print the results as JSON on stdout.
        #[arg(long)]
        json: bool,
        /// Level to decode raw fuzz inputs at (default: from a fs_level/ or tree_level/ folder
        /// on the path).
        #[arg(long, value_enum, value_name = "L")]
        level: Option<LevelArg>,
    },
    /// Turn libFuzzer/AFL crash inputs into readable, minimized regression programs.
    Import {
        #[arg(required = true, value_name = "ARTIFACT")]
        artifacts: Vec<PathBuf>,
        /// Level the target decoded them at (default: from a fs_level/ or tree_level/ folder
        /// on the path).
        #[arg(long, value_enum, value_name = "L")]
        level: Option<LevelArg>,
        /// Where to write (default: corpus/regressions/imported, or corpus/injected/<bugs> with
        /// DELALLOC_FUZZ_BUGS set).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Overwrite an existing regression file of the same name.
        #[arg(long)]
        force: bool,
    },
    /// Regenerate the fuzz targets' seed corpora corpus/<target>/ from corpus/programs/.
    Corpus {
        /// Change nothing; exit 1 if a corpus file is missing, out of date or from no program.
        #[arg(long)]
        check: bool,
        /// Also remove files in the corpus folders that no seed program produces.
        #[arg(long)]
        prune: bool,
        /// The repository root.
        #[arg(long, default_value = ".", value_name = "DIR")]
        root: PathBuf,
    },
    /// Show what a program file does: each op's outcome and the fields it changed (reference
    /// model), then the oracle's verdict.
    Trace {
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Print the steps as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Run every fuzz target N seconds (cargo-fuzz's libFuzzer binaries from their seed
    /// corpora, and/or the built-in engine); a summary table; exit 1 on any finding. For CI.
    FuzzAll {
        /// How long each target runs.
        #[arg(long, default_value_t = 60, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=86400))]
        seconds_per_target: u64,
        /// Which engine runs the targets.
        #[arg(long, value_enum, default_value_t = libfuzzer::Engine::Libfuzzer)]
        engine: libfuzzer::Engine,
        /// libFuzzer builds: `none` on the current toolchain, `address` (ASan) on nightly.
        #[arg(long, value_enum, default_value_t = libfuzzer::Sanitizer::None)]
        sanitizer: libfuzzer::Sanitizer,
        /// Only this target (repeatable; default: all but the `empty` calibration target).
        #[arg(long = "target", value_name = "T")]
        targets: Vec<String>,
        /// The repository root.
        #[arg(long, default_value = ".", value_name = "DIR")]
        root: PathBuf,
    },
    /// Shrink a diverging program file to a small one diverging the same way.
    Minimize {
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Where to write the result (default: FILE with `.min.txt`).
        #[arg(long, short, value_name = "OUT")]
        output: Option<PathBuf>,
        /// Overwrite OUT if it exists.
        #[arg(long)]
        force: bool,
    },
    /// The scoreboard: campaigns against the optimized model with each historical bug
    /// re-introduced, until the first divergence; exits 1 if a non-race bug is missed.
    Mutants {
        /// Time limit of each campaign.
        #[arg(long, default_value_t = 10, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        seconds_per_bug: u64,
        /// Independent campaigns per bug.
        #[arg(long, default_value_t = 5, value_name = "R", value_parser = clap::value_parser!(u32).range(1..=1000))]
        runs: u32,
        /// Which fuzz engine runs the campaigns.
        #[arg(long, value_enum, default_value_t = EngineArg::Builtin, value_name = "E")]
        engine: EngineArg,
        /// Only these bugs (repeatable, or comma-separated); default: all.
        #[arg(long = "bug", value_name = "NAME", num_args = 1.., value_parser = parse_bugs)]
        bugs: Vec<BugSet>,
        /// Also stop each campaign after this many programs (a budget independent of speed;
        /// libFuzzer's `-runs=P`).
        #[arg(long, value_name = "P", value_parser = clap::value_parser!(u64).range(1..))]
        programs_per_bug: Option<u64>,
        /// Base seed of the campaigns' seeds (default: from the clock, printed).
        #[arg(long, value_name = "S")]
        seed: Option<u64>,
        /// Worker threads per campaign (builtin engine; a libFuzzer campaign is one process).
        #[arg(long, default_value_t = 1, value_name = "J", value_parser = clap::value_parser!(u64).range(1..=256))]
        jobs: u64,
        /// libFuzzer builds: `none` on the current toolchain (default), `address` (ASan) on
        /// nightly. Only with --engine libfuzzer.
        #[arg(long, value_enum, value_name = "S")]
        sanitizer: Option<libfuzzer::Sanitizer>,
        /// The repository root, with fuzz/, corpus/ and oss-fuzz/ (default: .). Only with
        /// --engine libfuzzer.
        #[arg(long, value_name = "DIR")]
        root: Option<PathBuf>,
        /// Print the scoreboard as JSON on stdout.
        #[arg(long)]
        json: bool,
        /// Also write each bug's minimized reproducer as DIR/<bug>.txt (never overwriting).
        #[arg(long, value_name = "DIR")]
        reproducers: Option<PathBuf>,
        /// Also hunt the race bugs, with the concurrent engine (`fuzz --concurrent`); they then
        /// count like the others.
        #[arg(long)]
        concurrent: bool,
    },
}

fn parse_bugs(s: &str) -> Result<BugSet, String> {
    match s.parse::<BugSet>() {
        Ok(set) if set.is_empty() => Err("names no bug".into()),
        other => other.map_err(|e| e.to_string()),
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum EngineArg {
    Builtin,
    Libfuzzer,
}

#[derive(Clone, Copy, ValueEnum)]
enum LevelArg {
    Tree,
    Fs,
    Mixed,
}

impl From<LevelArg> for Level {
    fn from(l: LevelArg) -> Level {
        match l {
            LevelArg::Tree => Level::Tree,
            LevelArg::Fs => Level::Fs,
            LevelArg::Mixed => Level::Mixed,
        }
    }
}

const FAILED: u8 = 1;
const ERROR: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    differential::quiet_model_panics();
    let code = match cli.command {
        Command::Fuzz {
            seconds,
            seed,
            jobs,
            level,
            out,
            json,
            concurrent,
            bugs,
        } => {
            if out.exists() && !out.is_dir() {
                eprintln!(
                    "error: --out {}: exists and is not a directory",
                    out.display()
                );
                return ExitCode::from(ERROR);
            }
            let config = Config {
                seconds,
                max_programs: None,
                seed: seed.unwrap_or_else(Config::clock_seed),
                jobs: usize::try_from(jobs).unwrap_or(1),
                level: level.into(),
                out,
                progress: true,
            };
            let bugs = bugs.into_iter().fold(BugSet::NONE, BugSet::union);
            if concurrent {
                let config = delalloc_fuzz::engines::concurrent::ConcurrentConfig {
                    seconds: config.seconds,
                    max_programs: None,
                    seed: config.seed,
                    jobs: config.jobs,
                    out: config.out,
                    bugs: cli_concurrent::shuttle_bugs(bugs),
                    progress: true,
                };
                return ExitCode::from(cli_concurrent::fuzz(&config, json));
            }
            fuzz(&config, bugs, json)
        }
        Command::Stress {
            seconds,
            threads,
            rounds,
            seed,
            out,
            json,
        } => {
            let config = delalloc_fuzz::engines::stress::StressConfig {
                seconds,
                threads: usize::try_from(threads).unwrap_or(2),
                rounds: usize::try_from(rounds).unwrap_or(8),
                seed: seed.unwrap_or_else(Config::clock_seed),
            };
            cli_concurrent::stress_cmd(&config, out, json)
        }
        Command::Replay { paths, json, level } => replay(&paths, json, level.map(Level::from)),
        Command::Import {
            artifacts,
            level,
            out,
            force,
        } => import(&artifacts, level.map(Level::from), out, force),
        Command::Corpus { check, prune, root } => corpus(&root, check, prune),
        Command::Trace { file, json } => trace_file(&file, json),
        Command::Minimize {
            file,
            output,
            force,
        } => minimize_file(&file, output, force),
        Command::Mutants {
            seconds_per_bug,
            programs_per_bug,
            runs,
            engine,
            bugs,
            seed,
            jobs,
            sanitizer,
            root,
            json,
            reproducers,
            concurrent,
        } => {
            let engine = match (engine, jobs, sanitizer, root) {
                (EngineArg::Builtin, _, None, None) => scoreboard::Engine::Builtin,
                (EngineArg::Builtin, ..) => {
                    eprintln!("error: --sanitizer and --root are for --engine libfuzzer");
                    return ExitCode::from(ERROR);
                }
                (EngineArg::Libfuzzer, 1, sanitizer, root) => scoreboard::Engine::Libfuzzer {
                    root: root.unwrap_or_else(|| PathBuf::from(".")),
                    sanitizer: sanitizer.unwrap_or(libfuzzer::Sanitizer::None),
                },
                (EngineArg::Libfuzzer, ..) => {
                    eprintln!(
                        "error: --jobs is the builtin engine's: a libFuzzer campaign is one \
                         process on one core (no -fork or -jobs)"
                    );
                    return ExitCode::from(ERROR);
                }
            };
            let chosen = bugs.into_iter().fold(BugSet::NONE, BugSet::union);
            let config = scoreboard::Config {
                seconds_per_bug,
                max_programs: programs_per_bug,
                runs,
                base_seed: seed.unwrap_or_else(Config::clock_seed),
                jobs: usize::try_from(jobs).unwrap_or(1),
                engine,
                bugs: if chosen.is_empty() {
                    Bug::ALL.to_vec()
                } else {
                    chosen.iter().collect()
                },
            };
            let code = mutants_cmd(&config, json, reproducers.as_deref());
            if !concurrent || code == ERROR {
                return ExitCode::from(code);
            }
            let races = cli_concurrent::race_rows(&config, json);
            code.max(races)
        }
        Command::FuzzAll {
            seconds_per_target,
            engine,
            sanitizer,
            targets,
            root,
        } => libfuzzer::main(&libfuzzer::Options {
            seconds: seconds_per_target,
            engine,
            sanitizer,
            targets,
            root,
        }),
    };
    ExitCode::from(code)
}

fn mutants_cmd(config: &scoreboard::Config, json: bool, reproducers: Option<&Path>) -> u8 {
    if let Some(Err(e)) = reproducers.map(|dir| scoreboard::check_reproducer_dir(dir, &config.bugs))
    {
        eprintln!("error: --reproducers {e}");
        return ERROR;
    }
    eprintln!(
        "mutants: base seed {} (--seed {0} repeats it), {} bug(s), {} campaign(s) each, {} s limit, {} engine",
        config.base_seed,
        config.bugs.len(),
        config.runs,
        config.seconds_per_bug,
        config.engine.name()
    );
    let total = config.bugs.len();
    let mut done = 0;
    let board = scoreboard::scoreboard(config, |row| {
        done += 1;
        let what = if row.bug.is_race() {
            "race, not run".to_string()
        } else {
            format!("found {}/{}", row.found(), row.campaigns.len())
        };
        eprintln!("[{done}/{total}] {}: {what}", row.bug.name());
    });
    let board = match board {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: mutants --engine {}: {e}", config.engine.name());
            return ERROR;
        }
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&board.json()).unwrap_or_default()
        );
    } else {
        print!("{}", board.text());
    }
    if let Some(dir) = reproducers {
        match scoreboard::write_reproducers(&board, dir) {
            Ok(files) => eprintln!("wrote {} reproducer(s) to {}", files.len(), dir.display()),
            Err(e) => {
                eprintln!("error: writing reproducers: {e}");
                return ERROR;
            }
        }
    }
    if board.missed().is_empty() {
        0
    } else {
        FAILED
    }
}

fn fuzz(config: &Config, bugs: BugSet, json: bool) -> u8 {
    match builtin::campaign(config, |p| scoreboard::run_with_bugs(p, bugs)) {
        Err(e) => {
            eprintln!("error: fuzzing failed: {e}");
            ERROR
        }
        Ok(Campaign::Clean(summary)) => {
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&json!({ "summary": summary }))
                        .unwrap_or_default()
                );
            } else {
                print!("{}", summary.text());
            }
            0
        }
        Ok(Campaign::Diverged(summary, finding)) => {
            if json {
                let v = json!({
                    "summary": summary,
                    "finding": {
                        "index": finding.index,
                        "generator_seed": config.seed.wrapping_add(finding.index),
                        "ops_before": finding.minimized.ops_before,
                        "ops_after": finding.minimized.ops_after,
                        "files": finding.files,
                        "report": report::json_value(&finding.minimized.divergence),
                    }
                });
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            } else {
                print!("{}", builtin::finding_text(config, &finding));
                println!();
                print!("{}", summary.text());
            }
            FAILED
        }
    }
}

// ---------------------------------------------------------------------------------------------
// replay
// ---------------------------------------------------------------------------------------------

/// Program files under `paths`: files as given, directories walked for `*.txt` (not reports).
fn collect(paths: &[PathBuf]) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            // Unreadable: let the read fail and be reported as a FAIL.
            out.push(dir.to_path_buf());
            return;
        };
        let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out);
            } else if is_program_file(&p) || is_artifact(&p) {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut out);
        } else {
            out.push(p.clone());
        }
    }
    out
}

/// `*.txt` except the engine's `*.report.txt`.
fn is_program_file(p: &Path) -> bool {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.ends_with(".txt") && !name.ends_with(".report.txt")
}

fn is_artifact(p: &Path) -> bool {
    p.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(artifact::is_artifact_name)
}

/// The injected bugs of DELALLOC_FUZZ_BUGS, announced on stderr; the error is the message.
fn bugs_from_env() -> Result<injected::BugSet, String> {
    let bugs = injected::BugSet::from_env()?;
    if !bugs.is_empty() {
        eprintln!(
            "note: {}: the optimized model runs with injected bugs",
            bugs.assignment()
        );
    }
    Ok(bugs)
}

/// Reads and parses a program file; the error names file:line:column.
fn load(path: &Path) -> Result<Program, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    parse_program(&text)
        .map_err(|e| format!("{}:{}:{}: {}", path.display(), e.line, e.column, e.message))
}

/// The text of a concurrent program file (one with `setup`, `task` or `schedule` lines).
fn concurrent_text(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    delalloc_contract::concurrent_text::is_concurrent_text(&text).then_some(text)
}

fn trace_file(path: &Path, json: bool) -> u8 {
    if let Some(text) = concurrent_text(path) {
        return cli_concurrent::trace(path, &text, json);
    }
    let program = match load(path) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ERROR;
        }
    };
    if json {
        let steps = report::trace::trace(&program).steps;
        println!(
            "{}",
            serde_json::to_string_pretty(&steps).unwrap_or_default()
        );
    } else {
        print!("{}", report::trace::text(&program));
    }
    0
}

fn replay(paths: &[PathBuf], json: bool, level: Option<Level>) -> u8 {
    let bugs = match bugs_from_env() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {e}");
            return ERROR;
        }
    };
    let files = collect(paths);
    let (mut passed, mut failed, mut bad_input) = (0usize, 0usize, 0usize);
    let mut results = Vec::new();
    for f in &files {
        let (ok, detail, report_json) = match concurrent_text(f) {
            Some(text) => {
                let r = cli_concurrent::replay_one(f, &text);
                if !r.0 && r.2.is_none() {
                    bad_input += 1;
                }
                r
            }
            None => match artifact::load(f, level) {
                Err(e) => {
                    bad_input += 1;
                    (false, e, None)
                }
                Ok((p, decoding)) => {
                    let how = match decoding {
                        Decoding::Text => String::new(),
                        d => format!("; {d}"),
                    };
                    match injected::run(&p, bugs) {
                        Verdict::Agree(s) => (true, format!("{} ops{how}", s.ops), None),
                        Verdict::Diverged(d) => (
                            false,
                            format!("{}{}", report::text(&d), how.trim_start_matches("; ")),
                            Some(report::json_value(&d)),
                        ),
                    }
                }
            },
        };
        if ok {
            passed += 1;
        } else {
            failed += 1;
        }
        if json {
            results.push(json!({
                "file": f,
                "status": if ok { "pass" } else { "fail" },
                "detail": detail,
                "divergence": report_json,
            }));
        } else if ok {
            println!("PASS {} ({detail})", f.display());
        } else if report_json.is_some() {
            println!("FAIL {}: diverged\n{}", f.display(), indent(&detail));
        } else {
            println!("FAIL {detail}");
        }
    }
    if json {
        let v = json!({ "results": results, "passed": passed, "failed": failed });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        if files.is_empty() {
            println!("no program files (*.txt) or fuzz artifacts found");
        }
        println!("{passed} passed, {failed} failed");
    }
    // Input that could not be read is the command failing to run, not a finding.
    if bad_input > 0 {
        ERROR
    } else if failed > 0 {
        FAILED
    } else {
        0
    }
}

// ---------------------------------------------------------------------------------------------
// import, corpus
// ---------------------------------------------------------------------------------------------

fn import(artifacts: &[PathBuf], level: Option<Level>, out: Option<PathBuf>, force: bool) -> u8 {
    let bugs = match bugs_from_env() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {e}");
            return ERROR;
        }
    };
    let out = out.unwrap_or_else(|| artifact::default_out(bugs));
    let mut code = 0;
    for a in artifacts {
        let result = import_one(a, level, &out, force, bugs);
        if let Err((c, e)) = result {
            eprintln!("error: {e}");
            code = code.max(c);
        }
    }
    code
}

fn import_one(
    a: &Path,
    level: Option<Level>,
    out: &Path,
    force: bool,
    bugs: injected::BugSet,
) -> Result<(), (u8, String)> {
    if a.is_dir() {
        return Err((
            ERROR,
            format!("{}: is a directory, not an artifact", a.display()),
        ));
    }
    let (program, decoding) = artifact::load(a, level).map_err(|e| (ERROR, e))?;
    let path = out.join(artifact::regression_name(a));
    if path.exists() && !force {
        return Err((
            ERROR,
            format!(
                "{} already exists (pass --force to overwrite it)",
                path.display()
            ),
        ));
    }
    let Some(r) = artifact::regression(&program, bugs, a, decoding) else {
        return Err((
            FAILED,
            format!(
                "{} does not diverge ({decoding}, {} ops): the models agree on it{}; not imported",
                a.display(),
                program.ops.len(),
                if bugs.is_empty() {
                    ""
                } else {
                    " even with the injected bugs"
                }
            ),
        ));
    };
    std::fs::create_dir_all(out)
        .map_err(|e| (ERROR, format!("{}: cannot create: {e}", out.display())))?;
    builtin::write_user_file(&path, &r.text, force)
        .map_err(|e| (ERROR, format!("cannot write {}: {e}", path.display())))?;
    let m = &r.minimized;
    println!(
        "{} ({decoding}): {} ops -> {} ops\n  {}\nwrote {}",
        a.display(),
        m.ops_before,
        m.ops_after,
        report::headline(&m.divergence),
        path.display()
    );
    Ok(())
}

fn corpus(root: &Path, check: bool, prune: bool) -> u8 {
    use delalloc_fuzz::corpus::{plan, stale, write};
    let seeds = match plan(root) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ERROR;
        }
    };
    let result = if check {
        Ok(stale(root, &seeds))
    } else {
        write(root, &seeds, prune)
    };
    let before = match result {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {e}");
            return ERROR;
        }
    };
    for s in &before {
        // Regenerating lists only what it leaves behind; a check lists everything stale.
        if check || matches!(s, delalloc_fuzz::corpus::Stale::Extra(_)) {
            println!("{s}");
        }
    }
    let count = |t: &str| seeds.iter().filter(|s| s.target == t).count();
    let targets = "fs_level, tree_level, parse_text";
    let counts = format!(
        "{}, {}, {}",
        count("fs_level"),
        count("tree_level"),
        count("parse_text")
    );
    if check {
        if before.is_empty() {
            println!("corpus up to date: {counts} inputs ({targets})");
            0
        } else {
            println!(
                "corpus is stale ({} files): run `delalloc-fuzz corpus`{}",
                before.len(),
                if before
                    .iter()
                    .any(|s| matches!(s, delalloc_fuzz::corpus::Stale::Extra(_)))
                {
                    " (with --prune to remove files from no seed program)"
                } else {
                    ""
                }
            );
            FAILED
        }
    } else {
        let changed = before
            .iter()
            .filter(|s| !matches!(s, delalloc_fuzz::corpus::Stale::Extra(_)))
            .count();
        println!("corpus written: {counts} inputs ({targets}), {changed} new or updated");
        0
    }
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("    {l}\n")).collect()
}

// ---------------------------------------------------------------------------------------------
// minimize
// ---------------------------------------------------------------------------------------------

/// `dir/foo.txt` -> `dir/foo.min.txt`; `dir/foo` -> `dir/foo.min.txt`.
fn default_output(file: &Path) -> PathBuf {
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("program");
    let stem = name.strip_suffix(".txt").unwrap_or(name);
    file.with_file_name(format!("{stem}.min.txt"))
}

fn minimize_file(file: &Path, output: Option<PathBuf>, force: bool) -> u8 {
    let out = output.unwrap_or_else(|| default_output(file));
    if out.exists() && !force {
        eprintln!(
            "error: {} already exists (pass --force to overwrite it)",
            out.display()
        );
        return ERROR;
    }
    if let Some(text) = concurrent_text(file) {
        return cli_concurrent::minimize(file, &text, &out, force);
    }
    let program = match load(file) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ERROR;
        }
    };
    let Some(m) = shrink::minimize(&program) else {
        eprintln!(
            "error: {} does not diverge: the models agree on it, nothing to minimize",
            file.display()
        );
        return FAILED;
    };
    let text = format!(
        "# minimized from {} ({} ops) by `delalloc-fuzz minimize`\n# {}\n{}",
        file.display(),
        m.ops_before,
        report::headline(&m.divergence),
        print_program(&m.program)
    );
    let summary = format!(
        "{} ops -> {} ops ({} oracle runs)",
        m.ops_before, m.ops_after, m.runs
    );
    write_minimized(
        file,
        &out,
        &text,
        force,
        &summary,
        &report::text(&m.divergence),
    )
}

/// The end of `minimize`, sequential or concurrent: `text` (the minimized program) to `out`,
/// then what shrank and after how many oracle runs (`summary`), where it went, and the report.
fn write_minimized(
    file: &Path,
    out: &Path,
    text: &str,
    force: bool,
    summary: &str,
    report: &str,
) -> u8 {
    if let Err(e) = builtin::write_user_file(out, text, force) {
        eprintln!("error: cannot write {}: {e}", out.display());
        return ERROR;
    }
    println!("{}: {summary}", file.display());
    println!("wrote {}", out.display());
    println!();
    print!("{report}");
    0
}
