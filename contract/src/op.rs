//! The operation language. Two levels:
//! - extent-tree ops address the program's stand-alone extent io tree (the kernel self-tests'
//!   dummy inode): bits, locks, queries, with the outstanding-extent hooks live but no space
//!   accounting;
//! - file-system ops address inode `ino` of the mounted file system and run the seeds' paths.
//!
//! Ranges of tree ops are inclusive `[start, end]` as in the kernel; file ranges are `pos + len`
//! as in the syscalls. Every op a generator makes satisfies [`Op::validate`]; the text parser
//! rejects ops that do not, naming the problem.

use crate::{Bits, Geometry};
use serde::{Deserialize, Serialize};

/// Inode number: an index below `Geometry::inodes`.
pub type Ino = u8;

/// No offset or end may reach this (2^50 bytes, 1 PiB): keeps every sum far from u64 overflow.
pub const MAX_OFFSET: u64 = 1 << 50;

/// Which reservation an injected fault fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FaultKind {
    Data,
    Metadata,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    // ---- extent-tree level: the program's stand-alone tree ----
    /// set_extent_bit(start, end, bits, exclusive): EEXIST with failed_start when a record in the
    /// range already has an exclusive bit; bits before failed_start stay set. `cached` passes the
    /// cached-state cursor left by the previous tree op (a hint: it never changes the result).
    SetBits {
        start: u64,
        end: u64,
        bits: Bits,
        exclusive: Bits,
        cached: bool,
    },
    /// clear_extent_bit(start, end, bits, wake, delete): `delete` clears every bit.
    ClearBits {
        start: u64,
        end: u64,
        bits: Bits,
        wake: bool,
        delete: bool,
        cached: bool,
    },
    /// convert_extent_bit(start, end, set, clear): set `set` everywhere in the range (holes
    /// included), then clear `clear`. Never LOCKED.
    ConvertBits {
        start: u64,
        end: u64,
        set: Bits,
        clear: Bits,
    },
    /// set_extent_delalloc: DELALLOC|UPTODATE on the range.
    SetDelalloc { start: u64, end: u64 },
    /// lock_extent: LOCKED exclusively. A sequential program has no other task to wait for, so a
    /// conflict undoes the partial lock and answers WouldBlock(failed_start).
    Lock { start: u64, end: u64 },
    /// try_lock_extent: like Lock, answering Busy instead of waiting.
    TryLock { start: u64, end: u64 },
    /// unlock_extent: clear LOCKED and wake waiters.
    Unlock { start: u64, end: u64 },
    /// test_range_bit(start, end, bits, filled).
    TestRangeBit {
        start: u64,
        end: u64,
        bits: Bits,
        filled: bool,
    },
    /// count_range_bits(start, end, max_bytes, bits, contig).
    CountRangeBits {
        start: u64,
        end: u64,
        max_bytes: u64,
        bits: Bits,
        contig: bool,
    },
    /// find_first_extent_bit(start, bits).
    FindFirstBit { start: u64, bits: Bits },
    /// find_delalloc_range(start, max_bytes).
    FindDelalloc { start: u64, max_bytes: u64 },

    // ---- file-system level ----
    /// __btrfs_buffered_write of `len` bytes at `pos`, of which the user copy delivers only the
    /// first `copied` (copied == len: no short copy). `nocow`: the inode is NODATACOW and the
    /// range can be written in place, so a data ENOSPC falls back to a metadata-only reservation.
    BufferedWrite {
        ino: Ino,
        pos: u64,
        len: u64,
        copied: u64,
        nocow: bool,
    },
    /// O_DIRECT write; sector aligned. `fallback`: the range must go through the page cache
    /// (a compressed extent), so the DIO undoes its delalloc and writes buffered.
    DirectWrite {
        ino: Ino,
        pos: u64,
        len: u64,
        fallback: bool,
    },
    /// page_mkwrite of the page at `pos` (sector aligned).
    PageMkwrite { ino: Ino, pos: u64 },
    /// The defrag ioctl's cluster_pages_for_defrag over [start, start + len), clamped to i_size.
    Defrag { ino: Ino, start: u64, len: u64 },
    /// Writeback (run_delalloc_range) of the delalloc in [start, start + len).
    Writeback { ino: Ino, start: u64, len: u64 },
    /// Completion of the inode's `nth` ordered extent (by file offset, modulo their count):
    /// finish_ordered_io with the delayed-inode update.
    FinishOrdered { ino: Ino, nth: u8 },
    /// Truncate (btrfs_setsize) to `size`.
    Truncate { ino: Ino, size: u64 },
    /// Evict the inode from memory (btrfs_evict_inode + btrfs_destroy_inode).
    Evict { ino: Ino },
    /// Transaction commit: runs the delayed-inode items and refills the global reserve.
    Commit,
    /// Unmount: write everything back, commit, evict every inode, release the global reserve.
    Unmount,
    /// Fault injection: resize the spaces so that exactly `data` and `meta` bytes are free.
    SetFreeSpace { data: u64, meta: u64 },
    /// Fault injection: the next reservation of this kind fails with ENOSPC.
    FailNextReservation { kind: FaultKind },
}

