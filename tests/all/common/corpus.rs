//! The program files kept in the repository's corpus folders.

use delalloc_contract::text::parse_program;
use delalloc_contract::Program;
use delalloc_fuzz::scoreboard::ReproducerHeader;
use std::path::{Path, PathBuf};

/// `dir` below the repository's corpus/.
pub fn corpus_dir(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(dir)
}

/// Every program file below `dir` ([`program_files`]) with its text and its parsed program; a
/// file that cannot be read or parsed panics, naming the file.
pub fn programs(dir: &Path) -> Vec<(PathBuf, String, Program)> {
    program_files(dir)
        .into_iter()
        .map(|f| {
            let text =
                std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            let program = parse_program(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            (f, text, program)
        })
        .collect()
}

/// The bug catalog's sequential reproducers (corpus/regressions/mutants): each file with its
/// header and program.
pub fn catalog_reproducers() -> Vec<(PathBuf, ReproducerHeader, Program)> {
    programs(&corpus_dir("regressions/mutants"))
        .into_iter()
        .map(|(f, text, program)| {
            let header =
                ReproducerHeader::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            (f, header, program)
        })
        .collect()
}

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
