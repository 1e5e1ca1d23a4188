//! Conformance of the optimized implementation to the reference, as a proptest state machine:
//! the reference model is the `ReferenceStateMachine`, the optimized implementation is the system
//! under test, and after every transition the outcome and the whole snapshot must be equal.
//!
//! This test draws its ops from its own proptest strategies (not from `generate`), so that it
//! shrinks op by op and argument by argument with proptest's shrinker, and so that a blind spot of
//! the fuzz generator is not a blind spot here too. Cases: `PROPTEST_CASES` (default 256 here).
//! Failing cases persist in proptest-regressions/conformance.txt, which is committed.

use delalloc_contract::{Bits, Era, FaultKind, Geometry, Model, Op, Outcome};
use delalloc_optimized::Optimized;
use delalloc_reference::Reference;
use proptest::prelude::*;
use proptest::test_runner::Config;
use proptest_state_machine::{prop_state_machine, ReferenceStateMachine, StateMachineTest};
use std::fmt;

/// The reference model after some transitions, and what the last one answered.
#[derive(Clone)]
struct RefState {
    geometry: Geometry,
    model: Reference,
    last: Option<Outcome>,
    steps: usize,
}

impl fmt::Debug for RefState {
    // The model's internals would drown the failure report; the transitions are what matter.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "RefState {{ geometry: {:?}, steps: {} }}",
            self.geometry, self.steps
        )
    }
}

/// Geometries worth exploring: the kernel's, and small ones where count_max_extents, ENOSPC and
/// the global reserve are reached with short programs.
fn geometry() -> impl Strategy<Value = Geometry> {
    let kernel = Geometry::default();
    let shapes = prop_oneof![
        Just(kernel),
        (
            prop_oneof![Just(16u64 << 10), Just(64 << 10)],
            1u8..=3,
            prop_oneof![Just(1u64 << 20), Just(64 << 20)]
        )
            .prop_map(move |(max_extent, inodes, meta)| Geometry {
                max_extent,
                write_chunk: max_extent.min(32 << 10),
                data_bytes: 4 << 20,
                meta_bytes: meta,
                global_rsv: meta / 8,
                inodes,
                ..kernel
            }),
    ];
    // Era B mostly (the accounting the seeds need), the 6.x io-tree rules one time in four.
    (shapes, prop_oneof![3 => Just(Era::B), 1 => Just(Era::V6)])
        .prop_map(|(g, era)| Geometry { era, ..g })
}

/// Offsets near the places where records split and merge: small sector multiples, the
/// max_extent boundaries, and sometimes a byte off a sector.
fn offset(g: Geometry) -> impl Strategy<Value = u64> {
    let s = g.sectorsize;
    let m = g.max_extent;
    prop_oneof![
        4 => (0u64..32).prop_map(move |k| k * s),
        2 => (1u64..4, -2i64..=2).prop_map(move |(k, d)| (k * m).saturating_add_signed(d * s as i64)),
        1 => 0u64..(8 * s),
    ]
}

fn length(g: Geometry) -> impl Strategy<Value = u64> {
    let s = g.sectorsize;
    let m = g.max_extent;
    prop_oneof![
        4 => (1u64..16).prop_map(move |k| k * s),
        2 => (0u64..3, 0u64..4).prop_map(move |(k, j)| k * m + (j + 1) * s),
        1 => 1u64..(4 * s),
    ]
}

/// Stored bits the era has (6.x io trees have no WRITEBACK).
fn bits(era: Era) -> impl Strategy<Value = Bits> {
    let palette = [
        Bits::DELALLOC,
        Bits::UPTODATE,
        Bits::DIRTY,
        Bits::DEFRAG,
        Bits::LOCKED,
        Bits::BOUNDARY,
        Bits::WRITEBACK,
        Bits::NORESERVE,
        Bits::DELALLOC_NEW,
    ];
    let palette: Vec<Bits> = palette
        .into_iter()
        .filter(|&b| era == Era::B || b != Bits::WRITEBACK)
        .collect();
    proptest::sample::subsequence(palette, 1..=3)
        .prop_map(|v| v.into_iter().fold(Bits::NONE, Bits::union))
}

/// A tree-level range: byte granular and small, so records collide often.
fn tree_range() -> impl Strategy<Value = (u64, u64)> {
    (0u64..48, 0u64..16).prop_map(|(a, l)| (a * 1024, a * 1024 + l * 1024 + 1023))
}

