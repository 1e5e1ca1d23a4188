//! The file system's geometry: sizes, space and inodes of a generated program.

use super::choice::{chance, pick};
use arbitrary::{Result, Unstructured};
use delalloc_contract::geometry::MIB;
use delalloc_contract::{Era, Geometry};

/// Mostly the default; sometimes other sizes (every sector and node size the geometry allows,
/// max_extent from one sector to over the kernel's 128 MiB, write_chunk from one sector to
/// max_extent), sometimes little space; one in four in era 6; 1..=8 inodes, mostly up to 4.
pub fn geometry(u: &mut Unstructured<'_>) -> Result<Geometry> {
    // Programs with many inodes spread their ops thin (and cost a snapshot per inode): one in
    // four has 5 to 8.
    let inodes = if chance(u, 1, 4)? {
        u.int_in_range(5..=8)?
    } else {
        u.int_in_range(1..=4)?
    };
    let mut g = Geometry {
        inodes,
        ..Geometry::default()
    };
    if chance(u, 2, 5)? {
        // Every power of two 512..=65536, the kernel's 4K most often.
        g.sectorsize = pick(
            u,
            &[4096, 4096, 4096, 512, 1024, 2048, 8192, 16384, 32768, 65536],
        )?;
        // Every power of two sectorsize..=65536, the kernel's default 16K most often.
        let nodes: Vec<u64> = (9..=16)
            .map(|b| 1u64 << b)
            .filter(|&n| n >= g.sectorsize)
            .collect();
        g.nodesize = if g.sectorsize <= 16384 && chance(u, 1, 3)? {
            16384
        } else {
            pick(u, &nodes)?
        };
        g.max_extent = max_extent(u, g.sectorsize)?;
        let chunks: Vec<u64> = [
            g.sectorsize,
            2 * g.sectorsize,
            4 * g.sectorsize,
            16 * g.sectorsize,
            64 * g.sectorsize,
            2 * MIB,
        ]
        .into_iter()
        .chain([g.max_extent])
        .filter(|&c| c <= g.max_extent && c % g.sectorsize == 0)
        .collect();
        g.write_chunk = pick(u, &chunks)?;
    }
    if chance(u, 1, 3)? {
        // Little space: a few sectors of data, a few reservation items of metadata.
        let s = g.sectorsize;
        g.data_bytes = pick(u, &[0, s, 4 * s, 16 * s, 64 * s, MIB, 16 * MIB])?;
        let item = g.trans_metadata_size(1);
        g.global_rsv = pick(u, &[0, item, 4 * item, 16 * MIB])?;
        g.meta_bytes =
            g.global_rsv + item * u.int_in_range(0..=8)? + pick(u, &[0, 0, s, item / 2])?;
    }
    if chance(u, 1, 4)? {
        // The 6.x io-tree rules (SPEC §1.2).
        g.era = Era::V6;
    }
    debug_assert_eq!(g.validate(), Ok(()));
    Ok(g)
}

/// A max_extent of sectors of `s`: mostly small enough that count_max_extents matters at a few
/// sectors, sometimes the kernel's 128 MiB (BTRFS_MAX_EXTENT_SIZE), sometimes larger.
fn max_extent(u: &mut Unstructured<'_>, s: u64) -> Result<u64> {
    let m = match u.int_in_range(0..=11)? {
        0..=2 => pick(u, &[64 * 1024, 128 * 1024, 256 * 1024, MIB])?,
        3 | 4 => s * u.int_in_range(1..=4)?,
        5 | 6 => s * u.int_in_range(1..=256)?,
        7 => pick(u, &[2 * MIB, 16 * MIB, 64 * MIB])?,
        8..=10 => 128 * MIB,
        _ => pick(u, &[256 * MIB, 1 << 30])?,
    };
    Ok(m.max(s) / s * s)
}
