//! Generators of concurrent programs (SPEC §10): fuzzer bytes in, a valid
//! [`ConcurrentProgram`] out, on the same [`Unstructured`] as the sequential generators.
//!
//! The races worth finding need two tasks on the same inode and overlapping bytes at the right
//! moment, so the tasks mostly work in a small hot zone (a few sectors of one inode), which the
//! setup has already written (so that overwrites lock their range and writebacks leave ordered
//! extents to complete); the rest is disjoint work (other inodes, far offsets) that must not
//! interfere. The schedule bytes come last: whatever is left of the input, up to a cap.
//!
//! Task ops are mostly the ones whose effect is one step in the model (SPEC §10, "task ops"): a
//! buffered write within one write chunk, a DIO or defrag within one chunk, page_mkwrite,
//! writeback, finish_ordered, truncate and commit. A program's [`Shape`] adds what SPEC §10
//! allows beside them: multi-chunk writes and multi-cluster defrag ([`Shape::MultiStep`]),
//! the evict of an inode no other task uses and an unmount inside tasks
//! ([`Shape::Lifecycle`]), and 4 to 8 inodes ([`Shape::Wide`]). Space changes and injected
//! faults stay in the setup (SPEC §10 says why).

use super::choice::chance;
use super::Gen;
use arbitrary::{Result, Unstructured};
use delalloc_contract::concurrent::{LINEARIZABILITY_OPS_PER_TASK, MAX_TASKS};
use delalloc_contract::op::MAX_OFFSET;
use delalloc_contract::{ConcurrentProgram, FaultKind, Geometry, Op, OpKind};
use rand::{rngs::SmallRng, RngCore, SeedableRng};

/// The op kinds a generated task may hold (SPEC §10, "task ops"): the rows of the concurrent
/// coverage table. Faults and space changes stay in the setup.
pub const TASK_KINDS: [OpKind; 10] = [
    OpKind::BufferedWrite,
    OpKind::DirectWrite,
    OpKind::PageMkwrite,
    OpKind::Defrag,
    OpKind::Writeback,
    OpKind::FinishOrdered,
    OpKind::Truncate,
    OpKind::Evict,
    OpKind::Commit,
    OpKind::Unmount,
];

/// Sectors in the hot zone every task may address.
const HOT_SECTORS: u64 = 8;

/// At most this many schedule bytes in a generated program.
const MAX_GENERATED_SCHEDULE: usize = 48;

/// A concurrent program generated from `seed` (the seed's RNG bytes fed to [`program`]). One
/// seed in four runs it in era 6, so that era C's paths (SPEC §6.1) race too; the era is
/// chosen from the seed, not from the bytes, so every other seed's program is as it was.
///
/// The shape comes from the seed too (five seeds in eight plain, then one each of
/// [`Shape::MultiStep`], [`Shape::Lifecycle`] and [`Shape::Wide`]), for the same reason.
pub fn program_from_seed(seed: u64) -> ConcurrentProgram {
    let mut bytes = vec![0u8; 1024];
    SmallRng::seed_from_u64(seed).fill_bytes(&mut bytes);
    let mut u = Unstructured::new(&bytes);
    let shape = match (seed / 4) % 8 {
        5 => Shape::MultiStep,
        6 => Shape::Lifecycle,
        7 => Shape::Wide,
        _ => Shape::Plain,
    };
    let mut p = program_shaped(&mut u, shape).unwrap_or_else(|_| ConcurrentProgram {
        tasks: vec![Vec::new()],
        ..ConcurrentProgram::default()
    });
    if seed % 4 == 3 {
        p.geometry.era = delalloc_contract::Era::V6;
        if p.validate().is_err() {
            p.geometry.era = delalloc_contract::Era::B;
        }
    }
    p
}

/// What a generated program may hold beyond one-step task ops (SPEC §10, "Task ops").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// One-step task ops on 1 to 3 inodes.
    Plain,
    /// Buffered writes and defrag over several write chunks (a small write_chunk), each chunk
    /// or cluster a step of its own that other tasks may run between (SPEC §10's yield points
    /// between chunks and clusters).
    MultiStep,
    /// One-step task ops, plus the evict of an inode only its own task uses, and an unmount
    /// ending a task.
    Lifecycle,
    /// One-step task ops on 4 to 8 inodes.
    Wide,
}

