//! `delalloc-fuzz mutants`: the scoreboard, campaigns against each re-introduced historical bug,
//! and with `--concurrent` the race rows after it.

use super::common::{parse_bugs, AgainstArgs, EngineArg, GuidanceArg, ERROR, FAILED};
use crate::against::Against;
use crate::engines::{self, findings};
use crate::interrupt;
use crate::libfuzzer;
use crate::scoreboard::{self, kernel, races};
use delalloc_optimized::bugs::{Bug, BugSet};
use serde_json::json;
use std::path::PathBuf;

/// `mutants`' flags; [`MutantsCommand::execute`] runs the campaigns.
#[derive(clap::Args)]
pub struct MutantsCommand {
    /// Time limit of each campaign.
    #[arg(long, default_value_t = 10, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub seconds_per_bug: u64,
    /// Independent campaigns per bug.
    #[arg(long, default_value_t = 5, value_name = "R", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub runs: u32,
    /// Which fuzz engine runs the campaigns.
    #[arg(long, value_enum, default_value_t = EngineArg::Builtin, value_name = "E")]
    pub engine: EngineArg,
    /// Only these bugs (repeatable, or comma-separated); default: all.
    #[arg(long = "bug", value_name = "NAME", num_args = 1.., value_parser = parse_bugs)]
    pub bugs: Vec<BugSet>,
    /// Also stop each campaign after this many programs (a budget independent of speed;
    /// libFuzzer's `-runs=P`).
    #[arg(long, value_name = "P", value_parser = clap::value_parser!(u64).range(1..))]
    pub programs_per_bug: Option<u64>,
    /// Base seed of the campaigns' seeds (default: from the clock, printed).
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
    /// Worker threads per campaign (builtin engine; a libFuzzer campaign is one process).
    #[arg(long, default_value_t = 1, value_name = "J", value_parser = clap::value_parser!(u64).range(1..=256))]
    pub jobs: u64,
    /// libFuzzer builds: `none` on the current toolchain (default), `address` (ASan) on
    /// nightly. Only with --engine libfuzzer.
    #[arg(long, value_enum, value_name = "S")]
    pub sanitizer: Option<libfuzzer::Sanitizer>,
    /// The repository root, with fuzz/, corpus/ and oss-fuzz/ (default: .). Only with
    /// --engine libfuzzer.
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Print the scoreboard as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Also write each bug's minimized reproducer as DIR/<bug>.txt (never overwriting).
    #[expect(
        rustdoc::invalid_html_tags,
        reason = "`<bug>` is the help text's placeholder, not HTML"
    )]
    #[arg(long, value_name = "DIR")]
    pub reproducers: Option<PathBuf>,
    /// Also hunt the race bugs, with the concurrent engine (`fuzz --concurrent`); they then
    /// count like the others.
    #[arg(long)]
    pub concurrent: bool,
    /// `--against kernel`: the kernel's own code with each patch of --patches applied, each
    /// variant built from this binary's sources (cargo) and fuzzed in processes of its own.
    #[command(flatten)]
    pub against: AgainstArgs,
    /// The builtin engine's coverage guidance (`fuzz --guidance`; default: off), so that both
    /// settings are scored by the same command.
    #[arg(long, value_enum, value_name = "ON_OFF")]
    pub guidance: Option<GuidanceArg>,
    /// With --against kernel: the folder of mutant patches.
    #[arg(long, value_name = "DIR", default_value = "corpus/kernel-mutants")]
    pub patches: PathBuf,
}

