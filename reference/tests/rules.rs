//! Hand-worked examples of SPEC.md's rules, each with exact numbers, and a smoke loop that checks
//! a few SPEC §8 balances after every op.
//!
//! Default geometry: sectorsize 4K, nodesize 16K, so T = trans(1) = 16K * 8 * 2 = 256K, and one
//! csum leaf covers (16384 - 101 - 25) / 4 = 4064 sectors; the global reserve is 16M.

use delalloc_contract::{
    Bits, Era, FaultKind, Geometry, Model, Op, OrderedExtent, OrderedKind, Outcome, Record, Snapshot,
};
use delalloc_reference::tree::Tree;
use delalloc_reference::Reference;

const T: u64 = 256 << 10;
const GLOBAL: u64 = 16 << 20;
const K: u64 = 1024;
/// What a buffered write or page_mkwrite leaves on its range: 4.4's set_extent_delalloc sets
/// DELALLOC|UPTODATE.
const DU: Bits = Bits(Bits::DELALLOC.0 | Bits::UPTODATE.0);

fn write(ino: u8, pos: u64, len: u64) -> Op {
    Op::BufferedWrite { ino, pos, len, copied: len, nocow: false }
}
fn short_write(ino: u8, pos: u64, len: u64, copied: u64) -> Op {
    Op::BufferedWrite { ino, pos, len, copied, nocow: false }
}
fn writeback(ino: u8, start: u64, len: u64) -> Op {
    Op::Writeback { ino, start, len }
}
fn finish(ino: u8) -> Op {
    Op::FinishOrdered { ino, nth: 0 }
}
fn dio(ino: u8, pos: u64, len: u64, fallback: bool) -> Op {
    Op::DirectWrite { ino, pos, len, fallback }
}
fn fail_meta() -> Op {
    Op::FailNextReservation { kind: FaultKind::Metadata }
}
fn set_bits(start: u64, end: u64, bits: Bits, exclusive: Bits) -> Op {
    Op::SetBits { start, end, bits, exclusive, cached: false }
}
fn rec(start: u64, end: u64, bits: Bits) -> Record {
    Record { start, end, bits }
}

/// Applies the ops, checking the SPEC §8 balances after each; returns the outcomes.
fn run(m: &mut Reference, g: &Geometry, ops: &[Op]) -> Vec<Outcome> {
    ops.iter()
        .map(|op| {
            let out = m.apply(op);
            if let Err(e) = balances(&m.snapshot(), g) {
                panic!("after {op:?} -> {out:?}: {e}");
            }
            out
        })
        .collect()
}

fn run1(m: &mut Reference, g: &Geometry, op: Op) -> Outcome {
    run(m, g, &[op])[0]
}

/// A few of SPEC §8's balances: a cheap self-check of the reference's own bookkeeping.
fn balances(s: &Snapshot, g: &Geometry) -> Result<(), String> {
    let count = |len| g.count_max_extents(len);
    let check = |ok: bool, what: &str| {
        if ok {
            Ok(())
        } else {
            Err(format!("{what}: {s:#?}"))
        }
    };
    let mut data_may_use = 0;
    let mut data_reserved = 0;
    let mut delalloc_size = 0;
    for (n, i) in s.inodes.iter().enumerate() {
        let dl = i.records.iter().filter(|r| r.bits.contains(Bits::DELALLOC));
        let ordered_count: u64 = i.ordered.iter().map(|o| count(o.len)).sum();
        let ordered_len: u64 = i.ordered.iter().map(|o| o.len).sum();
        let rec_count: u64 = dl.clone().map(|r| count(r.len())).sum();
        check(i.outstanding_extents == rec_count + ordered_count, &format!("inode {n} outstanding (8.3)"))?;
        check(i.csum_bytes == i.delalloc_bytes + ordered_len, &format!("inode {n} csum_bytes (8.3)"))?;
        let new_delalloc: u64 =
            i.records.iter().filter(|r| r.bits.contains(Bits::DELALLOC_NEW)).map(|r| r.len()).sum();
        check(i.new_delalloc_bytes == new_delalloc, &format!("inode {n} new_delalloc_bytes (8.3)"))?;
        check(i.records.iter().all(|r| !r.bits.contains(Bits::LOCKED)), "no LOCKED record (8.1)")?;
        for w in i.records.windows(2) {
            let mergeable = w[0].end + 1 == w[1].start && w[0].bits == w[1].bits;
            check(w[0].end < w[1].start && !mergeable, &format!("inode {n} canonical (8.1)"))?;
        }
        for w in i.ordered.windows(2) {
            check(w[0].start + w[0].len <= w[1].start, &format!("inode {n} ordered disjoint (8.3)"))?;
        }
        data_may_use += dl.filter(|r| !r.bits.contains(Bits::NORESERVE)).map(|r| r.len()).sum::<u64>();
        data_reserved +=
            i.ordered.iter().filter(|o| o.kind != OrderedKind::Nocow).map(|o| o.len).sum::<u64>();
        delalloc_size += g.trans_metadata_size(
            i.reserved_extents.unwrap()
                + u64::from(i.delalloc_meta_reserved.unwrap())
                + g.csum_leaves(i.csum_bytes),
        );
    }
    check(s.data.bytes_may_use == data_may_use, "data may_use (8.4)")?;
    check(s.data.bytes_reserved == data_reserved, "data bytes_reserved (8.4)")?;
    if s.mounted {
        let meta = s.delalloc_rsv.unwrap().reserved + s.delayed_rsv.reserved + s.global_rsv.reserved;
        check(s.meta.bytes_may_use == meta, "meta may_use (8.5)")?;
        check(s.delalloc_rsv.unwrap().size == delalloc_size, "delalloc rsv size (8.5)")?;
        check(
            s.delalloc_rsv.unwrap().reserved <= s.delalloc_rsv.unwrap().size,
            "delalloc rsv reserved <= size (8.5)",
        )?;
    }
    check(s.warnings.evict_leaks == 0 && s.warnings.unmount_leaks == 0, "no leaks (8.6)")
}

/// Everything an inode held is given back (records without DELALLOC may stay).
fn assert_inode_released(s: &Snapshot, ino: usize) {
    let i = &s.inodes[ino];
    assert!(i.ordered.is_empty(), "{i:?}");
    assert!(i.records.iter().all(|r| !r.bits.contains(Bits::DELALLOC)), "{i:?}");
    assert_eq!((i.outstanding_extents, i.reserved_extents.unwrap(), i.csum_bytes), (0, 0, 0));
    assert_eq!((i.delalloc_bytes, i.defrag_bytes, i.delalloc_meta_reserved.unwrap()), (0, 0, false));
}

