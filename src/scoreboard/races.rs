//! The scoreboard's race rows (`delalloc-fuzz mutants --concurrent`): the bugs no sequential
//! program can see ([`Bug::is_race`]), each hunted by `runs` campaigns of the concurrent engine
//! ([`crate::engines::campaign`] with the [`crate::oracles::linearizable::Linearizable`] oracle) with that bug alone re-introduced, until the first rejected run or
//! the time limit. Each campaign's seed is [`crate::scoreboard::campaign_seed`]'s, so the rows repeat from
//! the printed base seed like the sequential ones.

use crate::engines::{self, Campaign};
use crate::oracles::linearizable::Linearizable;
use crate::report::Report;
use crate::scoreboard::campaign::{campaign_seed, median_f64};
use delalloc_contract::concurrent_text::print_concurrent_program;
use delalloc_optimized::bugs::Bug;
use serde::Serialize;
use serde_json::{json, Value};
use std::fmt::Write as _;

/// One concurrent campaign against one race bug.
#[derive(Clone, Debug, Serialize)]
pub struct RaceCampaign {
    pub seed: u64,
    /// Seconds to the first rejected run (or the whole campaign when none), minimizing excluded.
    pub seconds: f64,
    pub programs: u64,
    /// The minimized reproducer and the oracle's verdict on it, if found.
    pub reproducer: Option<String>,
    pub verdict: Option<String>,
    /// Task ops, setup ops and schedule bytes of the minimized reproducer.
    pub size: Option<(usize, usize, usize)>,
}

#[derive(Clone, Debug)]
pub struct RaceRow {
    pub bug: Bug,
    pub campaigns: Vec<RaceCampaign>,
}

impl RaceRow {
    /// The campaigns that found the bug.
    fn detections(&self) -> impl Iterator<Item = &RaceCampaign> + '_ {
        self.campaigns.iter().filter(|c| c.reproducer.is_some())
    }

    pub fn found(&self) -> usize {
        self.detections().count()
    }

    /// Median and longest seconds to detection over the campaigns that found it.
    pub fn detection_seconds(&self) -> Option<(f64, f64)> {
        let mut t: Vec<f64> = self.detections().map(|c| c.seconds).collect();
        t.sort_by(f64::total_cmp);
        Some((median_f64(&t)?, *t.last()?))
    }
}

/// Runs the race rows: `runs` campaigns of `seconds` (or `max_programs`) per bug. After Ctrl-C
/// the rows so far, the last with the campaigns that ran to their end (none: no row).
pub fn score(
    bugs: &[Bug],
    runs: u32,
    seconds: u64,
    max_programs: Option<u64>,
    base_seed: u64,
    jobs: usize,
    mut each: impl FnMut(&RaceRow),
) -> std::io::Result<Vec<RaceRow>> {
    let mut rows = Vec::new();
    for &bug in bugs.iter().filter(|b| b.is_race()) {
        let shuttle_bug = delalloc_optimized_shuttle::bugs::Bug::from_name(bug.name())
            .expect("the two builds have the same bugs");
        let mut campaigns = Vec::new();
        for r in 0..runs {
            if crate::interrupt::requested() {
                break;
            }
            let seed = campaign_seed(base_seed, bug, r);
            let config = engines::Config {
                seconds,
                max_programs,
                seed,
                jobs,
                out: None,
                progress: false,
                // Concurrent programs have no features or mutator.
                guidance: false,
            };
            let oracle = Linearizable {
                bugs: shuttle_bug.into(),
            };
            campaigns.push(match engines::campaign(&config, &oracle)? {
                // Stopped by Ctrl-C before its time: neither found nor missed.
                Campaign::Clean(s) if s.interrupted => break,
                Campaign::Clean(s) => RaceCampaign {
                    seed,
                    seconds: s.seconds,
                    programs: s.stats.programs,
                    reproducer: None,
                    verdict: None,
                    size: None,
                },
                Campaign::Diverged(s, f) => RaceCampaign {
                    seed,
                    seconds: s.seconds_to_divergence.unwrap_or(s.seconds),
                    programs: f.index + 1,
                    reproducer: Some(print_concurrent_program(&f.minimized.program)),
                    verdict: Some(f.minimized.divergence.headline()),
                    size: Some(f.minimized.size_after),
                },
            });
        }
        if campaigns.is_empty() && crate::interrupt::requested() {
            break;
        }
        let row = RaceRow { bug, campaigns };
        each(&row);
        rows.push(row);
    }
    Ok(rows)
}

/// How wide the verdict column is before it wraps (at a space, never inside a word).
const VERDICT_WIDTH: usize = 60;

