//! The file-system paths of era C (SPEC §6.1, 6.12 file.c, direct-io.c, defrag.c, inode.c),
//! each in the order 6.12 runs its steps: reserve, lock, clear and set under the lock, unlock,
//! then release_extents, which recomputes the inode reservation's size and trims it (so a merge
//! at the unlock is counted, and a merge after it leaves the size stale, SPEC §8.1).
//!
//! The locking is era B's ([`crate::fs`]): i_mutex around the reservations, the inode lock for
//! non-blocking stretches, the range lock (LOCKED) across the copy; the yield points are the
//! same windows (SPEC §10).

use crate::bugs::Bug;
use crate::extent_tree::Cursor;
use crate::fs::FileSystem;
use crate::inode::{IMutexGuard, Inode, InodeInner};
use crate::reservation_c::{
    data_bytes, delayed_inode_reserve, release_extents, release_metadata, release_space,
    reserve_metadata, reserve_space,
};
use crate::sync::{yield_point, MutexGuard};
use delalloc_contract::{Bits, OrderedKind, Outcome};

impl FileSystem {
    /// "Set delalloc on [start, end]" (btrfs_set_extent_delalloc, 6.12 inode.c:2798): DELALLOC
    /// and `extra`, plus DELALLOC_NEW when the range starts at or past i_size (the branch for
    /// holes below i_size is not modelled).
    pub(crate) fn set_delalloc_c(
        &self,
        g: &mut InodeInner,
        start: u64,
        end: u64,
        extra: Bits,
        cached: &mut Cursor,
    ) {
        let mut bits = Bits::DELALLOC | extra;
        if start >= g.i_size {
            bits = bits | Bits::DELALLOC_NEW;
        }
        g.set_bits(&self.info, start, end, bits, Some(cached));
    }

    // ---- buffered write (btrfs_buffered_write, 6.12 file.c:1172) ----

    /// The write under the caller's i_mutex (a DIO fallback comes here with its own).
    pub(crate) fn buffered_write_c(
        &self,
        inode: &Inode,
        i_mutex: &IMutexGuard<'_>,
        pos: u64,
        len: u64,
        copied: u64,
        nocow: bool,
    ) -> Outcome {
        if self.expand_for_write(inode, i_mutex, pos).is_err() {
            return Outcome::Enospc;
        }
        let fs = &self.info;
        let geo = &fs.geo;
        let end = pos + len;
        let mut cur = pos;
        let mut copy_left = copied;
        let mut written = 0;
        // Bug::NocowFlagNotReset: only_release_metadata carried over from an earlier chunk.
        let mut stale_only_meta = false;
        while cur < end {
            let first = cur == pos;
            let off = cur & (geo.sectorsize - 1);
            let chunk = (end - cur).min(geo.write_chunk - off);
            let rsv = geo.round_up(off + chunk);
            let a = cur - off;
            let stopped = |failed: Outcome| {
                if first {
                    failed
                } else {
                    Outcome::Written { bytes: written }
                }
            };

            // 1. Data (btrfs_check_data_free_space; a NODATACOW inode goes on metadata-only),
            // then metadata for the whole chunk.
            let only_meta = match fs.reserve_data(rsv) {
                Ok(()) => stale_only_meta,
                Err(_) if nocow => true,
                Err(_) => return stopped(Outcome::Enospc),
            };
            if fs.bugs.contains(Bug::NocowFlagNotReset) {
                stale_only_meta = only_meta;
            }
            if reserve_metadata(inode, i_mutex, fs, rsv, rsv).is_err() {
                if !only_meta {
                    fs.free_data(rsv);
                }
                return stopped(Outcome::Enospc);
            }
            // prepare_pages: finding and locking the pages may sleep.
            yield_point();

            // 2. lock_and_cleanup_extent (:980): lock whatever i_size is, after the ordered
            // extents in the range are done.
            let lock_end = a + rsv - 1;
            let mut cached = Cursor::new();
            let g = inode.lock_inner();
            let g = self.lock_without_ordered(inode, g, a, lock_end, &mut cached);
            // 3. btrfs_copy_from_user may fault and sleep; the range stays locked.
            let mut g = inode.yield_unlocked(g);
            let c = chunk.min(copy_left);

            // 4. Give back the sectors not dirtied.
            let dirty = if c == 0 { 0 } else { geo.round_up(off + c) };
            if dirty < rsv {
                if c > 0 && fs.bugs.contains(Bug::ShortCopyKeepsExtentBump) {
                    // Era B's bump, which nothing in era C gives back.
                    g.acct.outstanding_extents += 1;
                }
                if only_meta {
                    release_metadata(&mut g.acct, fs, rsv - dirty);
                } else {
                    release_space(&mut g.acct, fs, a + dirty, rsv - dirty);
                }
            }
            // 5. btrfs_dirty_pages -> btrfs_reset_extent_delalloc: DELALLOC_NEW is decided
            // before the clear; only the dirtied range is cleared and set.
            if c > 0 {
                let dirty_end = a + dirty - 1;
                let clear = Bits::DELALLOC | Bits::DO_ACCOUNTING | Bits::DEFRAG;
                let extra = if only_meta {
                    Bits::NORESERVE
                } else {
                    Bits::NONE
                };
                let extra = if a >= g.i_size {
                    extra | Bits::DELALLOC_NEW
                } else {
                    extra
                };
                inode.clear_and_wake(&mut g, fs, a, dirty_end, clear, false, Some(&mut cached));
                self.set_delalloc_c(&mut g, a, dirty_end, extra, &mut cached);
                g.i_size = g.i_size.max(cur + c);
            }
            // 6. Unlock, then the reservation's own extents go (the size is recomputed here).
            inode.unlock_extent(&mut g, fs, a, lock_end, &mut cached);
            release_extents(&mut g.acct, fs, rsv);
            drop(g);

            // 7. A short copy ends the write.
            if c == 0 {
                return stopped(Outcome::Fault);
            }
            written += c;
            copy_left -= c;
            if c < chunk {
                break;
            }
            cur += chunk;
            if cur < end {
                // Between chunks (6.12 file.c btrfs_buffered_write :1303
                // balance_dirty_pages_ratelimited_flags, :1398 cond_resched): the inode lock
                // kept, every other lock given up, and it may sleep.
                yield_point();
            }
        }
        Outcome::Written { bytes: written }
    }