impl Shape {
    pub const ALL: [Shape; 4] = [
        Shape::Plain,
        Shape::MultiStep,
        Shape::Lifecycle,
        Shape::Wide,
    ];
}

/// A valid concurrent program read from `u`, its shape read from `u` too (the libFuzzer
/// target's bytes).
pub fn program(u: &mut Unstructured<'_>) -> Result<ConcurrentProgram> {
    let shape = *u.choose(&Shape::ALL)?;
    program_shaped(u, shape)
}

/// A valid concurrent program of shape `shape` read from `u`.
pub fn program_shaped(u: &mut Unstructured<'_>, shape: Shape) -> Result<ConcurrentProgram> {
    if shape == Shape::Plain && chance(u, 1, 8)? {
        return failing_reservation_episode(u);
    }
    let mut geometry = geometry(u)?;
    match shape {
        Shape::Plain => {}
        Shape::MultiStep => {
            // Two to four chunks across the hot zone's ranges.
            let chunk = geometry.sectorsize * u.int_in_range(1..=2)?;
            geometry.write_chunk = chunk.min(geometry.max_extent);
        }
        Shape::Lifecycle => geometry.inodes = geometry.inodes.max(2),
        Shape::Wide => geometry.inodes = u.int_in_range(4..=8)?,
    }
    let mut gen = TaskGen {
        g: geometry,
        hot_ino: u.int_in_range(0..=geometry.inodes - 1)?,
        multi_step: shape == Shape::MultiStep,
        private: None,
        judged: true,
    };
    let setup = gen.setup(u)?;
    let n_tasks = if chance(u, 1, 8)? {
        1
    } else {
        u.int_in_range(2..=MAX_TASKS)?
    };
    // Lifecycle: the last task may own an inode no other task touches, and evict it.
    let evictor = shape == Shape::Lifecycle && chance(u, 1, 2)?;
    if evictor {
        let other = u.int_in_range(1..=geometry.inodes - 1)?;
        gen.private = Some((gen.hot_ino + other) % geometry.inodes);
    }
    let unmounter = (shape == Shape::Lifecycle && chance(u, 1, 3)?)
        .then(|| u.int_in_range(0..=n_tasks - 1))
        .transpose()?;
    let mut tasks = Vec::with_capacity(n_tasks);
    for t in 0..n_tasks {
        let len = u.int_in_range(1..=LINEARIZABILITY_OPS_PER_TASK)?;
        let mut ops = Vec::with_capacity(len);
        let owner = evictor && t == n_tasks - 1;
        for _ in 0..len {
            let op = if owner {
                gen.private_op(u)?
            } else {
                gen.task_op(u)?
            };
            ops.push(op);
        }
        if unmounter == Some(t) {
            *ops.last_mut().expect("a task has an op") = Op::Unmount;
        }
        tasks.push(ops);
    }
    let n = u.len().min(MAX_GENERATED_SCHEDULE);
    let schedule = u.bytes(n)?.to_vec();
    let p = ConcurrentProgram {
        geometry,
        setup,
        tasks,
        schedule,
    };
    debug_assert_eq!(p.validate(), Ok(()));
    Ok(p)
}