fn op(g: Geometry) -> impl Strategy<Value = Op> {
    let era = g.era;
    let ino = 0..g.inodes;
    let s = g.sectorsize;
    let tree = prop_oneof![
        (tree_range(), bits(era), any::<bool>(), any::<bool>()).prop_map(
            move |((start, end), bits, excl, cached)| Op::SetBits {
                start,
                end,
                bits,
                // Era 6 takes the exclusive bits from the bits (the LOCKED part, exactly).
                exclusive: match (era, excl) {
                    (Era::V6, _) => Bits(bits.0 & Bits::LOCKED.0),
                    (Era::B, true) => Bits(bits.0 & Bits::LOCKED.union(Bits::DELALLOC).0),
                    (Era::B, false) => Bits::NONE,
                },
                cached
            }
        ),
        (tree_range(), bits(era), any::<bool>(), any::<bool>()).prop_map(
            |((start, end), bits, delete, cached)| Op::ClearBits {
                start,
                end,
                bits,
                wake: true,
                delete,
                cached
            }
        ),
        (tree_range(), bits(era), bits(era)).prop_map(|((start, end), set, clear)| {
            Op::ConvertBits {
                start,
                end,
                set: set.minus(Bits::LOCKED).union(Bits::DIRTY),
                clear: clear.minus(Bits::LOCKED),
            }
        }),
        tree_range().prop_map(|(start, end)| Op::SetDelalloc { start, end }),
        tree_range().prop_map(|(start, end)| Op::Lock { start, end }),
        tree_range().prop_map(|(start, end)| Op::TryLock { start, end }),
        tree_range().prop_map(|(start, end)| Op::Unlock { start, end }),
        (tree_range(), bits(era), any::<bool>()).prop_map(|((start, end), bits, filled)| {
            Op::TestRangeBit {
                start,
                end,
                bits,
                filled,
            }
        }),
        (tree_range(), bits(era), 1u64..64, any::<bool>()).prop_map(
            |((start, end), bits, k, contig)| Op::CountRangeBits {
                start,
                end,
                max_bytes: k * 1024,
                bits,
                contig
            }
        ),
        (0u64..64, bits(era)).prop_map(|(k, bits)| Op::FindFirstBit {
            start: k * 1024,
            bits
        }),
        (0u64..64, 1u64..64).prop_map(|(k, m)| Op::FindDelalloc {
            start: k * 1024,
            max_bytes: m * 1024
        }),
        (0u64..64, bits(era)).prop_map(|(k, bits)| Op::FindFirstClearBit {
            start: k * 1024,
            bits
        }),
    ];
    let fs = prop_oneof![
        6 => (ino.clone(), offset(g), length(g), any::<bool>(), 0u64..4, any::<bool>()).prop_map(|(ino, pos, len, short, cut, nocow)| {
            let copied = if short { len.saturating_sub(cut * 1000 + 1) } else { len };
            Op::BufferedWrite { ino, pos, len, copied, nocow }
        }),
        3 => (ino.clone(), offset(g), length(g), any::<bool>()).prop_map(move |(ino, pos, len, fallback)| Op::DirectWrite {
            ino,
            pos: pos / s * s,
            len: len.div_ceil(s) * s,
            fallback
        }),
        2 => (ino.clone(), offset(g)).prop_map(move |(ino, pos)| Op::PageMkwrite { ino, pos: pos / s * s }),
        2 => (ino.clone(), offset(g), length(g)).prop_map(|(ino, start, len)| Op::Defrag { ino, start, len }),
        4 => (ino.clone(), offset(g), length(g)).prop_map(|(ino, start, len)| Op::Writeback { ino, start, len }),
        4 => (ino.clone(), any::<u8>()).prop_map(|(ino, nth)| Op::FinishOrdered { ino, nth }),
        2 => (ino.clone(), offset(g)).prop_map(|(ino, size)| Op::Truncate { ino, size }),
        1 => ino.clone().prop_map(|ino| Op::Evict { ino }),
        2 => Just(Op::Commit),
        1 => (0u64..64, 0u64..64).prop_map(move |(d, m)| Op::SetFreeSpace { data: d * s, meta: m * 64 * s }),
        1 => prop_oneof![Just(FaultKind::Data), Just(FaultKind::Metadata)].prop_map(|kind| Op::FailNextReservation { kind }),
        // Era B only: preconditions drop it in era 6.
        1 => Just(Op::DrainDelallocRsv),
    ];
    prop_oneof![1 => tree, 3 => fs]
}

struct Conformance;

impl ReferenceStateMachine for Conformance {
    type State = RefState;
    type Transition = Op;

    fn init_state() -> BoxedStrategy<RefState> {
        geometry()
            .prop_map(|geometry| RefState {
                geometry,
                model: Reference::new(&geometry),
                last: None,
                steps: 0,
            })
            .boxed()
    }

    fn transitions(state: &RefState) -> BoxedStrategy<Op> {
        prop_oneof![40 => op(state.geometry), 1 => Just(Op::Unmount)].boxed()
    }

    fn preconditions(state: &RefState, op: &Op) -> bool {
        // Shrinking may move an op to a geometry with fewer inodes; such ops are not programs.
        op.validate(&state.geometry).is_ok()
    }

    fn apply(mut state: RefState, op: &Op) -> RefState {
        state.last = Some(state.model.apply(op));
        state.steps += 1;
        state
    }
}

impl StateMachineTest for Conformance {
    type SystemUnderTest = Optimized;
    type Reference = Conformance;

    fn init_test(state: &RefState) -> Optimized {
        Optimized::new(&state.geometry)
    }

    fn apply(mut sut: Optimized, state: &RefState, op: Op) -> Optimized {
        let outcome = sut.apply(&op);
        assert_eq!(
            Some(outcome),
            state.last,
            "outcome of {op:?} (left: optimized, right: reference)"
        );
        sut
    }

    fn check_invariants(sut: &Optimized, state: &RefState) {
        let diff = state.model.snapshot().diff(&sut.snapshot());
        let lines: Vec<String> = diff
            .iter()
            .map(|d| format!("  {}: reference {} optimized {}", d.field, d.left, d.right))
            .collect();
        assert!(
            diff.is_empty(),
            "state differs after step {}:\n{}",
            state.steps,
            lines.join("\n")
        );
    }

    fn teardown(mut sut: Optimized) {
        // Everything must come back at unmount (SPEC §8.6); the reference's side of this is
        // checked by the oracle tests, here the system under test must end clean too.
        sut.apply(&Op::Unmount);
        let w = sut.snapshot().warnings;
        assert_eq!(
            (w.evict_leaks, w.unmount_leaks),
            (0, 0),
            "optimized leaked at unmount: {w:?}"
        );
    }
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

prop_state_machine! {
    #![proptest_config(Config {
        cases: cases(),
        failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::Direct("proptest-regressions/conformance.txt"))),
        .. Config::default()
    })]

    #[test]
    fn optimized_conforms_to_reference(sequential 1..40 => Conformance);
}
