//! The command line's concurrent side (a module of the binary, kept apart from main.rs): `fuzz
//! --concurrent`, `stress`, and replay / trace / minimize of concurrent program files (files
//! with `setup`, `task N` or `schedule` lines).

use delalloc_contract::concurrent_text::{parse_concurrent_program, print_concurrent_program};
use delalloc_contract::ConcurrentProgram;
use delalloc_fuzz::engines::builtin::write_new;
use delalloc_fuzz::engines::concurrent::{ConcurrentCampaign, ConcurrentConfig};
use delalloc_fuzz::engines::stress::StressConfig;
use delalloc_fuzz::oracles::linearizable::ConcurrentVerdict;
use delalloc_fuzz::shrink::concurrent::minimize_concurrent;
use delalloc_optimized::bugs::BugSet;
use serde_json::json;
use std::path::{Path, PathBuf};

const FAILED: u8 = 1;
const ERROR: u8 = 2;

/// The same bugs in the shuttle build of the model (same names, separate types).
pub fn shuttle_bugs(set: BugSet) -> delalloc_optimized_shuttle::bugs::BugSet {
    set.iter()
        .filter_map(|b| delalloc_optimized_shuttle::bugs::Bug::from_name(b.name()))
        .fold(delalloc_optimized_shuttle::bugs::BugSet::NONE, |s, b| {
            s.union(b.into())
        })
}

/// Parses a concurrent program file's text; the error names file:line:column.
fn parse(path: &Path, text: &str) -> Result<ConcurrentProgram, String> {
    parse_concurrent_program(text)
        .map_err(|e| format!("{}:{}:{}: {}", path.display(), e.line, e.column, e.message))
}

pub fn fuzz(config: &ConcurrentConfig, json: bool) -> u8 {
    match delalloc_fuzz::engines::concurrent::campaign(config) {
        Err(e) => {
            eprintln!("error: fuzzing failed: {e}");
            ERROR
        }
        Ok(ConcurrentCampaign::Clean(summary)) => {
            if json {
                let v = json!({ "summary": summary });
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            } else {
                print!("{}", summary.text());
            }
            0
        }
        Ok(ConcurrentCampaign::Diverged(summary, finding)) => {
            if json {
                let v = json!({
                    "summary": summary,
                    "finding": {
                        "index": finding.index,
                        "generator_seed": config.seed.wrapping_add(finding.index),
                        "files": finding.files,
                        "report": crate::report::concurrent::json_value(&finding.minimized.divergence),
                    }
                });
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            } else {
                print!(
                    "{}",
                    delalloc_fuzz::engines::concurrent::finding_text(config, &finding)
                );
                println!();
                print!("{}", summary.text());
            }
            FAILED
        }
    }
}

/// One concurrent file for `replay`: pass, detail, and the JSON report of a divergence.
pub fn replay_one(path: &Path, text: &str) -> (bool, String, Option<serde_json::Value>) {
    let p = match parse(path, text) {
        Ok(p) => p,
        Err(e) => return (false, e, None),
    };
    match delalloc_fuzz::oracles::linearizable::run(&p) {
        ConcurrentVerdict::Agree(s) => (
            true,
            format!("{} tasks, {} task ops", p.tasks.len(), s.ops),
            None,
        ),
        ConcurrentVerdict::Diverged(d) => (
            false,
            crate::report::concurrent::text(&d),
            Some(crate::report::concurrent::json_value(&d)),
        ),
    }
}

/// `trace` of a concurrent file: the run's timeline and the oracle's verdict.
pub fn trace(path: &Path, text: &str, json: bool) -> u8 {
    let p = match parse(path, text) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ERROR;
        }
    };
    let record = delalloc_fuzz::oracles::linearizable::run::run(
        &p,
        delalloc_optimized_shuttle::bugs::BugSet::NONE,
    );
    let verdict = delalloc_fuzz::oracles::linearizable::run(&p);
    if json {
        let v = json!({
            "run": record,
            "timeline": crate::report::concurrent::timeline(&p, &record),
            "verdict": verdict.divergence().map(crate::report::concurrent::json_value),
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        println!(
            "timeline of the optimized model's run ({} scheduling decisions, {} of {} schedule bytes):",
            record.decisions,
            record.bytes_used,
            p.schedule.len()
        );
        print!("{}", crate::report::concurrent::timeline(&p, &record));
        match verdict {
            ConcurrentVerdict::Agree(_) => {
                println!("verdict: agree (linearizable, nothing leaked)");
            }
            ConcurrentVerdict::Diverged(d) => {
                println!("verdict: DIVERGED");
                print!("{}", crate::report::concurrent::text(&d));
            }
        }
    }
    0
}

/// `minimize` of a concurrent file.
pub fn minimize(file: &Path, text: &str, out: &Path, force: bool) -> u8 {
    let p = match parse(file, text) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ERROR;
        }
    };
    let Some(m) = minimize_concurrent(&p, delalloc_fuzz::oracles::linearizable::run) else {
        eprintln!(
            "error: {} does not diverge: the run is linearizable and leaks nothing, nothing to minimize",
            file.display()
        );
        return FAILED;
    };
    let text = format!(
        "# minimized from {} by `delalloc-fuzz minimize`\n# {}\n{}",
        file.display(),
        crate::report::concurrent::headline(&m.divergence),
        print_concurrent_program(&m.program)
    );
    let summary = format!(
        "{:?} -> {:?} (task ops, setup ops, schedule bytes; {} oracle runs)",
        m.size_before, m.size_after, m.runs
    );
    let report = crate::report::concurrent::text(&m.divergence);
    crate::write_minimized(file, out, &text, force, &summary, &report)
}

pub fn stress_cmd(config: &StressConfig, out: Option<PathBuf>, json: bool) -> u8 {
    eprintln!(
        "stress for {} s: {} thread(s), {} round(s) per task, seed {}",
        config.seconds, config.threads, config.rounds, config.seed
    );
    match delalloc_fuzz::engines::stress::stress(config) {
        Ok(s) => {
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&json!({ "summary": s })).unwrap_or_default()
                );
            } else {
                println!(
                    "stress, seed {} threads {}: {} iterations, {} ops in {:.1} s ({:.0} iterations/s, {:.0} ops/s); every quiescent state and unmount clean",
                    s.seed,
                    s.threads,
                    s.iterations,
                    s.ops,
                    s.seconds,
                    s.iterations as f64 / s.seconds.max(1e-9),
                    s.ops as f64 / s.seconds.max(1e-9)
                );
            }
            0
        }
        Err(f) => {
            let text = print_concurrent_program(&f.program);
            println!(
                "FAIL iteration {} (seed {}): {} invariant broken: {}",
                f.iteration,
                config.seed.wrapping_add(f.iteration),
                f.when,
                f.what
            );
            if let Some(dir) = out {
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

/// `mutants --concurrent`: the race rows, after the sequential scoreboard. Exit code 1 if a race
/// bug was missed in some campaign.
pub fn race_rows(config: &delalloc_fuzz::scoreboard::Config, json: bool) -> u8 {
    let total = config.bugs.iter().filter(|b| b.is_race()).count();
    let mut done = 0;
    let rows = crate::scoreboard::races::score(
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
            serde_json::to_string_pretty(
                &json!({ "race_rows": crate::scoreboard::races::json(&rows) })
            )
            .unwrap_or_default()
        );
    } else {
        print!(
            "{}",
            crate::scoreboard::races::text(&rows, config.runs, config.seconds_per_bug)
        );
    }
    if rows.iter().all(|r| r.found() == r.campaigns.len()) {
        0
    } else {
        FAILED
    }
}
