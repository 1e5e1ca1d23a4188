//! The built-in engine's concurrent mode (`delalloc-fuzz fuzz --concurrent`): generated
//! concurrent programs through the concurrent oracle on a few threads, for a fixed time or
//! program budget, stopping at the first divergence.
//!
//! Program `i` of a campaign with seed `S` is `concurrent_program_from_seed(S + i)`: its schedule
//! is part of it, so a finding replays from `(S, i)`, or from the file the engine writes, whatever
//! the number of jobs. On a divergence the engine minimizes it and writes `<out>/<name>.txt` (the
//! program), `.report.txt` and `.json`, never overwriting a file.

use crate::engines::builtin::write_finding_files;
use crate::generators::concurrent::concurrent_program_from_seed;
use crate::oracles::linearizable::{ConcurrentStats, ConcurrentVerdict};
use crate::shrink::concurrent::{minimize_concurrent, ConcurrentMinimized};
use delalloc_contract::concurrent_text::print_concurrent_program;
use delalloc_contract::ConcurrentProgram;
use delalloc_optimized_shuttle::bugs::BugSet;
use serde::Serialize;
use std::fmt::Write as _;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct ConcurrentConfig {
    pub seconds: u64,
    /// Stop after this many programs as well (a budget independent of the machine's speed).
    pub max_programs: Option<u64>,
    pub seed: u64,
    pub jobs: usize,
    pub out: PathBuf,
    /// Bugs re-introduced in the model (the scoreboard's race rows); none for a real campaign.
    pub bugs: BugSet,
    /// A status line on stderr every second.
    pub progress: bool,
}

/// What a campaign did.
#[derive(Clone, Debug, Serialize)]
pub struct ConcurrentSummary {
    pub seed: u64,
    pub jobs: usize,
    pub seconds: f64,
    /// Seconds until the first divergence was seen (before minimizing), if any.
    pub seconds_to_divergence: Option<f64>,
    pub stats: ConcurrentStats,
    pub divergences: u64,
}

#[derive(Clone, Debug)]
pub struct ConcurrentFinding {
    pub index: u64,
    pub original: ConcurrentProgram,
    pub minimized: ConcurrentMinimized,
    /// Program, text report, JSON report; `None` when the campaign was told not to write.
    pub files: Option<[PathBuf; 3]>,
}

#[derive(Clone, Debug)]
pub enum ConcurrentCampaign {
    Clean(ConcurrentSummary),
    Diverged(ConcurrentSummary, Box<ConcurrentFinding>),
}

/// Runs a campaign and, on a divergence, minimizes it and writes it under `config.out`.
pub fn campaign(config: &ConcurrentConfig) -> io::Result<ConcurrentCampaign> {
    campaign_writing(config, true)
}

/// [`campaign`]; `write` false keeps the finding in memory only (the scoreboard).
pub fn campaign_writing(config: &ConcurrentConfig, write: bool) -> io::Result<ConcurrentCampaign> {
    let start = Instant::now();
    let deadline = start.checked_add(Duration::from_secs(config.seconds));
    let next = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let programs = AtomicU64::new(0);
    let divergences = AtomicU64::new(0);
    let totals = Mutex::new(ConcurrentStats::default());
    let found: Mutex<Option<(u64, ConcurrentProgram, f64)>> = Mutex::new(None);
    let bugs = config.bugs;
    std::thread::scope(|scope| {
        for _ in 0..config.jobs.max(1) {
            scope.spawn(|| {
                let mut local = ConcurrentStats::default();
                while !stop.load(Relaxed) && deadline.is_none_or(|d| Instant::now() < d) {
                    let i = next.fetch_add(1, Relaxed);
                    if config.max_programs.is_some_and(|m| i >= m) {
                        break;
                    }
                    let p = concurrent_program_from_seed(config.seed.wrapping_add(i));
                    match crate::oracles::linearizable::run_with(&p, bugs) {
                        ConcurrentVerdict::Agree(s) => {
                            programs.fetch_add(1, Relaxed);
                            local.merge(&s);
                        }
                        ConcurrentVerdict::Diverged(_) => {
                            divergences.fetch_add(1, Relaxed);
                            stop.store(true, Relaxed);
                            let at = start.elapsed().as_secs_f64();
                            let mut f = found.lock().unwrap_or_else(|e| e.into_inner());
                            // The lowest index: the same finding whatever the thread timing.
                            if f.as_ref().is_none_or(|(j, _, _)| i < *j) {
                                *f = Some((i, p, at));
                            }
                        }
                    }
                }
                totals
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .merge(&local);
            });
        }
        if config.progress {
            let mut last = Instant::now();
            eprintln!(
                "concurrent fuzzing for {} s: seed {}, {} job(s); findings go to {}",
                config.seconds,
                config.seed,
                config.jobs.max(1),
                config.out.display()
            );
            while !stop.load(Relaxed)
                && deadline.is_none_or(|d| Instant::now() < d)
                && config
                    .max_programs
                    .is_none_or(|m| next.load(Relaxed) < m + config.jobs as u64)
            {
                std::thread::sleep(Duration::from_millis(50));
                if last.elapsed() >= Duration::from_secs(1) {
                    last = Instant::now();
                    let secs = start.elapsed().as_secs_f64();
                    let n = programs.load(Relaxed);
                    eprintln!(
                        "[{:>4} s] programs {n} ({:.0}/s)  divergences {}",
                        secs as u64,
                        n as f64 / secs.max(1e-9),
                        divergences.load(Relaxed)
                    );
                }
            }
        }
    });
    let found = found.into_inner().unwrap_or_else(|e| e.into_inner());
    let summary = ConcurrentSummary {
        seed: config.seed,
        jobs: config.jobs.max(1),
        seconds: start.elapsed().as_secs_f64(),
        seconds_to_divergence: found.as_ref().map(|(_, _, at)| *at),
        stats: totals.into_inner().unwrap_or_else(|e| e.into_inner()),
        divergences: divergences.load(Relaxed),
    };
    let Some((index, original, _)) = found else {
        return Ok(ConcurrentCampaign::Clean(summary));
    };
    if config.progress {
        eprintln!(
            "divergence in program {index} (seed {}); minimizing...",
            config.seed.wrapping_add(index)
        );
    }
    let minimized = minimize_concurrent(&original, |p| {
        crate::oracles::linearizable::run_with(p, bugs)
    })
    .ok_or_else(|| {
        io::Error::other(format!(
            "concurrent program {index} diverged once and then agreed: a nondeterministic run?"
        ))
    })?;
    let files = if write {
        Some(write_finding(config, index, &minimized).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("writing the finding to {}: {e}", config.out.display()),
            )
        })?)
    } else {
        None
    };
    Ok(ConcurrentCampaign::Diverged(
        summary,
        Box::new(ConcurrentFinding {
            index,
            original,
            minimized,
            files,
        }),
    ))
}

