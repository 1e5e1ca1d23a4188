//! The kernel's delalloc accounting at file-system level (`KernelFs`): delalloc-space.c as it
//! is, block-rsv.c's reservation functions and the delalloc hooks, on the glue's fs_info and
//! inodes. Each test drives the kernel functions in the order a kernel path calls them and
//! checks every counter against the kernel's formulas (block-rsv.c, delalloc-space.c), which
//! this file spells out with the test's numbers.

use delalloc_contract::{Bits, Geometry, Record};
use delalloc_kernel::fs::{
    Errno, FsCounters, InodeCounters, Rsv, RsvCounters, SpaceCounters, SpaceKind, MAX_BYTE,
};
use delalloc_kernel::{take_reports, FsConfig, FsError, KernelFs, KernelReport};

const K: u64 = 1024;
const NODESIZE: u64 = 16 * K;
/// btrfs_calc_insert_metadata_size(1): nodesize * BTRFS_MAX_LEVEL * 2.
const INSERT: u64 = NODESIZE * 8 * 2;
/// btrfs_calc_metadata_size(1): nodesize * BTRFS_MAX_LEVEL.
const UPDATE: u64 = NODESIZE * 8;
const GLOBAL: u64 = 16 << 20;

fn config() -> FsConfig {
    FsConfig {
        sectorsize: 4096,
        nodesize: NODESIZE,
        max_extent_size: 128 << 20,
        // fs_info->csums_per_leaf as 6.12 disk-io.c computes it: (nodesize - 126) / 4.
        csums_per_leaf: (NODESIZE - 101 - 25) / 4,
        data_bytes: 1 << 30,
        meta_bytes: 256 << 20,
        global_rsv: GLOBAL,
        inodes: 2,
    }
}

fn fs() -> KernelFs {
    let _ = take_reports();
    KernelFs::new(config()).expect("a valid configuration")
}

fn no_reports() {
    let (reports, lost) = take_reports();
    assert!(reports.is_empty() && lost == 0, "{reports:?} (+{lost})");
}

fn reports() -> Vec<KernelReport> {
    let (reports, lost) = take_reports();
    assert_eq!(lost, 0);
    reports
}

/// A freshly mounted file system's counters: the global reserve full, its bytes the only
/// metadata may_use; everything else 0.
fn fresh() -> FsCounters {
    let c = config();
    FsCounters {
        data: SpaceCounters {
            total: c.data_bytes,
            ..SpaceCounters::default()
        },
        meta: SpaceCounters {
            total: c.meta_bytes,
            bytes_may_use: GLOBAL,
            ..SpaceCounters::default()
        },
        global_rsv: RsvCounters {
            size: GLOBAL,
            reserved: GLOBAL,
            full: true,
        },
        ..FsCounters::default()
    }
}

/// Everything about inode `ino` but whether its block reservation is `full`, a flag the
/// kernel sets lazily (the first release through delayed_refs_rsv sets that one's too).
fn inode(fs: &mut KernelFs, ino: u8) -> InodeCounters {
    let mut c = fs.inode_counters(ino).unwrap();
    c.block_rsv.full = false;
    c
}

fn with_full_flags_cleared(mut c: FsCounters) -> FsCounters {
    c.delayed_refs_rsv.full = false;
    c.delayed_rsv.full = false;
    c
}

#[test]
fn a_fresh_file_system_has_only_the_global_reserve() {
    let mut fs = fs();
    assert_eq!(fs.counters(), fresh());
    for ino in 0..2 {
        assert_eq!(fs.inode_counters(ino).unwrap(), InodeCounters::default());
        assert_eq!(fs.records(ino).unwrap(), vec![]);
    }
    no_reports();
}

