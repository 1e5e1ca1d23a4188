//! Historical bugs the optimized model can re-introduce, one or several at a time.
//!
//! A differential fuzzer is worth the bugs it finds. Each [`Bug`] puts one real kernel bug (or,
//! for the extent-tree ones at the end, a classic mistake in this crate's own tree) back at the
//! place of the optimized model that corresponds to the kernel code its fix touched, behind a
//! test of the [`BugSet`] chosen at construction ([`crate::Optimized::with_bugs`]). The correct
//! path is the default and is left as it was; a set bit selects the old code next to it.
//!
//! Each bug knows its stable name (the `--bug` spelling and the reproducer's file name under
//! `corpus/regressions/mutants/`), a one-line description, the commit it comes from, whether it
//! only shows when two tasks race (then a sequential program cannot see it and the scoreboard
//! does not count it), and the field the oracle is expected to report first.
//!
//! Cost when off: one load and bit test per guarded site ([`BugSet::contains`] on a `Copy`
//! word kept beside the data the site already reads).

use delalloc_contract::Era;
use std::fmt;
use std::str::FromStr;

/// One re-introducible bug. The doc of each variant names the commit and what the kernel did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Bug {
    /// Seed 000, 660d3f6cde55 ("Btrfs: fix how we do delalloc reservations and how we free
    /// reservations on error") reverted. btrfs_delalloc_reserve_metadata raised reserved_extents
    /// and set delalloc_meta_reserved under the inode lock *before* reserve_metadata_bytes, and
    /// its failure path released as if all of it had been reserved: drop_outstanding_extent, free
    /// the csum leaves and trans(dropped), minus to_reserve ("somebody could have come in and
    /// twiddled with the reservation"). Raced by a release, the early count frees bytes never
    /// reserved. Without a race the arithmetic nets out except when the inode item was not held
    /// while extents were outstanding (the delayed inode took it at an ordered completion): the
    /// failure leaves META_RESERVED set, and the u64 `to_free - to_reserve` wraps. That
    /// sequential form is real and is what a sequential program finds.
    ReserveBeforeSuccess,
    /// Seed 002 (Josef Bacik, "Btrfs: fix our reservations for updating an inode when completing
    /// io") reverted: no item is reserved for the inode update at delalloc time, and
    /// btrfs_delayed_inode_reserve_metadata just migrates one from the delalloc reserve ("let it
    /// steal since we're accounted for"); when that fails the update goes unreserved (the ENOSPC
    /// in finish_ordered_io the commit fixed).
    NoInodeUpdateItem,
    /// Seed 002's other half missing (btrfs-notes §5.4: "delalloc_meta_reserved never cleared"):
    /// drop_outstanding_extent does not give the inode item back with the last outstanding
    /// extent, so trans(1) stays reserved per inode and evict finds META_RESERVED set.
    MetaReservedNeverDropped,
    /// Seed 003, 376cc685cb3b ("Btrfs: fix the reserved space leak caused by the race between
    /// nonlock dio and buffered io") reverted: the buffered write unlocks its extent range right
    /// after cleaning it (the old prepare_pages), before the copy and set_extent_delalloc. A DIO
    /// falling back to buffered can lock the range in between and clear the writer's new
    /// DELALLOC|DIRTY, leaking its reservation. Only a racing task can get into that window.
    UnlockBeforeSetDelalloc,
    /// Seed 004, 4845e44ffdb2 ("Btrfs: rework O_DIRECT enospc handling"), the alternative it
    /// rejected: O_DIRECT marks its range DELALLOC|DIRTY|UPTODATE. No page will ever clear DIRTY
    /// and UPTODATE there, so those extent states are never freed.
    DioSetsDirtyUptodate,
    /// ba117213554b ("Btrfs: account merges/splits properly") reverted to era A: the merge hook
    /// drops one outstanding extent on every DELALLOC merge, though two records over max_extent
    /// can merge into as many extents as they were.
    MergeHookEraA,
    /// ba117213554b reverted to era A: the split hook adds one outstanding extent on every
    /// DELALLOC split, though a record over max_extent can split into no more extents than it was.
    SplitHookEraA,
    /// The state between "Btrfs: fix merge delalloc logic" and ba117213554b, which completed it:
    /// a merge drops an extent unless count(merged) > max(count(a), count(b)), and a split adds
    /// one unless count(larger piece) < count(orig). [M+4K][4K][M+4K] then counts 4 extents for
    /// 3 ("we'd think we only need 3 extents when creating the hole but in reality we need 4").
    MergeSplitMaxCount,
    /// btrfs-notes §5.14: __btrfs_buffered_write (era A/B) releasing the unused tail of a short
    /// copy without first bumping outstanding_extents; the release drops an extent that the
    /// dirtied part still needs (BUG_ON(!outstanding_extents) later).
    ShortCopyNoExtentBump,
    /// 18513091af94 ("btrfs: update btrfs_space_info's bytes_may_use timely") without its
    /// clear-hook half: the allocation now takes the data out of bytes_may_use, and the clear
    /// hook still frees it again when writeback clears DELALLOC (no EXTENT_CLEAR_DATA_RESV test).
    WritebackFreesDataTwice,
    /// 50745b0a7f46 ("Btrfs: Direct I/O: Fix space accounting") reverted, as the model has it: a
    /// direct write that does not complete does not give its unused reservation back. Here the
    /// DIO that falls back to buffered clears its DELALLOC without DO_ACCOUNTING, and the
    /// buffered write then reserves again on top (WARN_ONs at btrfs_destroy_inode).
    DioFallbackKeepsReservation,
    /// 44db1216efe3 ("Btrfs: add missing extents release on file extent cluster relocation
    /// error") reverted, on the model's own error path after a reservation (it has no
    /// relocation): page_mkwrite finding its page past EOF gives the bytes back but not the
    /// reservation's outstanding extent (btrfs_delalloc_release_extents missing), so the
    /// inode's reservation never drops to zero.
    ErrorPathKeepsExtent,
    /// The clear hook's NORESERVE test, which came with EXTENT_NORESERVE in 7ee9e4405f26
    /// ("Btrfs: check if we can nocow if we don't have data space"), missing: a metadata-only
    /// (nocow) range losing DELALLOC with DO_ACCOUNTING frees data it never reserved. The same
    /// bytes_may_use underflow 467dc47ea99c fixed on the COW fallback path.
    NoreserveDataFreed,
    /// This crate's own extent-tree bug (split): split_state calls the split hook after cutting
    /// the record, so the hook sees the right piece as the record being split and counts a
    /// 0-byte left piece: the extent a split adds is never counted.
    SplitHookAfterCut,
    /// This crate's own extent-tree bug (merge): merge_state keeps only LOCKED and WRITEBACK
    /// records apart (the old EXTENT_IOBITS test alone), so BOUNDARY records, whose edges
    /// find_delalloc_range relies on, merge with equal neighbours.
    MergeIgnoresBoundary,
    /// This crate's own extent-tree bug (exclusive bits): set_extent_bit checks the exclusive
    /// bits of records starting inside the range but not of the one straddling its start, so a
    /// lock can be taken over the tail of a locked range.
    ExclusiveMissesStraddler,
    /// This crate's own extent-tree bug (locking): try_lock_extent copies lock_extent_bits'
    /// keep-the-prefix behaviour and does not unlock [start, failed_start - 1] on a conflict.
    TryLockKeepsPrefix,
    /// This crate's own extent-tree bug (query): find_delalloc_range runs on past a BOUNDARY
    /// record that is not the first of the run.
    FindDelallocIgnoresBoundary,
    /// Seed 000's racing-release half (660d3f6cde55's out_fail branch for a changed csum_bytes)
    /// missing: btrfs_delalloc_reserve_metadata adds its bytes to csum_bytes and drops the inode
    /// lock while reserve_metadata_bytes runs; a release in that window (finish_ordered_io, a
    /// DO_ACCOUNTING clear) computes the checksum leaves it frees from the inflated count. When
    /// the reservation then fails it must settle with the release; this one treats every
    /// failure as unraced (forget its csum bytes, free nothing), so the reserve keeps leaves
    /// nobody holds, or misses one the release took. Only a racing release can get into that
    /// window (added with the concurrent mode).
    RacingReleaseIgnored,
    /// Era C. 6d82ad13c411 ("btrfs: release correct delalloc amount in direct IO write path",
    /// 5.18; Fixes f0bfa76a11e9, 5.17) reverted: btrfs_get_blocks_direct_write reserves for
    /// all that is left (prev_len), the allocator returns less (the model: max_extent), and
    /// btrfs_delalloc_release_extents is called with the shrunk len instead of prev_len, so
    /// count(prev_len) − count(len) outstanding extents stay and the inode reservation never
    /// empties (WARN_ONs at btrfs_destroy_inode).
    DioReleasesShrunkExtents,
    /// Era C. 8b62f87bad9c ("Btrfs: rework outstanding_extents", 4.15) made
    /// btrfs_delalloc_release_metadata leave outstanding_extents alone, but era B's
    /// `outstanding_extents++` before releasing a partly used reservation's tail survived in
    /// cluster_pages_for_defrag (28c4a3e21ad0 "btrfs: defrag: use btrfs_mod_outstanding_extents
    /// in cluster_pages_for_defrag" rewrote that line and kept it; it went with 5.16's defrag
    /// rewrite), where nothing gives it back. The model has no partial defrag: the same +1 sits
    /// where era C's buffered write gives a short copy's tail back (SPEC §6.1 step 4).
    ShortCopyKeepsExtentBump,
    /// Era C. 44db1216efe3 ("Btrfs: add missing extents release on file extent cluster
    /// relocation error", 5.4; Fixes 8b62f87bad9c): an error path after
    /// btrfs_delalloc_reserve_metadata gives the bytes back but not the outstanding extents.
    /// The era-B row [`Bug::ErrorPathKeepsExtent`] keeps its era-B form; this era-C row is the
    /// same mistake on page_mkwrite's Fault path (page at or past i_size, SPEC §6.1):
    /// release_space without release_extents, so count(S) extents and the reservation's size
    /// stay.
    ErrorPathKeepsExtentEraC,
    /// Era C. a0e248bb502d ("Btrfs: fix negative subv_writers counter and data space leak after
    /// buffered write", 5.5) reverted: only_release_metadata is not reset at the top of each
    /// btrfs_buffered_write iteration (before the fix only after a copy that made progress; the
    /// model has no zero-copy retry, so the flag stays for every later chunk of the write).
    /// After a metadata-only (NODATACOW, data ENOSPC) chunk, a later chunk that did reserve data
    /// is treated as metadata-only: its delalloc gets NORESERVE and its tail release frees
    /// metadata only, so its data bytes_may_use is never freed.
    NocowFlagNotReset,
}

