//! `delalloc-fuzz mutants --engine libfuzzer`: the scoreboard's campaigns run by the cargo-fuzz
//! targets of `fuzz/`, as one would run `cargo fuzz run` against one re-introduced bug.
//!
//! The targets are built once ([`crate::libfuzzer::build`]: `cargo fuzz build -O`, `-s none` on the
//! current toolchain or `-s address` on nightly). Each campaign is then one libFuzzer process,
//! no `-fork` or `-jobs`:
//!
//! - on the bug's target ([`target`]: `fs_level` or `tree_level`, from [`Bug::reach`]), with
//!   `DELALLOC_FUZZ_BUGS=<bug>` ([`crate::injected`]) and `RUST_BACKTRACE=0` (the oracle's report is
//!   the message; a backtrace would only add to the time to detection);
//! - from a copy of the committed seed corpus `corpus/<target>/` in a fresh temporary folder, so
//!   that campaigns are independent and nothing under `corpus/` or `fuzz/corpus/` changes;
//! - with `-seed=` from the campaign's seed ([`libfuzzer_seed`] of
//!   [`crate::scoreboard::campaign::campaign_seed`]), `-max_total_time=` the time per bug (`-runs=` the program
//!   budget, if any), the flags of `oss-fuzz/<target>.options`, and crashes written to that
//!   folder.
//!
//! libFuzzer stops at the first crash. The campaign records the process's wall time and its
//! executions (`stat::number_of_executed_units`), decodes the crash input at the target's level
//! ([`crate::input::decode`], exactly as the target did), checks that it diverges with the bug and
//! that the correct model agrees on it (else it is not this bug: the campaign found nothing, says
//! why in a note, and keeps its folder), and minimizes it with the bug on ([`crate::scoreboard::campaign::detect`]).

use crate::generators::Level;
use crate::libfuzzer::{Built, Finished, Sanitizer};
use crate::oracles::Verdict;
use crate::report;
use crate::scoreboard::campaign::{CampaignResult, Engine, Plan, Row};
use delalloc_contract::Program;
use delalloc_optimized::bugs::{Bug, Reach};
use std::path::{Path, PathBuf};

/// The targets a campaign may run.
pub const TARGETS: [&str; 2] = ["fs_level", "tree_level"];

/// The cargo-fuzz target that hunts `bug`, and the level it decodes its inputs at.
pub fn target(bug: Bug) -> (&'static str, Level) {
    match bug.reach() {
        Reach::Fs => (TARGETS[0], Level::Fs),
        Reach::Tree => (TARGETS[1], Level::Tree),
    }
}

/// libFuzzer's `-seed=` for a campaign seed: its two halves folded into libFuzzer's 32 bits,
/// never 0 (which would make libFuzzer pick one from the clock).
pub fn libfuzzer_seed(campaign_seed: u64) -> u32 {
    ((campaign_seed ^ (campaign_seed >> 32)) as u32).max(1)
}

/// Builds [`TARGETS`] once; the announcement and cargo's output go to stderr (stdout is the
/// table or its JSON).
pub fn build(root: &Path, sanitizer: Sanitizer) -> Result<Built, String> {
    let wanted = TARGETS.map(String::from);
    crate::libfuzzer::build(root, sanitizer, &wanted, |line| eprintln!("{line}"))
}

/// The campaigns of `bug` (none for a race bug), each reported on stderr as it ends. `Err`
/// when a campaign cannot start (no seed corpus, no binary, no temporary folder). After Ctrl-C,
/// the campaigns that ran to their end.
pub fn row(config: &Plan, built: &Built, bug: Bug) -> Result<Row, String> {
    let Engine::Libfuzzer { root, sanitizer } = &config.engine else {
        return Err("the libFuzzer scoreboard needs --engine libfuzzer".into());
    };
    let mut campaigns = Vec::new();
    for r in 0..config.runs {
        if bug.is_race() || crate::interrupt::requested() {
            break;
        }
        let Some(c) = campaign(config, root, *sanitizer, built, bug, r)? else {
            break;
        };
        eprintln!("  {}", progress(bug, r, &c));
        campaigns.push(c);
    }
    Ok(Row { bug, campaigns })
}