/// A program for the stress mode: the same hot zone and op mix as [`program`], but
/// exactly `tasks` tasks of `ops` ops each and no schedule (real threads choose). Stress judges
/// no order (SPEC §10), so what the linearizability oracle cannot judge goes into its tasks:
/// now and then writes and defrag over several chunks (truncate included), injected faults and
/// free-space changes (small ones too: ENOSPC under real pressure).
pub fn stress_program(
    u: &mut Unstructured<'_>,
    tasks: usize,
    ops: usize,
) -> Result<ConcurrentProgram> {
    let mut geometry = geometry(u)?;
    let multi_step = chance(u, 1, 3)?;
    if multi_step {
        let chunk = geometry.sectorsize * u.int_in_range(1..=2)?;
        geometry.write_chunk = chunk.min(geometry.max_extent);
    }
    let faults = chance(u, 1, 3)?;
    let mut gen = TaskGen {
        g: geometry,
        hot_ino: u.int_in_range(0..=geometry.inodes - 1)?,
        multi_step,
        private: None,
        judged: false,
    };
    let setup = gen.setup(u)?;
    let mut all = Vec::with_capacity(tasks);
    for _ in 0..tasks {
        let mut task = Vec::with_capacity(ops);
        for _ in 0..ops {
            let op = if faults && chance(u, 1, 8)? {
                if chance(u, 1, 2)? {
                    Op::FailNextReservation {
                        kind: *u.choose(&[FaultKind::Data, FaultKind::Metadata])?,
                    }
                } else {
                    let s = geometry.sectorsize;
                    let free = |u: &mut Unstructured<'_>| -> Result<u64> {
                        Ok(if chance(u, 1, 2)? {
                            1 << 40
                        } else {
                            s * u.int_in_range(0..=64)?
                        })
                    };
                    Op::SetFreeSpace {
                        data: free(u)?,
                        meta: free(u)?,
                    }
                }
            } else {
                gen.task_op(u)?
            };
            task.push(op);
        }
        all.push(task);
    }
    Ok(ConcurrentProgram {
        geometry,
        setup,
        tasks: all,
        schedule: Vec::new(),
    })
}

/// Seed 000's window, which independent ops would practically never compose: a reservation
/// that fails (an injected fault) while a release of the same inode runs, with csum_bytes near
/// a checksum-leaf boundary so that what the release frees depends on the failing
/// reservation's bytes. Small leaves (512-byte sectors, 4 KiB nodes: (4096 - 126) / 4 = 992
/// sectors a leaf, under half a MiB) keep the file small. The shape is fixed; the leaf count,
/// the offsets, the sizes and the schedule come from the input, and further ops may join either
/// task.
fn failing_reservation_episode(u: &mut Unstructured<'_>) -> Result<ConcurrentProgram> {
    let g = Geometry {
        sectorsize: 512,
        nodesize: 4096,
        inodes: u.int_in_range(1..=2)?,
        ..ample_space()
    };
    let s = g.sectorsize;
    let per_leaf = g.csums_per_leaf();
    let ino = 0;
    // csum_bytes a few sectors past a leaf boundary, then an ordered extent of a few sectors.
    let sectors = per_leaf * u.int_in_range(1..=2)? + u.int_in_range(0..=4)?;
    let ordered = u.int_in_range(1..=6)?;
    let setup = vec![
        Op::BufferedWrite {
            ino,
            pos: 0,
            len: sectors * s,
            copied: sectors * s,
            nocow: false,
        },
        Op::Writeback {
            ino,
            start: 0,
            len: ordered * s,
        },
        Op::FailNextReservation {
            kind: FaultKind::Metadata,
        },
    ];
    let write_sectors = u.int_in_range(1..=per_leaf)?;
    let mut reserver = vec![Op::BufferedWrite {
        ino,
        pos: (sectors + u.int_in_range(0..=8)?) * s,
        len: write_sectors * s,
        copied: write_sectors * s,
        nocow: false,
    }];
    let mut releaser = vec![Op::FinishOrdered { ino, nth: 0 }];
    let mut gen = TaskGen {
        g,
        hot_ino: ino,
        multi_step: false,
        private: None,
        judged: true,
    };
    for task in [&mut reserver, &mut releaser] {
        for _ in 0..u.int_in_range(0..=2)? {
            task.push(gen.task_op(u)?);
        }
    }
    let n = u.len().min(MAX_GENERATED_SCHEDULE);
    let schedule = u.bytes(n)?.to_vec();
    Ok(ConcurrentProgram {
        geometry: g,
        setup,
        tasks: vec![reserver, releaser],
        schedule,
    })
}

/// The default geometry with 1 TiB of data and of metadata space.
fn ample_space() -> Geometry {
    Geometry {
        data_bytes: 1 << 40,
        meta_bytes: 1 << 40,
        ..Geometry::default()
    }
}

