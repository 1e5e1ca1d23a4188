//! The built-in engine with a deliberately wrong model: stops at the first divergence,
//! minimizes it, writes its files (program, reports, page) under a fresh name every time, and
//! reproduces from (seed, index) whatever the number of jobs.

use crate::common::{run_wrong, Bug};
use delalloc_contract::text::parse_program;
use delalloc_fuzz::engines::{campaign, finding_text, Campaign, Config};
use delalloc_fuzz::generators::{program_from_seed, Dialect, Level};
use delalloc_fuzz::oracles::differential::{Differential, Divergence};
use delalloc_fuzz::oracles::stats::Stats;
use delalloc_fuzz::oracles::Verdict;

fn config(out: &std::path::Path, jobs: usize) -> Config {
    Config {
        seconds: 30,
        max_programs: None,
        seed: 42,
        jobs,
        out: Some(out.to_path_buf()),
        progress: false,
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
    assert_eq!(f.original, program_from_seed(42 + f.index, Level::Fs));
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
