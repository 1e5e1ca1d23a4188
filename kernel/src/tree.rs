//! The safe API over the kernel's io tree (see the crate docs).

use crate::ffi;
use delalloc_contract::{Bits, Record};

/// The kernel release the crate was built against (from the source package's stamp or the
/// tree's Makefile), e.g. "6.12.118".
pub const KERNEL_RELEASE: &str = env!("DELALLOC_KERNEL_RELEASE");
/// The kernel tree the crate was built from.
pub const KERNEL_TREE: &str = env!("DELALLOC_KERNEL_TREE");
/// The patch (`DELALLOC_KERNEL_PATCH`, canonical path) the kernel files were built with, a
/// mutant for checking that the tests catch it; "" for the tree as it is.
pub const KERNEL_PATCH: &str = env!("DELALLOC_KERNEL_PATCH_FILE");
/// What build.rs read from the tree's extent-io-tree.h and extent-io-tree.c (the DK_* macros of
/// the glue).
pub const KERNEL_FEATURES: &str = env!("DELALLOC_KERNEL_FEATURES");
/// The functions build.rs extracted by name from the tree for the delalloc hooks, in file and
/// line order (e.g. "btrfs_mod_outstanding_extents count_max_extents
/// btrfs_split_delalloc_extent ...").
pub const KERNEL_EXTRACTED: &str = env!("DELALLOC_KERNEL_EXTRACTED");

/// An op this kernel tree cannot run as asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unsupported {
    /// A contract bit the tree does not have (its contract name, "WRITEBACK").
    Bit(&'static str),
    /// test_range_bit with several bits where the tree's takes one (6.12 ASSERTs
    /// is_power_of_2(bit)).
    SeveralBits,
}

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unsupported::Bit(bit) => {
                write!(f, "the kernel io tree of {KERNEL_RELEASE} has no {bit} bit")
            }
            Unsupported::SeveralBits => {
                write!(
                    f,
                    "test_range_bit of {KERNEL_RELEASE} takes one bit, not a mask"
                )
            }
        }
    }
}

/// Whether build.rs found `feature` (a DK_* macro name) in the tree's declarations.
pub fn kernel_has(feature: &str) -> bool {
    KERNEL_FEATURES.split(' ').any(|f| f == feature)
}

impl std::error::Error for Unsupported {}

/// The contract's bits and this tree's values for them, by name.
#[derive(Clone, Debug)]
pub struct BitMap {
    /// (contract bit, its name, the kernel's value or 0 when absent)
    pairs: Vec<(Bits, &'static str, u32)>,
}

impl BitMap {
    pub(crate) fn new() -> BitMap {
        BitMap {
            pairs: Bits::NAMES
                .iter()
                .map(|&(name, bit)| (bit, name, ffi::bit_value(name)))
                .collect(),
        }
    }

    /// The kernel's mask for `bits`, or the first contract bit the tree lacks.
    pub fn to_kernel(&self, bits: Bits) -> Result<u32, Unsupported> {
        let mut k = 0;
        for &(bit, name, value) in &self.pairs {
            if bits.contains(bit) {
                if value == 0 {
                    return Err(Unsupported::Bit(name));
                }
                k |= value;
            }
        }
        let known = self.pairs.iter().fold(Bits::NONE, |acc, p| acc.union(p.0));
        assert!(known.contains(bits), "bits {bits:?} outside Bits::NAMES");
        Ok(k)
    }

    /// The contract bits of a stored kernel state, and the kernel bits that have no contract name.
    /// Composite contract bits (DO_ACCOUNTING) are control bits, never stored, so skipped here.
    pub fn from_kernel(&self, state: u32) -> (Bits, u32) {
        let mut bits = Bits::NONE;
        let mut rest = state;
        for &(bit, _, value) in &self.pairs {
            if value != 0 && bit.minus(Bits::CONTROL) == bit && state & value == value {
                bits = bits.union(bit);
                rest &= !value;
            }
        }
        (bits, rest)
    }