impl MutantsCommand {
    /// Runs the scoreboard (and the race rows); the exit code.
    pub fn execute(self) -> u8 {
        interrupt::install_or_warn();
        if self.against.model() == Against::Kernel {
            return self.kernel();
        }
        if self.against.kernel_src.is_some() {
            eprintln!("error: --kernel-src is for --against kernel");
            return ERROR;
        }
        if self.guidance.is_some() && matches!(self.engine, EngineArg::Libfuzzer) {
            eprintln!("error: --guidance is the builtin engine's (libFuzzer guides itself)");
            return ERROR;
        }
        let engine = match (self.engine, self.jobs, self.sanitizer, self.root) {
            (EngineArg::Builtin, _, None, None) => scoreboard::Engine::Builtin,
            (EngineArg::Builtin, ..) => {
                eprintln!("error: --sanitizer and --root are for --engine libfuzzer");
                return ERROR;
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
                return ERROR;
            }
        };
        let chosen = self.bugs.into_iter().fold(BugSet::NONE, BugSet::union);
        let config = scoreboard::Plan {
            seconds_per_bug: self.seconds_per_bug,
            max_programs: self.programs_per_bug,
            runs: self.runs,
            base_seed: self.seed.unwrap_or_else(engines::Config::clock_seed),
            jobs: usize::try_from(self.jobs).unwrap_or(1),
            guidance: GuidanceArg::resolve(self.guidance),
            engine,
            bugs: if chosen.is_empty() {
                Bug::ALL.to_vec()
            } else {
                chosen.iter().collect()
            },
        };
        let reproducers = self.reproducers.as_deref();
        if let Some(Err(e)) = reproducers.map(|dir| {
            scoreboard::check_reproducer_dir(dir, &config.bugs)
                .and_then(|()| findings::prepare_dir(dir))
        }) {
            eprintln!("error: --reproducers {e}");
            return ERROR;
        }
        // With --concurrent the race bugs are scored by the concurrent table alone.
        let (concurrent, json) = (self.concurrent, self.json);
        let sequential = scoreboard::Plan {
            bugs: (config.bugs.iter().copied())
                .filter(|b| !concurrent || !b.is_race())
                .collect(),
            ..config.clone()
        };
        let Some(board) = scoreboard_rows(&sequential) else {
            return ERROR;
        };
        let races = if concurrent && !interrupt::requested() {
            match race_rows(&config) {
                Some(rows) => Some(rows),
                None => return ERROR,
            }
        } else {
            None
        };
        if json {
            let mut v = board.json();
            if concurrent {
                v["race_rows"] = races.as_deref().map_or(json!(null), races::json);
            }
            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        } else if concurrent {
            print!("{}", board.text_races_below());
            match &races {
                Some(rows) => {
                    print!("{}", races::text(rows, config.runs, config.seconds_per_bug));
                    if interrupt::requested() {
                        println!("{}", races_interrupted(&config.bugs, rows));
                    }
                }
                None => println!("race bugs: not hunted ({})", interrupt::NOTE),
            }
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
        let races_missed = races
            .iter()
            .flatten()
            .any(|r| r.found() < r.campaigns.len());
        interrupted_or(if board.missed().is_empty() && !races_missed {
            0
        } else {
            FAILED
        })
    }
}

/// [`interrupt::EXIT_CODE`] after Ctrl-C (the board printed is partial), else `code`; an error
/// stays an error.
fn interrupted_or(code: u8) -> u8 {
    if code != ERROR && interrupt::requested() {
        interrupt::EXIT_CODE
    } else {
        code
    }
}

impl MutantsCommand {
    /// `mutants --against kernel`: the clean tree and every patch; exit code 1 if a mutant was
    /// missed by a campaign or the clean tree diverged.
    fn kernel(self) -> u8 {
        let unsupported = [
            (!self.bugs.is_empty(), "--bug"),
            (self.concurrent, "--concurrent"),
            (self.reproducers.is_some(), "--reproducers"),
            (
                self.sanitizer.is_some() || self.root.is_some(),
                "--sanitizer/--root",
            ),
            (
                matches!(self.engine, EngineArg::Libfuzzer),
                "--engine libfuzzer",
            ),
            (self.programs_per_bug.is_some(), "--programs-per-bug"),
            (self.jobs != 1, "--jobs"),
            (self.guidance.is_some(), "--guidance"),
        ];
        if let Some((_, flag)) = unsupported.iter().find(|(on, _)| *on) {
            eprintln!("error: {flag} is not for --against kernel (its mutants are patches, each campaign one process of the built-in engine)");
            return ERROR;
        }
        let release = match &self.against.kernel_src {
            Some(src) => kernel::tree_release(src).ok_or_else(|| {
                format!(
                    "--kernel-src {}: no kernel release found (neither a kernel-source.sh stamp nor a Makefile)",
                    src.display()
                )
            }),
            None => delalloc_kernel::built()
                .map(|b| b.release.to_string())
                .map_err(|e| e.to_string()),
        };
        let patches = match release.and_then(|r| {
            kernel::patches_in(&self.patches, &r).map_err(|e| format!("--patches {e}"))
        }) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("error: {e}");
                return ERROR;
            }
        };
        let plan = kernel::KernelPlan {
            seconds: self.seconds_per_bug,
            runs: self.runs,
            base_seed: self.seed.unwrap_or_else(engines::Config::clock_seed),
            src: self.against.kernel_src,
        };
        eprintln!(
            "mutants --against kernel: base seed {} (--seed {0} repeats it), clean + {} patch(es), {} campaign(s) each, {} s limit",
            plan.base_seed,
            patches.len(),
            plan.runs,
            plan.seconds
        );
        let rows = kernel::score(&plan, &patches, |row| {
            eprintln!(
                "[{}] found {}/{}{}",
                row.name,
                row.found(),
                row.campaigns.len(),
                row.median_seconds()
                    .map_or(String::new(), |m| format!(", median {m:.2} s"))
            );
        });
        let rows = match rows {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {e}");
                return ERROR;
            }
        };
        if self.json {
            let mut v = kernel::json(&rows);
            v["interrupted"] = json!(interrupt::requested());
            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        } else {
            print!("{}", kernel::text(&rows, &plan));
            if interrupt::requested() {
                println!(
                    "{}: {} of {} variant(s) scored (clean + patches), the last with the campaigns that ran to their end",
                    interrupt::NOTE,
                    rows.len(),
                    patches.len() + 1
                );
            }
        }
        interrupted_or(if rows.iter().all(kernel::KernelRow::ok) {
            0
        } else {
            FAILED
        })
    }
}

