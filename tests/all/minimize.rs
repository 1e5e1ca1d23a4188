//! The minimizer shrinks a divergence found with a deliberately wrong model to a few ops,
//! keeps it diverging the same way, and is deterministic.

use crate::common::{run_wrong, Bug};
use delalloc_contract::text::print_program;
use delalloc_contract::{Geometry, Op};
use delalloc_fuzz::generators::{program_from_seed, Level};
use delalloc_fuzz::oracles::{differential::DivergenceKind, Verdict};
use delalloc_fuzz::shrink::minimize_with;

/// The first generated program that diverges with `bug` at op `min_index` or later.
fn long_diverging_program(bug: Bug, min_index: usize) -> delalloc_contract::Program {
    (0..10_000u64)
        .map(|seed| program_from_seed(seed, Level::Fs))
        .find(|p| match run_wrong(p, bug) {
            Verdict::Diverged(d) => d.op_index.is_some_and(|i| i >= min_index),
            Verdict::Agree(_) => false,
        })
        .expect("some generated program diverges late")
}

#[test]
fn shrinks_a_state_divergence_to_one_small_write() {
    let p = long_diverging_program(Bug::ReservedExtentsPlusOne, 20);
    let Verdict::Diverged(before) = run_wrong(&p, Bug::ReservedExtentsPlusOne) else {
        unreachable!()
    };
    let m = minimize_with(&p, |c| run_wrong(c, Bug::ReservedExtentsPlusOne)).expect("diverges");
    assert_eq!(m.size_before, p.ops.len());
    assert_eq!(m.size_after, m.program.ops.len());
    assert!(
        m.size_after <= 3,
        "{} ops left:\n{}",
        m.size_after,
        print_program(&m.program)
    );
    assert!(
        m.size_before >= 20 && m.runs > 10,
        "{} ops, {} runs",
        m.size_before,
        m.runs
    );
    assert_eq!(m.divergence.signature(), before.signature());
    assert_eq!(m.divergence.kind, DivergenceKind::StateDiffers);
    // The write is the only op needed; its numbers shrink to the simplest that still writes.
    let last = m.program.ops.last().unwrap();
    let Op::BufferedWrite {
        ino,
        pos,
        len,
        copied,
        nocow,
    } = *last
    else {
        panic!("{last:?}")
    };
    assert_eq!(
        (ino, pos, nocow),
        (0, 0, false),
        "{}",
        print_program(&m.program)
    );
    assert!(
        len <= 4096 && copied == len,
        "{}",
        print_program(&m.program)
    );
    assert_eq!(
        m.program.geometry,
        Geometry {
            inodes: 1,
            ..Geometry::default()
        }
    );
    // Still diverging when run again, and deterministic.
    assert!(matches!(
        run_wrong(&m.program, Bug::ReservedExtentsPlusOne),
        Verdict::Diverged(_)
    ));
    let again = minimize_with(&p, |c| run_wrong(c, Bug::ReservedExtentsPlusOne)).unwrap();
    assert_eq!(again.program, m.program);
}

#[test]
fn shrinks_an_outcome_divergence_and_keeps_its_kind() {
    let p = long_diverging_program(Bug::WrittenOneLess, 20);
    let m = minimize_with(&p, |c| run_wrong(c, Bug::WrittenOneLess)).expect("diverges");
    assert!(m.size_after <= 3, "{}", print_program(&m.program));
    assert!(matches!(
        m.divergence.kind,
        DivergenceKind::OutcomeDiffers { .. }
    ));
}

#[test]
fn a_program_that_agrees_is_not_minimized() {
    let p = program_from_seed(1, Level::Tree);
    assert!(minimize_with(&p, |c| run_wrong(c, Bug::ReservedExtentsPlusOne)).is_none());
}
