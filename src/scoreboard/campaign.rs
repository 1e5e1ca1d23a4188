//! One campaign against one re-introduced bug, as every scoreboard engine runs it: the plan
//! (bugs, runs, limits, engine), the seed of each campaign, how a divergence is confirmed as
//! that bug and shrunk ([`detect`]), and what a campaign and a bug's row record.

use crate::generators::{Dialect, Level};
use crate::libfuzzer::Sanitizer;
use crate::oracles::{
    differential::{blank_indices, Divergence, DivergenceKind},
    stats::Stats,
    Verdict,
};
use crate::shrink::Minimized;
use delalloc_contract::Program;
use delalloc_optimized::bugs::{Bug, BugSet};
use std::path::PathBuf;

/// Runs `program` on the reference and on the optimized model with `bugs` re-introduced (what
/// the fuzz targets run with the same names in `DELALLOC_FUZZ_BUGS`: [`crate::injected::run`]).
pub fn run_with_bugs(program: &Program, bugs: BugSet) -> Verdict<Stats, Divergence> {
    crate::injected::run(program, bugs.into())
}

/// What a campaign against `bug` generates: programs of the bug's era when it lives in one
/// ([`delalloc_optimized::bugs::BugInfo::era`]), else every valid program.
pub fn dialect(bug: Bug) -> Dialect {
    Dialect {
        era: bug.era(),
        ..Dialect::ANY
    }
}

/// [`run_with_bugs`] with `bug` alone, for a program of the bug's era; a program outside it (a
/// shrinking step that put the geometry back in era B) agrees: it is not this campaign's
/// finding.
pub fn run_in_era(program: &Program, bug: Bug) -> Verdict<Stats, Divergence> {
    if dialect(bug).fits(program) {
        run_with_bugs(program, bug.into())
    } else {
        Verdict::Agree(Stats::default())
    }
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
        DivergenceKind::Complained { complaint, .. } => format!("complaint {}", complaint.kind),
    }
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
    /// [`crate::engines::search`]: seeded programs from [`crate::generators`], in this process.
    Builtin,
    /// The cargo-fuzz (libFuzzer) targets of the `fuzz/` crate under `root`, one process per
    /// campaign, the bug chosen through `DELALLOC_FUZZ_BUGS` ([`crate::scoreboard::libfuzzer`]).
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
pub struct Plan {
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
    /// The built-in engine's coverage guidance ([`crate::engines::guidance`]).
    pub guidance: bool,
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
    crate::shrink::minimize_by(
        program,
        move |p: &Program| run_in_era(p, bug),
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
        self.detections().map(|(_, d)| d.minimized.size_after).max()
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
                d.minimized.size_after,
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
}
