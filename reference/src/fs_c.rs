//! The file-system ops of era C (SPEC §6.1: 6.12's file.c, direct-io.c and defrag.c), one
//! function each, in the order SPEC §6.1 lists their steps. writeback, finish_ordered,
//! truncate, evict, commit and unmount are `fs`'s, which ask the era where they differ.

use crate::fs::Fs;
use delalloc_contract::{Bits, OrderedKind, Outcome};

impl Fs {
    /// btrfs_set_extent_delalloc (6.12 inode.c:2798) on [start, end] with `extra` bits:
    /// DELALLOC_NEW when the range starts at or past i_size (its other branch, holes below
    /// i_size, is not modelled).
    pub(crate) fn set_extent_delalloc(&mut self, ino: usize, start: u64, end: u64, extra: Bits) {
        let mut bits = Bits::DELALLOC.union(extra);
        if start >= self.inodes[ino].i_size {
            bits = bits.union(Bits::DELALLOC_NEW);
        }
        self.set_bits(ino, start, end, bits);
    }

    /// btrfs_buffered_write (SPEC §6.1 buffered_write, 6.12 file.c:1172).
    pub fn buffered_write_c(&mut self, ino: usize, pos: u64, len: u64, copied: u64, nocow: bool) -> Outcome {
        if self.expand_for_write(ino, pos).is_err() {
            return Outcome::Enospc;
        }
        let s = self.g.sectorsize;
        let (mut cur, mut remaining, mut to_copy, mut written) = (pos, len, copied, 0);
        while remaining > 0 {
            let first = written == 0;
            let off = cur % s;
            let chunk = remaining.min(self.g.write_chunk - off);
            let rsv = self.g.round_up(off + chunk);
            let a = cur - off;
            let last = a + rsv - 1;
            // 1. Data, or metadata only (NORESERVE) where the range can be written in place.
            let stop = if first { Outcome::Enospc } else { Outcome::Written { bytes: written } };
            let with_data = self.space.reserve_data(rsv).is_ok();
            if !with_data && !nocow {
                return stop;
            }
            if self.reserve_metadata_c(ino, rsv, rsv).is_err() {
                if with_data {
                    self.space.free_data(rsv);
                }
                return stop;
            }
            // 2. lock_and_cleanup_extent: wait for ordered IO, lock, whatever i_size is.
            self.finish_ordered_in(ino, a, last);
            self.lock(ino, a, last);
            // 3. The user copy.
            let c = chunk.min(to_copy);
            // 4. The sectors not dirtied give their reservation back (no outstanding bump).
            let dirty = if c == 0 { 0 } else { self.g.round_up(off + c) };
            if dirty < rsv {
                if with_data {
                    self.release_space_c(ino, a + dirty, rsv - dirty);
                } else {
                    self.release_metadata_c(ino, rsv - dirty);
                }
            }
            // 5. btrfs_dirty_pages → btrfs_reset_extent_delalloc: older delalloc on the dirtied
            //    range goes, the new one is set (i_size is still the one before this chunk).
            if c > 0 {
                let bits = Bits::DELALLOC | Bits::DO_ACCOUNTING | Bits::DEFRAG;
                self.clear_accounted(ino, a, a + dirty - 1, bits, false);
                let extra = if with_data { Bits::NONE } else { Bits::NORESERVE };
                self.set_extent_delalloc(ino, a, a + dirty - 1, extra);
                let i = &mut self.inodes[ino];
                i.i_size = i.i_size.max(cur + c);
            }
            // 6.
            self.unlock(ino, a, last);
            self.release_extents(ino, rsv);
            if c == 0 {
                return if first { Outcome::Fault } else { Outcome::Written { bytes: written } };
            }
            written += c;
            to_copy -= c;
            cur += c;
            remaining -= chunk;
            // 7. A short copy ends the write.
            if c < chunk {
                break;
            }
        }
        Outcome::Written { bytes: written }
    }

    /// btrfs_direct_write → btrfs_dio_iomap_begin (SPEC §6.1 direct_write, 6.12
    /// direct-io.c:370, btrfs_get_blocks_direct_write :215).
    pub fn direct_write_c(&mut self, ino: usize, pos: u64, len: u64, fallback: bool) -> Outcome {
        // pos and len are sector-aligned (validation), so the data reservation is len.
        let (end, data) = (pos + len - 1, len);
        if self.expand_for_write(ino, pos).is_err() {
            return Outcome::Enospc;
        }
        self.writeback(ino, pos, end);
        if self.space.reserve_data(data).is_err() {
            return Outcome::Enospc;
        }
        self.finish_ordered_in(ino, pos, end);
        if fallback {
            // -ENOTBLK from lock_extent_direct: the data goes back, the buffered write runs.
            self.space.free_data(data);
            return self.buffered_write_c(ino, pos, len, len, false);
        }
        self.lock(ino, pos, end);
        let mut cur = pos;
        while cur <= end {
            // btrfs_get_blocks_direct_write over all that is left; the allocation is cut at
            // max_extent, and the metadata of the part not allocated goes back.
            let rest = end + 1 - cur;
            if self.reserve_metadata_c(ino, rest, rest).is_err() {
                break;
            }
            let piece = rest.min(self.g.max_extent);
            self.space.allocate_data(piece);
            self.inodes[ino].add_ordered(cur, piece, OrderedKind::Direct);
            if piece < rest {
                self.release_metadata_c(ino, rest - piece);
            }
            self.release_extents(ino, rest);
            let i = &mut self.inodes[ino];
            i.i_size = i.i_size.max(cur + piece);
            cur += piece;
        }
        self.unlock(ino, pos, end);
        let written = cur - pos;
        self.space.free_data(data - written);
        if written == 0 {
            Outcome::Enospc
        } else {
            Outcome::Written { bytes: written }
        }
    }

    /// btrfs_page_mkwrite (SPEC §6.1 page_mkwrite, 6.12 file.c:1875).
    pub fn page_mkwrite_c(&mut self, ino: usize, pos: u64) -> Outcome {
        let s = self.g.sectorsize;
        if self.reserve_space_c(ino, pos, s).is_err() {
            return Outcome::Enospc;
        }
        if pos >= self.inodes[ino].i_size {
            self.release_extents(ino, s);
            self.release_space_c(ino, pos, s);
            return Outcome::Fault;
        }
        self.redirty_page(ino, pos);
        Outcome::Done
    }

    /// defrag_one_range (SPEC §6.1 defrag, 6.12 defrag.c:1184), over §6's range and chunks.
    pub fn defrag_c(&mut self, ino: usize, start: u64, len: u64) -> Outcome {
        let a = self.g.round_down(start);
        let stop = self.g.round_up(start + len).min(self.g.round_up(self.inodes[ino].i_size));
        let mut cur = a;
        while cur < stop {
            let chunk = (stop - cur).min(self.g.write_chunk);
            let end = cur + chunk - 1;
            if self.reserve_space_c(ino, cur, chunk).is_err() {
                return Outcome::Enospc;
            }
            self.finish_ordered_in(ino, cur, end);
            self.lock(ino, cur, end);
            // defrag_one_locked_target (:1156): a plain set_extent_bit, no DELALLOC_NEW.
            let bits = Bits::DELALLOC | Bits::DO_ACCOUNTING | Bits::DEFRAG;
            self.clear_accounted(ino, cur, end, bits, false);
            self.set_bits(ino, cur, end, Bits::DELALLOC | Bits::DEFRAG);
            self.unlock(ino, cur, end);
            self.release_extents(ino, chunk);
            cur += chunk;
        }
        Outcome::Done
    }
}