/// 4.4 extent-tree.c btrfs_csum_bytes_to_leaves: (BTRFS_LEAF_DATA_SIZE - sizeof(struct
/// btrfs_item)) / csum_size checksums a leaf, that is (nodesize - 101 - 25) / 4 with crc32c, and
/// leaves = ceil(sectors / that). Worked by hand: 4K nodes (4096 - 126) / 4 = 992, 16K nodes
/// 16258 / 4 = 4064 (16258 = 4 * 4064 + 2), 64K nodes 65410 / 4 = 16352 (+ 2).
#[test]
fn checksum_leaves_follow_4_4s_btrfs_csum_bytes_to_leaves() {
    for (nodesize, per_leaf) in [(4096, 992), (16384, 4064), (65536, 16352)] {
        for era in [Era::B, Era::V6] {
            let g = Geometry { nodesize, era, ..Geometry::default() };
            assert_eq!(g.csums_per_leaf(), per_leaf, "nodesize {nodesize}");
            let sector = g.sectorsize;
            assert_eq!(g.csum_leaves(0), 0);
            assert_eq!(g.csum_leaves(sector), 1);
            assert_eq!(g.csum_leaves(per_leaf * sector), 1);
            assert_eq!(g.csum_leaves((per_leaf + 1) * sector), 2);
            assert_eq!(g.csum_leaves(2 * per_leaf * sector), 2);
            assert_eq!(g.csum_leaves((2 * per_leaf + 1) * sector), 3);
        }
    }
}

/// 4.4 btrfs_delalloc_reserve_metadata, step by step, across a checksum-leaf boundary: with
/// 512-byte sectors and 4K nodes a leaf holds 992 checksums and T = trans(1) = 4096 * 8 * 2 =
/// 64K. Each write is under one write chunk (2M), so it is one reservation.
#[test]
fn reserve_metadata_charges_a_checksum_leaf_when_csum_bytes_cross_one() {
    const L: u64 = 992;
    const T4: u64 = 64 << 10;
    let g = Geometry { sectorsize: 512, nodesize: 4096, ..Geometry::default() };
    assert_eq!(g.trans_metadata_size(1), T4);
    let mut m = Reference::new(&g);
    let rsv = |m: &Reference| {
        let s = m.snapshot();
        let i = &s.inodes[0];
        let r = s.delalloc_rsv.unwrap();
        assert_eq!(r.size, r.reserved);
        (i.outstanding_extents, i.reserved_extents.unwrap(), i.csum_bytes, r.reserved)
    };
    // 1. L sectors: outstanding 0 -> count(L * 512) = 1, which exceeds reserved_extents (0) by
    //    1, plus 1 for the inode item (META_RESERVED was clear): trans(2); csum_bytes 0 -> L
    //    sectors, leaves 0 -> 1: trans(1). 3T.
    assert_eq!(run1(&mut m, &g, write(0, 0, L * 512)), Outcome::Written { bytes: L * 512 });
    assert_eq!(rsv(&m), (1, 1, L * 512, 3 * T4));
    // 2. One sector past a gap (a record of its own): outstanding 2 > reserved 1 by 1,
    //    META_RESERVED set: trans(1); csum L -> L + 1 sectors, leaves 1 -> 2: trans(1). 5T.
    assert_eq!(run1(&mut m, &g, write(0, (L + 8) * 512, 512)), Outcome::Written { bytes: 512 });
    assert_eq!(rsv(&m), (2, 2, (L + 1) * 512, 5 * T4));
    // 3. Another: trans(1) for the extent, the leaves stay 2. 6T.
    assert_eq!(run1(&mut m, &g, write(0, (L + 16) * 512, 512)), Outcome::Written { bytes: 512 });
    assert_eq!(rsv(&m), (3, 3, (L + 2) * 512, 6 * T4));
}

/// 4.4 btrfs_cont_expand before a write that starts past EOF or a truncate that grows the file:
/// when the old EOF is inside a sector, btrfs_truncate_page reserves that sector and dirties it
/// again. Default geometry, T = trans(1) = 256K.
#[test]
fn growing_past_an_unaligned_eof_dirties_the_eof_sector_again() {
    let g = Geometry::default();
    let mut m = Reference::new(&g);
    let rsv = |m: &Reference| {
        let s = m.snapshot();
        let i = &s.inodes[0];
        let r = s.delalloc_rsv.unwrap();
        (
            i.records.clone(),
            i.outstanding_extents,
            i.reserved_extents.unwrap(),
            i.csum_bytes,
            r.reserved,
            s.data.bytes_may_use,
        )
    };
    // 100 bytes, written back and finished: nothing reserved, [0, 4K) is UPTODATE only.
    run(&mut m, &g, &[write(0, 0, 100), writeback(0, 0, 4096), finish(0)]);
    assert_eq!(rsv(&m), (vec![rec(0, 4095, Bits::UPTODATE)], 0, 0, 0, 0, 0));
    // A write at 8K: first the EOF sector [0, 4K) is reserved (outstanding 1, 1 extent + the
    // inode item: trans(2); csum leaves 0 -> 1: trans(1); 4K data) and dirtied again; then the
    // write's own chunk (outstanding 2 > reserved 1: trans(1); the csum bytes stay in one leaf;
    // 4K data). 4T of metadata, 8K of data, two DELALLOC|UPTODATE records.
    assert_eq!(run1(&mut m, &g, write(0, 8192, 4096)), Outcome::Written { bytes: 4096 });
    assert_eq!(rsv(&m), (vec![rec(0, 4095, DU), rec(8192, 12287, DU)], 2, 2, 8192, 4 * T, 8192));
    // A truncate up from an aligned EOF (12288) has no partial sector to dirty.
    assert_eq!(run1(&mut m, &g, Op::Truncate { ino: 0, size: 20480 }), Outcome::Done);
    assert_eq!(rsv(&m).4, 4 * T);
    // Down to 13000, then up to 20K: the sector [12K, 16K) holding EOF 13000 is reserved
    // (outstanding 3 > reserved 2: trans(1); no new csum leaf; 4K data) and dirtied again; its
    // record merges with [8K, 12K) (the merge hook drops the extra extent: outstanding 2).
    assert_eq!(run1(&mut m, &g, Op::Truncate { ino: 0, size: 13000 }), Outcome::Done);
    assert_eq!(run1(&mut m, &g, Op::Truncate { ino: 0, size: 20480 }), Outcome::Done);
    let (records, outstanding, reserved, csum, meta, data) = rsv(&m);
    assert_eq!(records, [rec(0, 4095, DU), rec(8192, 16383, DU)]);
    assert_eq!((outstanding, reserved, csum, meta, data), (2, 3, 3 * 4096, 5 * T, 12288));
    // Growing within the EOF sector truncates it all the same: btrfs_cont_expand calls
    // btrfs_truncate_page (inode.c:4799) before it returns for `size <= hole_start`. Down to
    // 20000 (nothing past it to drop or write back), then up to 20400: the sector [16K, 20K) is
    // reserved (4K data; outstanding 3 = reserved 3 with META_RESERVED set: no item to add;
    // csum 12K -> 16K within one leaf: nothing) and dirtied; it merges with [8K, 16K).
    assert_eq!(run1(&mut m, &g, Op::Truncate { ino: 0, size: 20000 }), Outcome::Done);
    assert_eq!(run1(&mut m, &g, Op::Truncate { ino: 0, size: 20400 }), Outcome::Done);
    let (records, outstanding, reserved, csum, meta, data) = rsv(&m);
    assert_eq!(records, [rec(0, 4095, DU), rec(8192, 20479, DU)]);
    assert_eq!((outstanding, reserved, csum, meta, data), (2, 3, 4 * 4096, 5 * T, 16384));
}

