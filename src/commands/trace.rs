//! `delalloc-fuzz trace`: what a program file does, op by op (or a concurrent file's timeline),
//! then the oracle's verdict.

use super::common::{concurrent_text, load, parse_concurrent, AgainstArgs, ERROR, FAILED};
use crate::against::Against;
use crate::oracles::{linearizable, Verdict};
use crate::report;
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
    /// The trace is the model's under test (`--against kernel`: the kernel's own answers,
    /// counters and WARNs); the default traces the reference.
    #[command(flatten)]
    pub against: AgainstArgs,
}

impl TraceCommand {
    /// Traces the file; the exit code.
    pub fn execute(self) -> u8 {
        let (path, json) = (&self.file, self.json);
        if let Some(code) = self.against.elsewhere() {
            return code;
        }
        let against = self.against.against;
        if against == Against::Kernel {
            return trace_kernel(path, json);
        }
        if let Some(text) = concurrent_text(path) {
            return trace_concurrent(path, &text, json);
        }
        let program = match load(path) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("error: {e}");
                return ERROR;
            }
        };
        let t = report::trace::trace(&program);
        let verdict = crate::oracles::differential::run(&program);
        if json {
            println!(
                "{}",
                serde_json::to_string_pretty(&t.steps).unwrap_or_default()
            );
        } else {
            print!("{}", report::trace::text_of(&t, &verdict));
        }
        verdict_code(&verdict)
    }
}

/// The exit code of a trace, as `replay` of the same file gives it: 1 when its verdict is a
/// divergence.
fn verdict_code<S, D>(verdict: &Verdict<S, D>) -> u8 {
    match verdict {
        Verdict::Agree(_) => 0,
        Verdict::Diverged(_) => FAILED,
    }
}

/// A sequential tree-level file, as the kernel model runs it, and the verdict of the reference
/// against it.
fn trace_kernel(path: &Path, json: bool) -> u8 {
    let against = Against::Kernel;
    let checked = if concurrent_text(path).is_some() {
        Err(format!(
            "{}: a concurrent program: --against kernel traces sequential tree-level programs",
            path.display()
        ))
    } else {
        load(path).and_then(|mut p| {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            against
                .prepare(&mut p, Some(&text))
                .map(|()| p)
                .map_err(|e| format!("{}: {e}", path.display()))
        })
    };
    let program = match checked {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ERROR;
        }
    };
    let mut model = delalloc_kernel::model(&program.geometry);
    let t = report::trace::trace_model(&program, model.as_mut());
    let verdict = against.run(&program, crate::injected::WrapperBugs::NONE);
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&t.steps).unwrap_or_default()
        );
    } else {
        println!("{} (trace of the kernel model):", against.describe());
        print!("{}", report::trace::text_of(&t, &verdict));
    }
    verdict_code(&verdict)
}

/// A concurrent file: the run's timeline and the oracle's verdict.
fn trace_concurrent(path: &Path, text: &str, json: bool) -> u8 {
    let p = match parse_concurrent(path, text) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ERROR;
        }
    };
    let record = linearizable::run::run(&p, delalloc_optimized_shuttle::bugs::BugSet::NONE);
    let verdict = linearizable::run(&p);
    let code = verdict_code(&verdict);
    if json {
        let v = json!({
            "run": record,
            "timeline": report::concurrent::timeline(&p, &record),
            "verdict": verdict.divergence().map(report::concurrent::json_value),
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        println!(
            "timeline of the optimized model's run ({} scheduling decisions, {} of {} schedule bytes):",
            record.decisions,
            record.bytes_used,
            p.schedule.len()
        );
        print!("{}", report::concurrent::timeline(&p, &record));
        match verdict {
            Verdict::Agree(_) => {
                println!("verdict: agree (linearizable, nothing leaked)");
            }
            Verdict::Diverged(d) => {
                println!("verdict: DIVERGED");
                print!("{}", report::concurrent::text(&d));
            }
        }
    }
    code
}
