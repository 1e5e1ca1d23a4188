//! The bug-finding scoreboard: how fast an engine finds each historical bug the optimized
//! model can re-introduce ([`delalloc_optimized::bugs`]).
//!
//! For each bug, `runs` independent campaigns, each from its own seed derived from one printed
//! base seed ([`campaign_seed`]), run the oracle against `Optimized::with_bugs` with that bug
//! alone, until the first divergence or the time limit; a divergence is then minimized against
//! the same buggy model ([`detect`]). The campaigns are the built-in engine's
//! ([`crate::engines::search`], in this process) or, with [`Engine::Libfuzzer`], one cargo-fuzz target
//! process each ([`crate::scoreboard::libfuzzer`]). A [`Row`] says how many campaigns found the bug, the
//! median and longest time to detection, the median number of programs (libFuzzer: executions)
//! it took, the longest minimized reproducer and the first field the oracle reported (and
//! whether it is the one the bug is expected to change).
//!
//! Race bugs are not run: no sequential program can see them (tests/mutants.rs checks that), so
//! their rows say they need the concurrent mode and they count neither as found nor as missed.
//!
//! The reproducers kept under `corpus/regressions/mutants/` start with a machine-readable header
//! ([`reproducer_text`], [`ReproducerHeader`]) naming the bug and the field it must diverge on.

pub mod campaign;
pub mod kernel;
pub mod libfuzzer;
pub mod races;

pub use campaign::{
    campaign_seed, detect, dialect, first_field, run_in_era, run_with_bugs, same_bug,
    CampaignResult, Detection, Engine, Plan, Row, LEVEL,
};

use crate::engines::{self, Search};
use crate::oracles::differential::Differential;
use crate::report;
use delalloc_contract::text::print_program;
use delalloc_contract::Program;
use delalloc_optimized::bugs::Bug;
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::path::PathBuf;

/// The built-in engine's campaigns against one bug (none for a race bug).
fn builtin_row(config: &Plan, bug: Bug) -> Row {
    if bug.is_race() {
        return Row {
            bug,
            campaigns: Vec::new(),
        };
    }
    // The bug's era, forced (an era-C bug's site is on era-6 paths only).
    let run = move |p: &Program| run_in_era(p, bug);
    let mut campaigns = Vec::new();
    for r in 0..config.runs {
        if crate::interrupt::requested() {
            break;
        }
        let seed = campaign_seed(config.base_seed, bug, r);
        let engine_config = engines::Config {
            seconds: config.seconds_per_bug,
            max_programs: config.max_programs,
            seed,
            jobs: config.jobs,
            out: None,
            progress: false,
            guidance: config.guidance,
        };
        let oracle = Differential {
            level: LEVEL,
            dialect: dialect(bug),
            run,
        };
        let Search { summary, found, .. } = engines::search(&engine_config, &oracle);
        if summary.interrupted {
            // Stopped by Ctrl-C before its time: neither found nor missed.
            break;
        }
        let programs = found
            .as_ref()
            .map_or(summary.stats.programs, |&(index, _)| index + 1);
        let detection = found.and_then(|(index, program)| detect(bug, index, &program));
        campaigns.push(CampaignResult {
            seed,
            seconds: summary.seconds,
            programs,
            detection,
            note: None,
        });
    }
    Row { bug, campaigns }
}

/// The scoreboard of every bug of `config`, calling `each` as a row is done. `Err` when the
/// engine cannot run (libFuzzer: no `fuzz/` crate, no cargo-fuzz, a failed build), with what to
/// do about it. After Ctrl-C it stops at the next program: the rows so far, the last one with
/// the campaigns that ran to their end (none: no row).
pub fn scoreboard(config: &Plan, mut each: impl FnMut(&Row)) -> Result<Scoreboard, String> {
    let built = match &config.engine {
        Engine::Builtin => None,
        Engine::Libfuzzer { root, sanitizer } => match libfuzzer::build(root, *sanitizer) {
            Ok(built) => Some(built),
            // Ctrl-C during the build: nothing scored.
            Err(_) if crate::interrupt::requested() => {
                return Ok(Scoreboard {
                    config: config.clone(),
                    rows: Vec::new(),
                    interrupted: true,
                })
            }
            Err(e) => return Err(e),
        },
    };
    let mut rows = Vec::with_capacity(config.bugs.len());
    for &bug in &config.bugs {
        if crate::interrupt::requested() {
            break;
        }
        let row = match &built {
            None => builtin_row(config, bug),
            Some(built) => libfuzzer::row(config, built, bug)?,
        };
        let cut = crate::interrupt::requested() && !bug.is_race();
        if cut && row.campaigns.is_empty() {
            break;
        }
        each(&row);
        rows.push(row);
    }
    Ok(Scoreboard {
        config: config.clone(),
        rows,
        interrupted: crate::interrupt::requested(),
    })
}

