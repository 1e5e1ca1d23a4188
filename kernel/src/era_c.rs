//! The file-system ops of era C (SPEC §3.1, §4.1, §5.1, §6.1, era 6 programs) on a
//! [`KernelFs`]: each op calls the kernel's own functions (delalloc-space.c, block-rsv.c, the
//! hooks through the io tree) in the order SPEC §6.1 gives, and the snapshot is read from the
//! kernel's fields. What the kernel keeps in structures not compiled here is kept in this
//! module: the ordered extents (ordered-data.c), the delayed inode nodes' reservations
//! (delayed-inode.c) and the counts of the WARN_ONs SPEC names.
//!
//! A third implementation of the op sequencing, written from SPEC (not from reference/ or
//! optimized/). Programs reach it validated (contract::op::validate), so a refusal of the
//! facade here is a bug of this module, and panics naming the op's step.

use crate::fs::{FsConfig, FsError, KernelFs, Rsv, SpaceKind};
use delalloc_contract::op::MAX_OFFSET;
use delalloc_contract::{
    Bits, BlockRsv, FaultKind, Geometry, InodeSnapshot, Op, OrderedExtent, OrderedKind, Outcome,
    Snapshot, SpaceInfo, Warnings,
};

/// The last byte of "EOF range" (SPEC notation: no byte at or past 2^50 is addressed).
const EOF: u64 = MAX_OFFSET - 1;

/// A facade call that must succeed on a validated program.
fn must<T>(what: &str, r: Result<T, FsError>) -> T {
    r.unwrap_or_else(|e| panic!("era C model, {what}: {e}"))
}

/// A reservation: true if it succeeded, false on -ENOSPC.
fn reserved(what: &str, r: Result<(), FsError>) -> bool {
    match r {
        Ok(()) => true,
        Err(e) if e.is_enospc() => false,
        Err(e) => panic!("era C model, {what}: {e}"),
    }
}

/// The kernel's file system and what the model keeps beside it.
pub(crate) struct EraC {
    fs: KernelFs,
    g: Geometry,
    /// Each inode's pending ordered extents, by file offset.
    ordered: Vec<Vec<OrderedExtent>>,
    /// Each inode's delayed node reservation (node->bytes_reserved).
    delayed: Vec<u64>,
    warnings: Warnings,
    mounted: bool,
}

impl EraC {
    /// A mounted file system of a validated era-6 geometry (SPEC §3 mount).
    pub(crate) fn new(g: &Geometry) -> EraC {
        let fs = must("mount", KernelFs::new(FsConfig::from_geometry(g)));
        let n = usize::from(g.inodes);
        EraC {
            fs,
            g: *g,
            ordered: vec![Vec::new(); n],
            delayed: vec![0; n],
            warnings: Warnings::default(),
            mounted: true,
        }
    }

    fn round_down(&self, v: u64) -> u64 {
        self.g.round_down(v)
    }

    fn round_up(&self, v: u64) -> u64 {
        self.g.round_up(v)
    }

    fn i_size(&mut self, ino: u8) -> u64 {
        must("i_size", self.fs.inode_counters(ino)).i_size
    }

    fn set_i_size(&mut self, ino: u8, size: u64) {
        must("i_size", self.fs.set_i_size(ino, size));
    }

    /// lock_extent on [s, e]: nothing is ever locked between ops, and an op unlocks what it
    /// locks before it locks again, so the first attempt always succeeds.
    fn lock(&mut self, ino: u8, s: u64, e: u64) {
        if let Err(failed) = must("lock", self.fs.lock_range(ino, s, e)) {
            panic!("era C model: [{s}, {e}] of inode {ino} is locked at {failed} between ops");
        }
    }

    fn unlock(&mut self, ino: u8, s: u64, e: u64) {
        must("unlock", self.fs.unlock(ino, s, e));
    }

    fn set(&mut self, ino: u8, s: u64, e: u64, bits: Bits) {
        if let Err(failed) = must("set", self.fs.set_bits(ino, s, e, bits, false)) {
            panic!("era C model: set {bits:?} on [{s}, {e}] met a lock at {failed}");
        }
    }

    fn clear(&mut self, ino: u8, s: u64, e: u64, bits: Bits, delete: bool) {
        must("clear", self.fs.clear_bits(ino, s, e, bits, delete, false));
    }

