//! What several commands share: exit codes, the `--level`, `--engine` and `--bug` flags, and
//! reading program files, raw fuzz artifacts and the bug switch from the environment.

use crate::against::Against;
use crate::corpus::artifact::{self, Decoding};
use crate::generators::Level;
use crate::injected::{self, WrapperBugs};
use crate::kernel_variant;
use crate::pairing::{self, Overrides, Pairing};
use delalloc_contract::concurrent_text::{is_concurrent_text, parse_concurrent_file};
use delalloc_contract::run_line::RunLine;
use delalloc_contract::{ConcurrentProgram, Program};
use delalloc_optimized::bugs::BugSet;
use delalloc_optimized_shuttle::bugs::BugSet as RaceBugs;
use std::path::{Path, PathBuf};

/// Exit code: a divergence was found (a replayed program failed), or another check failed.
pub const FAILED: u8 = 1;
/// Exit code: bad input or an unusable path; the command could not do its job.
pub const ERROR: u8 = 2;

/// `--era`: the era every generated program runs in (SPEC §0), through the generators'
/// [`crate::generators::Dialect`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum EraArg {
    /// Era B (4.x accounting).
    B,
    /// Era 6 (the 6.x io tree and era C's per-inode reservations).
    #[value(name = "6")]
    V6,
}

impl From<EraArg> for delalloc_contract::Era {
    fn from(e: EraArg) -> delalloc_contract::Era {
        match e {
            EraArg::B => delalloc_contract::Era::B,
            EraArg::V6 => delalloc_contract::Era::V6,
        }
    }
}

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
    /// own fs/btrfs code compiled from a Linux tree (its io tree and hooks; at the fs level its
    /// delalloc-space.c and block-rsv.c).
    /// Default: a program file's run line, else optimized.
    #[arg(long, value_enum, value_name = "MODEL")]
    pub against: Option<Against>,
    /// With --against kernel: the Linux tree to build the kernel model from, when it is not
    /// the one this binary was built with (the command is rebuilt on DIR and run there).
    #[arg(long, value_name = "DIR")]
    pub kernel_src: Option<PathBuf>,
}

