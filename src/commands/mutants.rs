//! `delalloc-fuzz mutants`: the scoreboard, campaigns against each re-introduced historical bug,
//! and with `--concurrent` the race rows after it.

use super::common::{parse_bugs, AgainstArgs, EngineArg, ERROR, FAILED};
use crate::against::Against;
use crate::engines;
use crate::libfuzzer;
use crate::scoreboard::{self, kernel, races};
use delalloc_optimized::bugs::{Bug, BugSet};
use serde_json::json;
use std::path::{Path, PathBuf};

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
    /// With --against kernel: the folder of mutant patches.
    #[arg(long, value_name = "DIR", default_value = "corpus/kernel-mutants")]
    pub patches: PathBuf,
}

impl MutantsCommand {
    /// Runs the scoreboard (and the race rows); the exit code.
    pub fn execute(self) -> u8 {
        if self.against.model() == Against::Kernel {
            return self.kernel();
        }
        if self.against.kernel_src.is_some() {
            eprintln!("error: --kernel-src is for --against kernel");
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
            engine,
            bugs: if chosen.is_empty() {
                Bug::ALL.to_vec()
            } else {
                chosen.iter().collect()
            },
        };
        let code = scoreboard_rows(&config, self.json, self.reproducers.as_deref());
        if !self.concurrent || code == ERROR {
            return code;
        }
        let races = race_rows(&config, self.json);
        code.max(races)
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
            println!(
                "{}",
                serde_json::to_string_pretty(&kernel::json(&rows)).unwrap_or_default()
            );
        } else {
            print!("{}", kernel::text(&rows, &plan));
        }
        if rows.iter().all(kernel::KernelRow::ok) {
            0
        } else {
            FAILED
        }
    }
}

/// The sequential scoreboard; exit code 1 if a non-race bug was missed.
fn scoreboard_rows(config: &scoreboard::Plan, json: bool, reproducers: Option<&Path>) -> u8 {
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

/// `mutants --concurrent`: the race rows, after the sequential scoreboard. Exit code 1 if a race
/// bug was missed in some campaign.
fn race_rows(config: &scoreboard::Plan, json: bool) -> u8 {
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
    let rows = match rows {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ERROR;
        }
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "race_rows": races::json(&rows) }))
                .unwrap_or_default()
        );
    } else {
        print!(
            "{}",
            races::text(&rows, config.runs, config.seconds_per_bug)
        );
    }
    if rows.iter().all(|r| r.found() == r.campaigns.len()) {
        0
    } else {
        FAILED
    }
}
