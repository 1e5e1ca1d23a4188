//! Era C (SPEC §4.1, §5.1, §6.1, §8.1) on the optimized model, written from the SPEC: the inode
//! reservation's size and reserved after each kind of op, the short copy, ENOSPC, the stale
//! size after an unlock merge, and evict.

mod common;

use delalloc_contract::text::parse_program;
use delalloc_contract::{Bits, BlockRsv, Geometry, Model, Outcome, Snapshot};
use delalloc_optimized::Optimized;

const K: u64 = 4096;

fn geometry(extra: &str) -> Geometry {
    parse_program(&format!("geometry era=6 inodes=1 {extra}\n"))
        .unwrap()
        .geometry
}

/// Runs `ops` on an era-6 file system (`extra`: more geometry keys), checking SPEC §8 and §8.1
/// after each op; the geometry, the outcomes and the last snapshot.
fn run(extra: &str, ops: &str) -> (Geometry, Vec<Outcome>, Snapshot) {
    let p = parse_program(&format!("geometry era=6 inodes=1 {extra}\n{ops}")).unwrap();
    let mut m = Optimized::new(&p.geometry);
    let outs = p
        .ops
        .iter()
        .map(|op| {
            let o = m.apply(op);
            let s = m.snapshot();
            common::check(&s, &p.geometry);
            check_c(&s);
            o
        })
        .collect();
    (p.geometry, outs, m.snapshot())
}

/// SPEC §8.1 item 5 and the era's fields.
fn check_c(s: &Snapshot) {
    assert_eq!(
        s.delalloc_rsv, None,
        "era C has no fs-wide delalloc reserve"
    );
    if !s.mounted {
        return;
    }
    let mut inode_rsvs = 0;
    for i in &s.inodes {
        assert_eq!((i.reserved_extents, i.delalloc_meta_reserved), (None, None));
        let rsv = i.block_rsv.expect("era C inode reservation");
        assert!(rsv.reserved <= rsv.size, "{rsv:?}");
        if i.outstanding_extents == 0 && i.csum_bytes == 0 {
            assert_eq!(rsv, BlockRsv::default());
        }
        inode_rsvs += rsv.reserved;
    }
    assert_eq!(
        s.meta.bytes_may_use,
        inode_rsvs + s.delayed_rsv.reserved + s.global_rsv.reserved
    );
}

/// size(inode) of SPEC §4.1.
fn size(g: &Geometry, outstanding: u64, csum: u64) -> u64 {
    let ins = |n| g.trans_metadata_size(n);
    (if outstanding > 0 {
        ins(outstanding) + g.metadata_size(1)
    } else {
        0
    }) + ins(g.csum_leaves(csum))
}

fn rsv(s: &Snapshot) -> BlockRsv {
    s.inodes[0].block_rsv.unwrap()
}

#[test]
fn a_buffered_write_then_release_extents_leaves_the_computed_size() {
    let (g, outs, s) = run("", "buffered_write ino=0 pos=0 len=8K\n");
    assert_eq!(outs, [Outcome::Written { bytes: 2 * K }]);
    let i = &s.inodes[0];
    assert_eq!(i.records.len(), 1);
    assert_eq!(i.records[0].bits, Bits::DELALLOC | Bits::DELALLOC_NEW);
    assert_eq!((i.outstanding_extents, i.csum_bytes), (1, 2 * K));
    let want = size(&g, 1, 2 * K);
    assert_eq!(
        rsv(&s),
        BlockRsv {
            size: want,
            reserved: want
        }
    );
    assert_eq!(s.data.bytes_may_use, 2 * K);
    assert_eq!(i.new_delalloc_bytes, 2 * K);
}

#[test]
fn an_overwrite_inside_i_size_sets_no_delalloc_new() {
    let (_, _, s) = run(
        "",
        "buffered_write ino=0 pos=0 len=8K\nwriteback ino=0 start=0 len=8K\nfinish_ordered ino=0 nth=0\nbuffered_write ino=0 pos=0 len=4K\n",
    );
    let i = &s.inodes[0];
    assert_eq!(i.records[0].bits, Bits::DELALLOC, "{:?}", i.records);
    assert_eq!(i.new_delalloc_bytes, 0);
}

