//! `delalloc-fuzz import`: libFuzzer/AFL crash inputs → readable, minimized regression programs.

use super::common::{bugs_from_env, LevelArg, ERROR};
use crate::corpus::artifact;
use crate::engines::findings;
use crate::generators::Level;
use crate::injected;
use crate::report;
use std::path::{Path, PathBuf};

/// `import`'s flags; [`ImportCommand::execute`] imports the artifacts.
#[derive(clap::Args)]
pub struct ImportCommand {
    #[arg(required = true, value_name = "ARTIFACT")]
    pub artifacts: Vec<PathBuf>,
    /// Level the target decoded them at (default: from a fs_level/ or tree_level/ folder
    /// on the path).
    #[arg(long, value_enum, value_name = "L")]
    pub level: Option<LevelArg>,
    /// Where to write (default: corpus/regressions/imported, or corpus/injected/<bugs> with
    /// DELALLOC_FUZZ_BUGS set).
    #[expect(
        rustdoc::invalid_html_tags,
        reason = "`<bugs>` is the help text's placeholder, not HTML"
    )]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Overwrite an existing regression file of the same name.
    #[arg(long)]
    pub force: bool,
}

impl ImportCommand {
    /// Imports every artifact it can; the worst exit code.
    pub fn execute(self) -> u8 {
        let bugs = match bugs_from_env() {
            Ok(b) => b,
            Err(e) => {
                eprintln!("error: {e}");
                return ERROR;
            }
        };
        let level = self.level.map(Level::from);
        let out = self.out.unwrap_or_else(|| artifact::default_out(bugs));
        let mut code = 0;
        for a in &self.artifacts {
            if let Err((c, e)) = import_one(a, level, &out, self.force, bugs) {
                eprintln!("error: {e}");
                code = code.max(c);
            }
        }
        code
    }
}

fn import_one(
    a: &Path,
    level: Option<Level>,
    out: &Path,
    force: bool,
    bugs: injected::WrapperBugs,
) -> Result<(), (u8, String)> {
    if a.is_dir() {
        return Err((
            ERROR,
            format!("{}: is a directory, not an artifact", a.display()),
        ));
    }
    let (program, decoding) = artifact::load(a, level).map_err(|e| (ERROR, e))?;
    let path = out.join(artifact::regression_name(a));
    if path.exists() && !force {
        return Err((
            ERROR,
            format!(
                "{} already exists (pass --force to overwrite it)",
                path.display()
            ),
        ));
    }
    let Some(r) = artifact::regression(&program, bugs, a, decoding) else {
        // Not a finding: the input is not what the command needs.
        return Err((
            ERROR,
            format!(
                "{} does not diverge ({decoding}, {} ops): the models agree on it{}; not imported",
                a.display(),
                program.ops.len(),
                if bugs.is_empty() {
                    ""
                } else {
                    " even with the injected bugs"
                }
            ),
        ));
    };
    std::fs::create_dir_all(out)
        .map_err(|e| (ERROR, format!("{}: cannot create: {e}", out.display())))?;
    findings::write_user_file(&path, &r.text, force)
        .map_err(|e| (ERROR, format!("cannot write {}: {e}", path.display())))?;
    let m = &r.minimized;
    println!(
        "{} ({decoding}): {} ops -> {} ops\n  {}\nwrote {}",
        a.display(),
        m.size_before,
        m.size_after,
        report::headline(&m.divergence),
        path.display()
    );
    Ok(())
}