    /// SPEC §6.1 "set delalloc on [x, y]" (btrfs_set_extent_delalloc, 6.12 inode.c:2798):
    /// DELALLOC and `extra`, plus DELALLOC_NEW when x is at or past `i_size` (read by the caller
    /// before it changes i_size).
    fn set_delalloc(&mut self, ino: u8, x: u64, y: u64, extra: Bits, i_size: u64) {
        let mut bits = Bits::DELALLOC | extra;
        if x >= i_size {
            bits = bits | Bits::DELALLOC_NEW;
        }
        self.set(ino, x, y, bits);
    }

    // ---- §5.1: ordered extents and the inode update ----

    /// Adds an ordered extent: +1 outstanding extent (alloc_ordered_extent).
    fn add_ordered(&mut self, ino: u8, start: u64, len: u64, kind: OrderedKind) {
        must("ordered", self.fs.ordered_added(ino));
        let list = &mut self.ordered[usize::from(ino)];
        let at = list.partition_point(|o| o.start < start);
        list.insert(at, OrderedExtent { start, len, kind });
    }

    /// The inode update (btrfs_delayed_inode_reserve_metadata with the inode's reservation as
    /// the transaction's): nothing if the delayed node holds a reservation; else meta(1)
    /// migrates from the inode reservation, size and all; if it holds less, the update goes
    /// unreserved and is counted.
    fn inode_update(&mut self, ino: u8) {
        let i = usize::from(ino);
        if self.delayed[i] > 0 {
            return;
        }
        let n = self.g.metadata_size(1);
        let moved = reserved(
            "inode update",
            self.fs
                .block_rsv_migrate(Rsv::Inode(ino), Rsv::Delayed, n, true),
        );
        if moved {
            self.delayed[i] = n;
        } else {
            self.warnings.unreserved_inode_updates += 1;
        }
    }

    /// finish_ordered_io of the inode's `idx`-th ordered extent (btrfs_finish_one_ordered).
    fn finish_one(&mut self, ino: u8, idx: usize) {
        let oe = self.ordered[usize::from(ino)][idx];
        let (s, e) = (oe.start, oe.start + oe.len - 1);
        let mut clear = Bits::DEFRAG;
        match oe.kind {
            OrderedKind::Nocow => self.inode_update(ino),
            OrderedKind::Cow | OrderedKind::Direct => {
                self.lock(ino, s, e);
                clear = clear | Bits::LOCKED;
                if oe.kind == OrderedKind::Cow {
                    // :3162 also passes EXTENT_ADD_INODE_BYTES: i_bytes is not modelled.
                    self.clear(ino, s, e, Bits::DELALLOC_NEW, false);
                }
                self.inode_update(ino);
                must("data used", self.fs.data_use_extent(oe.len));
            }
        }
        self.clear(ino, s, e, clear, false);
        self.ordered[usize::from(ino)].remove(idx);
        must("ordered removed", self.fs.ordered_removed(ino, oe.len));
    }

    /// "Finish ordered in [lo, hi]": every ordered extent overlapping it, by file offset.
    fn finish_ordered_in(&mut self, ino: u8, lo: u64, hi: u64) {
        while let Some(idx) = self.ordered[usize::from(ino)]
            .iter()
            .position(|o| o.start <= hi && o.start + o.len > lo)
        {
            self.finish_one(ino, idx);
        }
    }

    fn finish_all(&mut self, ino: u8) {
        while !self.ordered[usize::from(ino)].is_empty() {
            self.finish_one(ino, 0);
        }
    }

    // ---- §6.1: the ops ----

