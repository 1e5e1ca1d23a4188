//! The literal mode of fuzz inputs: a compact binary encoding of one program ([`encode`]) and
//! its total decoding ([`decode`]), which brings every value into range.
//!
//! Layout (integers are LEB128 varints unless marked `byte`; a missing byte is 0):
//!
//! ```text
//! LITERAL
//! geometry: log2(sectorsize)-9 | era<<3 (byte: bits 0-2 the sector size, decoded % 8; bits
//!           3.. the era's index in Era::ALL, decoded % its length, so 0 = era B, as in every
//!           input written before eras existed), log2(nodesize)-log2(sectorsize) (byte),
//!           max_extent/sectorsize-1, write_chunk/sectorsize-1, data, meta, global_rsv, inodes-1 (byte)
//! op*:      kind (byte: the op's fixed tag, OpKind::tag), then its fields in declaration order, with
//!           `end` as end-start, file lengths as len-1, sector-aligned values in sectors,
//!           `copied` as len-copied, bits as their u32 value, and the op's flags in one byte
//! ```
//!
//! Bits decode masked to what the era stores (no WRITEBACK in era 6), and in era 6 set_bits'
//! `exclusive` is read but replaced by its bits' LOCKED (6.x __set_extent_bit derives it), so
//! every decoded program is valid in its era.

use crate::generators::{Level, MAX_OPS, MAX_PIECES};
use delalloc_contract::op::MAX_OFFSET;
use delalloc_contract::{Bits, Era, FaultKind, Geometry, Op, OpKind, Program};

/// First byte of a literal-mode input (any odd byte selects the mode).
pub const LITERAL: u8 = 0x01;

/// For an op whose cost grows with the length of its range: that length, and the longest a
/// fuzz input may hold.
pub(super) fn piece_bound(op: &Op, g: &Geometry) -> Option<(u64, u64)> {
    match *op {
        Op::BufferedWrite { len, .. } | Op::Defrag { len, .. } => {
            Some((len, MAX_PIECES * g.write_chunk))
        }
        Op::DirectWrite { len, fallback, .. } => Some((
            len,
            MAX_PIECES
                * if fallback {
                    g.write_chunk
                } else {
                    g.max_extent
                },
        )),
        Op::SetBits { .. }
        | Op::ClearBits { .. }
        | Op::ConvertBits { .. }
        | Op::SetDelalloc { .. }
        | Op::Lock { .. }
        | Op::TryLock { .. }
        | Op::Unlock { .. }
        | Op::TestRangeBit { .. }
        | Op::CountRangeBits { .. }
        | Op::FindFirstBit { .. }
        | Op::FindDelalloc { .. }
        | Op::FindFirstClearBit { .. }
        | Op::PageMkwrite { .. }
        | Op::Writeback { .. }
        | Op::FinishOrdered { .. }
        | Op::Truncate { .. }
        | Op::Evict { .. }
        | Op::Commit
        | Op::Unmount
        | Op::SetFreeSpace { .. }
        | Op::FailNextReservation { .. }
        | Op::DrainDelallocRsv => None,
    }
}

/// The literal-mode input of `p`. Total for any program (wrapping arithmetic); exact inverse of
/// [`super::decode`] for programs that [`super::fits`] the level.
pub fn encode(p: &Program) -> Vec<u8> {
    let mut w = Writer(vec![LITERAL]);
    let g = &p.geometry;
    let s = g.sectorsize.max(1);
    let s_log = g.sectorsize.trailing_zeros();
    let era = Era::ALL.iter().position(|e| *e == g.era).unwrap_or(0) as u8;
    w.byte((s_log.wrapping_sub(9) as u8 & 7) | (era << 3));
    w.byte(g.nodesize.trailing_zeros().wrapping_sub(s_log) as u8);
    w.varint((g.max_extent / s).wrapping_sub(1));
    w.varint((g.write_chunk / s).wrapping_sub(1));
    w.varint(g.data_bytes);
    w.varint(g.meta_bytes);
    w.varint(g.global_rsv);
    w.byte(g.inodes.wrapping_sub(1));
    for op in &p.ops {
        w.op(op, s);
    }
    w.0
}

struct Writer(Vec<u8>);

