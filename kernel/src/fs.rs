//! The kernel's delalloc accounting at file-system level: a safe facade over a glue `struct
//! dk_fs` (shim/fs_glue.c), the fs_info, space infos, block reservations and inodes that the
//! kernel's own delalloc-space.c, block-rsv.c functions and delalloc hooks work on.
//!
//! Every method is one kernel function, or the few lines of a kernel function too big to
//! compile here that touch the counters (each names it). Nothing here sequences an fs op: the
//! order in which an op calls these is the model's (SPEC, era C), written on top of this.
//!
//! Bad input (an inode number out of range, a range past the end of a file, a configuration the
//! kernel code cannot run with) is an [`FsError`], never a panic; what the kernel answers (an
//! -ENOSPC from a reservation) is [`FsError::Kernel`]. WARN_ONs and ASSERTs of the kernel code
//! are recorded per thread ([`crate::take_reports`]), as for the trees.

use crate::ffi::{self, RawRsvId};
use crate::tree::{BitMap, Unsupported};
use delalloc_contract::{Bits, Geometry, Record};

/// The most inodes a file system may have (fs_glue.c's DK_MAX_INODES).
pub const MAX_INODES: u8 = 8;

/// The last byte offset a range may reach: the kernel's loff_t is signed, and the reservation
/// code rounds `start + len` up to a sector, which must not wrap.
pub const MAX_BYTE: u64 = (1 << 62) - 1;

/// What a [`KernelFs`] is made of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FsConfig {
    /// fs_info->sectorsize: a power of two, 512..=65536.
    pub sectorsize: u64,
    /// fs_info->nodesize: a power of two, sectorsize..=65536.
    pub nodesize: u64,
    /// fs_info->max_extent_size, count_max_extents' unit: 1..2^32 (div_u64 takes a u32).
    pub max_extent_size: u64,
    /// fs_info->csums_per_leaf (the kernel: BTRFS_MAX_ITEM_SIZE / csum_size): at least 1.
    pub csums_per_leaf: u64,
    /// The data space info's total bytes.
    pub data_bytes: u64,
    /// The metadata space info's total bytes.
    pub meta_bytes: u64,
    /// The global block reservation's size, filled from metadata at mount: at most meta_bytes.
    pub global_rsv: u64,
    /// How many inodes: 1..=[`MAX_INODES`].
    pub inodes: u8,
}

impl FsConfig {
    /// The file system of a (validated) geometry: its sizes, and the contract's csums_per_leaf
    /// ([`Geometry::csums_per_leaf`]), so that checksum leaves count as the models count them.
    pub fn from_geometry(g: &Geometry) -> FsConfig {
        FsConfig {
            sectorsize: g.sectorsize,
            nodesize: g.nodesize,
            max_extent_size: g.max_extent,
            csums_per_leaf: g.csums_per_leaf(),
            data_bytes: g.data_bytes,
            meta_bytes: g.meta_bytes,
            global_rsv: g.global_rsv,
            inodes: g.inodes,
        }
    }

    /// Checks every field's rule (see each); the error names the field.
    pub fn validate(&self) -> Result<(), FsError> {
        let pow2 = |v: u64| v.is_power_of_two();
        let bad = |what: String| Err(FsError::Config(what));
        if !pow2(self.sectorsize) || !(512..=65536).contains(&self.sectorsize) {
            return bad(format!(
                "sectorsize {} is not a power of two in 512..=65536",
                self.sectorsize
            ));
        }
        if !pow2(self.nodesize) || !(self.sectorsize..=65536).contains(&self.nodesize) {
            return bad(format!(
                "nodesize {} is not a power of two in sectorsize..=65536",
                self.nodesize
            ));
        }
        if self.max_extent_size == 0 || u32::try_from(self.max_extent_size).is_err() {
            return bad(format!(
                "max_extent_size {} is not in 1..2^32 (count_max_extents divides by it as a u32)",
                self.max_extent_size
            ));
        }
        if self.csums_per_leaf == 0 || u32::try_from(self.csums_per_leaf).is_err() {
            return bad(format!(
                "csums_per_leaf {} is not in 1..2^32",
                self.csums_per_leaf
            ));
        }
        if self.global_rsv > self.meta_bytes {
            return bad(format!(
                "global_rsv {} is more than meta_bytes {}",
                self.global_rsv, self.meta_bytes
            ));
        }
        if !(1..=MAX_INODES).contains(&self.inodes) {
            return bad(format!("inodes {} is not in 1..={MAX_INODES}", self.inodes));
        }
        Ok(())
    }
}

