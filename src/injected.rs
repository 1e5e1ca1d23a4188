//! Deliberately wrong behaviours of the optimized model, switched on only by the environment
//! variable [`ENV`] (`DELALLOC_FUZZ_BUGS=nocow-writeback-end-rounds-down`), so that the whole
//! pipeline can be shown to work end to end: a fuzz engine finds the divergence from the seed
//! corpus, `delalloc-fuzz import` turns the crash into a readable minimized program, and
//! `replay` with the switch on shows it failing.
//!
//! Off (the variable unset or empty) nothing here runs: [`run`] is [`oracle::run`]. On, the
//! optimized model is wrapped in [`Buggy`], which changes what it is asked to do, never the
//! model's own code (optimized/ stays untouched). This module is the one place to swap for a
//! bug set built into the optimized model itself (`Optimized::with_bugs`): [`run`] and
//! [`from_env_once`] are all the fuzz targets and the CLI call.
//!
//! An unknown name fails loudly ([`BugSet::parse`] names it and lists the known ones): a typo
//! must never leave a campaign hunting for a bug that is not there.

use crate::oracle::{self, Verdict};
use delalloc_contract::{Bits, Geometry, Model, Op, Outcome, Program, Snapshot};
use delalloc_optimized::Optimized;
use delalloc_reference::Reference;
use std::sync::OnceLock;

/// The switch: a comma-separated list of [`Bug`] names.
pub const ENV: &str = "DELALLOC_FUZZ_BUGS";

/// One deliberately wrong behaviour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bug {
    /// Writeback rounds the end of its range down to a sector instead of up when the range
    /// ends inside a NORESERVE (nocow, metadata-only) delalloc record: an off-by-one confined
    /// to the nocow path (run_delalloc_nocow), so the data in that last partial sector stays
    /// delalloc. It takes a state (a nocow write that fell back to metadata-only on a data
    /// ENOSPC) and an op (a writeback ending inside it, not on a sector) together: no single
    /// byte flip of the seed corpus shows it.
    NocowWritebackEndRoundsDown,
}

impl Bug {
    pub const ALL: [Bug; 1] = [Bug::NocowWritebackEndRoundsDown];

    pub fn name(self) -> &'static str {
        match self {
            Bug::NocowWritebackEndRoundsDown => "nocow-writeback-end-rounds-down",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Bug::NocowWritebackEndRoundsDown => {
                "writeback rounds its range end down to a sector instead of up inside a nocow record"
            }
        }
    }

    fn bit(self) -> u32 {
        1 << self as u32
    }
}

/// A set of [`Bug`]s; empty means the real optimized model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BugSet(u32);

impl BugSet {
    pub const NONE: BugSet = BugSet(0);

    /// `a,b,c` (spaces allowed, empty means none); an unknown name is an error naming it.
    pub fn parse(list: &str) -> Result<BugSet, String> {
        let mut set = BugSet::NONE;
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let bug = Bug::ALL
                .into_iter()
                .find(|b| b.name() == name)
                .ok_or_else(|| {
                    let known: Vec<&str> = Bug::ALL.iter().map(|b| b.name()).collect();
                    format!(
                        "{ENV}: unknown injected bug `{name}` (known: {})",
                        known.join(", ")
                    )
                })?;
            set.0 |= bug.bit();
        }
        Ok(set)
    }

    /// The set named by [`ENV`] (none when unset).
    pub fn from_env() -> Result<BugSet, String> {
        match std::env::var(ENV) {
            Ok(list) => BugSet::parse(&list),
            Err(std::env::VarError::NotPresent) => Ok(BugSet::NONE),
            Err(e) => Err(format!("{ENV}: {e}")),
        }
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn contains(self, bug: Bug) -> bool {
        self.0 & bug.bit() != 0
    }

    pub fn bugs(self) -> impl Iterator<Item = Bug> {
        Bug::ALL.into_iter().filter(move |&b| self.contains(b))
    }

    /// `a+b`: the names, for folder names and messages.
    pub fn names(self) -> String {
        self.bugs().map(Bug::name).collect::<Vec<_>>().join("+")
    }
}

/// [`BugSet::from_env`] read once per process, as a fuzz target needs it (one read, then a
/// load per input). Panics on an unknown name, which a fuzz engine reports at once; the first
/// call with bugs on says so on stderr.
pub fn from_env_once() -> BugSet {
    static BUGS: OnceLock<BugSet> = OnceLock::new();
    *BUGS.get_or_init(|| match BugSet::from_env() {
        Ok(set) => {
            if !set.is_empty() {
                eprintln!(
                    "delalloc-fuzz: {ENV}={}: the optimized model runs with injected bugs",
                    set.names()
                );
            }
            set
        }
        Err(e) => panic!("{e}"),
    })
}

/// The oracle with `bugs` injected into the optimized model ([`oracle::run`] when empty).
pub fn run(program: &Program, bugs: BugSet) -> Verdict {
    if bugs.is_empty() {
        return oracle::run(program);
    }
    let mut left = Reference::new(&program.geometry);
    let mut right = Buggy::new(&program.geometry, bugs);
    oracle::run_models(program, &mut left, &mut right)
}

/// The optimized model asked to do something slightly different, as each [`Bug`] says.
pub struct Buggy {
    inner: Optimized,
    geometry: Geometry,
    bugs: BugSet,
    unmounted: bool,
}

impl Buggy {
    pub fn new(geometry: &Geometry, bugs: BugSet) -> Buggy {
        Buggy {
            inner: Optimized::new(geometry),
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
        match *op {
            Op::Writeback { ino, start, len }
                if self.bugs.contains(Bug::NocowWritebackEndRoundsDown)
                    && self.ends_inside_nocow_delalloc(ino, start + len) =>
            {
                let g = &self.geometry;
                let (from, to) = (g.round_down(start), g.round_down(start + len));
                if to > from {
                    self.inner.apply(&Op::Writeback {
                        ino,
                        start: from,
                        len: to - from,
                    })
                } else {
                    Outcome::Done
                }
            }
            _ => self.inner.apply(op),
        }
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
        assert_eq!(BugSet::parse(""), Ok(BugSet::NONE));
        let set = BugSet::parse(" nocow-writeback-end-rounds-down ,").unwrap();
        assert!(set.contains(Bug::NocowWritebackEndRoundsDown));
        assert_eq!(set.names(), "nocow-writeback-end-rounds-down");
        let e = BugSet::parse("nocow-writeback-end-rounds-down,typo").unwrap_err();
        assert!(
            e.contains("`typo`") && e.contains("known: nocow-writeback-end-rounds-down"),
            "{e}"
        );
    }

    #[test]
    fn the_bug_diverges_only_where_it_says() {
        let bug = BugSet::parse("nocow-writeback-end-rounds-down").unwrap();
        let shows = parse_program(
            "set_free_space data=0 meta=64M\nbuffered_write ino=0 pos=0 len=8K nocow\n\
             writeback ino=0 start=0 len=5000\n",
        )
        .unwrap();
        let Verdict::Diverged(d) = run(&shows, bug) else {
            panic!("the injected bug went unnoticed")
        };
        assert_eq!(d.op_index, Some(2));
        assert!(matches!(run(&shows, BugSet::NONE), Verdict::Agree(_)));
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