    /// Whether the tree has the contract bit called `name`.
    pub fn has(&self, name: &str) -> bool {
        self.pairs.iter().any(|&(_, n, v)| n == name && v != 0)
    }
}

/// A record as the kernel tree holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelRecord {
    /// The record in the contract's terms.
    pub record: Record,
    /// Kernel bits without a contract name (0 unless something outside this API set them).
    pub extra: u32,
}

/// A WARN_ON, ASSERT, refcount complaint or message the kernel code produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelReport {
    /// "WARN_ON", "WARN", "ASSERT", "REFCOUNT" or "MESSAGE".
    pub kind: String,
    /// The kernel file and line ("…/extent-io-tree.c:1655"), or "printk:0" for messages.
    pub location: String,
    /// The condition that fired, or the message.
    pub text: String,
}

/// What the kernel's delalloc hooks keep for an inode's tree ([`KernelTree::with_hooks`]), read
/// back after any op. All zero on a self-test tree ([`KernelTree::new`]).
///
/// The first four are the kernel's own numbers: the fields of `struct btrfs_inode` that the
/// hooks extracted from the tree's inode.c change (btrfs_set/clear/merge/split_delalloc_extent,
/// with btrfs_mod_outstanding_extents and count_max_extents from the headers). Only the hooks
/// change them here (no reservation code runs), so `outstanding_extents` is the tree's share:
/// Σ count_max_extents(len) over DELALLOC records, kept by the kernel's merge/split arithmetic.
/// `defrag_bytes` is counted as the kernel counts it: += len when a record *gains DELALLOC* in a
/// set whose bits have DEFRAG, −= len when DEFRAG is cleared from a record holding it.
///
/// `released_meta_bytes` and `freed_data_bytes` are the kernel's too, read as differences: the
/// stand-alone tree's inode starts with csum_bytes and its file system's data bytes_may_use at
/// 2^62, and the clear hook's calls of the kernel's btrfs_delalloc_release_metadata (a record
/// losing DELALLOC with EXTENT_CLEAR_META_RESV in the bits) and
/// btrfs_free_reserved_data_space_noquota (the same without NORESERVE, with
/// EXTENT_CLEAR_DATA_RESV) bring them down by the record's length. `fs_delalloc_bytes` is
/// `fs_info->delalloc_bytes`, which our percpu_counter_add_batch keeps as a plain s64.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HookCounters {
    /// btrfs_inode::outstanding_extents (the kernel's).
    pub outstanding_extents: u64,
    /// btrfs_inode::delalloc_bytes (the kernel's).
    pub delalloc_bytes: u64,
    /// btrfs_inode::defrag_bytes (the kernel's).
    pub defrag_bytes: u64,
    /// btrfs_inode::new_delalloc_bytes (the kernel's).
    pub new_delalloc_bytes: u64,
    /// Σ bytes btrfs_delalloc_release_metadata released (2^62 − the inode's csum_bytes).
    pub released_meta_bytes: u64,
    /// Σ bytes btrfs_free_reserved_data_space_noquota freed (2^62 − data bytes_may_use).
    pub freed_data_bytes: u64,
    /// fs_info->delalloc_bytes (the kernel's counter, a plain s64 here).
    pub fs_delalloc_bytes: i64,
}

