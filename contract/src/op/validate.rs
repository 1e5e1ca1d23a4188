//! Validation: whether an op, or a whole program, is meaningful on its geometry.

use super::{Op, OpKind, Program, MAX_OFFSET};
use crate::{Accounting, Bits, Era, Geometry};

impl Op {
    /// Whether the op is meaningful on `geometry`; the error says which argument is wrong.
    /// Both models may assume every op they get passes this.
    pub fn validate(&self, g: &Geometry) -> Result<(), String> {
        let range = |start: u64, end: u64| -> Result<(), String> {
            if start > end {
                return Err(format!("start {start} is after end {end}"));
            }
            if end >= MAX_OFFSET {
                return Err(format!("end {end} is not below 2^50"));
            }
            Ok(())
        };
        let file = |pos: u64, len: u64| -> Result<(), String> {
            if len == 0 {
                return Err("len must be positive".into());
            }
            if pos >= MAX_OFFSET || len >= MAX_OFFSET || pos + len > MAX_OFFSET {
                return Err(format!("range {pos}+{len} does not end below 2^50"));
            }
            Ok(())
        };
        let aligned = |name: &str, v: u64| -> Result<(), String> {
            if !v.is_multiple_of(g.sectorsize) {
                return Err(format!(
                    "{name} {v} is not a multiple of sectorsize {}",
                    g.sectorsize
                ));
            }
            Ok(())
        };
        let stored_only = |name: &str, b: Bits| -> Result<(), String> {
            if b.0 & !Bits::STORABLE.0 != 0 {
                return Err(format!(
                    "{name} {b} has bits that are not storable extent bits"
                ));
            }
            // 6.1 and 6.12 have no EXTENT_WRITEBACK (SPEC §1.2): such a program means nothing.
            if b.0 & !g.era.storable().0 != 0 {
                return Err(format!(
                    "{name} {b} names WRITEBACK, which is no io-tree bit in era {}",
                    g.era
                ));
            }
            Ok(())
        };
        // A query over [start, end] for a non-empty set of stored bits.
        let query = |start: u64, end: u64, bits: Bits| -> Result<(), String> {
            range(start, end)?;
            stored_only("bits", bits)?;
            if bits.is_empty() {
                return Err("bits must not be empty".into());
            }
            Ok(())
        };
        if let Some(ino) = self.ino() {
            if ino >= g.inodes {
                return Err(format!(
                    "ino {ino} is not below the geometry's {} inodes",
                    g.inodes
                ));
            }
        }
        match *self {
            Op::SetBits {
                start,
                end,
                bits,
                exclusive,
                ..
            } => {
                range(start, end)?;
                stored_only("bits", bits)?;
                stored_only("exclusive", exclusive)?;
                if bits.is_empty() {
                    return Err("bits must not be empty".into());
                }
                if !bits.contains(exclusive) {
                    return Err(format!("exclusive {exclusive} is not part of bits {bits}"));
                }
                // 6.x __set_extent_bit takes its exclusive bits from `bits` (the LOCKED in it).
                if g.era == Era::V6 && exclusive != Bits(bits.0 & Bits::LOCKED.0) {
                    return Err(format!(
                        "exclusive {exclusive} is not bits' LOCKED, as era {} requires",
                        g.era
                    ));
                }
                Ok(())
            }
            Op::ClearBits {
                start,
                end,
                bits,
                delete,
                ..
            } => {
                range(start, end)?;
                stored_only("bits", bits)?;
                if bits.is_empty() && !delete {
                    return Err("bits must not be empty unless delete is given".into());
                }
                Ok(())
            }
            Op::ConvertBits {
                start,
                end,
                set,
                clear,
            } => {
                range(start, end)?;
                stored_only("set", set)?;
                stored_only("clear", clear)?;
                if set.is_empty() {
                    return Err("set must not be empty".into());
                }
                if set.union(clear).intersects(Bits::LOCKED) {
                    return Err("convert_bits never converts LOCKED".into());
                }
                Ok(())
            }
            Op::SetDelalloc { start, end }
            | Op::Lock { start, end }
            | Op::TryLock { start, end }
            | Op::Unlock { start, end } => range(start, end),
            Op::TestRangeBit {
                start, end, bits, ..
            }
            | Op::CountRangeBits {
                start, end, bits, ..
            } => query(start, end, bits),
            Op::FindFirstBit { start, bits } | Op::FindFirstClearBit { start, bits } => {
                query(start, start, bits)
            }
            Op::FindDelalloc { start, max_bytes } => {
                range(start, start)?;
                if max_bytes == 0 {
                    return Err("max_bytes must be positive".into());
                }
                Ok(())
            }
            Op::BufferedWrite {
                pos, len, copied, ..
            } => {
                file(pos, len)?;
                if copied > len {
                    return Err(format!("copied {copied} is more than len {len}"));
                }
                Ok(())
            }
            Op::DirectWrite { pos, len, .. } => {
                file(pos, len)?;
                aligned("pos", pos)?;
                aligned("len", len)
            }
            Op::PageMkwrite { pos, .. } => {
                file(pos, g.sectorsize)?;
                aligned("pos", pos)
            }
            Op::Defrag { start, len, .. } | Op::Writeback { start, len, .. } => file(start, len),
            Op::Truncate { size, .. } => {
                if size >= MAX_OFFSET {
                    return Err(format!("size {size} is not below 2^50"));
                }
                Ok(())
            }
            Op::SetFreeSpace { data, meta } => {
                if data > 1 << 50 || meta > 1 << 50 {
                    return Err("free space must be at most 2^50".into());
                }
                Ok(())
            }
            Op::DrainDelallocRsv if !self.kind().in_era(g.era) => Err(format!(
                "drain_delalloc_rsv is an era B fault: era {} has no fs-wide delalloc reservation",
                g.era
            )),
            Op::FinishOrdered { .. }
            | Op::DrainDelallocRsv
            | Op::Evict { .. }
            | Op::Commit
            | Op::Unmount
            | Op::FailNextReservation { .. } => Ok(()),
        }
    }
}

