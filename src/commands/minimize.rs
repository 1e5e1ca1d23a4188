//! `delalloc-fuzz minimize`: a diverging program file (sequential or concurrent) shrunk to a
//! small one diverging the same way.

use super::common::{concurrent_text, load, parse_concurrent, AgainstArgs, ERROR};
use crate::against::Against;
use crate::engines::findings;
use crate::injected::WrapperBugs;
use crate::oracles::linearizable;
use crate::oracles::stats::Stats;
use crate::oracles::Verdict;
use crate::report;
use crate::shrink;
use delalloc_contract::concurrent_text::print_concurrent_program;
use delalloc_contract::text::print_program;
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
    #[command(flatten)]
    pub against: AgainstArgs,
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
        if let Some(code) = self.against.elsewhere() {
            return code;
        }
        let against = self.against.against;
        if let Some(text) = concurrent_text(file) {
            if against == Against::Kernel {
                eprintln!(
                    "error: {}: a concurrent program: --against kernel minimizes sequential tree-level programs",
                    file.display()
                );
                return ERROR;
            }
            return minimize_concurrent_file(file, &text, &out, force);
        }
        let mut program = match load(file) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("error: {e}");
                return ERROR;
            }
        };
        let text = std::fs::read_to_string(file).unwrap_or_default();
        if let Err(e) = against.prepare(&mut program, Some(&text)) {
            eprintln!("error: {}: {e}", file.display());
            return ERROR;
        }
        // Against the kernel, candidates stay in the program's era and in what the model can
        // run: a smaller program that leaves them is not the same bug.
        let era = program.geometry.era;
        let minimized = shrink::minimize_with(&program, |p| {
            let kept = against == Against::Optimized
                || (p.geometry.era == era && against.check_program(p).is_ok());
            if kept {
                against.run(p, WrapperBugs::NONE)
            } else {
                Verdict::Agree(Stats::default())
            }
        });
        let Some(m) = minimized else {
            eprintln!(
                "error: {} does not diverge: the models agree on it, nothing to minimize",
                file.display()
            );
            // Not a finding: the input is not what the command needs.
            return ERROR;
        };
        let text = format!(
            "# minimized from {} ({} ops) by `delalloc-fuzz minimize`\n# {}\n{}",
            file.display(),
            m.size_before,
            report::headline(&m.divergence),
            print_program(&m.program)
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

/// A concurrent file.
fn minimize_concurrent_file(file: &Path, text: &str, out: &Path, force: bool) -> u8 {
    let p = match parse_concurrent(file, text) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ERROR;
        }
    };
    let Some(m) = shrink::concurrent::minimize(&p, linearizable::run) else {
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
        print_concurrent_program(&m.program)
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