/// Space that never runs out (SPEC §10: under real space pressure an in-flight reservation keeps
/// items a racing release would have freed, so which op gets ENOSPC depends on the interleaving
/// in a way no sequential order explains; ENOSPC is reached through injected faults instead),
/// 1..=3 inodes, and now and then a small max_extent so that count_max_extents matters for a
/// few sectors.
fn geometry(u: &mut Unstructured<'_>) -> Result<Geometry> {
    let mut g = Geometry {
        inodes: u.int_in_range(1..=3)?,
        ..ample_space()
    };
    if chance(u, 1, 4)? {
        g.max_extent = g.sectorsize * u.int_in_range(1..=4)?;
        g.write_chunk = g.max_extent;
    }
    Ok(g)
}

struct TaskGen {
    g: Geometry,
    /// The inode the hot zone is on.
    hot_ino: u8,
    /// Writes and defrag may span several write chunks ([`Shape::MultiStep`]).
    multi_step: bool,
    /// An inode only one task uses (and may evict): [`TaskGen::task_op`] keeps off it.
    private: Option<u8>,
    /// The program goes to the linearizability oracle (not stress): keep to what it judges.
    judged: bool,
}

impl TaskGen {
    /// The file the tasks will race on, and sometimes ordered extents to complete; now and then
    /// a few ops from the sequential generator besides (offsets anywhere: disjoint work).
    fn setup(&mut self, u: &mut Unstructured<'_>) -> Result<Vec<Op>> {
        let s = self.g.sectorsize;
        let mut ops = vec![Op::BufferedWrite {
            ino: self.hot_ino,
            pos: 0,
            len: HOT_SECTORS * s,
            copied: HOT_SECTORS * s,
            nocow: false,
        }];
        if chance(u, 1, 2)? {
            // Ordered extents in the hot zone: releases for a reservation to race with (seed 000).
            let (start, len) = self.hot_range(u)?;
            ops.push(Op::Writeback {
                ino: self.hot_ino,
                start,
                len,
            });
            if chance(u, 1, 2)? {
                ops.push(self.hot_buffered_write(u)?);
            }
        }
        if chance(u, 1, 4)? {
            let mut seq = Gen::new(self.g);
            for _ in 0..u.int_in_range(1..=3)? {
                let kind = *u.choose(&[
                    OpKind::BufferedWrite,
                    OpKind::DirectWrite,
                    OpKind::Writeback,
                    OpKind::FinishOrdered,
                    OpKind::Commit,
                ])?;
                ops.push(seq.op(u, kind)?);
            }
        }
        Ok(ops)
    }

    /// One task op: mostly in the hot zone, a quarter of the time disjoint work.
    fn task_op(&mut self, u: &mut Unstructured<'_>) -> Result<Op> {
        let kind = *u.choose(&[
            OpKind::BufferedWrite,
            OpKind::BufferedWrite,
            OpKind::BufferedWrite,
            OpKind::DirectWrite,
            OpKind::DirectWrite,
            OpKind::PageMkwrite,
            OpKind::Defrag,
            OpKind::Writeback,
            OpKind::Writeback,
            OpKind::FinishOrdered,
            OpKind::FinishOrdered,
            OpKind::Truncate,
            OpKind::Commit,
        ])?;
        let ino = if chance(u, 3, 4)? {
            self.hot_ino
        } else {
            u.int_in_range(0..=self.g.inodes - 1)?
        };
        let ino = if Some(ino) == self.private {
            self.hot_ino
        } else {
            ino
        };
        // A truncate between two defrag clusters, and a write past the new EOF, leave a hole
        // the defrag's next cluster re-dirties, which no order gives (SPEC §10): multi-step
        // programs do without truncate.
        let kind = if self.judged && self.multi_step && kind == OpKind::Truncate {
            OpKind::Writeback
        } else {
            kind
        };
        self.op_on(u, kind, ino)
    }

    /// An op of the task that owns the private inode: its ops there, ending now and then in
    /// its evict (btrfs_evict_inode: the kernel evicts an inode nobody else holds, SPEC §10).
    fn private_op(&mut self, u: &mut Unstructured<'_>) -> Result<Op> {
        let ino = self.private.expect("a private inode");
        if chance(u, 1, 3)? {
            return Ok(Op::Evict { ino });
        }
        let kind = *u.choose(&[
            OpKind::BufferedWrite,
            OpKind::DirectWrite,
            OpKind::PageMkwrite,
            OpKind::Writeback,
            OpKind::FinishOrdered,
            OpKind::Truncate,
        ])?;
        self.op_on(u, kind, ino)
    }

