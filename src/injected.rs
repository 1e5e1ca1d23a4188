//! Deliberately wrong behaviours of the optimized model, switched on only by the environment
//! variable [`ENV`] (`DELALLOC_FUZZ_BUGS=name,name`), so that a fuzz engine (cargo-fuzz, AFL,
//! `fuzz-all`), `replay` and `import` can be pointed at a model known to be wrong. It accepts two
//! kinds of names, in any mix:
//!
//! - this module's own [`WrapperBug`] (`nocow-writeback-end-rounds-down`): the optimized model wrapped
//!   in [`Buggy`], which changes what the model is asked to do, never the model's own code. It
//!   shows the whole pipeline end to end: a fuzz engine finds the divergence from the seed
//!   corpus, `import` turns the crash into a readable minimized program, and `replay` with the
//!   switch on shows it failing;
//! - every historical bug of the model itself ([`delalloc_optimized::bugs::Bug`], e.g.
//!   `merge-hook-era-a`): [`run`] builds `Optimized::with_bugs` with them. This is how
//!   `mutants --engine libfuzzer` ([`crate::scoreboard::libfuzzer`]) runs the cargo-fuzz targets
//!   against one bug at a time.
//!
//! Off (the variable unset or empty) nothing here runs: [`run`] is [`differential::run`], the fuzz
//! targets' hot path. [`run`] and [`from_env_once`] are all the fuzz targets and the CLI call.
//!
//! An unknown name fails loudly ([`WrapperBugs::parse`] names it and lists the known ones of both
//! kinds): a typo must never leave a campaign hunting for a bug that is not there.

use crate::oracles::differential::{self, Divergence};
use crate::oracles::stats::Stats;
use crate::oracles::Verdict;
use delalloc_contract::{Bits, Geometry, Model, Op, Outcome, Program, Snapshot};
use delalloc_optimized::bugs as model;
use delalloc_optimized::Optimized;
use delalloc_reference::Reference;
use std::sync::OnceLock;

/// The switch: a comma-separated list of [`WrapperBug`] and [`delalloc_optimized::bugs::Bug`] names.
pub const ENV: &str = "DELALLOC_FUZZ_BUGS";

/// One deliberately wrong behaviour of the [`Buggy`] wrapper.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WrapperBug {
    /// Writeback rounds the end of its range down to a sector instead of up when the range
    /// ends inside a NORESERVE (nocow, metadata-only) delalloc record: an off-by-one confined
    /// to the nocow path (run_delalloc_nocow), so the data in that last partial sector stays
    /// delalloc. It takes a state (a nocow write that fell back to metadata-only on a data
    /// ENOSPC) and an op (a writeback ending inside it, not on a sector) together: no single
    /// byte flip of the seed corpus shows it.
    NocowWritebackEndRoundsDown,
}

impl WrapperBug {
    pub const ALL: [WrapperBug; 1] = [WrapperBug::NocowWritebackEndRoundsDown];

    pub fn name(self) -> &'static str {
        match self {
            WrapperBug::NocowWritebackEndRoundsDown => "nocow-writeback-end-rounds-down",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            WrapperBug::NocowWritebackEndRoundsDown => {
                "writeback rounds its range end down to a sector instead of up inside a nocow record"
            }
        }
    }

    fn bit(self) -> u32 {
        1 << self as u32
    }
}

/// The bugs of one run: the wrapper's [`WrapperBug`]s and the model's own; empty means the real
/// optimized model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WrapperBugs {
    wrapper: u32,
    model: model::BugSet,
}

impl From<model::BugSet> for WrapperBugs {
    fn from(model: model::BugSet) -> WrapperBugs {
        WrapperBugs { wrapper: 0, model }
    }
}

impl From<model::Bug> for WrapperBugs {
    fn from(bug: model::Bug) -> WrapperBugs {
        WrapperBugs::from(model::BugSet::from(bug))
    }
}

impl WrapperBugs {
    pub const NONE: WrapperBugs = WrapperBugs {
        wrapper: 0,
        model: model::BugSet::NONE,
    };

