//! `delalloc-fuzz minimize`: a diverging program file (sequential or concurrent) or raw fuzz
//! artifact shrunk to a small one diverging the same way, with the models and bugs of its run
//! line (or of `--against`, `--bug`, `DELALLOC_FUZZ_BUGS`), which the output's run line keeps.

use super::common::{
    file_overrides, load_any, prepare_for, race_bugs_for, resolve_for, AgainstArgs, BugArgs,
    LevelArg, Loaded, ERROR,
};
use crate::against::Against;
use crate::engines::findings;
use crate::generators::Level;
use crate::oracles::linearizable::Linearizable;
use crate::oracles::Oracle;
use crate::pairing::Pairing;
use crate::report;
use crate::shrink;
use delalloc_contract::concurrent_text::print_concurrent_file;
use delalloc_contract::text::print_program_file;
use delalloc_contract::ConcurrentProgram;
use std::path::{Path, PathBuf};

/// `minimize`'s flags; [`MinimizeCommand::execute`] shrinks the file.
#[derive(clap::Args)]
pub struct MinimizeCommand {
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Where to write the result (default: FILE with `.min.txt`).
    #[arg(long, short, value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// Overwrite OUT if it exists.
    #[arg(long)]
    pub force: bool,
    /// Level to decode a raw fuzz input at (default: from a fs_level/ or tree_level/ folder
    /// on the path).
    #[arg(long, value_enum, value_name = "L")]
    pub level: Option<LevelArg>,
    #[command(flatten)]
    pub against: AgainstArgs,
    #[command(flatten)]
    pub bugs: BugArgs,
}

impl MinimizeCommand {
    /// Minimizes; the exit code.
    pub fn execute(self) -> u8 {
        let (file, force) = (&self.file, self.force);
        let out = self.output.unwrap_or_else(|| default_output(file));
        if out.exists() && !force {
            eprintln!(
                "error: {} already exists (pass --force to overwrite it)",
                out.display()
            );
            return ERROR;
        }
        let overrides = match file_overrides(&self.against, &self.bugs) {
            Ok(o) => o,
            Err(code) => return code,
        };
        let loaded = match load_any(file, self.level.map(Level::from)) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("error: {e}");
                return ERROR;
            }
        };
        if matches!(loaded, Loaded::Concurrent { .. }) && overrides.against == Some(Against::Kernel)
        {
            eprintln!(
                "error: {}: a concurrent program: --against kernel minimizes sequential tree-level programs",
                file.display()
            );
            return ERROR;
        }
        let pairing = match resolve_for(file, loaded.run_line(), &overrides) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("error: {e}");
                return ERROR;
            }
        };
        let (mut program, decoding) = match loaded {
            Loaded::Concurrent { program, .. } => {
                return minimize_concurrent_file(file, &program, &pairing, &out, force)
            }
            Loaded::Sequential {
                program, decoding, ..
            } => (program, decoding),
        };
        if let Err(e) = prepare_for(file, &mut program, &decoding, &pairing) {
            eprintln!("error: {e}");
            return ERROR;
        }
        let Some(m) = pairing.minimize(&program) else {
            eprintln!(
                "error: {} does not diverge: the models agree on it, nothing to minimize",
                file.display()
            );
            // Not a finding: the input is not what the command needs.
            return ERROR;
        };
        // The run line is what it was minimized against: the file's, or what overrode it.
        let text = format!(
            "# minimized from {} ({} ops) by `delalloc-fuzz minimize`\n# {}\n{}",
            file.display(),
            m.size_before,
            report::headline(&m.divergence),
            print_program_file(&m.program, &pairing.run_line())
        );
        let summary = format!(
            "{} ops -> {} ops ({} oracle runs)",
            m.size_before, m.size_after, m.runs
        );
        write_minimized(
            file,
            &out,
            &text,
            force,
            &summary,
            &report::text(&m.divergence),
        )
    }
}

/// `dir/foo.txt` -> `dir/foo.min.txt`; `dir/foo` -> `dir/foo.min.txt`.
fn default_output(file: &Path) -> PathBuf {
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("program");
    let stem = name.strip_suffix(".txt").unwrap_or(name);
    file.with_file_name(format!("{stem}.min.txt"))
}

/// A concurrent file, with the model bugs of `pairing`.
fn minimize_concurrent_file(
    file: &Path,
    p: &ConcurrentProgram,
    pairing: &Pairing,
    out: &Path,
    force: bool,
) -> u8 {
    let oracle = Linearizable {
        bugs: race_bugs_for(file, pairing),
    };
    let Some(m) = shrink::concurrent::minimize(p, |p| oracle.check(p)) else {
        eprintln!(
            "error: {} does not diverge: the run is linearizable and leaks nothing, nothing to minimize",
            file.display()
        );
        return ERROR;
    };
    let text = format!(
        "# minimized from {} by `delalloc-fuzz minimize`\n# {}\n{}",
        file.display(),
        report::concurrent::headline(&m.divergence),
        print_concurrent_file(&m.program, &oracle.run_line())
    );
    let summary = format!(
        "{:?} -> {:?} (task ops, setup ops, schedule bytes; {} oracle runs)",
        m.size_before, m.size_after, m.runs
    );
    let report = report::concurrent::text(&m.divergence);
    write_minimized(file, out, &text, force, &summary, &report)
}

/// The end of `minimize`, sequential or concurrent: `text` (the minimized program) to `out`,
/// then what shrank and after how many oracle runs (`summary`), where it went, and the report.
fn write_minimized(
    file: &Path,
    out: &Path,
    text: &str,
    force: bool,
    summary: &str,
    report: &str,
) -> u8 {
    if let Err(e) = findings::write_user_file(out, text, force) {
        eprintln!("error: cannot write {}: {e}", out.display());
        return ERROR;
    }
    println!("{}: {summary}", file.display());
    println!("wrote {}", out.display());
    println!();
    print!("{report}");
    0
}
