//! The extent tree's state hooks (SPEC §2): btrfs_set_bit_hook, btrfs_clear_bit_hook,
//! btrfs_merge_extent_hook and btrfs_split_extent_hook of era B, with 4.14's DELALLOC_NEW
//! accounting (SPEC §2.1).
//!
//! They keep the inode's counters incrementally, per record touched, the way the kernel does;
//! nothing on an op path ever sums over the tree. The reference derives the same counters from
//! its records, so the differential test checks these deltas against that derivation.

use crate::bugs::{Bug, BugSet};
use crate::extent_tree::StateHooks;
use crate::inode::Accounting;
use crate::reservation::release_metadata;
use crate::reservation_c;
use crate::space::FsInfo;
use delalloc_contract::{Bits, Ino, Record};

/// Whether `rec` goes from not having `bit` to having it when `bits` are set.
fn gains(rec: &Record, bits: Bits, bit: Bits) -> bool {
    bits.intersects(bit) && !rec.bits.intersects(bit)
}

/// Whether `rec` has `bit` and loses it when `bits` are cleared.
fn loses(rec: &Record, bits: Bits, bit: Bits) -> bool {
    bits.intersects(bit) && rec.bits.intersects(bit)
}

/// count(a) + count(b) − count(a + b): 0 or 1, the extent a split adds and a merge removes
/// ("Btrfs: account merges/splits properly").
fn extra_extent(max_extent: u64, a: u64, b: u64) -> u64 {
    let count = |len: u64| len.div_ceil(max_extent);
    count(a) + count(b) - count(a + b)
}

/// The outstanding extents btrfs_merge_extent_hook drops when records of `a` and `b` bytes
/// merge: [`extra_extent`], or what an older hook in `bugs` dropped.
#[inline]
fn merge_drops(bugs: BugSet, max_extent: u64, a: u64, b: u64) -> u64 {
    if bugs.is_empty() {
        extra_extent(max_extent, a, b)
    } else {
        merge_drops_with_bugs(bugs, max_extent, a, b)
    }
}

#[cold]
#[inline(never)]
fn merge_drops_with_bugs(bugs: BugSet, max_extent: u64, a: u64, b: u64) -> u64 {
    let count = |len: u64| len.div_ceil(max_extent);
    if bugs.contains(Bug::MergeHookEraA) {
        1
    } else if bugs.contains(Bug::MergeSplitMaxCount) {
        // "fix merge delalloc logic": small merges drop one; larger ones keep their extents
        // when the merged count exceeds the larger side's.
        u64::from(a + b <= max_extent || count(a + b) <= count(a).max(count(b)))
    } else {
        extra_extent(max_extent, a, b)
    }
}

/// The outstanding extents btrfs_split_extent_hook adds when a record splits into pieces of
/// `a` and `b` bytes: [`extra_extent`], or what an older hook in `bugs` added.
#[inline]
fn split_adds(bugs: BugSet, max_extent: u64, a: u64, b: u64) -> u64 {
    if bugs.is_empty() {
        extra_extent(max_extent, a, b)
    } else {
        split_adds_with_bugs(bugs, max_extent, a, b)
    }
}

#[cold]
#[inline(never)]
fn split_adds_with_bugs(bugs: BugSet, max_extent: u64, a: u64, b: u64) -> u64 {
    let count = |len: u64| len.div_ceil(max_extent);
    if bugs.contains(Bug::SplitHookEraA) {
        1
    } else if bugs.contains(Bug::MergeSplitMaxCount) {
        // "fix merge delalloc logic": a large record adds one only if its larger piece still
        // needs as many extents as the whole did.
        let size = a + b;
        u64::from(size <= max_extent || count(a.max(b)) >= count(size))
    } else {
        extra_extent(max_extent, a, b)
    }
}

/// The hooks of an inode's io tree: its accounting, and through DO_ACCOUNTING clears the
/// fs-wide space. Built for the length of one tree call, under the inode lock.
pub struct InodeHooks<'a> {
    pub acct: &'a mut Accounting,
    pub fs: &'a FsInfo,
    /// Whose hooks: picks the shard of the fs-wide delalloc counter.
    pub ino: Ino,
}

