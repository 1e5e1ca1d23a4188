//! The oracle can fail: deliberately wrong models are reported with the right kind, op and
//! field; the reference agrees with itself.

use crate::common::{parse, run_wrong, run_wrong_twice, Bug};
use delalloc_contract::{Op, Outcome};
use delalloc_fuzz::oracles::{
    differential::{self, DivergenceKind},
    Verdict,
};
use delalloc_fuzz::report;
use delalloc_reference::Reference;

const TWO_WRITES: &str = "
geometry inodes=2
set_bits 0 4095 DIRTY
buffered_write ino=0 pos=0 len=4K
buffered_write ino=1 pos=8K len=100
commit
";

#[test]
fn a_mis_accounted_field_is_state_differs_naming_the_field() {
    let p = parse(TWO_WRITES);
    let Verdict::Diverged(d) = run_wrong(&p, Bug::ReservedExtentsPlusOne) else {
        panic!("no divergence")
    };
    assert_eq!(d.kind, DivergenceKind::StateDiffers);
    assert_eq!(d.op_index, Some(1));
    assert!(matches!(d.op, Op::BufferedWrite { ino: 0, .. }));
    assert_eq!(d.fields.len(), 1, "{:?}", d.fields);
    let f = &d.fields[0];
    assert_eq!(f.field, "inodes[0].reserved_extents");
    let (l, r): (u64, u64) = (f.left.parse().unwrap(), f.right.parse().unwrap());
    assert_eq!(r, l + 1);
    assert_eq!((d.left_model, d.right_model), ("reference", "wrong"));
    assert_eq!(d.trace.len(), 2);
    assert_eq!(d.signature(), "state differs: inodes[].reserved_extents");

    let text = report::text(&d);
    for needle in [
        "DIVERGENCE (state differs) at op 1: buffered_write ino=0 pos=0 len=4K",
        "inodes[0].reserved_extents",
        &format!("reference: {l}"),
        &format!("wrong: {r}"),
        "geometry sectorsize=4K",
        "set_bits 0 4095 DIRTY",
        "done | done",
        "written(4096) | written(4096)",
    ] {
        assert!(text.contains(needle), "missing `{needle}` in\n{text}");
    }
    let json: serde_json::Value = serde_json::from_str(&report::json(&d)).unwrap();
    assert_eq!(json["op_index"], 1);
    assert_eq!(json["kind"]["kind"], "state_differs");
    assert_eq!(json["fields"][0]["field"], "inodes[0].reserved_extents");
    assert_eq!(json["trace"].as_array().unwrap().len(), 2);
}

#[test]
fn a_wrong_answer_is_outcome_differs() {
    let p = parse(TWO_WRITES);
    let Verdict::Diverged(d) = run_wrong(&p, Bug::WrittenOneLess) else {
        panic!("no divergence")
    };
    assert_eq!(
        d.kind,
        DivergenceKind::OutcomeDiffers {
            left: Outcome::Written { bytes: 4096 },
            right: Outcome::Written { bytes: 4095 }
        }
    );
    assert_eq!(d.op_index, Some(1));
    assert!(d.fields.is_empty());
    let text = report::text(&d);
    assert!(
        text.contains("reference: written(4096)") && text.contains("wrong: written(4095)"),
        "{text}"
    );
    assert!(text.contains("<-- differs"), "{text}");
}

#[test]
fn equal_but_wrong_state_is_an_invariant_broken() {
    let p = parse(TWO_WRITES);
    let Verdict::Diverged(d) = run_wrong_twice(&p, Bug::ReservedExtentsPlusOne) else {
        panic!("no divergence")
    };
    let DivergenceKind::InvariantBroken {
        model,
        invariant,
        message,
    } = &d.kind
    else {
        panic!("{:?}", d.kind)
    };
    assert_eq!((*model, *invariant), ("both", "8.5 delalloc_rsv.size"));
    assert!(message.starts_with("fs: delalloc_rsv.size "), "{message}");
    assert_eq!(d.op_index, Some(1));
}

