//! `report FINDING --html OUT` on a concurrent finding: the page `fuzz --concurrent` writes
//! beside a race it found and the one `report` draws from the file's run line alone, opened in
//! headless Chromium with what no order explains marked; a page whose op no order explains, in
//! Chromium too; the overrides (`--bug`, `DELALLOC_FUZZ_BUGS`) and the refusals.

use crate::cli_report::open_in_chromium;
use delalloc_fuzz::injected;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `delalloc-fuzz ARGS` in `dir`, with `DELALLOC_FUZZ_BUGS` unset (or set to `bugs`).
fn run(args: &[&str], dir: &Path, bugs: Option<&str>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_delalloc-fuzz"));
    c.args(args).current_dir(dir).env_remove(injected::ENV);
    if let Some(b) = bugs {
        c.env(injected::ENV, b);
    }
    c.output().expect("runs")
}

fn cli(args: &[&str], dir: &Path) -> Output {
    run(args, dir, None)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn out(o: &Output) -> String {
    stdout(o) + &String::from_utf8_lossy(&o.stderr)
}

/// The `<tr` row of `html` that carries `id`.
fn row<'a>(html: &'a str, id: &str) -> &'a str {
    html.split("<tr")
        .find(|r| r.contains(&format!("id=\"{id}\"")))
        .unwrap_or_else(|| panic!("no row {id}: {html}"))
}

/// Nothing to fetch, nothing to run.
fn self_contained(html: &str) {
    for outside in [
        "<script", "<link", "<img", "<iframe", "src=", "url(", "@import",
    ] {
        assert!(!html.contains(outside), "the page has {outside}");
    }
}

