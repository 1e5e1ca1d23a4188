//! What several commands share: exit codes, the `--level`, `--engine` and `--bug` flags, and
//! reading program files, raw fuzz artifacts and the bug switch from the environment.

use crate::against::Against;
use crate::corpus::artifact;
use crate::generators::Level;
use crate::injected;
use crate::kernel_variant;
use delalloc_contract::concurrent_text::{is_concurrent_text, parse_concurrent_program};
use delalloc_contract::text::parse_program;
use delalloc_contract::{ConcurrentProgram, Program};
use delalloc_optimized::bugs::BugSet;
use std::path::{Path, PathBuf};

/// Exit code: a divergence was found (a replayed program failed), or another check failed.
pub const FAILED: u8 = 1;
/// Exit code: bad input or an unusable path; the command could not do its job.
pub const ERROR: u8 = 2;

/// `--level`: which ops programs use.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum LevelArg {
    Tree,
    Fs,
    Mixed,
}

impl From<LevelArg> for Level {
    fn from(l: LevelArg) -> Level {
        match l {
            LevelArg::Tree => Level::Tree,
            LevelArg::Fs => Level::Fs,
            LevelArg::Mixed => Level::Mixed,
        }
    }
}

/// `--against` and `--kernel-src`: the model the reference is compared with.
#[derive(Clone, clap::Args)]
pub struct AgainstArgs {
    /// The model compared with the reference: the optimized implementation, or the kernel's
    /// own io tree and delalloc hooks compiled from a Linux tree (tree-level programs only).
    #[arg(long, value_enum, default_value_t = Against::Optimized, value_name = "MODEL")]
    pub against: Against,
    /// With --against kernel: the Linux tree to build the kernel model from, when it is not
    /// the one this binary was built with (the command is rebuilt on DIR and run there).
    #[arg(long, value_name = "DIR")]
    pub kernel_src: Option<PathBuf>,
}

impl AgainstArgs {
    /// [`AgainstArgs::prepare`] for a command's `execute`: `None` to go on here, or the exit
    /// code to return (the error printed, or the command's own code from the rebuilt binary).
    pub(super) fn elsewhere(&self) -> Option<u8> {
        match self.prepare() {
            Err(e) => {
                eprintln!("error: {e}");
                Some(ERROR)
            }
            Ok(code) => code,
        }
    }

    /// Checks the flags and that the model is in this binary. `Ok(Some(code))`: the command
    /// already ran, on a build against --kernel-src, and exited with `code`; `Ok(None)`: run it
    /// here.
    fn prepare(&self) -> Result<Option<u8>, String> {
        if let Some(src) = &self.kernel_src {
            if self.against != Against::Kernel {
                return Err("--kernel-src is for --against kernel".into());
            }
            if !kernel_variant::is_built_tree(src) {
                return kernel_variant::rerun_on(src).map(Some);
            }
        }
        self.against.ready()?;
        if self.against == Against::Kernel {
            eprintln!("note: the reference against {}", self.against.describe());
        }
        Ok(None)
    }
}

/// `mutants --engine`: which fuzz engine runs the campaigns.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum EngineArg {
    Builtin,
    Libfuzzer,
}

/// `--bug NAME[,NAME...]`: a non-empty set of bugs to re-introduce.
pub(super) fn parse_bugs(s: &str) -> Result<BugSet, String> {
    match s.parse::<BugSet>() {
        Ok(set) if set.is_empty() => Err("names no bug".into()),
        other => other.map_err(|e| e.to_string()),
    }
}

/// Program files under `paths`: files as given, directories walked for `*.txt` (not reports).
pub(super) fn collect(paths: &[PathBuf]) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            // Unreadable: let the read fail and be reported as a FAIL.
            out.push(dir.to_path_buf());
            return;
        };
        let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out);
            } else if is_program_file(&p) || is_artifact(&p) {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut out);
        } else {
            out.push(p.clone());
        }
    }
    out
}

/// `*.txt` except the engine's `*.report.txt`.
pub(super) fn is_program_file(p: &Path) -> bool {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.ends_with(".txt") && !name.ends_with(".report.txt")
}

pub(super) fn is_artifact(p: &Path) -> bool {
    p.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(artifact::is_artifact_name)
}

/// The injected bugs of DELALLOC_FUZZ_BUGS, announced on stderr; the error is the message.
pub(super) fn bugs_from_env() -> Result<injected::WrapperBugs, String> {
    let bugs = injected::WrapperBugs::from_env()?;
    if !bugs.is_empty() {
        eprintln!(
            "note: {}: the optimized model runs with injected bugs",
            bugs.assignment()
        );
    }
    Ok(bugs)
}

/// Reads and parses a program file; the error names file:line:column.
pub(super) fn load(path: &Path) -> Result<Program, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    parse_program(&text)
        .map_err(|e| format!("{}:{}:{}: {}", path.display(), e.line, e.column, e.message))
}

/// The text of a concurrent program file (one with `setup`, `task` or `schedule` lines).
pub(super) fn concurrent_text(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    is_concurrent_text(&text).then_some(text)
}

/// Parses a concurrent program file's text; the error names file:line:column.
pub(super) fn parse_concurrent(path: &Path, text: &str) -> Result<ConcurrentProgram, String> {
    parse_concurrent_program(text)
        .map_err(|e| format!("{}:{}:{}: {}", path.display(), e.line, e.column, e.message))
}
