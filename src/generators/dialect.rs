//! What the model under test accepts, and how any program is made into one it accepts.
//!
//! The reference and optimized models take every valid program. The kernel's io tree does not:
//! it has one era's rules (the 6.x ones in every kernel this project builds), and 6.12's
//! test_range_bit takes a single bit (it ASSERTs `is_power_of_2(bit)`). Rather than teach every
//! generator, decoder and mutator those limits, a campaign against such a model passes each
//! program through [`Dialect::adapt`], which keeps the program's shape and changes only what the
//! model cannot take.

use delalloc_contract::op::FieldMut;
use delalloc_contract::{Bits, Era, Op, Program};

/// The limits of a model under test.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Dialect {
    /// The era every program runs in (a kernel has the rules of its own release), or `None`
    /// for a model that takes them all.
    pub era: Option<Era>,
    /// test_range_bit queries one bit at a time (6.12's `test_range_bit(tree, start, end,
    /// u32 bit, cached)`).
    pub one_bit_tests: bool,
    /// DEFRAG is set only as the kernel's defrag sets it (6.x defrag_one_locked_target: clear
    /// DELALLOC|DEFRAG on the range, then set DELALLOC|DEFRAG). btrfs_set_delalloc_extent WARNs on
    /// DEFRAG without DELALLOC and counts defrag_bytes only for bytes newly gaining DELALLOC, so
    /// any other use leaves defrag_bytes short of the DEFRAG bytes (SPEC §2).
    pub defrag_after_clear: bool,
    /// The model counts extents in 32 bits (6.x: count_max_extents returns u32, fs.h:978 in
    /// 6.12 and ctree.h:1141 in 6.1, dividing with div_u64's u32 divisor; btrfs_inode's
    /// outstanding_extents is `unsigned`), so max_extent stays at most 2^31 and tree offsets
    /// below 2^31 max_extents: then no record, nor all of them together, needs 2^32 extents.
    /// The kernel's counters would wrap past that, over more delalloc than any page cache
    /// holds, with a max_extent no kernel has (SPEC §1.2).
    pub extents_in_32_bits: bool,
}

impl Dialect {
    /// Every valid program as it is: the reference and the optimized model.
    pub const ANY: Dialect = Dialect {
        era: None,
        one_bit_tests: false,
        defrag_after_clear: false,
        extents_in_32_bits: false,
    };

    /// Whether `adapt` leaves every program as it is.
    pub fn is_any(&self) -> bool {
        *self == Dialect::ANY
    }

    /// Whether `p` is already in this dialect: [`Dialect::adapt`] would leave it as it is.
    /// The shrinker's candidates outside it are not the bug being shrunk (a geometry reset to
    /// era B, say, is a program the kernel model cannot speak for).
    pub fn fits(&self, p: &Program) -> bool {
        if self.is_any() {
            return true;
        }
        let mut adapted = p.clone();
        self.adapt(&mut adapted);
        adapted == *p
    }

    /// Makes the valid program `p` one this dialect takes, changing as little as it can: the
    /// era is set; bits the era cannot store are dropped (an emptied set becomes DELALLOC, the
    /// generator's own fallback); set_bits' exclusive bits follow the era's rule; a multi-bit
    /// test keeps its lowest bit; with `defrag_after_clear`, a set_bits of DEFRAG gains
    /// DELALLOC and is preceded by the clear of DELALLOC|DEFRAG on its range (unless it already
    /// is), and convert_bits does not set DEFRAG. An op that is still invalid afterwards is
    /// dropped. Adapting an adapted program changes nothing.
    pub fn adapt(&self, p: &mut Program) {
        if self.is_any() {
            return;
        }
        if let Some(era) = self.era {
            p.geometry.era = era;
        }
        if self.extents_in_32_bits {
            // 2^31 is a multiple of every sectorsize; write_chunk may not exceed max_extent.
            let g = &mut p.geometry;
            g.max_extent = g.max_extent.min(1 << 31);
            g.write_chunk = g.write_chunk.min(g.max_extent);
        }
        let era = p.geometry.era;
        let offset_bound = self
            .extents_in_32_bits
            .then(|| p.geometry.max_extent.saturating_mul(1 << 31));
        for op in &mut p.ops {
            let is_clear = matches!(op, Op::ClearBits { .. });
            for (name, field) in op.fields_mut() {
                if let FieldMut::Offset(x) | FieldMut::End(x) = field {
                    if let Some(bound) = offset_bound {
                        // Monotonic, so a range's start stays at or before its end.
                        *x = (*x).min(bound - 1);
                    }
                } else if let FieldMut::Bits(bits) = field {
                    let kept = Bits(bits.0 & era.storable().0);
                    // clear_bits may clear nothing but `delete`; every other set must name a bit.
                    let may_be_empty = name == "exclusive" || name == "clear" || is_clear;
                    *bits = if kept.is_empty() && !may_be_empty && !bits.is_empty() {
                        Bits::DELALLOC
                    } else {
                        kept
                    };
                }
            }
            match op {
                Op::SetBits {
                    bits, exclusive, ..
                } => {
                    if era == Era::V6 {
                        // 6.x __set_extent_bit takes its exclusive bits from `bits`.
                        *exclusive = Bits(bits.0 & Bits::LOCKED.0);
                    } else {
                        *exclusive = Bits(exclusive.0 & bits.0);
                    }
                }
                Op::TestRangeBit { bits, .. } if self.one_bit_tests => {
                    *bits = Bits(bits.0 & bits.0.wrapping_neg());
                }
                _ => {}
            }
        }
        if self.defrag_after_clear {
            p.ops = defrag_after_clear(std::mem::take(&mut p.ops));
        }
        let g = p.geometry;
        p.ops.retain(|op| op.validate(&g).is_ok());
    }
}

