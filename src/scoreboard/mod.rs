//! The bug-finding scoreboard: how fast an engine finds each historical bug the optimized
//! model can re-introduce ([`delalloc_optimized::bugs`]).
//!
//! For each bug, `runs` independent campaigns, each from its own seed derived from one printed
//! base seed ([`campaign_seed`]), run the oracle against `Optimized::with_bugs` with that bug
//! alone, until the first divergence or the time limit; a divergence is then minimized against
//! the same buggy model ([`detect`]). The campaigns are the built-in engine's
//! ([`crate::engines::builtin::search`], in this process) or, with [`Engine::Libfuzzer`], one cargo-fuzz target
//! process each ([`mutants_libfuzzer`]). A [`Row`] says how many campaigns found the bug, the
//! median and longest time to detection, the median number of programs (libFuzzer: executions)
//! it took, the longest minimized reproducer and the first field the oracle reported (and
//! whether it is the one the bug is expected to change).
//!
//! Race bugs are not run: no sequential program can see them (tests/all/mutants.rs checks that), so
//! their rows say they need the concurrent mode and they count neither as found nor as missed.
//!
//! The reproducers kept under `corpus/regressions/mutants/` start with a machine-readable header
//! ([`reproducer_text`], [`ReproducerHeader`]) naming the bug and the field it must diverge on.

pub mod injected;
pub mod libfuzzer;
pub mod races;

use crate::engines::builtin::Search;
use crate::generators::Level;
use crate::libfuzzer::Sanitizer;
use crate::oracles::differential::{Divergence, DivergenceKind, Verdict};
use crate::report;
use crate::shrink::Minimized;
use delalloc_contract::text::print_program;
use delalloc_contract::Program;
use delalloc_optimized::bugs::{Bug, BugSet};
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::path::PathBuf;

/// Runs `program` on the reference and on the optimized model with `bugs` re-introduced (what
/// the fuzz targets run with the same names in `DELALLOC_FUZZ_BUGS`: [`crate::scoreboard::injected::run`]).
pub fn run_with_bugs(program: &Program, bugs: BugSet) -> Verdict {
    injected::run(program, bugs.into())
}

/// The first thing the oracle reported as different, in the form of
/// [`delalloc_optimized::bugs::BugInfo::expected_fields`]: `outcome` when the op's answers differ,
/// else the first differing snapshot field with indices blanked (`inodes[].csum_bytes`);
/// `invariant <name>` or `panic` for the other kinds.
pub fn first_field(d: &Divergence) -> String {
    match &d.kind {
        DivergenceKind::OutcomeDiffers { .. } => "outcome".into(),
        DivergenceKind::StateDiffers => d
            .fields
            .first()
            .map_or_else(|| "state".into(), |f| blank_indices(&f.field)),
        DivergenceKind::InvariantBroken { invariant, .. } => format!("invariant {invariant}"),
        DivergenceKind::Panicked { .. } => "panic".into(),
    }
}

/// `inodes[1].x` -> `inodes[].x`.
fn blank_indices(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut inside = false;
    for c in field.chars() {
        match c {
            '[' => inside = true,
            ']' => inside = false,
            _ if inside => continue,
            _ => {}
        }
        out.push(c);
    }
    out
}

/// Whether `candidate` shows the same bug as `first`, for a model with only `bug` injected:
/// any divergence in one of the bug's expected fields is that bug (the correct model agrees
/// on every program), so the minimizer may trade, say, `delalloc_rsv.size` for
/// `delalloc_rsv.reserved` when that makes the program shorter. A divergence elsewhere keeps
/// the strict signature.
pub fn same_bug(bug: Bug, first: &Divergence, candidate: &Divergence) -> bool {
    if bug.expects(&first_field(first)) {
        bug.expects(&first_field(candidate))
    } else {
        first.signature() == candidate.signature()
    }
}

/// Which fuzz engine runs the campaigns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Engine {
    /// [`crate::engines::builtin::search`]: seeded programs from [`crate::generators`], in this process.
    Builtin,
    /// The cargo-fuzz (libFuzzer) targets of the `fuzz/` crate under `root`, one process per
    /// campaign, the bug chosen through `DELALLOC_FUZZ_BUGS` ([`mutants_libfuzzer`]).
    Libfuzzer {
        /// The repository root: `fuzz/`, `corpus/<target>/`, `oss-fuzz/<target>.options`.
        root: PathBuf,
        sanitizer: Sanitizer,
    },
}

