//! One op at a time: the arguments of each kind, biased toward offsets the program already
//! used, and the steal-chain episode.

use super::choice::{chance, max_len, pick};
use arbitrary::{Result, Unstructured};
use delalloc_contract::geometry::MIB;
use delalloc_contract::op::MAX_OFFSET;
use delalloc_contract::{Bits, Era, FaultKind, Geometry, Op, OpKind};

/// The most ops [`Gen::steal_chain_episode`] emits.
pub(super) const EPISODE_MAX_OPS: usize = 22;

/// The bits tree ops draw from (DELALLOC twice: it drives every counter).
const PALETTE: [Bits; 10] = [
    Bits::DELALLOC,
    Bits::DELALLOC,
    Bits::UPTODATE,
    Bits::DIRTY,
    Bits::DEFRAG,
    Bits::LOCKED,
    Bits::BOUNDARY,
    Bits::WRITEBACK,
    Bits::NORESERVE,
    Bits::DELALLOC_NEW,
];

/// Interesting offsets kept per program.
const POOL: usize = 32;

/// No single op may run more than this many reservation chunks or create more ordered extents:
/// keeps a program's cost bounded with a 512-byte max_extent. The literal fuzz input format
/// (`fuzz_input`) clamps to the same bounds. 256 still lets one write of the default geometry
/// (2 MiB chunks) cross four 128 MiB max_extents; at 1024, ops of 1024 pieces were a tenth of
/// libFuzzer's fs-level inputs and most of its time (fuzz/MEASUREMENTS.md).
pub const MAX_PIECES: u64 = 256;

/// Generation state: the geometry, offsets the program already used, and an estimate of each
/// inode's i_size (the generator does not run a model; the estimate only biases choices).
pub struct Gen {
    g: Geometry,
    pool: Vec<u64>,
    next_slot: usize,
    i_size: Vec<u64>,
}

impl Gen {
    pub fn new(g: Geometry) -> Gen {
        Gen {
            g,
            pool: vec![0, g.sectorsize, g.max_extent, 128 * MIB],
            next_slot: 0,
            i_size: vec![0; usize::from(g.inodes)],
        }
    }

    /// One op of `kind`, valid on the geometry.
    pub fn op(&mut self, u: &mut Unstructured<'_>, kind: OpKind) -> Result<Op> {
        let op = match kind {
            OpKind::SetBits => self.set_bits(u)?,
            OpKind::ClearBits => self.clear_bits(u)?,
            OpKind::ConvertBits => self.convert_bits(u)?,
            OpKind::SetDelalloc => {
                let (start, end) = self.range(u)?;
                Op::SetDelalloc { start, end }
            }
            OpKind::Lock => {
                let (start, end) = self.range(u)?;
                Op::Lock { start, end }
            }
            OpKind::TryLock => {
                let (start, end) = self.range(u)?;
                Op::TryLock { start, end }
            }
            OpKind::Unlock => {
                let (start, end) = self.range(u)?;
                Op::Unlock { start, end }
            }
            OpKind::TestRangeBit => {
                let (start, end) = self.range(u)?;
                Op::TestRangeBit {
                    start,
                    end,
                    bits: self.bits(u)?,
                    filled: chance(u, 1, 2)?,
                }
            }
            OpKind::CountRangeBits => {
                let (start, end) = self.range(u)?;
                let max_bytes = self.max_bytes(u)?;
                // Era B's count_range_bits answers exactly DIRTY from offset 0 with the tree's
                // dirty_bytes counter, not a walk (SPEC §1.2); random bits and offsets seldom
                // take that path, so it gets a share of its own.
                let (start, bits) = if chance(u, 1, 8)? {
                    (0, Bits::DIRTY)
                } else {
                    (start, self.bits(u)?)
                };
                Op::CountRangeBits {
                    start,
                    end,
                    max_bytes,
                    bits,
                    contig: chance(u, 1, 2)?,
                }
            }
            OpKind::FindFirstBit => Op::FindFirstBit {
                start: self.offset(u)?,
                bits: self.bits(u)?,
            },
            OpKind::FindFirstClearBit => Op::FindFirstClearBit {
                start: self.offset(u)?,
                bits: self.bits(u)?,
            },
            OpKind::FindDelalloc => Op::FindDelalloc {
                start: self.offset(u)?,
                max_bytes: self.max_bytes(u)?,
            },
            OpKind::BufferedWrite => self.buffered_write(u)?,
            OpKind::DirectWrite => self.direct_write(u)?,
            OpKind::PageMkwrite => self.page_mkwrite(u)?,
            OpKind::Defrag => self.defrag(u)?,
            OpKind::Writeback => self.writeback(u)?,
            OpKind::FinishOrdered => {
                let ino = self.ino(u)?;
                let nth = if chance(u, 1, 8)? {
                    u.arbitrary()?
                } else {
                    u.int_in_range(0..=3)?
                };
                Op::FinishOrdered { ino, nth }
            }
            OpKind::Truncate => self.truncate(u)?,
            OpKind::Evict => Op::Evict { ino: self.ino(u)? },
            OpKind::Commit => Op::Commit,
            OpKind::Unmount => Op::Unmount,
            OpKind::SetFreeSpace => self.set_free_space(u)?,
            OpKind::FailNextReservation => {
                let kind = if chance(u, 1, 2)? {
                    FaultKind::Metadata
                } else {
                    FaultKind::Data
                };
                Op::FailNextReservation { kind }
            }
            OpKind::DrainDelallocRsv => Op::DrainDelallocRsv,
        };
        self.remember(&op);
        Ok(op)
    }