impl Program {
    /// Validates the geometry and every op; the error names the op index.
    pub fn validate(&self) -> Result<(), String> {
        self.geometry
            .validate()
            .map_err(|e| format!("geometry: {e}"))?;
        for (i, op) in self.ops.iter().enumerate() {
            op.validate(&self.geometry)
                .map_err(|e| format!("op {i} ({}): {e}", op.kind().name()))?;
        }
        Ok(())
    }
}

impl OpKind {
    /// Whether ops of this kind exist in `era`: the drain of the fs-wide delalloc reservation
    /// is era B's (era C reserves per inode). The generators and the literal decoder draw only
    /// these; [`Op::validate`] refuses the others.
    pub fn in_era(self, era: Era) -> bool {
        match self {
            OpKind::DrainDelallocRsv => era.accounting() == Accounting::B,
            OpKind::SetBits
            | OpKind::ClearBits
            | OpKind::ConvertBits
            | OpKind::SetDelalloc
            | OpKind::Lock
            | OpKind::TryLock
            | OpKind::Unlock
            | OpKind::TestRangeBit
            | OpKind::CountRangeBits
            | OpKind::FindFirstBit
            | OpKind::FindDelalloc
            | OpKind::FindFirstClearBit
            | OpKind::BufferedWrite
            | OpKind::DirectWrite
            | OpKind::PageMkwrite
            | OpKind::Defrag
            | OpKind::Writeback
            | OpKind::FinishOrdered
            | OpKind::Truncate
            | OpKind::Evict
            | OpKind::Commit
            | OpKind::Unmount
            | OpKind::SetFreeSpace
            | OpKind::FailNextReservation => true,
        }
    }
}