/// One kernel `struct extent_io_tree` behind a handle that also holds one cached_state.
///
/// Two kinds:
/// - [`KernelTree::new`]: an IO_TREE_SELFTEST tree without an inode, as the kernel's self-tests
///   make: the kernel calls no delalloc hook for it, [`KernelTree::hook_counters`] stay 0;
/// - [`KernelTree::with_hooks`]: an IO_TREE_INODE_IO tree owned by a shim inode, for which the
///   kernel's extent-io-tree.c calls the kernel's own delalloc hooks (extracted from the tree's
///   inode.c at build time); they account in that inode, read by `hook_counters`.
///
/// **Cached state.** The handle holds one `struct extent_state *`, the kernel's cached_state
/// cursor, with a counted reference. The ops with a `cached` flag ([`KernelTree::set_bits`],
/// [`KernelTree::clear_bits`]) pass it by address to the kernel: with `cached == false` the held
/// one is freed first and the op gets an empty one it may fill; with `cached == true` it gets
/// the one the previous op left, as it is (maybe none, maybe a record since merged away or
/// freed, which the kernel then ignores). What the kernel does with it is its own rule:
/// __set_extent_bit caches the first record it goes over that holds LOCKED or BOUNDARY (if none
/// is held) and starts from the cached record when it holds `start`; __clear_extent_bit starts from it likewise, and when it
/// clears LOCKED or BOUNDARY drops it (the handle then holds none). Every other op passes no
/// cached state (NULL) and leaves the held one alone. It is freed when the tree is dropped.
///
/// Locks never wait: [`KernelTree::lock`] on a range with a locked byte answers `false` and
/// leaves the tree as it was, where the kernel's lock_extent would sleep until it was unlocked;
/// [`KernelTree::lock_range`] does lock_extent's first attempt and answers the failed_start.
pub struct KernelTree {
    raw: ffi::RawTree,
    map: BitMap,
}

impl Default for KernelTree {
    fn default() -> Self {
        KernelTree::new()
    }
}

impl KernelTree {
    /// A self-test tree: no inode, no hooks.
    pub fn new() -> KernelTree {
        KernelTree {
            raw: ffi::RawTree::new(),
            map: BitMap::new(),
        }
    }

    /// An inode-owned tree whose delalloc hooks are the kernel's (fs_info->max_extent_size =
    /// max_extent_size).
    ///
    /// The inode's root is a subvolume (not the tree root, not the data relocation tree), the
    /// inode is not the free-space cache's and the fs_info is not a self-test one, so the hooks
    /// run all their accounting; fs_info->sectorsize is 4096. Panics unless max_extent_size is
    /// in 1..2^32 (count_max_extents divides by it; the kernel's div_u64 takes it as a u32).
    pub fn with_hooks(max_extent_size: u64) -> KernelTree {
        KernelTree {
            raw: ffi::RawTree::with_hooks(max_extent_size),
            map: BitMap::new(),
        }
    }

    /// __set_extent_bit(start, end, bits, &failed_start, cached): Ok(Ok(())) or
    /// Ok(Err(failed_start)) on EEXIST.
    ///
    /// The exclusive bits are the kernel's rule, read by build.rs from the tree's own
    /// __set_extent_bit (`bits & EXTENT_LOCKED` in 6.1, `bits & EXTENT_LOCK_BITS` in 6.12): a
    /// LOCKED in `bits` makes the call exclusive, it stops at the first record in the range
    /// already holding LOCKED and answers where (what was set before stays set, unlike
    /// [`KernelTree::lock_range`]). `cached`: see the type's doc.
    pub fn set_bits(
        &mut self,
        start: u64,
        end: u64,
        bits: Bits,
        cached: bool,
    ) -> Result<Result<(), u64>, Unsupported> {
        let k = self.map.to_kernel(bits)?;
        Ok(self.raw.ops().set_bits(start, end, k, cached))
    }

    /// __clear_extent_bit(start, end, bits, cached) with `delete` as EXTENT_CLEAR_ALL_BITS (every
    /// bit is cleared, in 6.1 and 6.12). `wake` changes nothing: these trees' __clear_extent_bit
    /// derives waking from the lock bits cleared, and nothing ever waits here. DELALLOC in the
    /// bits clears NORESERVE too (the kernel's rule). `cached`: see the type's doc.
    pub fn clear_bits(
        &mut self,
        start: u64,
        end: u64,
        bits: Bits,
        wake: bool,
        delete: bool,
        cached: bool,
    ) -> Result<(), Unsupported> {
        let k = self.map.to_kernel(bits)?;
        let ret = self
            .raw
            .ops()
            .clear_bits(start, end, k, wake, delete, cached);
        assert_eq!(ret, 0, "__clear_extent_bit returned {ret}");
        Ok(())
    }

