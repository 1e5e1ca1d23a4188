//! The file system's geometry: sizes, space and inodes of a generated program.

use super::choice::{chance, pick};
use arbitrary::{Result, Unstructured};
use delalloc_contract::geometry::MIB;
use delalloc_contract::{Era, Geometry};

/// Mostly the default; sometimes small extents, sometimes little space; one in four in era 6.
pub fn geometry(u: &mut Unstructured<'_>) -> Result<Geometry> {
    let mut g = Geometry {
        inodes: u.int_in_range(1..=4)?,
        ..Geometry::default()
    };
    if chance(u, 2, 5)? {
        g.sectorsize = pick(u, &[4096, 4096, 4096, 4096, 4096, 512, 65536])?;
        let nodes: Vec<u64> = [16384, 4096, 65536]
            .into_iter()
            .filter(|&n| n >= g.sectorsize)
            .collect();
        g.nodesize = pick(u, &nodes)?;
        g.max_extent = if chance(u, 3, 4)? {
            // Small enough that count_max_extents matters at a few sectors.
            let m = match u.int_in_range(0..=2)? {
                0 => pick(u, &[64 * 1024, 128 * 1024, 256 * 1024, MIB])?,
                1 => g.sectorsize * u.int_in_range(1..=4)?,
                _ => g.sectorsize * u.int_in_range(1..=256)?,
            };
            m.max(g.sectorsize) / g.sectorsize * g.sectorsize
        } else {
            128 * MIB
        };
        let chunks: Vec<u64> = [
            g.sectorsize,
            2 * g.sectorsize,
            4 * g.sectorsize,
            16 * g.sectorsize,
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
