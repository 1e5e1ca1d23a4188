//! `report FINDING --html OUT`: a committed regression's page, opened in headless Chromium
//! (which must be installed: `.ci/run` and `scripts/test.sh` install it, and without it the test
//! fails saying how to get it); the pages of tree-level, fs-level and kernel findings, of a panic
//! and of a teardown leak; what is not a finding, a file in the way, a report named instead of
//! its program. A concurrent finding's page: cli_report_concurrent.rs.

use crate::common::cli::{cli, out, stderr, stdout};
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A reproducer of the model's own bug `reserve-before-success`: four fs-level ops, the state
/// differing after the last (op 3), in the block reservation and bytes_may_use.
const REGRESSION: &str = "corpus/regressions/mutants/reserve-before-success.txt";

/// Headless Chromium, or a failure that says how to install it: a test that quietly passes
/// without the browser would prove nothing on a machine that lacks it.
fn chromium() -> String {
    let candidates = ["chromium", "chromium-browser", "google-chrome"];
    let found = std::env::var("CHROMIUM").ok().into_iter().chain(
        candidates.iter().map(|c| (*c).to_string()).filter(|c| {
            Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        }),
    );
    found.into_iter().next().unwrap_or_else(|| {
        panic!(
            "headless Chromium is needed to check the report page: install it with \
             `apt-get install -y chromium` (scripts/test.sh and .ci/run do), or name the \
             binary in CHROMIUM"
        )
    })
}

/// Opens `page` in headless Chromium: its DOM once loaded, and a screenshot's PNG bytes. Fails
/// on a Chromium error or a message on the page's console (a script error, a failed load).
pub fn open_in_chromium(page: &Path, work: &Path) -> (String, Vec<u8>) {
    let browser = chromium();
    let profile = work.join("chromium-profile");
    let run = |extra: &[&str]| {
        let o = Command::new(&browser)
            .args(["--headless", "--disable-gpu", "--no-sandbox"])
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(["--enable-logging=stderr", "--v=0"])
            // Nothing may be fetched: any host name resolves nowhere.
            .arg("--host-resolver-rules=MAP * ~NOTFOUND")
            .args(extra)
            .arg(page)
            .output()
            .expect("chromium runs");
        let err = stderr(&o);
        assert!(o.status.success(), "chromium failed: {err}");
        let console: Vec<&str> = err.lines().filter(|l| l.contains(":CONSOLE")).collect();
        assert!(console.is_empty(), "the page logged: {console:?}");
        o
    };
    let dom = stdout(&run(&["--dump-dom"]));
    let png = work.join("page.png");
    run(&[
        &format!("--screenshot={}", png.display()),
        "--window-size=1400,2000",
    ]);
    (dom, std::fs::read(&png).expect("a screenshot"))
}

