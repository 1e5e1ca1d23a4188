//! The file-system ops (SPEC §6): the kernel paths, one function each, in the order SPEC §6 lists
//! their steps.

use crate::account::Inode;
use crate::space::{Enospc, Rsv, Space};
use crate::tree::Tree;
use delalloc_contract::op::MAX_OFFSET;
use delalloc_contract::{Accounting, Bits, Geometry, OrderedKind, Outcome, Warnings};

/// The last byte any range may address: "EOF range" = [x, EOF].
pub const EOF: u64 = MAX_OFFSET - 1;

#[derive(Clone, Debug)]
pub struct Fs {
    pub g: Geometry,
    pub mounted: bool,
    pub inodes: Vec<Inode>,
    pub space: Space,
    pub warnings: Warnings,
}

impl Fs {
    /// Mount (SPEC §3).
    pub fn mount(g: &Geometry) -> Fs {
        Fs {
            g: *g,
            mounted: true,
            inodes: vec![Inode { tree: Tree::new(g.era), ..Inode::default() }; usize::from(g.inodes)],
            space: Space::mount(g),
            warnings: Warnings::default(),
        }
    }

    /// lock_extent on an inode tree. SPEC §6 guarantees no inode record is LOCKED between ops and
    /// every path unlocks what it locked, so this never conflicts.
    pub(crate) fn lock(&mut self, ino: usize, start: u64, end: u64) {
        let res = self.inodes[ino].tree.set(start, end, Bits::LOCKED, Bits::LOCKED);
        debug_assert!(res.is_ok(), "inode {ino}: [{start}, {end}] already locked");
    }

    pub(crate) fn unlock(&mut self, ino: usize, start: u64, end: u64) {
        self.inodes[ino].tree.clear(start, end, Bits::LOCKED, false);
    }

    pub(crate) fn set_bits(&mut self, ino: usize, start: u64, end: u64, bits: Bits) {
        let res = self.inodes[ino].tree.set(start, end, bits, Bits::NONE);
        debug_assert!(res.is_ok());
    }

    /// 4.4 __btrfs_buffered_write (SPEC §6 buffered_write, seed 003).
    pub fn buffered_write(&mut self, ino: usize, pos: u64, len: u64, copied: u64, nocow: bool) -> Outcome {
        if self.expand_for_write(ino, pos).is_err() {
            return Outcome::Enospc;
        }
        self.buffered_write_expanded(ino, pos, len, copied, nocow)
    }

    /// __btrfs_buffered_write: the write once the file has been expanded to it (a DIO that
    /// falls back comes here directly).
    fn buffered_write_expanded(
        &mut self,
        ino: usize,
        pos: u64,
        len: u64,
        copied: u64,
        nocow: bool,
    ) -> Outcome {
        let s = self.g.sectorsize;
        let (mut cur, mut remaining, mut to_copy, mut written) = (pos, len, copied, 0);
        while remaining > 0 {
            let first = written == 0;
            let off = cur % s;
            let chunk = remaining.min(self.g.write_chunk - off);
            let rsv = self.g.round_up(off + chunk);
            let a = cur - off;
            // 1. Reserve. 4.4 asks check_can_nocow before any data reservation: a chunk the
            // extent takes in place (`nocow`) reserves metadata only (NORESERVE).
            let stop = if first { Outcome::Enospc } else { Outcome::Written { bytes: written } };
            let with_data = !nocow;
            if with_data && self.space.reserve_data(rsv).is_err() {
                return stop;
            }
            if self.reserve_metadata(ino, rsv).is_err() {
                if with_data {
                    self.space.free_data(rsv);
                }
                return stop;
            }
            // 2. Below i_size: wait for ordered IO, lock (until step 4), drop older delalloc.
            let locked = a < self.inodes[ino].i_size;
            if locked {
                self.finish_ordered_in(ino, a, a + rsv - 1);
                self.lock(ino, a, a + rsv - 1);
                let bits = Bits::DIRTY | Bits::DELALLOC | Bits::DO_ACCOUNTING | Bits::DEFRAG;
                self.clear_accounted(ino, a, a + rsv - 1, bits, false);
            }
            // 3. The user copy.
            let c = chunk.min(to_copy);
            if c == 0 {
                self.release_reservation(ino, rsv, with_data);
                if locked {
                    self.unlock(ino, a, a + rsv - 1);
                }
                return if first { Outcome::Fault } else { Outcome::Written { bytes: written } };
            }
            // 4. Dirty the copied sectors; a short copy gives the tail back, after the era A/B
            //    bump of one outstanding extent (the tail release drops one the dirtied part
            //    still needs).
            let dirty = self.g.round_up(off + c);
            if dirty < rsv {
                self.inodes[ino].pending += 1;
                self.release_reservation(ino, rsv - dirty, with_data);
            }
            // btrfs_set_extent_delalloc: DELALLOC|UPTODATE (4.4 set_extent_delalloc); dirtiness
            // lives on the pages.
            self.set_bits(ino, a, a + dirty - 1, Bits::DELALLOC | Bits::UPTODATE);
            if !with_data {
                self.set_bits(ino, a, a + dirty - 1, Bits::NORESERVE);
            }
            if locked {
                self.unlock(ino, a, a + rsv - 1);
            }
            self.hand_off(ino, dirty);
            // 5.
            let i = &mut self.inodes[ino];
            i.i_size = i.i_size.max(cur + c);
            written += c;
            to_copy -= c;
            cur += c;
            remaining -= chunk;
            if c < chunk {
                break;
            }
        }
        Outcome::Written { bytes: written }
    }