    fn buffered_write(&mut self, ino: u8, pos: u64, len: u64, copied: u64, nocow: bool) -> Outcome {
        if !self.expand_for_write(ino, pos) {
            return Outcome::Enospc;
        }
        let sector = self.g.sectorsize;
        let end = pos + len;
        let (mut cur, mut left, mut written) = (pos, copied, 0u64);
        let stopped = |written: u64| {
            if written == 0 {
                Outcome::Enospc
            } else {
                Outcome::Written { bytes: written }
            }
        };
        while cur < end {
            let off = cur % sector;
            let chunk = (end - cur).min(self.g.write_chunk - off);
            let rsv = self.round_up(off + chunk);
            let a = cur - off;
            // 1. Data, else metadata-only with nocow; then metadata.
            let mut meta_only = false;
            if !reserved(
                "write data",
                self.fs.check_data_free_space(ino, cur, chunk, false),
            ) {
                if !nocow {
                    return stopped(written);
                }
                meta_only = true;
            }
            if !reserved(
                "write metadata",
                self.fs.delalloc_reserve_metadata(ino, rsv, rsv, false),
            ) {
                if !meta_only {
                    must(
                        "write data back",
                        self.fs.free_reserved_data_space(ino, cur, chunk),
                    );
                }
                return stopped(written);
            }
            // 2.
            self.finish_ordered_in(ino, a, a + rsv - 1);
            self.lock(ino, a, a + rsv - 1);
            // 3., 4. The copy, and the tail of the reservation it did not use.
            let copy = chunk.min(left);
            let dirty = if copy == 0 {
                0
            } else {
                self.round_up(off + copy)
            };
            if dirty < rsv {
                if meta_only {
                    must(
                        "tail",
                        self.fs.delalloc_release_metadata(ino, rsv - dirty, true),
                    );
                } else {
                    must(
                        "tail",
                        self.fs
                            .delalloc_release_space(ino, a + dirty, rsv - dirty, true),
                    );
                }
            }
            // 5. btrfs_dirty_pages.
            if copy > 0 {
                let i_size = self.i_size(ino);
                let last = a + dirty - 1;
                self.clear(
                    ino,
                    a,
                    last,
                    Bits::DELALLOC | Bits::DO_ACCOUNTING | Bits::DEFRAG,
                    false,
                );
                let extra = if meta_only {
                    Bits::NORESERVE
                } else {
                    Bits::NONE
                };
                self.set_delalloc(ino, a, last, extra, i_size);
                self.set_i_size(ino, i_size.max(cur + copy));
            }
            // 6.
            self.unlock(ino, a, a + rsv - 1);
            must(
                "release extents",
                self.fs.delalloc_release_extents(ino, rsv),
            );
            written += copy;
            left -= copy;
            // 7.
            if copy < chunk {
                return if written == 0 {
                    Outcome::Fault
                } else {
                    Outcome::Written { bytes: written }
                };
            }
            cur += chunk;
        }
        Outcome::Written { bytes: written }
    }

    fn direct_write(&mut self, ino: u8, pos: u64, len: u64, fallback: bool) -> Outcome {
        if !self.expand_for_write(ino, pos) {
            return Outcome::Enospc;
        }
        self.writeback(ino, pos, len);
        if !reserved(
            "dio data",
            self.fs.check_data_free_space(ino, pos, len, false),
        ) {
            return Outcome::Enospc;
        }
        self.finish_ordered_in(ino, pos, pos + len - 1);
        if fallback {
            must(
                "dio data back",
                self.fs.free_reserved_data_space(ino, pos, len),
            );
            return self.buffered_write(ino, pos, len, len, false);
        }
        self.lock(ino, pos, pos + len - 1);
        let mut written = 0;
        // btrfs_get_blocks_direct_write (6.12 direct-io.c:215) over all that is left, `rest`:
        // the allocation is cut at max_extent (SPEC §6.1), the metadata of the part not
        // allocated goes back (:337-340), and release_extents takes back the count reserved
        // for all of `rest`, prev_len (:347).
        while written < len {
            let rest = len - written;
            if !reserved(
                "dio metadata",
                self.fs.delalloc_reserve_metadata(ino, rest, rest, false),
            ) {
                break;
            }
            let piece = rest.min(self.g.max_extent);
            must("dio allocation", self.fs.data_reserve_extent(piece));
            self.add_ordered(ino, pos + written, piece, OrderedKind::Direct);
            if piece < rest {
                must(
                    "dio shrink",
                    self.fs.delalloc_release_metadata(ino, rest - piece, true),
                );
            }
            must(
                "dio release extents",
                self.fs.delalloc_release_extents(ino, rest),
            );
            let i_size = self.i_size(ino);
            self.set_i_size(ino, i_size.max(pos + written + piece));
            written += piece;
        }
        self.unlock(ino, pos, pos + len - 1);
        if written < len {
            must(
                "dio data back",
                self.fs
                    .free_reserved_data_space(ino, pos + written, len - written),
            );
        }
        if written == 0 {
            Outcome::Enospc
        } else {
            Outcome::Written { bytes: written }
        }
    }