impl Engine {
    pub fn name(&self) -> &'static str {
        match self {
            Engine::Builtin => "builtin",
            Engine::Libfuzzer { .. } => "libfuzzer",
        }
    }
}

/// What a scoreboard runs.
#[derive(Clone, Debug)]
pub struct Config {
    /// Time limit of each campaign.
    pub seconds_per_bug: u64,
    /// Program budget of each campaign (`None`: time only). Deterministic; for tests.
    pub max_programs: Option<u64>,
    /// Campaigns per bug.
    pub runs: u32,
    /// Every campaign's seed derives from this one ([`campaign_seed`]).
    pub base_seed: u64,
    /// Threads per campaign (the built-in engine's; a libFuzzer campaign is one process).
    pub jobs: usize,
    pub engine: Engine,
    /// The bugs to score, in this order.
    pub bugs: Vec<Bug>,
}

/// Programs of a scoreboard campaign: every op kind, as `delalloc-fuzz fuzz` runs by default.
pub const LEVEL: Level = Level::Mixed;

/// The seed of campaign `run` for `bug`: a function of the base seed, the bug's name (so that a
/// bug's campaigns do not change when others are added) and the run (splitmix64 finalizer).
pub fn campaign_seed(base: u64, bug: Bug, run: u32) -> u64 {
    // FNV-1a of the name.
    let name = bug.name().bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    let mut z = base ^ name ^ u64::from(run).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Minimizes `program`, a divergence a campaign against `bug` found as its `index`th program,
/// against the same buggy model, keeping the divergence one of the bug's ([`same_bug`]). `None`
/// if the program does not diverge with the bug.
pub fn detect(bug: Bug, index: u64, program: &Program) -> Option<Detection> {
    let bugs = BugSet::from(bug);
    crate::shrink::minimize_by(
        program,
        move |p: &Program| run_with_bugs(p, bugs),
        |first, candidate| same_bug(bug, first, candidate),
    )
    .map(|minimized| Detection { index, minimized })
}

/// A campaign that found its bug.
#[derive(Clone, Debug)]
pub struct Detection {
    /// Index of the diverging program in the campaign (libFuzzer: of the execution, from 0).
    pub index: u64,
    pub minimized: Minimized,
}

impl Detection {
    pub fn field(&self) -> String {
        first_field(&self.minimized.divergence)
    }
}

/// One campaign against one bug.
#[derive(Clone, Debug)]
pub struct CampaignResult {
    pub seed: u64,
    /// Wall time until the divergence (or the limit), minimization excluded. libFuzzer: from
    /// the start of the process to its exit at the crash (seed corpus loading included).
    pub seconds: f64,
    /// Programs generated up to and including the diverging one (all of them if none diverged);
    /// libFuzzer: its executions (`stat::number_of_executed_units`).
    pub programs: u64,
    pub detection: Option<Detection>,
    /// Why a campaign that stopped on something found nothing (a crash that is not the bug, a
    /// run that failed), with where its output was kept.
    pub note: Option<String>,
}

/// A bug's line of the scoreboard.
#[derive(Clone, Debug)]
pub struct Row {
    pub bug: Bug,
    /// Empty for a race bug (not run).
    pub campaigns: Vec<CampaignResult>,
}

impl Row {
    pub fn found(&self) -> usize {
        self.detections().count()
    }

    fn detections(&self) -> impl Iterator<Item = (&CampaignResult, &Detection)> {
        self.campaigns
            .iter()
            .filter_map(|c| c.detection.as_ref().map(|d| (c, d)))
    }

    /// A non-race bug that some campaign did not find.
    pub fn missed(&self) -> bool {
        !self.bug.is_race() && self.found() < self.campaigns.len()
    }

    /// Median and maximum seconds to detection over the campaigns that found the bug.
    pub fn detection_seconds(&self) -> Option<(f64, f64)> {
        let mut t: Vec<f64> = self.detections().map(|(c, _)| c.seconds).collect();
        t.sort_by(f64::total_cmp);
        Some((median_f64(&t)?, *t.last()?))
    }

    /// Median programs to detection over the campaigns that found the bug.
    pub fn median_programs(&self) -> Option<u64> {
        let mut p: Vec<u64> = self.detections().map(|(c, _)| c.programs).collect();
        p.sort_unstable();
        let n = p.len();
        (n > 0).then(|| {
            if n % 2 == 1 {
                p[n / 2]
            } else {
                (p[n / 2 - 1] + p[n / 2]) / 2
            }
        })
    }

    /// The longest minimized reproducer, in ops.
    pub fn reproducer_ops(&self) -> Option<usize> {
        self.detections().map(|(_, d)| d.minimized.ops_after).max()
    }

    /// The first field most campaigns reported, and how many campaigns reported one of the
    /// bug's expected fields.
    pub fn field(&self) -> Option<(String, usize)> {
        let fields: Vec<String> = self.detections().map(|(_, d)| d.field()).collect();
        let most = fields
            .iter()
            .max_by_key(|f| fields.iter().filter(|g| g == f).count())?
            .clone();
        Some((most, fields.iter().filter(|f| self.bug.expects(f)).count()))
    }

    /// The shortest reproducer diverging on an expected field (else the shortest of all).
    pub fn best_reproducer(&self) -> Option<(&CampaignResult, &Detection)> {
        self.detections().min_by_key(|(_, d)| {
            (
                !self.bug.expects(&d.field()),
                d.minimized.ops_after,
                d.index,
            )
        })
    }
}

/// The median of sorted values (the mean of the middle two for an even count), if any.
pub(crate) fn median_f64(sorted: &[f64]) -> Option<f64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

/// The built-in engine's campaigns against one bug (none for a race bug).
fn builtin_row(config: &Config, bug: Bug) -> Row {
    if bug.is_race() {
        return Row {
            bug,
            campaigns: Vec::new(),
        };
    }
    let bugs = BugSet::from(bug);
    let run = move |p: &Program| run_with_bugs(p, bugs);
    let campaigns = (0..config.runs)
        .map(|r| {
            let seed = campaign_seed(config.base_seed, bug, r);
            let engine_config = crate::engines::builtin::Config {
                seconds: config.seconds_per_bug,
                max_programs: config.max_programs,
                seed,
                jobs: config.jobs,
                level: LEVEL,
                out: PathBuf::new(),
                progress: false,
            };
            let Search { summary, found } = crate::engines::builtin::search(&engine_config, &run);
            let programs = found
                .as_ref()
                .map_or(summary.stats.programs, |&(index, _)| index + 1);
            let detection = found.and_then(|(index, program)| detect(bug, index, &program));
            CampaignResult {
                seed,
                seconds: summary.seconds,
                programs,
                detection,
                note: None,
            }
        })
        .collect();
    Row { bug, campaigns }
}

/// The scoreboard of every bug of `config`, calling `each` as a row is done. `Err` when the
/// engine cannot run (libFuzzer: no `fuzz/` crate, no cargo-fuzz, a failed build), with what to
/// do about it.
pub fn scoreboard(config: &Config, mut each: impl FnMut(&Row)) -> Result<Scoreboard, String> {
    let built = match &config.engine {
        Engine::Builtin => None,
        Engine::Libfuzzer { root, sanitizer } => Some(libfuzzer::build(root, *sanitizer)?),
    };
    let mut rows = Vec::with_capacity(config.bugs.len());
    for &bug in &config.bugs {
        let row = match &built {
            None => builtin_row(config, bug),
            Some(built) => libfuzzer::row(config, built, bug)?,
        };
        each(&row);
        rows.push(row);
    }
    Ok(Scoreboard {
        config: config.clone(),
        rows,
    })
}

/// Every row of a run, with the configuration that produced it.
#[derive(Clone, Debug)]
pub struct Scoreboard {
    pub config: Config,
    pub rows: Vec<Row>,
}

const RACE_NOTE: &str = "race: needs --concurrent, not counted";

impl Scoreboard {
    /// Non-race bugs some campaign missed.
    pub fn missed(&self) -> Vec<Bug> {
        self.rows
            .iter()
            .filter(|r| r.missed())
            .map(|r| r.bug)
            .collect()
    }

    /// The table, then one line of totals naming the engine, the bugs missed and the notes of
    /// campaigns that stopped on something else than their bug.
    pub fn text(&self) -> String {
        let libfuzzer = matches!(self.config.engine, Engine::Libfuzzer { .. });
        let mut header = vec!["bug"];
        if libfuzzer {
            header.push("target");
        }
        header.extend([
            "found",
            "median s",
            "max s",
            if libfuzzer {
                "median execs"
            } else {
                "median programs"
            },
            "repro ops",
            "first field",
        ]);
        // Text columns left, numbers right.
        let left: Vec<bool> = header
            .iter()
            .map(|h| matches!(*h, "bug" | "target" | "first field"))
            .collect();
        let mut lines: Vec<Vec<String>> = Vec::new();
        for row in &self.rows {
            let mut cells = vec![row.bug.name().to_string()];
            if row.bug.is_race() {
                cells.push(RACE_NOTE.into());
                lines.push(cells);
                continue;
            }
            if libfuzzer {
                cells.push(libfuzzer::target(row.bug).0.to_string());
            }
            let (median, max) = match row.detection_seconds() {
                Some((m, x)) => (format!("{m:.3}"), format!("{x:.3}")),
                None => ("-".into(), "-".into()),
            };
            let field = match row.field() {
                Some((f, n)) => format!("{f} ({n}/{} expected)", row.found()),
                None => "-".into(),
            };
            cells.extend([
                format!("{}/{}", row.found(), row.campaigns.len()),
                median,
                max,
                row.median_programs().map_or("-".into(), |p| p.to_string()),
                row.reproducer_ops().map_or("-".into(), |n| n.to_string()),
                field,
            ]);
            lines.push(cells);
        }
        let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
        for l in lines.iter().filter(|l| l.len() == header.len()) {
            for (w, cell) in widths.iter_mut().zip(l) {
                *w = (*w).max(cell.len());
            }
        }
        let mut s = String::new();
        let render = |s: &mut String, cells: &[String]| {
            let mut line = String::new();
            for (i, cell) in cells.iter().enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                // A race row's note runs on from the second column.
                let w = if cells.len() == 2 && i == 1 {
                    0
                } else {
                    widths[i]
                };
                if left[i] || cells.len() == 2 {
                    let _ = write!(line, "{cell:<w$}");
                } else {
                    let _ = write!(line, "{cell:>w$}");
                }
            }
            s.push_str(line.trim_end());
            s.push('\n');
        };
        render(
            &mut s,
            &header.iter().map(|h| h.to_string()).collect::<Vec<_>>(),
        );
        for l in &lines {
            render(&mut s, l);
        }
        let counted: Vec<&Row> = self.rows.iter().filter(|r| !r.bug.is_race()).collect();
        let all = counted
            .iter()
            .filter(|r| r.found() == r.campaigns.len())
            .count();
        let races = self.rows.len() - counted.len();
        let budget = match (&self.config.engine, self.config.max_programs) {
            (Engine::Builtin, Some(p)) => format!(" or {p} programs"),
            (Engine::Libfuzzer { .. }, Some(p)) => format!(" or {p} execs"),
            (_, None) => String::new(),
        };
        let engine = match &self.config.engine {
            Engine::Builtin => format!(
                "builtin engine, {} job(s)",
                self.config.jobs
            ),
            Engine::Libfuzzer { sanitizer, .. } => format!(
                "libfuzzer engine: cargo-fuzz targets, -s {}, one process per campaign from the seed corpus",
                sanitizer.flag()
            ),
        };
        let _ = writeln!(
            s,
            "{all} of {} non-race bugs found in every campaign ({engine}; {} campaign(s) each, {} s{budget} limit, base seed {}); {races} race bug(s) not counted",
            counted.len(),
            self.config.runs,
            self.config.seconds_per_bug,
            self.config.base_seed,
        );
        let missed = self.missed();
        if !missed.is_empty() {
            let names: Vec<&str> = missed.iter().map(|b| b.name()).collect();
            let _ = writeln!(s, "missed: {}", names.join(", "));
        }
        for row in &self.rows {
            for (r, c) in row.campaigns.iter().enumerate() {
                if let Some(note) = &c.note {
                    let _ = writeln!(s, "note: {} campaign {r}: {note}", row.bug.name());
                }
            }
        }
        s
    }

    /// The same content as [`Scoreboard::text`], per campaign as well.
    pub fn json(&self) -> Value {
        let libfuzzer = matches!(self.config.engine, Engine::Libfuzzer { .. });
        let rows: Vec<Value> = self
            .rows
            .iter()
            .map(|row| {
                let b = row.bug;
                let (median, max) = row.detection_seconds().unzip();
                let field = row.field();
                json!({
                    "bug": b.name(),
                    "description": b.description(),
                    "commit": b.commit(),
                    "race": b.is_race(),
                    "note": b.is_race().then_some(RACE_NOTE),
                    "target": libfuzzer.then(|| libfuzzer::target(b).0),
                    "found": row.found(),
                    "runs": row.campaigns.len(),
                    "missed": row.missed(),
                    "median_seconds": median,
                    "max_seconds": max,
                    "median_programs": row.median_programs(),
                    "reproducer_ops": row.reproducer_ops(),
                    "expected_fields": b.expected_fields(),
                    "first_field": field.as_ref().map(|(f, _)| f),
                    "as_expected": field.as_ref().map(|(_, n)| n),
                    "reproducer": row.best_reproducer().map(|(c, d)| reproducer_text(b, &self.config, c, d)),
                    "campaigns": row.campaigns.iter().map(|c| json!({
                        "seed": c.seed,
                        "libfuzzer_seed": libfuzzer.then(|| libfuzzer::libfuzzer_seed(c.seed)),
                        "found": c.detection.is_some(),
                        "seconds": c.seconds,
                        "programs": c.programs,
                        "index": c.detection.as_ref().map(|d| d.index),
                        "ops_before": c.detection.as_ref().map(|d| d.minimized.ops_before),
                        "ops_after": c.detection.as_ref().map(|d| d.minimized.ops_after),
                        "first_field": c.detection.as_ref().map(Detection::field),
                        "note": c.note,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        let sanitizer = match &self.config.engine {
            Engine::Builtin => None,
            Engine::Libfuzzer { sanitizer, .. } => Some(sanitizer.flag()),
        };
        json!({
            "engine": self.config.engine.name(),
            "sanitizer": sanitizer,
            "level": (!libfuzzer).then(|| LEVEL.name()),
            "base_seed": self.config.base_seed,
            "seconds_per_bug": self.config.seconds_per_bug,
            "programs_per_bug": self.config.max_programs,
            "runs": self.config.runs,
            "jobs": if libfuzzer { 1 } else { self.config.jobs },
            "missed": self.missed().iter().map(|b| b.name()).collect::<Vec<_>>(),
            "rows": rows,
        })
    }
}

/// Checks, before any campaign runs, that [`write_reproducers`] could write the reproducers of
/// `bugs` under `dir`: a directory (or nothing yet) without any of their files.
pub fn check_reproducer_dir(dir: &std::path::Path, bugs: &[Bug]) -> Result<(), String> {
    if dir.exists() && !dir.is_dir() {
        return Err(format!("{}: exists and is not a directory", dir.display()));
    }
    for bug in bugs.iter().filter(|b| !b.is_race()) {
        let path = dir.join(format!("{}.txt", bug.name()));
        if path.exists() {
            return Err(format!(
                "{} already exists (reproducers are never overwritten)",
                path.display()
            ));
        }
    }
    Ok(())
}

/// Writes each row's best reproducer as `dir/<bug>.txt` ([`reproducer_text`]), never over an
/// existing file. Returns the files written.
pub fn write_reproducers(
    board: &Scoreboard,
    dir: &std::path::Path,
) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    for row in &board.rows {
        if let Some((c, d)) = row.best_reproducer() {
            let path = dir.join(format!("{}.txt", row.bug.name()));
            crate::engines::builtin::write_new(
                &path,
                &reproducer_text(row.bug, &board.config, c, d),
            )
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
            written.push(path);
        }
    }
    Ok(written)
}

/// A reproducer file: the header [`ReproducerHeader::parse`] reads, where it came from, then the
/// minimized program.
pub fn reproducer_text(bug: Bug, config: &Config, c: &CampaignResult, d: &Detection) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# bug: {}", bug.name());
    let _ = writeln!(s, "# expect: {}", d.field());
    let _ = writeln!(s, "# {}", bug.description());
    let _ = writeln!(s, "# commit: {}", bug.commit());
    let (engine, source) = match &config.engine {
        Engine::Builtin => (String::new(), format!("program {}", d.index)),
        Engine::Libfuzzer { sanitizer, .. } => (
            " --engine libfuzzer".to_string(),
            format!(
                "{} -s {} -seed={}, execution {}",
                libfuzzer::target(bug).0,
                sanitizer.flag(),
                libfuzzer::libfuzzer_seed(c.seed),
                d.index
            ),
        ),
    };
    let _ = writeln!(
        s,
        "# found by `delalloc-fuzz mutants{engine} --bug {} --seed {}`: campaign seed {}, {source}, minimized from {} to {} ops",
        bug.name(),
        config.base_seed,
        c.seed,
        d.minimized.ops_before,
        d.minimized.ops_after
    );
    let _ = writeln!(s, "# {}", report::headline(&d.minimized.divergence));
    s.push_str(&print_program(&d.minimized.program));
    s
}

/// The machine-readable part of a reproducer's comments: `# bug: <name>` and
/// `# expect: <field>`, each once, before the first op.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReproducerHeader {
    pub bug: Bug,
    pub expect: String,
}

impl ReproducerHeader {
    pub fn parse(text: &str) -> Result<ReproducerHeader, String> {
        let (mut bug, mut expect) = (None, None);
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            let Some(comment) = line.strip_prefix('#') else {
                if line.is_empty() {
                    continue;
                }
                break;
            };
            let comment = comment.trim();
            let (slot, value) = if let Some(v) = comment.strip_prefix("bug:") {
                (&mut bug, v.trim())
            } else if let Some(v) = comment.strip_prefix("expect:") {
                (&mut expect, v.trim())
            } else {
                continue;
            };
            if slot.is_some() {
                return Err(format!(
                    "line {}: a second `{}`",
                    n + 1,
                    &comment[..comment.find(':').unwrap_or(0) + 1]
                ));
            }
            *slot = Some(value.to_string());
        }
        let bug = bug.ok_or("no `# bug: <name>` line before the first op")?;
        let bug = bug.parse::<Bug>().map_err(|e| e.to_string())?;
        let expect = expect.ok_or("no `# expect: <field>` line before the first op")?;
        if expect.is_empty() {
            return Err("`# expect:` names no field".into());
        }
        Ok(ReproducerHeader { bug, expect })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_are_blanked() {
        assert_eq!(blank_indices("inodes[12].records"), "inodes[].records");
        assert_eq!(blank_indices("meta.bytes_may_use"), "meta.bytes_may_use");
    }

    #[test]
    fn campaign_seeds_differ_by_bug_and_run_and_follow_the_base() {
        let a = campaign_seed(1, Bug::MergeHookEraA, 0);
        assert_ne!(a, campaign_seed(1, Bug::MergeHookEraA, 1));
        assert_ne!(a, campaign_seed(1, Bug::SplitHookEraA, 0));
        assert_ne!(a, campaign_seed(2, Bug::MergeHookEraA, 0));
        assert_eq!(a, campaign_seed(1, Bug::MergeHookEraA, 0));
    }

    #[test]
    fn headers_parse_and_bad_ones_are_explained() {
        let ok = "# bug: merge-hook-era-a\n#expect: inodes[].outstanding_extents\n# more\ncommit\n";
        assert_eq!(
            ReproducerHeader::parse(ok),
            Ok(ReproducerHeader {
                bug: Bug::MergeHookEraA,
                expect: "inodes[].outstanding_extents".into()
            })
        );
        let e = ReproducerHeader::parse("# bug: nope\n# expect: x\n").unwrap_err();
        assert!(e.starts_with("unknown bug `nope`; valid bugs: "), "{e}");
        let e = ReproducerHeader::parse("commit\n# bug: merge-hook-era-a\n").unwrap_err();
        assert!(e.contains("no `# bug: <name>` line"), "{e}");
        let e = ReproducerHeader::parse("# bug: merge-hook-era-a\ncommit\n").unwrap_err();
        assert!(e.contains("no `# expect: <field>` line"), "{e}");
        let e = ReproducerHeader::parse("# bug: a\n# bug: b\n").unwrap_err();
        assert!(e.contains("line 2: a second `bug:`"), "{e}");
    }
}
