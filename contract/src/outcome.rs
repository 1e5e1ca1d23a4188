//! What an operation answers. Compared exactly between the models.

use crate::Bits;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// The op did what it was asked.
    Done,
    /// A write accepted `bytes` bytes (less than asked after a short copy or a mid-write ENOSPC).
    Written { bytes: u64 },
    /// A reservation failed before anything was written.
    Enospc,
    /// set_extent_bit hit an exclusive bit at `failed_start`.
    Exists { failed_start: u64 },
    /// lock_extent found a LOCKED record at `failed_start` and, with no other task to wait for,
    /// undid its partial lock.
    WouldBlock { failed_start: u64 },
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
    Test { result: bool },
    /// Answer of count_range_bits: bytes counted and where the first counted record starts
    /// (the kernel's updated *start; the query's start when nothing was counted).
    Count { bytes: u64, first_start: u64 },
    /// Answer of find_first_extent_bit: the whole first matching record.
    Found { found: Option<(u64, u64, Bits)> },
    /// Answer of find_delalloc_range: found, and the kernel's *start and *end after the call.
    Delalloc { found: bool, start: u64, end: u64 },
}
