//! The extent io tree (SPEC §1): a sorted `Vec` of records, changed by whole-tree passes.
//!
//! Every change follows the same four steps, which is what SPEC §1 says the kernel's
//! set_extent_bit / clear_extent_bit / convert_extent_bit leave behind (their state machine is
//! deliberately not transliterated):
//! 1. split the affected records at `start` and at `end + 1`;
//! 2. change the pieces inside the range (and, for set/convert, fill the holes);
//! 3. drop records left without bits;
//! 4. canonicalize: merge adjacent records with identical bits that carry none of the era's
//!    no-merge bits (era B: LOCKED|WRITEBACK|BOUNDARY; era 6: LOCKED|BOUNDARY). On a canonical tree only the records an operation touched can
//!    become mergeable, so one global pass gives the same tree as the kernel's local
//!    merge_state calls (SPEC §1 "canonical").
//!
//! The hook counters of SPEC §2 (outstanding_extents, delalloc_bytes, defrag_bytes,
//! new_delalloc_bytes) are not maintained by split/merge hooks: they are derived from the
//! records (SPEC §8.2), which is what the hooks keep them equal to. The `cached` cursor of the
//! tree ops is a search hint that never changes a result (SPEC §1 "cached state"), so this tree
//! has none.

use delalloc_contract::{Bits, Era, Geometry, Outcome, Record};

#[derive(Clone, Debug, Default)]
pub struct Tree {
    records: Vec<Record>,
    /// Whose rules the changes and queries follow (SPEC §1.2).
    era: Era,
}

/// What a clear took from records that lost DELALLOC: the input of the clear hook (SPEC §2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cleared {
    /// Bytes of the pieces that lost DELALLOC.
    pub delalloc: u64,
    /// Of those, bytes of pieces without NORESERVE (they hold a data reservation).
    pub data_reserved: u64,
}

impl Tree {
    /// A tree holding `records`, which must already be sorted, disjoint, non-empty and canonical
    /// (e.g. another tree's records). Lets a benchmark build a large tree in linear time.
    pub fn from_records(records: Vec<Record>) -> Tree {
        assert!(
            records.windows(2).all(|w| w[0].end < w[1].start),
            "from_records: records overlap or are unsorted"
        );
        let t = Tree { records, era: Era::B };
        let mut canonical = t.clone();
        canonical.canonicalize();
        assert_eq!(canonical.records, t.records, "from_records: records are not canonical");
        t
    }

    /// An empty tree following `era`'s rules.
    pub fn new(era: Era) -> Tree {
        Tree { records: Vec::new(), era }
    }

    pub fn records(&self) -> &[Record] {
        &self.records
    }

    // ---- derived hook counters (SPEC §2, §8.2) ----

    /// Σ count(len) over DELALLOC records: the tree's share of outstanding_extents.
    pub fn outstanding_extents(&self, g: &Geometry) -> u64 {
        self.with_bits(Bits::DELALLOC).map(|r| g.count_max_extents(r.len())).sum()
    }

    /// Σ len over records carrying `bit` (delalloc_bytes for DELALLOC, defrag_bytes for DEFRAG,
    /// new_delalloc_bytes for DELALLOC_NEW).
    pub fn bytes_with(&self, bit: Bits) -> u64 {
        self.with_bits(bit).map(|r| r.len()).sum()
    }

    /// The four counters at once, for the snapshot taken after every op: (outstanding-extent
    /// share, delalloc_bytes, defrag_bytes, new_delalloc_bytes), the same sums as the two
    /// functions above.
    pub fn hook_counters(&self, g: &Geometry) -> (u64, u64, u64, u64) {
        let (mut extents, mut delalloc, mut defrag, mut new_delalloc) = (0, 0, 0, 0);
        for r in &self.records {
            // Multiplied by 0 or 1 rather than branched on: the oracle derives these after
            // every op, and which records hold the bits is as good as random.
            let is = |bit| u64::from(r.bits.contains(bit));
            let (is_delalloc, is_defrag, is_new) =
                (is(Bits::DELALLOC), is(Bits::DEFRAG), is(Bits::DELALLOC_NEW));
            extents += is_delalloc * g.count_max_extents(r.len());
            delalloc += is_delalloc * r.len();
            defrag += is_defrag * r.len();
            new_delalloc += is_new * r.len();
        }
        (extents, delalloc, defrag, new_delalloc)
    }

