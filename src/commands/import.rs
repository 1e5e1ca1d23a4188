//! `delalloc-fuzz import`: libFuzzer/AFL crash inputs → readable, minimized regression programs.

use super::common::{resolve_for, BugArgs, LevelArg, ERROR};
use crate::against::Against;
use crate::corpus::artifact;
use crate::engines::findings;
use crate::generators::Level;
use crate::pairing::Overrides;
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
    /// injected bugs: DELALLOC_FUZZ_BUGS, --bug, or a text program's run line).
    #[expect(
        rustdoc::invalid_html_tags,
        reason = "`<bugs>` is the help text's placeholder, not HTML"
    )]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Overwrite an existing regression file of the same name.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub bugs: BugArgs,
}

impl ImportCommand {
    /// Imports every artifact it can; the worst exit code.
    pub fn execute(self) -> u8 {
        let overrides = match self.bugs.overrides(None) {
            Ok(o) => o,
            Err(e) => {
                eprintln!("error: {e}");
                return ERROR;
            }
        };
        let level = self.level.map(Level::from);
        let mut code = 0;
        for a in &self.artifacts {
            if let Err((c, e)) = import_one(a, level, self.out.as_deref(), self.force, &overrides) {
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
    out: Option<&Path>,
    force: bool,
    overrides: &Overrides,
) -> Result<(), (u8, String)> {
    if a.is_dir() {
        return Err((
            ERROR,
            format!("{}: is a directory, not an artifact", a.display()),
        ));
    }
    let (program, decoding, run) = artifact::load_file(a, level).map_err(|e| (ERROR, e))?;
    let pairing = resolve_for(a, run.as_ref(), overrides).map_err(|e| (ERROR, e))?;
    if pairing.against == Against::Kernel {
        return Err((
            ERROR,
            format!(
                "{}: its run line says against=kernel: import keeps findings of the optimized                  model; `minimize` shrinks a kernel finding",
                a.display()
            ),
        ));
    }
    let bugs = pairing.bugs;
    let out = out.map_or_else(|| artifact::default_out(bugs), Path::to_path_buf);
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
    let Some(r) = artifact::regression(&program, &pairing, a, decoding) else {
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
    std::fs::create_dir_all(&out)
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
