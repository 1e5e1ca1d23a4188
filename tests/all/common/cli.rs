//! Running the command line as a user would, for the CLI tests.

use std::path::Path;
use std::process::{Command, Output};

/// `delalloc-fuzz ARGS` in `dir`, to completion.
pub fn cli(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_delalloc-fuzz"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// stdout, then stderr.
pub fn out(o: &Output) -> String {
    stdout(o) + &stderr(o)
}