    /// `a,b,c` (spaces allowed, empty means none): names of [`WrapperBug`] or of the model's
    /// [`delalloc_optimized::bugs::Bug`]; an unknown name is an error naming it and every known
    /// one.
    pub fn parse(list: &str) -> Result<WrapperBugs, String> {
        let mut set = WrapperBugs::NONE;
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            if let Some(bug) = WrapperBug::ALL.into_iter().find(|b| b.name() == name) {
                set.wrapper |= bug.bit();
            } else if let Some(bug) = model::Bug::from_name(name) {
                set.model = set.model.with(bug);
            } else {
                let known: Vec<&str> = WrapperBug::ALL
                    .iter()
                    .map(|b| b.name())
                    .chain(model::Bug::ALL.iter().map(|b| b.name()))
                    .collect();
                return Err(format!(
                    "{ENV}: unknown injected bug `{name}` (known: {})",
                    known.join(", ")
                ));
            }
        }
        Ok(set)
    }

    /// The set named by [`ENV`] (none when unset).
    pub fn from_env() -> Result<WrapperBugs, String> {
        match std::env::var(ENV) {
            Ok(list) => WrapperBugs::parse(&list),
            Err(std::env::VarError::NotPresent) => Ok(WrapperBugs::NONE),
            Err(e) => Err(format!("{ENV}: {e}")),
        }
    }

    pub fn is_empty(self) -> bool {
        self.wrapper == 0 && self.model.is_empty()
    }

    /// Both sets' bugs.
    pub fn union(self, other: WrapperBugs) -> WrapperBugs {
        WrapperBugs {
            wrapper: self.wrapper | other.wrapper,
            model: self.model.union(other.model),
        }
    }

    /// Every bug's name: the wrapper's, then the model's (a program file's `run` line lists
    /// them so).
    pub fn name_list(self) -> Vec<&'static str> {
        self.named().map(|(n, _)| n).collect()
    }

    pub fn contains(self, bug: WrapperBug) -> bool {
        self.wrapper & bug.bit() != 0
    }

    /// The wrapper's bugs.
    pub fn bugs(self) -> impl Iterator<Item = WrapperBug> {
        WrapperBug::ALL
            .into_iter()
            .filter(move |&b| self.contains(b))
    }

    /// The model's own bugs.
    pub fn model(self) -> model::BugSet {
        self.model
    }

    /// Every bug's name then description: the wrapper's, then the model's.
    fn named(self) -> impl Iterator<Item = (&'static str, &'static str)> {
        self.bugs()
            .map(|b| (b.name(), b.description()))
            .chain(self.model.iter().map(|b| (b.name(), b.description())))
    }

    /// `a+b`: the names, for folder names and messages.
    pub fn names(self) -> String {
        self.named().map(|(n, _)| n).collect::<Vec<_>>().join("+")
    }

    /// `DELALLOC_FUZZ_BUGS=a,b`: the switch that selects this set, for messages.
    pub fn assignment(self) -> String {
        let names: Vec<&str> = self.named().map(|(n, _)| n).collect();
        format!("{ENV}={}", names.join(","))
    }

    /// What goes before a command to copy so that it runs with this set: the
    /// [`assignment`](WrapperBugs::assignment) and a space, or nothing for the empty set.
    pub fn command_prefix(self) -> String {
        if self.is_empty() {
            String::new()
        } else {
            format!("{} ", self.assignment())
        }
    }

    /// `a; b`: what each bug does, for a reproducer's header.
    pub fn descriptions(self) -> String {
        self.named().map(|(_, d)| d).collect::<Vec<_>>().join("; ")
    }
}

/// [`WrapperBugs::from_env`] read once per process, as a fuzz target needs it (one read, then a
/// load per input). Panics on an unknown name, which a fuzz engine reports at once; the first
/// call with bugs on says so on stderr.
pub fn from_env_once() -> WrapperBugs {
    static BUGS: OnceLock<WrapperBugs> = OnceLock::new();
    *BUGS.get_or_init(|| match WrapperBugs::from_env() {
        Ok(set) => {
            if !set.is_empty() {
                eprintln!(
                    "delalloc-fuzz: {}: the optimized model runs with injected bugs",
                    set.assignment()
                );
            }
            set
        }
        Err(e) => panic!("{e}"),
    })
}

/// The oracle with `bugs` injected into the optimized model ([`differential::run`] when empty): the
/// model built with its own bugs of the set, wrapped in [`Buggy`] only when a wrapper bug is on.
pub fn run(program: &Program, bugs: WrapperBugs) -> Verdict<Stats, Divergence> {
    if bugs.is_empty() {
        return differential::run(program);
    }
    let mut left = Reference::new(&program.geometry);
    let inner = Optimized::with_bugs(&program.geometry, bugs.model);
    if bugs.wrapper == 0 {
        let mut right = inner;
        return differential::run_models(program, &mut left, &mut right);
    }
    let mut right = Buggy::new(inner, &program.geometry, bugs);
    differential::run_models(program, &mut left, &mut right)
}

