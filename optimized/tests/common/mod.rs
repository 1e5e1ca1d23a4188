//! Shared by the integration tests: SPEC §8 on a snapshot.

use delalloc_contract::{Bits, Geometry, OrderedKind, Record, Snapshot};

/// SPEC §8, items 1-5 (item 5 only while mounted), for the scenarios here.
pub fn check(s: &Snapshot, g: &Geometry) {
    let count = |len: u64| g.count_max_extents(len);
    let canonical = |recs: &[Record]| {
        for w in recs.windows(2) {
            assert!(w[0].end < w[1].start, "records overlap: {recs:?}");
            assert!(
                !(w[0].end + 1 == w[1].start
                    && w[0].bits == w[1].bits
                    && !w[0].bits.intersects(Bits::NO_MERGE)),
                "not canonical: {recs:?}"
            );
        }
    };
    let sum = |recs: &[Record], bit: Bits, f: &dyn Fn(&Record) -> u64| {
        recs.iter()
            .filter(|r| r.bits.intersects(bit))
            .map(f)
            .sum::<u64>()
    };
    canonical(&s.tree.records);
    assert_eq!(
        s.tree.outstanding_extents,
        sum(&s.tree.records, Bits::DELALLOC, &|r| count(r.len()))
    );
    assert_eq!(
        s.tree.delalloc_bytes,
        sum(&s.tree.records, Bits::DELALLOC, &|r| r.len())
    );
    assert_eq!(
        s.tree.defrag_bytes,
        sum(&s.tree.records, Bits::DEFRAG, &|r| r.len())
    );
    assert_eq!(
        s.tree.new_delalloc_bytes,
        sum(&s.tree.records, Bits::DELALLOC_NEW, &|r| r.len())
    );
    let (mut fs_delalloc, mut may_use, mut reserved, mut rsv_size, mut delayed) = (0, 0, 0, 0, 0);
    for (n, i) in s.inodes.iter().enumerate() {
        canonical(&i.records);
        assert!(
            i.records.iter().all(|r| !r.bits.intersects(Bits::LOCKED)),
            "inode {n} left locked"
        );
        let ordered_len: u64 = i.ordered.iter().map(|o| o.len).sum();
        let ordered_count: u64 = i.ordered.iter().map(|o| count(o.len)).sum();
        assert_eq!(
            i.outstanding_extents,
            sum(&i.records, Bits::DELALLOC, &|r| count(r.len())) + ordered_count,
            "inode {n} outstanding_extents"
        );
        assert_eq!(
            i.delalloc_bytes,
            sum(&i.records, Bits::DELALLOC, &|r| r.len()),
            "inode {n} delalloc_bytes"
        );
        assert_eq!(
            i.defrag_bytes,
            sum(&i.records, Bits::DEFRAG, &|r| r.len()),
            "inode {n} defrag_bytes"
        );
        assert_eq!(
            i.new_delalloc_bytes,
            sum(&i.records, Bits::DELALLOC_NEW, &|r| r.len()),
            "inode {n} new_delalloc_bytes"
        );
        assert_eq!(
            i.csum_bytes,
            i.delalloc_bytes + ordered_len,
            "inode {n} csum_bytes"
        );
        for w in i.ordered.windows(2) {
            assert!(
                w[0].start + w[0].len <= w[1].start,
                "inode {n} ordered extents overlap"
            );
        }
        fs_delalloc += i.delalloc_bytes;
        may_use += i
            .records
            .iter()
            .filter(|r| r.bits.intersects(Bits::DELALLOC) && !r.bits.intersects(Bits::NORESERVE))
            .map(|r| r.len())
            .sum::<u64>();
        reserved += i
            .ordered
            .iter()
            .filter(|o| o.kind != OrderedKind::Nocow)
            .map(|o| o.len)
            .sum::<u64>();
        rsv_size += g.trans_metadata_size(
            i.reserved_extents.unwrap_or(0) + u64::from(i.delalloc_meta_reserved.unwrap_or(false)),
        ) + g.trans_metadata_size(g.csum_leaves(i.csum_bytes));
        delayed += i.delayed_bytes_reserved;
    }
    assert_eq!(s.fs_delalloc_bytes, fs_delalloc, "fs delalloc_bytes");
    assert_eq!(s.data.bytes_may_use, may_use, "data may_use");
    assert_eq!(s.data.bytes_reserved, reserved, "data bytes_reserved");
    if let (true, Some(delalloc_rsv)) = (s.mounted, s.delalloc_rsv) {
        assert_eq!(
            s.meta.bytes_may_use,
            delalloc_rsv.reserved + s.delayed_rsv.reserved + s.global_rsv.reserved,
            "metadata may_use"
        );
        assert_eq!(delalloc_rsv.size, rsv_size, "delalloc rsv size");
        assert!(
            delalloc_rsv.reserved <= delalloc_rsv.size,
            "delalloc rsv over-full"
        );
        assert_eq!(
            (s.delayed_rsv.size, s.delayed_rsv.reserved),
            (delayed, delayed),
            "delayed rsv"
        );
    }
    assert_eq!(s.warnings.evict_leaks, 0, "evict leaks");
    assert_eq!(s.warnings.unmount_leaks, 0, "unmount leaks");
}