    // ---- extent-tree ops ----

    fn set_bits(&mut self, u: &mut Unstructured<'_>) -> Result<Op> {
        let (start, end) = self.range(u)?;
        let bits = self.bits(u)?;
        let mut exclusive = if chance(u, 2, 3)? {
            Bits::NONE
        } else if bits.contains(Bits::LOCKED) && chance(u, 1, 2)? {
            Bits::LOCKED
        } else {
            Bits(bits.0 & u32::from(u.arbitrary::<u16>()?))
        };
        if self.g.era == Era::V6 {
            // 6.x __set_extent_bit takes its exclusive bits from `bits` (SPEC §1.2).
            exclusive = Bits(bits.0 & Bits::LOCKED.0);
        }
        Ok(Op::SetBits {
            start,
            end,
            bits,
            exclusive,
            cached: chance(u, 1, 4)?,
        })
    }

    fn clear_bits(&mut self, u: &mut Unstructured<'_>) -> Result<Op> {
        let (start, end) = self.range(u)?;
        Ok(Op::ClearBits {
            start,
            end,
            bits: self.bits(u)?,
            wake: chance(u, 1, 2)?,
            delete: chance(u, 1, 8)?,
            cached: chance(u, 1, 4)?,
        })
    }

    fn convert_bits(&mut self, u: &mut Unstructured<'_>) -> Result<Op> {
        let (start, end) = self.range(u)?;
        let mut set = self.bits(u)?.minus(Bits::LOCKED);
        if set.is_empty() {
            set = Bits::DELALLOC;
        }
        let clear = if chance(u, 1, 2)? {
            Bits::NONE
        } else {
            self.bits(u)?.minus(Bits::LOCKED)
        };
        Ok(Op::ConvertBits {
            start,
            end,
            set,
            clear,
        })
    }

    /// One to three bits of the palette, those the era stores (6.x has no WRITEBACK; a draw of
    /// WRITEBACK alone there gives DELALLOC).
    fn bits(&mut self, u: &mut Unstructured<'_>) -> Result<Bits> {
        let mut b = pick(u, &PALETTE)?;
        for _ in 0..u.int_in_range(0..=2)? {
            b = b | pick(u, &PALETTE)?;
        }
        let b = Bits(b.0 & self.g.era.storable().0);
        Ok(if b.is_empty() { Bits::DELALLOC } else { b })
    }

    /// An inclusive `[start, end]`: mostly whole sectors, sometimes byte-granular.
    fn range(&mut self, u: &mut Unstructured<'_>) -> Result<(u64, u64)> {
        let mut start = self.offset(u)?;
        let mut len = self.length(u)?;
        if chance(u, 4, 5)? {
            start = self.g.round_down(start);
            len = self.g.round_up(len);
        }
        let end = start.saturating_add(len - 1).min(MAX_OFFSET - 1);
        Ok((start, end))
    }