    // ---- direct write (btrfs_direct_write, btrfs_dio_iomap_begin, 6.12 direct-io.c) ----

    /// 6.12 keeps the inode lock (shared for an overwrite, which still keeps buffered writers
    /// and truncate out) for the whole write; the model holds i_mutex throughout.
    pub(crate) fn direct_write_c(
        &self,
        inode: &Inode,
        pos: u64,
        len: u64,
        fallback: bool,
    ) -> Outcome {
        let fs = &self.info;
        let end = pos + len - 1;
        let i_mutex = inode.i_mutex();
        if self.expand_for_write(inode, &i_mutex, pos).is_err() {
            return Outcome::Enospc;
        }
        // filemap_fdatawrite_range, then the data for the whole range, before the lock.
        self.writeback(inode, pos, len);
        let data = data_bytes(fs, pos, len);
        if fs.reserve_data(data).is_err() {
            return Outcome::Enospc;
        }
        if fallback {
            // -ENOTBLK: the data goes back, then a buffered write of the same range.
            let mut g = inode.lock_inner();
            self.finish_ordered_in(&mut g, pos, end);
            drop(g);
            fs.free_data(data);
            return self.buffered_write_c(inode, &i_mutex, pos, len, len, false);
        }
        // lock_extent_direct: wait for ordered extents, lock; a racing page_mkwrite may have
        // left delalloc in the range (the kernel's page invalidation would fail): flush and
        // go again. A sequential run goes round once.
        let mut cached = Cursor::new();
        let mut g = loop {
            let g = inode.lock_inner();
            let mut g = self.lock_without_ordered(inode, g, pos, end, &mut cached);
            if !g.tree.test_range_bit(pos, end, Bits::DELALLOC, false) {
                break g;
            }
            inode.unlock_extent(&mut g, fs, pos, end, &mut cached);
            drop(g);
            self.writeback(inode, pos, len);
        };
        // One btrfs_get_blocks_direct_write (:215) per iomap iteration, each reserving for all
        // that is left (`rest`, the kernel's prev_len); the allocator gives at most max_extent,
        // the metadata of the rest goes back (:337-340), and the reservation's extents are
        // released for all of `rest` (:347).
        let mut written = 0;
        let mut off = pos;
        while off <= end {
            let rest = end + 1 - off;
            drop(g);
            let reserved = reserve_metadata(inode, &i_mutex, fs, rest, rest);
            g = inode.lock_inner();
            if reserved.is_err() {
                break;
            }
            let piece = rest.min(fs.geo.max_extent);
            fs.alloc_data(piece);
            let inner = &mut *g;
            InodeInner::add_ordered(
                fs,
                &mut inner.acct,
                &mut inner.ordered,
                off,
                piece,
                OrderedKind::Direct,
            );
            if piece < rest {
                release_metadata(&mut g.acct, fs, rest - piece);
            }
            // Bug::DioReleasesShrunkExtents: the shrunk length, as before 6d82ad13c411.
            let released = if fs.bugs.contains(Bug::DioReleasesShrunkExtents) {
                piece
            } else {
                rest
            };
            release_extents(&mut g.acct, fs, released);
            g.i_size = g.i_size.max(off + piece);
            written += piece;
            off += piece;
        }
        inode.unlock_extent(&mut g, fs, pos, end, &mut cached);
        drop(g);
        // The data reserved for pieces not written goes back.
        fs.free_data(data - written);
        if written == 0 {
            Outcome::Enospc
        } else {
            Outcome::Written { bytes: written }
        }
    }

    // ---- page_mkwrite (btrfs_page_mkwrite, 6.12 file.c:1875) ----

