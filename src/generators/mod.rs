//! Program generators: fuzzer bytes in, a valid [`Program`] out.
//!
//! Everything reads its choices from an [`arbitrary::Unstructured`], so that cargo-fuzz, AFL and
//! bolero inputs and the built-in engine's seeded RNG ([`program_from_seed`]) drive the same code.
//! When the bytes run out every choice falls back to its first alternative and the program ends.
//!
//! The shape of a program:
//! - a [`Geometry`](delalloc_contract::Geometry): mostly the default, sometimes a small `max_extent` / `write_chunk` (so that
//!   `count_max_extents` matters for small ranges), sometimes little space (so that the ENOSPC
//!   paths run), 1..=8 inodes, every sector and node size the geometry allows;
//! - a swarm: the subset of op kinds this program may use ([`Swarm`]);
//! - up to [`MAX_OPS`] ops, each valid by construction, with offsets biased toward values the
//!   program already used (range ends, ±1, sector and max_extent boundaries, i_size).
//!
//! Where an op kind's arguments are chosen: [`Gen::op`] dispatches to one `fn` per kind.

mod choice;
pub mod concurrent;
mod dialect;
mod geometry;
mod level;
mod ops;
mod seeds;
mod swarm;

pub use dialect::Dialect;
pub use geometry::geometry;
pub use level::Level;
pub use ops::{Gen, MAX_PIECES};
pub use seeds::{derived_seed, mix64};
pub use swarm::Swarm;

use arbitrary::{Result, Unstructured};
use choice::chance;
use delalloc_contract::{OpKind, Program};
use ops::EPISODE_MAX_OPS;
use rand::{rngs::SmallRng, RngCore, SeedableRng};

/// At most this many ops per program: keeps one libFuzzer input well under its time limit.
pub const MAX_OPS: usize = 64;

/// Bytes of RNG output [`program_from_seed`] hands to the generator (a 64-op program needs ~3 KiB).
pub const SEED_BYTES: usize = 8 * 1024;

/// A program generated from `seed`: the seed's RNG bytes fed to [`program`]. Deterministic.
pub fn program_from_seed(seed: u64, level: Level) -> Program {
    let bytes = seed_bytes(seed);
    let mut u = Unstructured::new(&bytes);
    // `program` only fails if arbitrary itself does; an empty program is still a valid answer.
    program(&mut u, level).unwrap_or_default()
}

/// The [`SEED_BYTES`] bytes of RNG output that [`program_from_seed`] generates from.
pub fn seed_bytes(seed: u64) -> Vec<u8> {
    let mut bytes = vec![0u8; SEED_BYTES];
    SmallRng::seed_from_u64(seed).fill_bytes(&mut bytes);
    bytes
}

/// A valid program of `level` read from `u`.
pub fn program(u: &mut Unstructured<'_>, level: Level) -> Result<Program> {
    let mut geometry = geometry(u)?;
    if level == Level::Tree {
        // Tree ops never address an inode; every extra one is only snapshot work for the oracle.
        geometry.inodes = 1;
    }
    let swarm = Swarm::draw(u, level, geometry.era)?;
    let mut gen = Gen::new(geometry);
    // Short programs are most of the bugs (CrashMonkey: three ops or fewer) and shrink well;
    // half of the programs stay short, half may use the whole cap.
    let cap = if chance(u, 1, 2)? { 16 } else { MAX_OPS };
    let len = u.int_in_range(1..=cap)?;
    let mut ops = Vec::with_capacity(len);
    while ops.len() < len && !u.is_empty() {
        if level != Level::Tree && ops.len() + EPISODE_MAX_OPS <= MAX_OPS && chance(u, 1, 64)? {
            let episode = gen.steal_chain_episode(u)?;
            ops.extend(episode);
            continue;
        }
        let kind = swarm.pick(u)?;
        let op = gen.op(u, kind)?;
        debug_assert!(
            op.validate(&geometry).is_ok(),
            "{op:?}: {:?}",
            op.validate(&geometry)
        );
        ops.push(op);
        // After an unmount every op answers Unmounted: keep one now and then, no more.
        if kind == OpKind::Unmount && !chance(u, 1, 4)? {
            break;
        }
    }
    let p = Program { geometry, ops };
    debug_assert_eq!(p.validate(), Ok(()));
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use delalloc_contract::Op;

    #[test]
    fn generated_programs_are_valid_and_deterministic() {
        for level in Level::ALL {
            for seed in 0..200 {
                let p = program_from_seed(seed, level);
                assert_eq!(p.validate(), Ok(()), "seed {seed} level {level}");
                assert!(!p.ops.is_empty() && p.ops.len() <= MAX_OPS);
                assert!(p.ops.iter().all(|op| level.kinds().any(|k| k == op.kind())));
                assert_eq!(p, program_from_seed(seed, level));
            }
        }
    }

    #[test]
    fn every_kind_is_generated_and_empty_input_is_fine() {
        let mut seen = std::collections::BTreeSet::new();
        for seed in 0..300 {
            seen.extend(
                program_from_seed(seed, Level::Mixed)
                    .ops
                    .iter()
                    .map(Op::kind),
            );
        }
        assert_eq!(seen.len(), OpKind::ALL.len(), "{seen:?}");
        for len in [0, 1, 7, 100] {
            let bytes = vec![0xa5; len];
            let p = program(&mut Unstructured::new(&bytes), Level::Mixed).unwrap();
            assert_eq!(p.validate(), Ok(()));
        }
    }
}
