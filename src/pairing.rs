//! What a finding's divergence depends on besides its program: the model the reference is
//! compared with and the bugs injected into it ([`Pairing`]). A program file records it as its
//! `run` line ([`delalloc_contract::run_line`]), which the engines write into every finding;
//! [`resolve`] is how `replay`, `trace`, `minimize` and `import` choose between that line, their
//! own `--against` / `--bug` and `DELALLOC_FUZZ_BUGS` (the command line first, then the
//! variable, then the file), saying which one overrode the file.

use crate::against::Against;
use crate::injected::{self, WrapperBug, WrapperBugs};
use crate::oracles::differential::Divergence;
use crate::oracles::stats::Stats;
use crate::oracles::Verdict;
use crate::shrink::{self, Minimized};
use delalloc_contract::run_line::{RightModel, RunLine};
use delalloc_contract::{Model, Program};
use delalloc_optimized::bugs::{Bug, BugSet};
use delalloc_reference::Reference;

/// The two models of a differential run: the reference and `against`, with `bugs` injected
/// into the optimized model (none against the kernel).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pairing {
    pub against: Against,
    pub bugs: WrapperBugs,
}

impl Pairing {
    /// The run line a finding is written with: this build's kernel release (and mutant patch)
    /// against the kernel.
    pub fn run_line(&self) -> RunLine {
        let mut line = RunLine {
            bugs: self
                .bugs
                .name_list()
                .into_iter()
                .map(String::from)
                .collect(),
            ..RunLine::default()
        };
        if self.against == Against::Kernel {
            line.against = RightModel::Kernel;
            line.bugs.clear();
            if let Ok(b) = delalloc_kernel::built() {
                line.kernel = Some(b.release.to_string());
                line.mutant = patch_name(b.patch);
            }
        }
        line
    }

    /// The pairing a run line names; the error names a bug this binary does not have (the
    /// parser's [`check_bug`] has already refused those, with their place).
    pub fn of_line(line: &RunLine) -> Result<Pairing, String> {
        let against = match line.against {
            RightModel::Optimized => Against::Optimized,
            RightModel::Kernel => Against::Kernel,
        };
        let bugs = WrapperBugs::parse(&line.bugs.join(","))?;
        Ok(Pairing { against, bugs })
    }

    /// "optimized", "optimized with merge-hook-era-a", "kernel 6.12.118 (...)".
    pub fn describe(&self) -> String {
        match (self.against, self.bugs.is_empty()) {
            (Against::Optimized, false) => format!("optimized with {}", self.bugs.names()),
            (against, _) => against.describe(),
        }
    }

    /// The model on the right, fresh for `program`'s geometry.
    pub fn right_model(&self, program: &Program) -> Box<dyn Model> {
        match self.against {
            Against::Optimized => injected::model(&program.geometry, self.bugs),
            Against::Kernel => delalloc_kernel::model(&program.geometry),
        }
    }

    /// The differential oracle on `program` with these models.
    pub fn run(&self, program: &Program) -> Verdict<Stats, Divergence> {
        self.against.run(program, self.bugs)
    }

    /// `program` minimized against these models; `None` if they agree on it. Against the
    /// kernel, candidates stay in the program's era and in what the kernel model runs: a
    /// smaller program that leaves them is not the same bug.
    pub fn minimize(&self, program: &Program) -> Option<Minimized<Program>> {
        let era = program.geometry.era;
        shrink::minimize_with(program, |p| {
            let kept = self.against == Against::Optimized
                || (p.geometry.era == era && self.against.check_program(p).is_ok());
            if kept {
                self.run(p)
            } else {
                Verdict::Agree(Stats::default())
            }
        })
    }

    /// The bugs in the shuttle build of the model, for a concurrent program, and a note if
    /// some are the wrapper's: those change sequential ops and have no concurrent form, so the
    /// program runs without them.
    pub fn race_bugs(&self) -> (delalloc_optimized_shuttle::bugs::BugSet, Option<String>) {
        let wrapper: Vec<&str> = self.bugs.bugs().map(|b| b.name()).collect();
        let note = (!wrapper.is_empty()).then(|| {
            format!(
                "note: {} changes sequential ops only (src/injected.rs): the concurrent program \
                 runs without it",
                wrapper.join(", ")
            )
        });
        (shuttle_bugs(self.bugs.model()), note)
    }
}

/// The same bugs in the shuttle build of the model (same names, separate types).
pub fn shuttle_bugs(set: BugSet) -> delalloc_optimized_shuttle::bugs::BugSet {
    use delalloc_optimized_shuttle::bugs as shuttle;
    set.iter()
        .filter_map(|b| shuttle::Bug::from_name(b.name()))
        .fold(shuttle::BugSet::NONE, |s, b| s.union(b.into()))
}

/// A mutant patch's file name, from the path the kernel crate was built with ("" for none).
fn patch_name(patch: &str) -> Option<String> {
    let name = std::path::Path::new(patch).file_name()?.to_str()?;
    (!name.is_empty()).then(|| name.to_string())
}