    fn max_bytes(&mut self, u: &mut Unstructured<'_>) -> Result<u64> {
        Ok(match u.int_in_range(0..=3)? {
            0 => MAX_OFFSET,
            1 => self.g.sectorsize,
            2 => self.g.max_extent,
            _ => self.length(u)?,
        })
    }

    // ---- file-system ops ----

    fn ino(&mut self, u: &mut Unstructured<'_>) -> Result<u8> {
        u.int_in_range(0..=self.g.inodes - 1)
    }

    /// Seed 002's last resort: the inode update stealing from the global reserve. Independent
    /// random ops practically never compose it (measured: 0 of ~230,000 fs programs), because
    /// it needs all of this at once: one reservation split by partial writebacks into n ordered
    /// extents (outstanding n, reserved_extents 1), no free metadata, and n inode updates with a
    /// commit (and the space taken away again) between them, until the delalloc reserve is dry.
    /// The shape is fixed; inode, offset, piece size and n come from the input.
    pub(super) fn steal_chain_episode(&mut self, u: &mut Unstructured<'_>) -> Result<Vec<Op>> {
        // n <= 5 keeps it within EPISODE_MAX_OPS = 1 + n + 1 + 3n.
        let ino = self.ino(u)?;
        let s = self.g.sectorsize;
        let n: u64 = u.int_in_range(2..=5)?;
        let piece = s * u.int_in_range(1..=4)?;
        let at = self.offset(u)?;
        let pos = self.g.round_down(at).min(MAX_OFFSET - n * piece);
        let drain = Op::SetFreeSpace {
            data: self.g.data_bytes,
            meta: 0,
        };
        let mut ops = vec![Op::BufferedWrite {
            ino,
            pos,
            len: n * piece,
            copied: n * piece,
            nocow: false,
        }];
        ops.extend((0..n).map(|k| Op::Writeback {
            ino,
            start: pos + k * piece,
            len: piece,
        }));
        ops.push(drain.clone());
        for _ in 0..n {
            ops.extend([Op::FinishOrdered { ino, nth: 0 }, Op::Commit, drain.clone()]);
        }
        let i = usize::from(ino);
        self.i_size[i] = self.i_size[i].max(pos + n * piece);
        for op in &ops {
            self.remember(op);
        }
        Ok(ops)
    }

    /// `pos + len` ending at or below 2^50, at most `MAX_PIECES` pieces of `piece` bytes.
    fn file_range(&mut self, u: &mut Unstructured<'_>, piece: u64) -> Result<(u64, u64)> {
        let pos = self.offset(u)?;
        let len = self.length(u)?.min(MAX_PIECES * piece).min(max_len(pos));
        Ok((pos, len))
    }

    fn buffered_write(&mut self, u: &mut Unstructured<'_>) -> Result<Op> {
        let ino = self.ino(u)?;
        let (pos, len) = self.file_range(u, self.g.write_chunk)?;
        let s = self.g.sectorsize;
        let copied = if chance(u, 3, 4)? {
            len
        } else {
            // A short copy: nothing, one byte short, up to the first sector boundary, or anywhere.
            match u.int_in_range(0..=3)? {
                0 => 0,
                1 => len - 1,
                2 => (s - pos % s).min(len),
                _ => u.int_in_range(0..=len)?,
            }
        };
        let nocow = chance(u, 1, 4)?;
        let i = usize::from(ino);
        self.i_size[i] = self.i_size[i].max(pos + copied);
        Ok(Op::BufferedWrite {
            ino,
            pos,
            len,
            copied,
            nocow,
        })
    }