#[test]
fn a_regressions_page_loads_in_headless_chromium_with_the_diverging_op_marked() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let page = d.join("page.html");
    let o = cli(
        &[
            "report",
            REGRESSION,
            "--bug",
            "reserve-before-success",
            "--html",
            page.to_str().unwrap(),
        ],
        &root(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert!(
        stdout(&o).contains("state differs at op 3: page_mkwrite"),
        "{}",
        out(&o)
    );
    let html = std::fs::read_to_string(&page).unwrap();
    // Self-contained: nothing to fetch, nothing to run.
    for outside in [
        "<script", "<link", "<img", "<iframe", "src=", "url(", "@import",
    ] {
        assert!(!html.contains(outside), "the page has {outside}");
    }

    let (dom, png) = open_in_chromium(&page, d);
    assert!(dom.trim_end().ends_with("</html>"), "{dom}");
    // The program, its diverging op marked, the op's both outcomes.
    let marked = dom
        .split("<tr")
        .find(|row| row.contains("id=\"diverging-op\""))
        .expect("a row marked as the diverging op");
    assert!(marked.contains("class=\"diverging\""), "{marked}");
    assert!(marked.contains("page_mkwrite ino=0 pos=0"), "{marked}");
    assert!(marked.contains("◀ diverges here"), "{marked}");
    // What differs, both models named.
    for field in ["delalloc_rsv.reserved", "meta.bytes_may_use"] {
        assert!(dom.contains(field), "{field} missing");
    }
    assert!(dom.contains("reserve-before-success"));
    // One extent map (inode 0), and the counters that differ first among the plots.
    assert!(dom.contains("inode 0's io tree"), "{dom}");
    assert!(
        dom.contains("op 3 · optimized"),
        "map rows per op and model"
    );
    let charts: Vec<&str> = dom.split("<figcaption>").skip(1).collect();
    assert!(charts.len() >= 4, "{} figures", charts.len());
    // The counters that differ at op 3 first, marked so.
    let differing = |c: &str| c.split("</figcaption>").next().unwrap().contains("differs");
    let first: Vec<&str> = charts[1..]
        .iter()
        .take_while(|c| differing(c))
        .map(|c| c.split(' ').next().unwrap())
        .collect();
    assert_eq!(
        first,
        ["reserved_extents", "delalloc_rsv", "bytes_may_use"],
        "{charts:?}"
    );
    assert!(!charts[1 + first.len()..].iter().any(|c| differing(c)));
    assert_eq!(dom.matches("<svg").count(), charts.len());
    // A screenshot of the page as drawn: a PNG with more in it than a blank page.
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    assert!(png.len() > 40_000, "a {}-byte screenshot", png.len());
}

#[test]
fn tree_and_fs_findings_get_their_pages_and_what_is_not_a_finding_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let html = |name: &str| d.join(name).to_str().unwrap().to_string();
    // Tree level: the stand-alone tree's map; the bug named in the environment works too.
    let o = Command::new(env!("CARGO_BIN_EXE_delalloc-fuzz"))
        .args([
            "report",
            "corpus/regressions/mutants/merge-hook-era-a.tree.txt",
            "--html",
            &html("tree.html"),
        ])
        .env("DELALLOC_FUZZ_BUGS", "merge-hook-era-a")
        .current_dir(root())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let page = std::fs::read_to_string(d.join("tree.html")).unwrap();
    assert!(page.contains("the stand-alone extent tree"), "{page}");
    assert!(page.contains("tree.outstanding_extents"));

    // The same program with the models agreeing: not a finding, nothing written.
    let o = cli(
        &[
            "report",
            "corpus/regressions/mutants/merge-hook-era-a.tree.txt",
            "--html",
            &html("agree.html"),
        ],
        &root(),
    );
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    assert!(stderr(&o).contains("not a finding"), "{}", stderr(&o));
    assert!(stderr(&o).contains("--bug"), "{}", stderr(&o));
    assert!(!d.join("agree.html").exists());

    // A file in the way is kept, unless --force.
    let args = |force: bool| {
        let mut a = vec![
            "report".to_string(),
            "corpus/regressions/mutants/merge-hook-era-a.txt".into(),
            "--bug".into(),
            "merge-hook-era-a".into(),
            "--html".into(),
            html("tree.html"),
        ];
        if force {
            a.push("--force".into());
        }
        a
    };
    let run = |a: Vec<String>| {
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        cli(&a, &root())
    };
    let o = run(args(false));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(d.join("tree.html")).unwrap(), page);
    let o = run(args(true));
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let fs_page = std::fs::read_to_string(d.join("tree.html")).unwrap();
    assert!(fs_page.contains("inode 0&#39;s io tree"));
    assert!(fs_page.contains("inodes[0].outstanding_extents"));

    // Missing files, an unknown bug, a concurrent program the fixed model runs cleanly (more in
    // cli_report_concurrent.rs): clear errors, exit 2.
    let o = cli(&["report", "nowhere.txt", "--html", &html("x.html")], d);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("nowhere.txt: cannot read"),
        "{}",
        stderr(&o)
    );
    let o = cli(&["report", "nowhere.json", "--html", &html("x.html")], d);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("a report, not a program"),
        "{}",
        stderr(&o)
    );
    let o = cli(
        &[
            "report",
            REGRESSION,
            "--bug",
            "typo",
            "--html",
            &html("x.html"),
        ],
        &root(),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("`typo`"), "{}", stderr(&o));
    let o = cli(
        &[
            "report",
            "corpus/concurrent/seed003_dio_fallback_vs_buffered_write.txt",
            "--html",
            &html("x.html"),
        ],
        &root(),
    );
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    assert!(!d.join("x.html").exists());
}