impl AgainstArgs {
    /// The model chosen: `--against`, else the optimized model.
    pub(super) fn model(&self) -> Against {
        self.against.unwrap_or_default()
    }

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
        let against = self.model();
        if let Some(src) = &self.kernel_src {
            if against != Against::Kernel {
                return Err("--kernel-src is for --against kernel".into());
            }
            if !kernel_variant::is_built_tree(src) {
                return kernel_variant::rerun_on(src).map(Some);
            }
        }
        against.ready()?;
        if against == Against::Kernel {
            eprintln!("note: the reference against {}", against.describe());
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

/// `--guidance on|off`: the built-in engine's coverage guidance ([`crate::engines::guidance`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum GuidanceArg {
    On,
    Off,
}

impl GuidanceArg {
    /// Whether guidance is on, given the flag if any: absent, the built-in default.
    pub fn resolve(flag: Option<GuidanceArg>) -> bool {
        flag.map_or(crate::engines::guidance::DEFAULT, |g| g == GuidanceArg::On)
    }
}

/// The start of every command that runs program files: the overrides of `--against`, `--bug`
/// and `DELALLOC_FUZZ_BUGS`, after [`AgainstArgs::elsewhere`]. `Err(code)`: return `code` at
/// once (an error was printed, or the command ran on a build against --kernel-src).
pub(super) fn file_overrides(against: &AgainstArgs, bugs: &BugArgs) -> Result<Overrides, u8> {
    let overrides = bugs.overrides(against.against).map_err(|e| {
        eprintln!("error: {e}");
        ERROR
    })?;
    match against.elsewhere() {
        Some(code) => Err(code),
        None => Ok(overrides),
    }
}

/// `--bug NAME[,NAME...]`: a non-empty set of bugs to re-introduce.
pub(super) fn parse_bugs(s: &str) -> Result<BugSet, String> {
    match s.parse::<BugSet>() {
        Ok(set) if set.is_empty() => Err("names no bug".into()),
        other => other.map_err(|e| e.to_string()),
    }
}

/// `--bug` of the commands that run program files (`replay`, `trace`, `minimize`, `import`):
/// bugs to run with instead of those of the file's run line.
#[derive(Clone, clap::Args)]
pub struct BugArgs {
    /// Inject these bugs instead of the file's run line's (repeatable, or comma-separated;
    /// `none`: the real models). DELALLOC_FUZZ_BUGS does the same, below this flag.
    #[arg(long = "bug", value_name = "NAME|none", value_parser = parse_override_bugs)]
    pub bugs: Vec<WrapperBugs>,
}

impl BugArgs {
    /// What the command was told besides the files: `--against`, `--bug`, `DELALLOC_FUZZ_BUGS`.
    pub(super) fn overrides(&self, against: Option<Against>) -> Result<Overrides, String> {
        let bugs = (!self.bugs.is_empty())
            .then(|| self.bugs.iter().fold(WrapperBugs::NONE, |a, b| a.union(*b)));
        Ok(Overrides {
            against,
            bugs,
            env: WrapperBugs::from_env()?,
        })
    }
}

/// `--bug none`, or names of the wrapper's or the model's bugs.
fn parse_override_bugs(s: &str) -> Result<WrapperBugs, String> {
    if s.trim() == "none" {
        return Ok(WrapperBugs::NONE);
    }
    match WrapperBugs::parse(s) {
        Ok(set) if set.is_empty() => Err("names no bug (`none` for none)".into()),
        Ok(set) => Ok(set),
        Err(e) => Err(e
            .strip_prefix(&format!("{}: ", injected::ENV))
            .unwrap_or(&e)
            .to_string()),
    }
}

/// A file a command runs, as read: a sequential program (a text file or a raw fuzz artifact)
/// or a concurrent one, with its run line if it has one.
pub(super) enum Loaded {
    Sequential {
        program: Program,
        decoding: Decoding,
        run: Option<RunLine>,
    },
    Concurrent {
        program: ConcurrentProgram,
        run: Option<RunLine>,
    },
}

impl Loaded {
    pub(super) fn run_line(&self) -> Option<&RunLine> {
        match self {
            Loaded::Sequential { run, .. } | Loaded::Concurrent { run, .. } => run.as_ref(),
        }
    }
}

/// Reads `path`: a concurrent program file, else a program file or raw artifact (decoded at
/// `level`, see [`artifact::load`]). The error names file:line:column.
pub(super) fn load_any(path: &Path, level: Option<Level>) -> Result<Loaded, String> {
    if let Some(text) = concurrent_text(path) {
        let (program, run) = parse_concurrent_file(&text, &pairing::check_race_bug)
            .map_err(|e| format!("{}:{}:{}: {}", path.display(), e.line, e.column, e.message))?;
        return Ok(Loaded::Concurrent { program, run });
    }
    let (program, decoding, run) = artifact::load_file(path, level)?;
    Ok(Loaded::Sequential {
        program,
        decoding,
        run,
    })
}

/// [`pairing::resolve`] for the file `path`, its notes printed on stderr naming the file.
pub(super) fn resolve_for(
    path: &Path,
    run: Option<&RunLine>,
    o: &Overrides,
) -> Result<Pairing, String> {
    let r = pairing::resolve(run, o).map_err(|e| format!("{}: {e}", path.display()))?;
    for note in &r.notes {
        let (kind, rest) = note.split_once(": ").unwrap_or(("note", note));
        eprintln!("{kind}: {}: {rest}", path.display());
    }
    Ok(r.pairing)
}

/// The sequential program read from `path` made ready for `pairing`'s model
/// ([`Against::prepare`]: a text file that names no era takes the kernel's, a raw artifact is
/// adapted as its fuzz target adapts it) and checked against it. The error names the file.
pub(super) fn prepare_for(
    path: &Path,
    program: &mut Program,
    decoding: &Decoding,
    pairing: &Pairing,
) -> Result<(), String> {
    let text = matches!(decoding, Decoding::Text)
        .then(|| std::fs::read_to_string(path).unwrap_or_default());
    pairing
        .against
        .prepare(program, text.as_deref())
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// [`Pairing::race_bugs`] for the concurrent file `path`, its note printed naming the file.
pub(super) fn race_bugs_for(path: &Path, pairing: &Pairing) -> RaceBugs {
    let (bugs, note) = pairing.race_bugs();
    if let Some(note) = note {
        let (kind, rest) = note.split_once(": ").unwrap_or(("note", &note));
        eprintln!("{kind}: {}: {rest}", path.display());
    }
    bugs
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

/// The text of a concurrent program file (one with `setup`, `task` or `schedule` lines).
pub(super) fn concurrent_text(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    is_concurrent_text(&text).then_some(text)
}
