//! The hand-written scenarios in corpus/regressions/seeds/ say which mechanism of which seed
//! commit they exercise. Replaying them only proves the models agree; these tests prove each
//! scenario still reaches what its comment names, so an edit to a model or to SPEC cannot
//! silently turn a seed scenario into one that tests nothing.

use delalloc_contract::text::parse_program;
use delalloc_contract::{Bits, Model, OrderedKind, Outcome, Program, Record, Snapshot};
use delalloc_reference::Reference;
use std::path::Path;

fn load(name: &str) -> Program {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus/regressions/seeds")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parse_program(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Each op's outcome and the reference's state after it.
fn run(name: &str) -> Vec<(Outcome, Snapshot)> {
    let p = load(name);
    let mut m = Reference::new(&p.geometry);
    p.ops.iter().map(|op| (m.apply(op), m.snapshot())).collect()
}

/// What a buffered write leaves on its range: 4.4's set_extent_delalloc sets DELALLOC|UPTODATE.
const UPTODATE_DELALLOC: Bits = Bits(Bits::UPTODATE.0 | Bits::DELALLOC.0);

#[test]
fn seed000_failed_reservation_raises_nothing_and_frees_nothing() {
    let s = run("seed000_reservation_enospc.txt");
    let (outcome, after) = &s[2];
    assert_eq!(*outcome, Outcome::Enospc);
    let i = &after.inodes[0];
    assert_eq!(
        (i.outstanding_extents, i.reserved_extents, i.csum_bytes),
        (1, Some(1), 4096)
    );
    assert_eq!(
        after.delalloc_rsv, s[1].1.delalloc_rsv,
        "the failed reservation freed something"
    );
    assert_eq!(s[6].0, Outcome::Enospc, "the real shortage");
    assert_eq!(
        s[6].1.inodes[1], s[5].1.inodes[1],
        "ino 1 kept part of a failed reservation"
    );
}

#[test]
fn seed002_inode_update_walks_the_whole_steal_chain() {
    let s = run("seed002_inode_update_steal_chain.txt");
    let meta_reserved_handed_over = s.windows(2).any(|w| {
        w[0].1.inodes[0].delalloc_meta_reserved == Some(true)
            && w[1].1.inodes[0].delalloc_meta_reserved == Some(false)
    });
    assert!(meta_reserved_handed_over);
    let last = &s.last().unwrap().1;
    assert_eq!(last.warnings.global_rsv_steals, 1);
    assert_eq!(last.warnings.unreserved_inode_updates, 0);
    assert!(last.inodes[0].delayed_bytes_reserved > 0);
}

#[test]
fn seed003_dio_fallback_keeps_the_buffered_delalloc() {
    let s = run("seed003_dio_fallback_after_buffered.txt");
    assert_eq!(s[1].0, Outcome::Written { bytes: 8192 });
    assert_eq!(
        s[1].1.inodes[0].records,
        [Record {
            start: 0,
            end: 16383,
            bits: UPTODATE_DELALLOC
        }]
    );
    assert!(s[1].1.inodes[0].ordered.is_empty());
}

#[test]
fn seed004_dio_leaves_no_extent_state() {
    let s = run("seed004_dio_marks_only_delalloc.txt");
    let i = &s[0].1.inodes[0];
    assert!(
        i.records.is_empty(),
        "O_DIRECT left extent states: {:?}",
        i.records
    );
    assert_eq!(i.ordered.len(), 1);
    assert_eq!(i.ordered[0].kind, OrderedKind::Direct);
}

#[test]
fn records_over_max_extent_count_every_extent() {
    // [68K][4K hole][68K] with max_extent 64K: 2 + 2 outstanding; filling the hole merges them
    // into one 140K record of count 3 (era A would have said 1).
    let s = run("max_extent_merge_split.txt");
    assert_eq!(s[1].1.inodes[0].outstanding_extents, 4);
    let i = &s[2].1.inodes[0];
    assert_eq!(
        i.records,
        [Record {
            start: 0,
            end: 143359,
            bits: UPTODATE_DELALLOC
        }]
    );
    assert_eq!(i.outstanding_extents, 3);
    // The same on the stand-alone tree: a split in the middle adds one.
    assert_eq!(s[7].1.tree.outstanding_extents, 3);
    assert_eq!(s[8].1.tree.outstanding_extents, 4);
}