/// A kernel function's negative errno.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Errno(pub i32);

impl Errno {
    /// -ENOSPC: a reservation that did not fit (or an injected fault).
    pub const ENOSPC: Errno = Errno(-28);
}

impl std::fmt::Display for Errno {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Errno::ENOSPC => f.write_str("-ENOSPC"),
            Errno(e) => write!(f, "errno {e}"),
        }
    }
}

/// Why a [`KernelFs`] call did not do what was asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FsError {
    /// The configuration is not one the kernel code can run with (the field and why).
    Config(String),
    /// No such inode in this file system.
    NoSuchInode {
        /// The inode asked for.
        ino: u8,
        /// How many the file system has.
        inodes: u8,
    },
    /// A byte range the kernel code must not be given (why).
    Range(String),
    /// An io tree op the tree cannot run (a bit it lacks).
    Unsupported(Unsupported),
    /// The kernel function answered this error (-ENOSPC from a reservation).
    Kernel(Errno),
}

impl FsError {
    /// Whether this is the kernel's -ENOSPC.
    pub fn is_enospc(&self) -> bool {
        *self == FsError::Kernel(Errno::ENOSPC)
    }
}

impl std::fmt::Display for FsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FsError::Config(why) => write!(f, "bad file system configuration: {why}"),
            FsError::NoSuchInode { ino, inodes } => {
                write!(
                    f,
                    "no inode {ino}: the file system has {inodes} (0..={})",
                    inodes - 1
                )
            }
            FsError::Range(why) => write!(f, "bad range: {why}"),
            FsError::Unsupported(u) => u.fmt(f),
            FsError::Kernel(e) => write!(f, "the kernel answered {e}"),
        }
    }
}

impl std::error::Error for FsError {}

impl From<Unsupported> for FsError {
    fn from(u: Unsupported) -> FsError {
        FsError::Unsupported(u)
    }
}

/// Which space info a reservation fault is injected into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpaceKind {
    /// The data space info (btrfs_reserve_data_bytes).
    Data,
    /// The metadata space info (btrfs_reserve_metadata_bytes).
    Metadata,
}

/// A block reservation of the file system.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rsv {
    /// fs_info->global_block_rsv.
    Global,
    /// fs_info->delayed_block_rsv, the delayed inode items' (BTRFS_BLOCK_RSV_DELOPS).
    Delayed,
    /// fs_info->delayed_refs_rsv (BTRFS_BLOCK_RSV_DELREFS; size 0 here: no delayed refs).
    DelayedRefs,
    /// An inode's block_rsv (BTRFS_BLOCK_RSV_DELALLOC).
    Inode(u8),
}

/// A space info's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpaceCounters {
    /// total_bytes.
    pub total: u64,
    /// bytes_may_use.
    pub bytes_may_use: u64,
    /// bytes_reserved.
    pub bytes_reserved: u64,
    /// bytes_used.
    pub bytes_used: u64,
}

/// A block reservation's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RsvCounters {
    /// size.
    pub size: u64,
    /// reserved.
    pub reserved: u64,
    /// full (reserved >= size, as the kernel last set it).
    pub full: bool,
}

/// An inode's counters (struct btrfs_inode's fields, and its vfs inode's i_size).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InodeCounters {
    /// i_size.
    pub i_size: u64,
    /// outstanding_extents.
    pub outstanding_extents: u64,
    /// csum_bytes.
    pub csum_bytes: u64,
    /// delalloc_bytes.
    pub delalloc_bytes: u64,
    /// defrag_bytes.
    pub defrag_bytes: u64,
    /// new_delalloc_bytes.
    pub new_delalloc_bytes: u64,
    /// block_rsv (the inode's metadata reservation).
    pub block_rsv: RsvCounters,
}