/// btrfs_delalloc_reserve_space of 8 KiB, the buffered write's set_extent_delalloc, then
/// btrfs_delalloc_release_extents, and a clear with DO_ACCOUNTING (truncate's invalidate): the
/// numbers of delalloc-space.c at each step, and every counter back to zero at the end.
#[test]
fn reserve_set_delalloc_release_extents_clear_returns_every_counter_to_zero() {
    let mut fs = fs();
    let len = 8 * K;
    fs.delalloc_reserve_space(0, 0, len).unwrap();
    // calc_inode_reservations: count_max_extents(8K) = 1 extent, csum leaves of 8K = 1, so
    // insert(1 + 1) + the inode update; btrfs_calculate_inode_block_rsv_size: insert(1 extent)
    // + update + insert(1 csum leaf): the same.
    let meta = 2 * INSERT + UPDATE;
    let want = InodeCounters {
        outstanding_extents: 1,
        csum_bytes: len,
        block_rsv: RsvCounters {
            size: meta,
            reserved: meta,
            full: false,
        },
        ..InodeCounters::default()
    };
    assert_eq!(inode(&mut fs, 0), want);
    let c = fs.counters();
    assert_eq!(c.data.bytes_may_use, len);
    assert_eq!(c.meta.bytes_may_use, GLOBAL + meta);

    // The buffered write's set_extent_delalloc: the set hook counts the record's extent.
    fs.set_bits(
        0,
        0,
        len - 1,
        Bits::DELALLOC | Bits::UPTODATE | Bits::DIRTY,
        false,
    )
    .unwrap()
    .unwrap();
    let c = fs.inode_counters(0).unwrap();
    assert_eq!((c.outstanding_extents, c.delalloc_bytes), (2, len));
    assert_eq!(fs.counters().fs_delalloc_bytes, len as i64);
    // btrfs_delalloc_release_extents: the reservation's extent goes; the size is the same.
    fs.delalloc_release_extents(0, len).unwrap();
    assert_eq!(
        inode(&mut fs, 0),
        InodeCounters {
            delalloc_bytes: len,
            ..want
        }
    );

    // Clear with DO_ACCOUNTING: the clear hook's btrfs_delalloc_release_metadata and
    // btrfs_free_reserved_data_space_noquota give everything back.
    fs.clear_bits(0, 0, len - 1, truncate_bits(), false, false)
        .unwrap();
    assert_eq!(fs.records(0).unwrap(), vec![]);
    assert_eq!(inode(&mut fs, 0), InodeCounters::default());
    assert_eq!(with_full_flags_cleared(fs.counters()), fresh());
    no_reports();
}

/// What truncate and evict clear: every bit, with DO_ACCOUNTING.
fn truncate_bits() -> Bits {
    Bits::DELALLOC | Bits::UPTODATE | Bits::DIRTY | Bits::DEFRAG | Bits::DO_ACCOUNTING
}

/// A reservation that fails, injected or for want of space, leaves every counter as it was:
/// btrfs_delalloc_reserve_space gives the data back when the metadata fails.
#[test]
fn a_failed_reservation_changes_nothing() {
    let mut fs = fs();
    fs.delalloc_reserve_space(1, 0, 4 * K).unwrap();
    let before = (
        fs.counters(),
        fs.inode_counters(0).unwrap(),
        fs.inode_counters(1).unwrap(),
    );
    let same = |fs: &mut KernelFs| {
        (
            fs.counters(),
            fs.inode_counters(0).unwrap(),
            fs.inode_counters(1).unwrap(),
        )
    };

    fs.fail_next_reservation(SpaceKind::Metadata);
    assert_eq!(
        fs.delalloc_reserve_space(0, 0, 64 * K),
        Err(FsError::Kernel(Errno::ENOSPC))
    );
    assert_eq!(same(&mut fs), before, "data reserved, then given back");

    fs.fail_next_reservation(SpaceKind::Data);
    fs.fail_next_reservation(SpaceKind::Data);
    assert!(fs
        .delalloc_reserve_space(0, 0, 64 * K)
        .unwrap_err()
        .is_enospc());
    assert_eq!(same(&mut fs), before);
    assert_eq!(
        fs.check_data_free_space(0, 0, 0, false),
        Ok(()),
        "0 bytes: no fault used"
    );
    fs.check_data_free_space(0, 0, 4 * K, false)
        .expect("a flag, not a counter: the second injection did not stack");
    fs.free_reserved_data_space(0, 0, 4 * K).unwrap();
    assert_eq!(same(&mut fs), before);

    // No room: free space 0 in data, then in metadata.
    fs.set_free_space(0, 1 << 30).unwrap();
    assert!(fs
        .delalloc_reserve_space(0, 0, 4 * K)
        .unwrap_err()
        .is_enospc());
    fs.set_free_space(1 << 30, 0).unwrap();
    assert!(fs
        .delalloc_reserve_space(0, 0, 4 * K)
        .unwrap_err()
        .is_enospc());
    let mut after = same(&mut fs);
    after.0.data.total = before.0.data.total;
    after.0.meta.total = before.0.meta.total;
    assert_eq!(after, before);
    // Exactly the free bytes fit.
    let meta = 2 * INSERT + UPDATE;
    fs.set_free_space(4 * K, meta).unwrap();
    fs.delalloc_reserve_space(0, 0, 4 * K).unwrap();
    no_reports();
}

