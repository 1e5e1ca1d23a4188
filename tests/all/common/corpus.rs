//! The program files kept in the repository's corpus folders.

use std::path::{Path, PathBuf};

/// Every program file below `dir`, recursively and sorted: `*.txt` but the `*.report.txt` that
/// findings keep beside their programs.
pub fn program_files(dir: &Path) -> Vec<PathBuf> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    let mut out = Vec::new();
    for p in entries {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if p.is_dir() {
            out.extend(program_files(&p));
        } else if name.ends_with(".txt") && !name.ends_with(".report.txt") {
            out.push(p);
        }
    }
    out
}
