//! Hand-worked examples of era C (SPEC §3.1–§6.1, the 6.x per-inode block reservation), each
//! with exact numbers.
//!
//! Geometry: era 6, sectorsize 4K, nodesize 16K, so I = insert(1) = 16K * 8 * 2 = 256K and
//! M = meta(1) = 16K * 8 = 128K; one csum leaf covers (16384 - 126) / 4 = 4064 sectors; the
//! global reserve is 16M.

use delalloc_contract::{
    Bits, BlockRsv, Era, FaultKind, Geometry, Model, Op, OrderedKind, Outcome, Record, Snapshot,
};
use delalloc_reference::Reference;

const I: u64 = 256 << 10;
const M: u64 = 128 << 10;
const GLOBAL: u64 = 16 << 20;
const NEW: Bits = Bits(Bits::DELALLOC.0 | Bits::DELALLOC_NEW.0);

fn era_c() -> Geometry {
    Geometry { era: Era::V6, ..Geometry::default() }
}

fn write(pos: u64, len: u64, copied: u64) -> Op {
    Op::BufferedWrite { ino: 0, pos, len, copied, nocow: false }
}

fn rsv(s: &Snapshot) -> BlockRsv {
    s.inodes[0].block_rsv.expect("era C has an inode reservation")
}

/// Applies `op`, checks that metadata may_use is exactly the reservations (SPEC §8.1), and
/// returns the outcome and the snapshot after it.
fn step(m: &mut Reference, op: Op) -> (Outcome, Snapshot) {
    let out = m.apply(&op);
    let s = m.snapshot();
    let inodes: u64 = s.inodes.iter().map(|i| i.block_rsv.unwrap().reserved).sum();
    if s.mounted {
        assert_eq!(
            s.meta.bytes_may_use,
            inodes + s.delayed_rsv.reserved + s.global_rsv.reserved,
            "after {op:?}: {s:#?}"
        );
    }
    (out, s)
}

#[test]
fn an_era_c_snapshot_has_only_era_c_fields() {
    let s = Reference::new(&era_c()).snapshot();
    assert!(s.delalloc_rsv.is_none());
    for i in &s.inodes {
        assert_eq!((i.reserved_extents, i.delalloc_meta_reserved), (None, None));
        assert_eq!(i.block_rsv, Some(BlockRsv::default()));
    }
}

#[test]
fn one_page_from_write_to_commit() {
    let mut m = Reference::new(&era_c());
    // Reserve insert(1 extent + 1 csum leaf) + meta(1); release_extents trims nothing, since
    // the size is the same: insert(1) + meta(1) for the extent, insert(1) for the leaf.
    let (out, s) = step(&mut m, write(0, 4096, 4096));
    assert_eq!(out, Outcome::Written { bytes: 4096 });
    let i = &s.inodes[0];
    assert_eq!(i.records, [Record { start: 0, end: 4095, bits: NEW }], "past i_size: DELALLOC_NEW");
    assert_eq!((i.outstanding_extents, i.csum_bytes, i.new_delalloc_bytes), (1, 4096, 4096));
    assert_eq!(rsv(&s), BlockRsv { size: 2 * I + M, reserved: 2 * I + M });
    assert_eq!((s.data.bytes_may_use, s.meta.bytes_may_use), (4096, GLOBAL + 2 * I + M));

    // Writeback clears DELALLOC only; DELALLOC_NEW stays until the ordered extent finishes.
    let (_, s) = step(&mut m, Op::Writeback { ino: 0, start: 0, len: 4096 });
    let i = &s.inodes[0];
    assert_eq!(i.records, [Record { start: 0, end: 4095, bits: Bits::DELALLOC_NEW }]);
    assert_eq!((i.outstanding_extents, i.ordered.len()), (1, 1));
    assert_eq!((s.data.bytes_may_use, s.data.bytes_reserved), (0, 4096));

    // Finish: meta(1) migrates to the delayed reserve, then the removal's release_metadata
    // recomputes the size to 0 and the rest goes back to metadata may_use.
    let (_, s) = step(&mut m, Op::FinishOrdered { ino: 0, nth: 0 });
    let i = &s.inodes[0];
    assert!(i.records.is_empty());
    assert_eq!((i.outstanding_extents, i.csum_bytes, i.delayed_bytes_reserved), (0, 0, M));
    assert_eq!(rsv(&s), BlockRsv::default());
    assert_eq!(s.delayed_rsv, BlockRsv { size: M, reserved: M });
    assert_eq!(s.meta.bytes_may_use, GLOBAL + M);
    assert_eq!((s.data.bytes_reserved, s.data.bytes_used), (0, 4096));

    // Commit: the delayed reservation goes straight back to may_use (no global refill needed).
    let (_, s) = step(&mut m, Op::Commit);
    assert_eq!((s.meta.bytes_may_use, s.delayed_rsv), (GLOBAL, BlockRsv::default()));
    let (_, s) = step(&mut m, Op::Unmount);
    assert_eq!((s.warnings.evict_leaks, s.warnings.unmount_leaks), (0, 0));
}

#[test]
fn a_short_copy_gives_the_tail_back_without_an_extent_bump() {
    let g = Geometry { max_extent: 16384, write_chunk: 16384, ..era_c() };
    let mut m = Reference::new(&g);
    // 3 pages reserved (1 extent, 1 csum leaf), 1 page and 1 byte copied: 2 pages dirty, the
    // third page's data and checksum bytes go back; the extent stays counted once (era B added
    // one here, which era C's release_metadata would never take back).
    let (out, s) = step(&mut m, write(0, 3 * 4096, 4097));
    assert_eq!(out, Outcome::Written { bytes: 4097 });
    let i = &s.inodes[0];
    assert_eq!(i.records, [Record { start: 0, end: 8191, bits: NEW }]);
    assert_eq!((i.i_size, i.outstanding_extents, i.csum_bytes), (4097, 1, 8192));
    assert_eq!(rsv(&s), BlockRsv { size: 2 * I + M, reserved: 2 * I + M });
    assert_eq!(s.data.bytes_may_use, 8192);
}

