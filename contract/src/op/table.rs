//! The one list of ops. Everything else about an op that can be said without knowing what it
//! does is generated from this table (see the [module docs](super)): the [`Op`](super::Op) and
//! [`OpKind`](super::OpKind) enums, names, levels, fuzz tags, the typed field visitor and the
//! text syntax.
//!
//! An entry reads
//!
//! ```text
//! /// doc comment of the variant
//! Variant "text_name" LEVEL tag = TAG {
//!     field: Role [SYNTAX],
//!     ...
//! },
//! ```
//!
//! - `LEVEL` is `tree` (the stand-alone extent tree) or `fs` (an inode of the file system);
//! - `TAG` is the op's kind byte in literal fuzz inputs. It is fixed for ever: committed seeds
//!   and every input a fuzzer saved spell ops with it. A new op takes an unused byte; a tag is
//!   never reused;
//! - `Role` is one of [`Role`](super::Role)'s variants and fixes the field's Rust type;
//! - `SYNTAX` is how the text format writes the field: `pos` (positional, in declaration
//!   order), `key NAME` (required `NAME=value`), `key NAME = DEFAULT` (optional; `DEFAULT` is a
//!   Rust expression that may use earlier fields, and the printer leaves the key out when the
//!   value equals it) or `flag` (a bare word, the field's name, present iff true);
//! - an op without fields has no braces (a unit variant).
//!
//! The order of the entries is the order of `OpKind::ALL` (coverage tables, swarm draws).
//!
//! Adding an op: its entry here, then what the compiler points at, every one an exhaustive
//! match: `Op::validate` and `OpKind::in_era` (validate.rs); the reference's `apply` and `tree_op`; the optimized
//! model's `apply_shared` and `apply_tree`; the kernel model's `try_tree_op` (kernel/src/model.rs,
//! with the glue call it needs in kernel/shim/glue.c); the literal codec's `encode`, `decode` and
//! `piece_bound` (src/input/mod.rs); the generator's `weight`, `mutates`, `Gen::op` and
//! `remember` (src/generators/mod.rs); the concurrent generator's `task_op`; the linearizer's
//! `background`. The text format, shrinking and mutation need nothing. Tests then ask for a
//! seed program using it (corpus/programs), a line in text_roundtrip's example and the
//! op's words in oss-fuzz/parse_text.dict; the proptest strategies of text_roundtrip and
//! conformance should learn it too.