fn write_finding(
    config: &ConcurrentConfig,
    index: u64,
    m: &ConcurrentMinimized,
) -> io::Result<[PathBuf; 3]> {
    std::fs::create_dir_all(&config.out)?;
    let base = format!("concurrent-{}-{}", config.seed, index);
    let d = &m.divergence;
    let mut program = String::new();
    let _ = writeln!(
        program,
        "# found by `delalloc-fuzz fuzz --concurrent --seed {}`: program {index} (generator seed {})",
        config.seed,
        config.seed.wrapping_add(index)
    );
    let _ = writeln!(program, "# {}", crate::report::concurrent::headline(d));
    program.push_str(&print_concurrent_program(&m.program));
    let json = serde_json::to_string_pretty(&crate::report::concurrent::json_value(d))
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    let contents = [program, crate::report::concurrent::text(d), json + "\n"];
    write_finding_files(&config.out, &base, &contents)
}

impl ConcurrentSummary {
    pub fn text(&self) -> String {
        let st = &self.stats;
        let secs = self.seconds.max(1e-9);
        let mut s = String::new();
        let _ = writeln!(
            s,
            "concurrent, seed {} jobs {}: {} programs, {} task ops in {:.1} s ({:.0} programs/s), {} divergence(s)",
            self.seed,
            self.jobs,
            st.programs,
            st.ops,
            self.seconds,
            st.programs as f64 / secs,
            self.divergences
        );
        let pct = |n: u64| 100.0 * n as f64 / st.programs.max(1) as f64;
        let _ = writeln!(
            s,
            "  runs with overlapping ops: {} ({:.1}%); searches out of budget (not judged): {}; reference steps searched: {}",
            st.overlapping,
            pct(st.overlapping),
            st.inconclusive,
            st.search_nodes
        );
        let _ = writeln!(
            s,
            "  scheduling decisions: {}, schedule bytes used: {}",
            st.decisions, st.bytes_used
        );
        let _ = writeln!(s, "task op kinds:");
        for (k, n) in &st.per_kind {
            let _ = writeln!(s, "  {:<22}{n:>10}", k.name());
        }
        if let Some(t) = self.seconds_to_divergence {
            let _ = writeln!(s, "first divergence after {t:.2} s");
        }
        s
    }
}

/// What the CLI prints for a finding.
pub fn finding_text(config: &ConcurrentConfig, f: &ConcurrentFinding) -> String {
    let m = &f.minimized;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "concurrent program {} of seed {} (generator seed {}) diverged; minimized from {:?} to {:?} (task ops, setup ops, schedule bytes) in {} oracle runs",
        f.index,
        config.seed,
        config.seed.wrapping_add(f.index),
        m.size_before,
        m.size_after,
        m.runs
    );
    if let Some(files) = &f.files {
        let _ = writeln!(
            s,
            "wrote {}, {}, {}",
            files[0].display(),
            files[1].display(),
            files[2].display()
        );
        let _ = writeln!(s, "replay: delalloc-fuzz replay {}", files[0].display());
    }
    s.push('\n');
    s.push_str(&crate::report::concurrent::text(&m.divergence));
    s
}