#[test]
fn a_findings_report_stands_for_its_program_and_a_campaign_writes_the_page() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = cli(
        &[
            "fuzz",
            "--bug",
            "merge-hook-era-a",
            "--seed",
            "1",
            "--seconds",
            "60",
            "--out",
            "found",
        ],
        d,
    );
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    let page_line = stdout(&o)
        .lines()
        .find_map(|l| l.strip_prefix("page: ").map(str::to_string))
        .expect("the page is named");
    let page = page_line.split(' ').next().unwrap();
    let written = std::fs::read_to_string(d.join(page)).unwrap();
    assert!(written.contains("id=\"diverging-op\""), "{written}");
    assert!(written.contains("found by `cargo run --release -- fuzz --seed 1"));

    // Its .json names the program beside it.
    let json = page.replace(".html", ".json");
    let o = cli(
        &[
            "report",
            &json,
            "--bug",
            "merge-hook-era-a",
            "--html",
            "again.html",
        ],
        d,
    );
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert!(
        stderr(&o).contains("replaying its program"),
        "{}",
        stderr(&o)
    );
    let again = std::fs::read_to_string(d.join("again.html")).unwrap();
    // The same pictures: only the source line differs.
    let body = |p: &str| p[p.find("<section").unwrap()..].to_string();
    assert_eq!(body(&again), body(&written));
}

#[test]
fn a_kernel_findings_page() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A DEFRAG set without DELALLOC: the kernel's btrfs_set_delalloc_extent WARNs.
    std::fs::write(
        d.join("warns.txt"),
        "geometry era=6\nset_bits 0 4095 DELALLOC\nset_bits 8192 12287 DEFRAG\n",
    )
    .unwrap();
    let o = cli(
        &[
            "report",
            "--against",
            "kernel",
            "warns.txt",
            "--html",
            "k.html",
        ],
        d,
    );
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let page = std::fs::read_to_string(d.join("k.html")).unwrap();
    assert!(
        page.contains("<span class=\"kind\">complained</span>"),
        "{page}"
    );
    assert!(page.contains("WARN_ON at "), "{page}");
    assert!(page.contains("op 1 · kernel"), "{page}");
    let o = cli(
        &[
            "report",
            "--against",
            "kernel",
            "--bug",
            "merge-hook-era-a",
            "warns.txt",
            "--html",
            "k2.html",
        ],
        d,
    );
    // The optimized model's bugs cannot apply to the kernel: said, and left out.
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert!(
        out(&o).contains("against the kernel they do not apply"),
        "{}",
        out(&o)
    );
}

#[test]
fn pages_of_a_panic_a_teardown_leak_and_a_left_model_that_cannot_be_replayed() {
    use crate::common::{parse, run_wrong, run_wrong_twice, Bug};
    use delalloc_fuzz::report::page;
    delalloc_fuzz::oracles::panics::quiet_model_panics();
    let p = parse("buffered_write ino=0 pos=0 len=8K\nevict ino=0\ntruncate ino=0 size=0\n");
    // A panic in op 1: that row is marked, the model that panicked named, op 2 never ran.
    let d = run_wrong(&p, Bug::PanicOnEvict)
        .divergence()
        .cloned()
        .unwrap();
    let html = page::html(&d, "a test").unwrap();
    let marked = html
        .split("<tr")
        .find(|r| r.contains("id=\"diverging-op\""))
        .unwrap();
    assert!(
        marked.contains("evict ino=0") && marked.contains("panicked"),
        "{marked}"
    );
    assert!(html.contains("not run: after the divergence"));
    assert!(html.contains("evict is broken in this model"));

    // A leak at the oracle's closing unmount: the `end` row is the marked one.
    let p = parse("buffered_write ino=0 pos=0 len=4K\n");
    let d = run_wrong(&p, Bug::LeakOnUnmount)
        .divergence()
        .cloned()
        .unwrap();
    let html = page::html(&d, "a test").unwrap();
    assert!(
        html.contains("<tr class=\"diverging\" id=\"diverging-op\"><td>end</td>"),
        "{html}"
    );
    assert!(html.contains("data.bytes_may_use"));

    // The page replays the reference for the states before the divergence: with another model
    // on the left it says so rather than draw something else.
    let p = parse("buffered_write ino=0 pos=0 len=4K\nwriteback ino=0 start=0 len=4K\n");
    let v = run_wrong_twice(&p, Bug::ReservedExtentsPlusOne);
    let d = v.divergence().expect("an invariant broken in both");
    let e = page::html(d, "a test").unwrap_err();
    assert!(e.contains("left model is wrong"), "{e}");
}
