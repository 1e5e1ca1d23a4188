//! Engines drive the oracles for a while. The built-in campaign ([`campaign`]) runs seeded
//! programs through any [`Oracle`] on a few threads, stops at the first divergence, shrinks it
//! and writes it out; sequential and concurrent programs share it, the oracle is what differs.
//! [`stress`] runs concurrent programs on real threads. libFuzzer, AFL and bolero drive the
//! same oracles through [`crate::targets`].
//!
//! Program `i` of a campaign with seed `S` is `oracle.generate(G)` for the generator seed
//! `G = `[`program_seed`]`(S, i)` (SplitMix64 over both, [`crate::generators::derived_seed`]), so
//! campaigns with different seeds, adjacent ones included, run unrelated programs, and every
//! finding is reproducible from `(S, i)` whatever the number of jobs: threads take indices from a
//! shared counter, and the lowest diverging index wins. A finding names `S`, `i` and `G`;
//! `oracle.generate(G)` alone regenerates its program. With coverage guidance
//! ([`guidance`], `Config::guidance`) a program may instead be a mutation of an earlier one that
//! reached a new feature: its finding names its lineage, from which [`guidance::regenerate`]
//! rebuilds it, and the same campaign finds it again as program `i` when run with one job (the
//! corpus at index `i` depends on the order programs finish). A finding is written as
//! `<out>/<name>.txt` (the shrunk program, replayable), `<name>.report.txt`, `<name>.json` and,
//! for the divergences that have one, the page `<name>.html` ([`crate::report::page`]), never
//! over a file.

pub mod findings;
pub mod guidance;
pub mod stress;

