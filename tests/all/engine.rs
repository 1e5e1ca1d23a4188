//! The built-in engine with a deliberately wrong model: stops at the first divergence,
//! minimizes it, writes its files (program, reports, page) under a fresh name every time, and
//! reproduces from (seed, index) whatever the number of jobs; campaigns with adjacent seeds run
//! unrelated programs.

use crate::common::{run_wrong, Bug};
use delalloc_contract::run_line::RunLine;
use delalloc_contract::text::parse_program;
use delalloc_fuzz::engines::{campaign, finding_text, program_seed, search, Campaign, Config};
use delalloc_fuzz::generators::{program_from_seed, Dialect, Level};
use delalloc_fuzz::oracles::differential::{Differential, Divergence};
use delalloc_fuzz::oracles::linearizable::Linearizable;
use delalloc_fuzz::oracles::stats::Stats;
use delalloc_fuzz::oracles::{Oracle, Verdict};
use delalloc_optimized_shuttle::bugs::BugSet;

fn config(out: &std::path::Path, jobs: usize) -> Config {
    Config {
        seconds: 30,
        max_programs: None,
        seed: 42,
        jobs,
        out: Some(out.to_path_buf()),
        progress: false,
        guidance: false,
    }
}

#[test]
fn a_finding_is_minimized_and_written_without_overwriting() {
    let dir = tempfile::tempdir().unwrap();
    let oracle = Differential {
        dialect: Dialect::ANY,
        level: Level::Fs,
        run: |p: &_| run_wrong(p, Bug::ReservedExtentsPlusOne),
    };
    let Campaign::Diverged(summary, f) = campaign(&config(dir.path(), 1), &oracle).unwrap() else {
        panic!("clean")
    };
    assert_eq!(summary.divergences, 1);
    assert_eq!(
        summary.stats.programs, f.index,
        "programs before the finding all agreed"
    );
    assert_eq!(
        f.original,
        program_from_seed(program_seed(42, f.index), Level::Fs),
        "the generator seed the finding names regenerates its program"
    );
    assert!(f.minimized.size_after <= 3);

    let files = f.files.as_ref().expect("written");
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let base = format!("fs-42-{}", f.index);
    assert_eq!(
        names,
        [
            format!("{base}.txt"),
            format!("{base}.report.txt"),
            format!("{base}.json")
        ]
    );
    // The page beside them, its diverging op marked (tests/all/cli_report.rs opens one).
    let page = f.page.as_ref().expect("a page");
    assert_eq!(
        page.file_name().unwrap().to_string_lossy(),
        format!("{base}.html")
    );
    let html = std::fs::read_to_string(page).unwrap();
    assert!(html.contains("id=\"diverging-op\""), "{html}");
    assert!(html.contains("inodes[0].reserved_extents"));
    let text = std::fs::read_to_string(&files[0]).unwrap();
    assert!(
        text.starts_with("# found by `cargo run --release -- fuzz --seed 42 --level fs`"),
        "{text}"
    );
    let replayed = parse_program(&text).expect("the finding parses");
    assert_eq!(replayed, f.minimized.program);
    assert!(std::fs::read_to_string(&files[1])
        .unwrap()
        .contains("inodes[0].reserved_extents"));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&files[2]).unwrap()).unwrap();
    assert_eq!(json["kind"]["kind"], "state_differs");

    // The same campaign again, with more jobs: same finding, a fresh name.
    let Campaign::Diverged(_, g) = campaign(&config(dir.path(), 2), &oracle).unwrap() else {
        panic!("clean")
    };
    assert_eq!(g.index, f.index);
    assert_eq!(g.minimized.program, f.minimized.program);
    assert_eq!(
        g.files.as_ref().expect("written")[0]
            .file_name()
            .unwrap()
            .to_string_lossy(),
        format!("{base}-2.txt")
    );
    assert_eq!(
        g.page
            .as_ref()
            .expect("a page")
            .file_name()
            .unwrap()
            .to_string_lossy(),
        format!("{base}-2.html")
    );
    assert_eq!(
        std::fs::read_to_string(&files[0]).unwrap(),
        text,
        "first finding untouched"
    );
}

