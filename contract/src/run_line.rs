//! The `run` line of a program file: what a finding's divergence depends on besides the program
//! itself, as parsed data, so that the file alone reproduces it.
//!
//! ```text
//! run against=optimized bugs=merge-hook-era-a
//! run against=kernel kernel=6.12.118 mutant=clear-wrong-half.patch
//! ```
//!
//! - `against=optimized|kernel`: the model the reference is compared with (default `optimized`);
//! - `bugs=NAME,NAME`: bugs injected into the optimized model, by the names `--bug` and
//!   `DELALLOC_FUZZ_BUGS` take (default none; not with `against=kernel`, whose mutants are
//!   patches);
//! - `kernel=RELEASE` (only with `against=kernel`): the kernel release the finding was made on;
//! - `mutant=PATCH` (only with `kernel=`): the mutant patch that kernel model was built with.
//!
//! The era is not here: the geometry line has it. Keys come in any order, each at most once;
//! the line comes before the first op (before the first section of a concurrent program), at
//! most once. A file without one means `run against=optimized`, so every file written before
//! the line existed means what it did. Which bug names exist is not the contract's to know:
//! the parser checks their spelling and hands each to the caller's check, which
//! [`crate::text::parse_program_file`] takes.

use crate::text::{err, ParseError, Tok};
use std::fmt;

/// The model a `run` line compares the reference with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum RightModel {
    /// The optimized implementation (the default).
    #[default]
    Optimized,
    /// The kernel's own io tree and delalloc hooks.
    Kernel,
}

impl RightModel {
    /// Every model, in the order the text names them.
    pub const ALL: [RightModel; 2] = [RightModel::Optimized, RightModel::Kernel];

    /// The word the text uses.
    pub fn name(self) -> &'static str {
        match self {
            RightModel::Optimized => "optimized",
            RightModel::Kernel => "kernel",
        }
    }

    /// The model of a word, if it names one.
    pub fn from_name(s: &str) -> Option<RightModel> {
        RightModel::ALL.into_iter().find(|m| m.name() == s)
    }
}

impl fmt::Display for RightModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A parsed `run` line (see the module docs). `RunLine::default()` is what a file without one
/// means.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct RunLine {
    /// The model compared with the reference.
    pub against: RightModel,
    /// With `against=kernel`: the kernel release the finding was made on ("6.12.118").
    pub kernel: Option<String>,
    /// With `kernel=`: the mutant patch the kernel model was built with (a file name).
    pub mutant: Option<String>,
    /// The bugs injected into the optimized model, in the order written.
    pub bugs: Vec<String>,
}

impl RunLine {
    /// Whether this is what a file without a `run` line means.
    pub fn is_default(&self) -> bool {
        *self == RunLine::default()
    }

    /// `against=kernel kernel=6.12.118`, `against=optimized bugs=a,b`: the settings, as the line
    /// writes them after `run`.
    pub fn settings(&self) -> String {
        let mut s = format!("against={}", self.against);
        if let Some(k) = &self.kernel {
            s.push_str(" kernel=");
            s.push_str(k);
        }
        if let Some(m) = &self.mutant {
            s.push_str(" mutant=");
            s.push_str(m);
        }
        if !self.bugs.is_empty() {
            s.push_str(" bugs=");
            s.push_str(&self.bugs.join(","));
        }
        s
    }

    /// Whether the line is one the parser accepts (the spelling of its words, `kernel=` only
    /// with `against=kernel`, ...); the error says what is not.
    pub fn validate(&self) -> Result<(), String> {
        for b in &self.bugs {
            check_word("bugs", b, is_name_char)?;
        }
        let mut seen: Vec<&str> = Vec::new();
        for b in &self.bugs {
            if seen.contains(&b.as_str()) {
                return Err(format!("bugs: `{b}` is named twice"));
            }
            seen.push(b);
        }
        if let Some(k) = &self.kernel {
            check_word("kernel", k, is_word_char)?;
        }
        if let Some(m) = &self.mutant {
            check_word("mutant", m, is_word_char)?;
        }
        if self.kernel.is_some() && self.against != RightModel::Kernel {
            return Err(
                "kernel= names the kernel release of an against=kernel finding; this line is \
                 against=optimized"
                    .into(),
            );
        }
        if self.mutant.is_some() && self.kernel.is_none() {
            return Err(
                "mutant= names the patch of a kernel=RELEASE model: give kernel= too".into(),
            );
        }
        if !self.bugs.is_empty() && self.against == RightModel::Kernel {
            return Err(
                "bugs= are injected into the optimized model; against=kernel takes none (a \
                 kernel's mutants are patches: mutant=)"
                    .into(),
            );
        }
        Ok(())
    }
}

