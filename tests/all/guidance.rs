//! The built-in engine's coverage guidance (`fuzz --guidance on`): the corpus keeps a program
//! only for a feature no earlier program reached; with guidance off a campaign runs exactly the
//! unguided stream; a guided finding that is a mutant is rebuilt from its lineage, found again
//! by the same one-job campaign, and its file replays to the same divergence.

use crate::common::cli::{cli, stderr, stdout};
use crate::common::parse;
use delalloc_contract::run_line::RunLine;
use delalloc_contract::text::{parse_program, print_program};
use delalloc_contract::Program;
use delalloc_fuzz::engines::guidance::{self, Corpus, Origin};
use delalloc_fuzz::engines::{campaign, program_seed, search, Campaign, Config, Search};
use delalloc_fuzz::generators::{Dialect, Level};
use delalloc_fuzz::oracles::differential::{self, Differential, Divergence};
use delalloc_fuzz::oracles::stats::Stats;
use delalloc_fuzz::oracles::{Oracle, Verdict};
use delalloc_fuzz::scoreboard;
use delalloc_optimized::bugs::Bug;
use std::sync::Mutex;

fn config(seed: u64, programs: u64, guidance: bool) -> Config {
    Config {
        seconds: 3_600,
        max_programs: Some(programs),
        seed,
        jobs: 1,
        out: None,
        progress: false,
        guidance,
    }
}

type Run = fn(&Program) -> Verdict<Stats, Divergence>;

fn real_models() -> Differential<Run> {
    Differential {
        dialect: Dialect::ANY,
        level: Level::Mixed,
        run: differential::run as Run,
    }
}

fn stats_of(text: &str) -> Stats {
    match differential::run(&parse(text)) {
        Verdict::Agree(s) => s,
        Verdict::Diverged(d) => panic!("the models diverge on {text}: {d:?}"),
    }
}

#[test]
fn the_corpus_keeps_a_program_only_for_a_new_feature() {
    let corpus: Mutex<Corpus<String>> = Mutex::default();
    let write = "buffered_write ino=0 pos=0 len=4K\n";
    let s = stats_of(write);
    assert!(s.features.count() > 0);
    let keep = |i, text: &str, s: &Stats| {
        guidance::offer(&corpus, i, &Origin::Generated, &text.to_string(), s)
    };
    assert!(keep(0, write, &s), "the first program is new");
    assert!(!keep(1, write, &s), "the same features again are not");
    // The same op further on: no new kind, outcome or band.
    let later = "buffered_write ino=0 pos=8K len=4K\n";
    assert!(!keep(2, later, &stats_of(later)));
    // A new (kind, outcome) pair.
    let more = "buffered_write ino=0 pos=0 len=4K\nwriteback ino=0 start=0 len=4K\n";
    assert!(keep(3, more, &stats_of(more)));
    // A new geometry band, and counters in bands never reached (16 extents outstanding).
    let big = "geometry max_extent=4K write_chunk=4K\nbuffered_write ino=0 pos=0 len=64K\n";
    assert!(keep(4, big, &stats_of(big)));
    let summary = guidance::summary(&corpus.into_inner().unwrap());
    assert_eq!(summary.corpus, 3);
    assert_eq!(summary.mutated, 0);
    assert!(summary.features > s.features.count());
}

/// The real models, recording every program the engine checks, in order.
struct Checked<O> {
    oracle: O,
    seen: Mutex<Vec<String>>,
}