/// The inode update of finish_ordered_io moves the inode's reservation for it into the
/// delayed items' reservation (btrfs_block_rsv_migrate), and the commit releases that
/// (btrfs_block_rsv_release of the delayed rsv): its bytes go back to metadata bytes_may_use.
#[test]
fn migrate_to_the_delayed_rsv_and_release_it_at_commit() {
    let mut fs = fs();
    fs.delalloc_reserve_space(0, 0, 4 * K).unwrap();
    let meta = 2 * INSERT + UPDATE;
    fs.block_rsv_migrate(Rsv::Inode(0), Rsv::Delayed, UPDATE, true)
        .unwrap();
    let c = fs.counters();
    assert_eq!(
        c.delayed_rsv,
        RsvCounters {
            size: UPDATE,
            reserved: UPDATE,
            full: false
        }
    );
    let i = fs.inode_counters(0).unwrap();
    assert_eq!(
        (i.block_rsv.size, i.block_rsv.reserved),
        (meta, meta - UPDATE)
    );
    assert_eq!(c.meta.bytes_may_use, GLOBAL + meta, "moved, not released");

    // More than it holds: -ENOSPC, nothing moves.
    assert!(fs
        .block_rsv_migrate(Rsv::Inode(0), Rsv::Delayed, meta, true)
        .unwrap_err()
        .is_enospc());
    assert_eq!(fs.counters(), c);

    // The commit: the delayed rsv's size shrinks by UPDATE, its excess goes to
    // delayed_refs_rsv (not full, size 0: it takes nothing and is full after) and the rest
    // back to the space info.
    assert_eq!(fs.block_rsv_release(Rsv::Delayed, Some(UPDATE)), Ok(UPDATE));
    let c = fs.counters();
    assert_eq!((c.delayed_rsv.size, c.delayed_rsv.reserved), (0, 0));
    assert_eq!(
        c.delayed_refs_rsv,
        RsvCounters {
            size: 0,
            reserved: 0,
            full: true
        }
    );
    assert_eq!(c.meta.bytes_may_use, GLOBAL + meta - UPDATE);

    // The write gives up (its error path): the data freed and the metadata released, then the
    // reservation's extent. The inode's reservation was short by what moved, so it releases
    // only what it still holds: first the csum leaf's share...
    fs.delalloc_release_space(0, 0, 4 * K, true).unwrap();
    let i = fs.inode_counters(0).unwrap();
    assert_eq!(
        (i.block_rsv.size, i.block_rsv.reserved),
        (INSERT + UPDATE, INSERT + UPDATE)
    );
    // ... then the extent and the inode update.
    fs.delalloc_release_extents(0, 4 * K).unwrap();
    assert_eq!(inode(&mut fs, 0), InodeCounters::default());
    assert_eq!(with_full_flags_cleared(fs.counters()), fresh());
    no_reports();
}