impl fmt::Display for RunLine {
    /// The whole line, without a newline: `run against=optimized bugs=merge-hook-era-a`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "run {}", self.settings())
    }
}

/// A bug name: lower-case letters, digits and `-`.
fn is_name_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'
}

/// A release or a patch file name: letters, digits and `. _ - + ~`.
fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "._-+~".contains(c)
}

fn check_word(key: &str, s: &str, ok: fn(char) -> bool) -> Result<(), String> {
    if s.is_empty() {
        return Err(format!("{key}: empty name"));
    }
    match s.chars().find(|c| !ok(*c)) {
        Some(c) => Err(format!("{key}: `{s}` has a character `{c}` no name has")),
        None => Ok(()),
    }
}

/// The keys of the line, in the order the printer writes them.
const KEYS: [&str; 4] = ["against", "kernel", "mutant", "bugs"];

/// Parses the tokens of a `run` line (the first is `run`). `check_bug` is asked about every bug
/// name; its error is reported at the name's column.
pub(crate) fn parse(
    toks: &[Tok<'_>],
    line: usize,
    check_bug: &dyn Fn(&str) -> Result<(), String>,
) -> Result<RunLine, ParseError> {
    let mut run = RunLine::default();
    // The column of each key given, to name the first when one comes twice.
    let mut given: Vec<(&str, usize)> = Vec::new();
    let mut against_col = None;
    for tok in toks.iter().skip(1) {
        let Some((key, value)) = tok.s.split_once('=') else {
            return Err(err(
                line,
                tok.col,
                format!(
                    "unexpected `{}`: the run line takes key=value settings ({})",
                    tok.s,
                    usage()
                ),
            ));
        };
        let value_col = tok.col + key.chars().count() + 1;
        let Some(&key) = KEYS.iter().find(|k| **k == key) else {
            return Err(err(
                line,
                tok.col,
                format!("unknown run setting `{key}` (known: {})", KEYS.join(", ")),
            ));
        };
        if let Some((_, first)) = given.iter().find(|(k, _)| *k == key) {
            return Err(err(
                line,
                tok.col,
                format!("duplicate run setting `{key}` (first given at column {first})"),
            ));
        }
        given.push((key, tok.col));
        let bad = |m: String| err(line, value_col, m);
        match key {
            "against" => {
                run.against = RightModel::from_name(value).ok_or_else(|| {
                    let known: Vec<&str> = RightModel::ALL.iter().map(|m| m.name()).collect();
                    bad(format!(
                        "against: unknown model `{value}` (known: {})",
                        known.join(", ")
                    ))
                })?;
                against_col = Some(tok.col);
            }
            "kernel" | "mutant" => {
                check_word(key, value, is_word_char).map_err(bad)?;
                let slot = if key == "kernel" {
                    &mut run.kernel
                } else {
                    &mut run.mutant
                };
                *slot = Some(value.to_string());
            }
            _ => {
                if value.is_empty() {
                    return Err(bad(
                        "bugs= names no bug: leave the setting out for none".into()
                    ));
                }
                let mut off = 0;
                for name in value.split(',') {
                    let col = value_col + value[..off].chars().count();
                    off += name.len() + 1;
                    check_word("bugs", name, is_name_char).map_err(|m| err(line, col, m))?;
                    if run.bugs.iter().any(|b| b == name) {
                        return Err(err(line, col, format!("bugs: `{name}` is named twice")));
                    }
                    check_bug(name).map_err(|m| err(line, col, m))?;
                    run.bugs.push(name.to_string());
                }
            }
        }
    }
    // What is wrong between settings is reported at the later one's column.
    let col_of = |key: &str| {
        given
            .iter()
            .find(|(k, _)| *k == key)
            .map_or(toks[0].col, |(_, c)| *c)
    };
    if run.kernel.is_some() && run.against != RightModel::Kernel {
        return Err(err(
            line,
            col_of("kernel"),
            "kernel= names the release of an against=kernel finding: add against=kernel".into(),
        ));
    }
    if run.mutant.is_some() && run.kernel.is_none() {
        return Err(err(
            line,
            col_of("mutant"),
            "mutant= names the patch of a kernel=RELEASE model: give kernel= too".into(),
        ));
    }
    if !run.bugs.is_empty() && run.against == RightModel::Kernel {
        let col = against_col.max(Some(col_of("bugs"))).unwrap_or(toks[0].col);
        return Err(err(
            line,
            col,
            "bugs= are injected into the optimized model; against=kernel takes none (a kernel's \
             mutants are patches: mutant=)"
                .into(),
        ));
    }
    Ok(run)
}

fn usage() -> &'static str {
    "run [against=optimized|kernel] [kernel=RELEASE] [mutant=PATCH] [bugs=NAME,NAME]"
}

