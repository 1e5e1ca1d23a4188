//! Test-case minimization of a diverging program.
//!
//! 1. Drop everything after the diverging op (the models are deterministic).
//! 2. Delta debugging over ops (ddmin): remove chunks, halving the chunk size until single ops.
//! 3. Shrink the geometry: fewer inodes, fields back to their defaults.
//! 4. Shrink each op's arguments: numbers toward 0 and toward sector / max_extent alignment
//!    (halving the distance, so that thresholds are found in logarithmic time), shorter
//!    lengths, flags off, fewer bits, lower inode numbers, no short copy.
//!
//! Repeated until nothing changes. A candidate is kept only if it validates and still diverges
//! with the same [`Divergence::signature`] (kind plus first differing field, invariant name, op
//! kind of a differing outcome, or panic site), so the minimizer never wanders off to another
//! bug. Every step is deterministic, and every accepted candidate is strictly smaller in some
//! field, so it terminates; [`MAX_RUNS`] bounds the time anyway.

use crate::oracle::{self, Divergence, Verdict};
use delalloc_contract::{Bits, Geometry, Op, Program};

/// Upper bound on oracle runs per minimization.
pub const MAX_RUNS: usize = 20_000;

#[derive(Clone, Debug)]
pub struct Minimized {
    pub program: Program,
    /// The divergence of the minimized program.
    pub divergence: Box<Divergence>,
    pub ops_before: usize,
    pub ops_after: usize,
    /// Oracle runs spent.
    pub runs: usize,
}

/// Minimizes a program diverging between the reference and the optimized model; `None` if it
/// does not diverge.
pub fn minimize(program: &Program) -> Option<Minimized> {
    minimize_with(program, oracle::run)
}

/// Minimizes against any oracle (tests use deliberately wrong models).
pub fn minimize_with(program: &Program, run: impl FnMut(&Program) -> Verdict) -> Option<Minimized> {
    let mut run = run;
    let Verdict::Diverged(first) = run(program) else {
        return None;
    };
    let mut m = Minimizer {
        signature: first.signature(),
        best: program.clone(),
        best_div: first,
        runs: 1,
        run,
    };
    m.truncate();
    loop {
        let before = m.best.clone();
        m.ddmin();
        m.shrink_geometry();
        m.shift_offsets();
        m.shrink_ops();
        if m.best == before || m.runs >= MAX_RUNS {
            break;
        }
    }
    Some(Minimized {
        ops_before: program.ops.len(),
        ops_after: m.best.ops.len(),
        program: m.best,
        divergence: m.best_div,
        runs: m.runs,
    })
}

struct Minimizer<F> {
    signature: String,
    best: Program,
    best_div: Box<Divergence>,
    runs: usize,
    run: F,
}

impl<F: FnMut(&Program) -> Verdict> Minimizer<F> {
    /// Keeps `candidate` if it is valid and diverges the same way.
    fn try_candidate(&mut self, candidate: Program) -> bool {
        if self.runs >= MAX_RUNS || candidate == self.best || candidate.validate().is_err() {
            return false;
        }
        self.runs += 1;
        match (self.run)(&candidate) {
            Verdict::Diverged(d) if d.signature() == self.signature => {
                self.best = candidate;
                self.best_div = d;
                self.truncate();
                true
            }
            _ => false,
        }
    }

    /// Drops the ops after the diverging one: the prefix diverges the same way.
    fn truncate(&mut self) {
        if let Some(i) = self.best_div.op_index {
            self.best.ops.truncate(i + 1);
            self.best_div.program.ops.truncate(i + 1);
        }
    }

    /// Removes chunks of ops, from halves down to single ops.
    fn ddmin(&mut self) {
        let mut n = 2;
        while !self.best.ops.is_empty() {
            let len = self.best.ops.len();
            let chunk = len.div_ceil(n);
            let mut reduced = false;
            let mut start = 0;
            while start < self.best.ops.len() && self.runs < MAX_RUNS {
                let mut c = self.best.clone();
                let end = (start + chunk).min(c.ops.len());
                c.ops.drain(start..end);
                if self.try_candidate(c) {
                    reduced = true; // the next chunk has moved to `start`
                } else {
                    start += chunk;
                }
            }
            if reduced {
                n = (n - 1).max(2);
            } else if chunk == 1 || self.runs >= MAX_RUNS {
                break;
            } else {
                n = (n * 2).min(len);
            }
        }
    }