/// The fs-wide counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FsCounters {
    /// The data space info.
    pub data: SpaceCounters,
    /// The metadata space info.
    pub meta: SpaceCounters,
    /// fs_info->global_block_rsv.
    pub global_rsv: RsvCounters,
    /// fs_info->delayed_block_rsv.
    pub delayed_rsv: RsvCounters,
    /// fs_info->delayed_refs_rsv.
    pub delayed_refs_rsv: RsvCounters,
    /// fs_info->delalloc_bytes (a percpu counter in the kernel; signed there too).
    pub fs_delalloc_bytes: i64,
}

fn space(r: ffi::RawSpace) -> SpaceCounters {
    SpaceCounters {
        total: r.total,
        bytes_may_use: r.bytes_may_use,
        bytes_reserved: r.bytes_reserved,
        bytes_used: r.bytes_used,
    }
}

fn rsv(r: ffi::RawRsv) -> RsvCounters {
    RsvCounters {
        size: r.size,
        reserved: r.reserved,
        full: r.full != 0,
    }
}

fn kernel(ret: i32) -> Result<(), FsError> {
    match ret {
        0 => Ok(()),
        e => Err(FsError::Kernel(Errno(e))),
    }
}

/// A mounted file system as the kernel's delalloc accounting sees it (see the module docs):
/// after [`KernelFs::new`], the data and metadata space infos have the configured totals and
/// nothing used, the global reserve is full (its bytes in the metadata bytes_may_use), every
/// other reservation and counter is 0, every inode's i_size 0 and io tree empty.
///
/// The inodes' io trees have the kernel's delalloc hooks attached: setting or clearing DELALLOC
/// on them counts outstanding extents and delalloc bytes, and a clear with DO_ACCOUNTING
/// releases through the kernel's btrfs_delalloc_release_metadata and
/// btrfs_free_reserved_data_space_noquota.
pub struct KernelFs {
    raw: ffi::RawFs,
    map: BitMap,
    config: FsConfig,
}

impl KernelFs {
    /// A fresh file system of `config` (checked first: [`FsConfig::validate`]).
    pub fn new(config: FsConfig) -> Result<KernelFs, FsError> {
        config.validate()?;
        let raw = ffi::RawFs::new(&ffi::RawFsConfig {
            sectorsize: config.sectorsize,
            nodesize: config.nodesize,
            max_extent_size: config.max_extent_size,
            csums_per_leaf: config.csums_per_leaf,
            data_total: config.data_bytes,
            meta_total: config.meta_bytes,
            global_rsv_size: config.global_rsv,
            inodes: u32::from(config.inodes),
        })
        .ok_or_else(|| FsError::Config("dk_fs_new refused it (out of memory)".into()))?;
        Ok(KernelFs {
            raw,
            map: BitMap::new(),
            config,
        })
    }

    /// What the file system was made of.
    pub fn config(&self) -> &FsConfig {
        &self.config
    }

    fn ino(&self, ino: u8) -> Result<u32, FsError> {
        if ino < self.config.inodes {
            Ok(u32::from(ino))
        } else {
            Err(FsError::NoSuchInode {
                ino,
                inodes: self.config.inodes,
            })
        }
    }

    fn rsv_id(&self, r: Rsv) -> Result<RawRsvId, FsError> {
        Ok(match r {
            Rsv::Global => RawRsvId::Global,
            Rsv::Delayed => RawRsvId::Delayed,
            Rsv::DelayedRefs => RawRsvId::DelayedRefs,
            Rsv::Inode(i) => RawRsvId::Inode(self.ino(i)?),
        })
    }