/// Every row of a run, with the configuration that produced it.
#[derive(Clone, Debug)]
pub struct Scoreboard {
    pub config: Plan,
    pub rows: Vec<Row>,
    /// Stopped by Ctrl-C: the rows so far, the last one possibly with fewer campaigns.
    pub interrupted: bool,
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
    /// campaigns that stopped on something else than their bug. A race bug's row says it needs
    /// `--concurrent`.
    pub fn text(&self) -> String {
        self.render(false)
    }

    /// [`Scoreboard::text`] for `mutants --concurrent`, whose race bugs have a table of their
    /// own after this one ([`races::text`]): no race rows here, and the totals say where they are.
    pub fn text_races_below(&self) -> String {
        self.render(true)
    }

    fn render(&self, races_below: bool) -> String {
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
        for row in self
            .rows
            .iter()
            .filter(|r| !(races_below && r.bug.is_race()))
        {
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
        let races = if races_below {
            "race bugs: the concurrent table below".to_string()
        } else {
            format!(
                "{} race bug(s) not counted",
                self.rows.len() - counted.len()
            )
        };
        let budget = match (&self.config.engine, self.config.max_programs) {
            (Engine::Builtin, Some(p)) => format!(" or {p} programs"),
            (Engine::Libfuzzer { .. }, Some(p)) => format!(" or {p} execs"),
            (_, None) => String::new(),
        };
        let engine = match &self.config.engine {
            Engine::Builtin => format!(
                "builtin engine, {} job(s), guidance {}",
                self.config.jobs,
                if self.config.guidance { "on" } else { "off" }
            ),
            Engine::Libfuzzer { sanitizer, .. } => format!(
                "libfuzzer engine: cargo-fuzz targets, -s {}, one process per campaign from the seed corpus",
                sanitizer.flag()
            ),
        };
        let _ = writeln!(
            s,
            "{all} of {} non-race bugs found in every campaign ({engine}; {} campaign(s) each, {} s{budget} limit, base seed {}); {races}",
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
        if self.interrupted {
            let _ = writeln!(s, "{}", self.interrupted_line());
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

    /// After Ctrl-C: which rows are short and which bugs were not run.
    fn interrupted_line(&self) -> String {
        let short: Vec<String> = self
            .rows
            .iter()
            .filter(|r| !r.bug.is_race() && r.campaigns.len() < self.config.runs as usize)
            .map(|r| {
                format!(
                    "{} ran {} of {} campaigns",
                    r.bug.name(),
                    r.campaigns.len(),
                    self.config.runs
                )
            })
            .collect();
        let not_run: Vec<&str> = self
            .config
            .bugs
            .iter()
            .filter(|b| !self.rows.iter().any(|r| r.bug == **b))
            .map(|b| b.name())
            .collect();
        let mut line = format!(
            "{}: {} of {} bug(s) scored",
            crate::interrupt::NOTE,
            self.rows.len(),
            self.config.bugs.len()
        );
        if !short.is_empty() {
            let _ = write!(line, "; {}", short.join(", "));
        }
        if !not_run.is_empty() {
            let _ = write!(line, "; not run: {}", not_run.join(", "));
        }
        line
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
                        "ops_before": c.detection.as_ref().map(|d| d.minimized.size_before),
                        "ops_after": c.detection.as_ref().map(|d| d.minimized.size_after),
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
            "interrupted": self.interrupted,
            "engine": self.config.engine.name(),
            "guidance": matches!(self.config.engine, Engine::Builtin).then_some(self.config.guidance),
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
            engines::findings::write_new(&path, &reproducer_text(row.bug, &board.config, c, d))
                .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
            written.push(path);
        }
    }
    Ok(written)
}

/// A reproducer file: the header [`ReproducerHeader::parse`] reads, where it came from, then the
/// minimized program.
pub fn reproducer_text(bug: Bug, config: &Plan, c: &CampaignResult, d: &Detection) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# bug: {}", bug.name());
    let _ = writeln!(s, "# expect: {}", d.field());
    let _ = writeln!(s, "# {}", bug.description());
    let _ = writeln!(s, "# commit: {}", bug.commit());
    let (engine, source) = match &config.engine {
        Engine::Builtin => (
            if config.guidance {
                " --guidance on"
            } else {
                ""
            }
            .to_string(),
            format!("program {}", d.index),
        ),
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
        "# found by `{} mutants{engine} --bug {} --seed {}`: campaign seed {}, {source}, minimized from {} to {} ops",
        crate::RUN,
        bug.name(),
        config.base_seed,
        c.seed,
        d.minimized.size_before,
        d.minimized.size_after
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
