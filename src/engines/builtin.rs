//! The built-in fuzz engine: generated programs through the oracle on a few threads, for a
//! fixed time, stopping at the first divergence.
//!
//! Program `i` of a campaign with seed `S` is `generators::program_from_seed(S + i, level)`, so
//! every finding is reproducible from `(S, i)` whatever the number of jobs. Threads take indices
//! from a shared counter. On a divergence the engine minimizes it and writes
//! `<out>/<name>.txt` (the minimized program, replayable), `<out>/<name>.report.txt` and
//! `<out>/<name>.json`, never overwriting a file.

use crate::generators::{self, Level};
use crate::oracles::differential::{self, Stats, Verdict};
use crate::report;
use crate::shrink::{self, Minimized};
use delalloc_contract::text::print_program;
use delalloc_contract::{OpKind, Program};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::io::{self, IsTerminal, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct Config {
    pub seconds: u64,
    /// Also stop after this many programs: a deterministic budget, whatever the machine's
    /// speed (tests). `None`: only the time limit.
    pub max_programs: Option<u64>,
    pub seed: u64,
    pub jobs: usize,
    pub level: Level,
    pub out: PathBuf,
    /// Show progress on stderr (a bar on a terminal, else a status line every second).
    pub progress: bool,
}

impl Config {
    /// A seed from the clock, for campaigns that were not given one.
    pub fn clock_seed() -> u64 {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        t.as_secs().wrapping_mul(1_000_000_007) ^ u64::from(t.subsec_nanos())
    }
}

/// What a campaign did.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub seed: u64,
    pub level: Level,
    pub jobs: usize,
    pub seconds: f64,
    /// Stats of the agreeing programs.
    pub stats: Stats,
    pub divergences: u64,
}

/// A divergence the campaign found, minimized and written out.
#[derive(Clone, Debug)]
pub struct Finding {
    /// Index of the program in the campaign; its generator seed is `seed + index`.
    pub index: u64,
    pub original: Program,
    pub minimized: Minimized,
    /// The files written: program, text report, JSON report.
    pub files: [PathBuf; 3],
}

#[derive(Clone, Debug)]
pub enum Campaign {
    Clean(Summary),
    Diverged(Summary, Box<Finding>),
}

/// Counters the workers update and the progress display reads.
#[derive(Default)]
struct Live {
    programs: AtomicU64,
    ops: AtomicU64,
    /// Bit `k` set once `OpKind::ALL[k]` ran.
    kinds: AtomicU32,
    divergences: AtomicU64,
}

/// What [`search`] did: the summary, and the first diverging program with its index, if any.
#[derive(Clone, Debug)]
pub struct Search {
    pub summary: Summary,
    pub found: Option<(u64, Program)>,
}

/// Runs a campaign with `run` as the oracle ([`differential::run`] for the real models): [`search`],
/// then a divergence is minimized and written out.
pub fn campaign(config: &Config, run: impl Fn(&Program) -> Verdict + Sync) -> io::Result<Campaign> {
    let Search { summary, found } = search(config, &run);
    let Some((index, original)) = found else {
        return Ok(Campaign::Clean(summary));
    };
    if config.progress {
        eprintln!(
            "divergence in program {index} (seed {}); minimizing...",
            config.seed.wrapping_add(index)
        );
    }
    let minimized = shrink::minimize_with(&original, &run).ok_or_else(|| {
        io::Error::other(format!(
            "program {index} diverged once and then agreed: a nondeterministic model?"
        ))
    })?;
    let files = write_finding(config, index, &minimized).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("writing the finding to {}: {e}", config.out.display()),
        )
    })?;
    Ok(Campaign::Diverged(
        summary,
        Box::new(Finding {
            index,
            original,
            minimized,
            files,
        }),
    ))
}

