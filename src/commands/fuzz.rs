//! `delalloc-fuzz fuzz`: the built-in engine's campaign, sequential or `--concurrent`.

use super::common::{parse_bugs, AgainstArgs, EraArg, GuidanceArg, LevelArg, ERROR, FAILED};
use crate::against::Against;
use crate::engines::{self, findings, Campaign, Config};
use crate::generators::Dialect;
use crate::injected::WrapperBugs;
use crate::interrupt;
use crate::oracles::differential::Differential;
use crate::oracles::linearizable::Linearizable;
use crate::oracles::stats::Stats;
use crate::oracles::Verdict;
use crate::oracles::{Oracle, WithRunLine};
use crate::pairing::{shuttle_bugs, Pairing};
use crate::report::Report;
use crate::scoreboard;
use crate::shrink::Shrink;
use delalloc_contract::Program;
use delalloc_optimized::bugs::BugSet;
use serde_json::json;
use std::path::PathBuf;

/// `fuzz`'s flags; [`FuzzCommand::execute`] runs the campaign.
#[derive(clap::Args)]
pub struct FuzzCommand {
    /// How long to fuzz.
    #[arg(long, default_value_t = 60, value_name = "N")]
    pub seconds: u64,
    /// Campaign seed; program i is generated from a SplitMix64 mix of S and i, so nearby seeds
    /// run unrelated programs (default: from the clock, printed).
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
    /// Worker threads.
    #[arg(long, default_value_t = 1, value_name = "J", value_parser = clap::value_parser!(u64).range(1..=256))]
    pub jobs: u64,
    /// Which ops programs use.
    #[arg(long, value_enum, default_value_t = LevelArg::Mixed, value_name = "L")]
    pub level: LevelArg,
    /// Where findings are written.
    #[arg(long, default_value = "findings", value_name = "DIR")]
    pub out: PathBuf,
    /// Print the summary (and any finding) as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Generate every program in this era (`b` or `6`); default: the generator's mix (one
    /// program in four in era 6). Against the kernel, its own era.
    #[arg(long, value_enum, value_name = "ERA", conflicts_with = "concurrent")]
    pub era: Option<EraArg>,
    /// Concurrent programs (tasks and a schedule) through the concurrent oracle (SPEC §10).
    #[arg(long, conflicts_with = "level")]
    pub concurrent: bool,
    /// Re-introduce these bugs in the optimized model (repeatable, or comma-separated).
    #[arg(long = "bug", value_name = "NAME", num_args = 1.., value_parser = parse_bugs)]
    pub bugs: Vec<BugSet>,
    /// Coverage guidance: keep the programs that reach a new feature (op kind x outcome, WARN
    /// path, counter band...) and mutate them beside fresh generation (default: off). Sequential
    /// programs only.
    #[arg(long, value_enum, value_name = "ON_OFF", conflicts_with = "concurrent")]
    pub guidance: Option<GuidanceArg>,
    #[command(flatten)]
    pub against: AgainstArgs,
}