impl<O: Oracle> Oracle for Checked<O> {
    type Program = O::Program;
    type Stats = O::Stats;
    type Divergence = O::Divergence;
    fn generate(&self, seed: u64) -> Self::Program {
        self.oracle.generate(seed)
    }
    fn check(&self, p: &Self::Program) -> Verdict<Self::Stats, Self::Divergence> {
        self.seen.lock().unwrap().push(O::print(p));
        self.oracle.check(p)
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
    fn mutate(&self, p: &Self::Program, seed: u64) -> Option<Self::Program> {
        self.oracle.mutate(p, seed)
    }
}

/// The programs a one-job campaign checks, and its summary.
fn checked(seed: u64, n: u64, guidance: bool) -> (Vec<String>, Search<Program, Stats>) {
    let oracle = Checked {
        oracle: real_models(),
        seen: Mutex::new(Vec::new()),
    };
    let s = search(&config(seed, n, guidance), &oracle);
    assert!(s.found.is_none(), "the real models agree");
    (oracle.seen.into_inner().unwrap(), s)
}

#[test]
fn off_runs_the_unguided_stream_and_on_replaces_some_programs_by_mutants() {
    const N: u64 = 400;
    let fresh: Vec<String> = (0..N)
        .map(|i| print_program(&real_models().generate(program_seed(7, i))))
        .collect();
    let (off, s) = checked(7, N, false);
    assert_eq!(
        off, fresh,
        "guidance off: program i is generate(program_seed(S, i))"
    );
    assert!(s.summary.guidance.is_none());
    assert!(!s.summary.text().contains("guidance:"));

    let (on, s) = checked(7, N, true);
    assert_eq!(on.len(), N as usize);
    let g = s.summary.guidance.clone().expect("a guided summary");
    let mutants = on.iter().zip(&fresh).filter(|(a, b)| a != b).count() as u64;
    assert_eq!(
        on[0], fresh[0],
        "the corpus starts empty: the first program is fresh"
    );
    assert_eq!(
        mutants, g.mutated,
        "every other program is the unguided one"
    );
    // One in MUTATE_ONE_IN once the corpus has an entry, give or take chance.
    assert!(
        mutants > N / guidance::MUTATE_ONE_IN / 2 && mutants < 2 * N / guidance::MUTATE_ONE_IN,
        "{mutants} mutants of {N}"
    );
    assert!(g.corpus > 10 && (g.corpus as u64) < N, "{g:?}");
    assert_eq!(g.features, s.summary.stats.features.count());
    assert_eq!(
        s.summary.stats.programs, N,
        "the summary counts mutants too"
    );
    assert!(
        s.summary.text().contains(&format!(
            "guidance: {mutants} of {N} programs mutated from a corpus of {}",
            g.corpus
        )),
        "{}",
        s.summary.text()
    );
    // One job: the same campaign runs the same programs.
    assert_eq!(checked(7, N, true).0, on);
}

/// The first diverging program of a guided one-job campaign against `bug`, with its origin.
fn guided_finding(bug: Bug, seed: u64) -> Option<(u64, Program, Origin)> {
    let oracle = Differential {
        dialect: scoreboard::dialect(bug),
        level: scoreboard::LEVEL,
        run: move |p: &Program| scoreboard::run_in_era(p, bug),
    };
    let Search { found, origin, .. } = search(&config(seed, 5_000, true), &oracle);
    let (index, program) = found?;
    Some((index, program, origin?))
}

#[test]
fn a_guided_finding_that_is_a_mutant_is_rebuilt_refound_and_replayed() {
    delalloc_fuzz::oracles::panics::quiet_model_panics();
    let bug = Bug::NoreserveDataFreed;
    let oracle = Differential {
        dialect: scoreboard::dialect(bug),
        level: scoreboard::LEVEL,
        run: move |p: &Program| scoreboard::run_in_era(p, bug),
    };
    // The first campaign seed whose finding is a mutant (about one in MUTATE_ONE_IN is).
    let (seed, (index, program, origin)) = (0..64)
        .find_map(|seed| {
            guided_finding(bug, seed)
                .filter(|(_, _, o)| *o != Origin::Generated)
                .map(|f| (seed, f))
        })
        .expect("a campaign whose finding is a mutant");
    let Origin::Mutated { lineage } = &origin else {
        unreachable!()
    };
    assert!(
        lineage.iter().all(|&j| j < index),
        "{lineage:?} before {index}"
    );
    assert_eq!(
        guidance::regenerate(&oracle, seed, index, &origin).as_ref(),
        Some(&program),
        "the lineage alone rebuilds the program"
    );
    assert_ne!(
        program,
        oracle.generate(program_seed(seed, index)),
        "not the unguided program"
    );

    // The written finding: its header tells the story, its file replays to the same divergence.
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config {
        out: Some(dir.path().to_path_buf()),
        ..config(seed, 5_000, true)
    };
    let Campaign::Diverged(_, f) = campaign(&cfg, &oracle).unwrap() else {
        panic!("clean")
    };
    assert_eq!(
        (f.index, &f.original, &f.origin),
        (index, &program, &origin)
    );
    let text = std::fs::read_to_string(&f.files.as_ref().expect("written")[0]).unwrap();
    let header = text.lines().next().unwrap();
    assert!(
        header.contains(&format!("fuzz --seed {seed} --level mixed --guidance on`: program {index} (a mutant: program {}", lineage.last().unwrap())),
        "{header}"
    );
    let replayed = parse_program(&text).expect("the finding parses");
    assert_eq!(replayed, f.minimized.program);
    let Verdict::Diverged(d) = scoreboard::run_in_era(&replayed, bug) else {
        panic!("the file does not diverge: {text}")
    };
    assert_eq!(d.signature(), f.minimized.divergence.signature());
}

#[test]
fn fuzz_guidance_on_reports_its_corpus() {
    let dir = tempfile::tempdir().unwrap();
    let o = cli(
        &[
            "fuzz",
            "--seconds",
            "1",
            "--seed",
            "3",
            "--guidance",
            "on",
            "--json",
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("guidance on"), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    let g = &v["summary"]["guidance"];
    assert!(g["corpus"].as_u64() > Some(0), "{v}");
    assert!(g["mutated"].as_u64() > Some(0), "{v}");
    assert_eq!(g["features"], v["summary"]["stats"]["features"], "{v}");

    // Off (the default): no guidance in the summary.
    let o = cli(
        &["fuzz", "--seconds", "1", "--seed", "3", "--json"],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    assert!(v["summary"].get("guidance").is_none(), "{v}");
}
