//! What an operation answers. Compared exactly between the models.

use crate::Bits;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The answer of one op: an error code, a query's result, or plain success.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// The op did what it was asked.
    Done,
    /// A write accepted `bytes` bytes (less than asked after a short copy or a mid-write ENOSPC).
    Written {
        /// Bytes the write took.
        bytes: u64,
    },
    /// A reservation failed before anything was written.
    Enospc,
    /// set_extent_bit hit an exclusive bit at `failed_start`.
    Exists {
        /// Where the first record with an exclusive bit meets the range.
        failed_start: u64,
    },
    /// lock_extent found a LOCKED record at `failed_start` and, with no other task to wait for,
    /// undid its partial lock.
    WouldBlock {
        /// Where the first LOCKED record meets the range.
        failed_start: u64,
    },
    /// try_lock_extent failed and undid its partial lock.
    Busy,
    /// The user copy faulted before a byte was copied (EFAULT), or page_mkwrite hit a page past
    /// EOF (VM_FAULT_NOPAGE). Nothing stays reserved.
    Fault,
    /// finish_ordered on an inode without ordered extents.
    NoOrderedExtent,
    /// The file system is unmounted; the op did nothing.
    Unmounted,
    /// Answer of test_range_bit.
    Test {
        /// With `filled`: every byte of the range lies in a record with one of the bits;
        /// without: some record in the range has one.
        result: bool,
    },
    /// Answer of count_range_bits: bytes counted and where the first counted record starts
    /// (the kernel's updated *start; the query's start when nothing was counted).
    Count {
        /// Bytes counted.
        bytes: u64,
        /// Start of the first counted record (the query's start if none).
        first_start: u64,
    },
    /// Answer of find_first_extent_bit: the whole first matching record.
    Found {
        /// The record's start, inclusive end and bits; `None` if no record matches.
        found: Option<(u64, u64, Bits)>,
    },
    /// Answer of find_delalloc_range: found, and the kernel's *start and *end after the call.
    Delalloc {
        /// Whether delalloc was found at or after the start.
        found: bool,
        /// *start after the call.
        start: u64,
        /// *end after the call.
        end: u64,
    },
    /// Answer of find_first_clear_extent_bit: the kernel's start_ret and end_ret (SPEC §1.1).
    Clear {
        /// The first clear byte's range start (may lie before the query's start).
        start: u64,
        /// Its inclusive end; u64::MAX for the kernel's `(u64)-1`.
        end: u64,
    },
}

impl Outcome {
    /// Every variant's name, in [`Outcome::index`] order: the rows of a campaign's outcome
    /// table.
    pub const NAMES: [&'static str; 14] = [
        "done",
        "written",
        "enospc",
        "exists",
        "would_block",
        "busy",
        "fault",
        "no_ordered_extent",
        "unmounted",
        "test",
        "count",
        "found",
        "delalloc",
        "clear",
    ];

    /// The variant's position in [`Outcome::NAMES`].
    pub fn index(&self) -> usize {
        match self {
            Outcome::Done => 0,
            Outcome::Written { .. } => 1,
            Outcome::Enospc => 2,
            Outcome::Exists { .. } => 3,
            Outcome::WouldBlock { .. } => 4,
            Outcome::Busy => 5,
            Outcome::Fault => 6,
            Outcome::NoOrderedExtent => 7,
            Outcome::Unmounted => 8,
            Outcome::Test { .. } => 9,
            Outcome::Count { .. } => 10,
            Outcome::Found { .. } => 11,
            Outcome::Delalloc { .. } => 12,
            Outcome::Clear { .. } => 13,
        }
    }

    /// The variant's name.
    pub fn name(&self) -> &'static str {
        Outcome::NAMES[self.index()]
    }
}

/// The way traces and reports print an outcome: `written(4096)`, `exists(failed_start=8192)`.
impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Outcome::Written { bytes } => write!(f, "written({bytes})"),
            Outcome::Exists { failed_start } => write!(f, "exists(failed_start={failed_start})"),
            Outcome::WouldBlock { failed_start } => {
                write!(f, "would_block(failed_start={failed_start})")
            }
            Outcome::Test { result } => write!(f, "test({result})"),
            Outcome::Count { bytes, first_start } => {
                write!(f, "count(bytes={bytes}, first_start={first_start})")
            }
            Outcome::Found { found: None } => write!(f, "found(none)"),
            Outcome::Found {
                found: Some((start, end, bits)),
            } => write!(f, "found({start}..={end} {bits})"),
            Outcome::Delalloc { found, start, end } => {
                write!(f, "delalloc(found={found}, {start}..={end})")
            }
            Outcome::Clear { start, end } => write!(f, "clear({start}..={end})"),
            Outcome::Done
            | Outcome::Enospc
            | Outcome::Busy
            | Outcome::Fault
            | Outcome::NoOrderedExtent
            | Outcome::Unmounted => f.write_str(self.name()),
        }
    }
}