/// 6.12 btrfs_write_check and btrfs_setsize reach btrfs_cont_expand → btrfs_truncate_block
/// (inode.c:4922 → :4708) as 4.4 does, with era C's reservation: data for the block, then
/// btrfs_delalloc_reserve_metadata(S, S), then release_extents(S) after the dirtying. Unlike
/// 4.4, a write counts as past EOF when pos > i_size (file.c:1163), not when its first sector
/// starts past it. Default geometry: insert(n) = T·n, meta(1) = T/2.
#[test]
fn era_c_growing_past_an_unaligned_eof_truncates_the_eof_block() {
    let g = Geometry { era: Era::V6, ..Geometry::default() };
    let mut m = Reference::new(&g);
    let state = |m: &Reference| {
        let s = m.snapshot();
        let i = &s.inodes[0];
        let r = i.block_rsv.unwrap();
        (i.records.clone(), i.outstanding_extents, i.csum_bytes, r.size, r.reserved, s.data.bytes_may_use)
    };
    // The era-B balances of `run` do not hold in era C: apply the ops directly.
    for op in [write(0, 0, 100), writeback(0, 0, 4096), finish(0)] {
        m.apply(&op);
    }
    assert_eq!(state(&m), (vec![], 0, 0, 0, 0, 0));
    // A write at 200, inside the EOF sector but past i_size = 100: the block [0, 4K) is
    // truncated first (its own 4K reservation, released down to size(inode) = insert(1) +
    // meta(1) + insert(1 csum leaf) = 2.5T), then the write reserves the same block again and
    // its clear gives the truncate's back: one record, one extent, 4K of csum and data.
    assert_eq!(m.apply(&write(0, 200, 100)), Outcome::Written { bytes: 100 });
    let d = Bits::DELALLOC;
    assert_eq!(state(&m), (vec![rec(0, 4095, d)], 1, 4096, 5 * T / 2, 5 * T / 2, 4096));
    // Truncate up from 300 to 400: the block is truncated again (reserve, clear the write's
    // delalloc and its reservation, set again): the same state.
    let before = state(&m);
    assert_eq!(m.apply(&Op::Truncate { ino: 0, size: 400 }), Outcome::Done);
    assert_eq!(state(&m), before);
    assert_eq!(m.snapshot().inodes[0].i_size, 400);
    // With no data space the truncate up answers ENOSPC and leaves i_size alone.
    m.apply(&Op::SetFreeSpace { data: 0, meta: 1 << 30 });
    assert_eq!(m.apply(&Op::Truncate { ino: 0, size: 500 }), Outcome::Enospc);
    assert_eq!(m.snapshot().inodes[0].i_size, 400);
}

#[test]
fn buffered_write_of_one_page() {
    let g = Geometry::default();
    let mut m = Reference::new(&g);
    let s = m.snapshot();
    assert_eq!((s.global_rsv.size, s.global_rsv.reserved, s.meta.bytes_may_use), (GLOBAL, GLOBAL, GLOBAL));
    assert_eq!(run1(&mut m, &g, write(0, 0, 4096)), Outcome::Written { bytes: 4096 });
    let s = m.snapshot();
    let i = &s.inodes[0];
    assert_eq!(i.records, [rec(0, 4095, DU)]);
    assert_eq!((i.i_size, i.outstanding_extents, i.reserved_extents.unwrap()), (4096, 1, 1));
    assert_eq!((i.csum_bytes, i.delalloc_bytes), (4096, 4096));
    assert!(i.delalloc_meta_reserved.unwrap());
    // trans(1 extent + 1 inode item) + trans(1 csum leaf).
    assert_eq!((s.delalloc_rsv.unwrap().size, s.delalloc_rsv.unwrap().reserved), (3 * T, 3 * T));
    assert_eq!(s.data.bytes_may_use, 4096);
    assert_eq!(s.meta.bytes_may_use, GLOBAL + 3 * T);
    assert_eq!(s.fs_delalloc_bytes, 4096);
}

#[test]
fn short_copy_releases_the_tail() {
    let g = Geometry::default();
    let mut m = Reference::new(&g);
    assert_eq!(run1(&mut m, &g, short_write(0, 0, 8192, 100)), Outcome::Written { bytes: 100 });
    let s = m.snapshot();
    let i = &s.inodes[0];
    assert_eq!(i.records, [rec(0, 4095, DU)]);
    assert_eq!(
        (i.i_size, i.outstanding_extents, i.reserved_extents.unwrap(), i.csum_bytes),
        (100, 1, 1, 4096)
    );
    // The tail's csum bytes shared the leaf: nothing of the metadata came back.
    assert_eq!((s.delalloc_rsv.unwrap().size, s.delalloc_rsv.unwrap().reserved), (3 * T, 3 * T));
    assert_eq!(s.data.bytes_may_use, 4096);
}

#[test]
fn nothing_copied_is_a_fault_and_frees_everything() {
    let g = Geometry::default();
    let mut m = Reference::new(&g);
    assert_eq!(run1(&mut m, &g, short_write(0, 0, 8192, 0)), Outcome::Fault);
    let s = m.snapshot();
    assert_inode_released(&s, 0);
    assert_eq!(s.inodes[0].i_size, 0);
    assert_eq!((s.data.bytes_may_use, s.meta.bytes_may_use), (0, GLOBAL));
    assert_eq!(s.delalloc_rsv.unwrap(), Default::default());
}

#[test]
fn adjacent_writes_merge() {
    let g = Geometry::default();
    let mut m = Reference::new(&g);
    run(&mut m, &g, &[write(0, 0, 4096), write(0, 4096, 4096)]);
    let s = m.snapshot();
    let i = &s.inodes[0];
    assert_eq!(i.records, [rec(0, 8191, DU)]);
    // The merge hook took one extent back, the reservation kept both.
    assert_eq!((i.outstanding_extents, i.reserved_extents.unwrap(), i.csum_bytes), (1, 2, 8192));
    assert_eq!(s.delalloc_rsv.unwrap().size, 4 * T);
}