    /// btrfs_direct_IO (SPEC §6 direct_write, seed 004; fallback: seed 003).
    pub fn direct_write(&mut self, ino: usize, pos: u64, len: u64, fallback: bool) -> Outcome {
        if self.expand_for_write(ino, pos).is_err() {
            return Outcome::Enospc;
        }
        // generic_file_direct_write flushes the range before btrfs_direct_IO reserves, so an
        // ENOSPC answer comes after the writeback.
        let end = pos + len - 1;
        self.writeback(ino, pos, end);
        if self.reserve_space(ino, len).is_err() {
            return Outcome::Enospc;
        }
        self.finish_ordered_in(ino, pos, end);
        self.lock(ino, pos, end);
        // DELALLOC only: no pages would ever free DIRTY/UPTODATE states.
        self.set_bits(ino, pos, end, Bits::DELALLOC);
        self.hand_off(ino, len);
        if fallback {
            let bits = Bits::LOCKED | Bits::DELALLOC | Bits::DIRTY | Bits::DO_ACCOUNTING;
            self.clear_accounted(ino, pos, end, bits, false);
            return self.buffered_write_expanded(ino, pos, len, len, false);
        }
        // btrfs_get_blocks_direct: allocate, ordered extents of at most max_extent, unlock.
        self.space.allocate_data(len);
        let mut cur = pos;
        while cur <= end {
            let piece = (end + 1 - cur).min(self.g.max_extent);
            self.inodes[ino].add_ordered(cur, piece, OrderedKind::Direct);
            cur += piece;
        }
        self.inodes[ino].tree.clear(pos, end, Bits::LOCKED | Bits::DELALLOC, false);
        let i = &mut self.inodes[ino];
        i.i_size = i.i_size.max(pos + len);
        Outcome::Written { bytes: len }
    }

    /// btrfs_page_mkwrite under i_mutex (SPEC §6 page_mkwrite, seed 000).
    pub fn page_mkwrite(&mut self, ino: usize, pos: u64) -> Outcome {
        let s = self.g.sectorsize;
        if self.reserve_space(ino, s).is_err() {
            return Outcome::Enospc;
        }
        if pos >= self.inodes[ino].i_size {
            self.release_reservation(ino, s, true);
            return Outcome::Fault;
        }
        self.redirty_page(ino, pos);
        Outcome::Done
    }

    /// The reserved page at `pos` dirtied again, as btrfs_page_mkwrite and btrfs_truncate_page
    /// (4.4) or btrfs_truncate_block (6.12) do it: finish its ordered extents, lock it, clear the
    /// older delalloc (giving its reservation back), set delalloc, unlock, and settle the
    /// reservation's extent count: era B sets DELALLOC|UPTODATE and hands off count(S); era C
    /// is btrfs_reset_extent_delalloc (6.12 inode.c:2834) and release_extents(S).
    pub(crate) fn redirty_page(&mut self, ino: usize, pos: u64) {
        let s = self.g.sectorsize;
        let end = pos + s - 1;
        self.finish_ordered_in(ino, pos, end);
        self.lock(ino, pos, end);
        let era_c = self.g.era.accounting() == Accounting::C;
        let mut bits = Bits::DELALLOC | Bits::DO_ACCOUNTING | Bits::DEFRAG;
        if !era_c {
            bits = bits | Bits::DIRTY;
        }
        self.clear_accounted(ino, pos, end, bits, false);
        if era_c {
            self.set_extent_delalloc(ino, pos, end, Bits::NONE);
        } else {
            self.set_bits(ino, pos, end, Bits::DELALLOC | Bits::UPTODATE);
        }
        self.unlock(ino, pos, end);
        if era_c {
            self.release_extents(ino, s);
        } else {
            self.hand_off(ino, s);
        }
    }