    /// btrfs_set_extent_delalloc(start, end, extra_bits = 0) on the tree's inode, whose i_size
    /// is 0: its `start >= i_size` branch (6.1 inode.c:2861, 6.12 :2808) adds DELALLOC_NEW, then
    /// sets DELALLOC | DELALLOC_NEW, through 6.1's set_extent_delalloc (extent-io-tree.h) or
    /// 6.12's set_extent_bit. The branch is ours (the function is not extracted: its other
    /// branch walks the extent maps); the set and the hooks are the kernel's. Neither release
    /// sets UPTODATE. No cached state.
    pub fn set_delalloc(&mut self, start: u64, end: u64) -> Result<(), Unsupported> {
        self.map.to_kernel(Bits::DELALLOC | Bits::DELALLOC_NEW)?;
        let ret = self.raw.ops().set_delalloc(start, end);
        assert_eq!(
            ret, 0,
            "set_extent_bit(DELALLOC | DELALLOC_NEW) returned {ret}"
        );
        Ok(())
    }

    /// lock_extent's first attempt: Ok(()) or Err(failed_start) with the partial lock undone.
    ///
    /// As 6.1's lock_extent and 6.12's __lock_extent do it: __set_extent_bit(LOCKED,
    /// &failed_start), and on EEXIST clear LOCKED from [start, failed_start - 1]. The kernel
    /// would then wait for the record at failed_start to be unlocked and try again: ours is to
    /// answer instead, since on one thread that wait cannot end. No cached state.
    pub fn lock_range(&mut self, start: u64, end: u64) -> Result<(), u64> {
        self.raw.ops().lock_range(start, end)
    }

    /// What the hooks have counted so far (see [`HookCounters`]).
    pub fn hook_counters(&mut self) -> HookCounters {
        let c = self.raw.hook_counters();
        HookCounters {
            outstanding_extents: c.outstanding_extents,
            delalloc_bytes: c.delalloc_bytes,
            defrag_bytes: c.defrag_bytes,
            new_delalloc_bytes: c.new_delalloc_bytes,
            released_meta_bytes: c.released_meta_bytes,
            freed_data_bytes: c.freed_data_bytes,
            fs_delalloc_bytes: c.fs_delalloc_bytes,
        }
    }

    /// The cached state the handle holds: its range and whether it is still in the tree (a
    /// record merged away or cleared stays alive while referenced), or None.
    pub fn cached_state(&mut self) -> Option<(u64, u64, bool)> {
        self.raw.ops().cached_state()
    }

    /// The name mapping of this tree's bits.
    pub fn bit_map(&self) -> &BitMap {
        &self.map
    }

    /// set_extent_bit(start, end, bits): the kernel's return value (0, or -EEXIST).
    pub fn set(&mut self, start: u64, end: u64, bits: Bits) -> Result<i32, Unsupported> {
        let k = self.map.to_kernel(bits)?;
        Ok(self.raw.ops().set(start, end, k))
    }

    /// clear_extent_bit(start, end, bits, no cached state); the kernel's return value (0).
    pub fn clear(&mut self, start: u64, end: u64, bits: Bits) -> Result<i32, Unsupported> {
        let k = self.map.to_kernel(bits)?;
        Ok(self.raw.ops().clear(start, end, k))
    }

    /// convert_extent_bit(start, end, set, clear).
    pub fn convert(
        &mut self,
        start: u64,
        end: u64,
        set: Bits,
        clear: Bits,
    ) -> Result<i32, Unsupported> {
        let (s, c) = (self.map.to_kernel(set)?, self.map.to_kernel(clear)?);
        Ok(self.raw.ops().convert(start, end, s, c))
    }

    /// try_lock_extent(start, end): whether it locked [start, end].
    pub fn try_lock(&mut self, start: u64, end: u64) -> bool {
        self.raw.ops().try_lock(start, end)
    }

    /// lock_extent(start, end) for a single thread: as try_lock, `false` where the kernel would
    /// wait (a lock that can never be released while this thread sleeps).
    pub fn lock(&mut self, start: u64, end: u64) -> bool {
        self.raw.ops().try_lock(start, end)
    }