/// A delalloc range written back: an ordered extent created (outstanding_extents + 1, the data
/// extent allocated from the delalloc reservation), DELALLOC cleared without accounting, then
/// the ordered extent finished (the data used, outstanding_extents − 1 and its metadata
/// released by btrfs_remove_ordered_extent's btrfs_delalloc_release_metadata).
#[test]
fn an_ordered_extent_keeps_its_reservation_until_it_is_removed() {
    let mut fs = fs();
    let len = 12 * K;
    fs.delalloc_reserve_space(1, 0, len).unwrap();
    fs.lock_range(1, 0, len - 1).unwrap().unwrap();
    fs.set_bits(
        1,
        0,
        len - 1,
        Bits::DELALLOC | Bits::UPTODATE | Bits::DIRTY,
        false,
    )
    .unwrap()
    .unwrap();
    fs.unlock(1, 0, len - 1).unwrap();
    fs.delalloc_release_extents(1, len).unwrap();
    let reserved = fs.inode_counters(1).unwrap();

    // Writeback.
    fs.lock_range(1, 0, len - 1).unwrap().unwrap();
    assert_eq!(fs.find_delalloc(1, 0, u64::MAX), Ok((true, 0, len - 1)));
    fs.data_reserve_extent(len).unwrap();
    fs.ordered_added(1).unwrap();
    fs.clear_bits(
        1,
        0,
        len - 1,
        Bits::LOCKED | Bits::DELALLOC | Bits::DIRTY,
        false,
        false,
    )
    .unwrap();
    assert_eq!(
        fs.records(1).unwrap(),
        vec![Record {
            start: 0,
            end: len - 1,
            bits: Bits::UPTODATE
        }]
    );
    let i = fs.inode_counters(1).unwrap();
    assert_eq!(
        i,
        InodeCounters {
            delalloc_bytes: 0,
            ..reserved
        },
        "the ordered extent's outstanding extent replaces the record's; the reservation stays"
    );
    let c = fs.counters();
    assert_eq!(
        (
            c.data.bytes_may_use,
            c.data.bytes_reserved,
            c.fs_delalloc_bytes
        ),
        (0, len, 0)
    );

    // finish_ordered_io.
    fs.data_use_extent(len).unwrap();
    fs.ordered_removed(1, len).unwrap();
    assert_eq!(inode(&mut fs, 1), InodeCounters::default());
    let mut want = fresh();
    want.data.bytes_used = len;
    assert_eq!(with_full_flags_cleared(fs.counters()), want);
    no_reports();
}

/// Two inodes' delalloc bytes add up in fs_info->delalloc_bytes; a NORESERVE record's data is
/// not freed by the clear hook (it reserved none), only its metadata.
#[test]
fn inodes_share_the_fs_counters_and_noreserve_frees_no_data() {
    let mut fs = fs();
    fs.delalloc_reserve_space(0, 0, 4 * K).unwrap();
    fs.delalloc_reserve_metadata(1, 4 * K, 4 * K, false)
        .unwrap();
    fs.set_bits(0, 0, 4 * K - 1, Bits::DELALLOC, false)
        .unwrap()
        .unwrap();
    fs.set_bits(
        1,
        8 * K,
        12 * K - 1,
        Bits::DELALLOC | Bits::NORESERVE,
        false,
    )
    .unwrap()
    .unwrap();
    fs.delalloc_release_extents(0, 4 * K).unwrap();
    fs.delalloc_release_extents(1, 4 * K).unwrap();
    let c = fs.counters();
    assert_eq!(
        (c.fs_delalloc_bytes, c.data.bytes_may_use),
        (8 * K as i64, 4 * K)
    );
    for ino in [1, 0] {
        let r = fs.records(ino).unwrap();
        fs.clear_bits(
            ino,
            r[0].start,
            r[0].end,
            Bits::DELALLOC | Bits::DO_ACCOUNTING,
            false,
            false,
        )
        .unwrap();
    }
    assert_eq!(with_full_flags_cleared(fs.counters()), fresh());
    assert_eq!(inode(&mut fs, 0), InodeCounters::default());
    assert_eq!(inode(&mut fs, 1), InodeCounters::default());
    no_reports();
}

/// close_ctree's btrfs_release_global_block_rsv: the global reserve back to the space info,
/// and the kernel's WARN_ON (block-rsv.c) for a delayed items reservation left behind.
#[test]
fn releasing_the_global_rsv_at_unmount_warns_for_a_leftover_delayed_rsv() {
    let mut fs = fs();
    fs.release_global_block_rsv();
    assert_eq!(
        fs.counters().global_rsv,
        RsvCounters {
            size: 0,
            reserved: 0,
            full: true
        }
    );
    assert_eq!(fs.counters().meta.bytes_may_use, 0);
    no_reports();

    let mut fs = self::fs();
    fs.block_rsv_add(Rsv::Delayed, UPDATE).unwrap();
    assert_eq!(fs.counters().meta.bytes_may_use, GLOBAL + UPDATE);
    fs.release_global_block_rsv();
    let r = reports();
    assert_eq!(r.len(), 2, "size and reserved: {r:?}");
    for r in &r {
        assert_eq!(r.kind, "WARN_ON");
        assert!(r.location.contains("fs/btrfs/block-rsv.c:"), "{r:?}");
        assert!(r.text.contains("delayed_block_rsv"), "{r:?}");
    }
    // The global reserve is refilled as btrfs_update_global_block_rsv ends.
    fs.update_global_block_rsv();
    assert_eq!(
        fs.counters().global_rsv.reserved,
        0,
        "its size is 0 after the release"
    );
}