#[test]
fn writeback_leaves_the_size_stale_until_the_next_recompute() {
    // One 8K record at max_extent 8K counts 1; writing back its second page splits it (+1),
    // clears that page (-1) and creates an ordered extent (+1): 2 outstanding, size still
    // computed for 1.
    let g = Geometry { max_extent: 8192, ..era_c() };
    let mut m = Reference::new(&g);
    step(&mut m, write(0, 8192, 8192));
    let before = rsv(&m.snapshot());
    assert_eq!(before.size, I + M + I);
    let (_, s) = step(&mut m, Op::Writeback { ino: 0, start: 4096, len: 4096 });
    assert_eq!((s.inodes[0].outstanding_extents, s.inodes[0].ordered.len()), (2, 1));
    assert_eq!(rsv(&s), before, "no recompute in writeback");
    // Finishing the ordered extent recomputes: 1 extent, 4K of checksums.
    let (_, s) = step(&mut m, Op::FinishOrdered { ino: 0, nth: 0 });
    assert_eq!(s.inodes[0].outstanding_extents, 1);
    assert_eq!(rsv(&s).size, I + M + I);
}

#[test]
fn a_direct_write_longer_than_max_extent_reserves_for_the_rest_and_shrinks() {
    let g = Geometry { max_extent: 8192, ..era_c() };
    let mut m = Reference::new(&g);
    let (out, s) = step(&mut m, Op::DirectWrite { ino: 0, pos: 0, len: 3 * 8192, fallback: false });
    assert_eq!(out, Outcome::Written { bytes: 3 * 8192 });
    let i = &s.inodes[0];
    assert!(i.records.is_empty(), "no DELALLOC in an era-C direct write");
    let kinds: Vec<(u64, OrderedKind)> = i.ordered.iter().map(|o| (o.len, o.kind)).collect();
    assert_eq!(kinds, [(8192, OrderedKind::Direct); 3]);
    // Three ordered extents (one each), csum bytes for all 24K: one leaf.
    assert_eq!((i.outstanding_extents, i.csum_bytes), (3, 3 * 8192));
    assert_eq!(rsv(&s), BlockRsv { size: 3 * I + M + I, reserved: 3 * I + M + I });
    assert_eq!((s.data.bytes_may_use, s.data.bytes_reserved, i.i_size), (0, 3 * 8192, 3 * 8192));
}

#[test]
fn a_failed_metadata_reservation_changes_nothing_but_the_data_it_returns() {
    let mut m = Reference::new(&era_c());
    let before = m.snapshot();
    step(&mut m, Op::FailNextReservation { kind: FaultKind::Metadata });
    let (out, s) = step(&mut m, write(0, 4096, 4096));
    assert_eq!(out, Outcome::Enospc);
    assert_eq!((s.inodes[0].clone(), s.data, s.meta), (before.inodes[0].clone(), before.data, before.meta));
}

#[test]
fn page_mkwrite_past_eof_gives_everything_back() {
    let mut m = Reference::new(&era_c());
    step(&mut m, write(0, 4096, 4096));
    let before = m.snapshot();
    let (out, s) = step(&mut m, Op::PageMkwrite { ino: 0, pos: 8192 });
    assert_eq!(out, Outcome::Fault);
    assert_eq!((s.inodes[0].clone(), s.data, s.meta), (before.inodes[0].clone(), before.data, before.meta));
}

#[test]
fn defrag_sets_delalloc_and_defrag_without_new() {
    let mut m = Reference::new(&era_c());
    step(&mut m, write(0, 8192, 8192));
    step(&mut m, Op::Writeback { ino: 0, start: 0, len: 8192 });
    step(&mut m, Op::FinishOrdered { ino: 0, nth: 0 });
    let (out, s) = step(&mut m, Op::Defrag { ino: 0, start: 0, len: 8192 });
    assert_eq!(out, Outcome::Done);
    let i = &s.inodes[0];
    let bits = Bits::DELALLOC.union(Bits::DEFRAG);
    assert_eq!(i.records, [Record { start: 0, end: 8191, bits }]);
    assert_eq!((i.defrag_bytes, i.new_delalloc_bytes, i.outstanding_extents), (8192, 0, 1));
    // Writeback leaves DEFRAG (and defrag_bytes) to finish_ordered.
    let (_, s) = step(&mut m, Op::Writeback { ino: 0, start: 0, len: 8192 });
    assert_eq!(s.inodes[0].defrag_bytes, 8192);
    let (_, s) = step(&mut m, Op::FinishOrdered { ino: 0, nth: 0 });
    assert_eq!((s.inodes[0].defrag_bytes, s.inodes[0].records.len()), (0, 0));
}

#[test]
fn evict_of_a_dirty_inode_releases_everything() {
    let mut m = Reference::new(&era_c());
    step(&mut m, write(0, 3 * 4096, 3 * 4096));
    let (_, s) = step(&mut m, Op::Evict { ino: 0 });
    assert_eq!(s.warnings.evict_leaks, 0);
    assert_eq!(rsv(&s), BlockRsv::default());
    assert_eq!((s.meta.bytes_may_use, s.data.bytes_may_use), (GLOBAL, 0));
}
