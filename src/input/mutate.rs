//! Structure-aware mutation of fuzz inputs: decode the bytes to a [`Program`], change it at the
//! op level, encode it again in literal mode ([`crate::input`]).
//!
//! A byte-level mutator mostly breaks what makes a program interesting: one flipped bit in a
//! varint moves an offset off every boundary, and an inserted byte shifts every later field.
//! Here the mutations are the ones a person would try on a scenario:
//! - insert a fresh op (from the generator, primed with the offsets the program already uses),
//!   delete one, duplicate one elsewhere, swap two;
//! - nudge one number of one op: ±1, ± a sector, to the sector boundary below or above (or the
//!   byte before it, for inclusive ends), to a max_extent or 128 MiB boundary, to a value
//!   another op uses;
//! - draw new arguments for an op of the same kind; rarely, a new geometry.
//!
//! One to three of them per call, all from an RNG seeded by the engine's seed, so a mutation
//! reproduces. The result always decodes to a valid program of the level, is different from the
//! input's program, and fits `max_size` (ops are dropped from the end if needed). [`libfuzzer`]
//! is the whole body of a `fuzz_mutator!`; it leaves one call in [`BYTE_MUTATION_ONE_IN`] to the
//! engine's own byte mutator, which still finds what structure cannot (and mutates
//! generated-mode inputs as their DNA).

use crate::generators::{self, Gen, Level};
use crate::input::{decode, encode};
use arbitrary::Unstructured;
use delalloc_contract::geometry::MIB;
use delalloc_contract::op::FieldMut;
use delalloc_contract::{Geometry, Op, OpKind, Program};
use rand::rngs::SmallRng;
use rand::{Rng, RngCore, SeedableRng};

/// One call in this many goes to the engine's byte-level mutator.
pub const BYTE_MUTATION_ONE_IN: u32 = 2;

/// The body of libFuzzer's custom mutator: mutates `data[..size]` in place into at most
/// `max_size` bytes and returns the new size. `byte_mutate` is libFuzzer's own mutator
/// (`libfuzzer_sys::fuzzer_mutate`), used one call in [`BYTE_MUTATION_ONE_IN`] and whenever no
/// structured mutation fits.
pub fn libfuzzer(
    data: &mut [u8],
    size: usize,
    max_size: usize,
    seed: u32,
    level: Level,
    byte_mutate: impl FnOnce(&mut [u8], usize, usize) -> usize,
) -> usize {
    if seed.is_multiple_of(BYTE_MUTATION_ONE_IN) {
        return byte_mutate(data, size, max_size);
    }
    match mutate(&data[..size], level, max_size, u64::from(seed)) {
        Some(out) => {
            data[..out.len()].copy_from_slice(&out);
            out.len()
        }
        None => byte_mutate(data, size, max_size),
    }
}

/// A literal-mode input of at most `max_size` bytes whose program is an op-level mutation of
/// `input`'s; deterministic in `seed`. `None` when no mutation fits in `max_size`.
pub fn mutate(input: &[u8], level: Level, max_size: usize, seed: u64) -> Option<Vec<u8>> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let original = decode(input, level);
    for _ in 0..8 {
        let mut p = original.clone();
        let stacked = [1, 1, 1, 2, 2, 3][rng.gen_range(0..6)];
        for _ in 0..stacked {
            mutate_once(&mut p, level, &mut rng);
        }
        // Through the decoder: whatever a mutation left out of range is brought back into it
        // (a geometry change may have made an inode number or an alignment invalid).
        let mut p = decode(&encode(&p), level);
        let mut bytes = encode(&p);
        while bytes.len() > max_size && p.ops.pop().is_some() {
            bytes = encode(&p);
        }
        if bytes.len() > max_size {
            return None;
        }
        if p != original {
            return Some(bytes);
        }
    }
    None
}

/// The mutations, with their relative weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mutation {
    Insert,
    Delete,
    Duplicate,
    Swap,
    Nudge,
    NewArguments,
    NewGeometry,
}

const MUTATIONS: [(Mutation, u32); 7] = [
    (Mutation::Insert, 3),
    (Mutation::Delete, 4),
    (Mutation::Duplicate, 1),
    (Mutation::Swap, 2),
    (Mutation::Nudge, 6),
    (Mutation::NewArguments, 2),
    (Mutation::NewGeometry, 1),
];