    /// Moves every offset of the program down by the same amount, so that offsets that only
    /// matter relative to each other (a write and the writeback that splits it) shrink
    /// together; per-op shrinking could only move them a little at a time. Shifts by multiples
    /// of max_extent first (every count stays the same), then of the sector, then by the exact
    /// smallest offset.
    fn shift_offsets(&mut self) {
        loop {
            let g = self.best.geometry;
            let Some(m) = self
                .best
                .ops
                .iter()
                .flat_map(offsets)
                .filter(|&v| v > 0)
                .min()
            else {
                return;
            };
            let mut deltas = Vec::new();
            for a in [g.max_extent, g.sectorsize] {
                let mut d = m / a * a;
                while d > 0 {
                    deltas.push(d);
                    d = d / 2 / a * a;
                }
            }
            deltas.push(m);
            deltas.dedup();
            let accepted = deltas.into_iter().any(|d| {
                let mut c = self.best.clone();
                c.ops = c.ops.iter().map(|op| shifted(op, d)).collect();
                self.try_candidate(c)
            });
            if !accepted || self.runs >= MAX_RUNS {
                return;
            }
        }
    }

    /// Simplifies each op's arguments until no candidate is accepted.
    fn shrink_ops(&mut self) {
        let mut i = 0;
        while i < self.best.ops.len() && self.runs < MAX_RUNS {
            let mut progress = true;
            while progress && i < self.best.ops.len() {
                progress = false;
                for op in simpler(&self.best.ops[i], &self.best.geometry) {
                    let mut c = self.best.clone();
                    c.ops[i] = op;
                    if self.try_candidate(c) {
                        progress = true;
                        break;
                    }
                }
            }
            i += 1;
        }
    }

    /// Fewer inodes, then each geometry field back to its default.
    fn shrink_geometry(&mut self) {
        // Inodes numbered densely in order of first use: `ino=2` alone becomes `ino=0`.
        let mut order: Vec<u8> = Vec::new();
        for ino in self.best.ops.iter().filter_map(Op::ino) {
            if !order.contains(&ino) {
                order.push(ino);
            }
        }
        if order
            .iter()
            .enumerate()
            .any(|(i, &ino)| usize::from(ino) != i)
        {
            let mut c = self.best.clone();
            for op in &mut c.ops {
                if let Some(ino) = op.ino() {
                    let new = order.iter().position(|&o| o == ino).unwrap_or(0) as u8;
                    set_ino(op, new);
                }
            }
            self.try_candidate(c);
        }
        let used = self
            .best
            .ops
            .iter()
            .filter_map(Op::ino)
            .max()
            .map_or(1, |i| i + 1);
        if used < self.best.geometry.inodes {
            let mut c = self.best.clone();
            c.geometry.inodes = used;
            self.try_candidate(c);
        }
        let d = Geometry {
            inodes: self.best.geometry.inodes,
            ..Geometry::default()
        };
        if self.best.geometry != d {
            let mut c = self.best.clone();
            c.geometry = d;
            if self.try_candidate(c) {
                return;
            }
        }
        type Field = fn(&mut Geometry) -> &mut u64;
        let fields: [Field; 7] = [
            |g| &mut g.sectorsize,
            |g| &mut g.nodesize,
            |g| &mut g.max_extent,
            |g| &mut g.write_chunk,
            |g| &mut g.data_bytes,
            |g| &mut g.meta_bytes,
            |g| &mut g.global_rsv,
        ];
        let mut default = Geometry::default();
        for f in fields {
            let want = *f(&mut default);
            let mut c = self.best.clone();
            if *f(&mut c.geometry) != want {
                *f(&mut c.geometry) = want;
                self.try_candidate(c);
            }
        }
    }
}

/// Values below `v` and at least `min` worth trying, most aggressive first: `min`, `v` aligned
/// down to each of `aligns`, then `v` minus half the distance to `min`, a quarter, ... down to
/// one. The halving deltas find the smallest value that still diverges in O(log v) accepted
/// steps, where stepping down by one would take v steps.
fn shrink_toward(v: u64, min: u64, aligns: &[u64]) -> Vec<u64> {
    if v <= min {
        return Vec::new();
    }
    let mut out = vec![min];
    out.extend(aligns.iter().filter(|&&a| a > 0).map(|a| v / a * a));
    let mut d = (v - min) / 2;
    while d > 0 {
        out.push(v - d);
        d /= 2;
    }
    out.push(v - 1);
    let mut seen = Vec::with_capacity(out.len());
    out.retain(|&c| {
        let keep = c >= min && c < v && !seen.contains(&c);
        seen.push(c);
        keep
    });
    out
}