/// One line about a finished campaign.
fn progress(bug: Bug, run: u32, c: &CampaignResult) -> String {
    let head = format!(
        "{bug} campaign {run} ({}, -seed={})",
        target(bug).0,
        libfuzzer_seed(c.seed)
    );
    match (&c.detection, &c.note) {
        (Some(d), _) => format!(
            "{head}: found in {:.3} s, {} execs; {}-op reproducer, first field {}",
            c.seconds,
            c.programs,
            d.minimized.size_after,
            d.field()
        ),
        (None, Some(note)) => format!("{head}: nothing found: {note}"),
        (None, None) => format!(
            "{head}: not found in {:.0} s ({} execs)",
            c.seconds, c.programs
        ),
    }
}

fn campaign(
    config: &Plan,
    root: &Path,
    sanitizer: Sanitizer,
    built: &Built,
    bug: Bug,
    run: u32,
) -> Result<Option<CampaignResult>, String> {
    let (target, level) = target(bug);
    let bin = built.binary(target)?;
    let seed = crate::scoreboard::campaign::campaign_seed(config.base_seed, bug, run);
    let work = Scratch::new(&format!("{}-{run}", bug.name()))?;
    let corpus = work.path().join("corpus");
    let artifacts = work.path().join("artifacts");
    copy_seeds(&root.join("corpus").join(target), &corpus)?;
    std::fs::create_dir(&artifacts)
        .map_err(|e| format!("{}: cannot create: {e}", artifacts.display()))?;

    let mut args =
        crate::libfuzzer::libfuzzer_flags(root, target, config.seconds_per_bug, &artifacts);
    args.push(format!("-seed={}", libfuzzer_seed(seed)));
    if let Some(p) = config.max_programs {
        args.push(format!("-runs={p}"));
    }
    args.push(corpus.display().to_string());
    let env = [(crate::injected::ENV, bug.name()), ("RUST_BACKTRACE", "0")];
    let finished =
        crate::libfuzzer::run_libfuzzer(&bin, &args, root, &env, config.seconds_per_bug)?;
    if finished.stats.artifact.is_none() && crate::interrupt::requested() {
        // Stopped by Ctrl-C (passed on to libFuzzer) before it found anything: no campaign.
        return Ok(None);
    }

    let programs = finished.stats.execs.unwrap_or(0);
    let mut result = CampaignResult {
        seed,
        seconds: finished.seconds,
        programs,
        detection: None,
        note: None,
    };
    match judge(bug, level, &finished) {
        Ok(None) => {}
        Ok(Some(program)) => {
            result.detection =
                crate::scoreboard::campaign::detect(bug, programs.saturating_sub(1), &program);
        }
        Err(why) => {
            let kept = work.keep();
            let log = kept.join("libfuzzer.log");
            let _ = std::fs::write(&log, &finished.text);
            result.note = Some(format!(
                "{why} (libFuzzer -s {} output, corpus and crash kept in {})",
                sanitizer.flag(),
                kept.display()
            ));
        }
    }
    Ok(Some(result))
}