fn pick_mutation(rng: &mut SmallRng) -> Mutation {
    let total: u32 = MUTATIONS.iter().map(|&(_, w)| w).sum();
    let mut x = rng.gen_range(0..total);
    for &(m, w) in &MUTATIONS {
        if x < w {
            return m;
        }
        x -= w;
    }
    Mutation::Nudge
}

/// Applies one mutation (one that cannot apply, like deleting from an empty program, inserts).
fn mutate_once(p: &mut Program, level: Level, rng: &mut SmallRng) {
    let n = p.ops.len();
    match pick_mutation(rng) {
        Mutation::Delete if n > 0 => {
            p.ops.remove(rng.gen_range(0..n));
        }
        Mutation::Duplicate if n > 0 => {
            let op = p.ops[rng.gen_range(0..n)].clone();
            p.ops.insert(rng.gen_range(0..=n), op);
        }
        Mutation::Swap if n > 1 => {
            let i = rng.gen_range(0..n);
            // Mostly neighbours: order within a few ops is what changes an outcome.
            let j = if rng.gen_bool(0.5) {
                (i + 1) % n
            } else {
                rng.gen_range(0..n)
            };
            p.ops.swap(i, j);
        }
        Mutation::Nudge if n > 0 => nudge(p, rng),
        Mutation::NewArguments if n > 0 => {
            let i = rng.gen_range(0..n);
            if let Some(op) = fresh_op(p, p.ops[i].kind(), rng) {
                p.ops[i] = op;
            }
        }
        Mutation::NewGeometry => {
            let bytes = random_bytes(rng, 64);
            let mut u = Unstructured::new(&bytes);
            if let Ok(mut g) = generators::geometry(&mut u) {
                if level == Level::Tree {
                    g.inodes = 1;
                }
                p.geometry = g;
            }
        }
        _ => {
            let kinds: Vec<OpKind> = level.kinds().collect();
            let kind = kinds[rng.gen_range(0..kinds.len())];
            if let Some(op) = fresh_op(p, kind, rng) {
                p.ops.insert(rng.gen_range(0..=n), op);
            }
        }
    }
}

fn random_bytes(rng: &mut SmallRng, n: usize) -> Vec<u8> {
    let mut bytes = vec![0; n];
    rng.fill_bytes(&mut bytes);
    bytes
}

/// An op of `kind` from the generator, biased toward the offsets `p` already uses.
fn fresh_op(p: &Program, kind: OpKind, rng: &mut SmallRng) -> Option<Op> {
    let mut gen = Gen::new(p.geometry);
    for op in &p.ops {
        gen.remember(op);
    }
    let bytes = random_bytes(rng, 256);
    gen.op(&mut Unstructured::new(&bytes), kind).ok()
}

/// Moves one number of one op to a nearby interesting value, keeping the op valid.
fn nudge(p: &mut Program, rng: &mut SmallRng) {
    let g = p.geometry;
    let pool: Vec<u64> = p
        .ops
        .iter_mut()
        .flat_map(|op| numbers(op).into_iter().map(|v| *v))
        .collect();
    for _ in 0..8 {
        let i = rng.gen_range(0..p.ops.len());
        let mut op = p.ops[i].clone();
        let mut fields = numbers(&mut op);
        if fields.is_empty() {
            continue;
        }
        let field = rng.gen_range(0..fields.len());
        let v = *fields[field];
        let candidates = nudged(v, &g, &pool);
        let new = candidates[rng.gen_range(0..candidates.len())];
        if new == v {
            continue;
        }
        *fields[field] = new;
        if op.validate(&g).is_ok() {
            p.ops[i] = op;
            return;
        }
    }
}

/// Values near `v` that matter to the accounting: sector and max_extent / 128 MiB boundaries
/// (and the byte before them, the inclusive end of a range up to them), ±1, ± a sector, and a
/// number another op of the program uses.
fn nudged(v: u64, g: &Geometry, pool: &[u64]) -> Vec<u64> {
    let s = g.sectorsize;
    let mut out = vec![
        v.saturating_add(1),
        v.saturating_sub(1),
        v.saturating_add(s),
        v.saturating_sub(s),
        v / 2,
        0,
        s,
    ];
    for unit in [s, g.max_extent, 128 * MIB] {
        let below = v / unit * unit;
        let above = below.saturating_add(unit);
        out.extend([below, above, above - 1, below.saturating_sub(1)]);
    }
    out.extend([v.saturating_add(g.max_extent), v.saturating_add(128 * MIB)]);
    out.extend(pool.iter().copied());
    out
}

