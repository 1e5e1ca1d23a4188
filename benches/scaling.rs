//! Does the lock-light optimized model run in parallel? ops/s with 1 and 2 threads, on seed
//! 003's workload (sysbench fileio `rndwr`, 32 KiB random writes into large files, the load
//! under which that race was found):
//! - `disjoint_inodes`: each thread writes its own file: a random 32 KiB buffered write, the
//!   writeback of that block (sync_file_range), the completion of its ordered extent; only the
//!   fs-wide leaves (space infos, block reserves, percpu-style counters) are shared;
//! - `one_inode_disjoint_ranges`: both threads in one file, each in its own half, through
//!   page_mkwrite (mmap writers; buffered writes take i_mutex for the whole write, in the kernel
//!   too), with the same writeback and completion. One inode's extent tree has one lock (the
//!   kernel's io_tree->lock), and each op holds the inode's lock for all its tree work, so the
//!   two threads mostly take turns: this measures what the handoffs cost, not a speed-up. (The
//!   global mutex does better here: std's mutex lets the thread that releases it take it
//!   again, so one thread runs many ops in a row with the tree in its own cache.)
//!
//! each run two ways, side by side in one group:
//! - `lock_light`: `Optimized::apply_shared` from every thread;
//! - `global_mutex`: the same model behind one `Mutex` (every op takes it): what the
//!   implementation would be without its fine-grained locking.
//!
//! Each file is first filled with [`PREFILL`] random writes, written back and completed, so
//! that the trees hold tens of thousands of records, as a randomly written file does; the work
//! of an op is then that of a real tree, not of an empty one. `thrpt` is ops/s over all
//! threads; an iteration is [`OPS_PER_THREAD`] ops on each thread, by workers pinned to cores
//! 0 and 1 and kept across iterations (see [`run`]). Ratios that matter: `lock_light/2` over
//! `lock_light/1` (scaling) and `lock_light/2` over `global_mutex/2`. The machine has 2 cores:
//! note its load (`uptime`) with any figure.
//!
//! Run: `cargo bench --bench scaling` (about 1 minute).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use delalloc_contract::{Geometry, Op, Outcome};
use delalloc_optimized::Optimized;
use std::hint::black_box;
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

/// Ops each thread applies per iteration.
const OPS_PER_THREAD: u64 = 20_000;

/// sysbench's --file-block-size=32K.
const BLOCK: u64 = 32 * 1024;

/// Blocks in a file (8 GiB, sysbench's --file-total-size=8G), or in a thread's half of one.
const BLOCKS: u64 = 1 << 18;

/// Random writes before measuring, per file (or half).
const PREFILL: u64 = 40_000;

const PAGE: u64 = 4096;

/// bytes_used is never freed in the model: data space that never runs out, and metadata space
/// for the prefill's outstanding extents (trans(1) = 256 KiB each).
fn geometry() -> Geometry {
    Geometry {
        inodes: 2,
        data_bytes: 1 << 50,
        meta_bytes: 1 << 40,
        ..Geometry::default()
    }
}

/// The same model, with or without one lock around it.
trait Apply: Sync {
    fn apply(&self, op: &Op);
}

impl Apply for Optimized {
    fn apply(&self, op: &Op) {
        black_box(self.apply_shared(op));
    }
}

struct GlobalMutex(Mutex<Optimized>);

impl Apply for GlobalMutex {
    fn apply(&self, op: &Op) {
        let m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        black_box(m.apply_shared(op));
    }
}

/// Thread `t`'s i-th op of a workload.
type Workload = fn(t: u64, i: u64) -> Op;

/// A random block index of thread `t`'s i-th write (a hash: no state shared between threads).
fn block(t: u64, i: u64) -> u64 {
    let mut z = (t << 40 | i).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z ^ (z >> 31)) % BLOCKS
}

/// Step `i` of the cycle: a write, the writeback of what it dirtied (exactly that: a range
/// with no delalloc after its last dirty byte would send writeback looking through the rest of
/// the tree), a completion. `write(w)` is the w-th write and the (ino, start, len) it dirties.
fn cycle(i: u64, write: impl Fn(u64) -> (Op, u8, u64, u64), finish: Op) -> Op {
    let (op, ino, start, len) = write(i / 3);
    match i % 3 {
        0 => op,
        1 => Op::Writeback { ino, start, len },
        _ => finish,
    }
}