/// The kind of an op, for coverage statistics and swarm testing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum OpKind {
    SetBits,
    ClearBits,
    ConvertBits,
    SetDelalloc,
    Lock,
    TryLock,
    Unlock,
    TestRangeBit,
    CountRangeBits,
    FindFirstBit,
    FindDelalloc,
    BufferedWrite,
    DirectWrite,
    PageMkwrite,
    Defrag,
    Writeback,
    FinishOrdered,
    Truncate,
    Evict,
    Commit,
    Unmount,
    SetFreeSpace,
    FailNextReservation,
}

impl OpKind {
    pub const ALL: [OpKind; 23] = [
        OpKind::SetBits,
        OpKind::ClearBits,
        OpKind::ConvertBits,
        OpKind::SetDelalloc,
        OpKind::Lock,
        OpKind::TryLock,
        OpKind::Unlock,
        OpKind::TestRangeBit,
        OpKind::CountRangeBits,
        OpKind::FindFirstBit,
        OpKind::FindDelalloc,
        OpKind::BufferedWrite,
        OpKind::DirectWrite,
        OpKind::PageMkwrite,
        OpKind::Defrag,
        OpKind::Writeback,
        OpKind::FinishOrdered,
        OpKind::Truncate,
        OpKind::Evict,
        OpKind::Commit,
        OpKind::Unmount,
        OpKind::SetFreeSpace,
        OpKind::FailNextReservation,
    ];

    /// The op's name in the text format.
    pub fn name(self) -> &'static str {
        match self {
            OpKind::SetBits => "set_bits",
            OpKind::ClearBits => "clear_bits",
            OpKind::ConvertBits => "convert_bits",
            OpKind::SetDelalloc => "set_delalloc",
            OpKind::Lock => "lock",
            OpKind::TryLock => "try_lock",
            OpKind::Unlock => "unlock",
            OpKind::TestRangeBit => "test_range_bit",
            OpKind::CountRangeBits => "count_range_bits",
            OpKind::FindFirstBit => "find_first_bit",
            OpKind::FindDelalloc => "find_delalloc",
            OpKind::BufferedWrite => "buffered_write",
            OpKind::DirectWrite => "direct_write",
            OpKind::PageMkwrite => "page_mkwrite",
            OpKind::Defrag => "defrag",
            OpKind::Writeback => "writeback",
            OpKind::FinishOrdered => "finish_ordered",
            OpKind::Truncate => "truncate",
            OpKind::Evict => "evict",
            OpKind::Commit => "commit",
            OpKind::Unmount => "unmount",
            OpKind::SetFreeSpace => "set_free_space",
            OpKind::FailNextReservation => "fail_next_reservation",
        }
    }

    pub fn from_name(name: &str) -> Option<OpKind> {
        OpKind::ALL.iter().copied().find(|k| k.name() == name)
    }

    /// True for ops on the stand-alone extent tree.
    pub fn is_tree_level(self) -> bool {
        (self as usize) <= (OpKind::FindDelalloc as usize)
    }
}