/// The numeric arguments of an op: offsets, lengths, sizes, limits (its `u64` fields, in
/// declaration order).
fn numbers(op: &mut Op) -> Vec<&mut u64> {
    op.fields_mut()
        .into_iter()
        .filter_map(|(_, f)| match f {
            FieldMut::Offset(v) | FieldMut::End(v) | FieldMut::Len(v) | FieldMut::Num(v) => Some(v),
            FieldMut::Ino(_)
            | FieldMut::Count(_)
            | FieldMut::Bits(_)
            | FieldMut::Flag(_)
            | FieldMut::Fault(_) => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input;
    use delalloc_contract::text::parse_program;

    fn seed_input() -> Vec<u8> {
        encode(
            &parse_program(
                "geometry inodes=2\n\
                 buffered_write ino=0 pos=5 len=4097\n\
                 writeback ino=0 start=0 len=8K\n\
                 finish_ordered ino=0 nth=0\n",
            )
            .unwrap(),
        )
    }

    #[test]
    fn mutants_are_valid_different_bounded_and_reproducible() {
        let input = seed_input();
        let original = decode(&input, Level::Fs);
        for seed in 0..500 {
            let out = mutate(&input, Level::Fs, 4096, seed).expect("a mutant");
            assert_eq!(out, mutate(&input, Level::Fs, 4096, seed).unwrap());
            assert!(out.len() <= 4096);
            assert_eq!(input::Mode::of(&out), input::Mode::Literal);
            let p = decode(&out, Level::Fs);
            assert_eq!(input::fits(&p, Level::Fs), Ok(()), "seed {seed}");
            assert_ne!(p, original, "seed {seed}");
            assert_eq!(encode(&p), out, "the output is canonical");
        }
    }

    #[test]
    fn every_kind_of_mutation_shows_up() {
        let input = seed_input();
        let original = decode(&input, Level::Fs);
        let (mut longer, mut shorter, mut same_len, mut new_geometry) = (0, 0, 0, 0);
        let mut boundaries = std::collections::BTreeSet::new();
        for seed in 0..2000 {
            let p = decode(&mutate(&input, Level::Fs, 4096, seed).unwrap(), Level::Fs);
            match p.ops.len().cmp(&original.ops.len()) {
                std::cmp::Ordering::Greater => longer += 1,
                std::cmp::Ordering::Less => shorter += 1,
                std::cmp::Ordering::Equal => same_len += 1,
            }
            new_geometry += usize::from(p.geometry != original.geometry);
            if let Some(Op::BufferedWrite { pos, len, .. }) = p.ops.first() {
                for v in [*pos, *len, pos + len] {
                    if v == 4096 || v == 8191 {
                        boundaries.insert("sector");
                    }
                    if v % (128 * MIB) == 0 && v > 0 {
                        boundaries.insert("128 MiB");
                    }
                }
            }
        }
        assert!(
            longer > 100 && shorter > 100 && same_len > 100,
            "{longer} {shorter} {same_len}"
        );
        assert!(new_geometry > 20, "{new_geometry}");
        assert_eq!(boundaries.len(), 2, "{boundaries:?}");
    }

    #[test]
    fn tree_level_mutants_stay_tree_level_and_tiny_limits_give_up() {
        let input = encode(&parse_program("set_bits 0 4095 DELALLOC\nlock 0 100\n").unwrap());
        for seed in 0..300 {
            let p = decode(
                &mutate(&input, Level::Tree, 4096, seed).unwrap(),
                Level::Tree,
            );
            assert_eq!(input::fits(&p, Level::Tree), Ok(()));
        }
        // Not even a geometry fits in 4 bytes.
        assert_eq!(mutate(&input, Level::Tree, 4, 1), None);
    }

    #[test]
    fn the_glue_leaves_some_calls_to_the_byte_mutator() {
        let input = seed_input();
        let mut byte_calls = 0;
        for seed in 0..400u32 {
            let mut buf = input.clone();
            buf.resize(4096, 0);
            let mut called = false;
            let n = libfuzzer(
                &mut buf,
                input.len(),
                4096,
                seed,
                Level::Fs,
                |_, size, _| {
                    called = true;
                    size
                },
            );
            byte_calls += u32::from(called);
            assert!(n <= 4096);
            if !called {
                assert_ne!(decode(&buf[..n], Level::Fs), decode(&input, Level::Fs));
            }
        }
        assert_eq!(byte_calls, 400 / BYTE_MUTATION_ONE_IN);
    }
}
