//! Space infos and block reservations (SPEC §3, extent-tree.c of 4.x; era C: §3.1, 6.12
//! block-rsv.c).
//!
//! Every decrement saturates at zero (SPEC §3): the kernel would BUG or WARN, the model keeps
//! going so that the oracle reports the divergence. A correct run never saturates.

use delalloc_contract::{Accounting, BlockRsv, FaultKind, Geometry, SpaceInfo};

/// The injected ENOSPC of a failed reservation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Enospc;

/// `*x -= n`, saturating at zero.
pub fn dec(x: &mut u64, n: u64) {
    *x = x.saturating_sub(n);
}

/// The three block reservations of SPEC §3.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rsv {
    /// The fs-wide delalloc_block_rsv (era A/B; era C reserves per inode, `inode_rsv`).
    Delalloc,
    /// The delayed-inode items' reservation.
    Delayed,
    /// The global reserve.
    Global,
}

#[derive(Clone, Debug)]
pub struct Space {
    /// Where a release's excess goes (SPEC §3 against §3.1).
    accounting: Accounting,
    pub data: SpaceInfo,
    pub meta: SpaceInfo,
    pub delalloc: BlockRsv,
    pub delayed: BlockRsv,
    pub global: BlockRsv,
    /// fail_next_reservation: a pending injected fault per kind (a flag, not a count).
    fail_data: bool,
    fail_meta: bool,
}

impl Space {
    /// Mount (SPEC §3): totals from the geometry, the global reserve filled from metadata.
    pub fn mount(g: &Geometry) -> Space {
        let full = BlockRsv { size: g.global_rsv, reserved: g.global_rsv };
        Space {
            accounting: g.era.accounting(),
            data: SpaceInfo { total: g.data_bytes, ..SpaceInfo::default() },
            meta: SpaceInfo { total: g.meta_bytes, bytes_may_use: g.global_rsv, ..SpaceInfo::default() },
            delalloc: BlockRsv::default(),
            delayed: BlockRsv::default(),
            global: full,
            fail_data: false,
            fail_meta: false,
        }
    }

    fn rsv(&mut self, which: Rsv) -> &mut BlockRsv {
        match which {
            Rsv::Delalloc => &mut self.delalloc,
            Rsv::Delayed => &mut self.delayed,
            Rsv::Global => &mut self.global,
        }
    }

    /// fail_next_reservation(kind) (SPEC §6).
    pub fn inject_fault(&mut self, kind: FaultKind) {
        match kind {
            FaultKind::Data => self.fail_data = true,
            FaultKind::Metadata => self.fail_meta = true,
        }
    }

    /// set_free_space (SPEC §6): total = may_use + reserved + used + free.
    pub fn set_free(&mut self, data: u64, meta: u64) {
        for (s, free) in [(&mut self.data, data), (&mut self.meta, meta)] {
            s.total = s.bytes_may_use + s.bytes_reserved + s.bytes_used + free;
        }
    }

    /// reserve data(n) (btrfs_check_data_free_space).
    pub fn reserve_data(&mut self, n: u64) -> Result<(), Enospc> {
        if n > 0 && std::mem::take(&mut self.fail_data) {
            return Err(Enospc);
        }
        if self.data.free() < n {
            return Err(Enospc);
        }
        self.data.bytes_may_use += n;
        Ok(())
    }

    /// Gives back a data reservation: data bytes_may_use -= n.
    pub fn free_data(&mut self, n: u64) {
        dec(&mut self.data.bytes_may_use, n);
    }

    /// The allocation of a Cow or Direct extent: data bytes_may_use -> bytes_reserved.
    pub fn allocate_data(&mut self, n: u64) {
        self.free_data(n);
        self.data.bytes_reserved += n;
    }

    /// reserve_metadata_bytes(n): no flushing, no overcommit (SPEC §3 simplification).
    pub fn reserve_meta(&mut self, n: u64) -> Result<(), Enospc> {
        if n == 0 {
            return Ok(());
        }
        if std::mem::take(&mut self.fail_meta) || self.meta.free() < n {
            return Err(Enospc);
        }
        self.meta.bytes_may_use += n;
        Ok(())
    }

    /// block_rsv_add_bytes(rsv, n, update_size = true).
    pub fn add(&mut self, which: Rsv, n: u64) {
        let r = self.rsv(which);
        r.reserved += n;
        r.size += n;
    }

    /// btrfs_block_rsv_migrate(src, dst, n).
    pub fn migrate(&mut self, src: Rsv, dst: Rsv, n: u64) -> Result<(), Enospc> {
        let s = self.rsv(src);
        if s.reserved < n {
            return Err(Enospc);
        }
        s.reserved -= n;
        self.add(dst, n);
        Ok(())
    }

    /// block_rsv_release_bytes(rsv, n): the size shrinks; reserved bytes beyond the size go
    /// back to metadata bytes_may_use, in era B first to the global reserve up to its size
    /// (era C sends them to the delayed-refs reserve, whose size is 0 here: SPEC §3.1).
    /// Never called on the global reserve itself (it releases only at unmount).
    pub fn release(&mut self, which: Rsv, n: u64) {
        let r = self.rsv(which);
        dec(&mut r.size, n);
        let mut excess = r.reserved.saturating_sub(r.size);
        r.reserved -= excess;
        let room = match self.accounting {
            Accounting::B => self.global.size.saturating_sub(self.global.reserved),
            Accounting::C => 0,
        };
        let to_global = excess.min(room);
        self.global.reserved += to_global;
        excess -= to_global;
        dec(&mut self.meta.bytes_may_use, excess);
    }

    /// The drain_delalloc_rsv fault: the reserve gives back what it holds, reserved to 0 and
    /// out of metadata bytes_may_use, its size kept (so later releases trim nothing more).
    pub fn drain(&mut self, which: Rsv) {
        let held = std::mem::take(&mut self.rsv(which).reserved);
        dec(&mut self.meta.bytes_may_use, held);
    }

    /// update_global_block_rsv at commit: refill the global reserve from free metadata space.
    pub fn refill_global(&mut self) {
        let take = self.global.size.saturating_sub(self.global.reserved).min(self.meta.free());
        self.global.reserved += take;
        self.meta.bytes_may_use += take;
    }

    /// close_ctree's release of the global reserve.
    pub fn release_global(&mut self) {
        dec(&mut self.meta.bytes_may_use, self.global.reserved);
        self.global = BlockRsv::default();
    }
}