#[test]
fn a_short_copy_keeps_only_the_dirtied_sectors() {
    let (g, outs, s) = run("", "buffered_write ino=0 pos=0 len=16K copied=5K\n");
    assert_eq!(outs, [Outcome::Written { bytes: 5 * 1024 }]);
    let i = &s.inodes[0];
    assert_eq!((i.records[0].start, i.records[0].end), (0, 2 * K - 1));
    assert_eq!(
        (i.outstanding_extents, i.csum_bytes, i.i_size),
        (1, 2 * K, 5 * 1024)
    );
    let want = size(&g, 1, 2 * K);
    assert_eq!(
        rsv(&s),
        BlockRsv {
            size: want,
            reserved: want
        }
    );
    assert_eq!(s.data.bytes_may_use, 2 * K);
}

#[test]
fn a_copy_of_nothing_faults_and_gives_everything_back() {
    let (_, outs, s) = run("", "buffered_write ino=0 pos=0 len=16K copied=0\n");
    assert_eq!(outs, [Outcome::Fault]);
    let i = &s.inodes[0];
    assert!(i.records.is_empty());
    assert_eq!(rsv(&s), BlockRsv::default());
    assert_eq!(
        (s.data.bytes_may_use, s.meta.bytes_may_use),
        (0, s.global_rsv.reserved)
    );
}

#[test]
fn enospc_leaves_nothing_changed() {
    for ops in [
        "fail_next_reservation metadata\nbuffered_write ino=0 pos=0 len=8K\n",
        "fail_next_reservation data\nbuffered_write ino=0 pos=0 len=8K\n",
        "fail_next_reservation metadata\npage_mkwrite ino=0 pos=0\n",
        "fail_next_reservation metadata\ndirect_write ino=0 pos=0 len=8K\n",
    ] {
        let (_, outs, s) = run("", ops);
        assert_eq!(outs[1], Outcome::Enospc, "{ops}");
        let i = &s.inodes[0];
        assert!(i.records.is_empty() && i.ordered.is_empty(), "{ops}");
        assert_eq!((i.outstanding_extents, i.csum_bytes), (0, 0), "{ops}");
        assert_eq!(rsv(&s), BlockRsv::default(), "{ops}");
        assert_eq!(s.data.bytes_may_use, 0, "{ops}");
        assert_eq!(s.meta.bytes_may_use, s.global_rsv.reserved, "{ops}");
    }
}

/// SPEC §8.1: writeback changes outstanding_extents (records cleared, ordered extents made)
/// and recomputes nothing; the size stays as the last release_extents left it.
#[test]
fn writeback_leaves_the_size_stale() {
    let (g, _, s) = run(
        "max_extent=4K write_chunk=4K",
        "buffered_write ino=0 pos=0 len=8K\nbuffered_write ino=0 pos=12K len=4K\nwriteback ino=0 start=0 len=16K\n",
    );
    let i = &s.inodes[0];
    assert_eq!(i.ordered.len(), 3);
    assert_eq!(i.outstanding_extents, 3);
    // Before writeback: two records of 2 and 1 extents (max_extent 4K).
    let before = size(&g, 3, 3 * K);
    assert_eq!(rsv(&s).size, before);
    assert_eq!(rsv(&s).reserved, before);
}

/// 6.12 releases the reservation's extents after the unlock, so the lock's splits and the
/// unlock's merges are counted by the recompute: a write into the middle of a delalloc record
/// (inside i_size: no DELALLOC_NEW, but the clear leaves the old one, so the bits are equal and
/// the record merges back whole) leaves the exact size.
#[test]
fn a_write_inside_a_delalloc_record_is_counted_after_the_unlock_merge() {
    let (g, _, s) = run(
        "",
        "buffered_write ino=0 pos=0 len=48K\nbuffered_write ino=0 pos=16K len=16K\n",
    );
    let i = &s.inodes[0];
    assert_eq!(i.records.len(), 1, "{:?}", i.records);
    assert_eq!(i.outstanding_extents, 1);
    let want = size(&g, 1, 12 * K);
    assert_eq!(
        rsv(&s),
        BlockRsv {
            size: want,
            reserved: want
        }
    );
}

/// SPEC §8.1: a writeback that ends inside a delalloc record splits it (the split hook counts
/// one more extent, the ordered extent holds it) and recomputes nothing: the size stays stale.
#[test]
fn writeback_of_part_of_a_record_leaves_the_size_as_before() {
    let (g, _, s) = run(
        "",
        "buffered_write ino=0 pos=0 len=8K\nwriteback ino=0 start=0 len=4K\n",
    );
    let i = &s.inodes[0];
    assert_eq!((i.ordered.len(), i.outstanding_extents), (1, 2));
    let before = size(&g, 1, 2 * K);
    assert_eq!(
        rsv(&s),
        BlockRsv {
            size: before,
            reserved: before
        }
    );
    assert_ne!(
        before,
        size(&g, 2, 2 * K),
        "stale: the size is not recomputed"
    );
}

