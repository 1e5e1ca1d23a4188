//! The file system a program runs on: sizes that the accounting formulas read.

use crate::Bits;
use serde::{Deserialize, Serialize};

/// Which kernel the models follow (SPEC §0): its extent-io-tree rules (§1.2) and its
/// reservation design ([`Era::accounting`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Era {
    /// Era B (Linux 4.4, with the departures of SPEC §0): the rules of SPEC §1-§6. The default.
    #[default]
    B,
    /// The 6.1 and 6.12 kernels: their io tree (fs/btrfs/extent-io-tree.c, SPEC §1.2) and era
    /// C's per-inode block reservation (delalloc-space.c, block-rsv.c, SPEC §4.1), read in both
    /// releases, which agree on every rule the models can see.
    V6,
}

impl Era {
    /// Every era, in the order of their fuzz-input numbers (the index is the number).
    pub const ALL: [Era; 2] = [Era::B, Era::V6];

    /// The word of the geometry line's `era=`.
    pub fn name(self) -> &'static str {
        match self {
            Era::B => "b",
            Era::V6 => "6",
        }
    }

    /// The era whose [`Era::name`] is `name`.
    pub fn from_name(name: &str) -> Option<Era> {
        Era::ALL.into_iter().find(|e| e.name() == name)
    }

    /// Bits that keep a record from merging (merge_state): era B's EXTENT_IOBITS |
    /// EXTENT_BOUNDARY; 6.x's lock bits | EXTENT_BOUNDARY (WRITEBACK is no io-tree bit there).
    pub const fn no_merge(self) -> Bits {
        match self {
            Era::B => Bits::NO_MERGE,
            Era::V6 => Bits(Bits::LOCKED.0 | Bits::BOUNDARY.0),
        }
    }

    /// Bits a program of this era may name: 6.x has no EXTENT_WRITEBACK.
    pub const fn storable(self) -> Bits {
        match self {
            Era::B => Bits::STORABLE,
            Era::V6 => Bits(Bits::STORABLE.0 & !Bits::WRITEBACK.0),
        }
    }

    /// set_extent_bit, a record that starts before the range and already has every bit asked
    /// for: 6.x moves past it unsplit; era B splits it.
    pub const fn set_skips_covered(self) -> bool {
        matches!(self, Era::V6)
    }

    /// count_range_bits answers 0 for `end <= start` in era B, only for `end < start` in 6.x
    /// (which validation already rejects).
    pub const fn count_empty(self, start: u64, end: u64) -> bool {
        match self {
            Era::B => end <= start,
            Era::V6 => end < start,
        }
    }

    /// Era B's count_range_bits shortcut: from offset 0 for exactly DIRTY, the tree's
    /// dirty_bytes. 6.x has none.
    pub fn count_dirty_shortcut(self, start: u64, bits: Bits) -> bool {
        self == Era::B && start == 0 && bits == Bits::DIRTY
    }

    /// The bits the tree-level `set_delalloc` sets: 4.x set_extent_delalloc's DELALLOC |
    /// UPTODATE in era B; in 6.x, btrfs_set_extent_delalloc on the stand-alone tree's inode,
    /// whose i_size is 0, so its `start >= i_size` branch adds DELALLOC_NEW: DELALLOC |
    /// DELALLOC_NEW (SPEC §1.2).
    pub fn delalloc_bits(self) -> Bits {
        match self {
            Era::B => Bits::DELALLOC.union(Bits::UPTODATE),
            Era::V6 => Bits::DELALLOC.union(Bits::DELALLOC_NEW),
        }
    }
}

/// How the file-system ops account their metadata (SPEC §0): the era's reservation design.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Accounting {
    /// Era B (4.2–4.14): reserved_extents, DELALLOC_META_RESERVED, one fs-wide delalloc block
    /// reservation, the delayed-inode steal chain (SPEC §4, §5).
    B,
    /// Era C (4.15 to 6.x): a block reservation per inode, sized from outstanding_extents and
    /// csum_bytes (6.12 delalloc-space.c, SPEC §4.1, §5.1).
    C,
}

impl Era {
    /// The reservation design of this era's kernels: era 6's is era C.
    pub const fn accounting(self) -> Accounting {
        match self {
            Era::B => Accounting::B,
            Era::V6 => Accounting::C,
        }
    }
}

impl std::fmt::Display for Era {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Fixed for a whole program. Every field is validated by [`Geometry::validate`]; both models may
/// assume a validated geometry.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Geometry {
    /// Sector (and page) size in bytes: a power of two, 512..=65536.
    pub sectorsize: u64,
    /// Metadata node size: a power of two, sectorsize..=65536.
    pub nodesize: u64,
    /// BTRFS_MAX_EXTENT_SIZE, the unit of count_max_extents: a multiple of sectorsize. The kernel's
    /// is 128 MiB; smaller values make the count matter for small ranges (as the kernel's own
    /// self-tests do by patching it).
    pub max_extent: u64,
    /// The largest piece a buffered write reserves at once (the kernel's nrptrs pages): a multiple
    /// of sectorsize, at most max_extent.
    pub write_chunk: u64,
    /// Total data space in bytes.
    pub data_bytes: u64,
    /// Total metadata space in bytes.
    pub meta_bytes: u64,
    /// Size of the global block reservation, filled at mount from metadata space (at most meta_bytes).
    pub global_rsv: u64,
    /// Number of inodes the file-system ops address: 1..=8.
    pub inodes: u8,
    /// Whose io-tree rules apply; era B unless the program says otherwise.
    #[serde(default)]
    pub era: Era,
}