    /// `[start, start + len)` must end at or before [`MAX_BYTE`] + 1.
    fn span(start: u64, len: u64) -> Result<(), FsError> {
        match start.checked_add(len) {
            Some(end) if end <= MAX_BYTE + 1 => Ok(()),
            _ => Err(FsError::Range(format!(
                "start {start} + len {len} is past the last byte a file may have ({MAX_BYTE})"
            ))),
        }
    }

    /// An inclusive `[start, end]` for an io tree op.
    fn inclusive(start: u64, end: u64) -> Result<(), FsError> {
        if start > end {
            return Err(FsError::Range(format!("start {start} > end {end}")));
        }
        if end > MAX_BYTE {
            return Err(FsError::Range(format!(
                "end {end} is past the last byte a file may have ({MAX_BYTE})"
            )));
        }
        Ok(())
    }

    /// A byte count for the reservation functions: at most [`MAX_BYTE`] + 1.
    fn bytes(len: u64) -> Result<(), FsError> {
        Self::span(0, len)
    }

    // ---- SPEC §3's space ----

    /// SPEC's fail_next_reservation: the next reservation of more than 0 bytes of `kind`
    /// (btrfs_reserve_data_bytes / btrfs_reserve_metadata_bytes, ours: shim/space.c) fails with
    /// -ENOSPC, once. A flag: two before one reservation fail it once.
    pub fn fail_next_reservation(&mut self, kind: SpaceKind) {
        self.raw.fail_next_reservation(kind == SpaceKind::Metadata);
    }

    /// SPEC's set_free_space: each space info's total becomes what it holds (may_use +
    /// reserved + used) plus the given free bytes. Totals past u64 are refused.
    pub fn set_free_space(&mut self, data_free: u64, meta_free: u64) -> Result<(), FsError> {
        let c = self.counters();
        for (what, s, free) in [("data", c.data, data_free), ("metadata", c.meta, meta_free)] {
            let held = s.bytes_may_use + s.bytes_reserved + s.bytes_used;
            if held.checked_add(free).is_none() {
                return Err(FsError::Range(format!(
                    "{what}: {held} bytes held + {free} free is past u64"
                )));
            }
        }
        self.raw.set_free_space(data_free, meta_free);
        Ok(())
    }

    // ---- delalloc-space.c ----

    /// btrfs_delalloc_reserve_space(inode, &reserved, start, len): data (rounded out to
    /// sectors), then metadata for `len`; on a metadata failure the data goes back.
    pub fn delalloc_reserve_space(&mut self, ino: u8, start: u64, len: u64) -> Result<(), FsError> {
        let ino = self.ino(ino)?;
        Self::span(start, len)?;
        kernel(self.raw.delalloc_reserve_space(ino, start, len))
    }

    /// btrfs_delalloc_reserve_metadata(inode, num_bytes, disk_num_bytes, noflush).
    pub fn delalloc_reserve_metadata(
        &mut self,
        ino: u8,
        num_bytes: u64,
        disk_num_bytes: u64,
        noflush: bool,
    ) -> Result<(), FsError> {
        let ino = self.ino(ino)?;
        Self::bytes(num_bytes)?;
        Self::bytes(disk_num_bytes)?;
        kernel(
            self.raw
                .delalloc_reserve_metadata(ino, num_bytes, disk_num_bytes, noflush),
        )
    }

    /// btrfs_delalloc_release_space(inode, NULL, start, len, qgroup_free): metadata, then data.
    pub fn delalloc_release_space(
        &mut self,
        ino: u8,
        start: u64,
        len: u64,
        qgroup_free: bool,
    ) -> Result<(), FsError> {
        let ino = self.ino(ino)?;
        Self::span(start, len)?;
        self.raw
            .delalloc_release_space(ino, start, len, qgroup_free);
        Ok(())
    }

    /// btrfs_delalloc_release_metadata(inode, len, qgroup_free).
    pub fn delalloc_release_metadata(
        &mut self,
        ino: u8,
        len: u64,
        qgroup_free: bool,
    ) -> Result<(), FsError> {
        let ino = self.ino(ino)?;
        Self::bytes(len)?;
        self.raw.delalloc_release_metadata(ino, len, qgroup_free);
        Ok(())
    }