impl Writer {
    fn byte(&mut self, b: u8) {
        self.0.push(b);
    }

    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push(v as u8 | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    fn flags(&mut self, flags: &[bool]) {
        let b = flags
            .iter()
            .enumerate()
            .fold(0u8, |b, (i, &f)| b | (u8::from(f) << i));
        self.byte(b);
    }

    fn range(&mut self, start: u64, end: u64) {
        self.varint(start);
        self.varint(end.wrapping_sub(start));
    }

    fn file(&mut self, pos: u64, len: u64) {
        self.varint(pos);
        self.varint(len.wrapping_sub(1));
    }

    fn bits(&mut self, b: Bits) {
        self.varint(u64::from(b.0));
    }

    fn op(&mut self, op: &Op, s: u64) {
        self.byte(op.kind().tag());
        match *op {
            Op::SetBits {
                start,
                end,
                bits,
                exclusive,
                cached,
            } => {
                self.range(start, end);
                self.bits(bits);
                self.bits(exclusive);
                self.flags(&[cached]);
            }
            Op::ClearBits {
                start,
                end,
                bits,
                wake,
                delete,
                cached,
            } => {
                self.range(start, end);
                self.bits(bits);
                self.flags(&[wake, delete, cached]);
            }
            Op::ConvertBits {
                start,
                end,
                set,
                clear,
            } => {
                self.range(start, end);
                self.bits(set);
                self.bits(clear);
            }
            Op::SetDelalloc { start, end }
            | Op::Lock { start, end }
            | Op::TryLock { start, end }
            | Op::Unlock { start, end } => self.range(start, end),
            Op::TestRangeBit {
                start,
                end,
                bits,
                filled,
            } => {
                self.range(start, end);
                self.bits(bits);
                self.flags(&[filled]);
            }
            Op::CountRangeBits {
                start,
                end,
                max_bytes,
                bits,
                contig,
            } => {
                self.range(start, end);
                self.varint(max_bytes);
                self.bits(bits);
                self.flags(&[contig]);
            }
            Op::FindFirstBit { start, bits } | Op::FindFirstClearBit { start, bits } => {
                self.varint(start);
                self.bits(bits);
            }
            Op::FindDelalloc { start, max_bytes } => {
                self.varint(start);
                self.varint(max_bytes.wrapping_sub(1));
            }
            Op::BufferedWrite {
                ino,
                pos,
                len,
                copied,
                nocow,
            } => {
                self.byte(ino);
                self.file(pos, len);
                self.varint(len.wrapping_sub(copied));
                self.flags(&[nocow]);
            }
            Op::DirectWrite {
                ino,
                pos,
                len,
                fallback,
            } => {
                self.byte(ino);
                self.varint(pos / s);
                self.varint((len / s).wrapping_sub(1));
                self.flags(&[fallback]);
            }
            Op::PageMkwrite { ino, pos } => {
                self.byte(ino);
                self.varint(pos / s);
            }
            Op::Defrag { ino, start, len } | Op::Writeback { ino, start, len } => {
                self.byte(ino);
                self.file(start, len);
            }
            Op::FinishOrdered { ino, nth } => {
                self.byte(ino);
                self.byte(nth);
            }
            Op::Truncate { ino, size } => {
                self.byte(ino);
                self.varint(size);
            }
            Op::Evict { ino } => self.byte(ino),
            Op::Commit | Op::Unmount | Op::DrainDelallocRsv => {}
            Op::SetFreeSpace { data, meta } => {
                self.varint(data);
                self.varint(meta);
            }
            Op::FailNextReservation { kind } => {
                self.flags(&[kind == FaultKind::Metadata]);
            }
        }
    }
}

/// Most space a geometry or a set_free_space may name (Geometry::validate's bound).
const MAX_SPACE: u64 = 1 << 50;

/// The program literal-mode `bytes` (after the mode byte) stand for, at `level`. Total.
pub fn decode(bytes: &[u8], level: Level) -> Program {
    let mut r = Reader(bytes, Bits::STORABLE);
    let first = r.byte();
    let s_log = 9 + u32::from(first % 8);
    let era = Era::ALL[usize::from(first >> 3) % Era::ALL.len()];
    r.1 = era.storable();
    let n_log = s_log + u32::from(r.byte()) % (17 - s_log);
    let s = 1u64 << s_log;
    let max_extent = s * (1 + r.varint() % (MAX_OFFSET / s));
    let write_chunk = s * (1 + r.varint() % (max_extent / s));
    let data_bytes = r.varint() % (MAX_SPACE + 1);
    let meta_bytes = r.varint() % (MAX_SPACE + 1);
    let global_rsv = r.varint() % (meta_bytes + 1);
    let inodes = 1 + r.byte() % 8;
    let geometry = Geometry {
        sectorsize: s,
        nodesize: 1 << n_log,
        max_extent,
        write_chunk,
        data_bytes,
        meta_bytes,
        global_rsv,
        inodes: if level == Level::Tree { 1 } else { inodes },
        era,
    };
    let kinds: Vec<OpKind> = level.kinds().filter(|k| k.in_era(era)).collect();
    let mut ops = Vec::new();
    while !r.0.is_empty() && ops.len() < MAX_OPS {
        let b = r.byte();
        let kind = match OpKind::from_tag(b).filter(|k| kinds.contains(k)) {
            Some(k) => k,
            None => kinds[usize::from(b) % kinds.len()],
        };
        ops.push(r.op(kind, &geometry));
    }
    Program { geometry, ops }
}

/// Reads bytes front to back; past the end every read is 0. The second field is the bits the
/// program's era stores: every bit set read is masked to it.
struct Reader<'a>(&'a [u8], Bits);

