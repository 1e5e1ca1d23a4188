//! The io-tree rules that differ between era B and era 6 (SPEC §1.2), on the optimized model:
//! one small program per rule, run in both eras. reference/tests/eras.rs holds the same cases.

use delalloc_contract::text::parse_program;
use delalloc_contract::{Bits, Model, Outcome, Record};
use delalloc_optimized::Optimized as MODEL;

/// Runs `ops` (text, one op a line) in `era` on the default geometry; the outcomes and the
/// stand-alone tree's records and outstanding_extents after the last op.
fn run(era: &str, ops: &str) -> (Vec<Outcome>, Vec<Record>, u64) {
    let p = parse_program(&format!("geometry era={era} inodes=1\n{ops}")).unwrap();
    let mut m = MODEL::new(&p.geometry);
    let outs = p.ops.iter().map(|op| m.apply(op)).collect();
    let s = m.snapshot();
    (outs, s.tree.records, s.tree.outstanding_extents)
}

fn rec(start: u64, end: u64, bits: Bits) -> Record {
    Record { start, end, bits }
}

const D: Bits = Bits::DELALLOC;
const DB: Bits = Bits(Bits::DELALLOC.0 | Bits::BOUNDARY.0);

/// merge_state: era B keeps WRITEBACK records apart (EXTENT_IOBITS); 6.x has no WRITEBACK, so an
/// era-6 program cannot name it. LOCKED and BOUNDARY stop a merge in both eras.
#[test]
fn merge_state_per_era() {
    let (_, recs, _) = run(
        "b",
        "set_bits 0 4095 WRITEBACK\nset_bits 4096 8191 WRITEBACK\n",
    );
    assert_eq!(
        recs,
        [
            rec(0, 4095, Bits::WRITEBACK),
            rec(4096, 8191, Bits::WRITEBACK)
        ]
    );
    assert!(parse_program("geometry era=6\nset_bits 0 4095 WRITEBACK\n").is_err());
    for era in ["b", "6"] {
        let (_, recs, _) = run(
            era,
            "set_bits 0 4095 DELALLOC|BOUNDARY\nset_bits 4096 8191 DELALLOC|BOUNDARY\n",
        );
        assert_eq!(recs, [rec(0, 4095, DB), rec(4096, 8191, DB)], "era {era}");
        let (_, recs, _) = run(era, "set_bits 0 4095 DIRTY\nset_bits 4096 8191 DIRTY\n");
        assert_eq!(recs, [rec(0, 8191, Bits::DIRTY)], "era {era}");
    }
}

/// set_extent_bit over a record that starts before the range and already has every bit: era B
/// splits it (a BOUNDARY record then stays split, and counts one more extent); 6.x passes over
/// it.
#[test]
fn set_passes_over_a_covering_record_in_era_6() {
    let ops = "set_bits 0 8191 DELALLOC|BOUNDARY\nset_bits 4096 12287 DELALLOC\n";
    let (_, recs, outstanding) = run("b", ops);
    assert_eq!(
        recs,
        [rec(0, 4095, DB), rec(4096, 8191, DB), rec(8192, 12287, D)]
    );
    assert_eq!(outstanding, 3);
    let (_, recs, outstanding) = run("6", ops);
    assert_eq!(recs, [rec(0, 8191, DB), rec(8192, 12287, D)]);
    assert_eq!(outstanding, 2);

    // The range inside the record: era B cuts it in three, 6.x leaves it whole.
    let ops = "set_bits 0 8191 DELALLOC|BOUNDARY\nset_bits 4096 6143 DELALLOC\n";
    let (_, recs, _) = run("b", ops);
    assert_eq!(
        recs,
        [rec(0, 4095, DB), rec(4096, 6143, DB), rec(6144, 8191, DB)]
    );
    let (_, recs, _) = run("6", ops);
    assert_eq!(recs, [rec(0, 8191, DB)]);

    // Missing one of the bits: split in both eras.
    let ops = "set_bits 0 8191 DELALLOC|BOUNDARY\nset_bits 4096 8191 DELALLOC|DIRTY\n";
    let dbd = DB.union(Bits::DIRTY);
    for era in ["b", "6"] {
        let (_, recs, _) = run(era, ops);
        assert_eq!(recs, [rec(0, 4095, DB), rec(4096, 8191, dbd)], "era {era}");
    }

    // An exclusive bit still stops the call at start, unsplit, in both eras.
    let ops = "lock 0 8191\nlock 4096 12287\n";
    for era in ["b", "6"] {
        let (outs, recs, _) = run(era, ops);
        assert_eq!(
            outs[1],
            Outcome::WouldBlock { failed_start: 4096 },
            "era {era}"
        );
        assert_eq!(recs, [rec(0, 8191, Bits::LOCKED)], "era {era}");
    }
}