/// What a finished libFuzzer run found against `bug`: `Ok(None)` it ran clean to its limit,
/// `Ok(Some(program))` its crash input, decoded at `level`, shows `bug` (diverges with it, and the
/// correct model agrees), `Err` anything else, said in one line.
pub fn judge(bug: Bug, level: Level, finished: &Finished) -> Result<Option<Program>, String> {
    let Some(artifact) = &finished.stats.artifact else {
        return match finished.status {
            Some(s) if s.success() => Ok(None),
            Some(s) => Err(format!(
                "libFuzzer exited with {s} and saved no input: {}",
                first_line(&crate::libfuzzer::crash_excerpt(&finished.text, 1))
            )),
            None => Err(format!(
                "libFuzzer was still running {} s after its time and was stopped",
                crate::libfuzzer::GRACE.as_secs()
            )),
        };
    };
    let name = artifact.file_name().map_or_else(
        || artifact.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let bytes =
        std::fs::read(artifact).map_err(|e| format!("{}: cannot read: {e}", artifact.display()))?;
    let program = crate::input::decode(&bytes, level);
    match crate::scoreboard::campaign::run_with_bugs(&program, bug.into()) {
        Verdict::Agree(_) => Err(format!(
            "libFuzzer's input {name} does not diverge with {bug} on: {}",
            first_line(&crate::libfuzzer::crash_excerpt(&finished.text, 1))
        )),
        Verdict::Diverged(_) => match crate::oracles::differential::run(&program) {
            Verdict::Diverged(d) => Err(format!(
                "libFuzzer's input {name} diverges without {bug} too, so it shows something \
                 else: {}",
                report::headline(&d)
            )),
            Verdict::Agree(_) => Ok(Some(program)),
        },
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("").trim()
}

/// Copies the files of the seed corpus `from` into a new folder `to`; the error says when there
/// is none to copy.
fn copy_seeds(from: &Path, to: &Path) -> Result<usize, String> {
    std::fs::create_dir(to).map_err(|e| format!("{}: cannot create: {e}", to.display()))?;
    let entries = std::fs::read_dir(from).map_err(|e| {
        format!(
            "{}: no seed corpus ({e}); run `{} corpus` from the repository root",
            from.display(),
            crate::RUN
        )
    })?;
    let mut n = 0;
    for entry in entries {
        let path = entry
            .map_err(|e| format!("{}: {e}", from.display()))?
            .path();
        if path.is_file() {
            let name = path.file_name().unwrap_or_default();
            std::fs::copy(&path, to.join(name))
                .map_err(|e| format!("cannot copy {}: {e}", path.display()))?;
            n += 1;
        }
    }
    if n == 0 {
        return Err(format!(
            "{}: the seed corpus is empty; run `{} corpus`",
            from.display(),
            crate::RUN
        ));
    }
    Ok(n)
}

/// A new folder under the system's temporary folder, removed when dropped unless kept.
struct Scratch(Option<PathBuf>);

impl Scratch {
    fn new(what: &str) -> Result<Scratch, String> {
        let base = std::env::temp_dir();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        for attempt in 0..100u32 {
            let path = base.join(format!(
                "delalloc-fuzz-mutants-{}-{what}-{nanos:x}{attempt}",
                std::process::id()
            ));
            match std::fs::create_dir(&path) {
                Ok(()) => return Ok(Scratch(Some(path))),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(format!("{}: cannot create: {e}", path.display())),
            }
        }
        Err(format!(
            "no new temporary folder under {} for {what}",
            base.display()
        ))
    }

    fn path(&self) -> &Path {
        self.0.as_deref().unwrap_or(Path::new(""))
    }

    /// Leaves the folder in place and returns where it is.
    fn keep(mut self) -> PathBuf {
        self.0.take().unwrap_or_default()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_dir_all(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libfuzzer_seeds_fold_both_halves_and_are_never_zero() {
        assert_eq!(libfuzzer_seed(0), 1);
        assert_eq!(libfuzzer_seed(0x0000_0001_0000_0001), 1);
        assert_eq!(libfuzzer_seed(0x0000_0002_0000_0001), 3);
        assert_eq!(libfuzzer_seed(u64::from(u32::MAX)), u32::MAX);
        let a = crate::scoreboard::campaign::campaign_seed(20261121, Bug::MergeHookEraA, 0);
        let b = crate::scoreboard::campaign::campaign_seed(20261121, Bug::MergeHookEraA, 1);
        assert_ne!(libfuzzer_seed(a), libfuzzer_seed(b));
    }

    #[test]
    fn the_tree_only_bugs_go_to_tree_level_and_the_rest_to_fs_level() {
        for bug in Bug::ALL {
            let (name, level) = target(bug);
            let tree = matches!(
                bug,
                Bug::MergeIgnoresBoundary
                    | Bug::ExclusiveMissesStraddler
                    | Bug::TryLockKeepsPrefix
                    | Bug::FindDelallocIgnoresBoundary
            );
            assert_eq!(
                (name, level),
                if tree {
                    ("tree_level", Level::Tree)
                } else {
                    ("fs_level", Level::Fs)
                },
                "{bug}"
            );
        }
    }

    /// A finished run whose output ends as libFuzzer's does, with `artifact` if any.
    #[cfg(unix)]
    fn finished(code: Option<i32>, artifact: Option<&Path>) -> Finished {
        use std::os::unix::process::ExitStatusExt;
        let mut text =
            "INFO: Seed: 7\n#2\tINITED cov: 9 ft: 9 corp: 2/20b exec/s: 0 rss: 30Mb\n".to_string();
        if let Some(a) = artifact {
            text.push_str("thread '<unnamed>' panicked at src/targets.rs:33:9:\n");
            text.push_str("delalloc-fuzz: the models diverged on this fs-level input\n");
            text.push_str("==1== ERROR: libFuzzer: deadly signal\n");
            text.push_str(&format!("Test unit written to {}\n", a.display()));
        }
        text.push_str("stat::number_of_executed_units: 12\n");
        Finished {
            // wait(2)'s status word: the exit code in the second byte.
            status: code.map(|c| std::process::ExitStatus::from_raw(c << 8)),
            seconds: 0.5,
            stats: crate::libfuzzer::parse_libfuzzer(&text),
            text,
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_crash_is_the_bug_only_if_it_diverges_with_it_and_not_without() {
        use delalloc_contract::text::parse_program;
        let dir = Scratch::new("judge").unwrap();
        // corpus/regressions/mutants/merge-hook-era-a.txt, as the fs_level target's bytes.
        let program = parse_program(
            "buffered_write ino=0 pos=0 len=126977\n\
             buffered_write ino=0 pos=128K len=134086657\n",
        )
        .unwrap();
        let crash = dir.path().join("crash-1");
        std::fs::write(&crash, crate::input::encode(&program)).unwrap();
        let run = finished(Some(77), Some(&crash));
        assert_eq!(run.stats.execs, Some(12));
        assert_eq!(
            judge(Bug::MergeHookEraA, Level::Fs, &run),
            Ok(Some(program))
        );
        let e = judge(Bug::DioSetsDirtyUptodate, Level::Fs, &run).unwrap_err();
        assert!(
            e.contains("crash-1 does not diverge with dio-sets-dirty-uptodate on")
                && e.contains("panicked at"),
            "{e}"
        );
        let gone = finished(Some(77), Some(&dir.path().join("crash-2")));
        let e = judge(Bug::MergeHookEraA, Level::Fs, &gone).unwrap_err();
        assert!(e.contains("crash-2: cannot read"), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn a_run_without_a_crash_is_clean_only_if_libfuzzer_exited_0() {
        assert_eq!(
            judge(Bug::MergeHookEraA, Level::Fs, &finished(Some(0), None)),
            Ok(None)
        );
        let e = judge(Bug::MergeHookEraA, Level::Fs, &finished(Some(1), None)).unwrap_err();
        assert!(
            e.contains("exited with") && e.contains("saved no input"),
            "{e}"
        );
        let e = judge(Bug::MergeHookEraA, Level::Fs, &finished(None, None)).unwrap_err();
        assert!(e.contains("still running"), "{e}");
    }

    #[test]
    fn a_scratch_folder_goes_away_unless_kept() {
        let s = Scratch::new("test").unwrap();
        let p = s.path().to_path_buf();
        assert!(p.is_dir());
        drop(s);
        assert!(!p.exists());
        let s = Scratch::new("test").unwrap();
        let kept = s.keep();
        assert!(kept.is_dir());
        std::fs::remove_dir_all(kept).unwrap();
    }

    #[test]
    fn seeds_are_copied_and_a_missing_or_empty_corpus_is_named() {
        let s = Scratch::new("seeds").unwrap();
        let from = s.path().join("from");
        std::fs::create_dir(&from).unwrap();
        let e = copy_seeds(&from, &s.path().join("a")).unwrap_err();
        assert!(e.contains("the seed corpus is empty"), "{e}");
        std::fs::write(from.join("x"), b"\x01").unwrap();
        assert_eq!(copy_seeds(&from, &s.path().join("b")), Ok(1));
        assert_eq!(std::fs::read(s.path().join("b/x")).unwrap(), b"\x01");
        let e = copy_seeds(&s.path().join("nope"), &s.path().join("c")).unwrap_err();
        assert!(e.contains("no seed corpus"), "{e}");
    }
}