/// Calls `$mac! { entries }` with every op of the table, in order.
macro_rules! for_each_op {
    ($mac:ident) => {
        $mac! {
            // ---- extent-tree level: the program's stand-alone tree ----

            /// set_extent_bit(start, end, bits, exclusive): EEXIST with failed_start when a record in the
            /// range already has an exclusive bit; bits before failed_start stay set. `cached` passes the
            /// cached-state cursor left by the previous tree op (a hint: it never changes the result).
            SetBits "set_bits" tree tag = 0 {
                start: Offset [pos],
                end: End [pos],
                bits: Bits [pos],
                exclusive: Bits [key exclusive = Bits::NONE],
                cached: Flag [flag],
            },
            /// clear_extent_bit(start, end, bits, wake, delete): `delete` clears every bit.
            ClearBits "clear_bits" tree tag = 1 {
                start: Offset [pos],
                end: End [pos],
                bits: Bits [pos],
                wake: Flag [flag],
                delete: Flag [flag],
                cached: Flag [flag],
            },
            /// convert_extent_bit(start, end, set, clear): set `set` everywhere in the range (holes
            /// included), then clear `clear`. Never LOCKED.
            ConvertBits "convert_bits" tree tag = 2 {
                start: Offset [pos],
                end: End [pos],
                set: Bits [key set],
                clear: Bits [key clear = Bits::NONE],
            },
            /// set_extent_delalloc: DELALLOC|UPTODATE on the range.
            SetDelalloc "set_delalloc" tree tag = 3 {
                start: Offset [pos],
                end: End [pos],
            },
            /// lock_extent: LOCKED exclusively. A sequential program has no other task to wait for, so a
            /// conflict undoes the partial lock and answers WouldBlock(failed_start).
            Lock "lock" tree tag = 4 {
                start: Offset [pos],
                end: End [pos],
            },
            /// try_lock_extent: like Lock, answering Busy instead of waiting.
            TryLock "try_lock" tree tag = 5 {
                start: Offset [pos],
                end: End [pos],
            },
            /// unlock_extent: clear LOCKED and wake waiters.
            Unlock "unlock" tree tag = 6 {
                start: Offset [pos],
                end: End [pos],
            },
            /// test_range_bit(start, end, bits, filled).
            TestRangeBit "test_range_bit" tree tag = 7 {
                start: Offset [pos],
                end: End [pos],
                bits: Bits [pos],
                filled: Flag [flag],
            },
            /// count_range_bits(start, end, max_bytes, bits, contig).
            CountRangeBits "count_range_bits" tree tag = 8 {
                start: Offset [pos],
                end: End [pos],
                max_bytes: Num [key max],
                bits: Bits [pos],
                contig: Flag [flag],
            },
            /// find_first_extent_bit(start, bits).
            FindFirstBit "find_first_bit" tree tag = 9 {
                start: Offset [pos],
                bits: Bits [pos],
            },
            /// find_delalloc_range(start, max_bytes).
            FindDelalloc "find_delalloc" tree tag = 10 {
                start: Offset [pos],
                max_bytes: Num [key max],
            },
            /// find_first_clear_extent_bit(start, bits) (6.1; SPEC §1.1): the first range at or
            /// after `start` whose bytes have none of `bits`, holes included.
            FindFirstClearBit "find_first_clear_bit" tree tag = 23 {
                start: Offset [pos],
                bits: Bits [pos],
            },

            // ---- file-system level ----

            /// __btrfs_buffered_write of `len` bytes at `pos`, of which the user copy delivers only the
            /// first `copied` (copied == len: no short copy). `nocow`: the inode is NODATACOW and the
            /// range can be written in place, so a data ENOSPC falls back to a metadata-only reservation.
            BufferedWrite "buffered_write" fs tag = 11 {
                ino: Ino [key ino],
                pos: Offset [key pos],
                len: Len [key len],
                copied: Len [key copied = len],
                nocow: Flag [flag],
            },
            /// O_DIRECT write; sector aligned. `fallback`: the range must go through the page cache
            /// (a compressed extent), so the DIO undoes its delalloc and writes buffered.
            DirectWrite "direct_write" fs tag = 12 {
                ino: Ino [key ino],
                pos: Offset [key pos],
                len: Len [key len],
                fallback: Flag [flag],
            },
            /// page_mkwrite of the page at `pos` (sector aligned).
            PageMkwrite "page_mkwrite" fs tag = 13 {
                ino: Ino [key ino],
                pos: Offset [key pos],
            },
            /// The defrag ioctl's cluster_pages_for_defrag over [start, start + len), clamped to i_size.
            Defrag "defrag" fs tag = 14 {
                ino: Ino [key ino],
                start: Offset [key start],
                len: Len [key len],
            },
            /// Writeback (run_delalloc_range) of the delalloc in [start, start + len).
            Writeback "writeback" fs tag = 15 {
                ino: Ino [key ino],
                start: Offset [key start],
                len: Len [key len],
            },
            /// Completion of the inode's `nth` ordered extent (by file offset, modulo their count):
            /// finish_ordered_io with the delayed-inode update.
            FinishOrdered "finish_ordered" fs tag = 16 {
                ino: Ino [key ino],
                nth: Count [key nth],
            },
            /// Truncate (btrfs_setsize) to `size`.
            Truncate "truncate" fs tag = 17 {
                ino: Ino [key ino],
                size: Offset [key size],
            },
            /// Evict the inode from memory (btrfs_evict_inode + btrfs_destroy_inode).
            Evict "evict" fs tag = 18 {
                ino: Ino [key ino],
            },
            /// Transaction commit: runs the delayed-inode items and refills the global reserve.
            Commit "commit" fs tag = 19,
            /// Unmount: write everything back, commit, evict every inode, release the global reserve.
            Unmount "unmount" fs tag = 20,
            /// Fault injection: resize the spaces so that exactly `data` and `meta` bytes are free.
            SetFreeSpace "set_free_space" fs tag = 21 {
                data: Num [key data],
                meta: Num [key meta],
            },
            /// Fault injection: the next reservation of this kind fails with ENOSPC.
            FailNextReservation "fail_next_reservation" fs tag = 22 {
                kind: Fault [pos],
            },
            /// Fault injection, era B: the delalloc block reservation gives back all it holds
            /// (reserved to 0, its bytes out of metadata bytes_may_use; size kept), the state the
            /// delayed-inode updates leave once they have migrated it all away (seed 002's chain).
            DrainDelallocRsv "drain_delalloc_rsv" fs tag = 24,
        }
    };
}

pub(crate) use for_each_op;