impl StateHooks for InodeHooks<'_> {
    /// btrfs_set_bit_hook: a record newly DELALLOC is count(len) more outstanding extents (the
    /// reservation's own count is handed off by the caller, SPEC §4) and len more delalloc bytes.
    fn on_set(&mut self, rec: Record, bits: Bits) {
        let len = rec.len();
        if gains(&rec, bits, Bits::DELALLOC) {
            self.acct.outstanding_extents += self.fs.count(len);
            self.acct.delalloc_bytes += len;
            self.fs.add_delalloc_bytes(self.ino, len);
        }
        if gains(&rec, bits, Bits::DEFRAG) {
            self.acct.defrag_bytes += len;
        }
        // 4.14 btrfs_set_bit_hook, apart from the DELALLOC branch: new_delalloc_bytes.
        if gains(&rec, bits, Bits::DELALLOC_NEW) {
            self.acct.new_delalloc_bytes += len;
        }
    }

    /// btrfs_clear_bit_hook: a record losing DELALLOC either gives its reservation back
    /// (DO_ACCOUNTING: metadata, and data unless NORESERVE — 4.8's EXTENT_CLEAR_DATA_RESV), or
    /// was consumed by an allocation (only its outstanding extents go).
    fn on_clear(&mut self, rec: Record, bits: Bits) {
        let len = rec.len();
        if loses(&rec, bits, Bits::DEFRAG) {
            self.acct.defrag_bytes = self.acct.defrag_bytes.saturating_sub(len);
        }
        if loses(&rec, bits, Bits::DELALLOC) {
            let bugs = self.fs.bugs;
            if self.fs.era_c {
                // Era C (6.12 btrfs_clear_delalloc_extent :2682): the extents go first, then
                // with DO_ACCOUNTING release_metadata, which recomputes and trims; the data
                // part as in era B.
                let n = self.fs.count(len);
                self.acct.outstanding_extents = self.acct.outstanding_extents.saturating_sub(n);
                if bits.intersects(Bits::DO_ACCOUNTING) {
                    reservation_c::release_metadata(self.acct, self.fs, len);
                    if !rec.bits.intersects(Bits::NORESERVE) {
                        self.fs.free_data(len);
                    }
                }
            } else if bits.intersects(Bits::DO_ACCOUNTING) {
                release_metadata(self.acct, self.fs, len);
                // Bug::NoreserveDataFreed: the NORESERVE test missing.
                if !rec.bits.intersects(Bits::NORESERVE) || bugs.contains(Bug::NoreserveDataFreed) {
                    self.fs.free_data(len);
                }
            } else {
                let n = self.fs.count(len);
                self.acct.outstanding_extents = self.acct.outstanding_extents.saturating_sub(n);
                // Bug::WritebackFreesDataTwice: the pre-4.8 hook frees data on any DELALLOC
                // clear, after the allocation already took it out of bytes_may_use.
                if bugs.contains(Bug::WritebackFreesDataTwice)
                    && !rec.bits.intersects(Bits::NORESERVE)
                {
                    self.fs.free_data(len);
                }
            }
            self.acct.delalloc_bytes = self.acct.delalloc_bytes.saturating_sub(len);
            self.fs.sub_delalloc_bytes(self.ino, len);
        }
        // The kernel ASSERTs new_delalloc_bytes >= len; the model saturates (SPEC §3).
        if loses(&rec, bits, Bits::DELALLOC_NEW) {
            self.acct.new_delalloc_bytes = self.acct.new_delalloc_bytes.saturating_sub(len);
        }
    }

    /// btrfs_merge_extent_hook: two delalloc extents may become one.
    fn on_merge(&mut self, survivor: Record, other: Record) {
        if other.bits.intersects(Bits::DELALLOC) {
            let max = self.fs.geo.max_extent;
            let n = merge_drops(self.fs.bugs, max, survivor.len(), other.len());
            self.acct.outstanding_extents = self.acct.outstanding_extents.saturating_sub(n);
        }
    }

    /// btrfs_split_extent_hook: one delalloc extent may become two.
    fn on_split(&mut self, orig: Record, at: u64) {
        if orig.bits.intersects(Bits::DELALLOC) {
            let max = self.fs.geo.max_extent;
            let n = split_adds(self.fs.bugs, max, at - orig.start, orig.end + 1 - at);
            self.acct.outstanding_extents += n;
        }
    }
}

/// The stand-alone tree's hooks (SPEC §7: the self-tests' dummy inode): the same counters, no
/// space. A DO_ACCOUNTING clear's release_metadata would drop count(len) outstanding extents
/// just like a plain clear, and the dummy has nothing else to release.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DummyHooks {
    pub max_extent: u64,
    pub outstanding_extents: u64,
    pub delalloc_bytes: u64,
    pub defrag_bytes: u64,
    pub new_delalloc_bytes: u64,
    /// The dummy inode runs the same merge/split hooks, bugs included.
    pub bugs: BugSet,
}

impl DummyHooks {
    pub fn new(max_extent: u64) -> DummyHooks {
        DummyHooks::with_bugs(max_extent, BugSet::NONE)
    }

    pub fn with_bugs(max_extent: u64, bugs: BugSet) -> DummyHooks {
        DummyHooks {
            max_extent,
            outstanding_extents: 0,
            delalloc_bytes: 0,
            defrag_bytes: 0,
            new_delalloc_bytes: 0,
            bugs,
        }
    }
}

impl StateHooks for DummyHooks {
    fn on_set(&mut self, rec: Record, bits: Bits) {
        let len = rec.len();
        if gains(&rec, bits, Bits::DELALLOC) {
            self.outstanding_extents += len.div_ceil(self.max_extent);
            self.delalloc_bytes += len;
        }
        if gains(&rec, bits, Bits::DEFRAG) {
            self.defrag_bytes += len;
        }
        if gains(&rec, bits, Bits::DELALLOC_NEW) {
            self.new_delalloc_bytes += len;
        }
    }