impl Reader<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    /// LEB128; bits past the 64th are dropped, a truncated varint ends where the bytes do.
    fn varint(&mut self) -> u64 {
        let mut v = 0u64;
        for shift in (0..).step_by(7) {
            let Some((&b, rest)) = self.0.split_first() else {
                break;
            };
            self.0 = rest;
            if shift < 64 {
                v |= u64::from(b & 0x7f) << shift;
            }
            if b & 0x80 == 0 {
                break;
            }
        }
        v
    }

    fn flags<const N: usize>(&mut self) -> [bool; N] {
        let b = self.byte();
        std::array::from_fn(|i| b & (1 << i) != 0)
    }

    /// An offset below 2^50.
    fn offset(&mut self) -> u64 {
        self.varint() % MAX_OFFSET
    }

    /// An inclusive `[start, end]` below 2^50.
    fn range(&mut self) -> (u64, u64) {
        let start = self.offset();
        let end = start + self.varint() % (MAX_OFFSET - start);
        (start, end)
    }

    /// A positive `pos + len` ending at or below 2^50, len below 2^50, at most `cap` long.
    fn file(&mut self, cap: u64) -> (u64, u64) {
        let pos = self.offset();
        let longest = (MAX_OFFSET - pos).min(MAX_OFFSET - 1);
        let len = 1 + self.varint() % longest;
        (pos, len.min(cap))
    }

    /// Storable bits, possibly none.
    fn bits(&mut self) -> Bits {
        Bits((self.varint() & u64::from(self.1 .0)) as u32)
    }

    /// Storable bits, `or` when there are none.
    fn some_bits(&mut self, or: Bits) -> Bits {
        let b = self.bits();
        if b.is_empty() {
            or
        } else {
            b
        }
    }

    fn ino(&mut self, g: &Geometry) -> u8 {
        self.byte() % g.inodes
    }

    fn op(&mut self, kind: OpKind, g: &Geometry) -> Op {
        let s = g.sectorsize;
        let sectors = MAX_OFFSET / s;
        match kind {
            OpKind::SetBits => {
                let (start, end) = self.range();
                let bits = self.some_bits(Bits::DELALLOC);
                let mut exclusive = Bits(self.bits().0 & bits.0);
                if g.era == Era::V6 {
                    exclusive = Bits(bits.0 & Bits::LOCKED.0);
                }
                let [cached] = self.flags();
                Op::SetBits {
                    start,
                    end,
                    bits,
                    exclusive,
                    cached,
                }
            }
            OpKind::ClearBits => {
                let (start, end) = self.range();
                let bits = self.bits();
                let [wake, delete, cached] = self.flags();
                Op::ClearBits {
                    start,
                    end,
                    bits: if bits.is_empty() && !delete {
                        Bits::DELALLOC
                    } else {
                        bits
                    },
                    wake,
                    delete,
                    cached,
                }
            }
            OpKind::ConvertBits => {
                let (start, end) = self.range();
                let mut set = self.bits().minus(Bits::LOCKED);
                if set.is_empty() {
                    set = Bits::DELALLOC;
                }
                let clear = self.bits().minus(Bits::LOCKED);
                Op::ConvertBits {
                    start,
                    end,
                    set,
                    clear,
                }
            }
            OpKind::SetDelalloc => {
                let (start, end) = self.range();
                Op::SetDelalloc { start, end }
            }
            OpKind::Lock => {
                let (start, end) = self.range();
                Op::Lock { start, end }
            }
            OpKind::TryLock => {
                let (start, end) = self.range();
                Op::TryLock { start, end }
            }
            OpKind::Unlock => {
                let (start, end) = self.range();
                Op::Unlock { start, end }
            }
            OpKind::TestRangeBit => {
                let (start, end) = self.range();
                let bits = self.some_bits(Bits::DELALLOC);
                let [filled] = self.flags();
                Op::TestRangeBit {
                    start,
                    end,
                    bits,
                    filled,
                }
            }
            OpKind::CountRangeBits => {
                let (start, end) = self.range();
                let max_bytes = self.varint();
                let bits = self.some_bits(Bits::DELALLOC);
                let [contig] = self.flags();
                Op::CountRangeBits {
                    start,
                    end,
                    max_bytes,
                    bits,
                    contig,
                }
            }
            OpKind::FindFirstBit => Op::FindFirstBit {
                start: self.offset(),
                bits: self.some_bits(Bits::DELALLOC),
            },
            OpKind::FindDelalloc => Op::FindDelalloc {
                start: self.offset(),
                max_bytes: self.varint().saturating_add(1),
            },
            OpKind::FindFirstClearBit => Op::FindFirstClearBit {
                start: self.offset(),
                bits: self.some_bits(Bits::DELALLOC),
            },
            OpKind::BufferedWrite => {
                let ino = self.ino(g);
                let (pos, len) = self.file(MAX_PIECES * g.write_chunk);
                let copied = len - self.varint() % (len + 1);
                let [nocow] = self.flags();
                Op::BufferedWrite {
                    ino,
                    pos,
                    len,
                    copied,
                    nocow,
                }
            }
            OpKind::DirectWrite => {
                let ino = self.ino(g);
                let pos = self.varint() % sectors * s;
                let longest = (MAX_OFFSET - pos).min(MAX_OFFSET - s) / s;
                let len = (1 + self.varint() % longest) * s;
                let [fallback] = self.flags();
                let mut op = Op::DirectWrite {
                    ino,
                    pos,
                    len,
                    fallback,
                };
                if let (Some((_, cap)), Op::DirectWrite { len, .. }) =
                    (piece_bound(&op, g), &mut op)
                {
                    *len = (*len).min(cap);
                }
                op
            }
            OpKind::PageMkwrite => Op::PageMkwrite {
                ino: self.ino(g),
                pos: self.varint() % sectors * s,
            },
            OpKind::Defrag => {
                let ino = self.ino(g);
                let (start, len) = self.file(MAX_PIECES * g.write_chunk);
                Op::Defrag { ino, start, len }
            }
            OpKind::Writeback => {
                let ino = self.ino(g);
                let (start, len) = self.file(u64::MAX);
                Op::Writeback { ino, start, len }
            }
            OpKind::FinishOrdered => Op::FinishOrdered {
                ino: self.ino(g),
                nth: self.byte(),
            },
            OpKind::Truncate => Op::Truncate {
                ino: self.ino(g),
                size: self.offset(),
            },
            OpKind::Evict => Op::Evict { ino: self.ino(g) },
            OpKind::Commit => Op::Commit,
            OpKind::Unmount => Op::Unmount,
            OpKind::DrainDelallocRsv => Op::DrainDelallocRsv,
            OpKind::SetFreeSpace => Op::SetFreeSpace {
                data: self.varint() % (MAX_SPACE + 1),
                meta: self.varint() % (MAX_SPACE + 1),
            },
            OpKind::FailNextReservation => {
                let [metadata] = self.flags();
                Op::FailNextReservation {
                    kind: if metadata {
                        FaultKind::Metadata
                    } else {
                        FaultKind::Data
                    },
                }
            }
        }
    }
}