#[test]
fn writeback_and_finish_return_everything() {
    let g = Geometry::default();
    let mut m = Reference::new(&g);
    run(&mut m, &g, &[write(0, 0, 8192), writeback(0, 0, 8192)]);
    let s = m.snapshot();
    let i = &s.inodes[0];
    assert_eq!(i.records, [rec(0, 8191, Bits::UPTODATE)]);
    assert_eq!(i.ordered, [OrderedExtent { start: 0, len: 8192, kind: OrderedKind::Cow }]);
    assert_eq!((i.outstanding_extents, i.reserved_extents.unwrap(), i.csum_bytes), (1, 1, 8192));
    assert_eq!((s.data.bytes_may_use, s.data.bytes_reserved), (0, 8192));

    assert_eq!(run1(&mut m, &g, finish(0)), Outcome::Done);
    let s = m.snapshot();
    assert!(s.inodes[0].ordered.is_empty());
    assert_eq!(s.inodes[0].delayed_bytes_reserved, T);
    assert_eq!((s.data.bytes_reserved, s.data.bytes_used), (0, 8192));
    assert_eq!(s.delalloc_rsv.unwrap(), Default::default());
    assert_eq!((s.delayed_rsv.size, s.delayed_rsv.reserved), (T, T));
    assert_eq!(s.meta.bytes_may_use, GLOBAL + T);

    assert_eq!(run1(&mut m, &g, finish(0)), Outcome::NoOrderedExtent);
    run1(&mut m, &g, Op::Commit);
    let s = m.snapshot();
    assert_eq!(s.inodes[0].delayed_bytes_reserved, 0);
    assert_eq!(s.delayed_rsv, Default::default());
    assert_eq!(s.meta.bytes_may_use, GLOBAL);
}

#[test]
fn metadata_enospc_undoes_csum_and_frees_nothing() {
    // Seed 000: reserved_extents is raised only on success; the csum bytes are taken back.
    let g = Geometry::default();
    let mut m = Reference::new(&g);
    assert_eq!(run(&mut m, &g, &[fail_meta(), write(0, 0, 4096)])[1], Outcome::Enospc);
    let s = m.snapshot();
    assert_inode_released(&s, 0);
    assert_eq!((s.data.bytes_may_use, s.meta.bytes_may_use), (0, GLOBAL));
    assert_eq!(s.delalloc_rsv.unwrap(), Default::default());

    // On top of an existing reservation the failure changes nothing.
    run1(&mut m, &g, write(0, 0, 4096));
    let before = m.snapshot();
    assert_eq!(run(&mut m, &g, &[fail_meta(), write(0, 8192, 4096)])[1], Outcome::Enospc);
    assert_eq!(m.snapshot(), before);
    // The fault was consumed.
    assert_eq!(run1(&mut m, &g, write(0, 8192, 4096)), Outcome::Written { bytes: 4096 });
}

/// 4.4 __btrfs_buffered_write (file.c:1529-1545) asks check_can_nocow before it reserves data: a
/// chunk the extent takes in place reserves metadata only, whether or not data space is free
/// (6.x asks only after the data reservation failed, §6.1).
#[test]
fn a_nocow_write_reserves_metadata_only() {
    let g = Geometry::default();
    let mut m = Reference::new(&g);
    let nocow = |pos| Op::BufferedWrite { ino: 0, pos, len: 4096, copied: 4096, nocow: true };
    assert_eq!(run1(&mut m, &g, nocow(8192)), Outcome::Written { bytes: 4096 });
    let s = m.snapshot();
    assert_eq!(s.inodes[0].records, [rec(8192, 12287, DU | Bits::NORESERVE)]);
    assert_eq!(s.data.bytes_may_use, 0);
    // Three trans units as for any 4K write: the extent, the inode item, one csum leaf.
    assert_eq!(s.delalloc_rsv.unwrap().reserved, 3 * T);
    run(&mut m, &g, &[Op::Truncate { ino: 0, size: 0 }]);
    run1(&mut m, &g, Op::SetFreeSpace { data: 0, meta: 1 << 30 });
    assert_eq!(run1(&mut m, &g, write(0, 0, 4096)), Outcome::Enospc);
    assert_eq!(run1(&mut m, &g, nocow(0)), Outcome::Written { bytes: 4096 });
    let s = m.snapshot();
    assert_eq!(s.inodes[0].records, [rec(0, 4095, DU | Bits::NORESERVE)]);
    assert_eq!(s.data.bytes_may_use, 0);
    run(&mut m, &g, &[writeback(0, 0, 4096)]);
    let s = m.snapshot();
    assert_eq!(s.inodes[0].ordered[0].kind, OrderedKind::Nocow);
    run(&mut m, &g, &[finish(0)]);
    let s = m.snapshot();
    assert_eq!((s.data.bytes_reserved, s.data.bytes_used), (0, 0));
    assert_inode_released(&s, 0);
}

/// Two separate pages written back: two ordered extents; the first finish takes the
/// META_RESERVED path, then a commit empties the delayed node.
fn two_ordered_extents_after_meta_path(m: &mut Reference, g: &Geometry) {
    run(m, g, &[write(0, 0, 4096), write(0, 8192, 4096), writeback(0, 0, 12288)]);
    assert_eq!(m.snapshot().delalloc_rsv.unwrap().size, 4 * T);
    run1(m, g, finish(0));
    let s = m.snapshot();
    assert!(!s.inodes[0].delalloc_meta_reserved.unwrap());
    assert_eq!(s.inodes[0].delayed_bytes_reserved, T);
    // The inode item went to the delayed node, one extent item came back.
    assert_eq!((s.delalloc_rsv.unwrap().size, s.delalloc_rsv.unwrap().reserved), (2 * T, 2 * T));
    assert_eq!(s.meta.bytes_may_use, GLOBAL + 3 * T);
    run1(m, g, Op::Commit);
}

#[test]
fn inode_update_fresh_reservation() {
    let g = Geometry::default();
    let mut m = Reference::new(&g);
    two_ordered_extents_after_meta_path(&mut m, &g);
    run1(&mut m, &g, finish(0));
    let s = m.snapshot();
    assert_eq!(s.inodes[0].delayed_bytes_reserved, T);
    assert_eq!(s.delalloc_rsv.unwrap(), Default::default());
    assert_eq!((s.delayed_rsv.size, s.delayed_rsv.reserved), (T, T));
    assert_eq!(s.meta.bytes_may_use, GLOBAL + T);
    assert_eq!(s.warnings, Default::default());
}

#[test]
fn inode_update_migrates_from_delalloc() {
    let g = Geometry::default();
    let mut m = Reference::new(&g);
    two_ordered_extents_after_meta_path(&mut m, &g);
    run(&mut m, &g, &[fail_meta(), finish(0)]);
    let s = m.snapshot();
    assert_eq!(s.inodes[0].delayed_bytes_reserved, T);
    assert_eq!(s.delalloc_rsv.unwrap(), Default::default());
    assert_eq!((s.delayed_rsv.size, s.delayed_rsv.reserved), (T, T));
    assert_eq!(s.meta.bytes_may_use, GLOBAL + T);
    assert_eq!(s.warnings, Default::default());
}

