//! `delalloc-fuzz replay`: program files, concurrent program files and raw fuzz artifacts, each
//! PASS if the models agree.

use super::common::{
    bugs_from_env, collect, concurrent_text, parse_concurrent, AgainstArgs, LevelArg, ERROR, FAILED,
};
use crate::against::Against;
use crate::corpus::artifact::{self, Decoding};
use crate::generators::Level;
use crate::injected::WrapperBugs;
use crate::oracles::linearizable;
use crate::oracles::Verdict;
use crate::report;
use delalloc_contract::Program;
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
}

impl ReplayCommand {
    /// Replays; the exit code.
    pub fn execute(self) -> u8 {
        let (json, level) = (self.json, self.level.map(Level::from));
        let bugs = match bugs_from_env() {
            Ok(b) => b,
            Err(e) => {
                eprintln!("error: {e}");
                return ERROR;
            }
        };
        if let Some(code) = self.against.elsewhere() {
            return code;
        }
        let against = self.against.against;
        let files = collect(&self.paths);
        let (mut passed, mut failed, mut bad_input) = (0usize, 0usize, 0usize);
        let mut results = Vec::new();
        for f in &files {
            let (ok, detail, report_json) = match concurrent_text(f) {
                Some(_) if against == Against::Kernel => {
                    bad_input += 1;
                    (
                        false,
                        format!(
                            "{}: a concurrent program: --against kernel replays sequential tree-level programs",
                            f.display()
                        ),
                        None,
                    )
                }
                Some(text) => {
                    let r = replay_concurrent(f, &text);
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
                    Ok((mut p, decoding)) => {
                        let text = matches!(decoding, Decoding::Text)
                            .then(|| std::fs::read_to_string(f).unwrap_or_default());
                        match against.prepare(&mut p, text.as_deref()) {
                            Err(why) => {
                                bad_input += 1;
                                (false, format!("{}: {why}", f.display()), None)
                            }
                            Ok(()) => replay_one(&p, decoding, against, bugs),
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

/// One sequential program: pass, detail, and the JSON report of a divergence.
fn replay_one(
    p: &Program,
    decoding: Decoding,
    against: Against,
    bugs: WrapperBugs,
) -> (bool, String, Option<serde_json::Value>) {
    let how = match decoding {
        Decoding::Text => String::new(),
        d => format!("; {d}"),
    };
    match against.run(p, bugs) {
        Verdict::Agree(s) => (true, format!("{} ops{how}", s.ops), None),
        Verdict::Diverged(d) => (
            false,
            format!("{}{}", report::text(&d), how.trim_start_matches("; ")),
            Some(report::json_value(&d)),
        ),
    }
}

/// One concurrent file: pass, detail, and the JSON report of a divergence.
fn replay_concurrent(path: &Path, text: &str) -> (bool, String, Option<serde_json::Value>) {
    let p = match parse_concurrent(path, text) {
        Ok(p) => p,
        Err(e) => return (false, e, None),
    };
    match linearizable::run(&p) {
        Verdict::Agree(s) => (
            true,
            format!("{} tasks, {} task ops", p.tasks.len(), s.ops),
            None,
        ),
        Verdict::Diverged(d) => (
            false,
            report::concurrent::text(&d),
            Some(report::concurrent::json_value(&d)),
        ),
    }
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("    {l}\n")).collect()
}
