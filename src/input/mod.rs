//! Fuzz inputs: how the bytes a coverage-guided engine (libFuzzer, AFL, bolero) hands a target
//! become a [`Program`], and how a program becomes such bytes again.
//!
//! The first byte chooses the mode:
//! - **generated** (even first byte, [`GENERATED`]): the rest is DNA for [`generators::program`]
//!   through `arbitrary::Unstructured`, exactly what the built-in engine explores
//!   (`[GENERATED] ++ seed bytes` is the engine's program of that seed, see [`generated_input`]);
//! - **literal** (odd first byte, [`LITERAL`]): a compact binary encoding of one program, the
//!   geometry then one op after another. [`encode`] writes it; it is what the seed corpora and
//!   the structure-aware mutator ([`crate::input::mutate`]) produce, so a readable program survives a
//!   trip through the engine unchanged.
//!
//! [`decode`] is total: every byte string, the empty one included, decodes to a valid program
//! of the requested level, and it never panics. Values out of range are brought into range
//! (modulo the valid span, or clamped to the cost bounds below), missing bytes read as zero, and
//! a kind byte that is no op's tag, or the tag of an op outside the level, is mapped onto the
//! level's kinds (byte modulo their number, in `OpKind::ALL` order). Programs are capped at
//! [`MAX_OPS`] ops, and no op may run more than [`MAX_PIECES`] reservation chunks or ordered
//! extents, the generator's bounds, so that one input never takes libFuzzer past its timeout.
//!
//! Inverse: `decode(&encode(p), level) == p` for every program `p` that [`fits`] the level.
//!
//!
//! The literal layout is [`literal`]'s.

pub mod literal;
pub mod mutate;

use literal::piece_bound;
pub use literal::{encode, LITERAL};

use crate::generators::{self, Level, MAX_OPS, MAX_PIECES};
use arbitrary::Unstructured;
use delalloc_contract::op::MAX_OFFSET;
use delalloc_contract::Program;

/// First byte of a generated-mode input (any even byte selects the mode).
pub const GENERATED: u8 = 0x00;

/// Which decoding an input gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Generated,
    Literal,
}

impl Mode {
    pub fn of(data: &[u8]) -> Mode {
        match data.first() {
            Some(b) if b & 1 == 1 => Mode::Literal,
            _ => Mode::Generated,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Mode::Generated => "generated",
            Mode::Literal => "literal",
        }
    }
}

/// The program `data` stands for, in the op language of `level`. Total; never panics.
pub fn decode(data: &[u8], level: Level) -> Program {
    let rest = data.get(1..).unwrap_or_default();
    match Mode::of(data) {
        Mode::Generated => {
            let mut u = Unstructured::new(rest);
            let mut p = generators::program(&mut u, level).unwrap_or_default();
            if level == Level::Tree {
                p.geometry.inodes = 1;
            }
            p
        }
        Mode::Literal => literal::decode(rest, level),
    }
}

/// The generated-mode input of the built-in engine's program for `seed`:
/// `decode(&generated_input(s), l) == generators::program_from_seed(s, l)`.
pub fn generated_input(seed: u64) -> Vec<u8> {
    let mut bytes = vec![GENERATED];
    bytes.extend(generators::seed_bytes(seed));
    bytes
}