/// Runs generated programs through `run` until the first divergence, the time limit or the
/// program budget. The summary's `seconds` is the time to that point (no minimization).
pub fn search(config: &Config, run: &(impl Fn(&Program) -> Verdict + Sync)) -> Search {
    differential::quiet_model_panics();
    let start = Instant::now();
    // `--seconds` beyond what an Instant can hold means "until a divergence".
    let deadline = start.checked_add(Duration::from_secs(config.seconds));
    let next = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let running = AtomicUsize::new(config.jobs.max(1));
    let live = Live::default();
    let totals = Mutex::new(Stats::default());
    let found: Mutex<Option<(u64, Program)>> = Mutex::new(None);

    std::thread::scope(|scope| {
        for _ in 0..config.jobs.max(1) {
            scope.spawn(|| {
                // Counts this worker out even if it panics, so that the display loop ends and the
                // scope re-raises the panic.
                let _done = OnDrop(|| {
                    running.fetch_sub(1, Relaxed);
                });
                let mut local = Stats::default();
                while !stop.load(Relaxed) && deadline.is_none_or(|d| Instant::now() < d) {
                    let i = next.fetch_add(1, Relaxed);
                    if config.max_programs.is_some_and(|max| i >= max) {
                        break;
                    }
                    let program =
                        generators::program_from_seed(config.seed.wrapping_add(i), config.level);
                    match run(&program) {
                        Verdict::Agree(s) => {
                            live.programs.fetch_add(1, Relaxed);
                            live.ops.fetch_add(s.ops, Relaxed);
                            let mask = s
                                .kind_counts()
                                .enumerate()
                                .filter(|(_, (_, n))| *n > 0)
                                .fold(0, |m, (k, _)| m | 1 << k);
                            live.kinds.fetch_or(mask, Relaxed);
                            local.merge(&s);
                        }
                        Verdict::Diverged(_) => {
                            live.divergences.fetch_add(1, Relaxed);
                            stop.store(true, Relaxed);
                            let mut f = found.lock().unwrap_or_else(|e| e.into_inner());
                            // Keep the lowest index: the same finding whatever the thread timing.
                            if f.as_ref().is_none_or(|(j, _)| i < *j) {
                                *f = Some((i, program));
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
            show_progress(config, start, &live, &running);
        }
    });

    let summary = Summary {
        seed: config.seed,
        level: config.level,
        jobs: config.jobs.max(1),
        seconds: start.elapsed().as_secs_f64(),
        stats: totals.into_inner().unwrap_or_else(|e| e.into_inner()),
        divergences: live.divergences.load(Relaxed),
    };
    Search {
        summary,
        found: found.into_inner().unwrap_or_else(|e| e.into_inner()),
    }
}

struct OnDrop<F: FnMut()>(F);

impl<F: FnMut()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        (self.0)();
    }
}

/// Updates the display until every worker has stopped.
fn show_progress(config: &Config, start: Instant, live: &Live, running: &AtomicUsize) {
    let status = || {
        let secs = start.elapsed().as_secs_f64().max(1e-9);
        let programs = live.programs.load(Relaxed);
        let ops = live.ops.load(Relaxed);
        format!(
            "programs {programs} ({:.0}/s)  ops {ops} ({:.0}/s)  coverage {}/{} kinds  divergences {}",
            programs as f64 / secs,
            ops as f64 / secs,
            live.kinds.load(Relaxed).count_ones(),
            OpKind::ALL.len(),
            live.divergences.load(Relaxed)
        )
    };
    eprintln!(
        "fuzzing for {} s: seed {}, level {}, {} job(s); findings go to {}",
        config.seconds,
        config.seed,
        config.level,
        config.jobs.max(1),
        config.out.display()
    );
    if io::stderr().is_terminal() {
        let bar = ProgressBar::with_draw_target(
            Some(config.seconds.max(1)),
            ProgressDrawTarget::stderr(),
        );
        bar.set_style(
            ProgressStyle::with_template("{elapsed:>4} [{bar:25}] {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        while running.load(Relaxed) > 0 {
            bar.set_position(start.elapsed().as_secs());
            bar.set_message(status());
            std::thread::sleep(Duration::from_millis(100));
        }
        bar.finish_and_clear();
    } else {
        let mut last = Instant::now();
        while running.load(Relaxed) > 0 {
            std::thread::sleep(Duration::from_millis(50));
            if last.elapsed() >= Duration::from_secs(1) {
                last = Instant::now();
                eprintln!("[{:>4} s] {}", start.elapsed().as_secs(), status());
            }
        }
    }
}

/// Writes the three files of a finding under a fresh name.
fn write_finding(config: &Config, index: u64, m: &Minimized) -> io::Result<[PathBuf; 3]> {
    std::fs::create_dir_all(&config.out)?;
    let base = format!("{}-{}-{}", config.level, config.seed, index);
    let d = &m.divergence;
    let mut program = String::new();
    let _ = writeln!(
        program,
        "# found by `delalloc-fuzz fuzz --seed {} --level {}`: program {index} (generator seed {})",
        config.seed,
        config.level,
        config.seed.wrapping_add(index)
    );
    let _ = writeln!(program, "# {}", report::headline(d));
    let _ = writeln!(
        program,
        "# minimized from {} to {} ops",
        m.ops_before, m.ops_after
    );
    program.push_str(&print_program(&m.program));
    let contents = [program, report::text(d), report::json(d) + "\n"];
    write_finding_files(&config.out, &base, &contents)
}

/// Writes a finding's program, report and JSON as `<base>.txt`, `<base>.report.txt` and
/// `<base>.json` in `dir`, or under `<base>-2`, `<base>-3`, ... when a file of that name is
/// there already: nothing a user kept is overwritten.
pub fn write_finding_files(
    dir: &Path,
    base: &str,
    contents: &[String; 3],
) -> io::Result<[PathBuf; 3]> {
    for n in 1u32.. {
        let name = if n == 1 {
            base.to_string()
        } else {
            format!("{base}-{n}")
        };
        let paths = [".txt", ".report.txt", ".json"].map(|ext| dir.join(format!("{name}{ext}")));
        if paths.iter().any(|p| p.exists()) {
            continue;
        }
        match write_new_all(&paths, contents) {
            Ok(()) => return Ok(paths),
            // Someone took the name in between: try the next one.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    unreachable!("u32 names run out")
}

fn write_new_all(paths: &[PathBuf; 3], contents: &[String; 3]) -> io::Result<()> {
    for (p, c) in paths.iter().zip(contents) {
        write_new(p, c)?;
    }
    Ok(())
}

/// Writes a file that must not exist yet.
pub fn write_new(path: &Path, contents: &str) -> io::Result<()> {
    let mut f = OpenOptions::new().write(true).create_new(true).open(path)?;
    f.write_all(contents.as_bytes())
}

/// Writes a file the user named: over an existing one only when `overwrite` (their `--force`).
pub fn write_user_file(path: &Path, contents: &str, overwrite: bool) -> io::Result<()> {
    if overwrite {
        std::fs::write(path, contents)
    } else {
        write_new(path, contents)
    }
}

impl Summary {
    /// Human summary: totals, rates, per-kind counts and outcome shares.
    pub fn text(&self) -> String {
        let st = &self.stats;
        let secs = self.seconds.max(1e-9);
        let mut s = String::new();
        let _ = writeln!(
            s,
            "seed {} level {} jobs {}: {} programs, {} ops in {:.1} s ({:.0} programs/s, {:.0} ops/s), {} divergence(s)",
            self.seed,
            self.level,
            self.jobs,
            st.programs,
            st.ops,
            self.seconds,
            st.programs as f64 / secs,
            st.ops as f64 / secs,
            self.divergences
        );
        let pct = |n: u64| {
            if st.ops == 0 {
                0.0
            } else {
                100.0 * n as f64 / st.ops as f64
            }
        };
        let _ = writeln!(
            s,
            "op kinds ({}/{} seen):",
            st.kinds_seen(),
            OpKind::ALL.len()
        );
        for (k, n) in st.kind_counts() {
            let _ = writeln!(s, "  {:<22}{n:>10}  {:>5.1}%", k.name(), pct(n));
        }
        let _ = writeln!(s, "outcomes:");
        for (name, n) in st.outcome_counts().filter(|&(_, n)| n > 0) {
            let _ = writeln!(s, "  {name:<22}{n:>10}  {:>5.1}%", pct(n));
        }
        let _ = writeln!(s, "programs reaching a WARN path:");
        for (name, n) in st.warn_path_counts() {
            let _ = writeln!(s, "  {name:<22}{n:>10}");
        }
        s
    }
}

/// The report a campaign prints for a finding.
pub fn finding_text(config: &Config, f: &Finding) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "program {} of seed {} (generator seed {}) diverged; minimized from {} to {} ops in {} oracle runs",
        f.index,
        config.seed,
        config.seed.wrapping_add(f.index),
        f.minimized.ops_before,
        f.minimized.ops_after,
        f.minimized.runs
    );
    let _ = writeln!(
        s,
        "wrote {}, {}, {}",
        f.files[0].display(),
        f.files[1].display(),
        f.files[2].display()
    );
    let _ = writeln!(s, "replay: delalloc-fuzz replay {}", f.files[0].display());
    s.push('\n');
    s.push_str(&report::text(&f.minimized.divergence));
    s
}