#[test]
fn finish_ordered_moves_the_inode_update_and_empties_the_reservation() {
    let (g, outs, s) = run(
        "",
        "buffered_write ino=0 pos=0 len=8K\nwriteback ino=0 start=0 len=8K\nfinish_ordered ino=0 nth=0\n",
    );
    assert_eq!(outs[2], Outcome::Done);
    let i = &s.inodes[0];
    assert!(i.records.is_empty(), "{:?}", i.records);
    assert_eq!(i.delayed_bytes_reserved, g.metadata_size(1));
    assert_eq!(
        s.delayed_rsv,
        BlockRsv {
            size: g.metadata_size(1),
            reserved: g.metadata_size(1)
        }
    );
    assert_eq!(rsv(&s), BlockRsv::default());
    assert_eq!((s.data.bytes_used, s.data.bytes_reserved), (2 * K, 0));
}

#[test]
fn defrag_sets_defrag_without_delalloc_new_and_finish_clears_it() {
    let (_, _, s) = run(
        "",
        "buffered_write ino=0 pos=0 len=8K\nwriteback ino=0 start=0 len=8K\nfinish_ordered ino=0 nth=0\ndefrag ino=0 start=0 len=8K\nwriteback ino=0 start=0 len=8K\n",
    );
    let i = &s.inodes[0];
    assert_eq!(i.records.len(), 1);
    assert_eq!(i.records[0].bits, Bits::DEFRAG, "writeback leaves DEFRAG");
    assert_eq!(i.defrag_bytes, 2 * K);
    let (_, _, s) = run(
        "",
        "buffered_write ino=0 pos=0 len=8K\nwriteback ino=0 start=0 len=8K\nfinish_ordered ino=0 nth=0\ndefrag ino=0 start=0 len=8K\nwriteback ino=0 start=0 len=8K\nfinish_ordered ino=0 nth=0\n",
    );
    assert!(s.inodes[0].records.is_empty());
}

#[test]
fn direct_write_makes_ordered_extents_of_max_extent_and_no_delalloc() {
    let (g, outs, s) = run(
        "max_extent=4K write_chunk=4K",
        "direct_write ino=0 pos=0 len=12K\n",
    );
    assert_eq!(outs, [Outcome::Written { bytes: 3 * K }]);
    let i = &s.inodes[0];
    assert!(i.records.is_empty());
    assert_eq!(i.ordered.len(), 3);
    assert_eq!(
        (i.outstanding_extents, i.csum_bytes, i.i_size),
        (3, 3 * K, 3 * K)
    );
    assert_eq!((s.data.bytes_may_use, s.data.bytes_reserved), (0, 3 * K));
    let want = size(&g, 3, 3 * K);
    assert_eq!(
        rsv(&s),
        BlockRsv {
            size: want,
            reserved: want
        }
    );
}

#[test]
fn page_mkwrite_past_eof_gives_everything_back() {
    let (_, outs, s) = run("", "page_mkwrite ino=0 pos=0\n");
    assert_eq!(outs, [Outcome::Fault]);
    assert_eq!(rsv(&s), BlockRsv::default());
    assert_eq!(s.data.bytes_may_use, 0);
}

#[test]
fn evict_and_unmount_zero_everything() {
    let (_, outs, s) = run(
        "",
        "buffered_write ino=0 pos=0 len=8K\ndefrag ino=0 start=0 len=8K\ndirect_write ino=0 pos=16K len=4K\nevict ino=0\nunmount\n",
    );
    assert!(outs.iter().all(|o| *o != Outcome::Enospc));
    assert_eq!(s.warnings.evict_leaks, 0);
    assert_eq!(s.warnings.unmount_leaks, 0);
    assert_eq!(s.inodes[0].block_rsv, Some(BlockRsv::default()));
    assert_eq!((s.meta.bytes_may_use, s.data.bytes_may_use), (0, 0));
}

#[test]
fn geometry_defaults_hold() {
    let g = geometry("");
    assert_eq!(g.csums_per_leaf(), (g.nodesize - 101 - 25) / 4);
}
