//! Does the lock-light optimized model run in parallel? ops/s with 1 and 2 threads:
//! - `disjoint_inodes`: each thread works on its own inode (buffered write of a page, writeback
//!   of it, completion of the ordered extent): only the fs-wide leaves (space infos, block
//!   reserves, counters) and the shared s_umount are common;
//! - `one_inode_disjoint_ranges`: both threads on one inode, each in its own range, with the ops
//!   that do not hold i_mutex across the op (page_mkwrite, writeback, ordered completion, as
//!   mmap writers and the flusher do; buffered writes serialize on i_mutex, in the kernel too);
//!
//! each run two ways, side by side in one group:
//! - `lock_light`: `Optimized::apply_shared` from every thread;
//! - `global_mutex`: the same model behind one `Mutex` (every op takes it): what the
//!   implementation would be without its fine-grained locking.
//!
//! `thrpt` is ops/s over all threads; an iteration is [`OPS_PER_THREAD`] ops on each thread
//! (thread start-up is under 1% of it). Ratios that matter: `lock_light/2` over `lock_light/1`
//! (scaling), and `lock_light/2` over `global_mutex/2`. The machine has 2 cores: note its load
//! (`uptime`) with any figure.
//!
//! Run: `cargo bench --bench scaling` (about 1 minute).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use delalloc_contract::{Geometry, Op};
use delalloc_optimized::Optimized;
use std::hint::black_box;
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

/// Ops each thread applies per iteration.
const OPS_PER_THREAD: u64 = 30_000;

/// Pages each thread cycles through.
const PAGES: u64 = 64;

const PAGE: u64 = 4096;

/// bytes_used is never freed in the model: give data space that never runs out.
fn geometry() -> Geometry {
    Geometry {
        inodes: 2,
        data_bytes: 1 << 50,
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

/// Thread t owns inode t: write a page, write it back, complete it.
fn disjoint_inodes(t: u64, i: u64) -> Op {
    let ino = t as u8;
    let pos = (i / 3 % PAGES) * PAGE;
    match i % 3 {
        0 => Op::BufferedWrite {
            ino,
            pos,
            len: PAGE,
            copied: PAGE,
            nocow: false,
        },
        1 => Op::Writeback {
            ino,
            start: pos,
            len: PAGE,
        },
        _ => Op::FinishOrdered { ino, nth: 0 },
    }
}

/// Both threads on inode 0, thread t in pages [t·PAGES, (t+1)·PAGES): dirty a page through
/// mmap, write it back, complete it.
fn one_inode_disjoint_ranges(t: u64, i: u64) -> Op {
    let pos = (t * PAGES + i / 3 % PAGES) * PAGE;
    match i % 3 {
        0 => Op::PageMkwrite { ino: 0, pos },
        1 => Op::Writeback {
            ino: 0,
            start: pos,
            len: PAGE,
        },
        // nth picks among the inode's ordered extents: the other thread's range may hold one too.
        _ => Op::FinishOrdered {
            ino: 0,
            nth: t as u8,
        },
    }
}

/// A mounted model with both inodes written (page_mkwrite needs pages inside i_size).
fn mounted() -> Optimized {
    let m = Optimized::new(&geometry());
    for ino in 0..2 {
        m.apply_shared(&Op::BufferedWrite {
            ino,
            pos: 0,
            len: 2 * PAGES * PAGE,
            copied: 2 * PAGES * PAGE,
            nocow: false,
        });
    }
    m
}

/// `iters` iterations of `threads` threads running `OPS_PER_THREAD` ops each; the time from
/// the barrier to the last thread's end.
fn run(model: &dyn Apply, work: Workload, threads: u64, iters: u64) -> Duration {
    let barrier = Barrier::new(threads as usize + 1);
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let start = std::thread::scope(|s| {
            for t in 0..threads {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    for i in 0..OPS_PER_THREAD {
                        model.apply(&work(t, i));
                    }
                });
            }
            barrier.wait();
            Instant::now()
        });
        total += start.elapsed();
    }
    total
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
                b.iter_custom(|iters| run(&light, work, threads, iters))
            });
            let global = GlobalMutex(Mutex::new(mounted()));
            group.bench_function(BenchmarkId::new("global_mutex", threads), |b| {
                b.iter_custom(|iters| run(&global, work, threads, iters))
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