/// What is known about a bug, as data (the scoreboard, the tests and `--bug` read it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BugInfo {
    /// Stable kebab-case name.
    pub name: &'static str,
    /// One line: what the model does wrong.
    pub description: &'static str,
    /// The commit the bug comes from (hash and title), or where it comes from.
    pub commit: &'static str,
    /// Only a racing task can observe it: needs the concurrent mode, not counted by the
    /// sequential scoreboard.
    pub race: bool,
    /// The fields the oracle may report first when it catches the bug, indices blanked
    /// (`inodes[].csum_bytes`; `outcome` when the op's answer differs). The oracle lists the
    /// differing fields in name order, so a bug that changes an inode counter and the delalloc
    /// reserve in one op is reported at `delalloc_rsv`; a hook bug shows in the inodes' or the
    /// stand-alone tree's counters, whichever ran it. An accounting bug may also first show as
    /// a different `outcome`: a later reservation of the same op fails in one model only (the
    /// spurious or missing ENOSPC through which the kernel's tests saw these bugs). Empty for
    /// a race bug: what a concurrent run reports first is not known until one runs it.
    pub expected_fields: &'static [&'static str],
    /// Which ops reach the bug's site, so which fuzz target hunts it (`mutants --engine
    /// libfuzzer` runs that target alone): [`Reach::Fs`] for the file-system paths
    /// (reservations, writes, writeback, ordered IO and the accounting hooks they run),
    /// [`Reach::Tree`] for what only the stand-alone tree's own ops do (BOUNDARY records,
    /// try_lock, a lock over part of a locked range, find_delalloc's run): the fs_level target
    /// found none of those four in 60 s (about 430,000 executions each). The merge/split hooks
    /// run under both, and both targets find them from their seed corpus within 200
    /// executions; they name the fs ops, whose accounting the kernel's hooks served.
    pub reach: Reach,
    /// The era whose paths hold the bug's site (SPEC §0): the scoreboard's campaigns for it
    /// generate only that era's programs, through the generators' Dialect. `None`: code both
    /// eras run (the io tree, the hooks' extent counts).
    pub era: Option<Era>,
}