/// The model [`run`] compares the reference with, on its own: the optimized model with the
/// bugs of `bugs` (`trace` shows it beside the reference).
pub fn model(geometry: &Geometry, bugs: WrapperBugs) -> Box<dyn Model> {
    let inner = Optimized::with_bugs(geometry, bugs.model);
    if bugs.wrapper == 0 {
        Box::new(inner)
    } else {
        Box::new(Buggy::new(inner, geometry, bugs))
    }
}

/// The optimized model asked to do something slightly different, as each [`WrapperBug`] says.
pub struct Buggy {
    inner: Optimized,
    geometry: Geometry,
    bugs: WrapperBugs,
    unmounted: bool,
}

impl Buggy {
    /// `inner` (which may carry bugs of its own) asked to do what the wrapper bugs of `bugs`
    /// say.
    pub fn new(inner: Optimized, geometry: &Geometry, bugs: WrapperBugs) -> Buggy {
        Buggy {
            inner,
            geometry: *geometry,
            bugs,
            unmounted: false,
        }
    }
}

impl Buggy {
    /// Whether `end` falls inside a sector that a DELALLOC|NORESERVE record of inode `ino`
    /// covers. Reads a snapshot, and only for writebacks ending off a sector boundary.
    fn ends_inside_nocow_delalloc(&self, ino: u8, end: u64) -> bool {
        if end.is_multiple_of(self.geometry.sectorsize) || self.unmounted {
            return false;
        }
        let nocow = Bits::DELALLOC.union(Bits::NORESERVE);
        let s = self.inner.snapshot();
        s.inodes.get(usize::from(ino)).is_some_and(|i| {
            i.records
                .iter()
                .any(|r| r.start < end && end <= r.end && r.bits.contains(nocow))
        })
    }
}