    /// btrfs_delalloc_release_extents(inode, len): the reservation's outstanding extents go
    /// (the set hook has counted the records'), and the excess of the inode's reservation.
    pub fn delalloc_release_extents(&mut self, ino: u8, len: u64) -> Result<(), FsError> {
        let ino = self.ino(ino)?;
        Self::bytes(len)?;
        self.raw.delalloc_release_extents(ino, len);
        Ok(())
    }

    /// btrfs_check_data_free_space(inode, &reserved, start, len, noflush).
    pub fn check_data_free_space(
        &mut self,
        ino: u8,
        start: u64,
        len: u64,
        noflush: bool,
    ) -> Result<(), FsError> {
        let ino = self.ino(ino)?;
        Self::span(start, len)?;
        kernel(self.raw.check_data_free_space(ino, start, len, noflush))
    }

    /// btrfs_free_reserved_data_space(inode, NULL, start, len).
    pub fn free_reserved_data_space(
        &mut self,
        ino: u8,
        start: u64,
        len: u64,
    ) -> Result<(), FsError> {
        let ino = self.ino(ino)?;
        Self::span(start, len)?;
        self.raw.free_reserved_data_space(ino, start, len);
        Ok(())
    }

    /// btrfs_free_reserved_data_space_noquota(fs_info, len) (ASSERTs len sector-aligned).
    pub fn free_reserved_data_space_noquota(&mut self, len: u64) -> Result<(), FsError> {
        Self::bytes(len)?;
        self.raw.free_reserved_data_space_noquota(len);
        Ok(())
    }

    // ---- block-rsv.c ----

    /// btrfs_block_rsv_migrate(src, dst, num_bytes, update_size): -ENOSPC unless src holds
    /// num_bytes; then they move (dst's size grows too with update_size).
    pub fn block_rsv_migrate(
        &mut self,
        src: Rsv,
        dst: Rsv,
        num_bytes: u64,
        update_size: bool,
    ) -> Result<(), FsError> {
        let (src, dst) = (self.rsv_id(src)?, self.rsv_id(dst)?);
        kernel(self.raw.block_rsv_migrate(src, dst, num_bytes, update_size))
    }

    /// btrfs_block_rsv_release(fs_info, rsv, num_bytes, NULL) (None: the kernel's (u64)-1, the
    /// whole size): size shrinks by num_bytes, the excess reserved goes to delayed_refs_rsv if
    /// it is not full (to the global reserve from delayed_refs_rsv), the rest back to the
    /// metadata bytes_may_use. Answers the excess released.
    pub fn block_rsv_release(
        &mut self,
        which: Rsv,
        num_bytes: Option<u64>,
    ) -> Result<u64, FsError> {
        let which = self.rsv_id(which)?;
        Ok(self
            .raw
            .block_rsv_release(which, num_bytes.unwrap_or(u64::MAX)))
    }

    /// btrfs_block_rsv_add(fs_info, rsv, num_bytes, NO_FLUSH): a fresh metadata reservation
    /// into rsv, size included (-ENOSPC if it does not fit).
    pub fn block_rsv_add(&mut self, which: Rsv, num_bytes: u64) -> Result<(), FsError> {
        let which = self.rsv_id(which)?;
        kernel(self.raw.block_rsv_add(which, num_bytes))
    }

    /// btrfs_release_global_block_rsv (close_ctree): the global reserve released whole, and a
    /// WARN_ON for each of the trans, chunk, delayed items and delayed refs reservations whose
    /// size or reserved is not 0.
    pub fn release_global_block_rsv(&mut self) {
        self.raw.release_global_block_rsv();
    }

    /// The global reserve refilled to its size, as btrfs_update_global_block_rsv ends (the
    /// missing bytes added to the metadata bytes_may_use, free space or not); its size is the
    /// configured one (the kernel's is computed from tree sizes that do not exist here).
    pub fn update_global_block_rsv(&mut self) {
        self.raw.update_global_block_rsv();
    }

    // ---- ordered extents, outstanding extents, data extents ----