    fn page_mkwrite(&mut self, ino: u8, pos: u64) -> Outcome {
        let s = self.g.sectorsize;
        if !reserved("mkwrite", self.fs.delalloc_reserve_space(ino, pos, s)) {
            return Outcome::Enospc;
        }
        let i_size = self.i_size(ino);
        if pos >= i_size {
            must("mkwrite", self.fs.delalloc_release_extents(ino, s));
            must("mkwrite", self.fs.delalloc_release_space(ino, pos, s, true));
            return Outcome::Fault;
        }
        self.redirty_block(ino, pos, i_size);
        Outcome::Done
    }

    /// The reserved block at `pos` dirtied again, as btrfs_page_mkwrite and
    /// btrfs_truncate_block do: finish its ordered extents, lock it,
    /// btrfs_reset_extent_delalloc (clear the older delalloc, set delalloc), unlock,
    /// btrfs_delalloc_release_extents.
    fn redirty_block(&mut self, ino: u8, pos: u64, i_size: u64) {
        let s = self.g.sectorsize;
        let last = pos + s - 1;
        self.finish_ordered_in(ino, pos, last);
        self.lock(ino, pos, last);
        self.clear(
            ino,
            pos,
            last,
            Bits::DELALLOC | Bits::DO_ACCOUNTING | Bits::DEFRAG,
            false,
        );
        self.set_delalloc(ino, pos, last, Bits::NONE, i_size);
        self.unlock(ino, pos, last);
        must("redirty", self.fs.delalloc_release_extents(ino, s));
    }

    /// btrfs_write_check (6.12 file.c:1128): a write starting past EOF expands the file first.
    /// False when that answers ENOSPC.
    fn expand_for_write(&mut self, ino: u8, pos: u64) -> bool {
        pos <= self.i_size(ino) || self.truncate_block(ino)
    }

    /// btrfs_cont_expand's btrfs_truncate_block(i_size, 0, 0) (6.12 inode.c:4922 → :4708): the
    /// block holding an unaligned EOF, reserved through the kernel's
    /// btrfs_delalloc_reserve_space and dirtied again. False on ENOSPC.
    fn truncate_block(&mut self, ino: u8) -> bool {
        let (s, i_size) = (self.g.sectorsize, self.i_size(ino));
        if i_size % s == 0 {
            return true;
        }
        let block = self.round_down(i_size);
        if !reserved(
            "truncate_block",
            self.fs.delalloc_reserve_space(ino, block, s),
        ) {
            return false;
        }
        self.redirty_block(ino, block, i_size);
        true
    }

    fn defrag(&mut self, ino: u8, start: u64, len: u64) -> Outcome {
        let i_size = self.i_size(ino);
        let a = self.round_down(start);
        let hi = self.round_up(start + len).min(self.round_up(i_size));
        let mut c = a;
        while c < hi {
            let clen = self.g.write_chunk.min(hi - c);
            if !reserved("defrag", self.fs.delalloc_reserve_space(ino, c, clen)) {
                return Outcome::Enospc;
            }
            let last = c + clen - 1;
            self.finish_ordered_in(ino, c, last);
            self.lock(ino, c, last);
            self.clear(
                ino,
                c,
                last,
                Bits::DELALLOC | Bits::DO_ACCOUNTING | Bits::DEFRAG,
                false,
            );
            self.set(ino, c, last, Bits::DELALLOC | Bits::DEFRAG);
            self.unlock(ino, c, last);
            must("defrag", self.fs.delalloc_release_extents(ino, clen));
            c += clen;
        }
        Outcome::Done
    }

