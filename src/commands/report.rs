//! `delalloc-fuzz report`: a finding's program file replayed and drawn as one self-contained
//! HTML page (`report::page`).

use super::common::{bugs_from_env, concurrent_text, load, AgainstArgs, ERROR};
use crate::against::Against;
use crate::engines::findings;
use crate::injected::{self, WrapperBugs};
use crate::oracles::Verdict;
use crate::report;
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
    /// The bugs the optimized model ran with when it diverged (comma-separated names of the
    /// model's historical bugs or the injected ones); default: DELALLOC_FUZZ_BUGS, else none.
    #[arg(long = "bug", value_name = "NAME", value_parser = check_bugs)]
    pub bugs: Vec<String>,
    #[command(flatten)]
    pub against: AgainstArgs,
}

/// `--bug a,b`: names of the model's or the wrapper's bugs, at least one.
fn check_bugs(s: &str) -> Result<String, String> {
    match WrapperBugs::parse(s) {
        Ok(set) if set.is_empty() => Err("names no bug".into()),
        Ok(_) => Ok(s.to_string()),
        Err(e) => Err(e
            .trim_start_matches(&format!("{}: ", injected::ENV))
            .to_string()),
    }
}

impl ReportCommand {
    /// Writes the page; the exit code (0 written, 2 not written: bad input, not a finding, a
    /// file in the way).
    pub fn execute(self) -> u8 {
        let bugs = match self.check() {
            Ok(bugs) => bugs,
            Err(e) => {
                eprintln!("error: {e}");
                return ERROR;
            }
        };
        if let Some(code) = self.against.elsewhere() {
            return code;
        }
        match self.write(bugs) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("error: {e}");
                ERROR
            }
        }
    }

    /// What can be refused before anything runs; the bugs to inject.
    fn check(&self) -> Result<WrapperBugs, String> {
        if self.html.exists() && !self.force {
            return Err(format!(
                "{} already exists (pass --force to overwrite it)",
                self.html.display()
            ));
        }
        let bugs = if self.bugs.is_empty() {
            bugs_from_env()?
        } else {
            WrapperBugs::parse(&self.bugs.join(","))?
        };
        if self.against.against == Against::Kernel && !bugs.is_empty() {
            return Err(format!(
                "{} re-introduces bugs in the optimized model; the kernel's mutants are patches \
                 (mutants --against kernel)",
                if self.bugs.is_empty() {
                    injected::ENV
                } else {
                    "--bug"
                }
            ));
        }
        Ok(bugs)
    }

    /// Replays the finding and writes its page.
    fn write(self, bugs: WrapperBugs) -> Result<(), String> {
        let against = self.against.against;
        let file = program_file(&self.finding)?;
        if concurrent_text(&file).is_some() {
            return Err(format!(
                "{}: a concurrent program: the page shows sequential findings; `trace` shows a \
                 concurrent one's timeline",
                file.display()
            ));
        }
        let mut program = load(&file)?;
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        against
            .prepare(&mut program, Some(&text))
            .map_err(|e| format!("{}: {e}", file.display()))?;
        let d = match against.run(&program, bugs) {
            Verdict::Diverged(d) => d,
            Verdict::Agree(_) => {
                let with = if bugs.is_empty() {
                    String::new()
                } else {
                    format!(" with {}", bugs.names())
                };
                return Err(format!(
                    "{}: not a finding: the reference and {}{with} agree on it (a finding of \
                     `fuzz --bug B` needs `--bug B` here too)",
                    file.display(),
                    against.describe()
                ));
            }
        };
        let mut source = file.display().to_string();
        if !bugs.is_empty() {
            source += &format!(", the optimized model with {}", bugs.names());
        }
        let page = report::page::html(&d, &source)
            .map_err(|e| format!("{}: cannot draw the page: {e}", file.display()))?;
        findings::write_user_file(&self.html, &page, self.force)
            .map_err(|e| format!("cannot write {}: {e}", self.html.display()))?;
        println!("{}", report::headline(&d));
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