/// The op level of a fuzz target (`fs_level`, `tree_level`); see [`BugInfo::reach`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reach {
    /// File-system ops (writes, writeback, ordered IO, truncate, evict, ...).
    Fs,
    /// The stand-alone extent tree's ops (bits, locks, queries).
    Tree,
}

/// The hook bugs: an inode's or the stand-alone tree's count, or the delalloc reserve (or a
/// reservation's answer) when a reservation in the same op already used the wrong count; in
/// era C the inode reservation the next recompute sizes from that count (listed before the
/// count, as the oracle orders fields by name), and the metadata it trims back.
const OUTSTANDING: &[&str] = &[
    "inodes[].block_rsv.reserved",
    "inodes[].block_rsv.size",
    "meta.bytes_may_use",
    "inodes[].outstanding_extents",
    "tree.outstanding_extents",
    "delalloc_rsv.reserved",
    "outcome",
];

impl Bug {
    /// Every bug, in declaration order (the order of tables and of [`BugSet`]'s bits).
    pub const ALL: [Bug; 23] = [
        Bug::ReserveBeforeSuccess,
        Bug::NoInodeUpdateItem,
        Bug::MetaReservedNeverDropped,
        Bug::UnlockBeforeSetDelalloc,
        Bug::DioSetsDirtyUptodate,
        Bug::MergeHookEraA,
        Bug::SplitHookEraA,
        Bug::MergeSplitMaxCount,
        Bug::ShortCopyNoExtentBump,
        Bug::WritebackFreesDataTwice,
        Bug::DioFallbackKeepsReservation,
        Bug::ErrorPathKeepsExtent,
        Bug::NoreserveDataFreed,
        Bug::SplitHookAfterCut,
        Bug::MergeIgnoresBoundary,
        Bug::ExclusiveMissesStraddler,
        Bug::TryLockKeepsPrefix,
        Bug::FindDelallocIgnoresBoundary,
        Bug::RacingReleaseIgnored,
        Bug::DioReleasesShrunkExtents,
        Bug::ShortCopyKeepsExtentBump,
        Bug::ErrorPathKeepsExtentEraC,
        Bug::NocowFlagNotReset,
    ];

