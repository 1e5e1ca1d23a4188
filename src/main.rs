//! The command line: `delalloc-fuzz fuzz | replay | trace | minimize | mutants`.
//!
//! Exit codes: 0 all good; 1 a divergence was found or a replayed program failed; 2 the
//! command could not run (bad flags, unreadable or malformed input, a file in the way).

use clap::{Parser, Subcommand, ValueEnum};
use delalloc_contract::text::{parse_program, print_program};
use delalloc_contract::Program;
use delalloc_fuzz::engine::{self, Campaign, Config};
use delalloc_fuzz::generate::Level;
use delalloc_fuzz::oracle::{self, Verdict};
use delalloc_fuzz::{minimize, mutants, report};
use delalloc_optimized::bugs::{Bug, BugSet};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

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
    },
    /// Run program files (directories: every *.txt below, reports excluded); PASS if the models agree.
    Replay {
        #[arg(required = true, value_name = "FILE|DIR")]
        paths: Vec<PathBuf>,
        /// Print the results as JSON on stdout.
        #[arg(long)]
        json: bool,
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
        /// Also stop each campaign after this many programs (a budget independent of speed).
        #[arg(long, value_name = "P", value_parser = clap::value_parser!(u64).range(1..))]
        programs_per_bug: Option<u64>,
        /// Base seed of the campaigns' seeds (default: from the clock, printed).
        #[arg(long, value_name = "S")]
        seed: Option<u64>,
        /// Worker threads per campaign.
        #[arg(long, default_value_t = 1, value_name = "J", value_parser = clap::value_parser!(u64).range(1..=256))]
        jobs: u64,
        /// Print the scoreboard as JSON on stdout.
        #[arg(long)]
        json: bool,
        /// Also write each bug's minimized reproducer as DIR/<bug>.txt (never overwriting).
        #[arg(long, value_name = "DIR")]
        reproducers: Option<PathBuf>,
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
    oracle::quiet_model_panics();
    let code = match cli.command {
        Command::Fuzz {
            seconds,
            seed,
            jobs,
            level,
            out,
            json,
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
            fuzz(&config, json)
        }
        Command::Replay { paths, json } => replay(&paths, json),
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
            json,
            reproducers,
        } => {
            let chosen = bugs.into_iter().fold(BugSet::NONE, BugSet::union);
            let config = mutants::Config {
                seconds_per_bug,
                max_programs: programs_per_bug,
                runs,
                base_seed: seed.unwrap_or_else(Config::clock_seed),
                jobs: usize::try_from(jobs).unwrap_or(1),
                engine: match engine {
                    EngineArg::Builtin => mutants::Engine::Builtin,
                    EngineArg::Libfuzzer => mutants::Engine::Libfuzzer,
                },
                bugs: if chosen.is_empty() {
                    Bug::ALL.to_vec()
                } else {
                    chosen.iter().collect()
                },
            };
            mutants_cmd(&config, json, reproducers.as_deref())
        }
    };
    ExitCode::from(code)
}

fn mutants_cmd(config: &mutants::Config, json: bool, reproducers: Option<&Path>) -> u8 {
    if config.engine != mutants::Engine::Builtin {
        eprintln!("error: {}", mutants::EngineUnavailable(config.engine));
        return ERROR;
    }
    if let Some(Err(e)) = reproducers.map(|dir| mutants::check_reproducer_dir(dir, &config.bugs)) {
        eprintln!("error: --reproducers {e}");
        return ERROR;
    }
    eprintln!(
        "mutants: base seed {} (--seed {0} repeats it), {} bug(s), {} campaign(s) each, {} s limit",
        config.base_seed,
        config.bugs.len(),
        config.runs,
        config.seconds_per_bug
    );
    let total = config.bugs.len();
    let mut done = 0;
    let board = mutants::scoreboard(config, |row| {
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
            eprintln!("error: {e}");
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
        match mutants::write_reproducers(&board, dir) {
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

fn fuzz(config: &Config, json: bool) -> u8 {
    match engine::campaign(config, oracle::run) {
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
                print!("{}", engine::finding_text(config, &finding));
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
            } else if is_program_file(&p) {
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

/// Reads and parses a program file; the error names file:line:column.
fn load(path: &Path) -> Result<Program, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    parse_program(&text)
        .map_err(|e| format!("{}:{}:{}: {}", path.display(), e.line, e.column, e.message))
}

fn trace_file(path: &Path, json: bool) -> u8 {
    let program = match load(path) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ERROR;
        }
    };
    if json {
        let steps = delalloc_fuzz::trace::trace(&program).steps;
        println!(
            "{}",
            serde_json::to_string_pretty(&steps).unwrap_or_default()
        );
    } else {
        print!("{}", delalloc_fuzz::trace::text(&program));
    }
    0
}

fn replay(paths: &[PathBuf], json: bool) -> u8 {
    let files = collect(paths);
    let (mut passed, mut failed) = (0usize, 0usize);
    let mut results = Vec::new();
    for f in &files {
        let (ok, detail, report_json) = match load(f) {
            Err(e) => (false, e, None),
            Ok(p) => match oracle::run(&p) {
                Verdict::Agree(s) => (true, format!("{} ops", s.ops), None),
                Verdict::Diverged(d) => (false, report::text(&d), Some(report::json_value(&d))),
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
            println!("no program files (*.txt) found");
        }
        println!("{passed} passed, {failed} failed");
    }
    if failed > 0 {
        FAILED
    } else {
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
    let program = match load(file) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ERROR;
        }
    };
    let Some(m) = minimize::minimize(&program) else {
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
    let written = if force {
        std::fs::write(&out, &text)
    } else {
        engine::write_new(&out, &text)
    };
    if let Err(e) = written {
        eprintln!("error: cannot write {}: {e}", out.display());
        return ERROR;
    }
    println!(
        "{}: {} ops -> {} ops ({} oracle runs)",
        file.display(),
        m.ops_before,
        m.ops_after,
        m.runs
    );
    println!("wrote {}", out.display());
    println!();
    print!("{}", report::text(&m.divergence));
    0
}
