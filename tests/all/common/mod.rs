//! Test-only models: the reference, deliberately wrong in one way, to show that the oracle, the
//! minimizer and the engine notice.

pub mod cli;
pub mod corpus;

use delalloc_contract::{Complaint, Model, Op, Outcome, Program, Snapshot};
use delalloc_fuzz::oracles::differential::{self, Divergence};
use delalloc_fuzz::oracles::stats::Stats;
use delalloc_fuzz::oracles::Verdict;
use delalloc_reference::Reference;

/// How a [`Wrong`] model is wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bug {
    /// Every successful buffered write adds 1 to its inode's reserved_extents (in the snapshot).
    ReservedExtentsPlusOne,
    /// A buffered write that copied something answers one byte less.
    WrittenOneLess,
    /// Evict panics.
    PanicOnEvict,
    /// Unmount leaves 4 KiB of data bytes_may_use behind.
    LeakOnUnmount,
    /// Truncate answers as the reference does, but the model's own check complains (as a
    /// kernel WARN_ON would) each time.
    WarnOnTruncate,
    /// Once the delayed-inode update has stolen from the global reserve (the end of seed 002's
    /// steal chain), the model reports one steal more: a bug that only that deep state shows.
    MiscountsGlobalSteal,
}

/// The reference model with one [`Bug`].
pub struct Wrong {
    inner: Reference,
    bug: Bug,
    extra_reserved: Vec<u64>,
    unmounted: bool,
    complaints: Vec<Complaint>,
}

impl Wrong {
    pub fn new(program: &Program, bug: Bug) -> Wrong {
        Wrong {
            inner: Reference::new(&program.geometry),
            bug,
            extra_reserved: vec![0; usize::from(program.geometry.inodes)],
            unmounted: false,
            complaints: Vec::new(),
        }
    }
}

impl Model for Wrong {
    fn name(&self) -> &'static str {
        "wrong"
    }

    fn apply(&mut self, op: &Op) -> Outcome {
        if self.bug == Bug::PanicOnEvict && matches!(op, Op::Evict { .. }) {
            panic!("evict is broken in this model");
        }
        if self.bug == Bug::WarnOnTruncate && matches!(op, Op::Truncate { .. }) {
            self.complaints.push(Complaint {
                kind: "WARN_ON".into(),
                location: "tests/all/common/mod.rs:1".into(),
                text: "truncate".into(),
            });
        }
        let outcome = self.inner.apply(op);
        self.unmounted |= matches!(op, Op::Unmount);
        match (self.bug, op, outcome) {
            (
                Bug::ReservedExtentsPlusOne,
                Op::BufferedWrite { ino, .. },
                Outcome::Written { .. },
            ) => {
                self.extra_reserved[usize::from(*ino)] += 1;
                outcome
            }
            (Bug::WrittenOneLess, Op::BufferedWrite { .. }, Outcome::Written { bytes })
                if bytes > 0 =>
            {
                Outcome::Written { bytes: bytes - 1 }
            }
            // Every other op, and every other bug, answers what the reference does.
            _ => outcome,
        }
    }

    fn snapshot(&self) -> Snapshot {
        let mut s = self.inner.snapshot();
        for (inode, extra) in s.inodes.iter_mut().zip(&self.extra_reserved) {
            *inode.reserved_extents.get_or_insert(0) += extra;
        }
        if self.bug == Bug::MiscountsGlobalSteal && s.warnings.global_rsv_steals > 0 {
            s.warnings.global_rsv_steals += 1;
        }
        if self.bug == Bug::LeakOnUnmount && self.unmounted {
            s.data.bytes_may_use += 4096;
        }
        s
    }

    fn take_complaints(&mut self) -> Vec<Complaint> {
        std::mem::take(&mut self.complaints)
    }
}

/// The reference on the left, the wrong model on the right.
pub fn run_wrong(program: &Program, bug: Bug) -> Verdict<Stats, Divergence> {
    let mut left = Reference::new(&program.geometry);
    let mut right = Wrong::new(program, bug);
    differential::run_models(program, &mut left, &mut right)
}

/// The same wrong model on both sides: they agree, and only the invariants can tell.
pub fn run_wrong_twice(program: &Program, bug: Bug) -> Verdict<Stats, Divergence> {
    let mut left = Wrong::new(program, bug);
    let mut right = Wrong::new(program, bug);
    differential::run_models(program, &mut left, &mut right)
}

/// Parses a program in the text format, panicking with the error.
pub fn parse(text: &str) -> Program {
    delalloc_contract::text::parse_program(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}