/// One 16K write split by writeback into four ordered extents that share one reserved extent;
/// fresh reservations fail, so each update migrates from the delalloc reserve until it is empty.
fn steal_until_global(global_rsv: u64) -> (Snapshot, Geometry) {
    let g = Geometry { global_rsv, ..Geometry::default() };
    let mut m = Reference::new(&g);
    let wbs: Vec<Op> = (0..4).map(|p| writeback(0, p * 4096, 4096)).collect();
    run(&mut m, &g, &[write(0, 0, 16384)]);
    run(&mut m, &g, &wbs);
    let s = m.snapshot();
    assert_eq!((s.inodes[0].outstanding_extents, s.inodes[0].reserved_extents.unwrap()), (4, 1));
    run(&mut m, &g, &[finish(0), Op::Commit]); // META_RESERVED path
    assert_eq!(m.snapshot().delalloc_rsv.unwrap().reserved, 2 * T);
    run(&mut m, &g, &[fail_meta(), finish(0), Op::Commit, fail_meta(), finish(0), Op::Commit]);
    let s = m.snapshot();
    assert_eq!((s.delalloc_rsv.unwrap().size, s.delalloc_rsv.unwrap().reserved), (2 * T, 0));
    assert_eq!(s.warnings, Default::default());
    run(&mut m, &g, &[fail_meta(), finish(0)]);
    let s = m.snapshot();
    assert_inode_released(&s, 0);
    assert_eq!(s.delalloc_rsv.unwrap(), Default::default());
    (s, g)
}

#[test]
fn inode_update_steals_from_the_global_reserve() {
    let (s, _) = steal_until_global(GLOBAL);
    assert_eq!((s.warnings.global_rsv_steals, s.warnings.unreserved_inode_updates), (1, 0));
    assert_eq!(s.inodes[0].delayed_bytes_reserved, T);
    assert_eq!((s.global_rsv.size, s.global_rsv.reserved), (GLOBAL, GLOBAL - T));
    assert_eq!(s.meta.bytes_may_use, GLOBAL);
}

#[test]
fn inode_update_goes_unreserved_without_a_global_reserve() {
    let (s, _) = steal_until_global(0);
    assert_eq!((s.warnings.global_rsv_steals, s.warnings.unreserved_inode_updates), (1, 1));
    assert_eq!(s.inodes[0].delayed_bytes_reserved, 0);
    assert_eq!(s.delayed_rsv, Default::default());
    assert_eq!(s.meta.bytes_may_use, 0);
}

/// 4.4 btrfs_delayed_inode_reserve_metadata (delayed-inode.c:637-672): with META_RESERVED set
/// the inode item's bytes are migrated from the delalloc reserve, and a failed migrate goes
/// to `out:` with nothing reserved: no step to the global reserve (that is only the path
/// without META_RESERVED, :658-668), and btrfs_update_inode_fallback updates the item in place.
/// A 4K write reserves trans(1 extent) + trans(1 inode item) + trans(1 csum leaf) = 3T; the
/// drain empties the reserve before the finish.
#[test]
fn a_dry_delalloc_reserve_leaves_the_meta_reserved_update_unreserved() {
    let g = Geometry::default();
    let mut m = Reference::new(&g);
    run(&mut m, &g, &[write(0, 0, 4096), writeback(0, 0, 4096), Op::DrainDelallocRsv]);
    let s = m.snapshot();
    assert_eq!((s.delalloc_rsv.unwrap().size, s.delalloc_rsv.unwrap().reserved), (3 * T, 0));
    assert!(s.inodes[0].delalloc_meta_reserved.unwrap());
    assert_eq!(s.meta.bytes_may_use, GLOBAL);
    run1(&mut m, &g, finish(0));
    let s = m.snapshot();
    // META_RESERVED cleared, migrate failed: unreserved, no steal, the global reserve whole.
    assert!(!s.inodes[0].delalloc_meta_reserved.unwrap());
    assert_eq!((s.warnings.global_rsv_steals, s.warnings.unreserved_inode_updates), (0, 1));
    assert_eq!(s.inodes[0].delayed_bytes_reserved, 0);
    assert_eq!(s.delayed_rsv, Default::default());
    assert_eq!((s.global_rsv.size, s.global_rsv.reserved), (GLOBAL, GLOBAL));
    // The item's release (T), then release_metadata(4K): one extent (T) and one csum leaf (T).
    assert_eq!(s.delalloc_rsv.unwrap(), Default::default());
    assert_eq!(s.meta.bytes_may_use, GLOBAL);
    assert_inode_released(&s, 0);
}

/// 4.4 __btrfs_direct_write → generic_file_direct_write flushes the range
/// (filemap_write_and_wait_range) before btrfs_direct_IO reserves (inode.c:8490): an O_DIRECT
/// write refused for metadata space has still written back the buffered data under it.
#[test]
fn an_o_direct_write_flushes_its_range_before_it_reserves() {
    let g = Geometry::default();
    let mut m = Reference::new(&g);
    run(&mut m, &g, &[write(0, 0, 4096), fail_meta()]);
    assert_eq!(run1(&mut m, &g, dio(0, 0, 4096, false)), Outcome::Enospc);
    let s = m.snapshot();
    // The 4K of delalloc became a COW ordered extent: its data moved from may_use to reserved.
    assert_eq!(s.inodes[0].records, [rec(0, 4095, Bits::UPTODATE)]);
    let oes: Vec<(u64, u64)> = s.inodes[0].ordered.iter().map(|o| (o.start, o.len)).collect();
    assert_eq!(oes, [(0, 4096)]);
    assert_eq!((s.data.bytes_may_use, s.data.bytes_reserved), (0, 4096));
    // The refused write's own data reservation (4K) went back; the write's 3T stay with the
    // ordered extent.
    assert_eq!(s.delalloc_rsv.unwrap().reserved, 3 * T);
    assert_eq!(s.inodes[0].outstanding_extents, 1);
}

#[test]
fn direct_write_leaves_no_records() {
    // Seed 004: DELALLOC only, cleared by get_blocks_direct; the ordered extent keeps the
    // reservation.
    let g = Geometry::default();
    let mut m = Reference::new(&g);
    assert_eq!(run1(&mut m, &g, dio(0, 0, 8192, false)), Outcome::Written { bytes: 8192 });
    let s = m.snapshot();
    let i = &s.inodes[0];
    assert!(i.records.is_empty());
    assert_eq!(i.ordered, [OrderedExtent { start: 0, len: 8192, kind: OrderedKind::Direct }]);
    assert_eq!(
        (i.i_size, i.outstanding_extents, i.reserved_extents.unwrap(), i.csum_bytes),
        (8192, 1, 1, 8192)
    );
    assert_eq!((s.data.bytes_may_use, s.data.bytes_reserved), (0, 8192));
    run1(&mut m, &g, finish(0));
    let s = m.snapshot();
    assert_inode_released(&s, 0);
    assert_eq!(s.data.bytes_used, 8192);
}

#[test]
fn direct_write_fallback_is_a_buffered_write() {
    let g = Geometry::default();
    let mut m = Reference::new(&g);
    assert_eq!(run1(&mut m, &g, dio(0, 0, 8192, true)), Outcome::Written { bytes: 8192 });
    let mut plain = Reference::new(&g);
    run1(&mut plain, &g, write(0, 0, 8192));
    assert_eq!(m.snapshot(), plain.snapshot());
    assert_eq!(m.snapshot().inodes[0].records, [rec(0, 8191, DU)]);
}