/// The race rows as a table and a totals line. A long first verdict wraps onto lines of its
/// own under its column, at spaces: nothing is cut.
pub fn text(rows: &[RaceRow], runs: u32, seconds: u64) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "race bugs, concurrent mode ({runs} campaign(s) each, {seconds} s limit):"
    );
    let head = format!(
        "  {:<28}  {:>5}  {:>8}  {:>8}  {:>8}  {:<23}  ",
        "bug", "found", "median s", "max s", "programs", "repro (ops,setup,sched)"
    );
    let indent = " ".repeat(head.chars().count());
    let _ = writeln!(s, "{head}first verdict");
    for row in rows {
        let (median, max) = row
            .detection_seconds()
            .map_or(("-".into(), "-".into()), |(m, x)| {
                (format!("{m:.3}"), format!("{x:.3}"))
            });
        let mut programs: Vec<u64> = row.detections().map(|c| c.programs).collect();
        programs.sort_unstable();
        let median_programs = programs
            .get(programs.len() / 2)
            .map_or("-".into(), u64::to_string);
        let size = row
            .campaigns
            .iter()
            .filter_map(|c| c.size)
            .max()
            .map_or("-".into(), |(a, b, c)| format!("{a},{b},{c}"));
        let verdict = row
            .campaigns
            .iter()
            .find_map(|c| c.verdict.clone())
            .unwrap_or_else(|| "-".into());
        let mut lines = wrap_words(&verdict, VERDICT_WIDTH).into_iter();
        let _ = writeln!(
            s,
            "  {:<28}  {:>5}  {median:>8}  {max:>8}  {median_programs:>8}  {size:<23}  {}",
            row.bug.name(),
            format!("{}/{}", row.found(), row.campaigns.len()),
            lines.next().unwrap_or_default()
        );
        for line in lines {
            let _ = writeln!(s, "{indent}{line}");
        }
    }
    let all = rows
        .iter()
        .filter(|r| r.found() == r.campaigns.len())
        .count();
    let _ = writeln!(
        s,
        "{all} of {} race bugs found in every concurrent campaign",
        rows.len()
    );
    s
}

/// `text` in lines of at most `width` characters, broken at spaces; a word longer than `width`
/// gets a line of its own, whole.
fn wrap_words(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

pub fn json(rows: &[RaceRow]) -> Value {
    Value::Array(
        rows.iter()
            .map(|r| {
                let (median, max) = r.detection_seconds().unzip();
                json!({
                    "bug": r.bug.name(),
                    "found": r.found(),
                    "runs": r.campaigns.len(),
                    "median_seconds": median,
                    "max_seconds": max,
                    "campaigns": r.campaigns,
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_wrap_at_spaces_and_long_words_stay_whole() {
        assert_eq!(wrap_words("a bb ccc", 4), ["a bb", "ccc"]);
        assert_eq!(wrap_words("abcdefgh ij", 4), ["abcdefgh", "ij"]);
        assert_eq!(wrap_words("", 4), [""]);
        let text = "invariant broken: §8.6 no evict leaks broken after unmount: fs: warnings";
        let lines = wrap_words(text, 20);
        assert_eq!(lines.join(" "), text, "nothing lost");
        assert!(lines.iter().all(|l| l.chars().count() <= 20), "{lines:?}");
    }

    #[test]
    fn a_long_verdict_wraps_under_its_column_and_is_not_cut() {
        let verdict = "invariant broken: §8.6 no evict leaks broken after unmount: fs: \
                       warnings.evict_leaks 1 (expected 0) after the unmount of inode 0";
        let row = RaceRow {
            bug: Bug::UnlockBeforeSetDelalloc,
            campaigns: vec![RaceCampaign {
                seed: 1,
                seconds: 0.5,
                programs: 7,
                reproducer: Some(String::new()),
                verdict: Some(verdict.into()),
                size: Some((3, 1, 4)),
            }],
        };
        let t = text(&[row], 1, 10);
        let lines: Vec<&str> = t.lines().collect();
        let column = lines[1].find("first verdict").unwrap();
        let words: Vec<&str> = lines[2..lines.len() - 1]
            .iter()
            .map(|l| {
                assert!(l.len() <= column + VERDICT_WIDTH + 4, "{t}");
                l.get(column..).unwrap_or_else(|| panic!("{t}"))
            })
            .collect();
        assert_eq!(words.join(" "), verdict, "{t}");
        assert!(lines[2].starts_with("  unlock-before-set-delalloc"), "{t}");
        assert!(lines[3][..column].trim().is_empty(), "{t}");
    }
}
