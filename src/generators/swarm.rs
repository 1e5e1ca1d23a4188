//! Swarm testing: which op kinds a program uses, and how often.

use super::choice::chance;
use super::level::Level;
use arbitrary::{Result, Unstructured};
use delalloc_contract::{Era, OpKind};

/// Relative frequency of each kind when it is switched on.
fn weight(kind: OpKind) -> u32 {
    match kind {
        OpKind::SetBits => 10,
        OpKind::ClearBits => 8,
        OpKind::ConvertBits => 4,
        OpKind::SetDelalloc => 6,
        OpKind::Lock => 4,
        OpKind::TryLock => 3,
        OpKind::Unlock => 4,
        OpKind::TestRangeBit
        | OpKind::CountRangeBits
        | OpKind::FindFirstBit
        | OpKind::FindDelalloc
        | OpKind::FindFirstClearBit => 3,
        OpKind::BufferedWrite => 12,
        OpKind::DirectWrite => 5,
        OpKind::PageMkwrite => 5,
        OpKind::Defrag => 4,
        OpKind::Writeback => 8,
        OpKind::FinishOrdered => 6,
        OpKind::Truncate => 4,
        OpKind::Evict => 2,
        OpKind::Commit => 3,
        // Ends the interesting part of a program.
        OpKind::Unmount => 1,
        // Fault injection: a modest rate.
        OpKind::SetFreeSpace => 2,
        OpKind::FailNextReservation => 2,
        OpKind::DrainDelallocRsv => 2,
    }
}

/// Kinds that change state: a program needs one of them to be worth running.
fn mutates(kind: OpKind) -> bool {
    match kind {
        OpKind::SetBits | OpKind::SetDelalloc | OpKind::BufferedWrite | OpKind::DirectWrite => true,
        OpKind::ClearBits
        | OpKind::ConvertBits
        | OpKind::Lock
        | OpKind::TryLock
        | OpKind::Unlock
        | OpKind::TestRangeBit
        | OpKind::CountRangeBits
        | OpKind::FindFirstBit
        | OpKind::FindDelalloc
        | OpKind::FindFirstClearBit
        | OpKind::PageMkwrite
        | OpKind::Defrag
        | OpKind::Writeback
        | OpKind::FinishOrdered
        | OpKind::Truncate
        | OpKind::Evict
        | OpKind::Commit
        | OpKind::Unmount
        | OpKind::SetFreeSpace
        | OpKind::FailNextReservation
        | OpKind::DrainDelallocRsv => false,
    }
}

/// Swarm testing: each program draws the subset of its level's kinds it may use (each kind on
/// with probability 1/2), which makes rare interleavings of the remaining kinds common.
#[derive(Clone, Debug)]
pub struct Swarm {
    kinds: Vec<(OpKind, u32)>,
    total: u32,
}

impl Swarm {
    pub fn draw(u: &mut Unstructured<'_>, level: Level, era: Era) -> Result<Swarm> {
        let mut kinds = Vec::new();
        for kind in level.kinds().filter(|k| k.in_era(era)) {
            // Exhausted input switches everything on.
            if !chance(u, 1, 2)? {
                kinds.push((kind, weight(kind)));
            }
        }
        if !kinds.iter().any(|&(k, _)| mutates(k)) {
            let k = if level == Level::Tree {
                OpKind::SetBits
            } else {
                OpKind::BufferedWrite
            };
            kinds.push((k, weight(k)));
        }
        let total = kinds.iter().map(|&(_, w)| w).sum();
        Ok(Swarm { kinds, total })
    }

    pub fn kinds(&self) -> impl Iterator<Item = OpKind> + '_ {
        self.kinds.iter().map(|&(k, _)| k)
    }

    pub(super) fn pick(&self, u: &mut Unstructured<'_>) -> Result<OpKind> {
        let mut x = u.int_in_range(0..=self.total - 1)?;
        for &(k, w) in &self.kinds {
            if x < w {
                return Ok(k);
            }
            x -= w;
        }
        unreachable!("x < total")
    }
}
