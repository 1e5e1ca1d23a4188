//! `delalloc-fuzz trace`: what a program file does, op by op, on each model of its pair side by
//! side (or a concurrent file's timeline, with what its bug set changed), then the oracle's
//! verdict. The models and bugs are the file's run line's, unless `--against`, `--bug` or
//! `DELALLOC_FUZZ_BUGS` say otherwise.

use super::common::{
    load_any, prepare_for, race_bugs_for, resolve_for, AgainstArgs, BugArgs, LevelArg, Loaded,
    ERROR, FAILED,
};
use crate::against::Against;
use crate::generators::Level;
use crate::oracles::linearizable::{self, Linearizable};
use crate::oracles::{Oracle, Verdict};
use crate::pairing::{self, Pairing};
use crate::report::{self, side_by_side};
use delalloc_contract::{ConcurrentProgram, Program};
use delalloc_optimized_shuttle::bugs::BugSet as RaceBugs;
use serde_json::json;
use std::path::{Path, PathBuf};

/// `trace`'s flags; [`TraceCommand::execute`] prints the trace.
#[derive(clap::Args)]
pub struct TraceCommand {
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Print the steps as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Show one model only: `reference`, or the one it is compared with (`optimized`,
    /// `kernel`). Default: both, side by side.
    #[arg(long, value_name = "NAME")]
    pub model: Option<String>,
    /// Level to decode a raw fuzz input at (default: from a fs_level/ or tree_level/ folder
    /// on the path).
    #[arg(long, value_enum, value_name = "L")]
    pub level: Option<LevelArg>,
    #[command(flatten)]
    pub against: AgainstArgs,
    #[command(flatten)]
    pub bugs: BugArgs,
}

impl TraceCommand {
    /// Traces the file; the exit code: 1 when the verdict is a divergence, as `replay` of the
    /// same file gives it.
    pub fn execute(self) -> u8 {
        if let Some(code) = self.against.elsewhere() {
            return code;
        }
        match self.trace() {
            Ok(diverged) => {
                if diverged {
                    FAILED
                } else {
                    0
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                ERROR
            }
        }
    }

    /// Prints the trace; whether the verdict is a divergence.
    fn trace(&self) -> Result<bool, String> {
        let path = &self.file;
        let overrides = self.bugs.overrides(self.against.against)?;
        let loaded = load_any(path, self.level.map(Level::from))?;
        if matches!(loaded, Loaded::Concurrent { .. }) && overrides.against == Some(Against::Kernel)
        {
            return Err(format!(
                "{}: a concurrent program: --against kernel traces sequential tree-level programs",
                path.display()
            ));
        }
        let pairing = resolve_for(path, loaded.run_line(), &overrides)?;
        match loaded {
            Loaded::Concurrent { program, .. } => {
                let bugs = race_bugs_for(path, &pairing);
                self.trace_concurrent(&program, bugs)
            }
            Loaded::Sequential {
                mut program,
                decoding,
                ..
            } => {
                prepare_for(path, &mut program, &decoding, &pairing)?;
                self.trace_sequential(path, &program, &pairing)
            }
        }
    }

    /// Both models side by side (or the one `--model` names), then the verdict.
    fn trace_sequential(
        &self,
        path: &Path,
        program: &Program,
        pairing: &Pairing,
    ) -> Result<bool, String> {
        let mut models = Vec::from(pairing::models(pairing, program));
        if let Some(name) = &self.model {
            let names: Vec<&str> = models.iter().map(|(n, _)| *n).collect();
            if !names.contains(&name.as_str()) {
                return Err(format!(
                    "--model {name}: {} is traced on {}",
                    path.display(),
                    names.join(" and ")
                ));
            }
            models.retain(|(n, _)| n == name);
        }
        let t = side_by_side::trace(program, models);
        let verdict = pairing.run(program);
        let run = pairing.run_line();
        if self.json {
            let mut v = side_by_side::json_value(&t, Some(&verdict));
            v["run"] = json!(run.to_string());
            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        } else {
            println!("the reference against {} ({run})", pairing.describe());
            print!("{}", side_by_side::text(&t, Some(&verdict)));
        }
        Ok(verdict.divergence().is_some())
    }

    /// The run's timeline with the bug set, the ops it changed marked against the fixed
    /// model's run under the same schedule, and both verdicts.
    fn trace_concurrent(&self, p: &ConcurrentProgram, bugs: RaceBugs) -> Result<bool, String> {
        match self.model.as_deref() {
            None | Some("optimized") => {}
            Some(other) => {
                return Err(format!(
                    "--model {other}: a concurrent trace is the optimized model's run (the \
                     reference judges it): --model optimized, or none"
                ))
            }
        }
        let oracle = Linearizable { bugs };
        let run = oracle.run_line();
        let record = linearizable::run::run(p, bugs);
        let verdict = oracle.check(p);
        // With a bug set, the fixed model under the same schedule shows what the bugs changed.
        let fixed = (!bugs.is_empty() && self.model.is_none()).then(|| {
            let record = linearizable::run::run(p, RaceBugs::NONE);
            let verdict = linearizable::run(p);
            (record, verdict)
        });
        if self.json {
            let v = json!({
                "run_line": run.to_string(),
                "run": record,
                "timeline": report::concurrent::timeline(p, &record),
                "verdict": verdict.divergence().map(report::concurrent::json_value),
                "fixed": fixed.as_ref().map(|(r, v)| json!({
                    "run": r,
                    "verdict": v.divergence().map(report::concurrent::json_value),
                })),
            });
            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            return Ok(verdict.divergence().is_some());
        }
        let with = if bugs.is_empty() {
            String::new()
        } else {
            format!(
                " with {}",
                run.settings().trim_start_matches("against=optimized ")
            )
        };
        println!(
            "timeline of the optimized model's run{with} ({} scheduling decisions, {} of {} schedule bytes):",
            record.decisions,
            record.bytes_used,
            p.schedule.len()
        );
        if fixed.is_some() {
            println!("(`!`: the fixed model answered otherwise under the same schedule)");
        }
        print!(
            "{}",
            side_by_side::concurrent_text(p, &record, fixed.as_ref().map(|(r, _)| r))
        );
        match &verdict {
            Verdict::Agree(_) => println!("verdict: agree (linearizable, nothing leaked)"),
            Verdict::Diverged(d) => {
                println!("verdict: DIVERGED");
                print!("{}", report::concurrent::text(d));
            }
        }
        if let Some((_, v)) = &fixed {
            println!(
                "without the bugs (the fixed model, same schedule): {}",
                side_by_side::concurrent_verdict(v)
            );
        }
        Ok(verdict.divergence().is_some())
    }
}