    pub fn info(self) -> &'static BugInfo {
        &INFO[self as usize]
    }

    pub fn name(self) -> &'static str {
        self.info().name
    }

    pub fn description(self) -> &'static str {
        self.info().description
    }

    pub fn commit(self) -> &'static str {
        self.info().commit
    }

    /// Whether only a race shows it (see [`BugInfo::race`]).
    pub fn is_race(self) -> bool {
        self.info().race
    }

    pub fn expected_fields(self) -> &'static [&'static str] {
        self.info().expected_fields
    }

    /// Which fuzz target's ops reach it (see [`BugInfo::reach`]).
    pub fn reach(self) -> Reach {
        self.info().reach
    }

    /// Whether `field` (as [`BugInfo::expected_fields`] spells fields) is one the oracle is
    /// expected to report first for this bug.
    pub fn expects(self, field: &str) -> bool {
        self.expected_fields().contains(&field)
    }

    /// The era the bug lives in (see [`BugInfo::era`]).
    pub fn era(self) -> Option<Era> {
        self.info().era
    }

    pub fn from_name(name: &str) -> Option<Bug> {
        Bug::ALL.into_iter().find(|b| b.name() == name)
    }
}

impl fmt::Display for Bug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Bug {
    type Err = UnknownBug;
    fn from_str(s: &str) -> Result<Bug, UnknownBug> {
        Bug::from_name(s).ok_or_else(|| UnknownBug(s.to_string()))
    }
}

