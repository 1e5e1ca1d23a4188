//! `delalloc-fuzz report`: a finding's program file replayed and drawn as one self-contained
//! HTML page (`report::page`; a concurrent finding's, `report::concurrent_page`).

use super::common::{
    file_overrides, load_any, prepare_for, race_bugs_for, resolve_for, AgainstArgs, BugArgs,
    Loaded, ERROR,
};
use crate::against::Against;
use crate::engines::findings;
use crate::oracles::linearizable::Linearizable;
use crate::oracles::{Oracle, Verdict};
use crate::pairing::Overrides;
use crate::report;
use delalloc_contract::run_line::RunLine;
use delalloc_contract::ConcurrentProgram;
use std::path::{Path, PathBuf};

/// `report`'s flags; [`ReportCommand::execute`] writes the page.
#[derive(clap::Args)]
pub struct ReportCommand {
    /// The finding: its program file (`<name>.txt`); its `<name>.json` or `<name>.report.txt`
    /// stand for the program file beside them.
    #[arg(value_name = "FINDING")]
    pub finding: PathBuf,
    /// Write the page here: one HTML file, no script, nothing fetched.
    #[arg(long, value_name = "OUT.html", required = true)]
    pub html: PathBuf,
    /// Overwrite OUT.html if it exists.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub against: AgainstArgs,
    #[command(flatten)]
    pub bugs: BugArgs,
}

impl ReportCommand {
    /// Writes the page; the exit code (0 written, 2 not written: bad input, not a finding, a
    /// file in the way).
    pub fn execute(self) -> u8 {
        if self.html.exists() && !self.force {
            eprintln!(
                "error: {} already exists (pass --force to overwrite it)",
                self.html.display()
            );
            return ERROR;
        }
        let overrides = match file_overrides(&self.against, &self.bugs) {
            Ok(o) => o,
            Err(code) => return code,
        };
        match self.write(&overrides) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("error: {e}");
                ERROR
            }
        }
    }

    /// Replays the finding with the models its run line names (or what overrides it) and
    /// writes its page.
    fn write(self, overrides: &Overrides) -> Result<(), String> {
        let file = program_file(&self.finding)?;
        let (mut program, decoding, run) = match load_any(&file, None)? {
            Loaded::Concurrent { program, run } => {
                return self.write_concurrent(&file, &program, run.as_ref(), overrides)
            }
            Loaded::Sequential {
                program,
                decoding,
                run,
            } => (program, decoding, run),
        };
        let pairing = resolve_for(&file, run.as_ref(), overrides)?;
        prepare_for(&file, &mut program, &decoding, &pairing)?;
        let d = match pairing.run(&program) {
            Verdict::Diverged(d) => d,
            Verdict::Agree(_) => {
                return Err(format!(
                    "{}: not a finding: the reference and {} agree on it (a finding of \
                     `fuzz --bug B` records its bugs in its run line; `--bug B` adds them to a \
                     file without one)",
                    file.display(),
                    pairing.describe()
                ));
            }
        };
        let source = format!("{}, {}", file.display(), pairing.describe());
        let page = report::page::html(&d, &source)
            .map_err(|e| format!("{}: cannot draw the page: {e}", file.display()))?;
        findings::write_user_file(&self.html, &page, self.force)
            .map_err(|e| format!("cannot write {}: {e}", self.html.display()))?;
        println!("{}", report::headline(&d));
        println!("wrote {}", self.html.display());
        Ok(())
    }
}

impl ReportCommand {
    /// A concurrent finding: its run replayed with the race bugs of its run line (or what
    /// overrides it) under its schedule, judged by the linearizability oracle, and drawn.
    fn write_concurrent(
        &self,
        file: &Path,
        program: &ConcurrentProgram,
        run: Option<&RunLine>,
        overrides: &Overrides,
    ) -> Result<(), String> {
        if overrides.against == Some(Against::Kernel) {
            return Err(format!(
                "{}: a concurrent program: --against kernel draws sequential tree-level findings",
                file.display()
            ));
        }
        let pairing = resolve_for(file, run, overrides)?;
        let bugs = race_bugs_for(file, &pairing);
        let oracle = Linearizable { bugs };
        let d = match oracle.check(program) {
            Verdict::Diverged(d) => d,
            Verdict::Agree(_) => {
                let with = if bugs.is_empty() {
                    "the fixed model".to_string()
                } else {
                    let names: Vec<&str> = bugs.iter().map(|b| b.name()).collect();
                    format!("the model with bugs={}", names.join(","))
                };
                return Err(format!(
                    "{}: not a finding: the concurrent oracle accepts {with}'s run under its \
                     schedule (a finding of `fuzz --concurrent --bug B` records its bugs in its \
                     run line; `--bug B` adds them to a file without one)",
                    file.display()
                ));
            }
        };
        let source = format!("{}, {}", file.display(), oracle.run_line());
        let page = report::concurrent_page::html(&d, &source)
            .map_err(|e| format!("{}: cannot draw the page: {e}", file.display()))?;
        findings::write_user_file(&self.html, &page, self.force)
            .map_err(|e| format!("cannot write {}: {e}", self.html.display()))?;
        println!("{}", report::concurrent::headline(&d));
        println!("wrote {}", self.html.display());
        Ok(())
    }
}

/// The program file of a finding named by any of its files: `x.json` and `x.report.txt` stand
/// for `x.txt` beside them.
fn program_file(path: &Path) -> Result<PathBuf, String> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let Some(stem) = name
        .strip_suffix(".report.txt")
        .or_else(|| name.strip_suffix(".json"))
        .or_else(|| name.strip_suffix(".html"))
    else {
        return Ok(path.to_path_buf());
    };
    let program = path.with_file_name(format!("{stem}.txt"));
    if program.is_file() {
        eprintln!(
            "note: {} is a finding's report; replaying its program {}",
            path.display(),
            program.display()
        );
        Ok(program)
    } else {
        Err(format!(
            "{}: a report, not a program, and there is no {} beside it: give the finding's \
             program file (a report does not hold everything needed to replay it)",
            path.display(),
            program.display()
        ))
    }
}