    /// Sector-aligned, as the op language requires (contract/src/op/validate.rs). An unaligned
    /// O_DIRECT write is not in the language: the kernel sends it to the buffered path
    /// (check_direct_IO failing in btrfs_direct_write / 4.x btrfs_direct_IO), which the
    /// `fallback` flag and the byte-granular buffered_write already generate.
    fn direct_write(&mut self, u: &mut Unstructured<'_>) -> Result<Op> {
        let ino = self.ino(u)?;
        let g = self.g;
        let s = g.sectorsize;
        let pos = g.round_down(self.offset(u)?).min(MAX_OFFSET - s);
        // Both bounds are sector aligned; the second keeps len below 2^50.
        let len = g
            .round_up(self.length(u)?)
            .min(MAX_PIECES * g.max_extent)
            .min(MAX_OFFSET - pos)
            .min(MAX_OFFSET - s);
        let fallback = chance(u, 1, 4)?;
        // A fallback writes buffered, in write_chunk pieces: bound those too.
        let len = if fallback {
            len.min(MAX_PIECES * g.write_chunk)
        } else {
            len
        };
        let i = usize::from(ino);
        self.i_size[i] = self.i_size[i].max(pos + len);
        Ok(Op::DirectWrite {
            ino,
            pos,
            len,
            fallback,
        })
    }

    fn page_mkwrite(&mut self, u: &mut Unstructured<'_>) -> Result<Op> {
        let ino = self.ino(u)?;
        let i_size = self.i_size[usize::from(ino)];
        // Mostly a page inside the file (past EOF the op only answers Fault).
        let pos = if i_size > 0 && chance(u, 3, 4)? {
            u.int_in_range(0..=i_size - 1)?
        } else {
            self.offset(u)?
        };
        let pos = self.g.round_down(pos).min(MAX_OFFSET - self.g.sectorsize);
        Ok(Op::PageMkwrite { ino, pos })
    }

    /// Mostly a range like a write's; one in four the whole file as `btrfs filesystem defrag`
    /// asks it (from 0, or from an offset used, to as far as [`MAX_PIECES`] chunks reach), so
    /// that a defrag runs several clusters whenever the file is longer than one.
    fn defrag(&mut self, u: &mut Unstructured<'_>) -> Result<Op> {
        let ino = self.ino(u)?;
        let chunk = self.g.write_chunk;
        let (start, len) = if chance(u, 1, 4)? {
            let start = if chance(u, 1, 2)? { 0 } else { self.offset(u)? };
            (start, max_len(start).min(MAX_PIECES * chunk))
        } else {
            self.file_range(u, chunk)?
        };
        Ok(Op::Defrag { ino, start, len })
    }

    fn writeback(&mut self, u: &mut Unstructured<'_>) -> Result<Op> {
        let ino = self.ino(u)?;
        if chance(u, 2, 5)? {
            // Everything from start on, as sync does.
            let start = if chance(u, 1, 2)? { 0 } else { self.offset(u)? };
            return Ok(Op::Writeback {
                ino,
                start,
                len: max_len(start),
            });
        }
        let (start, len) = self.file_range(u, MAX_OFFSET)?;
        Ok(Op::Writeback { ino, start, len })
    }

    fn truncate(&mut self, u: &mut Unstructured<'_>) -> Result<Op> {
        let ino = self.ino(u)?;
        let i = usize::from(ino);
        let size = match u.int_in_range(0..=4)? {
            0 => 0,
            1 => {
                let d = pick(u, &[0i64, 1, -1, 4096, -4096])?;
                self.i_size[i].saturating_add_signed(d)
            }
            _ => self.offset(u)?,
        }
        .min(MAX_OFFSET - 1);
        self.i_size[i] = size;
        Ok(Op::Truncate { ino, size })
    }

    /// Small free amounts (ENOSPC on the next reservations), sometimes plenty again.
    fn set_free_space(&mut self, u: &mut Unstructured<'_>) -> Result<Op> {
        let s = self.g.sectorsize;
        let item = self.g.trans_metadata_size(1);
        let data = pick(u, &[0, s, 4 * s, 64 * s, MIB, 1 << 30])?;
        let meta = pick(
            u,
            &[0, item - 1, item, 2 * item, 4 * item, 16 * item, 256 * MIB],
        )?;
        Ok(Op::SetFreeSpace { data, meta })
    }

    // ---- values ----