    /// Before a buffered or O_DIRECT write: one that starts past EOF expands the file first.
    /// 4.4's btrfs_file_write_iter (file.c:1800-1804) counts a write past EOF when its first
    /// sector starts past i_size; 6.12's btrfs_write_check (file.c:1163), which a DIO's
    /// buffered fallback runs again, when pos > i_size.
    pub(crate) fn expand_for_write(&mut self, ino: usize, pos: u64) -> Result<(), Enospc> {
        let i_size = self.inodes[ino].i_size;
        let past_eof = match self.g.era.accounting() {
            Accounting::B => self.g.round_down(pos) > i_size,
            Accounting::C => pos > i_size,
        };
        if past_eof {
            self.cont_expand(ino)
        } else {
            Ok(())
        }
    }

    /// btrfs_cont_expand(old, new) before an op grows the file (SPEC §6 and §6.1 growing past
    /// EOF). It starts with btrfs_truncate_page(old) (4.4 inode.c:4799) or btrfs_truncate_block
    /// (6.12 inode.c:4922 → :4708), which dirties the block holding an unaligned old EOF again
    /// with a reservation of its own, however little the file grows (era C: the nocow fallback
    /// on data ENOSPC taken to fail). ENOSPC when that reservation fails (the op then does
    /// nothing). The hole extents it inserts are not modelled.
    fn cont_expand(&mut self, ino: usize) -> Result<(), Enospc> {
        let (s, old) = (self.g.sectorsize, self.inodes[ino].i_size);
        if old.is_multiple_of(s) {
            return Ok(());
        }
        let block = self.g.round_down(old);
        match self.g.era.accounting() {
            Accounting::B => self.reserve_space(ino, s)?,
            Accounting::C => self.reserve_space_c(ino, block, s)?,
        }
        self.redirty_page(ino, block);
        Ok(())
    }

    /// cluster_pages_for_defrag under i_mutex (SPEC §6 defrag, seed 000).
    pub fn defrag(&mut self, ino: usize, start: u64, len: u64) -> Outcome {
        let a = self.g.round_down(start);
        let stop = self.g.round_up(start + len).min(self.g.round_up(self.inodes[ino].i_size));
        let mut cur = a;
        while cur < stop {
            let chunk = (stop - cur).min(self.g.write_chunk);
            let end = cur + chunk - 1;
            if self.reserve_space(ino, chunk).is_err() {
                return Outcome::Enospc;
            }
            self.finish_ordered_in(ino, cur, end);
            self.lock(ino, cur, end);
            self.clear_accounted(ino, cur, end, Bits::DELALLOC | Bits::DO_ACCOUNTING | Bits::DEFRAG, false);
            self.set_bits(ino, cur, end, Bits::DELALLOC | Bits::UPTODATE | Bits::DEFRAG);
            self.unlock(ino, cur, end);
            self.hand_off(ino, chunk);
            cur += chunk;
        }
        Outcome::Done
    }

    /// run_delalloc_range / cow_file_range with 4.8+ data accounting (SPEC §6 writeback), over
    /// the already sector-rounded inclusive range [start, last].
    pub fn writeback(&mut self, ino: usize, start: u64, last: u64) {
        let mut cur = start;
        while cur <= last {
            let tree = &self.inodes[ino].tree;
            let next = tree.records().iter().find(|r| r.end >= cur && r.bits.contains(Bits::DELALLOC));
            let Some(rec) = next.filter(|r| r.start <= last) else {
                break;
            };
            let s = rec.start.max(cur);
            let found_end = match tree.find_delalloc(s, self.g.max_extent) {
                Outcome::Delalloc { end, .. } => end,
                other => unreachable!("find_delalloc answered {other:?}"),
            };
            let e = found_end.min(last).min(s + self.g.max_extent - 1);
            self.lock(ino, s, e);
            // One ordered extent per maximal run of records with the same NORESERVE bit.
            let mut runs: Vec<(u64, u64, bool)> = Vec::new();
            for r in self.inodes[ino].tree.records().iter().filter(|r| r.start >= s && r.end <= e) {
                let noreserve = r.bits.contains(Bits::NORESERVE);
                match runs.last_mut() {
                    Some(run) if run.2 == noreserve && run.0 + run.1 == r.start => run.1 += r.len(),
                    _ => runs.push((r.start, r.len(), noreserve)),
                }
            }
            for (run_start, run_len, noreserve) in runs {
                let kind = if noreserve {
                    OrderedKind::Nocow
                } else {
                    self.space.allocate_data(run_len);
                    OrderedKind::Cow
                };
                self.inodes[ino].add_ordered(run_start, run_len, kind);
            }
            // 4.4 cow_file_range and run_delalloc_nocow (extent_clear_unlock_delalloc), like
            // 6.12's (:1567), clear LOCKED|DELALLOC: DEFRAG (and in era C DELALLOC_NEW) stays
            // for finish_ordered.
            self.inodes[ino].tree.clear(s, e, Bits::LOCKED | Bits::DELALLOC, false);
            cur = e + 1;
        }
    }