/// Indexed by `Bug as usize`; a test checks the order against [`Bug::ALL`].
const INFO: [BugInfo; Bug::ALL.len()] = [
    BugInfo {
        name: "reserve-before-success",
        description: "reserved_extents and META_RESERVED raised before the reservation succeeds; the failure path frees as if reserved",
        commit: "660d3f6cde55 Btrfs: fix how we do delalloc reservations and how we free reservations on error (seed 000)",
        race: false,
        expected_fields: &["delalloc_rsv.reserved", "delalloc_rsv.size", "outcome"],
        reach: Reach::Fs,
        era: Some(Era::B),
    },
    BugInfo {
        name: "no-inode-update-item",
        description: "no inode-update item reserved at delalloc time; ordered completion steals it from the delalloc reserve",
        commit: "Btrfs: fix our reservations for updating an inode when completing io (seed 002)",
        race: false,
        expected_fields: &["delalloc_rsv.reserved", "outcome"],
        reach: Reach::Fs,
        era: Some(Era::B),
    },
    BugInfo {
        name: "meta-reserved-never-dropped",
        description: "the last outstanding extent does not take the inode-update item with it",
        commit: "Btrfs: fix our reservations for updating an inode when completing io (seed 002), drop_outstanding_extent half",
        race: false,
        expected_fields: &["delalloc_rsv.reserved", "outcome"],
        reach: Reach::Fs,
        era: Some(Era::B),
    },
    BugInfo {
        name: "unlock-before-set-delalloc",
        description: "the buffered write unlocks its range before setting delalloc, so a DIO fallback can clear it",
        commit: "376cc685cb3b Btrfs: fix the reserved space leak caused by the race between nonlock dio and buffered io (seed 003)",
        race: true,
        expected_fields: &[],
        reach: Reach::Fs,
        era: Some(Era::B),
    },
    BugInfo {
        name: "dio-sets-dirty-uptodate",
        description: "O_DIRECT marks DELALLOC|DIRTY|UPTODATE; the DIRTY|UPTODATE states are never freed",
        commit: "4845e44ffdb2 Btrfs: rework O_DIRECT enospc handling (seed 004)",
        race: false,
        expected_fields: &["inodes[].records"],
        reach: Reach::Fs,
        era: Some(Era::B),
    },
    BugInfo {
        name: "merge-hook-era-a",
        description: "the merge hook drops one outstanding extent on every DELALLOC merge",
        commit: "ba117213554b Btrfs: account merges/splits properly (era A hook)",
        race: false,
        expected_fields: OUTSTANDING,
        reach: Reach::Fs,
        era: None,
    },
    BugInfo {
        name: "split-hook-era-a",
        description: "the split hook adds one outstanding extent on every DELALLOC split",
        commit: "ba117213554b Btrfs: account merges/splits properly (era A hook)",
        race: false,
        expected_fields: OUTSTANDING,
        reach: Reach::Fs,
        era: None,
    },
    BugInfo {
        name: "merge-split-max-count",
        description: "merge/split hooks compare count(merged) with max(count(a), count(b))",
        commit: "Btrfs: fix merge delalloc logic, completed by ba117213554b Btrfs: account merges/splits properly",
        race: false,
        expected_fields: OUTSTANDING,
        reach: Reach::Fs,
        era: None,
    },
    BugInfo {
        name: "short-copy-no-extent-bump",
        description: "a short copy releases its tail without the era A/B outstanding_extents bump",
        commit: "__btrfs_buffered_write's short-copy outstanding_extents++ (btrfs-notes section 5, item 14)",
        race: false,
        expected_fields: &["delalloc_rsv.reserved", "outcome"],
        reach: Reach::Fs,
        era: Some(Era::B),
    },
    BugInfo {
        name: "writeback-frees-data-twice",
        description: "writeback's allocation and its DELALLOC clear both take the data out of bytes_may_use",
        commit: "18513091af94 btrfs: update btrfs_space_info's bytes_may_use timely",
        race: false,
        expected_fields: &["data.bytes_may_use", "outcome"],
        reach: Reach::Fs,
        era: Some(Era::B),
    },
    BugInfo {
        name: "dio-fallback-keeps-reservation",
        description: "a DIO falling back to buffered clears its delalloc without giving its reservation back",
        commit: "50745b0a7f46 Btrfs: Direct I/O: Fix space accounting",
        race: false,
        expected_fields: &["data.bytes_may_use", "outcome"],
        reach: Reach::Fs,
        era: Some(Era::B),
    },
    BugInfo {
        name: "error-path-keeps-extent",
        description: "page_mkwrite past EOF gives the reserved bytes back but not the outstanding extent",
        commit: "44db1216efe3 Btrfs: add missing extents release on file extent cluster relocation error",
        race: false,
        expected_fields: &["delalloc_rsv.reserved", "outcome"],
        reach: Reach::Fs,
        era: Some(Era::B),
    },
    BugInfo {
        name: "noreserve-data-freed",
        description: "a DO_ACCOUNTING clear frees data for a NORESERVE (metadata-only) record",
        commit: "7ee9e4405f26 Btrfs: check if we can nocow if we don't have data space (its clear-hook test); cf. 467dc47ea99c",
        race: false,
        expected_fields: &["data.bytes_may_use", "outcome"],
        reach: Reach::Fs,
        era: Some(Era::B),
    },
    BugInfo {
        name: "split-hook-after-cut",
        description: "split_state calls the split hook after cutting, so a split's extra extent is lost",
        commit: "none: an extent-tree bug of this suite's own (split)",
        race: false,
        expected_fields: OUTSTANDING,
        reach: Reach::Fs,
        era: None,
    },
    BugInfo {
        name: "merge-ignores-boundary",
        description: "merge_state merges BOUNDARY records with equal neighbours",
        commit: "none: an extent-tree bug of this suite's own (merge)",
        race: false,
        expected_fields: &["tree.records", "tree.outstanding_extents"],
        reach: Reach::Tree,
        era: None,
    },
    BugInfo {
        name: "exclusive-misses-straddler",
        description: "set_extent_bit skips the exclusive test for the record straddling start",
        commit: "none: an extent-tree bug of this suite's own (exclusive bits)",
        race: false,
        expected_fields: &["outcome", "tree.records", "tree.outstanding_extents"],
        reach: Reach::Tree,
        era: None,
    },
    BugInfo {
        name: "try-lock-keeps-prefix",
        description: "try_lock_extent leaves [start, failed_start - 1] locked on a conflict",
        commit: "none: an extent-tree bug of this suite's own (locking)",
        race: false,
        expected_fields: &["tree.records", "tree.outstanding_extents"],
        reach: Reach::Tree,
        era: None,
    },
    BugInfo {
        name: "find-delalloc-ignores-boundary",
        description: "find_delalloc_range runs on past a BOUNDARY record that is not the first",
        commit: "none: an extent-tree bug of this suite's own (query)",
        race: false,
        expected_fields: &["outcome"],
        reach: Reach::Tree,
        era: None,
    },
    BugInfo {
        name: "racing-release-ignored",
        description: "a failed reservation ignores a release that raced with it (csum leaves)",
        commit: "660d3f6cde55 Btrfs: fix how we do delalloc reservations and how we free reservations on error (seed 000, its racing-release branch)",
        race: true,
        expected_fields: &[],
        reach: Reach::Fs,
        era: Some(Era::B),
    },
    BugInfo {
        name: "dio-releases-shrunk-extents",
        description: "the era C direct write releases the reservation's extents for the allocated piece, not for all it reserved",
        commit: "6d82ad13c411 btrfs: release correct delalloc amount in direct IO write path",
        race: false,
        expected_fields: &[
            "inodes[].block_rsv.reserved",
            "inodes[].block_rsv.size",
            "inodes[].outstanding_extents",
            "meta.bytes_may_use",
            "outcome",
        ],
        reach: Reach::Fs,
        era: Some(Era::V6),
    },
    BugInfo {
        name: "short-copy-keeps-extent-bump",
        description: "era B's outstanding_extents++ before a short copy's tail release kept in era C, where nothing gives it back",
        commit: "8b62f87bad9c Btrfs: rework outstanding_extents (the +1 kept in cluster_pages_for_defrag, cf. 28c4a3e21ad0)",
        race: false,
        expected_fields: &[
            "inodes[].block_rsv.reserved",
            "inodes[].block_rsv.size",
            "inodes[].outstanding_extents",
            "meta.bytes_may_use",
            "outcome",
        ],
        reach: Reach::Fs,
        era: Some(Era::V6),
    },
    BugInfo {
        name: "error-path-keeps-extent-era-c",
        description: "era C page_mkwrite past EOF gives the bytes back but skips release_extents",
        commit: "44db1216efe3 Btrfs: add missing extents release on file extent cluster relocation error",
        race: false,
        expected_fields: &[
            "inodes[].block_rsv.reserved",
            "inodes[].block_rsv.size",
            "inodes[].outstanding_extents",
            "meta.bytes_may_use",
            "outcome",
        ],
        reach: Reach::Fs,
        era: Some(Era::V6),
    },
    BugInfo {
        name: "nocow-flag-not-reset",
        description: "after a metadata-only chunk, later chunks of the era C buffered write stay metadata-only though they reserved data",
        commit: "a0e248bb502d Btrfs: fix negative subv_writers counter and data space leak after buffered write",
        race: false,
        expected_fields: &[
            "data.bytes_may_use",
            "inodes[].block_rsv.reserved",
            "inodes[].block_rsv.size",
            "inodes[].outstanding_extents",
            "inodes[].records",
            "outcome",
        ],
        reach: Reach::Fs,
        era: Some(Era::V6),
    },

];