    /// An offset below 2^50: half of the time one the program already used (or a neighbour of
    /// it), else fresh at one of several scales.
    fn offset(&mut self, u: &mut Unstructured<'_>) -> Result<u64> {
        let s = self.g.sectorsize;
        let me = self.g.max_extent;
        let v = match u.int_in_range(0..=9)? {
            0..=4 => {
                let base = pick(u, &self.pool)?;
                match u.int_in_range(0..=8)? {
                    0..=2 => base,
                    3 => base + 1,
                    4 => base.saturating_sub(1),
                    5 => self.g.round_down(base),
                    6 => self.g.round_up(base),
                    7 => base + s,
                    _ => base / me * me + if chance(u, 1, 2)? { me } else { 0 },
                }
            }
            5 | 6 => s * u.int_in_range(0..=64)?,
            7 => u.int_in_range(0..=2 * s)?,
            8 => {
                let k = u.int_in_range(0..=4)?;
                let d = pick(u, &[0i64, 1, -1, s as i64, -(s as i64)])?;
                (k * me).saturating_add_signed(d)
            }
            _ => {
                if chance(u, 1, 8)? {
                    MAX_OFFSET - s * u.int_in_range(1..=4)?
                } else {
                    128 * MIB * u.int_in_range(1..=32)?
                }
            }
        };
        Ok(v.min(MAX_OFFSET - 1))
    }

    /// A positive length: sub-sector, a sector, a few sectors, around max_extent, or multiples of
    /// 128 MiB (where count_max_extents matters with the kernel's max_extent).
    fn length(&mut self, u: &mut Unstructured<'_>) -> Result<u64> {
        let s = self.g.sectorsize;
        let me = self.g.max_extent;
        let v = match u.int_in_range(0..=9)? {
            0 => u.int_in_range(1..=s - 1)?,
            1 | 2 => s,
            3..=5 => s * u.int_in_range(2..=64)?,
            6 => me.saturating_add_signed(pick(u, &[0i64, 1, -1, s as i64, -(s as i64)])?),
            7 => (128 * MIB * u.int_in_range(1..=3)?)
                .saturating_add_signed(pick(u, &[0i64, 1, s as i64, -(s as i64)])?),
            8 => {
                // Up to (or just past) an offset the program used.
                let to = pick(u, &self.pool)?;
                let from = pick(u, &self.pool)?;
                to.abs_diff(from) + u.int_in_range(0..=1)?
            }
            _ => u.int_in_range(1..=64 * 1024)?,
        };
        Ok(v.max(1))
    }

    /// Keeps the offsets an op used for later ops to hit again (the structure-aware mutator
    /// primes a generator with an existing program's ops this way).
    pub fn remember(&mut self, op: &Op) {
        let mut add = |v: u64| self.push(v);
        match *op {
            Op::SetBits { start, end, .. }
            | Op::ClearBits { start, end, .. }
            | Op::ConvertBits { start, end, .. }
            | Op::SetDelalloc { start, end }
            | Op::Lock { start, end }
            | Op::TryLock { start, end }
            | Op::Unlock { start, end } => {
                add(start);
                add(end + 1);
            }
            Op::BufferedWrite {
                pos, len, copied, ..
            } => {
                add(pos);
                add(pos + copied);
                if copied != len {
                    add(pos + len);
                }
            }
            Op::DirectWrite { pos, len, .. }
            | Op::Defrag {
                start: pos, len, ..
            } => {
                add(pos);
                add(pos + len);
            }
            Op::PageMkwrite { pos, .. } => add(pos),
            Op::Truncate { size, .. } => add(size),
            // The rest add nothing to the pool.
            Op::TestRangeBit { .. }
            | Op::CountRangeBits { .. }
            | Op::FindFirstBit { .. }
            | Op::FindDelalloc { .. }
            | Op::FindFirstClearBit { .. }
            | Op::Writeback { .. }
            | Op::FinishOrdered { .. }
            | Op::Evict { .. }
            | Op::Commit
            | Op::Unmount
            | Op::SetFreeSpace { .. }
            | Op::FailNextReservation { .. }
            | Op::DrainDelallocRsv => {}
        }
    }

    fn push(&mut self, v: u64) {
        let v = v.min(MAX_OFFSET - 1);
        if self.pool.contains(&v) {
            return;
        }
        if self.pool.len() < POOL {
            self.pool.push(v);
        } else {
            self.pool[self.next_slot] = v;
            self.next_slot = (self.next_slot + 1) % POOL;
        }
    }
}
