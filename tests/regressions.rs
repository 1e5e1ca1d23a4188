//! Every program kept under corpus/regressions/ (recursively, `*.txt` except `*.report.txt`)
//! must parse and must run without a divergence. Each file is a bug that was found and fixed.

use delalloc_contract::text::parse_program;
use delalloc_fuzz::oracle::{self, Verdict};
use delalloc_fuzz::report;
use std::path::{Path, PathBuf};

fn programs(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if p.is_dir() {
            programs(&p, out);
        } else if name.ends_with(".txt") && !name.ends_with(".report.txt") {
            out.push(p);
        }
    }
}

#[test]
fn every_regression_replays_clean() {
    oracle::quiet_model_panics();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/regressions");
    let mut files = Vec::new();
    programs(&dir, &mut files);
    let mut failures = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        match parse_program(&text) {
            Err(e) => failures.push(format!(
                "{}:{}:{}: {}",
                f.display(),
                e.line,
                e.column,
                e.message
            )),
            Ok(p) => {
                if let Verdict::Diverged(d) = oracle::run(&p) {
                    failures.push(format!(
                        "{}: {}\n{}",
                        f.display(),
                        report::headline(&d),
                        report::text(&d)
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} regressions fail:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}