    fn with_bits(&self, bit: Bits) -> impl Iterator<Item = &Record> + '_ {
        self.records.iter().filter(move |r| r.bits.contains(bit))
    }

    // ---- changes ----

    /// set_extent_bit(start, end, bits, exclusive). Err(failed_start) is EEXIST: the first record
    /// in the range having an exclusive bit stops the call at max(its start, start), and only
    /// [start, failed_start - 1] is set (the conflicting record is not split).
    ///
    /// Era 6 (SPEC §1.2): a record that starts before `start` and already has every bit asked
    /// for (and no exclusive one) is passed over unsplit: the call goes on after its end.
    pub fn set(&mut self, start: u64, end: u64, bits: Bits, exclusive: Bits) -> Result<(), u64> {
        let mut start = start;
        if self.era.set_skips_covered() {
            let covering = self.records.iter().find(|r| r.start < start && start <= r.end);
            if let Some(r) = covering.filter(|r| !r.bits.intersects(exclusive) && r.bits.contains(bits)) {
                if r.end >= end {
                    return Ok(());
                }
                start = r.end + 1;
            }
        }
        let conflict = self
            .records
            .iter()
            .find(|r| r.end >= start && r.start <= end && r.bits.intersects(exclusive))
            .map(|r| r.start.max(start));
        match conflict {
            None => {
                self.convert(start, end, bits, Bits::NONE);
                Ok(())
            }
            Some(failed_start) => {
                if failed_start > start {
                    self.convert(start, failed_start - 1, bits, Bits::NONE);
                }
                Err(failed_start)
            }
        }
    }

    /// convert_extent_bit(start, end, set, clear), also the body of `set`: every record
    /// straddling start or end + 1 is split, each piece in the range gets `set` then loses
    /// `clear`, holes in the range get new records with `set`.
    pub fn convert(&mut self, start: u64, end: u64, set: Bits, clear: Bits) {
        let (set, clear) = (set.stored(), clear.stored());
        self.split_at(start, |_| true);
        self.split_at(end + 1, |_| true);
        let mut holes = Vec::new();
        let mut cur = start;
        for r in self.records.iter_mut().filter(|r| r.start <= end && r.end >= start) {
            if r.start > cur {
                holes.push(Record { start: cur, end: r.start - 1, bits: set });
            }
            r.bits = r.bits.union(set).minus(clear);
            cur = r.end + 1;
        }
        if cur <= end {
            holes.push(Record { start: cur, end, bits: set });
        }
        self.records.extend(holes);
        self.records.sort_by_key(|r| r.start);
        self.canonicalize();
    }

    /// clear_extent_bit(start, end, bits, wake, delete): `delete` clears every bit; DELALLOC in
    /// the mask adds NORESERVE. Records having none of the mask are neither split nor touched.
    /// Waking waiters and dropping the cached state change nothing observable here.
    pub fn clear(&mut self, start: u64, end: u64, bits: Bits, delete: bool) -> Cleared {
        let mut mask = if delete { Bits::STORABLE } else { bits.stored() };
        if mask.intersects(Bits::DELALLOC) {
            mask = mask.union(Bits::NORESERVE);
        }
        self.split_at(start, |b| b.intersects(mask));
        self.split_at(end + 1, |b| b.intersects(mask));
        let mut cleared = Cleared::default();
        for r in &mut self.records {
            if r.start >= start && r.end <= end && r.bits.intersects(mask) {
                if r.bits.contains(Bits::DELALLOC) {
                    cleared.delalloc += r.len();
                    if !r.bits.contains(Bits::NORESERVE) {
                        cleared.data_reserved += r.len();
                    }
                }
                r.bits = r.bits.minus(mask);
            }
        }
        self.canonicalize();
        cleared
    }

    /// Splits the record holding both `at - 1` and `at`, if `pred` accepts its bits.
    fn split_at(&mut self, at: u64, pred: impl Fn(Bits) -> bool) {
        let found = self.records.iter().position(|r| r.start < at && at <= r.end && pred(r.bits));
        if let Some(i) = found {
            let tail = Record { start: at, ..self.records[i] };
            self.records[i].end = at - 1;
            self.records.insert(i + 1, tail);
        }
    }

    /// Steps 3 and 4: erase empty records, merge mergeable neighbours.
    fn canonicalize(&mut self) {
        let no_merge = self.era.no_merge();
        let mut out: Vec<Record> = Vec::with_capacity(self.records.len());
        for r in self.records.drain(..).filter(|r| !r.bits.is_empty()) {
            match out.last_mut() {
                Some(last)
                    if last.end + 1 == r.start && last.bits == r.bits && !r.bits.intersects(no_merge) =>
                {
                    last.end = r.end;
                }
                _ => out.push(r),
            }
        }
        self.records = out;
    }

    // ---- queries (SPEC §1, the 4.x algorithms with their quirks) ----

    /// Records ending at or after `start`, in order (the kernel's tree_search).
    fn from(&self, start: u64) -> &[Record] {
        let i = self.records.partition_point(|r| r.end < start);
        &self.records[i..]
    }

    /// test_range_bit(start, end, bits, filled).
    pub fn test_range_bit(&self, start: u64, end: u64, bits: Bits, filled: bool) -> Outcome {
        let mut result = false;
        let mut cur = start;
        let recs = self.from(start);
        for (i, r) in recs.iter().enumerate() {
            if filled && r.start > cur {
                result = false;
                break;
            }
            if r.start > end {
                break;
            }
            if r.bits.intersects(bits) {
                result = true;
                if !filled {
                    break;
                }
            } else if filled {
                result = false;
                break;
            }
            cur = r.end + 1;
            if cur > end {
                break;
            }
            if i + 1 == recs.len() {
                if filled {
                    result = false;
                }
                break;
            }
        }
        Outcome::Test { result }
    }

    /// count_range_bits(start, end, max_bytes, bits, contig). Era B answers 0 for `end <= start`
    /// and, from offset 0 for exactly DIRTY, the tree's dirty_bytes whatever the other
    /// arguments; era 6 answers 0 only for `end < start` (never valid) and has no shortcut.
    pub fn count_range_bits(&self, start: u64, end: u64, max: u64, bits: Bits, contig: bool) -> Outcome {
        let (mut total, mut found, mut last, mut first) = (0, false, 0, start);
        if self.era.count_empty(start, end) {
            return Outcome::Count { bytes: 0, first_start: start };
        }
        if self.era.count_dirty_shortcut(start, bits) {
            return Outcome::Count { bytes: self.bytes_with(Bits::DIRTY), first_start: start };
        }
        for r in self.from(start) {
            if r.start > end || (contig && found && r.start > last + 1) {
                break;
            }
            if r.bits.contains(bits) {
                total += end.min(r.end) + 1 - start.max(r.start);
                if total >= max {
                    break;
                }
                if !found {
                    first = start.max(r.start);
                    found = true;
                }
                last = r.end;
            } else if contig && found {
                break;
            }
        }
        Outcome::Count { bytes: total, first_start: first }
    }

    /// find_first_extent_bit(start, bits): the whole first record ending at or after start that
    /// has any of the bits.
    pub fn find_first_bit(&self, start: u64, bits: Bits) -> Outcome {
        let found = self.from(start).iter().find(|r| r.bits.intersects(bits));
        Outcome::Found { found: found.map(|r| (r.start, r.end, r.bits)) }
    }

    /// find_first_clear_extent_bit(start, bits) of 6.1 (SPEC §1.1): (start_ret, end_ret) of the
    /// first range at or after `start` whose bytes have none of `bits`.
    ///
    /// Records that contain the cursor and have one of the bits move it past their end. Then:
    /// no record left: the range after the last record, `(last end + 1, u64::MAX)`, or
    /// `(0, u64::MAX)` for an empty tree; the cursor inside a record without the bits: from that
    /// record's start; the cursor in a hole: from the end of the record before the hole + 1 (0
    /// if none). Never further back, even over records that lack the bits too. The end runs
    /// forward over every record without the bits and the holes between them, up to the byte
    /// before the first record having one of them, or to the last record's end when none has
    /// (not u64::MAX).
    pub fn find_first_clear_bit(&self, start: u64, bits: Bits) -> (u64, u64) {
        let recs = &self.records;
        let mut cur = start;
        let mut i = recs.partition_point(|r| r.end < start);
        while i < recs.len() && recs[i].start <= cur && recs[i].bits.intersects(bits) {
            cur = recs[i].end + 1;
            i += 1;
        }
        let Some(first) = recs.get(i) else {
            return (recs.last().map_or(0, |r| r.end + 1), u64::MAX);
        };
        let start_ret =
            if first.start <= cur { first.start } else { i.checked_sub(1).map_or(0, |p| recs[p].end + 1) };
        let end_ret = match recs[i..].iter().find(|r| r.bits.intersects(bits)) {
            Some(blocker) => blocker.start - 1,
            None => recs[recs.len() - 1].end,
        };
        (start_ret, end_ret)
    }

    /// find_delalloc_range(start, max_bytes).
    pub fn find_delalloc(&self, start: u64, max_bytes: u64) -> Outcome {
        let recs = self.from(start);
        let (mut found, mut out_start, mut out_end) = (false, start, u64::MAX);
        let (mut cur, mut total) = (start, 0);
        for r in recs {
            if found && (r.start != cur || r.bits.intersects(Bits::BOUNDARY)) {
                break;
            }
            if !r.bits.contains(Bits::DELALLOC) {
                if !found {
                    out_end = r.end;
                }
                break;
            }
            if !found {
                out_start = r.start;
            }
            found = true;
            out_end = r.end;
            cur = r.end + 1;
            total += r.len();
            if total >= max_bytes {
                break;
            }
        }
        Outcome::Delalloc { found, start: out_start, end: out_end }
    }
}