/// The check [`crate::text::parse_program`] makes of bug names: their spelling only.
pub(crate) fn any_bug(_: &str) -> Result<(), String> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::tokenize;

    fn parse_line(s: &str) -> Result<RunLine, ParseError> {
        parse(&tokenize(s), 1, &any_bug)
    }

    #[test]
    fn lines_print_and_parse_back() {
        for run in [
            RunLine::default(),
            RunLine {
                bugs: vec!["merge-hook-era-a".into(), "split-hook-era-a".into()],
                ..RunLine::default()
            },
            RunLine {
                against: RightModel::Kernel,
                kernel: Some("6.12.118".into()),
                mutant: Some("clear-wrong-half.patch".into()),
                bugs: Vec::new(),
            },
        ] {
            assert_eq!(run.validate(), Ok(()));
            let text = run.to_string();
            assert_eq!(parse_line(&text), Ok(run.clone()), "{text}");
        }
        assert_eq!(
            RunLine {
                bugs: vec!["a".into(), "b".into()],
                ..RunLine::default()
            }
            .to_string(),
            "run against=optimized bugs=a,b"
        );
        // Any order, and `run` alone is the default.
        assert_eq!(
            parse_line("run kernel=6.1.1 against=kernel")
                .unwrap()
                .kernel,
            Some("6.1.1".into())
        );
        assert!(parse_line("run").unwrap().is_default());
    }

    #[test]
    fn errors_name_the_column_and_the_reason() {
        for (line, col, needle) in [
            (
                "run against=kernal",
                13,
                "unknown model `kernal` (known: optimized, kernel)",
            ),
            (
                "run bug=x",
                5,
                "unknown run setting `bug` (known: against, kernel, mutant, bugs)",
            ),
            (
                "run against=kernel against=kernel",
                20,
                "duplicate run setting `against` (first given at column 5)",
            ),
            (
                "run kernel",
                5,
                "unexpected `kernel`: the run line takes key=value",
            ),
            ("run bugs=", 10, "bugs= names no bug"),
            ("run bugs=a,,b", 12, "bugs: empty name"),
            ("run bugs=a,B", 12, "`B` has a character `B`"),
            ("run bugs=a,a", 12, "`a` is named twice"),
            ("run kernel=6.12", 5, "add against=kernel"),
            ("run against=kernel mutant=x.patch", 20, "give kernel= too"),
            ("run against=kernel bugs=a", 20, "against=kernel takes none"),
            ("run bugs=a against=kernel", 12, "against=kernel takes none"),
            (
                "run against=kernel kernel=6/12",
                27,
                "`6/12` has a character `/`",
            ),
        ] {
            let e = parse_line(line).unwrap_err();
            assert_eq!((e.line, e.column), (1, col), "{line}: {e}");
            assert!(e.message.contains(needle), "{line}: {e}");
        }
        let e = parse(&tokenize("run bugs=x,nope"), 3, &|n| {
            if n == "nope" {
                Err(format!("unknown injected bug `{n}`"))
            } else {
                Ok(())
            }
        })
        .unwrap_err();
        assert_eq!((e.line, e.column), (3, 12), "{e}");
        assert_eq!(e.message, "unknown injected bug `nope`");
    }

    #[test]
    fn validate_agrees_with_the_parser() {
        let kernel_bugs = RunLine {
            against: RightModel::Kernel,
            bugs: vec!["x".into()],
            ..RunLine::default()
        };
        assert!(kernel_bugs.validate().unwrap_err().contains("takes none"));
        let lone_kernel = RunLine {
            kernel: Some("6.1".into()),
            ..RunLine::default()
        };
        assert!(lone_kernel.validate().is_err());
        let twice = RunLine {
            bugs: vec!["x".into(), "x".into()],
            ..RunLine::default()
        };
        assert!(twice.validate().unwrap_err().contains("twice"));
    }
}