/// After Ctrl-C in the race rows: how many were hunted, which short, which not at all.
fn races_interrupted(bugs: &[Bug], rows: &[races::RaceRow]) -> String {
    let wanted: Vec<Bug> = bugs.iter().copied().filter(|b| b.is_race()).collect();
    let not_hunted: Vec<&str> = wanted
        .iter()
        .filter(|b| !rows.iter().any(|r| r.bug == **b))
        .map(|b| b.name())
        .collect();
    let mut line = format!(
        "{}: {} of {} race bug(s) hunted, the last with the campaigns that ran to their end",
        interrupt::NOTE,
        rows.len(),
        wanted.len()
    );
    if !not_hunted.is_empty() {
        line.push_str("; not hunted: ");
        line.push_str(&not_hunted.join(", "));
    }
    line
}

/// The sequential scoreboard, each row announced on stderr as it is done; `None` (the error
/// printed) when the engine cannot run.
fn scoreboard_rows(config: &scoreboard::Plan) -> Option<scoreboard::Scoreboard> {
    eprintln!(
        "mutants: base seed {} (--seed {0} repeats it), {} bug(s), {} campaign(s) each, {} s limit, {} engine{}",
        config.base_seed,
        config.bugs.len(),
        config.runs,
        config.seconds_per_bug,
        config.engine.name(),
        match (&config.engine, config.guidance) {
            (scoreboard::Engine::Builtin, true) => ", guidance on",
            (scoreboard::Engine::Builtin, false) => ", guidance off",
            _ => "",
        }
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
    board
        .map_err(|e| eprintln!("error: mutants --engine {}: {e}", config.engine.name()))
        .ok()
}

/// `mutants --concurrent`: the race rows, after the sequential scoreboard, each announced on
/// stderr as it is done; `None` (the error printed) when a campaign could not run.
fn race_rows(config: &scoreboard::Plan) -> Option<Vec<races::RaceRow>> {
    let total = config.bugs.iter().filter(|b| b.is_race()).count();
    let mut done = 0;
    let rows = races::score(
        &config.bugs,
        config.runs,
        config.seconds_per_bug,
        config.max_programs,
        config.base_seed,
        config.jobs,
        |row| {
            done += 1;
            eprintln!(
                "[race {done}/{total}] {}: found {}/{} (concurrent mode)",
                row.bug.name(),
                row.found(),
                row.campaigns.len()
            );
        },
    );
    rows.map_err(|e| eprintln!("error: {e}")).ok()
}