#[test]
fn a_clean_campaign_summarizes() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config {
        seconds: 1,
        ..config(dir.path(), 2)
    };
    let oracle = Differential {
        dialect: Dialect::ANY,
        level: Level::Fs,
        run: delalloc_fuzz::oracles::differential::run as fn(&_) -> Verdict<Stats, Divergence>,
    };
    let Campaign::Clean(s) = campaign(&cfg, &oracle).unwrap() else {
        panic!("diverged")
    };
    assert!(s.stats.programs > 0 && s.stats.ops > 0);
    assert_eq!(s.divergences, 0);
    let text = s.text();
    assert!(
        text.contains("op kinds (") && text.contains("buffered_write"),
        "{text}"
    );
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "nothing written"
    );
}

/// `--out` became unwritable after the command probed it: the finding is not lost, its program
/// and report are in the text the command prints; the printed replay command runs as printed.
#[test]
fn a_finding_that_cannot_be_written_is_printed_whole() {
    let oracle = Differential {
        dialect: Dialect::ANY,
        level: Level::Fs,
        run: |p: &_| run_wrong(p, Bug::ReservedExtentsPlusOne),
    };
    let cfg = config(std::path::Path::new("/proc/delalloc-fuzz-unwritable"), 1);
    let Campaign::Diverged(_, f) = campaign(&cfg, &oracle).unwrap() else {
        panic!("clean")
    };
    assert!(f.files.is_none());
    let u = f.unwritten.as_ref().expect("the write failed");
    assert!(
        u.error
            .contains("writing the finding to /proc/delalloc-fuzz-unwritable"),
        "{}",
        u.error
    );
    assert_eq!(
        parse_program(&u.program).expect("the program parses"),
        f.minimized.program
    );
    let text = finding_text(&cfg, &f);
    assert!(
        text.contains(&u.error) && text.contains(&u.program),
        "{text}"
    );
    assert!(
        text.contains("inodes[0].reserved_extents"),
        "the report: {text}"
    );
    assert!(!text.contains("replay:"), "{text}");

    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 1);
    let Campaign::Diverged(_, f) = campaign(&cfg, &oracle).unwrap() else {
        panic!("clean")
    };
    let program = f.files.as_ref().expect("written")[0].display().to_string();
    let text = finding_text(&cfg, &f);
    assert!(
        text.contains(&format!(
            "replay: cargo run --release -- replay {program}\n"
        )),
        "{text}"
    );
    assert!(!text.contains("interrupted"), "{text}");
    // A shrink cut short by Ctrl-C says so.
    let mut cut = f.clone();
    cut.minimized.interrupted = true;
    let text = finding_text(&cfg, &cut);
    assert!(
        text.contains("(minimizing interrupted by Ctrl-C: not minimal)"),
        "{text}"
    );
}

/// An oracle that records the generator seed and the text of every program the engine asks it
/// to generate, and judges them all agreeing without running them: a campaign's stream.
struct Recorder<O> {
    oracle: O,
    seen: std::sync::Mutex<Vec<(u64, String)>>,
}

impl<O: Oracle> Oracle for Recorder<O> {
    type Program = O::Program;
    type Stats = O::Stats;
    type Divergence = O::Divergence;
    fn generate(&self, seed: u64) -> Self::Program {
        let p = self.oracle.generate(seed);
        self.seen.lock().unwrap().push((seed, O::print(&p)));
        p
    }
    fn check(&self, _: &Self::Program) -> Verdict<Self::Stats, Self::Divergence> {
        Verdict::Agree(Self::Stats::default())
    }
    fn signature(d: &Self::Divergence) -> String {
        O::signature(d)
    }
    fn print(p: &Self::Program) -> String {
        O::print(p)
    }
    fn label(&self) -> String {
        self.oracle.label()
    }
    fn flags(&self) -> String {
        self.oracle.flags()
    }
    fn print_file(p: &Self::Program, run: &RunLine) -> String {
        O::print_file(p, run)
    }
}

