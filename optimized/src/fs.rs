//! The file-system paths of SPEC §6 (and finish_ordered_io of §5), each as the kernel function
//! it models: lock the range, clear, set, unlock, passing one cached-state cursor along.
//!
//! A path touches one inode (unmount and commit visit them one at a time, in order). It holds the
//! inode lock for non-blocking stretches and releases it for a reservation or a range-lock wait;
//! the range lock (LOCKED) is what keeps other tasks out of the bytes it works on.
//!
//! Cost: each path is O((k + 1) log n) for the k records and ordered extents it touches; no path
//! walks a whole tree or ordered list (writeback finds delalloc with find_first_bit and
//! find_delalloc_range, finishing in a range looks up ordered extents by offset).

use crate::bugs::{Bug, BugSet};
use crate::extent_tree::Cursor;
use crate::inode::{IMutexGuard, Inode, InodeInner};
use crate::reservation::{
    delayed_inode_reserve, hand_off, release_metadata, release_space, reserve_metadata,
    reserve_space,
};
use crate::space::{Enospc, FsInfo, Rsv, Warning};
use crate::sync::{yield_point, MutexGuard};
use delalloc_contract::op::MAX_OFFSET;
use delalloc_contract::{Bits, Ino, OrderedKind, Outcome};

/// The last byte any range may address: the "EOF range" ends here.
pub(crate) const EOF_END: u64 = MAX_OFFSET - 1;

/// The mounted file system: fs_info and the inodes.
#[derive(Debug)]
pub struct FileSystem {
    pub info: FsInfo,
    pub inodes: Box<[Inode]>,
}

impl FileSystem {
    pub fn mount(geo: &delalloc_contract::Geometry) -> FileSystem {
        FileSystem::mount_with_bugs(geo, BugSet::NONE)
    }

    /// [`FileSystem::mount`] with `bugs` re-introduced.
    pub fn mount_with_bugs(geo: &delalloc_contract::Geometry, bugs: BugSet) -> FileSystem {
        FileSystem {
            info: FsInfo::mount_with_bugs(geo, bugs),
            inodes: (0..geo.inodes)
                .map(|ino| Inode::new(ino, bugs, geo.era))
                .collect(),
        }
    }

    fn inode(&self, ino: Ino) -> &Inode {
        &self.inodes[usize::from(ino)]
    }

    // ---- ordered extents (SPEC §5) ----

    /// btrfs_finish_ordered_io of the ordered extent starting at `start`: the inode-update
    /// reservation, the allocation becomes used space, and the extent's metadata goes back.
    fn finish_one(&self, g: &mut InodeInner, start: u64) {
        if self.info.era_c {
            return self.finish_one_c(g, start);
        }
        let fs = &self.info;
        let Some(&oe) = g.ordered.get(&start) else {
            debug_assert!(false, "no ordered extent at {start}");
            return;
        };
        // 4.4 btrfs_finish_ordered_io: a COW ordered extent whose whole range is DEFRAG
        // (test_range_bit with filled = 1) loses DEFRAG; a NOCOW one, or a partly DEFRAG range,
        // keeps it.
        let end = start + oe.len - 1;
        if oe.kind != OrderedKind::Nocow && g.tree.test_range_bit(start, end, Bits::DEFRAG, true) {
            g.clear_bits(fs, start, end, Bits::DEFRAG, false, None);
        }
        delayed_inode_reserve(g, fs);
        g.ordered.remove(&start);
        if oe.kind != OrderedKind::Nocow {
            fs.data_written(oe.len);
        }
        release_metadata(&mut g.acct, fs, oe.len);
    }

    /// "Finish ordered in R" (btrfs_wait_ordered_range): every ordered extent overlapping
    /// [start, end], by file offset. One lookup per extent.
    pub(crate) fn finish_ordered_in(&self, g: &mut InodeInner, start: u64, end: u64) {
        while let Some(s) = g.first_ordered_in(start, end) {
            self.finish_one(g, s);
        }
    }