    /// What creating an ordered extent does to the accounting (alloc_ordered_extent, 6.12
    /// ordered-data.c:208-210): outstanding_extents += 1.
    pub fn ordered_added(&mut self, ino: u8) -> Result<(), FsError> {
        let ino = self.ino(ino)?;
        self.raw.ordered_added(ino);
        Ok(())
    }

    /// What removing an ordered extent of num_bytes does (btrfs_remove_ordered_extent, 6.12
    /// ordered-data.c:651-664): outstanding_extents −= 1, then
    /// btrfs_delalloc_release_metadata(inode, num_bytes, false).
    pub fn ordered_removed(&mut self, ino: u8, num_bytes: u64) -> Result<(), FsError> {
        let ino = self.ino(ino)?;
        Self::bytes(num_bytes)?;
        self.raw.ordered_removed(ino, num_bytes);
        Ok(())
    }

    /// btrfs_mod_outstanding_extents(inode, delta) under the inode's lock.
    pub fn mod_outstanding_extents(&mut self, ino: u8, delta: i32) -> Result<(), FsError> {
        let ino = self.ino(ino)?;
        self.raw.mod_outstanding_extents(ino, delta);
        Ok(())
    }

    /// An extent of len bytes allocated for delalloc (btrfs_add_reserved_bytes): data
    /// bytes_reserved += len, bytes_may_use −= len (WARN and clamp on an underflow).
    pub fn data_reserve_extent(&mut self, len: u64) -> Result<(), FsError> {
        Self::bytes(len)?;
        self.raw.data_reserve_extent(len);
        Ok(())
    }

    /// A reserved extent of len bytes written (btrfs_update_block_group): data bytes_reserved
    /// −= len (WARN and clamp on an underflow), bytes_used += len.
    pub fn data_use_extent(&mut self, len: u64) -> Result<(), FsError> {
        Self::bytes(len)?;
        self.raw.data_use_extent(len);
        Ok(())
    }

    /// The inode's i_size (the vfs inode's, which btrfs_set_extent_delalloc reads).
    pub fn set_i_size(&mut self, ino: u8, size: u64) -> Result<(), FsError> {
        let ino = self.ino(ino)?;
        if size > MAX_BYTE + 1 {
            return Err(FsError::Range(format!(
                "i_size {size} is past the last byte a file may have ({MAX_BYTE})"
            )));
        }
        self.raw.set_i_size(ino, size);
        Ok(())
    }

    /// The inode freed whatever it holds (btrfs_destroy_inode) and allocated afresh
    /// (btrfs_alloc_inode): its counters 0, its block reservation empty. What the reservation
    /// held stays in the metadata bytes_may_use (a leak, as in the kernel). Its io tree and
    /// i_size stay: empty the tree first, as evict does.
    pub fn forget_inode(&mut self, ino: u8) -> Result<(), FsError> {
        let ino = self.ino(ino)?;
        self.raw.forget_inode(ino);
        Ok(())
    }

    // ---- the inodes' io trees (the kernel's extent-io-tree.c, hooks attached) ----

    /// __set_extent_bit on inode `ino`'s tree with its cached state: Ok(Ok(())), or
    /// Ok(Err(failed_start)) when an exclusive bit (LOCKED) meets a locked record.
    pub fn set_bits(
        &mut self,
        ino: u8,
        start: u64,
        end: u64,
        bits: Bits,
        cached: bool,
    ) -> Result<Result<(), u64>, FsError> {
        let ino = self.ino(ino)?;
        Self::inclusive(start, end)?;
        let k = self.map.to_kernel(bits)?;
        Ok(self.raw.tree(ino).set_bits(start, end, k, cached))
    }