/// The generator seeds and texts of the first `n` programs of the campaign with seed `seed`, as
/// the engine generates them.
fn stream<O: Oracle>(oracle: O, seed: u64, n: u64) -> (Vec<u64>, Vec<String>)
where
    O::Program: Sync,
{
    let recorder = Recorder {
        oracle,
        seen: std::sync::Mutex::new(Vec::new()),
    };
    let cfg = Config {
        seconds: 3_600,
        max_programs: Some(n),
        seed,
        jobs: 1,
        out: None,
        progress: false,
        guidance: false,
    };
    assert!(search(&cfg, &recorder).found.is_none());
    let seen = recorder.seen.into_inner().unwrap();
    assert_eq!(seen.len() as u64, n);
    seen.into_iter().unzip()
}

/// What two streams of programs share: the programs of `a` also in `b`, and the pairs of
/// consecutive programs of `a` that are also consecutive, in that order, in `b` (a stream that
/// overlaps another, as `S + i` made them, shares such runs).
fn shared(a: &[String], b: &[String]) -> (usize, Vec<usize>) {
    let texts: std::collections::HashSet<&str> = b.iter().map(String::as_str).collect();
    let pairs: std::collections::HashSet<(&str, &str)> = b
        .windows(2)
        .map(|w| (w[0].as_str(), w[1].as_str()))
        .collect();
    let alone = a.iter().filter(|t| texts.contains(t.as_str())).count();
    let runs = (0..a.len().saturating_sub(1))
        .filter(|&i| pairs.contains(&(a[i].as_str(), a[i + 1].as_str())))
        .collect();
    (alone, runs)
}

/// When program i of seed S was generated from seed S + i, `--seed 1` and `--seed 2` ran
/// the same programs one place apart. Now two campaigns with adjacent seeds share no program:
/// no generator seed, and no run of programs. Their texts can still meet by chance where the
/// generator's space is small (a lone `unmount` in the default geometry, a steal-chain episode
/// of one write: one campaign repeats such programs too), so single equal texts are only
/// bounded: a few per thousand, where overlapping streams share all but one.
#[test]
fn campaigns_with_adjacent_seeds_share_no_program() {
    const N: usize = 2_000;
    let sequential = || Differential {
        dialect: Dialect::ANY,
        level: Level::Mixed,
        run: delalloc_fuzz::oracles::differential::run as fn(&_) -> Verdict<Stats, Divergence>,
    };
    let concurrent = || Linearizable { bugs: BugSet::NONE };
    let check = |what: &str,
                 seed: u64,
                 (seeds_a, a): (Vec<u64>, Vec<String>),
                 (seeds_b, b): (Vec<u64>, Vec<String>)| {
        let seeds: std::collections::HashSet<u64> = seeds_a.iter().copied().collect();
        assert_eq!(
            seeds.len(),
            N,
            "{what} seed {seed}: a generator seed repeats"
        );
        assert!(
            seeds_b.iter().all(|g| !seeds.contains(g)),
            "{what} seeds {seed} and {}: a generator seed in both",
            seed + 1
        );
        let (alone, runs) = shared(&a, &b);
        assert!(
            runs.is_empty(),
            "{what} seeds {seed} and {}: programs {:?} and the next are consecutive in both:\n{}",
            seed + 1,
            runs,
            a[runs[0]]
        );
        assert!(
            alone <= N / 200,
            "{what} seeds {seed} and {}: {alone} of {N} programs in both",
            seed + 1
        );
    };
    for seed in [1, 42, 20_261_206] {
        let n = N as u64;
        check(
            "sequential",
            seed,
            stream(sequential(), seed, n),
            stream(sequential(), seed + 1, n),
        );
        check(
            "concurrent",
            seed,
            stream(concurrent(), seed, n),
            stream(concurrent(), seed + 1, n),
        );
    }

    // The check sees the old scheme's overlap: streams of seeds S + i share every run.
    let old = |s: u64| -> Vec<String> {
        (s..s + N as u64)
            .map(|g| delalloc_contract::text::print_program(&program_from_seed(g, Level::Mixed)))
            .collect()
    };
    let (alone, runs) = shared(&old(1), &old(2));
    assert_eq!((alone, runs.len()), (N - 1, N - 2));
}