    /// SPEC §6 finish_ordered: the (nth mod count)-th ordered extent by offset.
    pub fn finish_ordered(&mut self, ino: usize, nth: u8) -> Outcome {
        let count = self.inodes[ino].ordered.len();
        if count == 0 {
            return Outcome::NoOrderedExtent;
        }
        self.finish_ordered_io(ino, usize::from(nth) % count);
        Outcome::Done
    }

    /// btrfs_setsize + truncate_pagecache (SPEC §6 truncate). The partial page keeps its state.
    pub fn truncate(&mut self, ino: usize, size: u64) -> Outcome {
        // btrfs_setsize growing the file: btrfs_cont_expand first, which begins with the
        // truncate of the old EOF's block.
        let old_size = self.inodes[ino].i_size;
        if size > old_size && self.cont_expand(ino).is_err() {
            return Outcome::Enospc;
        }
        if size < old_size {
            let cut = self.g.round_up(size);
            while let Some(idx) = self.inodes[ino].ordered.iter().position(|o| o.start + o.len > cut) {
                self.finish_ordered_io(ino, idx);
            }
            self.clear_accounted(ino, cut, EOF, Bits::DO_ACCOUNTING, true);
        }
        self.inodes[ino].i_size = size;
        // btrfs_truncate's btrfs_wait_ordered_range(round_down(size), (u64)-1): the sector
        // holding the new EOF is written back and its ordered extents finished. 4.4 gets there
        // for a truncate to the same size too; 6.12 skips it then (skip_writeback).
        let same_size_writes_back = self.g.era.accounting() == Accounting::B;
        if size < old_size || (size == old_size && same_size_writes_back) {
            let from = self.g.round_down(size);
            self.writeback(ino, from, EOF);
            self.finish_ordered_in(ino, from, EOF);
        }
        Outcome::Done
    }

    /// btrfs_evict_inode + btrfs_destroy_inode (SPEC §6 evict).
    pub fn evict(&mut self, ino: usize) -> Outcome {
        while !self.inodes[ino].ordered.is_empty() {
            self.finish_ordered_io(ino, 0);
        }
        self.clear_accounted(ino, 0, EOF, Bits::DO_ACCOUNTING, true);
        if self.inodes[ino].leaks(&self.g) {
            self.warnings.evict_leaks += 1;
        }
        // The kernel frees the inode; leaked bytes stay in the reservations (era C: in
        // metadata may_use, the inode's reservation going with the inode). i_size and the
        // delayed node stay.
        let i = &mut self.inodes[ino];
        // The emptied tree stays: it keeps its era.
        *i = Inode {
            i_size: i.i_size,
            delayed_bytes: i.delayed_bytes,
            tree: std::mem::take(&mut i.tree),
            ..Inode::default()
        };
        Outcome::Done
    }

    /// Transaction commit (SPEC §5): run the delayed items, refill the global reserve.
    pub fn commit(&mut self) -> Outcome {
        for ino in 0..self.inodes.len() {
            let bytes = std::mem::take(&mut self.inodes[ino].delayed_bytes);
            self.space.release(Rsv::Delayed, bytes);
        }
        self.space.refill_global();
        Outcome::Done
    }

    /// close_ctree (SPEC §6 unmount).
    pub fn unmount(&mut self) -> Outcome {
        for ino in 0..self.inodes.len() {
            self.writeback(ino, 0, EOF);
            while !self.inodes[ino].ordered.is_empty() {
                self.finish_ordered_io(ino, 0);
            }
        }
        self.commit();
        for ino in 0..self.inodes.len() {
            self.evict(ino);
        }
        self.space.release_global();
        let sp = &self.space;
        let fs_delalloc: u64 = self.inodes.iter().map(|i| i.tree.bytes_with(Bits::DELALLOC)).sum();
        let leaked = sp.data.bytes_may_use != 0
            || sp.data.bytes_reserved != 0
            || sp.meta.bytes_may_use != 0
            || sp.meta.bytes_reserved != 0
            || sp.delalloc != Default::default()
            || sp.delayed != Default::default()
            || fs_delalloc != 0;
        if leaked {
            self.warnings.unmount_leaks += 1;
        }
        self.mounted = false;
        Outcome::Done
    }
}