fn known_bugs() -> String {
    WrapperBug::ALL
        .iter()
        .map(|b| b.name())
        .chain(Bug::ALL.iter().map(|b| b.name()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The run line's check of a sequential program's bug names: the wrapper's and the model's.
pub fn check_bug(name: &str) -> Result<(), String> {
    if WrapperBug::ALL.iter().any(|b| b.name() == name) || Bug::from_name(name).is_some() {
        Ok(())
    } else {
        Err(format!(
            "unknown injected bug `{name}` (known: {})",
            known_bugs()
        ))
    }
}

/// The run line's check of a concurrent program's bug names: the model's own only.
pub fn check_race_bug(name: &str) -> Result<(), String> {
    if Bug::from_name(name).is_some() {
        Ok(())
    } else if WrapperBug::ALL.iter().any(|b| b.name() == name) {
        Err(format!(
            "`{name}` is a bug of the sequential wrapper; a concurrent program runs the model's \
             own bugs only"
        ))
    } else {
        let known: Vec<&str> = Bug::ALL.iter().map(|b| b.name()).collect();
        Err(format!(
            "unknown bug `{name}` (known: {})",
            known.join(", ")
        ))
    }
}

/// What a command was told besides the file: its `--against`, its `--bug` (`Some(NONE)` for
/// `--bug none`) and `DELALLOC_FUZZ_BUGS` (empty when unset).
#[derive(Clone, Copy, Debug, Default)]
pub struct Overrides {
    pub against: Option<Against>,
    pub bugs: Option<WrapperBugs>,
    pub env: WrapperBugs,
}

/// The pairing a file is run with, and what to tell the user about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    pub pairing: Pairing,
    /// Lines for stderr, each starting `note:` or `warning:`: which setting overrode the file's
    /// run line, a kernel release other than the one the finding was made on.
    pub notes: Vec<String>,
}

/// The pairing of a file whose run line is `file` (`None`: it has none), told `o`.
pub fn resolve(file: Option<&RunLine>, o: &Overrides) -> Result<Resolved, String> {
    let recorded = file.map(Pairing::of_line).transpose()?;
    let base = recorded.unwrap_or_default();
    let mut notes = Vec::new();
    let against = o.against.unwrap_or(base.against);
    if let (Some(r), Some(flag)) = (recorded, o.against) {
        if flag != r.against {
            notes.push(format!(
                "note: --against {} overrides the run line's against={}",
                flag.name(),
                r.against.name()
            ));
        }
    }
    let recorded_bugs = |what: &str, bugs: WrapperBugs| match recorded {
        Some(r) if r.bugs != bugs => Some(format!(
            "note: {what} overrides the run line's {}",
            bugs_setting(r.bugs)
        )),
        Some(_) => None,
        None if bugs.is_empty() => None,
        None => Some(format!(
            "note: {what}: the optimized model runs with injected bugs"
        )),
    };
    let bugs = match (o.bugs, o.env.is_empty()) {
        (Some(flag), env_empty) => {
            notes.extend(recorded_bugs(&format!("--bug {}", bug_words(flag)), flag));
            if !env_empty {
                notes.push(format!("note: --bug wins over {}", o.env.assignment()));
            }
            flag
        }
        (None, false) => {
            notes.extend(recorded_bugs(&o.env.assignment(), o.env));
            o.env
        }
        (None, true) => base.bugs,
    };
    let mut pairing = Pairing { against, bugs };
    if against == Against::Kernel {
        if !bugs.is_empty() {
            notes.push(format!(
                "note: {} are the optimized model's; against the kernel they do not apply",
                bugs_setting(bugs)
            ));
            pairing.bugs = WrapperBugs::NONE;
        }
        Against::Kernel.ready().map_err(|e| match o.against {
            Some(_) => e,
            None => format!("its run line says against=kernel, but {e}"),
        })?;
        if o.against.is_none() {
            notes.push(format!(
                "note: the reference against {} (the run line's against=kernel)",
                Against::Kernel.describe()
            ));
        }
        if let Some(line) = file {
            notes.extend(kernel_mismatch(line));
        }
    }
    Ok(Resolved { pairing, notes })
}

/// `bugs=a,b` or `no bugs`.
fn bugs_setting(bugs: WrapperBugs) -> String {
    if bugs.is_empty() {
        "no bugs".into()
    } else {
        format!("bugs={}", bugs.name_list().join(","))
    }
}

/// What `--bug` was given: `none` or the names.
fn bug_words(bugs: WrapperBugs) -> String {
    if bugs.is_empty() {
        "none".into()
    } else {
        bugs.name_list().join(",")
    }
}

/// A warning when the kernel model of this binary is not the one `line` was found on.
fn kernel_mismatch(line: &RunLine) -> Option<String> {
    let built = delalloc_kernel::built().ok()?;
    let found = line.kernel.as_deref()?;
    let here_patch = patch_name(built.patch);
    if found == built.release && line.mutant == here_patch {
        return None;
    }
    let with = |release: &str, patch: &Option<String>| match patch {
        Some(p) => format!("kernel {release} patched with {p}"),
        None => format!("kernel {release}"),
    };
    Some(format!(
        "warning: found on {}, run on this binary's {}: the models may not diverge the same way \
         (--kernel-src DIR runs it on another tree; a mutant's patch: mutants --against kernel)",
        with(found, &line.mutant),
        with(built.release, &here_patch)
    ))
}

/// The reference and `pairing`'s right model, fresh for `program`, with their names as the
/// trace shows them.
pub fn models(pairing: &Pairing, program: &Program) -> [(&'static str, Box<dyn Model>); 2] {
    [
        (
            "reference",
            Box::new(Reference::new(&program.geometry)) as Box<dyn Model>,
        ),
        (pairing.against.name(), pairing.right_model(program)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &str) -> RunLine {
        let (_, r) = delalloc_contract::text::parse_program_file(text, &check_bug).unwrap();
        r.unwrap()
    }

    #[test]
    fn a_pairing_is_its_run_line_and_back() {
        let p = Pairing {
            against: Against::Optimized,
            bugs: WrapperBugs::parse("merge-hook-era-a,nocow-writeback-end-rounds-down").unwrap(),
        };
        let l = p.run_line();
        assert_eq!(
            l.to_string(),
            "run against=optimized bugs=nocow-writeback-end-rounds-down,merge-hook-era-a"
        );
        assert_eq!(Pairing::of_line(&l), Ok(p));
        assert!(Pairing::default().run_line().is_default());
        assert_eq!(
            p.describe(),
            "optimized with nocow-writeback-end-rounds-down+merge-hook-era-a"
        );
    }

    #[test]
    fn the_command_line_wins_then_the_variable_then_the_file() {
        let file = line("run bugs=merge-hook-era-a\n");
        let merge = WrapperBugs::parse("merge-hook-era-a").unwrap();
        let split = WrapperBugs::parse("split-hook-era-a").unwrap();
        let r = resolve(Some(&file), &Overrides::default()).unwrap();
        assert_eq!(r.pairing.bugs, merge);
        assert!(r.notes.is_empty(), "{:?}", r.notes);

        let env = Overrides {
            env: split,
            ..Overrides::default()
        };
        let r = resolve(Some(&file), &env).unwrap();
        assert_eq!(r.pairing.bugs, split);
        assert_eq!(
            r.notes,
            ["note: DELALLOC_FUZZ_BUGS=split-hook-era-a overrides the run line's bugs=merge-hook-era-a"]
        );
        // The same bugs from the variable are no override.
        let same = Overrides {
            env: merge,
            ..Overrides::default()
        };
        assert!(resolve(Some(&file), &same).unwrap().notes.is_empty());

        let none = Overrides {
            bugs: Some(WrapperBugs::NONE),
            env: split,
            ..Overrides::default()
        };
        let r = resolve(Some(&file), &none).unwrap();
        assert_eq!(r.pairing.bugs, WrapperBugs::NONE);
        assert_eq!(
            r.notes,
            [
                "note: --bug none overrides the run line's bugs=merge-hook-era-a",
                "note: --bug wins over DELALLOC_FUZZ_BUGS=split-hook-era-a"
            ]
        );
        // A file without a run line: the variable is announced as before.
        let r = resolve(None, &env).unwrap();
        assert_eq!(
            r.notes,
            ["note: DELALLOC_FUZZ_BUGS=split-hook-era-a: the optimized model runs with injected bugs"]
        );
        assert_eq!(
            resolve(None, &Overrides::default()).unwrap().pairing,
            Pairing::default()
        );
    }

    #[test]
    fn bug_names_are_checked_for_their_program_kind() {
        assert_eq!(check_bug("merge-hook-era-a"), Ok(()));
        assert_eq!(check_bug("nocow-writeback-end-rounds-down"), Ok(()));
        assert!(check_bug("typo")
            .unwrap_err()
            .contains("known: nocow-writeback-end-rounds-down, "));
        assert_eq!(check_race_bug("unlock-before-set-delalloc"), Ok(()));
        assert!(check_race_bug("nocow-writeback-end-rounds-down")
            .unwrap_err()
            .contains("sequential wrapper"));
        let p = Pairing {
            against: Against::Optimized,
            bugs: WrapperBugs::parse("racing-release-ignored").unwrap(),
        };
        let oracle = crate::oracles::linearizable::Linearizable {
            bugs: p.race_bugs().0,
        };
        assert_eq!(crate::oracles::Oracle::run_line(&oracle), p.run_line());
        let mixed = Pairing {
            bugs: WrapperBugs::parse("racing-release-ignored,nocow-writeback-end-rounds-down")
                .unwrap(),
            ..p
        };
        let (bugs, note) = mixed.race_bugs();
        assert_eq!(bugs, oracle.bugs);
        assert!(note
            .unwrap()
            .contains("nocow-writeback-end-rounds-down changes sequential ops only"));
    }
}
