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
}

impl Dialect {
    /// Every valid program as it is: the reference and the optimized model.
    pub const ANY: Dialect = Dialect {
        era: None,
        one_bit_tests: false,
    };

    /// Whether `adapt` leaves every program as it is.
    pub fn is_any(&self) -> bool {
        *self == Dialect::ANY
    }

    /// Makes the valid program `p` one this dialect takes, changing as little as it can: the
    /// era is set; bits the era cannot store are dropped (an emptied set becomes DELALLOC, the
    /// generator's own fallback); set_bits' exclusive bits follow the era's rule; a multi-bit
    /// test keeps its lowest bit. An op that is still invalid afterwards is dropped.
    pub fn adapt(&self, p: &mut Program) {
        if self.is_any() {
            return;
        }
        if let Some(era) = self.era {
            p.geometry.era = era;
        }
        let era = p.geometry.era;
        for op in &mut p.ops {
            let is_clear = matches!(op, Op::ClearBits { .. });
            for (name, field) in op.fields_mut() {
                if let FieldMut::Bits(bits) = field {
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
        let g = p.geometry;
        p.ops.retain(|op| op.validate(&g).is_ok());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generators::{program_from_seed, Level};

    #[test]
    fn adapted_programs_are_valid_and_in_the_dialect() {
        let dialect = Dialect {
            era: Some(Era::V6),
            one_bit_tests: true,
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
            assert!(p.ops.len() <= original.ops.len());
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