/// An underflow of bytes_may_use is the kernel's WARN_ON in its space-info.h helper, and the
/// counter is clamped at 0 as the kernel does.
#[test]
fn an_underflow_is_the_kernels_warn() {
    let mut fs = fs();
    fs.free_reserved_data_space_noquota(4 * K).unwrap();
    let r = reports();
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!((r[0].kind.as_str(), r[0].text.as_str()), ("WARN_ON", "1"));
    assert!(r[0].location.contains("fs/btrfs/space-info.h:"), "{r:?}");
    assert_eq!(fs.counters().data.bytes_may_use, 0);
    // An unaligned length trips the ASSERT of btrfs_free_reserved_data_space_noquota.
    fs.free_reserved_data_space_noquota(100).unwrap();
    let r = reports();
    assert!(
        r.iter()
            .any(|r| r.kind == "ASSERT" && r.location.contains("fs/btrfs/delalloc-space.c:")),
        "{r:?}"
    );
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let mut fs = fs();
    assert_eq!(
        fs.delalloc_reserve_space(2, 0, 4096),
        Err(FsError::NoSuchInode { ino: 2, inodes: 2 })
    );
    assert!(matches!(
        fs.block_rsv_migrate(Rsv::Inode(7), Rsv::Delayed, 1, true),
        Err(FsError::NoSuchInode { ino: 7, .. })
    ));
    assert!(matches!(
        fs.set_bits(0, 10, 9, Bits::DELALLOC, false),
        Err(FsError::Range(_))
    ));
    assert!(matches!(
        fs.delalloc_reserve_space(0, u64::MAX - 10, 4096),
        Err(FsError::Range(_))
    ));
    assert!(matches!(
        fs.set_bits(0, 0, MAX_BYTE + 1, Bits::DIRTY, false),
        Err(FsError::Range(_))
    ));
    fs.delalloc_reserve_space(0, 0, 4096).unwrap();
    assert!(matches!(
        fs.set_free_space(u64::MAX, 0),
        Err(FsError::Range(_))
    ));
    assert_eq!(
        fs.set_free_space(u64::MAX - 4096, 0),
        Ok(()),
        "total = u64::MAX"
    );
    assert!(matches!(
        fs.set_bits(0, 0, 1, Bits::WRITEBACK, false),
        Err(FsError::Unsupported(_))
    ));
    for bad in [
        FsConfig {
            inodes: 0,
            ..config()
        },
        FsConfig {
            inodes: 9,
            ..config()
        },
        FsConfig {
            sectorsize: 3000,
            ..config()
        },
        FsConfig {
            nodesize: 2048,
            ..config()
        },
        FsConfig {
            max_extent_size: 1 << 32,
            ..config()
        },
        FsConfig {
            csums_per_leaf: 0,
            ..config()
        },
        FsConfig {
            global_rsv: (256 << 20) + 1,
            ..config()
        },
    ] {
        let e = KernelFs::new(bad).err().expect("refused");
        assert!(matches!(e, FsError::Config(_)), "{e}");
        assert!(!e.to_string().is_empty());
    }
    // The geometry's file system is a valid one.
    let g = Geometry::default();
    KernelFs::new(FsConfig::from_geometry(&g)).unwrap();
    no_reports();
}

/// Many file systems, dropped with records, locks and cached states in their trees and
/// reservations outstanding: under ASan, no leak and no use after free.
#[test]
fn file_systems_drop_cleanly_whatever_they_hold() {
    for i in 0..40u64 {
        let mut fs = fs();
        for ino in 0..2 {
            fs.delalloc_reserve_space(ino, i * 4096, 8192).unwrap();
            fs.set_bits(ino, i * 4096, i * 4096 + 8191, Bits::DELALLOC, i % 2 == 0)
                .unwrap()
                .unwrap();
            fs.set_bits(ino, 1 << 20, (1 << 20) + 4095, Bits::LOCKED, true)
                .unwrap()
                .unwrap();
            if i % 3 == 0 {
                fs.unlock(ino, 1 << 20, (1 << 20) + 4095).unwrap();
            }
        }
        fs.block_rsv_migrate(Rsv::Inode(0), Rsv::Delayed, UPDATE, true)
            .unwrap();
    }
    no_reports();
}