/// As derived, except that `era` is shown only when it is not the default: an era-B program's
/// debug text is what it was before eras existed (the committed seeds' golden file holds it).
impl std::fmt::Debug for Geometry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("Geometry");
        d.field("sectorsize", &self.sectorsize)
            .field("nodesize", &self.nodesize)
            .field("max_extent", &self.max_extent)
            .field("write_chunk", &self.write_chunk)
            .field("data_bytes", &self.data_bytes)
            .field("meta_bytes", &self.meta_bytes)
            .field("global_rsv", &self.global_rsv)
            .field("inodes", &self.inodes);
        if self.era != Era::default() {
            d.field("era", &self.era);
        }
        d.finish()
    }
}

/// One mebibyte, in bytes.
pub const MIB: u64 = 1 << 20;

impl Default for Geometry {
    fn default() -> Self {
        Geometry {
            sectorsize: 4096,
            nodesize: 16384,
            max_extent: 128 * MIB,
            write_chunk: 2 * MIB,
            data_bytes: 1 << 30,
            meta_bytes: 256 * MIB,
            global_rsv: 16 * MIB,
            inodes: 2,
            era: Era::B,
        }
    }
}

impl Geometry {
    /// BTRFS_MAX_LEVEL: every reserved item may COW a path of this many nodes, twice.
    pub const MAX_LEVEL: u64 = 8;

    /// Checks the invariants listed on the fields; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        let pow2 = |v: u64| v != 0 && v & (v - 1) == 0;
        if !pow2(self.sectorsize) || !(512..=65536).contains(&self.sectorsize) {
            return Err(format!(
                "sectorsize {} is not a power of two in 512..=65536",
                self.sectorsize
            ));
        }
        if !pow2(self.nodesize) || self.nodesize < self.sectorsize || self.nodesize > 65536 {
            return Err(format!(
                "nodesize {} is not a power of two in sectorsize..=65536",
                self.nodesize
            ));
        }
        if self.max_extent == 0 || !self.max_extent.is_multiple_of(self.sectorsize) {
            return Err(format!(
                "max_extent {} is not a positive multiple of sectorsize",
                self.max_extent
            ));
        }
        if self.write_chunk == 0
            || !self.write_chunk.is_multiple_of(self.sectorsize)
            || self.write_chunk > self.max_extent
        {
            return Err(format!(
                "write_chunk {} is not a positive multiple of sectorsize at most max_extent",
                self.write_chunk
            ));
        }
        if self.global_rsv > self.meta_bytes {
            return Err(format!(
                "global_rsv {} is larger than meta_bytes {}",
                self.global_rsv, self.meta_bytes
            ));
        }
        if self.data_bytes > 1 << 50 || self.meta_bytes > 1 << 50 {
            return Err("data_bytes and meta_bytes must be at most 2^50".into());
        }
        if !(1..=8).contains(&self.inodes) {
            return Err(format!("inodes {} is not in 1..=8", self.inodes));
        }
        Ok(())
    }

    /// count_max_extents(len): how many extents of at most max_extent cover len bytes.
    pub fn count_max_extents(&self, len: u64) -> u64 {
        if len <= self.max_extent {
            u64::from(len != 0)
        } else {
            len.div_ceil(self.max_extent)
        }
    }

    /// btrfs_calc_trans_metadata_size(n): nodesize * BTRFS_MAX_LEVEL * 2 * n.
    pub fn trans_metadata_size(&self, items: u64) -> u64 {
        self.nodesize * Self::MAX_LEVEL * 2 * items
    }

    /// btrfs_calc_metadata_size(n) (6.12 fs.h:959): nodesize * BTRFS_MAX_LEVEL * n, the
    /// reservation of one item that is updated, not inserted (era C's inode update).
    pub fn metadata_size(&self, items: u64) -> u64 {
        self.nodesize * Self::MAX_LEVEL * items
    }

    /// Checksums one leaf holds: a leaf less its 101-byte header and one 25-byte item header
    /// (BTRFS_MAX_ITEM_SIZE), in 4-byte crc32c checksums; 4,064 with 16 KiB nodes. The same in
    /// every era: 4.4's btrfs_csum_bytes_to_leaves (extent-tree.c) divides
    /// BTRFS_LEAF_DATA_SIZE - sizeof(struct btrfs_item) by the checksum size on each call, and
    /// 6.12 keeps that quotient in fs_info->csums_per_leaf (disk-io.c:3295). (SPEC notation.)
    pub fn csums_per_leaf(&self) -> u64 {
        (self.nodesize - 101 - 25) / 4
    }

    /// Leaves needed for the checksums of `csum_bytes` bytes of data.
    pub fn csum_leaves(&self, csum_bytes: u64) -> u64 {
        (csum_bytes / self.sectorsize).div_ceil(self.csums_per_leaf())
    }

    /// `v` rounded down to a sector boundary.
    pub fn round_down(&self, v: u64) -> u64 {
        v & !(self.sectorsize - 1)
    }
    /// `v` rounded up to a sector boundary.
    pub fn round_up(&self, v: u64) -> u64 {
        self.round_down(v + self.sectorsize - 1)
    }
}