    fn on_clear(&mut self, rec: Record, bits: Bits) {
        let len = rec.len();
        if loses(&rec, bits, Bits::DEFRAG) {
            self.defrag_bytes = self.defrag_bytes.saturating_sub(len);
        }
        if loses(&rec, bits, Bits::DELALLOC) {
            self.outstanding_extents = self
                .outstanding_extents
                .saturating_sub(len.div_ceil(self.max_extent));
            self.delalloc_bytes = self.delalloc_bytes.saturating_sub(len);
        }
        if loses(&rec, bits, Bits::DELALLOC_NEW) {
            self.new_delalloc_bytes = self.new_delalloc_bytes.saturating_sub(len);
        }
    }

    fn on_merge(&mut self, survivor: Record, other: Record) {
        if other.bits.intersects(Bits::DELALLOC) {
            let n = merge_drops(self.bugs, self.max_extent, survivor.len(), other.len());
            self.outstanding_extents = self.outstanding_extents.saturating_sub(n);
        }
    }

    fn on_split(&mut self, orig: Record, at: u64) {
        if orig.bits.intersects(Bits::DELALLOC) {
            self.outstanding_extents += split_adds(
                self.bugs,
                self.max_extent,
                at - orig.start,
                orig.end + 1 - at,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extent_tree::ExtentIoTree;
    use delalloc_contract::Geometry;

    #[test]
    fn split_and_merge_count_at_most_one_extent() {
        let m = 128;
        assert_eq!(extra_extent(m, 4, 4), 1);
        assert_eq!(extra_extent(m, 128, 128), 0);
        // [M+4][M+4] split/merge: ceil + ceil − ceil(2M+8) = 2 + 2 − 3.
        assert_eq!(extra_extent(m, 132, 132), 1);
        assert_eq!(extra_extent(m, 64, 64), 1);
        assert_eq!(extra_extent(m, 64, 65), 0);
    }

    /// 4.14's btrfs_set_bit_hook / btrfs_clear_bit_hook keep new_delalloc_bytes apart from the
    /// DELALLOC branch (SPEC §2.1): a record counts when it gains or loses DELALLOC_NEW, whatever
    /// else it has; splits and merges leave the sum alone, and DELALLOC_NEW keeps records from
    /// merging only by making their bits differ.
    #[test]
    fn delalloc_new_keeps_new_delalloc_bytes_on_its_own() {
        let fs = FsInfo::mount(&Geometry::default());
        let mut acct = Accounting::default();
        let mut t = ExtentIoTree::new();
        let (dn, d, k) = (Bits::DELALLOC_NEW, Bits::DELALLOC, 4096);
        let set = |t: &mut ExtentIoTree, acct: &mut Accounting, s: u64, e: u64, bits: Bits| {
            let mut h = InodeHooks {
                acct,
                fs: &fs,
                ino: 0,
            };
            t.set_bits(s, e, bits, Bits::NONE, None, &mut h).unwrap();
        };
        set(&mut t, &mut acct, 0, 2 * k - 1, d | dn);
        set(&mut t, &mut acct, 2 * k, 3 * k - 1, d);
        assert_eq!(t.len(), 2, "DELALLOC_NEW on one side only: no merge");
        assert_eq!(
            (
                acct.new_delalloc_bytes,
                acct.delalloc_bytes,
                acct.outstanding_extents
            ),
            (2 * k, 3 * k, 2)
        );
        set(&mut t, &mut acct, 2 * k, 3 * k - 1, dn);
        assert_eq!(t.len(), 1, "equal bits again: merged");
        assert_eq!(
            (acct.new_delalloc_bytes, acct.outstanding_extents),
            (3 * k, 1)
        );
        let clear = |t: &mut ExtentIoTree, acct: &mut Accounting, s: u64, e: u64, bits: Bits| {
            let mut h = InodeHooks {
                acct,
                fs: &fs,
                ino: 0,
            };
            t.clear_bits(s, e, bits, true, false, None, &mut h);
        };
        clear(&mut t, &mut acct, 0, 3 * k - 1, d);
        assert_eq!(
            (
                acct.new_delalloc_bytes,
                acct.delalloc_bytes,
                acct.outstanding_extents
            ),
            (3 * k, 0, 0),
            "clearing DELALLOC leaves DELALLOC_NEW"
        );
        clear(&mut t, &mut acct, k, 2 * k - 1, dn);
        assert_eq!(
            (t.len(), acct.new_delalloc_bytes),
            (2, 2 * k),
            "split, middle cleared"
        );
        clear(&mut t, &mut acct, 0, 3 * k - 1, dn);
        assert_eq!((t.len(), acct), (0, Accounting::default()));
    }
}
