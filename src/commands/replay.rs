//! `delalloc-fuzz replay`: program files, concurrent program files and raw fuzz artifacts, each
//! PASS if the models agree: those of the file's run line, unless `--against`, `--bug` or
//! `DELALLOC_FUZZ_BUGS` say otherwise.

use super::common::{
    collect, file_overrides, load_any, prepare_for, race_bugs_for, resolve_for, AgainstArgs,
    BugArgs, LevelArg, Loaded, ERROR, FAILED,
};
use crate::against::Against;
use crate::corpus::artifact::Decoding;
use crate::generators::Level;
use crate::oracles::linearizable::{self, Linearizable};
use crate::oracles::{Oracle, Verdict};
use crate::pairing::{Overrides, Pairing};
use crate::report;
use delalloc_contract::run_line::RunLine;
use delalloc_contract::{ConcurrentProgram, Program};
use delalloc_optimized_shuttle::bugs::BugSet as RaceBugs;
use serde_json::json;
use std::path::{Path, PathBuf};

/// `replay`'s flags; [`ReplayCommand::execute`] runs the files.
#[derive(clap::Args)]
pub struct ReplayCommand {
    #[arg(required = true, value_name = "FILE|DIR")]
    pub paths: Vec<PathBuf>,
    /// Print the results as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Level to decode raw fuzz inputs at (default: from a fs_level/ or tree_level/ folder
    /// on the path).
    #[arg(long, value_enum, value_name = "L")]
    pub level: Option<LevelArg>,
    #[command(flatten)]
    pub against: AgainstArgs,
    #[command(flatten)]
    pub bugs: BugArgs,
}

impl ReplayCommand {
    /// Replays; the exit code.
    pub fn execute(self) -> u8 {
        let (json, level) = (self.json, self.level.map(Level::from));
        let overrides = match file_overrides(&self.against, &self.bugs) {
            Ok(o) => o,
            Err(code) => return code,
        };
        let files = collect(&self.paths);
        let (mut passed, mut failed, mut bad_input) = (0usize, 0usize, 0usize);
        let mut results = Vec::new();
        for f in &files {
            let (ok, detail, report_json, run) = match replay_file(f, level, &overrides) {
                Err(e) => {
                    bad_input += 1;
                    (false, e, None, None)
                }
                Ok(r) => (r.ok, r.detail, r.report, Some(r.run)),
            };
            if ok {
                passed += 1;
            } else {
                failed += 1;
            }
            // A run line other than the default is part of what was replayed: say so.
            let with = run
                .as_ref()
                .filter(|r| !r.is_default())
                .map_or(String::new(), |r| format!("; {r}"));
            if json {
                results.push(json!({
                    "file": f,
                    "status": if ok { "pass" } else { "fail" },
                    "detail": detail,
                    "run": run.map(|r| r.to_string()),
                    "divergence": report_json,
                }));
            } else if ok {
                println!("PASS {} ({detail}{with})", f.display());
            } else if report_json.is_some() {
                println!(
                    "FAIL {}: diverged ({})\n{}",
                    f.display(),
                    with.trim_start_matches("; "),
                    indent(&detail)
                );
            } else {
                println!("FAIL {detail}");
            }
        }
        if files.is_empty() {
            let paths: Vec<String> = self.paths.iter().map(|p| p.display().to_string()).collect();
            eprintln!(
                "error: no program files (*.txt) or fuzz artifacts found in {}",
                paths.join(", ")
            );
        }
        if json {
            let v = json!({ "results": results, "passed": passed, "failed": failed });
            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        } else {
            println!("{passed} passed, {failed} failed");
        }
        // Input that could not be read is the command failing to run, not a finding; so is a
        // path with nothing to replay (an empty or mistyped folder must not pass).
        if bad_input > 0 || files.is_empty() {
            ERROR
        } else if failed > 0 {
            FAILED
        } else {
            0
        }
    }
}

/// What replaying one file gave: pass, detail, the JSON report of a divergence, and the run
/// line it was replayed with.
struct Replayed {
    ok: bool,
    detail: String,
    report: Option<serde_json::Value>,
    run: RunLine,
}

/// One file, with the models and bugs of its run line unless `overrides` say otherwise; the
/// error is bad input (unreadable, malformed, or not something the models can run).
fn replay_file(f: &Path, level: Option<Level>, overrides: &Overrides) -> Result<Replayed, String> {
    let loaded = load_any(f, level)?;
    if matches!(loaded, Loaded::Concurrent { .. }) && overrides.against == Some(Against::Kernel) {
        return Err(format!(
            "{}: a concurrent program: --against kernel replays sequential tree-level programs",
            f.display()
        ));
    }
    let pairing = resolve_for(f, loaded.run_line(), overrides)?;
    match loaded {
        Loaded::Concurrent { program, .. } => {
            let bugs = race_bugs_for(f, &pairing);
            let run = Linearizable { bugs }.run_line();
            Ok(replay_concurrent(&program, bugs, run))
        }
        Loaded::Sequential {
            mut program,
            decoding,
            ..
        } => {
            prepare_for(f, &mut program, &decoding, &pairing)?;
            Ok(replay_one(&program, decoding, &pairing))
        }
    }
}

/// One sequential program.
fn replay_one(p: &Program, decoding: Decoding, pairing: &Pairing) -> Replayed {
    let how = match decoding {
        Decoding::Text => String::new(),
        d => format!("; {d}"),
    };
    let run = pairing.run_line();
    match pairing.run(p) {
        Verdict::Agree(s) => Replayed {
            ok: true,
            detail: format!("{} ops{how}", s.ops),
            report: None,
            run,
        },
        Verdict::Diverged(d) => Replayed {
            ok: false,
            detail: format!("{}{}", report::text(&d), how.trim_start_matches("; ")),
            report: Some(report::json_value(&d)),
            run,
        },
    }
}

/// One concurrent program, with `bugs` in the model.
fn replay_concurrent(p: &ConcurrentProgram, bugs: RaceBugs, run: RunLine) -> Replayed {
    match linearizable::run_with(p, bugs) {
        Verdict::Agree(s) => Replayed {
            ok: true,
            detail: format!("{} tasks, {} task ops", p.tasks.len(), s.ops),
            report: None,
            run,
        },
        Verdict::Diverged(d) => Replayed {
            ok: false,
            detail: report::concurrent::text(&d),
            report: Some(report::concurrent::json_value(&d)),
            run,
        },
    }
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("    {l}\n")).collect()
}