/// count_range_bits with end == start: era B answers 0, 6.x counts the one byte.
#[test]
fn count_range_bits_of_one_byte_per_era() {
    let ops = "set_bits 0 4095 DELALLOC\ncount_range_bits 100 100 DELALLOC max=1M\n";
    let (outs, _, _) = run("b", ops);
    assert_eq!(
        outs[1],
        Outcome::Count {
            bytes: 0,
            first_start: 100
        }
    );
    let (outs, _, _) = run("6", ops);
    assert_eq!(
        outs[1],
        Outcome::Count {
            bytes: 1,
            first_start: 100
        }
    );
}

/// Era B's shortcut: count_range_bits from 0 for exactly DIRTY answers the tree's dirty_bytes,
/// whatever the end, max_bytes and contig; 6.x counts the range.
#[test]
fn count_range_bits_dirty_shortcut_is_era_b_only() {
    let tree = "set_bits 0 4095 DIRTY\nset_bits 8192 12287 DIRTY|DELALLOC\n";
    for (query, b, six) in [
        ("count_range_bits 0 4095 DIRTY max=1M", 8192, 4096),
        ("count_range_bits 0 99 DIRTY max=1M contig", 8192, 100),
        ("count_range_bits 0 20000 max=1 DIRTY", 8192, 4096),
        // Not exactly DIRTY, or not from 0: no shortcut.
        ("count_range_bits 0 20000 DIRTY|DELALLOC max=1M", 4096, 4096),
        ("count_range_bits 1 20000 DIRTY max=1M", 8191, 8191),
    ] {
        let ops = format!("{tree}{query}\n");
        let (outs, _, _) = run("b", &ops);
        let Outcome::Count { bytes, .. } = outs[2] else {
            panic!("{outs:?}")
        };
        assert_eq!(bytes, b, "era B: {query}");
        let (outs, _, _) = run("6", &ops);
        let Outcome::Count { bytes, .. } = outs[2] else {
            panic!("{outs:?}")
        };
        assert_eq!(bytes, six, "era 6: {query}");
    }
    // dirty_bytes follows clears too (the end still has to pass the era-B `end <= start` check).
    let ops = format!("{tree}clear_bits 0 2047 DIRTY\ncount_range_bits 0 1 DIRTY max=1M\n");
    let (outs, _, _) = run("b", &ops);
    assert_eq!(
        outs[3],
        Outcome::Count {
            bytes: 6144,
            first_start: 0
        }
    );
}

/// set_delalloc: era B (4.x set_extent_delalloc) sets DELALLOC|UPTODATE, 6.x
/// (btrfs_set_extent_delalloc on an inode of i_size 0) DELALLOC|DELALLOC_NEW.
#[test]
fn set_delalloc_bits_per_era() {
    let (_, recs, _) = run("b", "set_delalloc 0 4095\n");
    assert_eq!(recs, [rec(0, 4095, D.union(Bits::UPTODATE))]);
    let (_, recs, _) = run("6", "set_delalloc 0 4095\n");
    assert_eq!(recs, [rec(0, 4095, D.union(Bits::DELALLOC_NEW))]);
}