/// Thread t writes its own file, inode t.
fn disjoint_inodes(t: u64, i: u64) -> Op {
    let ino = t as u8;
    cycle(
        i,
        |w| {
            let pos = block(t, w) * BLOCK;
            let op = Op::BufferedWrite {
                ino,
                pos,
                len: BLOCK,
                copied: BLOCK,
                nocow: false,
            };
            (op, ino, pos, BLOCK)
        },
        Op::FinishOrdered { ino, nth: 0 },
    )
}

/// Both threads in inode 0, thread t in its half: mmap writes of a page.
fn one_inode_disjoint_ranges(t: u64, i: u64) -> Op {
    let half = t * BLOCKS * BLOCK;
    cycle(
        i,
        |w| {
            let pos = half + block(t, w) * BLOCK;
            (Op::PageMkwrite { ino: 0, pos }, 0, pos, PAGE)
        },
        // nth picks among the inode's ordered extents, of either half.
        Op::FinishOrdered {
            ino: 0,
            nth: t as u8,
        },
    )
}

/// A mounted model whose files (inode 0, 1) span two halves of `BLOCKS` blocks and hold the
/// records of `PREFILL` random writes each, written back and completed.
fn mounted() -> Optimized {
    let m = Optimized::new(&geometry());
    for ino in 0..2u8 {
        // i_size covers both halves, so that page_mkwrite finds its pages inside the file.
        m.apply_shared(&Op::BufferedWrite {
            ino,
            pos: 2 * BLOCKS * BLOCK - PAGE,
            len: PAGE,
            copied: PAGE,
            nocow: false,
        });
        for t in 0..2u64 {
            let half = t * BLOCKS * BLOCK;
            for w in 0..PREFILL / 2 {
                m.apply_shared(&Op::BufferedWrite {
                    ino,
                    pos: half + block(t + 2 * u64::from(ino) + 7, w) * BLOCK,
                    len: BLOCK,
                    copied: BLOCK,
                    nocow: false,
                });
                if w % 256 == 255 {
                    flush(&m, ino);
                }
            }
        }
        flush(&m, ino);
    }
    m
}

/// Writes the whole file back and completes every ordered extent.
fn flush(m: &Optimized, ino: u8) {
    m.apply_shared(&Op::Writeback {
        ino,
        start: 0,
        len: 2 * BLOCKS * BLOCK,
    });
    while m.apply_shared(&Op::FinishOrdered { ino, nth: 0 }) != Outcome::NoOrderedExtent {}
}

/// Pins the calling thread to core `t` (of those this process may use), when it exists.
fn pin_to_core(t: u64) {
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    if let Some(&core) = cores.get(t as usize) {
        core_affinity::set_for_current(core);
    }
}

/// `iters` iterations of `OPS_PER_THREAD` ops on each of `threads` worker threads; the sum of
/// the iterations' times, each from the start barrier to the last thread's end.
///
/// The workers are started once per call, kept for all its iterations, and worker `t` is
/// pinned to core `t`. Spawning them anew, unpinned, for every iteration (a few milliseconds of
/// work) measured where the scheduler put fresh threads: so run, two threads measured 1.3–1.7x
/// one thread even on two separate models that share nothing, and either pinning the spawned
/// threads or keeping them across iterations removed that loss.
fn run(model: &dyn Apply, work: Workload, threads: u64, iters: u64) -> Duration {
    let start = Barrier::new(threads as usize + 1);
    let end = Barrier::new(threads as usize + 1);
    std::thread::scope(|s| {
        for t in 0..threads {
            let (start, end) = (&start, &end);
            s.spawn(move || {
                pin_to_core(t);
                for _ in 0..iters {
                    start.wait();
                    for i in 0..OPS_PER_THREAD {
                        model.apply(&work(t, i));
                    }
                    end.wait();
                }
            });
        }
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            start.wait();
            let began = Instant::now();
            end.wait();
            total += began.elapsed();
        }
        total
    })
}

fn scaling(c: &mut Criterion) {
    let workloads: [(&str, Workload); 2] = [
        ("disjoint_inodes", disjoint_inodes),
        ("one_inode_disjoint_ranges", one_inode_disjoint_ranges),
    ];
    for (name, work) in workloads {
        let mut group = c.benchmark_group(name);
        for threads in [1u64, 2] {
            group.throughput(Throughput::Elements(threads * OPS_PER_THREAD));
            let light = mounted();
            group.bench_function(BenchmarkId::new("lock_light", threads), |b| {
                b.iter_custom(|iters| run(&light, work, threads, iters));
            });
            let global = GlobalMutex(Mutex::new(mounted()));
            group.bench_function(BenchmarkId::new("global_mutex", threads), |b| {
                b.iter_custom(|iters| run(&global, work, threads, iters));
            });
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = scaling
}
criterion_main!(benches);