/// Whether `decode(&encode(p), level) == p`; if not, why not (naming the op).
pub fn fits(p: &Program, level: Level) -> Result<(), String> {
    p.validate()?;
    let g = &p.geometry;
    if p.ops.len() > MAX_OPS {
        return Err(format!(
            "{} ops: fuzz inputs hold at most {MAX_OPS}",
            p.ops.len()
        ));
    }
    if g.max_extent > MAX_OFFSET {
        return Err(format!(
            "geometry: max_extent {} is over 2^50",
            g.max_extent
        ));
    }
    if level == Level::Tree && g.inodes != 1 {
        return Err(format!(
            "geometry: a tree-level program has 1 inode, not {}",
            g.inodes
        ));
    }
    for (i, op) in p.ops.iter().enumerate() {
        let name = op.kind().name();
        if !level.kinds().any(|k| k == op.kind()) {
            return Err(format!("op {i} ({name}) is not a {level}-level op"));
        }
        if let Some((len, cap)) = piece_bound(op, g) {
            if len > cap {
                return Err(format!(
                    "op {i} ({name}): len {len} is over the fuzz input bound {cap} ({MAX_PIECES} pieces)"
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use delalloc_contract::text::parse_program;
    use delalloc_contract::Op;
    use proptest::prelude::*;

    fn arb_level() -> impl Strategy<Value = Level> {
        prop_oneof![Just(Level::Tree), Just(Level::Fs), Just(Level::Mixed)]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Every generated program survives literal mode exactly, at its own level and mixed.
        #[test]
        fn literal_mode_inverts_generated_programs(seed in any::<u64>(), level in arb_level()) {
            let p = generators::program_from_seed(seed, level);
            prop_assert_eq!(fits(&p, level), Ok(()));
            let bytes = encode(&p);
            prop_assert_eq!(Mode::of(&bytes), Mode::Literal);
            prop_assert_eq!(&decode(&bytes, level), &p);
            prop_assert_eq!(&decode(&bytes, Level::Mixed), &p);
        }

        /// Arbitrary bytes decode, in either mode and at every level, to a valid program of
        /// that level within the bounds; decoding is a function of the bytes; and re-encoding
        /// what was decoded is a fixed point.
        #[test]
        fn any_bytes_decode_to_a_valid_program(
            bytes in proptest::collection::vec(any::<u8>(), 0..600),
            level in arb_level(),
        ) {
            let p = decode(&bytes, level);
            prop_assert_eq!(fits(&p, level), Ok(()));
            prop_assert_eq!(&decode(&bytes, level), &p);
            prop_assert_eq!(&decode(&encode(&p), level), &p);
        }

        /// Varint-heavy literal inputs: large values everywhere, every kind byte.
        #[test]
        fn literal_bytes_with_large_values_decode(
            body in proptest::collection::vec(prop_oneof![any::<u8>(), Just(0xffu8), Just(0x80u8)], 0..400),
            level in arb_level(),
        ) {
            let mut bytes = vec![LITERAL];
            bytes.extend(body);
            let p = decode(&bytes, level);
            prop_assert_eq!(fits(&p, level), Ok(()));
            prop_assert_eq!(&decode(&encode(&p), level), &p);
        }
    }

    /// The era lives in the first geometry byte's bits 3..: 0 there (every input written
    /// before eras) is era B; an era-6 program encodes to the same bytes but that bit.
    #[test]
    fn the_era_is_in_the_first_geometry_byte() {
        use delalloc_contract::{Bits, Era, OpKind};
        let text = "geometry inodes=1\nset_bits 0 4095 DELALLOC|LOCKED exclusive=LOCKED\n";
        let b = parse_program(text).unwrap();
        let v6 = parse_program(&format!("geometry era=6 inodes=1\n{}", &text[18..])).unwrap();
        assert_eq!(v6.geometry.era, Era::V6);
        let (eb, e6) = (encode(&b), encode(&v6));
        assert_eq!(eb[1], 3, "log2(4096) - 9, era B");
        assert_eq!(e6[1], 3 | 1 << 3);
        assert_eq!(eb[2..], e6[2..]);
        assert_eq!(decode(&eb, Level::Tree), b);
        assert_eq!(decode(&e6, Level::Tree), v6);
        // Era 6 decodes no WRITEBACK, and set_bits' exclusive as its bits' LOCKED.
        let mut raw = e6.clone();
        // DIRTY|WRITEBACK, exclusive DIRTY|WRITEBACK.
        raw.extend([OpKind::SetBits.tag(), 0, 0, 0x03, 0x03, 0]);
        let p = decode(&raw, Level::Tree);
        assert_eq!(fits(&p, Level::Tree), Ok(()));
        assert!(matches!(
            p.ops[1],
            Op::SetBits {
                bits: Bits::DIRTY,
                exclusive: Bits::NONE,
                ..
            }
        ));
    }

    #[test]
    fn generated_mode_is_the_engines_program() {
        for level in Level::ALL {
            for seed in [0, 1, 42, 0xdead_beef] {
                let p = decode(&generated_input(seed), level);
                assert_eq!(
                    p,
                    generators::program_from_seed(seed, level),
                    "{seed} {level}"
                );
            }
        }
    }

    #[test]
    fn empty_and_tiny_inputs_are_valid_programs() {
        for bytes in [&[][..], &[GENERATED], &[LITERAL], &[3, 0xff], &[0xff; 3]] {
            for level in Level::ALL {
                let p = decode(bytes, level);
                assert_eq!(fits(&p, level), Ok(()), "{bytes:?} {level}");
            }
        }
        // A lone literal tag: every geometry field reads 0, the smallest valid geometry.
        let p = decode(&[LITERAL], Level::Fs);
        assert!(p.ops.is_empty());
        assert_eq!(p.geometry.sectorsize, 512);
        assert_eq!(p.geometry.inodes, 1);
    }

    #[test]
    fn a_hand_written_program_round_trips_and_other_levels_map_its_kinds() {
        let p = parse_program(
            "geometry inodes=3 max_extent=64K write_chunk=16K\n\
             buffered_write ino=2 pos=1 len=8K copied=5000 nocow\n\
             direct_write ino=1 pos=4K len=128K fallback\n\
             set_bits 0 4095 DELALLOC|LOCKED exclusive=LOCKED cached\n\
             clear_bits 0 100 0 delete wake\n\
             find_delalloc 7 max=1\n\
             fail_next_reservation metadata\n\
             writeback ino=0 start=0 len=1125899906842623\n",
        )
        .unwrap();
        assert_eq!(decode(&encode(&p), Level::Mixed), p);
        assert!(fits(&p, Level::Fs).unwrap_err().contains("op 2 (set_bits)"));
        for level in [Level::Fs, Level::Tree] {
            // An op of another level reads its fields as the mapped kind's, so the op count
            // after it depends on the level's kinds; each op is still one of the level's.
            let d = decode(&encode(&p), level);
            assert!(!d.ops.is_empty());
            assert!(d.ops.iter().all(|op| level.kinds().any(|k| k == op.kind())));
            assert_eq!(fits(&d, level), Ok(()));
        }
    }

    #[test]
    fn programs_are_capped_in_ops_and_cost() {
        // 4K sectors, 16K nodes, max_extent 4K (so write_chunk 4K), no space, 8 inodes.
        let mut bytes = vec![LITERAL, 3, 2, 0, 0, 0, 0, 0, 7];
        // 200 buffered writes asking for 2^48 bytes each.
        for _ in 0..200 {
            bytes.extend([11, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f, 0, 0]);
        }
        let p = decode(&bytes, Level::Fs);
        assert_eq!(p.ops.len(), MAX_OPS);
        assert_eq!(p.geometry.write_chunk, 4096);
        for op in &p.ops {
            let Op::BufferedWrite { len, .. } = op else {
                panic!("{op:?}")
            };
            assert_eq!(*len, MAX_PIECES * 4096);
        }
    }
}
