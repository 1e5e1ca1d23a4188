//! Every program kept under corpus/regressions/ (recursively, `*.txt` except `*.report.txt`)
//! must parse and must run without a divergence. Each file is a bug that was found and fixed.

use delalloc_contract::text::parse_program;
use delalloc_fuzz::oracles::{differential, Verdict};
use delalloc_fuzz::report;
use std::path::Path;

use crate::common::corpus::program_files;

#[test]
fn every_regression_replays_clean() {
    delalloc_fuzz::oracles::panics::quiet_model_panics();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/regressions");
    let files = program_files(&dir);
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
                if let Verdict::Diverged(d) = differential::run(&p) {
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