    /// unlock_extent(start, end).
    pub fn unlock(&mut self, start: u64, end: u64) -> i32 {
        self.raw.ops().unlock(start, end)
    }

    /// test_range_bit(start, end, bits, filled) (6.12: test_range_bit / test_range_bit_exists,
    /// which take a single bit: a mask of several is [`Unsupported::SeveralBits`] there).
    pub fn test_range_bit(
        &mut self,
        start: u64,
        end: u64,
        bits: Bits,
        filled: bool,
    ) -> Result<bool, Unsupported> {
        let k = self.map.to_kernel(bits)?;
        if kernel_has("DK_TEST_RANGE_ONE_BIT") && !k.is_power_of_two() {
            return Err(Unsupported::SeveralBits);
        }
        Ok(self.raw.ops().test_range_bit(start, end, k, filled))
    }

    /// count_range_bits(&start, search_end, max_bytes, bits, contig): (bytes, start written back).
    pub fn count_range_bits(
        &mut self,
        start: u64,
        search_end: u64,
        max_bytes: u64,
        bits: Bits,
        contig: bool,
    ) -> Result<(u64, u64), Unsupported> {
        let k = self.map.to_kernel(bits)?;
        Ok(self
            .raw
            .ops()
            .count_range_bits(start, search_end, max_bytes, k, contig))
    }

    /// find_first_extent_bit(start, bits): the first record at or after start having a bit.
    pub fn find_first_extent_bit(
        &mut self,
        start: u64,
        bits: Bits,
    ) -> Result<Option<(u64, u64)>, Unsupported> {
        let k = self.map.to_kernel(bits)?;
        Ok(self.raw.ops().find_first_extent_bit(start, k))
    }

    /// find_first_clear_extent_bit(start, bits): (start_ret, end_ret).
    pub fn find_first_clear_extent_bit(
        &mut self,
        start: u64,
        bits: Bits,
    ) -> Result<(u64, u64), Unsupported> {
        let k = self.map.to_kernel(bits)?;
        Ok(self.raw.ops().find_first_clear_extent_bit(start, k))
    }

    /// btrfs_find_delalloc_range(&start, &end, max_bytes): (found, start, end) as it leaves
    /// them; `end` is the value passed in for the kernel to overwrite.
    pub fn find_delalloc(&mut self, start: u64, end: u64, max_bytes: u64) -> (bool, u64, u64) {
        self.raw.ops().find_delalloc(start, end, max_bytes)
    }

    /// The records, in order.
    pub fn kernel_records(&mut self) -> Vec<KernelRecord> {
        let map = &self.map;
        self.raw
            .ops()
            .records()
            .into_iter()
            .map(|(start, end, state)| {
                let (bits, extra) = map.from_kernel(state);
                KernelRecord {
                    record: Record { start, end, bits },
                    extra,
                }
            })
            .collect()
    }

    /// The records in the contract's terms; panics if a record holds a bit without a contract
    /// name (this API never sets one).
    pub fn records(&mut self) -> Vec<Record> {
        self.kernel_records()
            .into_iter()
            .map(|r| {
                assert_eq!(
                    r.extra, 0,
                    "record {:?} holds kernel bits {:#x} without a contract name",
                    r.record, r.extra
                );
                r.record
            })
            .collect()
    }
}

/// The WARN_ON / ASSERT / messages the kernel code produced on this thread since the last call,
/// and how many more were lost to the C buffer's size.
pub fn take_reports() -> (Vec<KernelReport>, u64) {
    let (text, lost) = ffi::take_reports();
    let reports = text
        .lines()
        .map(|line| {
            let (kind, rest) = line.split_once(' ').unwrap_or((line, ""));
            let (location, text) = rest.split_once(": ").unwrap_or((rest, ""));
            KernelReport {
                kind: kind.to_string(),
                location: location.to_string(),
                text: text.to_string(),
            }
        })
        .collect();
    (reports, lost)
}