/// 4.4's hooks with max_extent = 64K worked by hand: btrfs_merge_extent_hook (inode.c:1593)
/// takes one extent off when the merged record still fits the extents of its parts less one
/// (:1610-1648), btrfs_split_extent_hook (:1553) adds one unless the parts fit in the whole's
/// count (:1563-1584); the set hook's first record of a call is the reservation's (§4
/// hand-off), so one write of n bytes counts count(n).
#[test]
fn records_over_max_extent_count_their_extents() {
    let g = Geometry { max_extent: 64 * K, write_chunk: 64 * K, ..Geometry::default() };
    let outstanding = |ops: &[Op]| {
        let mut m = Reference::new(&g);
        run(&mut m, &g, ops);
        let s = m.snapshot();
        (s.inodes[0].outstanding_extents, s.inodes[0].reserved_extents.unwrap())
    };
    // count(a) + count(b) - count(a + b): 1 + 1 - 1, 1 + 1 - 2, 1 + 1 - 2.
    assert_eq!(outstanding(&[write(0, 0, 32 * K), write(0, 32 * K, 32 * K)]), (1, 2));
    assert_eq!(outstanding(&[write(0, 0, 64 * K), write(0, 64 * K, 4 * K)]), (2, 2));
    assert_eq!(outstanding(&[write(0, 0, 64 * K), write(0, 64 * K, 64 * K)]), (2, 2));
    // Splitting [0, 128K) at 4K: count(4K) + count(124K) - count(128K) = 1 more extent.
    let both = [write(0, 0, 64 * K), write(0, 64 * K, 64 * K)];
    assert_eq!(outstanding(&[&both[..], &[writeback(0, 0, 4 * K)]].concat()), (3, 2));
    // Writeback cuts at max_extent: two ordered extents of 64K.
    let mut m = Reference::new(&g);
    run(&mut m, &g, &[&both[..], &[writeback(0, 0, 128 * K)]].concat());
    let s = m.snapshot();
    let starts: Vec<(u64, u64)> = s.inodes[0].ordered.iter().map(|o| (o.start, o.len)).collect();
    assert_eq!(starts, [(0, 64 * K), (64 * K, 64 * K)]);
    assert_eq!(s.inodes[0].outstanding_extents, 2);

    // The stand-alone tree's hooks follow the same counts.
    let mut m = Reference::new(&g);
    run(
        &mut m,
        &g,
        &[Op::SetDelalloc { start: 0, end: 64 * K - 1 }, Op::SetDelalloc { start: 64 * K, end: 128 * K - 1 }],
    );
    assert_eq!(m.snapshot().tree.outstanding_extents, 2);
    let clear = Op::ClearBits {
        start: 32 * K,
        end: 36 * K - 1,
        bits: Bits::DELALLOC,
        wake: false,
        delete: false,
        cached: false,
    };
    run1(&mut m, &g, clear);
    let t = m.snapshot().tree;
    let du = Bits::DELALLOC | Bits::UPTODATE;
    assert_eq!(
        t.records,
        [rec(0, 32 * K - 1, du), rec(32 * K, 36 * K - 1, Bits::UPTODATE), rec(36 * K, 128 * K - 1, du)]
    );
    assert_eq!((t.outstanding_extents, t.delalloc_bytes), (1 + 2, 124 * K));
}

#[test]
fn truncate_and_evict_bring_everything_back() {
    let g = Geometry::default();
    let mut m = Reference::new(&g);
    run(&mut m, &g, &[write(0, 0, 12288), writeback(0, 0, 4096), Op::Truncate { ino: 0, size: 0 }]);
    let s = m.snapshot();
    assert_inode_released(&s, 0);
    assert_eq!(s.inodes[0].i_size, 0);
    assert_eq!((s.data.bytes_may_use, s.data.bytes_reserved, s.data.bytes_used), (0, 0, 4096));
    assert_eq!(s.delalloc_rsv.unwrap(), Default::default());
    run(&mut m, &g, &[Op::Commit, Op::Evict { ino: 0 }]);
    let s = m.snapshot();
    assert_eq!(s.meta.bytes_may_use, GLOBAL);
    assert_eq!(s.warnings, Default::default());

    // A partial truncate drops the sectors past the new EOF's (the invalidated pages) and keeps
    // the partial one, which btrfs_truncate then writes back and waits for
    // (btrfs_wait_ordered_range from round_down(5000) = 4K; 4.4 inode.c:8885): the record is cut
    // at 4K, [4K, 8K) becomes an ordered extent and finishes. Evict drops the rest.
    run(&mut m, &g, &[write(1, 0, 12288), Op::Truncate { ino: 1, size: 5000 }]);
    let s = m.snapshot();
    let i = &s.inodes[1];
    assert_eq!(i.records, [rec(0, 4095, DU), rec(4096, 8191, Bits::UPTODATE)]);
    assert!(i.ordered.is_empty());
    // One extent left for [0, 4K): the split at 8K and at 4K each added one, the clear of
    // [8K, 12K) and the finish of [4K, 8K) each took one; no extent item dropped below the
    // one reserved, no checksum leaf crossed (12K, 8K and 4K all fit one leaf).
    assert_eq!(
        (i.i_size, i.outstanding_extents, i.reserved_extents.unwrap(), i.csum_bytes),
        (5000, 1, 1, 4096)
    );
    assert_eq!((s.data.bytes_may_use, s.data.bytes_used), (4096, 8192));
    // The finish took the inode item's T from the delalloc reserve (3T) to the delayed node.
    assert_eq!(i.delayed_bytes_reserved, T);
    assert_eq!((s.delalloc_rsv.unwrap().size, s.delalloc_rsv.unwrap().reserved), (2 * T, 2 * T));
    run1(&mut m, &g, Op::Evict { ino: 1 });
    let s = m.snapshot();
    assert_inode_released(&s, 1);
    assert_eq!(s.inodes[1].i_size, 5000);
    // The delayed node keeps its T until a commit.
    assert_eq!((s.data.bytes_may_use, s.meta.bytes_may_use), (0, GLOBAL + T));
    assert_eq!(s.warnings, Default::default());
}