/// A name that is not one of [`Bug::ALL`]'s, or an empty one in a list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownBug(pub String);

impl fmt::Display for UnknownBug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("empty bug name")?;
        } else {
            write!(f, "unknown bug `{}`", self.0)?;
        }
        f.write_str("; valid bugs: ")?;
        for (i, b) in Bug::ALL.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(b.name())?;
        }
        Ok(())
    }
}

impl std::error::Error for UnknownBug {}

/// A set of bugs: one bit per [`Bug`]. `Copy`, so every layer keeps its own.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct BugSet(u32);

const _: () = assert!(Bug::ALL.len() <= 32, "BugSet is one u32");

impl BugSet {
    /// The correct model.
    pub const NONE: BugSet = BugSet(0);

    pub const fn with(self, bug: Bug) -> BugSet {
        BugSet(self.0 | 1 << bug as u32)
    }

    pub const fn union(self, other: BugSet) -> BugSet {
        BugSet(self.0 | other.0)
    }

    #[inline]
    pub const fn contains(self, bug: Bug) -> bool {
        self.0 & (1 << bug as u32) != 0
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// The bugs of the set, in [`Bug::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Bug> {
        Bug::ALL.into_iter().filter(move |&b| self.contains(b))
    }
}

impl From<Bug> for BugSet {
    fn from(bug: Bug) -> BugSet {
        BugSet::NONE.with(bug)
    }
}