    pub(crate) fn page_mkwrite_c(&self, inode: &Inode, pos: u64) -> Outcome {
        let fs = &self.info;
        let s = fs.geo.sectorsize;
        {
            let i_mutex = inode.i_mutex();
            if reserve_space(inode, &i_mutex, fs, pos, s).is_err() {
                return Outcome::Enospc;
            }
        }
        // lock_page may sleep.
        yield_point();
        let mut g = inode.lock_inner();
        if pos >= g.i_size {
            mkwrite_give_back_c(&mut g, fs, pos, s);
            return Outcome::Fault;
        }
        let end = pos + s - 1;
        let mut cached = Cursor::new();
        g = self.lock_without_ordered(inode, g, pos, end, &mut cached);
        if pos >= g.i_size {
            // Truncated while we waited for the range. Never in a sequential run.
            inode.unlock_extent(&mut g, fs, pos, end, &mut cached);
            mkwrite_give_back_c(&mut g, fs, pos, s);
            return Outcome::Fault;
        }
        self.redirty_locked_page(inode, &mut g, pos, &mut cached);
        Outcome::Done
    }

    // ---- defrag (defrag_one_range, 6.12 defrag.c:1184) ----

    pub(crate) fn defrag_c(&self, inode: &Inode, start: u64, len: u64) -> Outcome {
        let fs = &self.info;
        let geo = &fs.geo;
        let mut cur = geo.round_down(start);
        // The end, fixed under the first chunk's i_mutex (see the era B path).
        let mut end_excl: Option<u64> = None;
        loop {
            let i_mutex = inode.i_mutex();
            let eof = geo.round_up(inode.lock_inner().i_size);
            let limit =
                (*end_excl.get_or_insert_with(|| geo.round_up(start + len).min(eof))).min(eof);
            if cur >= limit {
                break;
            }
            let clen = geo.write_chunk.min(limit - cur);
            if reserve_space(inode, &i_mutex, fs, cur, clen).is_err() {
                return Outcome::Enospc;
            }
            let end = cur + clen - 1;
            let mut cached = Cursor::new();
            let mut g = self.lock_without_ordered(inode, inode.lock_inner(), cur, end, &mut cached);
            let clear = Bits::DELALLOC | Bits::DO_ACCOUNTING | Bits::DEFRAG;
            inode.clear_and_wake(&mut g, fs, cur, end, clear, false, Some(&mut cached));
            // defrag_one_locked_target: a plain set_extent_bit, no DELALLOC_NEW.
            g.set_bits(
                fs,
                cur,
                end,
                Bits::DELALLOC | Bits::DEFRAG,
                Some(&mut cached),
            );
            inode.unlock_extent(&mut g, fs, cur, end, &mut cached);
            release_extents(&mut g.acct, fs, clen);
            cur += clen;
            drop(g);
            drop(i_mutex);
            // 6.12 btrfs_defrag_file gives the inode lock up after each cluster
            // (defrag.c:1459 btrfs_inode_unlock, :1467 cond_resched) and retakes it for the
            // next (:1439): a truncate or a write may get in. Never after the last.
            if cur < end_excl.unwrap_or(0) {
                yield_point();
            }
        }
        Outcome::Done
    }

    // ---- ordered completion (btrfs_finish_one_ordered, 6.12 inode.c:3025) ----

    /// Finishes the ordered extent at `start`. The kernel locks the range of a Cow or Direct
    /// extent around the clears; nothing else can hold it (no range with an ordered extent in
    /// it is locked but by the task creating it, which does not wait), and locking it would
    /// only split records that the unlock merges back, so the model clears without the lock:
    /// DELALLOC_NEW (Cow), then DEFRAG, which writeback left.
    pub(crate) fn finish_one_c(&self, g: &mut InodeInner, start: u64) {
        let fs = &self.info;
        let Some(&oe) = g.ordered.get(&start) else {
            debug_assert!(false, "no ordered extent at {start}");
            return;
        };
        let end = start + oe.len - 1;
        if oe.kind == OrderedKind::Cow {
            g.clear_bits(fs, start, end, Bits::DELALLOC_NEW, false, None);
        }
        delayed_inode_reserve(g, fs);
        if oe.kind != OrderedKind::Nocow {
            fs.data_written(oe.len);
        }
        g.clear_bits(fs, start, end, Bits::DEFRAG, false, None);
        // btrfs_remove_ordered_extent (ordered-data.c:634): −1, then release_metadata.
        g.ordered.remove(&start);
        g.acct.outstanding_extents = g.acct.outstanding_extents.saturating_sub(1);
        release_metadata(&mut g.acct, fs, oe.len);
    }
}

/// page_mkwrite's exit when its page is past EOF: the reservation's extent, then the space.
fn mkwrite_give_back_c(
    g: &mut MutexGuard<'_, InodeInner>,
    fs: &crate::space::FsInfo,
    pos: u64,
    s: u64,
) {
    // Bug::ErrorPathKeepsExtentEraC: the extents are not released (44db1216efe3's mistake).
    if !fs.bugs.contains(Bug::ErrorPathKeepsExtentEraC) {
        release_extents(&mut g.acct, fs, s);
    }
    release_space(&mut g.acct, fs, pos, s);
}
