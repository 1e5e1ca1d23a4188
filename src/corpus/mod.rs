//! Seed corpora for the fuzz targets, generated from readable programs.
//!
//! The sources are text programs under `corpus/programs/<target>/*.txt` (each says what it
//! exercises); the generated corpora are `corpus/<target>/<name>`, one binary input per source:
//! - `fs_level`, `tree_level`: the program in literal mode ([`input::encode`]), named
//!   after its source; a source that does not fit the target's level is an error naming it;
//! - `parse_text`: every source's text as written, and as the printer writes it
//!   (`<target>-<name>` and `<target>-<name>.printed`).
//!
//! [`plan`] computes what the corpus should hold, [`stale`] compares it with the disk, and
//! [`write()`] brings the disk up to date. Files in a corpus folder that no source produces (say,
//! inputs libFuzzer saved there) are reported, and removed only when asked to.

pub mod artifact;

use crate::generators::Level;
use crate::input;
use delalloc_contract::text::{parse_program, print_program};
use delalloc_contract::Program;
use std::fmt;
use std::path::{Path, PathBuf};

/// Where the readable sources live, below the repository root.
pub const SOURCES: &str = "corpus/programs";

/// The differential targets and their levels; `parse_text` reads every target's sources.
pub const DIFFERENTIAL: [(&str, Level); 2] = [("fs_level", Level::Fs), ("tree_level", Level::Tree)];
pub const PARSE_TEXT: &str = "parse_text";

/// One seed: a readable source and the corpus file it becomes.
#[derive(Clone, Debug)]
pub struct Seed {
    pub target: &'static str,
    /// The source program's path.
    pub source: PathBuf,
    /// The corpus file, relative to the repository root (`corpus/<target>/<name>`).
    pub output: PathBuf,
    pub bytes: Vec<u8>,
    /// The program the bytes stand for (the source's).
    pub program: Program,
}

/// Every seed the sources under `root` produce, sorted by output path. The error names the
/// source file and what is wrong with it.
pub fn plan(root: &Path) -> Result<Vec<Seed>, String> {
    let mut seeds = Vec::new();
    for (target, level) in DIFFERENTIAL {
        for source in sources(root, target)? {
            let text = std::fs::read_to_string(&source)
                .map_err(|e| format!("{}: cannot read: {e}", source.display()))?;
            let program = parse_program(&text).map_err(|e| {
                format!(
                    "{}:{}:{}: {}",
                    source.display(),
                    e.line,
                    e.column,
                    e.message
                )
            })?;
            input::fits(&program, level)
                .map_err(|e| format!("{}: not a seed for {target}: {e}", source.display()))?;
            let name = stem(&source);
            seeds.push(Seed {
                target,
                output: Path::new("corpus").join(target).join(&name),
                bytes: input::encode(&program),
                program: program.clone(),
                source: source.clone(),
            });
            let printed = print_program(&program);
            for (suffix, bytes) in [("", text.into_bytes()), (".printed", printed.into_bytes())] {
                seeds.push(Seed {
                    target: PARSE_TEXT,
                    output: Path::new("corpus")
                        .join(PARSE_TEXT)
                        .join(format!("{target}-{name}{suffix}")),
                    bytes,
                    program: program.clone(),
                    source: source.clone(),
                });
            }
        }
    }
    seeds.sort_by(|a, b| a.output.cmp(&b.output));
    Ok(seeds)
}

/// `*.txt` under `root/corpus/programs/<target>/`, sorted.
fn sources(root: &Path, target: &str) -> Result<Vec<PathBuf>, String> {
    let dir = root.join(SOURCES).join(target);
    let entries = std::fs::read_dir(&dir).map_err(|e| {
        format!(
            "{}: cannot read the seed programs: {e} (run from the repository root, or pass --root)",
            dir.display()
        )
    })?;
    let mut out: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    out.sort();
    Ok(out)
}

fn stem(p: &Path) -> String {
    p.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// How a corpus file differs from what its sources say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stale {
    Missing(PathBuf),
    Differs(PathBuf),
    /// In a corpus folder, produced by no source.
    Extra(PathBuf),
}

impl fmt::Display for Stale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stale::Missing(p) => write!(f, "missing: {}", p.display()),
            Stale::Differs(p) => write!(f, "out of date: {}", p.display()),
            Stale::Extra(p) => write!(f, "from no seed program: {}", p.display()),
        }
    }
}

/// The corpus files under `root` that are not what `seeds` say.
pub fn stale(root: &Path, seeds: &[Seed]) -> Vec<Stale> {
    let mut out = Vec::new();
    for s in seeds {
        match std::fs::read(root.join(&s.output)) {
            Ok(bytes) if bytes == s.bytes => {}
            Ok(_) => out.push(Stale::Differs(s.output.clone())),
            Err(_) => out.push(Stale::Missing(s.output.clone())),
        }
    }
    let targets = DIFFERENTIAL.iter().map(|&(t, _)| t).chain([PARSE_TEXT]);
    for target in targets {
        let dir = Path::new("corpus").join(target);
        let Ok(entries) = std::fs::read_dir(root.join(&dir)) else {
            continue;
        };
        let mut extra: Vec<PathBuf> = entries
            .filter_map(|e| e.ok())
            .map(|e| dir.join(e.file_name()))
            .filter(|p| !seeds.iter().any(|s| &s.output == p))
            .collect();
        extra.sort();
        out.extend(extra.into_iter().map(Stale::Extra));
    }
    out
}

/// Writes every missing or out-of-date corpus file (these files belong to this command);
/// removes files from no source only with `prune`. Returns what was stale before.
pub fn write(root: &Path, seeds: &[Seed], prune: bool) -> Result<Vec<Stale>, String> {
    let before = stale(root, seeds);
    for s in seeds {
        let path = root.join(&s.output);
        if matches!(std::fs::read(&path), Ok(b) if b == s.bytes) {
            continue;
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("{}: cannot create: {e}", dir.display()))?;
        }
        std::fs::write(&path, &s.bytes)
            .map_err(|e| format!("{}: cannot write: {e}", path.display()))?;
    }
    if prune {
        for st in &before {
            if let Stale::Extra(p) = st {
                let path = root.join(p);
                std::fs::remove_file(&path)
                    .map_err(|e| format!("{}: cannot remove: {e}", path.display()))?;
            }
        }
    }
    Ok(before)
}
