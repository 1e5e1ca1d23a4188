//! `delalloc-fuzz stress`: concurrent programs on real threads (the std build of the model).

use super::common::{ERROR, FAILED};
use crate::engines::findings::{self, write_new};
use crate::engines::stress::{self, StressConfig};
use crate::engines::Config;
use crate::interrupt;
use delalloc_contract::concurrent_text::print_concurrent_program;
use serde_json::json;
use std::path::PathBuf;

/// `stress`'s flags; [`StressCommand::execute`] runs the threads.
#[derive(clap::Args)]
pub struct StressCommand {
    #[arg(long, default_value_t = 60, value_name = "N")]
    pub seconds: u64,
    /// Threads (one task each).
    #[arg(long, default_value_t = 2, value_name = "T", value_parser = clap::value_parser!(u64).range(1..=4))]
    pub threads: u64,
    /// How many times each thread runs its task's ops per iteration.
    #[arg(long, default_value_t = 8, value_name = "R", value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub rounds: u64,
    /// Seed; iteration i's program comes from a SplitMix64 mix of S and i (default: from the
    /// clock, printed).
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
    /// Where a failing program is written (never overwriting).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

impl StressCommand {
    /// Stresses; the exit code.
    pub fn execute(self) -> u8 {
        interrupt::install_or_warn();
        if let Some(Err(e)) = self.out.as_deref().map(findings::prepare_dir) {
            eprintln!("error: --out {e}");
            return ERROR;
        }
        let config = StressConfig {
            seconds: self.seconds,
            threads: usize::try_from(self.threads).unwrap_or(2),
            rounds: usize::try_from(self.rounds).unwrap_or(8),
            seed: self.seed.unwrap_or_else(Config::clock_seed),
        };
        eprintln!(
            "stress for {} s: {} thread(s), {} round(s) per task, seed {}",
            config.seconds, config.threads, config.rounds, config.seed
        );
        match stress::stress(&config) {
            Ok(s) => {
                if self.json {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&json!({ "summary": s })).unwrap_or_default()
                    );
                } else {
                    println!(
                        "stress, seed {} threads {}: {} iterations, {} ops in {:.1} s ({:.0} iterations/s, {:.0} ops/s); every quiescent state and unmount clean{}",
                        s.seed,
                        s.threads,
                        s.iterations,
                        s.ops,
                        s.seconds,
                        s.iterations as f64 / s.seconds.max(1e-9),
                        s.ops as f64 / s.seconds.max(1e-9),
                        if s.interrupted {
                            format!("; {}", interrupt::NOTE)
                        } else {
                            String::new()
                        }
                    );
                }
                if s.interrupted {
                    interrupt::EXIT_CODE
                } else {
                    0
                }
            }
            Err(f) => {
                let text = print_concurrent_program(&f.program);
                println!(
                    "FAIL iteration {} (generator seed {}): {} invariant broken: {}",
                    f.iteration,
                    stress::iteration_seed(config.seed, f.iteration),
                    f.when,
                    f.what
                );
                if let Some(dir) = self.out {
                    let path = dir.join(format!("stress-{}-{}.txt", config.seed, f.iteration));
                    let header = format!("# stress failure, {}: {}\n", f.when, f.what);
                    match std::fs::create_dir_all(&dir)
                        .and_then(|_| write_new(&path, &(header + &text)))
                    {
                        Ok(()) => println!("wrote {}", path.display()),
                        Err(e) => eprintln!("error: cannot write {}: {e}", path.display()),
                    }
                }
                println!("program:\n{text}");
                FAILED
            }
        }
    }
}
