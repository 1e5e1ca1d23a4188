//! The kernel's own io tree, compiled from a Linux source tree (see README.md and build.rs),
//! behind a safe API whose bits are the contract's [`Bits`].
//!
//! Bits are mapped by name: the contract's DELALLOC is the kernel tree's `EXTENT_DELALLOC`,
//! whatever its value (0x10 in 6.1, 0x20 in 6.12). A contract bit the tree does not have
//! (WRITEBACK, gone from the 6.x io tree) makes the op [`Unsupported`]: the kernel model will
//! report such an op as unsupported rather than drop the bit, because a program using it tests a
//! rule the kernel no longer has. Kernel bits the contract lacks (6.12's DIO_LOCKED, ...) are
//! never set through this API; if one shows up in a record it is kept in [`KernelRecord::extra`].

#![forbid(unsafe_op_in_unsafe_fn)]

mod ffi;

use delalloc_contract::{Bits, Record};

/// The kernel release the crate was built against (from the source package's stamp or the
/// tree's Makefile), e.g. "6.12.118".
pub const KERNEL_RELEASE: &str = env!("DELALLOC_KERNEL_RELEASE");
/// The kernel tree the crate was built from.
pub const KERNEL_TREE: &str = env!("DELALLOC_KERNEL_TREE");
/// The patch (`DELALLOC_KERNEL_PATCH`, canonical path) the kernel files were built with, a
/// mutant for checking that the tests catch it; "" for the tree as it is.
pub const KERNEL_PATCH: &str = env!("DELALLOC_KERNEL_PATCH_FILE");
/// What build.rs read from the tree's extent-io-tree.h (the DK_* macros of the glue).
pub const KERNEL_FEATURES: &str = env!("DELALLOC_KERNEL_FEATURES");

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
    fn new() -> BitMap {
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

/// One kernel `struct extent_io_tree` (an IO_TREE_SELFTEST tree without an inode: the kernel
/// calls no delalloc hook for it; hooks come in the next step of issue 13).
///
/// Locks never wait: [`KernelTree::lock`] on a range with a locked byte answers `false` and
/// leaves the tree as it was, where the kernel's lock_extent would sleep until it was unlocked.
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
    pub fn new() -> KernelTree {
        let raw = ffi::RawTree::new();
        KernelTree {
            raw,
            map: BitMap::new(),
        }
    }

    /// The name mapping of this tree's bits.
    pub fn bit_map(&self) -> &BitMap {
        &self.map
    }

    /// set_extent_bit(start, end, bits): the kernel's return value (0, or -EEXIST).
    pub fn set(&mut self, start: u64, end: u64, bits: Bits) -> Result<i32, Unsupported> {
        let k = self.map.to_kernel(bits)?;
        Ok(self.raw.set(start, end, k))
    }

    /// clear_extent_bit(start, end, bits, no cached state).
    pub fn clear(&mut self, start: u64, end: u64, bits: Bits) -> Result<i32, Unsupported> {
        let k = self.map.to_kernel(bits)?;
        Ok(self.raw.clear(start, end, k))
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
        Ok(self.raw.convert(start, end, s, c))
    }

    /// try_lock_extent(start, end): whether it locked [start, end].
    pub fn try_lock(&mut self, start: u64, end: u64) -> bool {
        self.raw.try_lock(start, end)
    }

    /// lock_extent(start, end) for a single thread: as try_lock, `false` where the kernel would
    /// wait (a lock that can never be released while this thread sleeps).
    pub fn lock(&mut self, start: u64, end: u64) -> bool {
        self.raw.try_lock(start, end)
    }

    /// unlock_extent(start, end).
    pub fn unlock(&mut self, start: u64, end: u64) -> i32 {
        self.raw.unlock(start, end)
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
        Ok(self.raw.test_range_bit(start, end, k, filled))
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
            .count_range_bits(start, search_end, max_bytes, k, contig))
    }

    /// find_first_extent_bit(start, bits): the first record at or after start having a bit.
    pub fn find_first_extent_bit(
        &mut self,
        start: u64,
        bits: Bits,
    ) -> Result<Option<(u64, u64)>, Unsupported> {
        let k = self.map.to_kernel(bits)?;
        Ok(self.raw.find_first_extent_bit(start, k))
    }

    /// find_first_clear_extent_bit(start, bits): (start_ret, end_ret).
    pub fn find_first_clear_extent_bit(
        &mut self,
        start: u64,
        bits: Bits,
    ) -> Result<(u64, u64), Unsupported> {
        let k = self.map.to_kernel(bits)?;
        Ok(self.raw.find_first_clear_extent_bit(start, k))
    }

    /// btrfs_find_delalloc_range(&start, &end, max_bytes): (found, start, end) as it leaves
    /// them; `end` is the value passed in for the kernel to overwrite.
    pub fn find_delalloc(&mut self, start: u64, end: u64, max_bytes: u64) -> (bool, u64, u64) {
        self.raw.find_delalloc(start, end, max_bytes)
    }

    /// The records, in order.
    pub fn kernel_records(&mut self) -> Vec<KernelRecord> {
        let map = &self.map;
        self.raw
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
