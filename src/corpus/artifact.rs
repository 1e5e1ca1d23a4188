//! Fuzz engine artifacts (libFuzzer's `crash-*`, AFL's `id:*`): reading them as programs with
//! the decoder the targets use, and turning a diverging one into a readable regression.

use crate::generators::Level;
use crate::injected::WrapperBugs;
use crate::input::{self, Mode};
use crate::pairing::{self, Pairing};
use crate::report;
use crate::shrink::Minimized;
use delalloc_contract::run_line::RunLine;
use delalloc_contract::text::{parse_program_file, print_program_file};
use delalloc_contract::Program;
use std::fmt;
use std::path::Path;

/// How a file was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decoding {
    /// A program in the text format.
    Text,
    /// Raw fuzz engine input, decoded as the target of `level` decodes it.
    Fuzz { mode: Mode, level: Level },
}

impl fmt::Display for Decoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Decoding::Text => f.write_str("text program"),
            Decoding::Fuzz { mode, level } => write!(
                f,
                "fuzz input, {} mode, decoded as the {level}-level target does",
                mode.name()
            ),
        }
    }
}

/// The level of the target that produced an artifact, from a folder on its path named after
/// the target (`fuzz/artifacts/fs_level/crash-…`, `…/tree_level/…`).
pub fn level_from_path(path: &Path) -> Option<Level> {
    path.components()
        .rev()
        .find_map(|c| match c.as_os_str().to_str()? {
            "fs_level" | "kernel_fs" => Some(Level::Fs),
            "tree_level" | "kernel_tree" => Some(Level::Tree),
            _ => None,
        })
}

/// Whether a file name is one a fuzz engine gives the inputs it keeps: libFuzzer's
/// `crash-`, `leak-`, `timeout-`, `oom-`, `slow-unit-` prefixes and AFL's `id:`.
pub fn is_artifact_name(name: &str) -> bool {
    ["crash-", "leak-", "timeout-", "oom-", "slow-unit-", "id:"]
        .iter()
        .any(|p| name.starts_with(p))
}

/// Reads a program file or a raw fuzz input. `*.txt` files are always text (a malformed one is
/// an error with line and column); any other file is text if it is UTF-8 and parses, else a
/// fuzz input decoded at `level`, or at the level its path names. Errors name the file.
pub fn load(path: &Path, level: Option<Level>) -> Result<(Program, Decoding), String> {
    load_file(path, level).map(|(p, d, _)| (p, d))
}

/// [`load`], and the file's `run` line if it is a text program with one (its bug names checked
/// by [`pairing::check_bug`], an unknown one an error at its line and column).
pub fn load_file(
    path: &Path,
    level: Option<Level>,
) -> Result<(Program, Decoding, Option<RunLine>), String> {
    let shown = path.display();
    let bytes = std::fs::read(path).map_err(|e| format!("{shown}: cannot read: {e}"))?;
    let parsed = match std::str::from_utf8(&bytes) {
        Ok(text) => parse_program_file(text, &pairing::check_bug)
            .map_err(|e| format!("{shown}:{}:{}: {}", e.line, e.column, e.message)),
        Err(e) => Err(format!("{shown}: not UTF-8 text: {e}")),
    };
    let is_text = path.extension().is_some_and(|x| x == "txt");
    if is_text {
        return parsed.map(|(p, run)| (p, Decoding::Text, run));
    }
    if let (Ok((p, run)), false) = (parsed, bytes.is_empty()) {
        return Ok((p, Decoding::Text, run));
    }
    if bytes.is_empty() {
        return Err(format!(
            "{shown}: empty file: neither a program nor a fuzz input"
        ));
    }
    let level = level.or_else(|| level_from_path(path)).ok_or_else(|| {
        format!(
            "{shown}: not a text program, and no level to decode it as a fuzz input: \
             pass --level fs|tree|mixed (or keep it under a fs_level/ or tree_level/ folder)"
        )
    })?;
    let program = input::decode(&bytes, level);
    Ok((
        program,
        Decoding::Fuzz {
            mode: Mode::of(&bytes),
            level,
        },
        None,
    ))
}

/// A diverging program made a regression: minimized against the same oracle (the models and
/// injected bugs of `pairing`, as the target ran), and the file text with a header saying where
/// it came from and a `run` line naming `pairing`.
pub struct Regression {
    pub minimized: Minimized,
    pub text: String,
}

/// `None` if the models of `pairing` agree on `program`: nothing to import.
pub fn regression(
    program: &Program,
    pairing: &Pairing,
    source: &Path,
    decoding: Decoding,
) -> Option<Regression> {
    let m = pairing.minimize(program)?;
    let mut text = format!(
        "# Imported by `delalloc-fuzz import` from {} ({decoding}),\n\
         # minimized from {} to {} ops.\n\
         # Divergence: {}\n",
        source.display(),
        m.size_before,
        m.size_after,
        report::headline(&m.divergence),
    );
    let bugs = pairing.bugs;
    if !bugs.is_empty() {
        text.push_str(&format!(
            "# Reproduces only with the injected bugs its run line names, as {} ({}) did;\n\
             # `replay --bug none` runs it without them.\n",
            bugs.assignment(),
            bugs.descriptions()
        ));
    }
    text.push_str(&print_program_file(&m.program, &pairing.run_line()));
    Some(Regression { minimized: m, text })
}

/// A file name for the regression of `artifact`: its name with anything but `[A-Za-z0-9._-]`
/// replaced, at most 64 characters, `.txt` added.
pub fn regression_name(artifact: &Path) -> String {
    let name = artifact
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "artifact".into());
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    format!("{}.txt", clean.trim_end_matches(".txt"))
}

/// Where `import` writes by default: real findings under `corpus/regressions/imported` (replayed
/// by `cargo test`, must agree), reproducers of injected bugs under `corpus/injected/<bugs>`
/// (replayed by the tests with and without the bug).
pub fn default_out(bugs: WrapperBugs) -> std::path::PathBuf {
    if bugs.is_empty() {
        Path::new("corpus/regressions/imported").to_path_buf()
    } else {
        Path::new("corpus/injected").join(bugs.names())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_names_come_from_paths() {
        let p = Path::new("fuzz/artifacts/fs_level/crash-0a1b");
        assert_eq!(level_from_path(p), Some(Level::Fs));
        assert_eq!(
            level_from_path(Path::new("out/tree_level/default/crashes/id:000001,sig:06")),
            Some(Level::Tree)
        );
        assert_eq!(level_from_path(Path::new("crash-0a1b")), None);
        assert!(is_artifact_name("crash-0a1b") && is_artifact_name("id:000001,sig:06"));
        assert!(!is_artifact_name("notes.md"));
        assert_eq!(regression_name(p), "crash-0a1b.txt");
        assert_eq!(
            regression_name(Path::new("id:000001,sig:06,src:000000")),
            "id_000001_sig_06_src_000000.txt"
        );
    }
}