/// Seed 000's race: `fuzz --concurrent --bug racing-release-ignored --seed 1` finds it in its
/// first hundred programs (well under a second) and shrinks it to a write failing its metadata
/// reservation while finish_ordered releases the inode's csum leaf: the run's own snapshot
/// breaks SPEC §8.5. The oracle rejects that before searching an order, so the page searches
/// one: it explains both answers, not the state after the sync, and that row is the marked one.
#[test]
fn a_concurrent_findings_page_loads_in_headless_chromium_with_what_no_order_explains_marked() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let bug = "racing-release-ignored";
    let o = cli(
        &[
            "fuzz",
            "--concurrent",
            "--bug",
            bug,
            "--seed",
            "1",
            "--seconds",
            "120",
            "--out",
            "found",
        ],
        d,
    );
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    let text = stdout(&o);
    let named = |prefix: &str| {
        let line = text
            .lines()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` line: {text}"));
        d.join(line.split(' ').find(|w| w.starts_with("found/")).unwrap())
    };
    let written = std::fs::read_to_string(named("page: ")).unwrap();
    let program = named("replay: cargo run --release -- replay ");
    let program = program.to_str().unwrap();

    // `report` on the program file alone: its run line names the bug.
    let o = cli(&["report", program, "--html", "page.html"], d);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert!(
        stdout(&o).contains("invariant broken: §8.5 delalloc_rsv.size"),
        "{}",
        out(&o)
    );
    let page = d.join("page.html");
    let html = std::fs::read_to_string(&page).unwrap();
    self_contained(&html);
    // The same page as the engine's, but for the source line.
    let body = |p: &str| p[p.find("<section").unwrap()..].to_string();
    assert_eq!(body(&html), body(&written));

    let (dom, png) = open_in_chromium(&page, d);
    assert!(dom.trim_end().ends_with("</html>"), "{dom}");
    // The header: the kind, the model and its bug, the judge.
    assert!(dom.contains("invariant broken: a concurrent run"), "{dom}");
    assert!(dom.contains(&format!("bugs=<b>{bug}</b>")), "{dom}");
    // Why: the invariant, then the order the page searched, the fields it does not explain.
    assert!(dom.contains("breaks SPEC §8.5"), "{dom}");
    assert!(dom.contains("the page searched an order"), "{dom}");
    let fields = dom
        .split("id=\"differing-fields\"")
        .nth(1)
        .expect("the fields");
    assert!(fields.contains("delalloc_rsv.size"), "{fields}");
    // The program: the setup with both answers, the schedule's bytes.
    assert!(dom.contains("fail_next_reservation metadata"), "{dom}");
    let file = std::fs::read_to_string(program).unwrap();
    let schedule = file
        .lines()
        .find_map(|l| l.strip_prefix("schedule "))
        .expect("a schedule line");
    let codes: String = (0..schedule.len() / 2)
        .map(|i| format!("<code>{}</code>", &schedule[2 * i..2 * i + 2]))
        .collect();
    assert!(!codes.is_empty() && dom.contains(&codes), "{codes}: {dom}");
    // The run's timeline and the nearest order, each task op with its answers.
    assert!(dom.contains("The run (optimized)"), "{dom}");
    assert!(dom.contains("The nearest sequential order (reference)"));
    let ops = dom.split("id=\"task-ops\"").nth(1).expect("the ops table");
    assert!(ops.contains("finish_ordered ino=0 nth=0"), "{ops}");
    assert!(ops.contains("enospc"), "{ops}");
    assert!(dom.contains("id=\"nearest-order\""));
    // What no order explains, marked: the state after the sync.
    let marked = row(&dom, "unexplained-state");
    assert!(marked.contains("class=\"diverging\""), "{marked}");
    assert!(marked.contains("the state after a sync"), "{marked}");
    assert!(marked.contains("◀ not explained"), "{marked}");
    // The final states: the extent maps of the run and the order at each point.
    assert!(dom.contains("inode 0's io tree"), "{dom}");
    assert!(dom.contains("after the sync · nearest order"), "{dom}");
    // Two timelines and one extent map, all drawn.
    assert_eq!(dom.matches("<svg").count(), 3, "{dom}");
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    assert!(png.len() > 40_000, "a {}-byte screenshot", png.len());

    // `--bug none` overrides the run line: the fixed model's run is accepted, no page.
    let o = cli(
        &["report", "--bug", "none", program, "--html", "fixed.html"],
        d,
    );
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    assert!(
        out(&o).contains(&format!("--bug none overrides the run line's bugs={bug}")),
        "{}",
        out(&o)
    );
    assert!(out(&o).contains("not a finding"), "{}", out(&o));
    assert!(out(&o).contains("the fixed model"), "{}", out(&o));
    assert!(!d.join("fixed.html").exists());
}

/// A run whose answer no order explains (a truncate claiming an ENOSPC), drawn by the library
/// and opened in Chromium: that op is marked in the ops table, and outlined on both timelines.
#[test]
fn an_op_no_order_explains_is_marked_on_the_page_in_headless_chromium() {
    use delalloc_contract::concurrent_text::parse_concurrent_program;
    use delalloc_contract::{Model, Outcome};
    use delalloc_fuzz::oracles::linearizable::search::{self, OrderSearch};
    use delalloc_fuzz::oracles::linearizable::{run, Rejection, RejectionKind};
    use delalloc_reference::Reference;
    let p = parse_concurrent_program(
        "geometry inodes=1\ntask 0\n  buffered_write ino=0 pos=0 len=4K\n  writeback ino=0 \
         start=0 len=4K\ntask 1\n  truncate ino=0 size=0\n  buffered_write ino=0 pos=8K len=4K\n\
         schedule 0001000100\n",
    )
    .unwrap();
    let mut record = run::run(&p, Default::default());
    record.ops[1][1].outcome = Some(Outcome::Enospc);
    let reference = Reference::new(&p.geometry);
    let OrderSearch::NotLinearizable { nearest, .. } = search::search(&p, &record, &reference)
    else {
        panic!("an ENOSPC no order gives was explained")
    };
    let d = Rejection {
        program: p,
        kind: RejectionKind::NotLinearizable,
        run: record,
        nearest: Some(*nearest),
        reference_after_setup: reference.snapshot(),
        bugs: Vec::new(),
    };
    let html = delalloc_fuzz::report::concurrent_page::html(&d, "a test").unwrap();
    self_contained(&html);
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("op.html");
    std::fs::write(&page, &html).unwrap();
    let (dom, _) = open_in_chromium(&page, dir.path());
    let marked = row(&dom, "unexplained-op");
    assert!(
        marked.contains("buffered_write ino=0 pos=8K len=4K"),
        "{marked}"
    );
    assert!(
        marked.contains("enospc") && marked.contains("written(4096)"),
        "{marked}"
    );
    assert!(marked.contains("◀ not explained"), "{marked}");
    assert!(dom.contains("cannot explain <b>t1.1</b>"), "{dom}");
    // Drawn on both timelines (the run's and the order's) in red.
    assert_eq!(dom.matches("t1.1 buffered_write").count(), 1, "{dom}");
    assert!(dom.matches("#3 t1.1").count() >= 1, "{dom}");
    assert!(dom.contains("Nothing to compare: the nearest order stops"));
}

/// The overrides a sequential page takes work on a concurrent file, and what cannot be drawn is
/// refused with a clear error and no file.
#[test]
fn a_concurrent_file_takes_the_bug_overrides_and_what_is_not_a_finding_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let seed003 = root().join("corpus/concurrent/seed003_dio_fallback_vs_buffered_write.txt");
    let seed003 = seed003.to_str().unwrap();
    // No run line, no bug: the fixed model's run is accepted.
    let o = cli(&["report", seed003, "--html", "x.html"], d);
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    assert!(out(&o).contains("not a finding"), "{}", out(&o));
    assert!(out(&o).contains("`--bug B` adds them"), "{}", out(&o));
    assert!(!d.join("x.html").exists());
    // --bug adds the race, and so does the variable.
    let bug = "unlock-before-set-delalloc";
    let o = cli(&["report", "--bug", bug, seed003, "--html", "flag.html"], d);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let flag = std::fs::read_to_string(d.join("flag.html")).unwrap();
    assert!(flag.contains(&format!("bugs=<b>{bug}</b>")), "{flag}");
    assert!(flag.contains("breaks SPEC §8.3"), "{flag}");
    let o = run(&["report", seed003, "--html", "env.html"], d, Some(bug));
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert!(
        out(&o).contains(&format!("{}={bug}", injected::ENV)),
        "{}",
        out(&o)
    );
    assert_eq!(std::fs::read_to_string(d.join("env.html")).unwrap(), flag);
    // A bug of the sequential wrapper has no concurrent form: said, left out, not a finding.
    let o = cli(
        &[
            "report",
            "--bug",
            "nocow-writeback-end-rounds-down",
            seed003,
            "--html",
            "x.html",
        ],
        d,
    );
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    assert!(
        out(&o).contains("changes sequential ops only"),
        "{}",
        out(&o)
    );
    // The kernel model runs sequential tree-level programs only.
    let o = cli(
        &["report", "--against", "kernel", seed003, "--html", "x.html"],
        d,
    );
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    assert!(
        out(&o).contains("--against kernel draws sequential"),
        "{}",
        out(&o)
    );
    // A malformed concurrent file: its place.
    std::fs::write(d.join("bad.txt"), "task 0\n  commit\ntask 2\n").unwrap();
    let o = cli(&["report", "bad.txt", "--html", "x.html"], d);
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    assert!(out(&o).contains("bad.txt:3:6"), "{}", out(&o));
    assert!(!d.join("x.html").exists());
    // A page in the way is kept without --force.
    let o = cli(&["report", "--bug", bug, seed003, "--html", "flag.html"], d);
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    assert!(out(&o).contains("already exists"), "{}", out(&o));
}