    /// __clear_extent_bit on inode `ino`'s tree (`delete`: every bit, EXTENT_CLEAR_ALL_BITS).
    /// DO_ACCOUNTING in the bits makes the clear hook release what records losing DELALLOC
    /// reserved.
    pub fn clear_bits(
        &mut self,
        ino: u8,
        start: u64,
        end: u64,
        bits: Bits,
        delete: bool,
        cached: bool,
    ) -> Result<(), FsError> {
        let ino = self.ino(ino)?;
        Self::inclusive(start, end)?;
        let k = self.map.to_kernel(bits)?;
        let ret = self
            .raw
            .tree(ino)
            .clear_bits(start, end, k, false, delete, cached);
        kernel(ret)
    }

    /// lock_extent's first attempt on inode `ino`'s tree: Ok(Ok(())), or Ok(Err(failed_start))
    /// with the partial lock undone (the kernel would wait; see [`crate::KernelTree::lock_range`]).
    pub fn lock_range(
        &mut self,
        ino: u8,
        start: u64,
        end: u64,
    ) -> Result<Result<(), u64>, FsError> {
        let ino = self.ino(ino)?;
        Self::inclusive(start, end)?;
        Ok(self.raw.tree(ino).lock_range(start, end))
    }

    /// unlock_extent on inode `ino`'s tree.
    pub fn unlock(&mut self, ino: u8, start: u64, end: u64) -> Result<(), FsError> {
        let ino = self.ino(ino)?;
        Self::inclusive(start, end)?;
        kernel(self.raw.tree(ino).unlock(start, end))
    }

    /// btrfs_find_delalloc_range on inode `ino`'s tree from `start`: (found, start, end) as it
    /// leaves them.
    pub fn find_delalloc(
        &mut self,
        ino: u8,
        start: u64,
        max_bytes: u64,
    ) -> Result<(bool, u64, u64), FsError> {
        let ino = self.ino(ino)?;
        Ok(self.raw.tree(ino).find_delalloc(start, u64::MAX, max_bytes))
    }

    /// find_first_extent_bit on inode `ino`'s tree: the first record at or after `start` with a
    /// bit of `bits`.
    pub fn find_first_extent_bit(
        &mut self,
        ino: u8,
        start: u64,
        bits: Bits,
    ) -> Result<Option<(u64, u64)>, FsError> {
        let ino = self.ino(ino)?;
        let k = self.map.to_kernel(bits)?;
        Ok(self.raw.tree(ino).find_first_extent_bit(start, k))
    }

    /// Inode `ino`'s records in order. A kernel bit without a contract name in a record is
    /// reported as [`FsError::Range`] naming it (this API never sets one).
    pub fn records(&mut self, ino: u8) -> Result<Vec<Record>, FsError> {
        let ino = self.ino(ino)?;
        let map = &self.map;
        self.raw
            .tree(ino)
            .records()
            .into_iter()
            .map(|(start, end, state)| {
                let (bits, extra) = map.from_kernel(state);
                if extra != 0 {
                    return Err(FsError::Range(format!(
                        "record [{start}, {end}] holds kernel bits {extra:#x} without a contract name"
                    )));
                }
                Ok(Record { start, end, bits })
            })
            .collect()
    }

    // ---- reading back ----

    /// The fs-wide counters.
    pub fn counters(&mut self) -> FsCounters {
        let c = self.raw.counters();
        FsCounters {
            data: space(c.data),
            meta: space(c.meta),
            global_rsv: rsv(c.global_rsv),
            delayed_rsv: rsv(c.delayed_rsv),
            delayed_refs_rsv: rsv(c.delayed_refs_rsv),
            fs_delalloc_bytes: c.fs_delalloc_bytes,
        }
    }

    /// Inode `ino`'s counters.
    pub fn inode_counters(&mut self, ino: u8) -> Result<InodeCounters, FsError> {
        let ino = self.ino(ino)?;
        let c = self.raw.inode_counters(ino);
        Ok(InodeCounters {
            i_size: c.i_size,
            outstanding_extents: c.outstanding_extents,
            csum_bytes: c.csum_bytes,
            delalloc_bytes: c.delalloc_bytes,
            defrag_bytes: c.defrag_bytes,
            new_delalloc_bytes: c.new_delalloc_bytes,
            block_rsv: rsv(c.block_rsv),
        })
    }
}