    fn writeback(&mut self, ino: u8, start: u64, len: u64) -> Outcome {
        let hi = self.round_up(start + len) - 1;
        let mut cur = self.round_down(start);
        while cur <= hi {
            let Some((rs, _)) = must(
                "writeback",
                self.fs.find_first_extent_bit(ino, cur, Bits::DELALLOC),
            ) else {
                break;
            };
            if rs > hi {
                break;
            }
            let s = rs.max(cur);
            let (_, _, found_end) = must(
                "writeback",
                self.fs.find_delalloc(ino, s, self.g.max_extent),
            );
            let e = found_end.min(hi).min(s + self.g.max_extent - 1);
            self.lock(ino, s, e);
            // The maximal runs of [s, e] with the same NORESERVE bit.
            let mut runs: Vec<(u64, u64, bool)> = Vec::new();
            for r in must("writeback", self.fs.records(ino)) {
                if r.end < s || r.start > e || !r.bits.contains(Bits::DELALLOC) {
                    continue;
                }
                let (rs, re) = (r.start.max(s), r.end.min(e));
                let nr = r.bits.contains(Bits::NORESERVE);
                match runs.last_mut() {
                    Some(last) if last.2 == nr && last.1 + 1 == rs => last.1 = re,
                    _ => runs.push((rs, re, nr)),
                }
            }
            for (rs, re, noreserve) in runs {
                let len = re - rs + 1;
                let kind = if noreserve {
                    OrderedKind::Nocow
                } else {
                    must("writeback allocation", self.fs.data_reserve_extent(len));
                    OrderedKind::Cow
                };
                self.add_ordered(ino, rs, len, kind);
            }
            self.clear(ino, s, e, Bits::LOCKED | Bits::DELALLOC, false);
            cur = e + 1;
        }
        Outcome::Done
    }

    fn finish_ordered(&mut self, ino: u8, nth: u8) -> Outcome {
        let n = self.ordered[usize::from(ino)].len();
        if n == 0 {
            return Outcome::NoOrderedExtent;
        }
        self.finish_one(ino, usize::from(nth) % n);
        Outcome::Done
    }

    fn truncate(&mut self, ino: u8, size: u64) -> Outcome {
        let i_size = self.i_size(ino);
        // btrfs_setsize growing the file: btrfs_cont_expand, which begins with the truncate of
        // the old EOF's block.
        if size > i_size && !self.truncate_block(ino) {
            return Outcome::Enospc;
        }
        if size < i_size {
            let cut = self.round_up(size);
            while let Some(idx) = self.ordered[usize::from(ino)]
                .iter()
                .position(|o| o.start + o.len > cut)
            {
                self.finish_one(ino, idx);
            }
            if cut <= EOF {
                self.clear(ino, cut, EOF, Bits::DO_ACCOUNTING, true);
            }
        }
        self.set_i_size(ino, size);
        // 6.12 btrfs_truncate (inode.c:7468): btrfs_wait_ordered_range(round_down(size),
        // (u64)-1) writes back the sector holding the new EOF and finishes its ordered extents;
        // a truncate to the same size skips it.
        if size < i_size {
            let from = self.round_down(size);
            self.writeback(ino, from, EOF + 1 - from);
            self.finish_ordered_in(ino, from, EOF);
        }
        Outcome::Done
    }

    fn evict(&mut self, ino: u8) -> Outcome {
        self.finish_all(ino);
        self.clear(ino, 0, EOF, Bits::DO_ACCOUNTING, true);
        // btrfs_destroy_inode's WARN_ONs (6.12 inode.c:7747).
        let c = must("evict", self.fs.inode_counters(ino));
        let leaked = [
            c.block_rsv.reserved,
            c.block_rsv.size,
            c.outstanding_extents,
            c.delalloc_bytes,
            c.new_delalloc_bytes,
            c.csum_bytes,
            c.defrag_bytes,
        ]
        .iter()
        .any(|&v| v != 0);
        if leaked {
            self.warnings.evict_leaks += 1;
        }
        must("evict", self.fs.forget_inode(ino));
        Outcome::Done
    }

    fn commit(&mut self) -> Outcome {
        for i in 0..self.delayed.len() {
            let n = std::mem::take(&mut self.delayed[i]);
            if n > 0 {
                must("commit", self.fs.block_rsv_release(Rsv::Delayed, Some(n)));
            }
        }
        self.fs.update_global_block_rsv();
        Outcome::Done
    }