impl Model for Buggy {
    fn name(&self) -> &'static str {
        "optimized (injected bugs)"
    }

    fn apply(&mut self, op: &Op) -> Outcome {
        self.unmounted |= matches!(op, Op::Unmount);
        // The one op the injected bug changes; every other op is the model's own.
        if let Op::Writeback { ino, start, len } = *op {
            if self.bugs.contains(WrapperBug::NocowWritebackEndRoundsDown)
                && self.ends_inside_nocow_delalloc(ino, start + len)
            {
                let g = &self.geometry;
                let (from, to) = (g.round_down(start), g.round_down(start + len));
                return if to > from {
                    self.inner.apply(&Op::Writeback {
                        ino,
                        start: from,
                        len: to - from,
                    })
                } else {
                    Outcome::Done
                };
            }
        }
        self.inner.apply(op)
    }

    fn snapshot(&self) -> Snapshot {
        self.inner.snapshot()
    }

    fn snapshot_into(&self, out: &mut Snapshot) {
        self.inner.snapshot_into(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use delalloc_contract::text::parse_program;

    #[test]
    fn names_parse_and_unknown_ones_are_named() {
        assert_eq!(WrapperBugs::parse(""), Ok(WrapperBugs::NONE));
        let set = WrapperBugs::parse(" nocow-writeback-end-rounds-down ,").unwrap();
        assert!(set.contains(WrapperBug::NocowWritebackEndRoundsDown));
        assert_eq!(set.names(), "nocow-writeback-end-rounds-down");
        let e = WrapperBugs::parse("nocow-writeback-end-rounds-down,typo").unwrap_err();
        assert!(
            e.contains("`typo`") && e.contains("known: nocow-writeback-end-rounds-down"),
            "{e}"
        );
    }

    #[test]
    fn the_models_own_bug_names_are_accepted_and_mixed() {
        let set = WrapperBugs::parse("merge-hook-era-a").unwrap();
        assert_eq!(set, WrapperBugs::from(model::Bug::MergeHookEraA));
        assert!(!set.is_empty() && set.bugs().next().is_none());
        assert_eq!(set.model(), model::BugSet::from(model::Bug::MergeHookEraA));
        assert_eq!(set.assignment(), "DELALLOC_FUZZ_BUGS=merge-hook-era-a");
        let mixed = WrapperBugs::parse(
            "split-hook-era-a, nocow-writeback-end-rounds-down,merge-hook-era-a",
        )
        .unwrap();
        assert!(mixed.contains(WrapperBug::NocowWritebackEndRoundsDown));
        assert_eq!(
            mixed.model(),
            model::BugSet::from(model::Bug::MergeHookEraA).with(model::Bug::SplitHookEraA)
        );
        // The wrapper's first, then the model's in their declaration order.
        assert_eq!(
            mixed.names(),
            "nocow-writeback-end-rounds-down+merge-hook-era-a+split-hook-era-a"
        );
        assert_eq!(
            mixed.command_prefix(),
            "DELALLOC_FUZZ_BUGS=nocow-writeback-end-rounds-down,merge-hook-era-a,split-hook-era-a "
        );
        assert_eq!(WrapperBugs::NONE.command_prefix(), "");
        assert!(mixed
            .descriptions()
            .contains("merge hook drops one outstanding extent"));
        for b in model::Bug::ALL {
            assert_eq!(
                WrapperBugs::parse(b.name()),
                Ok(WrapperBugs::from(b)),
                "{b}"
            );
        }
        let e = WrapperBugs::parse("merge-hook-era-a,merge-hook-era-b").unwrap_err();
        assert!(e.contains("`merge-hook-era-b`"), "{e}");
        assert!(
            e.contains("nocow-writeback-end-rounds-down, reserve-before-success, ")
                && e.contains("find-delalloc-ignores-boundary"),
            "{e}"
        );
    }

    #[test]
    fn a_model_bug_runs_in_the_model_and_the_wrapper_keeps_it() {
        // corpus/regressions/mutants/merge-hook-era-a.txt: two delalloc records merging into
        // one over max_extent, for which the era-A merge hook drops an extent.
        let p = parse_program(
            "buffered_write ino=0 pos=0 len=126977\n\
             buffered_write ino=0 pos=128K len=134086657\n",
        )
        .unwrap();
        let bug = model::Bug::MergeHookEraA;
        let Verdict::Diverged(d) = run(&p, bug.into()) else {
            panic!("{bug} went unnoticed")
        };
        let Verdict::Diverged(expected) = crate::scoreboard::run_with_bugs(&p, bug.into()) else {
            panic!("{bug} went unnoticed by the scoreboard's oracle")
        };
        assert_eq!(d.signature(), expected.signature());
        assert!(matches!(run(&p, WrapperBugs::NONE), Verdict::Agree(_)));
        // With the wrapper's bug on as well, the model keeps its own.
        let both = WrapperBugs::parse("nocow-writeback-end-rounds-down,merge-hook-era-a").unwrap();
        let Verdict::Diverged(d) = run(&p, both) else {
            panic!("the wrapper dropped the model's bug")
        };
        assert_eq!(d.signature(), expected.signature());
        let wrapper_only = WrapperBugs::parse("nocow-writeback-end-rounds-down").unwrap();
        assert!(matches!(run(&p, wrapper_only), Verdict::Agree(_)));
    }

    #[test]
    fn the_bug_diverges_only_where_it_says() {
        let bug = WrapperBugs::parse("nocow-writeback-end-rounds-down").unwrap();
        let shows = parse_program(
            "set_free_space data=0 meta=64M\nbuffered_write ino=0 pos=0 len=8K nocow\n\
             writeback ino=0 start=0 len=5000\n",
        )
        .unwrap();
        let Verdict::Diverged(d) = run(&shows, bug) else {
            panic!("the injected bug went unnoticed")
        };
        assert_eq!(d.op_index, Some(2));
        assert!(matches!(run(&shows, WrapperBugs::NONE), Verdict::Agree(_)));
        // An end in an ordinary (reserved) record, an aligned end, an end past the record, an
        // unmounted fs: the bug changes nothing.
        let hides = parse_program(
            "buffered_write ino=0 pos=0 len=8K\nwriteback ino=0 start=0 len=5000\n\
             set_free_space data=0 meta=64M\nbuffered_write ino=1 pos=0 len=8K nocow\n\
             writeback ino=1 start=0 len=4K\nwriteback ino=1 start=0 len=9000\n\
             unmount\nwriteback ino=1 start=0 len=10\n",
        )
        .unwrap();
        assert!(matches!(run(&hides, bug), Verdict::Agree(_)));
    }
}