#[test]
fn unmount_releases_everything_and_ends_the_program() {
    let g = Geometry::default();
    let mut m = Reference::new(&g);
    let ops = [
        write(0, 0, 10000),
        dio(1, 0, 8192, false),
        write(1, 8192, 100),
        Op::Defrag { ino: 0, start: 0, len: 4096 },
        Op::PageMkwrite { ino: 1, pos: 0 },
        Op::Unmount,
    ];
    let outs = run(&mut m, &g, &ops);
    assert_eq!(outs[5], Outcome::Done);
    // Used: the direct 8K, then at unmount 12K of inode 0 and two separate pages of inode 1.
    let s = m.snapshot();
    assert!(!s.mounted);
    assert_eq!(s.warnings, Default::default());
    assert_inode_released(&s, 0);
    assert_inode_released(&s, 1);
    assert_eq!((s.data.bytes_may_use, s.data.bytes_reserved, s.data.bytes_used), (0, 0, 28672));
    assert_eq!((s.meta.bytes_may_use, s.meta.bytes_reserved), (0, 0));
    for r in [s.delalloc_rsv.unwrap(), s.delayed_rsv, s.global_rsv] {
        assert_eq!(r, Default::default());
    }
    assert_eq!(m.apply(&write(0, 0, 4096)), Outcome::Unmounted);
    assert_eq!(m.apply(&set_bits(0, 1, Bits::DIRTY, Bits::NONE)), Outcome::Unmounted);
    assert_eq!(m.apply(&Op::Commit), Outcome::Unmounted);
    assert_eq!(m.snapshot(), s);
}

#[test]
fn set_with_exclusive_conflict_sets_the_prefix() {
    let g = Geometry::default();
    let mut m = Reference::new(&g);
    let locked = |s, e| set_bits(s, e, Bits::LOCKED, Bits::LOCKED);
    assert_eq!(run1(&mut m, &g, locked(8192, 12287)), Outcome::Done);
    let dl = Bits::NEW | Bits::LOCKED;
    assert_eq!(
        run1(&mut m, &g, set_bits(0, 16383, dl, Bits::LOCKED)),
        Outcome::Exists { failed_start: 8192 }
    );
    assert_eq!(m.snapshot().tree.records, [rec(0, 8191, dl), rec(8192, 12287, Bits::LOCKED)]);
    // A conflicting record straddling start: nothing set, nothing split.
    assert_eq!(
        run1(&mut m, &g, set_bits(4096, 16383, dl, Bits::LOCKED)),
        Outcome::Exists { failed_start: 4096 }
    );
    assert_eq!(m.snapshot().tree.records, [rec(0, 8191, dl), rec(8192, 12287, Bits::LOCKED)]);
}

#[test]
fn lock_conflict_undoes_the_partial_lock() {
    let g = Geometry::default();
    let mut m = Reference::new(&g);
    run(&mut m, &g, &[set_bits(0, 12287, Bits::DIRTY, Bits::NONE), Op::Lock { start: 8192, end: 12287 }]);
    let held = [rec(0, 8191, Bits::DIRTY), rec(8192, 12287, Bits::DIRTY | Bits::LOCKED)];
    assert_eq!(m.snapshot().tree.records, held);
    assert_eq!(
        run1(&mut m, &g, Op::Lock { start: 0, end: 16383 }),
        Outcome::WouldBlock { failed_start: 8192 }
    );
    assert_eq!(m.snapshot().tree.records, held);
    assert_eq!(run1(&mut m, &g, Op::TryLock { start: 4096, end: 9000 }), Outcome::Busy);
    assert_eq!(m.snapshot().tree.records, held);
    run1(&mut m, &g, Op::Unlock { start: 8192, end: 12287 });
    assert_eq!(m.snapshot().tree.records, [rec(0, 12287, Bits::DIRTY)]);
}

#[test]
fn queries_follow_the_kernel_algorithms() {
    let g = Geometry::default();
    let mut m = Reference::new(&g);
    let d = Bits::DELALLOC;
    run(&mut m, &g, &[set_bits(0, 4095, d, Bits::NONE), set_bits(8192, 12287, d, Bits::NONE)]);
    let mut q = |op| m.apply(&op);
    let test = |start, end, filled| Op::TestRangeBit { start, end, bits: d, filled };
    assert_eq!(q(test(0, 12287, true)), Outcome::Test { result: false });
    assert_eq!(q(test(0, 12287, false)), Outcome::Test { result: true });
    assert_eq!(q(test(0, 4095, true)), Outcome::Test { result: true });
    assert_eq!(q(test(0, 5000, true)), Outcome::Test { result: false });
    assert_eq!(q(test(8192, 20000, true)), Outcome::Test { result: false });
    let count = |start, end, max_bytes, contig| Op::CountRangeBits { start, end, max_bytes, bits: d, contig };
    assert_eq!(q(count(0, 12287, 1 << 20, false)), Outcome::Count { bytes: 8192, first_start: 0 });
    assert_eq!(q(count(0, 12287, 1 << 20, true)), Outcome::Count { bytes: 4096, first_start: 0 });
    assert_eq!(q(count(2048, 12287, 1 << 20, false)), Outcome::Count { bytes: 6144, first_start: 2048 });
    assert_eq!(q(count(100, 100, 1 << 20, false)), Outcome::Count { bytes: 0, first_start: 100 });
    assert_eq!(q(count(4096, 12287, 1 << 20, false)), Outcome::Count { bytes: 4096, first_start: 8192 });
    // The first match already reaches max_bytes: the start is not updated.
    assert_eq!(q(count(4096, 12287, 100, false)), Outcome::Count { bytes: 4096, first_start: 4096 });
    let first = |start| Op::FindFirstBit { start, bits: d };
    assert_eq!(q(first(5000)), Outcome::Found { found: Some((8192, 12287, d)) });
    assert_eq!(q(first(12288)), Outcome::Found { found: None });
    let find = |start| Op::FindDelalloc { start, max_bytes: 1 << 20 };
    assert_eq!(q(find(0)), Outcome::Delalloc { found: true, start: 0, end: 4095 });
    assert_eq!(q(find(5000)), Outcome::Delalloc { found: true, start: 8192, end: 12287 });
    assert_eq!(q(find(20000)), Outcome::Delalloc { found: false, start: 20000, end: u64::MAX });
    q(set_bits(4096, 8191, Bits::UPTODATE, Bits::NONE));
    assert_eq!(q(find(0)), Outcome::Delalloc { found: true, start: 0, end: 4095 });
    assert_eq!(q(find(4096)), Outcome::Delalloc { found: false, start: 4096, end: 8191 });
}