    /// An op of kind `kind` on inode `ino`: mostly in the hot zone's offsets.
    fn op_on(&mut self, u: &mut Unstructured<'_>, kind: OpKind, ino: u8) -> Result<Op> {
        let s = self.g.sectorsize;
        let (pos, sectors) = if chance(u, 3, 4)? {
            let (pos, len) = self.hot_range(u)?;
            (pos, len / s)
        } else {
            // Far from the hot zone: whatever a task does there only shares fs-wide counters.
            let k = u.int_in_range(1..=1000)?;
            (k * 64 * s, u64::from(u.int_in_range(1u8..=4)?))
        };
        let len = sectors * s;
        Ok(match kind {
            OpKind::BufferedWrite => {
                let start = pos
                    + if chance(u, 1, 4)? {
                        u.int_in_range(0..=s - 1)?
                    } else {
                        0
                    };
                let len = if self.multi_step {
                    pos + len - start
                } else {
                    (pos + len - start).min(self.g.write_chunk - start % s)
                };
                let copied = if chance(u, 1, 5)? {
                    u.int_in_range(0..=len)?
                } else {
                    len
                };
                Op::BufferedWrite {
                    ino,
                    pos: start,
                    len,
                    copied,
                    nocow: chance(u, 1, 8)?,
                }
            }
            OpKind::DirectWrite => Op::DirectWrite {
                ino,
                pos,
                len: len.min(self.g.write_chunk),
                fallback: chance(u, 1, 2)?,
            },
            OpKind::PageMkwrite => Op::PageMkwrite { ino, pos },
            OpKind::Defrag => Op::Defrag {
                ino,
                start: pos,
                len: if self.multi_step {
                    len
                } else {
                    len.min(self.g.write_chunk)
                },
            },
            OpKind::Writeback => {
                if chance(u, 1, 3)? {
                    Op::Writeback {
                        ino,
                        start: 0,
                        len: MAX_OFFSET - 1,
                    }
                } else {
                    Op::Writeback {
                        ino,
                        start: pos,
                        len,
                    }
                }
            }
            OpKind::FinishOrdered => Op::FinishOrdered {
                ino,
                nth: u.int_in_range(0..=2)?,
            },
            OpKind::Truncate => Op::Truncate {
                ino,
                size: pos + if chance(u, 1, 2)? { 0 } else { len },
            },
            OpKind::Commit => Op::Commit,
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
            | OpKind::Evict
            | OpKind::Unmount
            | OpKind::SetFreeSpace
            | OpKind::FailNextReservation
            | OpKind::DrainDelallocRsv => unreachable!("not a kind task_op draws: {kind:?}"),
        })
    }

    /// Whole sectors inside the hot zone: (pos, len).
    fn hot_range(&mut self, u: &mut Unstructured<'_>) -> Result<(u64, u64)> {
        let s = self.g.sectorsize;
        let first = u.int_in_range(0..=HOT_SECTORS - 1)?;
        let n = u.int_in_range(1..=(HOT_SECTORS - first).min(4))?;
        Ok((first * s, n * s))
    }

    fn hot_buffered_write(&mut self, u: &mut Unstructured<'_>) -> Result<Op> {
        let (pos, len) = self.hot_range(u)?;
        Ok(Op::BufferedWrite {
            ino: self.hot_ino,
            pos,
            len,
            copied: len,
            nocow: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_programs_are_valid_deterministic_and_race_on_one_inode() {
        let mut shared = 0;
        for seed in 0..300 {
            let p = program_from_seed(seed);
            assert_eq!(p.validate(), Ok(()), "seed {seed}");
            assert_eq!(p, program_from_seed(seed));
            assert!(p
                .tasks
                .iter()
                .all(|t| t.len() <= LINEARIZABILITY_OPS_PER_TASK));
            let inos: Vec<Vec<u8>> = p
                .tasks
                .iter()
                .map(|t| t.iter().filter_map(Op::ino).collect())
                .collect();
            if inos.len() > 1 && inos[0].iter().any(|i| inos[1].contains(i)) {
                shared += 1;
            }
        }
        // Most two-task programs put both tasks on one inode.
        assert!(shared > 150, "{shared} of 300 share an inode");
    }
}