impl Op {
    pub fn kind(&self) -> OpKind {
        match self {
            Op::SetBits { .. } => OpKind::SetBits,
            Op::ClearBits { .. } => OpKind::ClearBits,
            Op::ConvertBits { .. } => OpKind::ConvertBits,
            Op::SetDelalloc { .. } => OpKind::SetDelalloc,
            Op::Lock { .. } => OpKind::Lock,
            Op::TryLock { .. } => OpKind::TryLock,
            Op::Unlock { .. } => OpKind::Unlock,
            Op::TestRangeBit { .. } => OpKind::TestRangeBit,
            Op::CountRangeBits { .. } => OpKind::CountRangeBits,
            Op::FindFirstBit { .. } => OpKind::FindFirstBit,
            Op::FindDelalloc { .. } => OpKind::FindDelalloc,
            Op::BufferedWrite { .. } => OpKind::BufferedWrite,
            Op::DirectWrite { .. } => OpKind::DirectWrite,
            Op::PageMkwrite { .. } => OpKind::PageMkwrite,
            Op::Defrag { .. } => OpKind::Defrag,
            Op::Writeback { .. } => OpKind::Writeback,
            Op::FinishOrdered { .. } => OpKind::FinishOrdered,
            Op::Truncate { .. } => OpKind::Truncate,
            Op::Evict { .. } => OpKind::Evict,
            Op::Commit => OpKind::Commit,
            Op::Unmount => OpKind::Unmount,
            Op::SetFreeSpace { .. } => OpKind::SetFreeSpace,
            Op::FailNextReservation { .. } => OpKind::FailNextReservation,
        }
    }

    /// The inode a file-system op addresses.
    pub fn ino(&self) -> Option<Ino> {
        match *self {
            Op::BufferedWrite { ino, .. }
            | Op::DirectWrite { ino, .. }
            | Op::PageMkwrite { ino, .. }
            | Op::Defrag { ino, .. }
            | Op::Writeback { ino, .. }
            | Op::FinishOrdered { ino, .. }
            | Op::Truncate { ino, .. }
            | Op::Evict { ino } => Some(ino),
            _ => None,
        }
    }