    fn unmount(&mut self) -> Outcome {
        for ino in 0..self.g.inodes {
            self.writeback(ino, 0, MAX_OFFSET);
            self.finish_all(ino);
        }
        self.commit();
        for ino in 0..self.g.inodes {
            self.evict(ino);
        }
        self.fs.release_global_block_rsv();
        let c = self.fs.counters();
        let leaked = [
            c.data.bytes_may_use,
            c.data.bytes_reserved,
            c.meta.bytes_may_use,
            c.meta.bytes_reserved,
            c.delayed_rsv.size,
            c.delayed_rsv.reserved,
        ]
        .iter()
        .any(|&v| v != 0)
            || c.fs_delalloc_bytes != 0;
        if leaked {
            self.warnings.unmount_leaks += 1;
        }
        self.mounted = false;
        Outcome::Done
    }

    /// One file-system op (the caller answers Unmounted after an unmount).
    pub(crate) fn apply(&mut self, op: &Op) -> Outcome {
        match *op {
            Op::BufferedWrite {
                ino,
                pos,
                len,
                copied,
                nocow,
            } => self.buffered_write(ino, pos, len, copied, nocow),
            Op::DirectWrite {
                ino,
                pos,
                len,
                fallback,
            } => self.direct_write(ino, pos, len, fallback),
            Op::PageMkwrite { ino, pos } => self.page_mkwrite(ino, pos),
            Op::Defrag { ino, start, len } => self.defrag(ino, start, len),
            Op::Writeback { ino, start, len } => self.writeback(ino, start, len),
            Op::FinishOrdered { ino, nth } => self.finish_ordered(ino, nth),
            Op::Truncate { ino, size } => self.truncate(ino, size),
            Op::Evict { ino } => self.evict(ino),
            Op::Commit => self.commit(),
            Op::Unmount => self.unmount(),
            Op::SetFreeSpace { data, meta } => {
                must("set_free_space", self.fs.set_free_space(data, meta));
                Outcome::Done
            }
            Op::FailNextReservation { kind } => {
                self.fs.fail_next_reservation(match kind {
                    FaultKind::Data => SpaceKind::Data,
                    FaultKind::Metadata => SpaceKind::Metadata,
                });
                Outcome::Done
            }
            // Era B's fault: Op::validate refuses it in the kernel's era.
            Op::DrainDelallocRsv => unreachable!("not an era 6 op: {op:?}"),
            _ => unreachable!("not a file-system op: {op:?}"),
        }
    }

    /// The fs level of the snapshot, from the kernel's fields (and this module's ordered
    /// extents, delayed nodes and warnings), into `out` (its `tree` is left alone).
    pub(crate) fn snapshot_into(&mut self, out: &mut Snapshot) {
        let c = self.fs.counters();
        let space = |s: crate::fs::SpaceCounters| SpaceInfo {
            total: s.total,
            bytes_may_use: s.bytes_may_use,
            bytes_reserved: s.bytes_reserved,
            bytes_used: s.bytes_used,
        };
        let rsv = |r: crate::fs::RsvCounters| BlockRsv {
            size: r.size,
            reserved: r.reserved,
        };
        out.mounted = self.mounted;
        out.data = space(c.data);
        out.meta = space(c.meta);
        out.delalloc_rsv = None;
        out.delayed_rsv = rsv(c.delayed_rsv);
        out.global_rsv = rsv(c.global_rsv);
        // A percpu s64 in the kernel; below 0 only if the hooks went wrong, shown wrapped.
        out.fs_delalloc_bytes = c.fs_delalloc_bytes as u64;
        out.warnings = self.warnings;
        out.inodes
            .resize_with(usize::from(self.g.inodes), InodeSnapshot::default);
        for ino in 0..self.g.inodes {
            let i = usize::from(ino);
            let k = must("snapshot", self.fs.inode_counters(ino));
            let records = must("snapshot", self.fs.records(ino));
            let s = &mut out.inodes[i];
            s.i_size = k.i_size;
            s.records = records;
            s.outstanding_extents = k.outstanding_extents;
            s.reserved_extents = None;
            s.csum_bytes = k.csum_bytes;
            s.delalloc_bytes = k.delalloc_bytes;
            s.defrag_bytes = k.defrag_bytes;
            s.new_delalloc_bytes = k.new_delalloc_bytes;
            s.delalloc_meta_reserved = None;
            s.block_rsv = Some(rsv(k.block_rsv));
            s.delayed_bytes_reserved = self.delayed[i];
            s.ordered.clone_from(&self.ordered[i]);
        }
    }
}