#[test]
fn a_panicking_model_is_reported_not_propagated() {
    delalloc_fuzz::oracles::panics::quiet_model_panics();
    let p = parse("buffered_write ino=0 pos=0 len=4K\nevict ino=0\n");
    let Verdict::Diverged(d) = run_wrong(&p, Bug::PanicOnEvict) else {
        panic!("no divergence")
    };
    let DivergenceKind::Panicked { model, message } = &d.kind else {
        panic!("{:?}", d.kind)
    };
    assert_eq!(*model, "wrong");
    assert!(
        message.contains("evict is broken in this model"),
        "{message}"
    );
    assert!(
        message.contains("tests/all/common/mod.rs"),
        "location: {message}"
    );
    assert_eq!(d.op_index, Some(1));
    assert!(report::text(&d).contains("(wrong panicked)"));
}

#[test]
fn a_models_own_complaint_is_a_divergence_even_when_both_agree() {
    let p = parse("buffered_write ino=0 pos=0 len=4K\ntruncate ino=0 size=0\ncommit\n");
    let Verdict::Diverged(d) = run_wrong(&p, Bug::WarnOnTruncate) else {
        panic!("no divergence")
    };
    let DivergenceKind::Complained { model, complaint } = &d.kind else {
        panic!("{:?}", d.kind)
    };
    assert_eq!(*model, "wrong");
    assert_eq!(complaint.location, "tests/all/common/mod.rs:1");
    assert_eq!(d.op_index, Some(1), "reported at the op that complained");
    assert_eq!(d.signature(), "wrong WARN_ON at tests/all/common/mod.rs:1");
    let text = report::text(&d);
    assert!(
        text.contains("wrong's own code complained during the op:\n  WARN_ON at tests/all/common/mod.rs:1: truncate"),
        "{text}"
    );
}

#[test]
fn a_leak_at_the_oracles_final_unmount_has_no_op_index() {
    let p = parse("buffered_write ino=0 pos=0 len=4K\n");
    let Verdict::Diverged(d) = run_wrong(&p, Bug::LeakOnUnmount) else {
        panic!("no divergence")
    };
    assert_eq!(d.op_index, None);
    assert_eq!(d.op, Op::Unmount);
    assert_eq!(d.kind, DivergenceKind::StateDiffers);
    assert_eq!(d.fields[0].field, "data.bytes_may_use");
    assert_eq!(d.program_up_to().ops.len(), 1);
    let text = report::text(&d);
    assert!(text.contains("at teardown"), "{text}");

    // A program that unmounts itself is not unmounted again: the divergence is at its op.
    let p = parse("buffered_write ino=0 pos=0 len=4K\nunmount\n");
    let Verdict::Diverged(d) = run_wrong(&p, Bug::LeakOnUnmount) else {
        panic!("no divergence")
    };
    assert_eq!(d.op_index, Some(1));
    assert_eq!(d.trace.len(), 2);

    // Both models leaking the same way: the unmount invariant names the field.
    let p = parse("buffered_write ino=0 pos=0 len=4K\n");
    let Verdict::Diverged(d) = run_wrong_twice(&p, Bug::LeakOnUnmount) else {
        panic!("no divergence")
    };
    let DivergenceKind::InvariantBroken {
        invariant, message, ..
    } = &d.kind
    else {
        panic!("{:?}", d.kind)
    };
    assert_eq!(*invariant, "8.6 released at unmount");
    assert_eq!(message, "fs: data.bytes_may_use = 4096 after unmount");
}

#[test]
fn the_reference_agrees_with_itself_and_stats_count() {
    let p = parse(TWO_WRITES);
    let mut a = Reference::new(&p.geometry);
    let mut b = Reference::new(&p.geometry);
    let Verdict::Agree(stats) = differential::run_models(&p, &mut a, &mut b) else {
        panic!("diverged")
    };
    assert_eq!(stats.programs, 1);
    assert_eq!(stats.ops, 4);
    assert_eq!(
        stats.per_kind[delalloc_contract::OpKind::BufferedWrite as usize],
        2
    );
    let written = stats
        .outcome_counts()
        .find(|(n, _)| *n == "written")
        .unwrap()
        .1;
    assert_eq!(written, 2);
}