    /// Whether the op is meaningful on `geometry`; the error says which argument is wrong.
    /// Both models may assume every op they get passes this.
    pub fn validate(&self, g: &Geometry) -> Result<(), String> {
        let range = |start: u64, end: u64| -> Result<(), String> {
            if start > end {
                return Err(format!("start {start} is after end {end}"));
            }
            if end >= MAX_OFFSET {
                return Err(format!("end {end} is not below 2^50"));
            }
            Ok(())
        };
        let file = |pos: u64, len: u64| -> Result<(), String> {
            if len == 0 {
                return Err("len must be positive".into());
            }
            if pos >= MAX_OFFSET || len >= MAX_OFFSET || pos + len > MAX_OFFSET {
                return Err(format!("range {pos}+{len} does not end below 2^50"));
            }
            Ok(())
        };
        let aligned = |name: &str, v: u64| -> Result<(), String> {
            if !v.is_multiple_of(g.sectorsize) {
                return Err(format!(
                    "{name} {v} is not a multiple of sectorsize {}",
                    g.sectorsize
                ));
            }
            Ok(())
        };
        let stored_only = |name: &str, b: Bits| -> Result<(), String> {
            if b.0 & !Bits::STORABLE.0 != 0 {
                return Err(format!(
                    "{name} {b} has bits that are not storable extent bits"
                ));
            }
            Ok(())
        };
        if let Some(ino) = self.ino() {
            if ino >= g.inodes {
                return Err(format!(
                    "ino {ino} is not below the geometry's {} inodes",
                    g.inodes
                ));
            }
        }
        match *self {
            Op::SetBits {
                start,
                end,
                bits,
                exclusive,
                ..
            } => {
                range(start, end)?;
                stored_only("bits", bits)?;
                stored_only("exclusive", exclusive)?;
                if bits.is_empty() {
                    return Err("bits must not be empty".into());
                }
                if !bits.contains(exclusive) {
                    return Err(format!("exclusive {exclusive} is not part of bits {bits}"));
                }
                Ok(())
            }
            Op::ClearBits {
                start,
                end,
                bits,
                delete,
                ..
            } => {
                range(start, end)?;
                stored_only("bits", bits)?;
                if bits.is_empty() && !delete {
                    return Err("bits must not be empty unless delete is given".into());
                }
                Ok(())
            }
            Op::ConvertBits {
                start,
                end,
                set,
                clear,
            } => {
                range(start, end)?;
                stored_only("set", set)?;
                stored_only("clear", clear)?;
                if set.is_empty() {
                    return Err("set must not be empty".into());
                }
                if set.union(clear).intersects(Bits::LOCKED) {
                    return Err("convert_bits never converts LOCKED".into());
                }
                Ok(())
            }
            Op::SetDelalloc { start, end }
            | Op::Lock { start, end }
            | Op::TryLock { start, end }
            | Op::Unlock { start, end } => range(start, end),
            Op::TestRangeBit {
                start, end, bits, ..
            } => {
                range(start, end)?;
                stored_only("bits", bits)?;
                if bits.is_empty() {
                    return Err("bits must not be empty".into());
                }
                Ok(())
            }
            Op::CountRangeBits {
                start, end, bits, ..
            } => {
                range(start, end)?;
                stored_only("bits", bits)?;
                if bits.is_empty() {
                    return Err("bits must not be empty".into());
                }
                Ok(())
            }
            Op::FindFirstBit { start, bits } => {
                range(start, start)?;
                stored_only("bits", bits)?;
                if bits.is_empty() {
                    return Err("bits must not be empty".into());
                }
                Ok(())
            }
            Op::FindDelalloc { start, max_bytes } => {
                range(start, start)?;
                if max_bytes == 0 {
                    return Err("max_bytes must be positive".into());
                }
                Ok(())
            }
            Op::BufferedWrite {
                pos, len, copied, ..
            } => {
                file(pos, len)?;
                if copied > len {
                    return Err(format!("copied {copied} is more than len {len}"));
                }
                Ok(())
            }
            Op::DirectWrite { pos, len, .. } => {
                file(pos, len)?;
                aligned("pos", pos)?;
                aligned("len", len)
            }
            Op::PageMkwrite { pos, .. } => {
                file(pos, g.sectorsize)?;
                aligned("pos", pos)
            }
            Op::Defrag { start, len, .. } | Op::Writeback { start, len, .. } => file(start, len),
            Op::Truncate { size, .. } => {
                if size >= MAX_OFFSET {
                    return Err(format!("size {size} is not below 2^50"));
                }
                Ok(())
            }
            Op::SetFreeSpace { data, meta } => {
                if data > 1 << 50 || meta > 1 << 50 {
                    return Err("free space must be at most 2^50".into());
                }
                Ok(())
            }
            Op::FinishOrdered { .. }
            | Op::Evict { .. }
            | Op::Commit
            | Op::Unmount
            | Op::FailNextReservation { .. } => Ok(()),
        }
    }
}

/// A whole test case: the geometry and the ops run in order on a freshly mounted file system.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Program {
    pub geometry: Geometry,
    pub ops: Vec<Op>,
}

impl Program {
    /// Validates the geometry and every op; the error names the op index.
    pub fn validate(&self) -> Result<(), String> {
        self.geometry
            .validate()
            .map_err(|e| format!("geometry: {e}"))?;
        for (i, op) in self.ops.iter().enumerate() {
            op.validate(&self.geometry)
                .map_err(|e| format!("op {i} ({}): {e}", op.kind().name()))?;
        }
        Ok(())
    }
}
