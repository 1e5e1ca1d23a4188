//! Which model the reference is compared with: the optimized implementation (the default) or
//! the kernel's own fs/btrfs code (the io tree, the delalloc hooks, delalloc-space.c and
//! block-rsv.c), compiled from a Linux source tree by the `delalloc-kernel` crate.
//!
//! The kernel model takes programs of every level in its own era (6.x, whose accounting is era
//! C) and, on 6.12, one-bit test_range_bit queries: [`Against::dialect`] says so, and campaigns
//! adapt every program to it.

use crate::generators::Dialect;
use crate::injected::{self, WrapperBugs};
use crate::oracles::differential::{self, Divergence};
use crate::oracles::stats::Stats;
use crate::oracles::Verdict;
use delalloc_contract::{Bits, Era, Op, Program};
use delalloc_reference::Reference;

/// Whether a program's text names its era on its geometry line (`era=b`, `era=6`).
fn names_era(text: &str) -> bool {
    text.lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with("geometry"))
        .any(|l| l.split_whitespace().any(|t| t.starts_with("era=")))
}

/// The model on the right of a differential run (the reference is always on the left).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Against {
    /// The lock-light optimized implementation (`optimized/`).
    #[default]
    Optimized,
    /// The kernel's own fs/btrfs code (`kernel/`): its io tree and delalloc hooks, and at the
    /// file-system level its delalloc-space.c and block-rsv.c driven in SPEC §6.1's order.
    Kernel,
}

impl Against {
    /// The flag's word.
    pub fn name(self) -> &'static str {
        match self {
            Against::Optimized => "optimized",
            Against::Kernel => "kernel",
        }
    }

    /// Whether this binary can run the model; the error says how to get it.
    pub fn ready(self) -> Result<(), String> {
        match self {
            Against::Optimized => Ok(()),
            Against::Kernel => delalloc_kernel::built()
                .map(|_| ())
                .map_err(|e| e.to_string()),
        }
    }

    /// One line naming the model, for reports: "kernel 6.12.118 (target/kernel-src/linux-6.12)".
    pub fn describe(self) -> String {
        match self {
            Against::Optimized => "optimized".into(),
            Against::Kernel => match delalloc_kernel::built() {
                Ok(b) => b.to_string(),
                Err(e) => format!("kernel (not built: {e})"),
            },
        }
    }

    /// What programs run against this model must be (see the module docs).
    pub fn dialect(self) -> Dialect {
        match self {
            Against::Optimized => Dialect::ANY,
            Against::Kernel => Dialect {
                era: Some(Era::V6),
                one_bit_tests: delalloc_kernel::built().is_ok_and(|b| b.one_bit_tests),
                defrag_after_clear: true,
                extents_in_32_bits: true,
            },
        }
    }

    /// Whether this model can run `p` as it is (a program file given to replay, trace or
    /// minimize); the error names the first op it cannot.
    pub fn check_program(self, p: &Program) -> Result<(), String> {
        if self == Against::Optimized {
            return Ok(());
        }
        let dialect = self.dialect();
        if dialect.extents_in_32_bits && p.geometry.max_extent > 1 << 31 {
            return Err(format!(
                "geometry: max_extent {} is over 2^31: the kernel's count_max_extents divides by \
                 it as a u32 (div_u64) and counts extents in 32 bits",
                p.geometry.max_extent
            ));
        }
        for (i, op) in p.ops.iter().enumerate() {
            let lacks = op.fields().into_iter().find_map(|(_, f)| match f {
                    delalloc_contract::op::Field::Bits(b)
                        if !Era::V6.storable().contains(b.minus(Bits::CONTROL)) =>
                    {
                        Some(format!(
                            "{b} names a bit the kernel's io tree does not have (WRITEBACK is gone in 6.x)"
                        ))
                    }
                    _ => None,
                });
            let why = lacks.or_else(|| match op {
                Op::TestRangeBit { bits, .. }
                    if dialect.one_bit_tests && !bits.0.is_power_of_two() =>
                {
                    Some(format!(
                        "test_range_bit of {bits}: this kernel's test_range_bit takes one bit"
                    ))
                }
                _ => None,
            });
            if let Some(why) = why {
                return Err(format!("op {i} ({}): {why}", op.kind().name()));
            }
        }
        Ok(())
    }

    /// `p` as this model runs a program file, then whether it can: against the kernel, a text
    /// program (`text`, its source) that does not name its era takes the kernel's, era 6; a raw
    /// fuzz input (`text` None) is adapted to the dialect as the kernel_tree target adapts it.
    /// A program that names `era=b` keeps it (the kernel then shows era B's rules as
    /// divergences).
    pub fn prepare(self, p: &mut Program, text: Option<&str>) -> Result<(), String> {
        if self == Against::Optimized {
            return Ok(());
        }
        match text {
            Some(text) if !names_era(text) => {
                let era = self.dialect().era.unwrap_or(p.geometry.era);
                p.geometry.era = era;
                p.validate().map_err(|e| {
                    format!(
                        "{e}, in the kernel's era {era} (the file names no era; `era=b` on its \
                         geometry line runs it in era B)"
                    )
                })?;
            }
            Some(_) => {}
            None => self.dialect().adapt(p),
        }
        self.check_program(p)
    }

    /// The reference and this model on `program`; `bugs` are injected into the optimized model
    /// (the kernel's own bugs come from patches, see `mutants --against kernel`).
    pub fn run(self, program: &Program, bugs: WrapperBugs) -> Verdict<Stats, Divergence> {
        match self {
            Against::Optimized => injected::run(program, bugs),
            Against::Kernel => {
                let mut left = Reference::new(&program.geometry);
                let mut right = delalloc_kernel::model(&program.geometry);
                differential::run_models(program, &mut left, right.as_mut())
            }
        }
    }
}