use crate::generators::Level;
use crate::oracles::{Coverage, Oracle, Verdict};
use crate::report::Report;
use crate::shrink::{driver, Minimized, Shrink};
use delalloc_contract::OpKind;
use findings::write_finding_files;
use guidance::{Corpus, GuidanceSummary, Origin};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use std::fmt::Write as _;
use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long and how wide a campaign runs, and where its finding goes.
#[derive(Clone, Debug)]
pub struct Config {
    /// Time limit.
    pub seconds: u64,
    /// Also stop after this many programs: a deterministic budget, whatever the machine's
    /// speed (tests, the scoreboard). `None`: only the time limit.
    pub max_programs: Option<u64>,
    /// Program `i` is generated from seed [`program_seed`]`(seed, i)`.
    pub seed: u64,
    /// Worker threads.
    pub jobs: usize,
    /// Where a finding is written; `None` keeps it in memory (the scoreboard).
    pub out: Option<PathBuf>,
    /// Show progress on stderr (a bar on a terminal, else a status line every second).
    pub progress: bool,
    /// Coverage guidance ([`guidance`]): keep the programs that reach a new feature and mutate
    /// them beside fresh generation. Ignored for an oracle without features or a mutator.
    pub guidance: bool,
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

/// The generator seed of program `index` of the campaign with seed `campaign`: SplitMix64's
/// output `index + 1` from the state `mix64(campaign)` ([`crate::generators::derived_seed`]), so
/// that two campaign seeds, however close, give independent streams of programs.
pub fn program_seed(campaign: u64, index: u64) -> u64 {
    crate::generators::derived_seed(campaign, index)
}

/// What a campaign did.
#[derive(Clone, Debug, Serialize)]
pub struct Summary<S> {
    /// The campaign seed.
    pub seed: u64,
    /// The oracle's name: the level, or `concurrent`.
    pub label: String,
    /// The generated programs' level, when they have one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level: Option<Level>,
    /// Worker threads.
    pub jobs: usize,
    /// Time to the end of the search (not counting the shrinking).
    pub seconds: f64,
    /// Seconds until the first divergence was seen, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds_to_divergence: Option<f64>,
    /// What the agreeing programs exercised.
    pub stats: S,
    /// Diverging programs seen (workers stop at the first; a few may race it).
    pub divergences: u64,
    /// Stopped by Ctrl-C ([`crate::interrupt`]) before its time or its first divergence.
    pub interrupted: bool,
    /// What coverage guidance did, when the campaign was guided.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guidance: Option<GuidanceSummary>,
}

/// A divergence a campaign found, shrunk (and written out, when the campaign writes).
#[derive(Clone, Debug)]
pub struct Finding<P: Shrink> {
    /// Index of the program in the campaign; its generator seed is
    /// [`program_seed`]`(seed, index)`.
    pub index: u64,
    /// Generated from that seed, or mutated from earlier programs (guidance).
    pub origin: Origin,
    /// The program as generated (or mutated).
    pub original: P,
    /// The shrunk program and its divergence.
    pub minimized: Minimized<P>,
    /// The files written: program, text report, JSON report; `None` when kept in memory.
    pub files: Option<[PathBuf; 3]>,
    /// The page written beside them (`<name>.html`), for divergences that have one.
    pub page: Option<PathBuf>,
    /// When writing them failed: why, and the program file's text (printed instead).
    pub unwritten: Option<Unwritten>,
}

/// A finding the campaign could not write to its `out` folder.
#[derive(Clone, Debug)]
pub struct Unwritten {
    /// The error, naming the folder.
    pub error: String,
    /// What the program file would have held.
    pub program: String,
}

/// How a campaign ended.
#[derive(Clone, Debug)]
pub enum Campaign<P: Shrink, S> {
    /// Time or budget ran out with every program agreeing.
    Clean(Summary<S>),
    /// A program diverged.
    Diverged(Summary<S>, Box<Finding<P>>),
}

/// What [`search`] did: the summary, and the first diverging program with its index, if any.
#[derive(Clone, Debug)]
pub struct Search<P, S> {
    /// The campaign's counts up to the divergence.
    pub summary: Summary<S>,
    /// The lowest diverging index and its program.
    pub found: Option<(u64, P)>,
    /// Where that program came from (always `Generated` in an unguided campaign).
    pub origin: Option<Origin>,
}

/// Counters the workers update and the progress display reads.
#[derive(Default)]
struct Live {
    programs: AtomicU64,
    ops: AtomicU64,
    /// Bit `k` set once `OpKind::ALL[k]` ran.
    kinds: AtomicU32,
    divergences: AtomicU64,
    /// Programs in the guidance corpus.
    corpus: AtomicU64,
}

/// Runs a campaign: [`search`], then a divergence is shrunk (against the same oracle, with
/// its signature as "the same bug") and written out.
pub fn campaign<O>(config: &Config, oracle: &O) -> io::Result<Campaign<O::Program, O::Stats>>
where
    O: Oracle,
    O::Program: Shrink<Divergence = O::Divergence> + Sync,
    O::Divergence: Report,
{
    let Search {
        summary,
        found,
        origin,
    } = search(config, oracle);
    let Some((index, original)) = found else {
        return Ok(Campaign::Clean(summary));
    };
    let origin = origin.unwrap_or(Origin::Generated);
    if config.progress {
        eprintln!(
            "divergence in program {index} ({}); minimizing...",
            provenance(config.seed, index, &origin)
        );
    }
    let minimized = driver::minimize_with(&original, |p| oracle.check(p), O::signature)
        .ok_or_else(|| {
            io::Error::other(format!(
                "{} program {index} diverged once and then agreed: a nondeterministic model?",
                oracle.label()
            ))
        })?;
    let (mut files, mut page, mut unwritten) = (None, None, None);
    if let Some(out) = &config.out {
        // A finding that cannot be written is not lost: the caller prints it.
        match write_finding(out, config, oracle, index, &origin, &minimized) {
            Ok((f, p)) => {
                files = Some(f);
                page = p;
            }
            Err((e, program)) => {
                unwritten = Some(Unwritten {
                    error: format!("writing the finding to {}: {e}", out.display()),
                    program,
                });
            }
        }
    }
    Ok(Campaign::Diverged(
        summary,
        Box::new(Finding {
            index,
            origin,
            original,
            minimized,
            files,
            page,
            unwritten,
        }),
    ))
}

/// Runs generated programs through `oracle` until the first divergence, the time limit or the
/// program budget. The summary's `seconds` is the time to that point (no shrinking).
pub fn search<O: Oracle>(config: &Config, oracle: &O) -> Search<O::Program, O::Stats>
where
    O::Program: Sync,
{
    crate::oracles::panics::quiet_model_panics();
    let start = Instant::now();
    // `--seconds` beyond what an Instant can hold means "until a divergence".
    let deadline = start.checked_add(Duration::from_secs(config.seconds));
    let next = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let running = AtomicUsize::new(config.jobs.max(1));
    let live = Live::default();
    let totals = Mutex::new(O::Stats::default());
    let found: Mutex<Option<Hit<O::Program>>> = Mutex::new(None);
    // An oracle whose runs report no features cannot be guided; this one's can if its empty
    // stats can say so.
    let guided = config.guidance && O::Stats::default().features().is_some();
    let corpus: Option<Mutex<Corpus<O::Program>>> = guided.then(Mutex::default);

    std::thread::scope(|scope| {
        for _ in 0..config.jobs.max(1) {
            scope.spawn(|| {
                // Counts this worker out even if it panics, so that the display loop ends and the
                // scope re-raises the panic.
                let _done = OnDrop(|| {
                    running.fetch_sub(1, Relaxed);
                });
                let mut local = O::Stats::default();
                while !stop.load(Relaxed)
                    && !crate::interrupt::requested()
                    && deadline.is_none_or(|d| Instant::now() < d)
                {
                    let i = next.fetch_add(1, Relaxed);
                    if config.max_programs.is_some_and(|max| i >= max) {
                        break;
                    }
                    let (program, origin) = match &corpus {
                        Some(c) => guidance::next(oracle, c, config.seed, i),
                        None => (
                            oracle.generate(program_seed(config.seed, i)),
                            Origin::Generated,
                        ),
                    };
                    match oracle.check(&program) {
                        Verdict::Agree(s) => {
                            live.programs.fetch_add(1, Relaxed);
                            live.ops.fetch_add(s.ops(), Relaxed);
                            live.kinds.fetch_or(s.kinds_mask(), Relaxed);
                            if let Some(c) = &corpus {
                                if guidance::offer(c, i, &origin, &program, &s) {
                                    live.corpus.fetch_add(1, Relaxed);
                                }
                            }
                            local.merge(&s);
                        }
                        Verdict::Diverged(_) => {
                            live.divergences.fetch_add(1, Relaxed);
                            stop.store(true, Relaxed);
                            let at = start.elapsed().as_secs_f64();
                            let mut f = found.lock().unwrap_or_else(|e| e.into_inner());
                            // Keep the lowest index: the same finding whatever the thread timing.
                            if f.as_ref().is_none_or(|h| i < h.index) {
                                *f = Some(Hit {
                                    index: i,
                                    program,
                                    origin,
                                    at,
                                });
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
            show_progress(config, &oracle.label(), start, &live, &running);
        }
    });

    let found = found.into_inner().unwrap_or_else(|e| e.into_inner());
    let summary = Summary {
        seed: config.seed,
        label: oracle.label(),
        level: oracle.level(),
        jobs: config.jobs.max(1),
        seconds: start.elapsed().as_secs_f64(),
        seconds_to_divergence: found.as_ref().map(|h| h.at),
        stats: totals.into_inner().unwrap_or_else(|e| e.into_inner()),
        divergences: live.divergences.load(Relaxed),
        interrupted: found.is_none() && crate::interrupt::requested(),
        guidance: corpus
            .map(|c| guidance::summary(&c.into_inner().unwrap_or_else(|e| e.into_inner()))),
    };
    let (found, origin) = match found {
        Some(h) => (Some((h.index, h.program)), Some(h.origin)),
        None => (None, None),
    };
    Search {
        summary,
        found,
        origin,
    }
}

/// The lowest diverging program a worker saw: its index, itself, its origin, and the seconds
/// into the campaign.
struct Hit<P> {
    index: u64,
    program: P,
    origin: Origin,
    at: f64,
}

struct OnDrop<F: FnMut()>(F);

impl<F: FnMut()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        (self.0)();
    }
}

/// Updates the display until every worker has stopped.
fn show_progress(config: &Config, label: &str, start: Instant, live: &Live, running: &AtomicUsize) {
    let status = || {
        let secs = start.elapsed().as_secs_f64().max(1e-9);
        let programs = live.programs.load(Relaxed);
        let ops = live.ops.load(Relaxed);
        let corpus = match live.corpus.load(Relaxed) {
            0 => String::new(),
            n => format!("  corpus {n}"),
        };
        format!(
            "programs {programs} ({:.0}/s)  ops {ops} ({:.0}/s)  coverage {}/{} kinds{corpus}  divergences {}",
            programs as f64 / secs,
            ops as f64 / secs,
            live.kinds.load(Relaxed).count_ones(),
            OpKind::ALL.len(),
            live.divergences.load(Relaxed)
        )
    };
    let out = config
        .out
        .as_ref()
        .map_or("memory".to_string(), |o| o.display().to_string());
    eprintln!(
        "fuzzing for {} s: seed {}, {label}, {} job(s), guidance {}; findings go to {out}",
        config.seconds,
        config.seed,
        config.jobs.max(1),
        if config.guidance { "on" } else { "off" },
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

/// Writes the files of a finding under a fresh name in `out`: the program (with a header that
/// says how to find it again), the text report, the JSON report, and the page when the
/// divergence has one (a page that cannot be drawn is said on stderr, and the rest written).
/// The error comes with the program file's text.
fn write_finding<O>(
    out: &Path,
    config: &Config,
    oracle: &O,
    index: u64,
    origin: &Origin,
    m: &Minimized<O::Program>,
) -> Result<([PathBuf; 3], Option<PathBuf>), (io::Error, String)>
where
    O: Oracle,
    O::Program: Shrink<Divergence = O::Divergence>,
    O::Divergence: Report,
{
    let base = format!("{}-{}-{}", oracle.label(), config.seed, index);
    let d = &m.divergence;
    let mut program = String::new();
    let found = format!(
        "found by `{} fuzz --seed {} {}{}`: program {index} ({})",
        crate::RUN,
        config.seed,
        oracle.flags(),
        guidance_flag(config),
        provenance(config.seed, index, origin)
    );
    let _ = writeln!(program, "# {found}");
    if *origin != Origin::Generated {
        let _ = writeln!(
            program,
            "# (a mutant: the same command with --jobs 1 finds it again; with more jobs the \
             corpus it came from depends on timing, and this file is the program)"
        );
    }
    let _ = writeln!(program, "# {}", d.headline());
    let _ = writeln!(
        program,
        "# minimized from {}{}",
        sizes(m),
        interrupted_note(m)
    );
    program.push_str(&O::print_file(&m.program, &oracle.run_line()));
    let json = serde_json::to_string_pretty(&d.json_value())
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    let contents = [program, d.text(), json + "\n"];
    let page = match d.html(&format!(
        "{found}; its program is the .txt file beside this page"
    )) {
        Some(Ok(page)) => Some(page),
        Some(Err(e)) => {
            eprintln!("note: no page for this finding: {e}");
            None
        }
        None => None,
    };
    std::fs::create_dir_all(out)
        .and_then(|()| write_finding_files(out, &base, &contents, page.as_deref()))
        .map_err(|e| {
            let [program, ..] = contents;
            (e, program)
        })
}

/// ` --guidance on` when the campaign was guided (off, the default, adds nothing: an unguided
/// program's generator seed regenerates it whatever the flags).
fn guidance_flag(config: &Config) -> &'static str {
    if config.guidance {
        " --guidance on"
    } else {
        ""
    }
}

/// `generator seed G`, or a mutant's lineage: how program `index` of campaign `seed` came to be.
pub fn provenance(seed: u64, index: u64, origin: &Origin) -> String {
    match origin {
        Origin::Generated => format!("generator seed {}", program_seed(seed, index)),
        Origin::Mutated { lineage } => format!(
            "a mutant: {}, the first from generator seed {}",
            origin.describe(index),
            program_seed(seed, lineage.last().copied().unwrap_or(index))
        ),
    }
}

/// After a shrink's sizes: that Ctrl-C cut it short, if it did.
fn interrupted_note<P: Shrink>(m: &Minimized<P>) -> &'static str {
    if m.interrupted {
        " (minimizing interrupted by Ctrl-C: not minimal)"
    } else {
        ""
    }
}

/// `12 to 3 ops`: a shrink's sizes before and after, in the program kind's units.
fn sizes<P: Shrink>(m: &Minimized<P>) -> String {
    format!(
        "{:?} to {:?} {}",
        m.size_before,
        m.size_after,
        P::SIZE_UNITS
    )
}

impl<S: Coverage> Summary<S> {
    /// Human summary: totals and rates, then what the oracle's stats say.
    pub fn text(&self) -> String {
        let st = &self.stats;
        let secs = self.seconds.max(1e-9);
        let what = match self.level {
            Some(level) => format!("level {level}"),
            None => self.label.clone(),
        };
        let mut s = String::new();
        let _ = writeln!(
            s,
            "seed {} {what} jobs {}: {} programs, {} ops in {:.1} s ({:.0} programs/s, {:.0} ops/s), {} divergence(s){}",
            self.seed,
            self.jobs,
            st.programs(),
            st.ops(),
            self.seconds,
            st.programs() as f64 / secs,
            st.ops() as f64 / secs,
            self.divergences,
            if self.interrupted {
                format!("; {}", crate::interrupt::NOTE)
            } else {
                String::new()
            }
        );
        s.push_str(&st.text());
        if let Some(g) = &self.guidance {
            let _ = writeln!(
                s,
                "guidance: {} of {} programs mutated from a corpus of {} that reached {} features",
                g.mutated,
                st.programs(),
                g.corpus,
                g.features
            );
        }
        if let Some(t) = self.seconds_to_divergence {
            let _ = writeln!(s, "first divergence after {t:.2} s");
        }
        s
    }
}

/// The report a campaign prints for a finding: where it came from, how far it shrank, where
/// it was written, how to replay it, then the divergence's report.
pub fn finding_text<P>(config: &Config, f: &Finding<P>) -> String
where
    P: Shrink,
    P::Divergence: Report,
{
    let mut s = String::new();
    let _ = writeln!(
        s,
        "program {} of seed {} ({}) diverged; minimized from {} in {} oracle runs{}",
        f.index,
        config.seed,
        provenance(config.seed, f.index, &f.origin),
        sizes(&f.minimized),
        f.minimized.runs,
        interrupted_note(&f.minimized)
    );
    if let Some([program, report, json]) = &f.files {
        let _ = writeln!(
            s,
            "wrote {}, {}, {}",
            program.display(),
            report.display(),
            json.display()
        );
        if let Some(page) = &f.page {
            let _ = writeln!(s, "page: {} (open it in a browser)", page.display());
        }
        let _ = writeln!(s, "replay: {} replay {}", crate::RUN, program.display());
    }
    if let Some(u) = &f.unwritten {
        let _ = writeln!(
            s,
            "error: {}; the program follows instead, with its report after it:\n",
            u.error
        );
        s.push_str(&u.program);
    }
    s.push('\n');
    s.push_str(&f.minimized.divergence.text());
    s
}
