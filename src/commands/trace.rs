//! `delalloc-fuzz trace`: what a program file does, op by op (or a concurrent file's timeline),
//! then the oracle's verdict.

use super::common::{concurrent_text, load, parse_concurrent, ERROR};
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
}

impl TraceCommand {
    /// Traces the file; the exit code.
    pub fn execute(self) -> u8 {
        let (path, json) = (&self.file, self.json);
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
    0
}