    /// Every ordered extent of the inode, by offset.
    fn finish_all_ordered(&self, g: &mut InodeInner) {
        while let Some((&s, _)) = g.ordered.first_key_value() {
            self.finish_one(g, s);
        }
    }

    /// Lock [start, end] with no ordered extent in it: finish those first, lock, and if a racing
    /// writeback created one while we waited for the range, unlock and go again (the "again:"
    /// loops of lock_and_cleanup_extent_if_need and btrfs_page_mkwrite). A sequential run goes
    /// round once.
    pub(crate) fn lock_without_ordered<'a>(
        &self,
        inode: &'a Inode,
        mut g: MutexGuard<'a, InodeInner>,
        start: u64,
        end: u64,
        cached: &mut Cursor,
    ) -> MutexGuard<'a, InodeInner> {
        loop {
            self.finish_ordered_in(&mut g, start, end);
            g = inode.lock_extent(g, &self.info, start, end, cached);
            if g.first_ordered_in(start, end).is_none() {
                return g;
            }
            inode.unlock_extent(&mut g, &self.info, start, end, cached);
        }
    }

    // ---- buffered write (SPEC §6, __btrfs_buffered_write of 3.15+, seed 003) ----

    pub fn buffered_write(
        &self,
        ino: Ino,
        pos: u64,
        len: u64,
        copied: u64,
        nocow: bool,
    ) -> Outcome {
        let inode = self.inode(ino);
        let i_mutex = inode.i_mutex();
        if self.info.era_c {
            return self.buffered_write_c(inode, &i_mutex, pos, len, copied, nocow);
        }
        if self.expand_for_write(inode, &i_mutex, pos).is_err() {
            return Outcome::Enospc;
        }
        self.buffered_write_locked(inode, &i_mutex, pos, len, copied, nocow)
    }

    /// Before a buffered or O_DIRECT write: one that starts past EOF expands the file first
    /// ([`Self::cont_expand`]). 4.4's btrfs_file_write_iter (file.c:1800-1804) counts a write
    /// past EOF when its first sector starts past i_size; 6.12's btrfs_write_check
    /// (file.c:1163), which a DIO's buffered fallback runs again, when pos > i_size.
    pub(crate) fn expand_for_write(
        &self,
        inode: &Inode,
        i_mutex: &IMutexGuard<'_>,
        pos: u64,
    ) -> Result<(), Enospc> {
        let old_size = inode.lock_inner().i_size;
        let past_eof = if self.info.era_c {
            pos > old_size
        } else {
            self.info.geo.round_down(pos) > old_size
        };
        if past_eof {
            self.cont_expand(inode, i_mutex, old_size)
        } else {
            Ok(())
        }
    }

    /// btrfs_cont_expand(old_size, new) before an op grows the file (SPEC §6 and §6.1 growing
    /// past EOF), under the op's i_mutex. It starts with btrfs_truncate_page(old_size) (4.4
    /// inode.c:4799) or btrfs_truncate_block (6.12 inode.c:4922 → :4708), which dirties the
    /// block holding an unaligned old EOF again with a reservation of its own, however little
    /// the file grows (era C: the nocow fallback on data ENOSPC taken to fail). ENOSPC when that
    /// reservation fails. The hole extents it inserts are not modelled.
    fn cont_expand(
        &self,
        inode: &Inode,
        i_mutex: &IMutexGuard<'_>,
        old_size: u64,
    ) -> Result<(), Enospc> {
        let fs = &self.info;
        let s = fs.geo.sectorsize;
        if old_size.is_multiple_of(s) {
            return Ok(());
        }
        let block = fs.geo.round_down(old_size);
        if fs.era_c {
            crate::reservation_c::reserve_space(inode, i_mutex, fs, block, s)?;
        } else {
            reserve_space(inode, i_mutex, fs, s)?;
        }
        let g = inode.lock_inner();
        drop(self.redirty_page(inode, g, block));
        Ok(())
    }

    /// The write itself, under the caller's i_mutex (a DIO fallback comes here with its own).
    fn buffered_write_locked(
        &self,
        inode: &Inode,
        i_mutex: &IMutexGuard<'_>,
        pos: u64,
        len: u64,
        copied: u64,
        nocow: bool,
    ) -> Outcome {
        let fs = &self.info;
        let geo = &fs.geo;
        let end = pos + len;
        let mut cur = pos;
        let mut copy_left = copied;
        let mut written = 0;
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

            // 1. Reserve. 4.4 asks check_can_nocow first: a chunk written in place reserves no
            // data at all (metadata only, NORESERVE).
            let only_meta = nocow;
            if !only_meta && fs.reserve_data(rsv).is_err() {
                return stopped(Outcome::Enospc);
            }
            if reserve_metadata(inode, i_mutex, fs, rsv).is_err() {
                if !only_meta {
                    fs.free_data(rsv);
                }
                return stopped(Outcome::Enospc);
            }
            // prepare_pages: finding and locking the pages may sleep.
            yield_point();
            let release = |g: &mut InodeInner, n: u64| {
                if only_meta {
                    release_metadata(&mut g.acct, fs, n);
                } else {
                    release_space(&mut g.acct, fs, n);
                }
            };

            // 2. lock_and_cleanup_extent_if_need: inside i_size, older delalloc on these pages
            // gives its reservation back, and the range stays locked until the new delalloc is
            // set (seed 003: a DIO fallback must not clear it in between).
            let mut cached = Cursor::new();
            let mut g = inode.lock_inner();
            let mut locked = a < g.i_size;
            let lock_end = a + rsv - 1;
            if locked {
                g = self.lock_without_ordered(inode, g, a, lock_end, &mut cached);
                let bits = Bits::DIRTY | Bits::DELALLOC | Bits::DO_ACCOUNTING | Bits::DEFRAG;
                inode.clear_and_wake(&mut g, fs, a, lock_end, bits, false, Some(&mut cached));
                if fs.bugs.contains(Bug::UnlockBeforeSetDelalloc) {
                    // The pre-376cc685cb3b prepare_pages: unlocked once cleaned.
                    inode.unlock_extent(&mut g, fs, a, lock_end, &mut cached);
                    locked = false;
                }
            }
            // btrfs_copy_from_user may fault in the user's pages and sleep; the fixed kernel
            // keeps the range locked across it (seed 003), the inode lock is given up.
            let mut g = inode.yield_unlocked(g);

            // 3. The user copy.
            let c = chunk.min(copy_left);
            if c == 0 {
                release(&mut g, rsv);
                if locked {
                    inode.unlock_extent(&mut g, fs, a, lock_end, &mut cached);
                }
                return stopped(Outcome::Fault);
            }

            // 4. Short copy: give back the pages not dirtied. Era A/B bumped outstanding first,
            // because the tail's release drops an extent the dirtied part still needs.
            let dirty = geo.round_up(off + c);
            if dirty < rsv {
                if !fs.bugs.contains(Bug::ShortCopyNoExtentBump) {
                    g.acct.outstanding_extents += 1;
                }
                release(&mut g, rsv - dirty);
            }
            let dirty_end = a + dirty - 1;
            // btrfs_dirty_pages -> btrfs_set_extent_delalloc: DELALLOC|UPTODATE (4.4
            // set_extent_delalloc); the pages carry the dirtiness, the io tree does not.
            let bits = Bits::DELALLOC | Bits::UPTODATE;
            g.set_bits(fs, a, dirty_end, bits, Some(&mut cached));
            if only_meta {
                g.set_bits(fs, a, dirty_end, Bits::NORESERVE, Some(&mut cached));
            }
            if locked {
                inode.unlock_extent(&mut g, fs, a, lock_end, &mut cached);
            }
            hand_off(&mut g.acct, fs, dirty);

            // 5.
            g.i_size = g.i_size.max(cur + c);
            drop(g);
            written += c;
            copy_left -= c;
            if c < chunk {
                break;
            }
            cur += chunk;
            if cur < end {
                // Between chunks (4.x __btrfs_buffered_write: balance_dirty_pages_ratelimited,
                // cond_resched): i_mutex kept, every other lock given up, and it may sleep.
                yield_point();
            }
        }
        Outcome::Written { bytes: written }
    }

    // ---- O_DIRECT (SPEC §6, btrfs_direct_IO, seed 004) ----

    pub fn direct_write(&self, ino: Ino, pos: u64, len: u64, fallback: bool) -> Outcome {
        let inode = self.inode(ino);
        if self.info.era_c {
            return self.direct_write_c(inode, pos, len, fallback);
        }
        let fs = &self.info;
        let end = pos + len - 1;
        // The aio_write path reserves under i_mutex. btrfs_direct_IO lets it go for an overwrite
        // inside i_size, but an extending write keeps it: a buffered write at EOF does not lock
        // its range (nothing past EOF is delalloc), so it must not run beside our transient
        // DELALLOC there.
        let i_mutex = inode.i_mutex();
        if self.expand_for_write(inode, &i_mutex, pos).is_err() {
            return Outcome::Enospc;
        }
        // generic_file_direct_write flushes the range (filemap_write_and_wait_range) before
        // btrfs_direct_IO reserves: an ENOSPC answer comes after the writeback.
        self.writeback(inode, pos, len);
        if reserve_space(inode, &i_mutex, fs, len).is_err() {
            return Outcome::Enospc;
        }
        let i_mutex = if pos + len > inode.lock_inner().i_size {
            Some(i_mutex)
        } else {
            // Truncate waits for us from here on (inode_dio_wait), since it cannot wait for
            // i_mutex.
            inode.dio_begin(&mut inode.lock_inner());
            drop(i_mutex);
            // btrfs_direct_IO has let i_mutex go: a buffered writer may get in (seed 003).
            yield_point();
            None
        };
        // lock_extent_direct: flush and wait, lock, and retry while a racing task left delalloc or
        // an ordered extent in the range. A sequential run goes round once.
        let mut cached = Cursor::new();
        let mut g = loop {
            self.writeback(inode, pos, len);
            let mut g = inode.lock_inner();
            self.finish_ordered_in(&mut g, pos, end);
            g = inode.lock_extent(g, fs, pos, end, &mut cached);
            if g.first_ordered_in(pos, end).is_none()
                && !g.tree.test_range_bit(pos, end, Bits::DELALLOC, false)
            {
                break g;
            }
            inode.unlock_extent(&mut g, fs, pos, end, &mut cached);
        };
        // Seed 004: DELALLOC only; no page will ever clear DIRTY or UPTODATE here.
        let bits = if fs.bugs.contains(Bug::DioSetsDirtyUptodate) {
            Bits::DELALLOC | Bits::DIRTY | Bits::UPTODATE
        } else {
            Bits::DELALLOC
        };
        g.set_bits(fs, pos, end, bits, Some(&mut cached));
        hand_off(&mut g.acct, fs, len);

        if fallback {
            // The extent must be written through the page cache: give the reservation back with
            // the delalloc, unlock, and write buffered (which reserves again). Between mapping
            // and falling back the kernel returns up the DIO path (seed 003's window).
            let mut g = inode.yield_unlocked(g);
            let mut bits = Bits::LOCKED | Bits::DELALLOC | Bits::DIRTY | Bits::DO_ACCOUNTING;
            if fs.bugs.contains(Bug::DioFallbackKeepsReservation) {
                // Pre-50745b0a7f46: the unused reservation of the failed DIO stays.
                bits = bits.minus(Bits::DO_ACCOUNTING);
            }
            inode.clear_and_wake(&mut g, fs, pos, end, bits, false, Some(&mut cached));
            if i_mutex.is_none() {
                inode.dio_end(&mut g);
            }
            drop(g);
            let i_mutex = i_mutex.unwrap_or_else(|| {
                // btrfs_direct_IO retakes i_mutex after the DIO (4.x inode.c, `if (relock)
                // inode_lock(inode)`), which may sleep: another writer may go first.
                yield_point();
                inode.i_mutex()
            });
            return self.buffered_write_locked(inode, &i_mutex, pos, len, len, false);
        }

        // btrfs_get_blocks_direct: allocate, one ordered extent per max_extent, and the delalloc
        // is consumed (no accounting) as the range is unlocked.
        fs.alloc_data(len);
        let mut off = pos;
        while off <= end {
            let piece = (end + 1 - off).min(fs.geo.max_extent);
            let inner = &mut *g;
            InodeInner::add_ordered(
                fs,
                &mut inner.acct,
                &mut inner.ordered,
                off,
                piece,
                OrderedKind::Direct,
            );
            off += piece;
        }
        inode.clear_and_wake(
            &mut g,
            fs,
            pos,
            end,
            Bits::LOCKED | Bits::DELALLOC,
            false,
            Some(&mut cached),
        );
        g.i_size = g.i_size.max(pos + len);
        if i_mutex.is_none() {
            inode.dio_end(&mut g);
        }
        Outcome::Written { bytes: len }
    }

    // ---- page_mkwrite (SPEC §6, btrfs_page_mkwrite, seed 000) ----

    pub fn page_mkwrite(&self, ino: Ino, pos: u64) -> Outcome {
        let inode = self.inode(ino);
        if self.info.era_c {
            return self.page_mkwrite_c(inode, pos);
        }
        let fs = &self.info;
        let s = fs.geo.sectorsize;
        {
            let i_mutex = inode.i_mutex();
            if reserve_space(inode, &i_mutex, fs, s).is_err() {
                return Outcome::Enospc;
            }
        }
        // i_mutex is let go after the reservation (seed 000); lock_page may sleep.
        yield_point();
        let mut g = inode.lock_inner();
        if pos >= g.i_size {
            mkwrite_give_back(&mut g, fs, s);
            return Outcome::Fault;
        }
        let end = pos + s - 1;
        let mut cached = Cursor::new();
        g = self.lock_without_ordered(inode, g, pos, end, &mut cached);
        if pos >= g.i_size {
            // Truncated while we waited for the range (the kernel re-checks the size under the
            // page lock). Never in a sequential run.
            inode.unlock_extent(&mut g, fs, pos, end, &mut cached);
            mkwrite_give_back(&mut g, fs, s);
            return Outcome::Fault;
        }
        self.redirty_locked_page(inode, &mut g, pos, &mut cached);
        Outcome::Done
    }

    /// The reserved page at `pos` dirtied again, as btrfs_truncate_page (4.4) or
    /// btrfs_truncate_block (6.12) does it: wait for its ordered extents and lock it, then
    /// [`Self::redirty_locked_page`]. Returns the inode lock.
    fn redirty_page<'a>(
        &self,
        inode: &'a Inode,
        g: MutexGuard<'a, InodeInner>,
        pos: u64,
    ) -> MutexGuard<'a, InodeInner> {
        let end = pos + self.info.geo.sectorsize - 1;
        let mut cached = Cursor::new();
        let mut g = self.lock_without_ordered(inode, g, pos, end, &mut cached);
        self.redirty_locked_page(inode, &mut g, pos, &mut cached);
        g
    }

    /// The reserved page at `pos`, locked by the caller, dirtied again as btrfs_page_mkwrite and
    /// btrfs_truncate_page (4.4) or btrfs_truncate_block (6.12) do: clear the older delalloc
    /// (giving its reservation back), set delalloc, unlock, and settle the reservation's extent
    /// count. Era B sets DELALLOC|UPTODATE and hands off count(S); era C is
    /// btrfs_reset_extent_delalloc (6.12 inode.c:2834), then release_extents(S).
    pub(crate) fn redirty_locked_page(
        &self,
        inode: &Inode,
        g: &mut MutexGuard<'_, InodeInner>,
        pos: u64,
        cached: &mut Cursor,
    ) {
        let fs = &self.info;
        let s = fs.geo.sectorsize;
        let end = pos + s - 1;
        let mut clear = Bits::DELALLOC | Bits::DO_ACCOUNTING | Bits::DEFRAG;
        if !fs.era_c {
            clear = clear | Bits::DIRTY;
        }
        inode.clear_and_wake(g, fs, pos, end, clear, false, Some(&mut *cached));
        if fs.era_c {
            self.set_delalloc_c(g, pos, end, Bits::NONE, cached);
        } else {
            let bits = Bits::DELALLOC | Bits::UPTODATE;
            g.set_bits(fs, pos, end, bits, Some(&mut *cached));
        }
        inode.unlock_extent(g, fs, pos, end, cached);
        if fs.era_c {
            crate::reservation_c::release_extents(&mut g.acct, fs, s);
        } else {
            hand_off(&mut g.acct, fs, s);
        }
    }

    // ---- defrag (SPEC §6, cluster_pages_for_defrag, seed 000) ----

    pub fn defrag(&self, ino: Ino, start: u64, len: u64) -> Outcome {
        let inode = self.inode(ino);
        if self.info.era_c {
            return self.defrag_c(inode, start, len);
        }
        let fs = &self.info;
        let geo = &fs.geo;
        let mut cur = geo.round_down(start);
        // The end of the run, fixed under the first cluster's inode lock (the kernel's
        // last_index): read before it, a truncate and a re-extension between the read and the
        // first cluster would leave a range no order of the ops gives.
        let mut end_excl: Option<u64> = None;
        loop {
            // 4.x btrfs_defrag_file holds the inode lock around each cluster. The range is
            // clamped to i_size again under it, in case a truncate ran between two chunks (only
            // in a concurrent run: defrag never changes i_size), so that no delalloc is left past
            // EOF, where a buffered write would not look for it.
            let i_mutex = inode.i_mutex();
            let eof = geo.round_up(inode.lock_inner().i_size);
            let limit =
                (*end_excl.get_or_insert_with(|| geo.round_up(start + len).min(eof))).min(eof);
            if cur >= limit {
                break;
            }
            let clen = geo.write_chunk.min(limit - cur);
            if reserve_space(inode, &i_mutex, fs, clen).is_err() {
                return Outcome::Enospc;
            }
            let end = cur + clen - 1;
            let mut cached = Cursor::new();
            let mut g = self.lock_without_ordered(inode, inode.lock_inner(), cur, end, &mut cached);
            let clear = Bits::DELALLOC | Bits::DO_ACCOUNTING | Bits::DEFRAG;
            inode.clear_and_wake(&mut g, fs, cur, end, clear, false, Some(&mut cached));
            g.set_bits(
                fs,
                cur,
                end,
                Bits::DELALLOC | Bits::UPTODATE | Bits::DEFRAG,
                Some(&mut cached),
            );
            inode.unlock_extent(&mut g, fs, cur, end, &mut cached);
            hand_off(&mut g.acct, fs, clen);
            cur += clen;
            drop(g);
            drop(i_mutex);
            // Between clusters 4.x btrfs_defrag_file gives the inode lock up (inode_unlock
            // after cluster_pages_for_defrag) and retakes it for the next: a truncate or a
            // write may get in. Never after the last (the loop's check is under the lock).
            if cur < end_excl.unwrap_or(0) {
                yield_point();
            }
        }
        Outcome::Done
    }

    // ---- writeback (SPEC §6, run_delalloc_range / cow_file_range, 4.8+ data accounting) ----

    pub fn writeback_op(&self, ino: Ino, start: u64, len: u64) -> Outcome {
        self.writeback(self.inode(ino), start, len);
        Outcome::Done
    }

    /// Writes back the delalloc of [round_down(start), round_up(start + len) − 1], one locked
    /// extent of at most max_extent at a time.
    pub(crate) fn writeback(&self, inode: &Inode, start: u64, len: u64) {
        let fs = &self.info;
        let geo = &fs.geo;
        let last = geo.round_up(start + len) - 1;
        let mut cur = geo.round_down(start);
        let mut g = inode.lock_inner();
        while cur <= last {
            // find_lock_delalloc_range: the next delalloc extent, capped.
            let Some(rec) = g.tree.find_first_bit(cur, Bits::DELALLOC) else {
                break;
            };
            if rec.start > last {
                break;
            }
            let s = rec.start.max(cur);
            let (_, _, found_end) = g.tree.find_delalloc_range(s, geo.max_extent);
            let e = found_end.min(last).min(s + geo.max_extent - 1);
            let mut cached = Cursor::new();
            g = inode.lock_extent(g, fs, s, e, &mut cached);
            if !g.tree.test_range_bit(s, e, Bits::DELALLOC, true) {
                // It changed while we waited for the lock: look again.
                inode.unlock_extent(&mut g, fs, s, e, &mut cached);
                continue;
            }
            // cow_file_range / run_delalloc_nocow: one ordered extent per run of records with
            // the same NORESERVE bit; a COW run is allocated first.
            let inner = &mut *g;
            let mut start_ordered = |start: u64, next: u64, nocow: bool| {
                let kind = if nocow {
                    OrderedKind::Nocow
                } else {
                    fs.alloc_data(next - start);
                    OrderedKind::Cow
                };
                InodeInner::add_ordered(
                    fs,
                    &mut inner.acct,
                    &mut inner.ordered,
                    start,
                    next - start,
                    kind,
                );
            };
            let mut run: Option<(u64, bool)> = None;
            for r in inner.tree.records_in(s, e) {
                let nocow = r.bits.intersects(Bits::NORESERVE);
                let r_start = r.start.max(s);
                match run {
                    Some((_, n)) if n == nocow => {}
                    Some((rs, n)) => {
                        start_ordered(rs, r_start, n);
                        run = Some((r_start, nocow));
                    }
                    None => run = Some((r_start, nocow)),
                }
            }
            if let Some((rs, n)) = run {
                start_ordered(rs, e + 1, n);
            }
            // The allocation consumed the data reservation: no DO_ACCOUNTING. 4.4 cow_file_range
            // and run_delalloc_nocow, like 6.12's (:1567), clear only LOCKED|DELALLOC: DEFRAG
            // (and in era C DELALLOC_NEW) stays until the ordered extent finishes.
            let clear = Bits::LOCKED | Bits::DELALLOC;
            inode.clear_and_wake(&mut g, fs, s, e, clear, false, Some(&mut cached));
            cur = e + 1;
        }
    }

    // ---- ordered completion, truncate, evict, commit (SPEC §5, §6) ----

    pub fn finish_ordered(&self, ino: Ino, nth: u8) -> Outcome {
        let mut g = self.inode(ino).lock_inner();
        let n = g.ordered.len();
        if n == 0 {
            return Outcome::NoOrderedExtent;
        }
        let idx = usize::from(nth) % n;
        // At most 255 steps; from whichever end is nearer.
        let start = if idx <= n / 2 {
            g.ordered.keys().nth(idx)
        } else {
            g.ordered.keys().nth_back(n - 1 - idx)
        };
        let start = *start.expect("index below the count");
        self.finish_one(&mut g, start);
        Outcome::Done
    }

    /// btrfs_setsize + truncate_pagecache.
    pub fn truncate(&self, ino: Ino, size: u64) -> Outcome {
        let inode = self.inode(ino);
        let fs = &self.info;
        let i_mutex = inode.i_mutex();
        // btrfs_setsize growing the file: btrfs_cont_expand first, which begins with the
        // truncate of the old EOF's block.
        let old_size = inode.lock_inner().i_size;
        if size > old_size && self.cont_expand(inode, &i_mutex, old_size).is_err() {
            return Outcome::Enospc;
        }
        let mut g = inode.dio_wait(inode.lock_inner());
        // truncate_setsize first, then the pages: a task that locked a page past the new size
        // before we got to it re-checks i_size and backs off (page_mkwrite). i_size changes
        // only under i_mutex, which we hold, so it is still old_size.
        g.i_size = size;
        if size < old_size {
            let cut = fs.geo.round_up(size);
            if cut > EOF_END {
                self.finish_ordered_in(&mut g, cut, u64::MAX);
            } else {
                // btrfs_invalidatepage locks what it drops, so a task holding part of the range
                // is waited for rather than robbed of its lock, and it looks for ordered extents
                // again once it holds the range (a racing writeback may have made one).
                let mut cached = Cursor::new();
                g = self.lock_without_ordered(inode, g, cut, EOF_END, &mut cached);
                inode.clear_and_wake(
                    &mut g,
                    fs,
                    cut,
                    EOF_END,
                    Bits::DO_ACCOUNTING,
                    true,
                    Some(&mut cached),
                );
            }
        }
        // btrfs_truncate's btrfs_wait_ordered_range(round_down(size), (u64)-1): the sector
        // holding the new EOF is written back and its ordered extents finished. 4.4 gets there
        // for a truncate to the same size too; 6.12 skips it then (skip_writeback).
        if size < old_size || (size == old_size && !fs.era_c) {
            drop(g);
            let from = fs.geo.round_down(size);
            self.writeback(inode, from, EOF_END + 1 - from);
            self.finish_ordered_in(&mut inode.lock_inner(), from, u64::MAX);
        }
        Outcome::Done
    }

    /// btrfs_evict_inode + btrfs_destroy_inode.
    pub fn evict(&self, ino: Ino) -> Outcome {
        let inode = self.inode(ino);
        let fs = &self.info;
        let _i_mutex = inode.i_mutex();
        let g = inode.dio_wait(inode.lock_inner());
        let mut cached = Cursor::new();
        let mut g = self.lock_without_ordered(inode, g, 0, EOF_END, &mut cached);
        inode.clear_and_wake(
            &mut g,
            fs,
            0,
            EOF_END,
            Bits::DO_ACCOUNTING,
            true,
            Some(&mut cached),
        );
        if g.acct.leaks() {
            fs.warn(Warning::EvictLeak);
        }
        // The kernel frees the inode; whatever leaked stays in the reservations.
        g.acct = Default::default();
        Outcome::Done
    }

    /// btrfs_commit_transaction: the delayed items run and give their reservations back, then
    /// the global reserve is refilled.
    pub fn commit(&self) -> Outcome {
        for (i, inode) in self.inodes.iter().enumerate() {
            if i > 0 {
                // btrfs_run_delayed_items runs the delayed nodes one at a time, each under its
                // own mutex, and may sleep between them (6.12 delayed-inode.c
                // __btrfs_run_delayed_items :1170-1179).
                yield_point();
            }
            let bytes = std::mem::take(&mut inode.lock_inner().delayed_bytes_reserved);
            self.info.release(Rsv::Delayed, bytes);
        }
        self.info.refill_global();
        Outcome::Done
    }

    /// close_ctree. The caller keeps every other op out.
    pub fn unmount(&self) -> Outcome {
        for inode in &self.inodes {
            self.writeback(inode, 0, MAX_OFFSET);
            self.finish_all_ordered(&mut inode.lock_inner());
        }
        self.commit();
        for inode in &self.inodes {
            self.evict(inode.ino);
        }
        self.info.release_global();
        if self.info.leaks_at_unmount() {
            self.info.warn(Warning::UnmountLeak);
        }
        Outcome::Done
    }
}

/// page_mkwrite's exit when its page is past EOF: the whole reservation goes back.
fn mkwrite_give_back(g: &mut InodeInner, fs: &FsInfo, n: u64) {
    if fs.bugs.contains(Bug::ErrorPathKeepsExtent) {
        // As before 44db1216efe3: the bytes go back, the outstanding extent does not.
        let to_free = g.acct.csum_release(fs, n);
        fs.release(Rsv::Delalloc, to_free);
        fs.free_data(n);
    } else {
        release_space(&mut g.acct, fs, n);
    }
}