/// [`shrink_toward`] aligned to max_extent and the sector.
fn smaller(v: u64, min: u64, g: &Geometry) -> Vec<u64> {
    shrink_toward(v, min, &[g.max_extent, g.sectorsize])
}

/// Like [`smaller`] but only multiples of the sector (for O_DIRECT and page offsets).
fn smaller_aligned(v: u64, min: u64, g: &Geometry) -> Vec<u64> {
    let s = g.sectorsize;
    shrink_toward(v / s, min.div_ceil(s), &[g.max_extent / s])
        .into_iter()
        .map(|c| c * s)
        .collect()
}

/// The file and tree offsets an op addresses (not lengths).
fn offsets(op: &Op) -> Vec<u64> {
    match *op {
        Op::SetBits { start, .. }
        | Op::ClearBits { start, .. }
        | Op::ConvertBits { start, .. }
        | Op::SetDelalloc { start, .. }
        | Op::Lock { start, .. }
        | Op::TryLock { start, .. }
        | Op::Unlock { start, .. }
        | Op::TestRangeBit { start, .. }
        | Op::CountRangeBits { start, .. }
        | Op::FindFirstBit { start, .. }
        | Op::FindDelalloc { start, .. }
        | Op::Defrag { start, .. }
        | Op::Writeback { start, .. } => vec![start],
        Op::BufferedWrite { pos, .. }
        | Op::DirectWrite { pos, .. }
        | Op::PageMkwrite { pos, .. } => vec![pos],
        Op::Truncate { size, .. } => vec![size],
        _ => Vec::new(),
    }
}

fn set_ino(op: &mut Op, new: u8) {
    match op {
        Op::BufferedWrite { ino, .. }
        | Op::DirectWrite { ino, .. }
        | Op::PageMkwrite { ino, .. }
        | Op::Defrag { ino, .. }
        | Op::Writeback { ino, .. }
        | Op::FinishOrdered { ino, .. }
        | Op::Truncate { ino, .. }
        | Op::Evict { ino } => *ino = new,
        _ => {}
    }
}

/// `op` with every offset at or above `d` moved down by `d` (a tree range moves as a whole).
fn shifted(op: &Op, d: u64) -> Op {
    let mut op = op.clone();
    let down = |v: &mut u64| {
        if *v >= d {
            *v -= d;
        }
    };
    match &mut op {
        Op::SetBits { start, end, .. }
        | Op::ClearBits { start, end, .. }
        | Op::ConvertBits { start, end, .. }
        | Op::SetDelalloc { start, end }
        | Op::Lock { start, end }
        | Op::TryLock { start, end }
        | Op::Unlock { start, end }
        | Op::TestRangeBit { start, end, .. }
        | Op::CountRangeBits { start, end, .. }
            if *start >= d =>
        {
            *start -= d;
            *end -= d;
        }
        Op::FindFirstBit { start, .. }
        | Op::FindDelalloc { start, .. }
        | Op::Defrag { start, .. }
        | Op::Writeback { start, .. } => down(start),
        Op::BufferedWrite { pos, .. }
        | Op::DirectWrite { pos, .. }
        | Op::PageMkwrite { pos, .. } => down(pos),
        Op::Truncate { size, .. } => down(size),
        _ => {}
    }
    op
}

/// Each bit removed in turn.
fn fewer_bits(b: Bits) -> Vec<Bits> {
    (0..32)
        .map(|i| Bits(1 << i))
        .filter(|&bit| b.contains(bit))
        .map(|bit| b.minus(bit))
        .collect()
}