impl FromIterator<Bug> for BugSet {
    fn from_iter<I: IntoIterator<Item = Bug>>(iter: I) -> BugSet {
        iter.into_iter().fold(BugSet::NONE, BugSet::with)
    }
}

/// Comma-separated names, surrounding whitespace ignored; `none` or nothing is the empty set.
impl FromStr for BugSet {
    type Err = UnknownBug;
    fn from_str(s: &str) -> Result<BugSet, UnknownBug> {
        let s = s.trim();
        if s.is_empty() || s == "none" {
            return Ok(BugSet::NONE);
        }
        s.split(',')
            .map(|name| name.trim().parse::<Bug>())
            .collect()
    }
}

/// The names, comma-separated, in [`Bug::ALL`] order; `none` for the empty set (which parses
/// back).
impl fmt::Display for BugSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        for (i, b) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(b.name())?;
        }
        Ok(())
    }
}

impl fmt::Debug for BugSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BugSet({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_is_in_declaration_order_and_names_are_unique_kebab_case() {
        for (i, b) in Bug::ALL.into_iter().enumerate() {
            assert_eq!(b as usize, i, "{b:?} out of order in Bug::ALL");
            assert_eq!(Bug::from_name(b.name()), Some(b));
            let n = b.name();
            assert!(
                !n.is_empty()
                    && n.bytes()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
                    && !n.starts_with('-')
                    && !n.ends_with('-')
                    && !n.contains("--"),
                "{n} is not kebab-case"
            );
            assert!(!b.description().is_empty() && !b.commit().is_empty());
            assert_eq!(
                b.expected_fields().is_empty(),
                b.is_race(),
                "{n}: a sequential bug names the fields it shows in, a race bug cannot yet"
            );
        }
        let mut names: Vec<&str> = Bug::ALL.iter().map(|b| b.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Bug::ALL.len());
    }

    #[test]
    fn sets_parse_print_and_round_trip() {
        let s: BugSet = " merge-hook-era-a , reserve-before-success"
            .parse()
            .unwrap();
        assert_eq!(
            s,
            BugSet::from(Bug::ReserveBeforeSuccess).with(Bug::MergeHookEraA)
        );
        assert_eq!(s.len(), 2);
        assert_eq!(s.to_string(), "reserve-before-success,merge-hook-era-a");
        assert_eq!(s.to_string().parse::<BugSet>(), Ok(s));
        assert!(s.contains(Bug::MergeHookEraA) && !s.contains(Bug::SplitHookEraA));
        assert_eq!("".parse::<BugSet>(), Ok(BugSet::NONE));
        assert_eq!(BugSet::NONE.to_string().parse::<BugSet>(), Ok(BugSet::NONE));
        let all: BugSet = Bug::ALL.into_iter().collect();
        assert_eq!(all.iter().collect::<Vec<_>>(), Bug::ALL);
        assert_eq!(all.to_string().parse::<BugSet>(), Ok(all));
    }

    #[test]
    fn a_bad_name_is_named_with_the_valid_ones() {
        let e = "merge-hook-era-a,no-such-bug"
            .parse::<BugSet>()
            .unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.starts_with("unknown bug `no-such-bug`; valid bugs: reserve-before-success, "),
            "{msg}"
        );
        assert!(msg.contains("find-delalloc-ignores-boundary"), "{msg}");
        let e = "merge-hook-era-a,,split-hook-era-a"
            .parse::<BugSet>()
            .unwrap_err();
        assert!(
            e.to_string().starts_with("empty bug name; valid bugs: "),
            "{e}"
        );
    }
}