impl FuzzCommand {
    /// Fuzzes; the exit code.
    pub fn execute(self) -> u8 {
        interrupt::install_or_warn();
        if let Err(e) = findings::prepare_dir(&self.out) {
            eprintln!("error: --out {e}");
            return ERROR;
        }
        let config = Config {
            seconds: self.seconds,
            max_programs: None,
            seed: self.seed.unwrap_or_else(Config::clock_seed),
            jobs: usize::try_from(self.jobs).unwrap_or(1),
            out: Some(self.out),
            progress: true,
            // Concurrent programs have no features or mutator: never guided.
            guidance: !self.concurrent && GuidanceArg::resolve(self.guidance),
        };
        let bugs = self.bugs.into_iter().fold(BugSet::NONE, BugSet::union);
        let against = self.against.model();
        if against == Against::Kernel {
            let conflict = if self.concurrent {
                Some("--concurrent runs the optimized model's threads, not the kernel model")
            } else if self.era.is_some_and(|e| e != EraArg::V6) {
                Some("--era: the kernel model has era 6's rules only")
            } else if !bugs.is_empty() {
                Some("--bug re-introduces bugs in the optimized model; the kernel's mutants are patches (mutants --against kernel)")
            } else {
                None
            };
            if let Some(e) = conflict {
                eprintln!("error: {e}");
                return ERROR;
            }
        }
        if let Some(code) = self.against.elsewhere() {
            return code;
        }
        if self.concurrent {
            let oracle = Linearizable {
                bugs: shuttle_bugs(bugs),
            };
            return fuzz(&config, &oracle, self.json);
        }
        // Every finding records the models and bugs it was found with: its file replays alone.
        let pairing = Pairing {
            against,
            bugs: WrapperBugs::from(bugs),
        };
        let extra_flags: String = match against {
            Against::Kernel => " --against kernel".into(),
            Against::Optimized => bugs.iter().map(|b| format!(" --bug {b}")).collect(),
        };
        if against == Against::Kernel {
            let dialect = against.dialect();
            let oracle = WithRunLine {
                run_line: pairing.run_line(),
                extra_flags,
                oracle: Differential {
                    level: self.level.into(),
                    dialect,
                    // A shrinking step that leaves the dialect (a geometry back in era B) is not
                    // the kernel's bug.
                    run: move |p: &Program| {
                        if dialect.fits(p) {
                            against.run(p, WrapperBugs::NONE)
                        } else {
                            Verdict::Agree(Stats::default())
                        }
                    },
                },
            };
            return fuzz(&config, &oracle, self.json);
        }
        let dialect = Dialect {
            era: self.era.map(Into::into),
            ..Dialect::ANY
        };
        let extra_flags = match self.era {
            Some(EraArg::B) => format!("{extra_flags} --era b"),
            Some(EraArg::V6) => format!("{extra_flags} --era 6"),
            None => extra_flags,
        };
        let oracle = WithRunLine {
            run_line: pairing.run_line(),
            extra_flags,
            oracle: Differential {
                level: self.level.into(),
                dialect,
                // A shrinking step that leaves the era is not the campaign's finding.
                run: move |p: &Program| {
                    if dialect.fits(p) {
                        scoreboard::run_with_bugs(p, bugs)
                    } else {
                        Verdict::Agree(Stats::default())
                    }
                },
            },
        };
        fuzz(&config, &oracle, self.json)
    }
}

/// One campaign with `oracle`: the summary, and the finding if there is one. Exit code
/// [`interrupt::EXIT_CODE`] after Ctrl-C, whatever it found.
fn fuzz<O>(config: &Config, oracle: &O, json: bool) -> u8
where
    O: Oracle,
    O::Program: Shrink<Divergence = O::Divergence> + Sync,
    O::Divergence: Report,
{
    match engines::campaign(config, oracle) {
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
            if interrupt::requested() {
                interrupt::EXIT_CODE
            } else {
                0
            }
        }
        Ok(Campaign::Diverged(summary, finding)) => {
            if json {
                let m = &finding.minimized;
                let v = json!({
                    "summary": summary,
                    "finding": {
                        "index": finding.index,
                        "generator_seed": engines::program_seed(config.seed, finding.index),
                        "origin": finding.origin,
                        "size_before": m.size_before,
                        "size_after": m.size_after,
                        "size_units": O::Program::SIZE_UNITS,
                        "files": finding.files,
                        "page": finding.page,
                        "minimizing_interrupted": m.interrupted,
                        "write_error": finding.unwritten.as_ref().map(|u| &u.error),
                        "program": finding.unwritten.as_ref().map(|u| &u.program),
                        "report": m.divergence.json_value(),
                    }
                });
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            } else {
                print!("{}", engines::finding_text(config, &finding));
                println!();
                print!("{}", summary.text());
            }
            if interrupt::requested() {
                interrupt::EXIT_CODE
            } else {
                FAILED
            }
        }
    }
}