/// The kernel's test_find_first_clear_extent_bit (fs/btrfs/tests/extent-io-tests.c, 5.3, with
/// the empty-tree case of 5.6), on the reference tree. The kernel runs it on a device
/// allocation tree, whose CHUNK_ALLOCATED is DIRTY and CHUNK_TRIMMED is DEFRAG.
#[test]
fn find_first_clear_bit_kernel_self_test() {
    const ALLOCATED: Bits = Bits::DIRTY;
    const TRIMMED: Bits = Bits::DEFRAG;
    const M: u64 = 1 << 20;
    let mut t = Tree::default();
    assert_eq!(t.find_first_clear_bit(0, TRIMMED), (0, u64::MAX), "empty tree");
    // 0   1M      4M                 32M        64M     72M
    // ◌ ◌ ●-------◌ ◌ ◌ ◌ ◌ ◌ ◌ ◌ ◌ ◌ ●----------○-------◌     ● both bits, ○ ALLOCATED only
    t.set(M, 4 * M - 1, TRIMMED | ALLOCATED, Bits::NONE).unwrap();
    assert_eq!(
        t.find_first_clear_bit(M / 2, TRIMMED | ALLOCATED),
        (0, M - 1),
        "hole before the first record"
    );
    t.set(32 * M, 64 * M - 1, TRIMMED | ALLOCATED, Bits::NONE).unwrap();
    assert_eq!(
        t.find_first_clear_bit(12 * M, TRIMMED | ALLOCATED),
        (4 * M, 32 * M - 1),
        "hole between records"
    );
    assert_eq!(
        t.find_first_clear_bit(2 * M, TRIMMED | ALLOCATED),
        (4 * M, 32 * M - 1),
        "from a record with the bits"
    );
    t.set(64 * M, 72 * M - 1, ALLOCATED, Bits::NONE).unwrap();
    assert_eq!(
        t.find_first_clear_bit(65 * M, TRIMMED),
        (64 * M, 72 * M - 1),
        "inside a record without the bit"
    );
    assert_eq!(
        t.find_first_clear_bit(56 * M, TRIMMED),
        (64 * M, 72 * M - 1),
        "into the neighbour without the bit"
    );
    assert_eq!(t.find_first_clear_bit((1 << 50) - 1, TRIMMED), (72 * M, u64::MAX), "beyond every record");
    assert_eq!(
        t.find_first_clear_bit(u64::MAX, TRIMMED),
        (72 * M, u64::MAX),
        "the self-test's start, (u64)-1"
    );
}

/// SPEC §1.1 case by case: where start_ret stops going back, where end_ret stops going forward.
#[test]
fn find_first_clear_bit_cases() {
    let (d, u, f) = (Bits::DELALLOC, Bits::UPTODATE, Bits::DEFRAG);
    // 0         10        20        30        40        50
    // D---------U---------◌ ◌ ◌ ◌ ◌ D---------F---------◌
    let t = Tree::from_records(vec![rec(0, 9, d), rec(10, 19, u), rec(30, 39, d), rec(40, 49, f)]);
    assert_eq!(t.find_first_clear_bit(0, f), (0, 39), "clear records and the hole between them are crossed");
    assert_eq!(t.find_first_clear_bit(15, f), (10, 39), "the containing record's start, no further back");
    assert_eq!(t.find_first_clear_bit(25, f), (20, 39), "a hole: one past the record before it");
    assert_eq!(t.find_first_clear_bit(0, d), (10, 29), "ends before the next record with the bit");
    assert_eq!(t.find_first_clear_bit(5, d | u), (20, 29), "any of the bits: two records skipped");
    assert_eq!(t.find_first_clear_bit(31, d), (40, 49), "nothing with the bit after: the last record's end");
    assert_eq!(t.find_first_clear_bit(45, f), (50, u64::MAX), "past the last record");
    assert_eq!(t.find_first_clear_bit(1000, d), (50, u64::MAX), "start_ret below start");
    let t = Tree::from_records(vec![rec(100, 199, d)]);
    assert_eq!(t.find_first_clear_bit(0, d), (0, 99));
    assert_eq!(t.find_first_clear_bit(150, d), (200, u64::MAX));
    assert_eq!(t.find_first_clear_bit(0, u), (0, 199), "the hole and the clear record");
    assert_eq!(t.find_first_clear_bit(150, Bits::NONE), (100, 199), "no bits: every byte is clear");
}

/// DELALLOC_NEW on the stand-alone tree (SPEC §2.1): new_delalloc_bytes is the bytes of the
/// records carrying it, whatever DELALLOC does; records differing only in it do not merge.
#[test]
fn delalloc_new_counts_its_own_bytes() {
    let g = Geometry::default();
    let mut m = Reference::new(&g);
    let (d, dn, k4) = (Bits::DELALLOC, Bits::DELALLOC_NEW, 4 * K);
    let clear =
        |start, end, bits, delete| Op::ClearBits { start, end, bits, wake: true, delete, cached: false };
    let counters = |m: &Reference| {
        let t = m.snapshot().tree;
        (t.records.len(), t.new_delalloc_bytes, t.delalloc_bytes, t.outstanding_extents)
    };
    run(
        &mut m,
        &g,
        &[set_bits(0, 2 * k4 - 1, d | dn, Bits::NONE), set_bits(2 * k4, 3 * k4 - 1, d, Bits::NONE)],
    );
    assert_eq!(counters(&m), (2, 2 * k4, 3 * k4, 2), "bits differ: two records");
    run1(&mut m, &g, set_bits(2 * k4, 3 * k4 - 1, dn, Bits::NONE));
    assert_eq!(counters(&m), (1, 3 * k4, 3 * k4, 1), "equal bits: merged");
    run1(&mut m, &g, clear(0, 3 * k4 - 1, d, false));
    assert_eq!(counters(&m), (1, 3 * k4, 0, 0), "DELALLOC_NEW outlives DELALLOC");
    run1(&mut m, &g, clear(k4, 2 * k4 - 1, dn, false));
    assert_eq!(counters(&m), (2, 2 * k4, 0, 0));
    run1(&mut m, &g, clear(0, (1 << 50) - 1, Bits::NONE, true));
    assert_eq!(counters(&m), (0, 0, 0, 0));
}

#[test]
fn smoke_loop_keeps_the_balances() {
    let g = Geometry { max_extent: 64 * K, write_chunk: 32 * K, ..Geometry::default() };
    let mut m = Reference::new(&g);
    let ops = [
        write(0, 1000, 100 * K),
        short_write(1, 0, 40 * K, 9000),
        Op::Defrag { ino: 0, start: 0, len: 70 * K },
        writeback(0, 8 * K, 50 * K),
        Op::PageMkwrite { ino: 0, pos: 16 * K },
        dio(1, 64 * K, 128 * K, false),
        write(0, 60 * K, 10 * K),
        Op::BufferedWrite { ino: 1, pos: 4 * K, len: 8 * K, copied: 8 * K, nocow: true },
        Op::FailNextReservation { kind: FaultKind::Data },
        Op::BufferedWrite { ino: 1, pos: 100, len: 8 * K, copied: 5 * K, nocow: true },
        Op::FinishOrdered { ino: 1, nth: 1 },
        writeback(1, 0, 200 * K),
        fail_meta(),
        Op::FinishOrdered { ino: 1, nth: 3 },
        Op::Truncate { ino: 0, size: 30 * K + 7 },
        dio(0, 24 * K, 16 * K, true),
        Op::Commit,
        Op::SetFreeSpace { data: 1 << 20, meta: 4 * T },
        write(1, 300 * K, 64 * K),
        write(1, 364 * K, 64 * K),
        Op::Evict { ino: 1 },
        write(1, 0, 4 * K),
        Op::Unmount,
    ];
    let outs = run(&mut m, &g, &ops);
    assert!(outs.iter().all(|o| *o != Outcome::Unmounted));
    let s = m.snapshot();
    assert!(!s.mounted);
    assert_eq!((s.warnings.evict_leaks, s.warnings.unmount_leaks), (0, 0));
}