/// Simpler versions of `op`: each changes one argument to something smaller. Some may be
/// invalid (the caller validates).
pub fn simpler(op: &Op, g: &Geometry) -> Vec<Op> {
    let mut out = Vec::new();
    let inos = |ino: u8| (0..ino).collect::<Vec<u8>>();
    // A tree range [start, end]: move it down keeping its length, or shorten it.
    let range = |start: u64, end: u64, out: &mut Vec<(u64, u64)>| {
        for s in smaller(start, 0, g) {
            out.push((s, end - (start - s)));
        }
        for e in smaller(end, start, g) {
            out.push((start, e));
        }
        // Ending just before a sector boundary.
        let e = g.round_down(end + 1);
        if e > start && e - 1 < end {
            out.push((start, e - 1));
        }
    };
    let mut rs = Vec::new();
    match *op {
        Op::SetBits {
            start,
            end,
            bits,
            exclusive,
            cached,
        } => {
            range(start, end, &mut rs);
            out.extend(rs.iter().map(|&(start, end)| Op::SetBits {
                start,
                end,
                bits,
                exclusive,
                cached,
            }));
            out.extend(
                fewer_bits(exclusive)
                    .into_iter()
                    .map(|exclusive| Op::SetBits {
                        start,
                        end,
                        bits,
                        exclusive,
                        cached,
                    }),
            );
            out.extend(fewer_bits(bits).into_iter().map(|b| Op::SetBits {
                start,
                end,
                bits: b,
                exclusive: Bits(exclusive.0 & b.0),
                cached,
            }));
            if cached {
                out.push(Op::SetBits {
                    start,
                    end,
                    bits,
                    exclusive,
                    cached: false,
                });
            }
        }
        Op::ClearBits {
            start,
            end,
            bits,
            wake,
            delete,
            cached,
        } => {
            range(start, end, &mut rs);
            out.extend(rs.iter().map(|&(start, end)| Op::ClearBits {
                start,
                end,
                bits,
                wake,
                delete,
                cached,
            }));
            out.extend(fewer_bits(bits).into_iter().map(|bits| Op::ClearBits {
                start,
                end,
                bits,
                wake,
                delete,
                cached,
            }));
            if wake {
                out.push(Op::ClearBits {
                    start,
                    end,
                    bits,
                    wake: false,
                    delete,
                    cached,
                });
            }
            if delete {
                out.push(Op::ClearBits {
                    start,
                    end,
                    bits,
                    wake,
                    delete: false,
                    cached,
                });
            }
            if cached {
                out.push(Op::ClearBits {
                    start,
                    end,
                    bits,
                    wake,
                    delete,
                    cached: false,
                });
            }
        }
        Op::ConvertBits {
            start,
            end,
            set,
            clear,
        } => {
            range(start, end, &mut rs);
            out.extend(rs.iter().map(|&(start, end)| Op::ConvertBits {
                start,
                end,
                set,
                clear,
            }));
            out.extend(fewer_bits(clear).into_iter().map(|clear| Op::ConvertBits {
                start,
                end,
                set,
                clear,
            }));
            out.extend(fewer_bits(set).into_iter().map(|set| Op::ConvertBits {
                start,
                end,
                set,
                clear,
            }));
        }
        Op::SetDelalloc { start, end } => {
            range(start, end, &mut rs);
            out.extend(
                rs.iter()
                    .map(|&(start, end)| Op::SetDelalloc { start, end }),
            );
        }
        Op::Lock { start, end } => {
            range(start, end, &mut rs);
            out.extend(rs.iter().map(|&(start, end)| Op::Lock { start, end }));
        }
        Op::TryLock { start, end } => {
            range(start, end, &mut rs);
            out.extend(rs.iter().map(|&(start, end)| Op::TryLock { start, end }));
        }
        Op::Unlock { start, end } => {
            range(start, end, &mut rs);
            out.extend(rs.iter().map(|&(start, end)| Op::Unlock { start, end }));
        }
        Op::TestRangeBit {
            start,
            end,
            bits,
            filled,
        } => {
            range(start, end, &mut rs);
            out.extend(rs.iter().map(|&(start, end)| Op::TestRangeBit {
                start,
                end,
                bits,
                filled,
            }));
            out.extend(fewer_bits(bits).into_iter().map(|bits| Op::TestRangeBit {
                start,
                end,
                bits,
                filled,
            }));
            if filled {
                out.push(Op::TestRangeBit {
                    start,
                    end,
                    bits,
                    filled: false,
                });
            }
        }
        Op::CountRangeBits {
            start,
            end,
            max_bytes,
            bits,
            contig,
        } => {
            range(start, end, &mut rs);
            out.extend(rs.iter().map(|&(start, end)| Op::CountRangeBits {
                start,
                end,
                max_bytes,
                bits,
                contig,
            }));
            out.extend(
                smaller(max_bytes, 0, g)
                    .into_iter()
                    .map(|max_bytes| Op::CountRangeBits {
                        start,
                        end,
                        max_bytes,
                        bits,
                        contig,
                    }),
            );
            out.extend(fewer_bits(bits).into_iter().map(|bits| Op::CountRangeBits {
                start,
                end,
                max_bytes,
                bits,
                contig,
            }));
            if contig {
                out.push(Op::CountRangeBits {
                    start,
                    end,
                    max_bytes,
                    bits,
                    contig: false,
                });
            }
        }
        Op::FindFirstBit { start, bits } => {
            out.extend(
                smaller(start, 0, g)
                    .into_iter()
                    .map(|start| Op::FindFirstBit { start, bits }),
            );
            out.extend(
                fewer_bits(bits)
                    .into_iter()
                    .map(|bits| Op::FindFirstBit { start, bits }),
            );
        }
        Op::FindDelalloc { start, max_bytes } => {
            out.extend(
                smaller(start, 0, g)
                    .into_iter()
                    .map(|start| Op::FindDelalloc { start, max_bytes }),
            );
            out.extend(
                smaller(max_bytes, 1, g)
                    .into_iter()
                    .map(|max_bytes| Op::FindDelalloc { start, max_bytes }),
            );
        }
        Op::BufferedWrite {
            ino,
            pos,
            len,
            copied,
            nocow,
        } => {
            out.extend(inos(ino).into_iter().map(|ino| Op::BufferedWrite {
                ino,
                pos,
                len,
                copied,
                nocow,
            }));
            if copied < len {
                out.push(Op::BufferedWrite {
                    ino,
                    pos,
                    len,
                    copied: len,
                    nocow,
                });
            }
            out.extend(smaller(pos, 0, g).into_iter().map(|pos| Op::BufferedWrite {
                ino,
                pos,
                len,
                copied,
                nocow,
            }));
            out.extend(smaller(len, 1, g).into_iter().map(|l| Op::BufferedWrite {
                ino,
                pos,
                len: l,
                copied: if copied == len { l } else { copied.min(l) },
                nocow,
            }));
            // A short copy may get shorter; a full one stays full (shortening it and then
            // trying "no short copy" again would go round in circles).
            let shorter = if copied < len {
                smaller(copied, 0, g)
            } else {
                Vec::new()
            };
            out.extend(shorter.into_iter().map(|copied| Op::BufferedWrite {
                ino,
                pos,
                len,
                copied,
                nocow,
            }));
            if nocow {
                out.push(Op::BufferedWrite {
                    ino,
                    pos,
                    len,
                    copied,
                    nocow: false,
                });
            }
        }
        Op::DirectWrite {
            ino,
            pos,
            len,
            fallback,
        } => {
            out.extend(inos(ino).into_iter().map(|ino| Op::DirectWrite {
                ino,
                pos,
                len,
                fallback,
            }));
            out.extend(
                smaller_aligned(pos, 0, g)
                    .into_iter()
                    .map(|pos| Op::DirectWrite {
                        ino,
                        pos,
                        len,
                        fallback,
                    }),
            );
            out.extend(
                smaller_aligned(len, g.sectorsize, g)
                    .into_iter()
                    .map(|len| Op::DirectWrite {
                        ino,
                        pos,
                        len,
                        fallback,
                    }),
            );
            if fallback {
                out.push(Op::DirectWrite {
                    ino,
                    pos,
                    len,
                    fallback: false,
                });
            }
        }
        Op::PageMkwrite { ino, pos } => {
            out.extend(
                inos(ino)
                    .into_iter()
                    .map(|ino| Op::PageMkwrite { ino, pos }),
            );
            out.extend(
                smaller_aligned(pos, 0, g)
                    .into_iter()
                    .map(|pos| Op::PageMkwrite { ino, pos }),
            );
        }
        Op::Defrag { ino, start, len } => {
            out.extend(
                inos(ino)
                    .into_iter()
                    .map(|ino| Op::Defrag { ino, start, len }),
            );
            out.extend(smaller(start, 0, g).into_iter().map(|start| Op::Defrag {
                ino,
                start,
                len,
            }));
            out.extend(
                smaller(len, 1, g)
                    .into_iter()
                    .map(|len| Op::Defrag { ino, start, len }),
            );
        }
        Op::Writeback { ino, start, len } => {
            out.extend(
                inos(ino)
                    .into_iter()
                    .map(|ino| Op::Writeback { ino, start, len }),
            );
            out.extend(smaller(start, 0, g).into_iter().map(|start| Op::Writeback {
                ino,
                start,
                len,
            }));
            out.extend(
                smaller(len, 1, g)
                    .into_iter()
                    .map(|len| Op::Writeback { ino, start, len }),
            );
        }
        Op::FinishOrdered { ino, nth } => {
            out.extend(
                inos(ino)
                    .into_iter()
                    .map(|ino| Op::FinishOrdered { ino, nth }),
            );
            out.extend((0..nth).map(|nth| Op::FinishOrdered { ino, nth }));
        }
        Op::Truncate { ino, size } => {
            out.extend(inos(ino).into_iter().map(|ino| Op::Truncate { ino, size }));
            out.extend(
                smaller(size, 0, g)
                    .into_iter()
                    .map(|size| Op::Truncate { ino, size }),
            );
        }
        Op::Evict { ino } => out.extend(inos(ino).into_iter().map(|ino| Op::Evict { ino })),
        Op::SetFreeSpace { data, meta } => {
            out.extend(
                smaller(data, 0, g)
                    .into_iter()
                    .map(|data| Op::SetFreeSpace { data, meta }),
            );
            out.extend(
                smaller(meta, 0, g)
                    .into_iter()
                    .map(|meta| Op::SetFreeSpace { data, meta }),
            );
        }
        Op::Commit | Op::Unmount | Op::FailNextReservation { .. } => {}
    }
    out.retain(|o| o != op);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smaller_values_are_smaller_and_distinct() {
        let g = Geometry {
            max_extent: 65536,
            ..Geometry::default()
        };
        assert_eq!(smaller(70000, 0, &g)[..4], [0, 65536, 69632, 35000]);
        assert_eq!(smaller(70000, 0, &g).last(), Some(&69999));
        assert!(smaller(70000, 0, &g).len() < 20);
        assert_eq!(smaller(1, 1, &g), Vec::<u64>::new());
        assert_eq!(smaller(2, 1, &g), [1]);
        assert_eq!(smaller_aligned(8192, 4096, &g), [4096]);
        assert_eq!(smaller_aligned(40960, 1, &g), [4096, 24576, 32768, 36864]);
        for op in [
            Op::SetBits {
                start: 5000,
                end: 9000,
                bits: Bits::DELALLOC | Bits::LOCKED,
                exclusive: Bits::LOCKED,
                cached: true,
            },
            Op::BufferedWrite {
                ino: 2,
                pos: 4097,
                len: 8192,
                copied: 100,
                nocow: true,
            },
        ] {
            let c = simpler(&op, &g);
            assert!(!c.is_empty());
            assert!(c.iter().all(|o| o != &op && o.kind() == op.kind()));
        }
    }

    #[test]
    fn shifting_moves_every_offset_at_or_above_the_delta() {
        let ops = [
            Op::SetBits {
                start: 8192,
                end: 12287,
                bits: Bits::DIRTY,
                exclusive: Bits::NONE,
                cached: false,
            },
            Op::Lock {
                start: 100,
                end: 9000,
            },
            Op::BufferedWrite {
                ino: 0,
                pos: 8193,
                len: 4096,
                copied: 4096,
                nocow: false,
            },
            Op::Truncate { ino: 1, size: 4096 },
            Op::Commit,
        ];
        let moved: Vec<Op> = ops.iter().map(|op| shifted(op, 8192)).collect();
        assert_eq!(
            moved,
            [
                Op::SetBits {
                    start: 0,
                    end: 4095,
                    bits: Bits::DIRTY,
                    exclusive: Bits::NONE,
                    cached: false
                },
                Op::Lock {
                    start: 100,
                    end: 9000
                },
                Op::BufferedWrite {
                    ino: 0,
                    pos: 1,
                    len: 4096,
                    copied: 4096,
                    nocow: false
                },
                Op::Truncate { ino: 1, size: 4096 },
                Op::Commit,
            ]
        );
        let all: Vec<u64> = ops.iter().flat_map(offsets).collect();
        assert_eq!(all, [8192, 100, 8193, 4096]);
    }
}