/// The clear that the kernel's defrag makes before it sets DELALLOC|DEFRAG on a range.
fn defrag_clear(start: u64, end: u64) -> Op {
    Op::ClearBits {
        start,
        end,
        bits: Bits::DELALLOC | Bits::DEFRAG,
        wake: false,
        delete: false,
        cached: false,
    }
}

/// `ops` with DEFRAG set only after the clear of [`defrag_clear`], and never by convert.
fn defrag_after_clear(ops: Vec<Op>) -> Vec<Op> {
    let mut out: Vec<Op> = Vec::with_capacity(ops.len());
    for mut op in ops {
        match &mut op {
            Op::SetBits {
                start, end, bits, ..
            } if bits.contains(Bits::DEFRAG) => {
                *bits = *bits | Bits::DELALLOC;
                let clear = defrag_clear(*start, *end);
                if out.last() != Some(&clear) {
                    out.push(clear);
                }
            }
            Op::ConvertBits { set, .. } if set.contains(Bits::DEFRAG) => {
                *set = set.minus(Bits::DEFRAG);
                if set.is_empty() {
                    *set = Bits::DELALLOC;
                }
            }
            _ => {}
        }
        out.push(op);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generators::{program_from_seed, Level};
    use delalloc_contract::op::Field;

    #[test]
    fn adapted_programs_are_valid_and_in_the_dialect() {
        let dialect = Dialect {
            era: Some(Era::V6),
            one_bit_tests: true,
            defrag_after_clear: true,
            extents_in_32_bits: true,
        };
        let mut changed = 0;
        for seed in 0..300 {
            let original = program_from_seed(seed, Level::Tree);
            let mut p = original.clone();
            dialect.adapt(&mut p);
            assert_eq!(p.validate(), Ok(()), "seed {seed}");
            assert_eq!(p.geometry.era, Era::V6);
            for op in &p.ops {
                if let Op::TestRangeBit { bits, .. } = op {
                    assert!(bits.0.is_power_of_two(), "seed {seed}: {op:?}");
                }
            }
            for (i, op) in p.ops.iter().enumerate() {
                if let Op::SetBits {
                    start, end, bits, ..
                } = op
                {
                    if bits.contains(Bits::DEFRAG) {
                        assert!(bits.contains(Bits::DELALLOC), "seed {seed}: {op:?}");
                        assert_eq!(p.ops[i - 1], defrag_clear(*start, *end), "seed {seed}");
                    }
                }
                if let Op::ConvertBits { set, .. } = op {
                    assert!(!set.contains(Bits::DEFRAG), "seed {seed}: {op:?}");
                }
            }
            assert!(p.geometry.max_extent <= 1 << 31, "seed {seed}");
            let bound = p.geometry.max_extent.saturating_mul(1 << 31);
            for op in &p.ops {
                for (_, f) in op.fields() {
                    if let Field::Offset(x) | Field::End(x) = f {
                        assert!(x < bound, "seed {seed}: {op:?}");
                    }
                }
            }
            assert!(dialect.fits(&p), "seed {seed}: adapting twice changed it");
            changed += usize::from(p != original);
        }
        assert!(changed > 0, "no program needed adapting");
    }

    #[test]
    fn any_leaves_programs_alone() {
        for seed in 0..50 {
            let original = program_from_seed(seed, Level::Tree);
            let mut p = original.clone();
            Dialect::ANY.adapt(&mut p);
            assert_eq!(p, original);
        }
    }
}
