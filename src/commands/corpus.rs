//! `delalloc-fuzz corpus`: the fuzz targets' seed corpora, regenerated or checked.

use super::common::{ERROR, FAILED};
use crate::corpus::{plan, stale, write, Stale};
use std::path::PathBuf;

/// `corpus`'s flags; [`CorpusCommand::execute`] writes or checks the corpora.
#[derive(clap::Args)]
pub struct CorpusCommand {
    /// Change nothing; exit 1 if a corpus file is missing, out of date or from no program.
    #[arg(long)]
    pub check: bool,
    /// Also remove files in the corpus folders that no seed program produces.
    #[arg(long)]
    pub prune: bool,
    /// The repository root.
    #[arg(long, default_value = ".", value_name = "DIR")]
    pub root: PathBuf,
}

impl CorpusCommand {
    /// Regenerates (or checks) the corpora; the exit code.
    pub fn execute(self) -> u8 {
        let (root, check) = (&self.root, self.check);
        let seeds = match plan(root) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: {e}");
                return ERROR;
            }
        };
        let result = if check {
            Ok(stale(root, &seeds))
        } else {
            write(root, &seeds, self.prune)
        };
        let before = match result {
            Ok(b) => b,
            Err(e) => {
                eprintln!("error: {e}");
                return ERROR;
            }
        };
        for s in &before {
            // Regenerating lists only what it leaves behind; a check lists everything stale.
            if check || matches!(s, Stale::Extra(_)) {
                println!("{s}");
            }
        }
        let count = |t: &str| seeds.iter().filter(|s| s.target == t).count();
        let targets = "fs_level, tree_level, parse_text";
        let counts = format!(
            "{}, {}, {}",
            count("fs_level"),
            count("tree_level"),
            count("parse_text")
        );
        if check {
            if before.is_empty() {
                println!("corpus up to date: {counts} inputs ({targets})");
                0
            } else {
                println!(
                    "corpus is stale ({} files): run `{} corpus`{}",
                    before.len(),
                    crate::RUN,
                    if before.iter().any(|s| matches!(s, Stale::Extra(_))) {
                        " (with --prune to remove files from no seed program)"
                    } else {
                        ""
                    }
                );
                FAILED
            }
        } else {
            let changed = before
                .iter()
                .filter(|s| !matches!(s, Stale::Extra(_)))
                .count();
            println!("corpus written: {counts} inputs ({targets}), {changed} new or updated");
            0
        }
    }
}
