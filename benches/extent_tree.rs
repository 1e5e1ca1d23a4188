//! Per-operation cost of the extent io tree at 10^3 … 10^6 records, three implementations side
//! by side:
//! - `optimized`: `delalloc_optimized::extent_tree::ExtentIoTree` with `NoHooks` (arena B+ tree);
//! - `reference`: the reference model's tree (`delalloc_reference::tree::Tree`, a sorted `Vec`
//!   rewritten by every change: linear per op);
//! - `baseline`: a straightforward extent-bit tree on `rangemap::RangeMap` (`baseline/mod.rs`).
//!
//! Tree shape: N records `[i*8K, i*8K+4K-1]` with DELALLOC|UPTODATE, holes between them so that
//! they never merge. One group per operation, each iteration a pair that leaves the tree as it
//! found it (so its size stays N):
//! - `set_clear`: set DIRTY on one record's range, then clear DIRTY on it;
//! - `lock_unlock`: lock one record's range, then unlock it.
//!
//! The record of each iteration comes from a fixed xorshift sequence of 2^16 positions over the
//! N records: neither sequential (cache-friendly) nor a single hot spot. The `*_sweep` groups
//! run the same pairs on records in file order, separating the tree's growth with N from the
//! memory latency every cold random access pays at 10^6 records. Each iteration is TWO
//! ops and the throughput is declared as `Elements(2)`: criterion's `time` is per pair, its
//! `thrpt` is ops/s, so one op costs time/2 = 1/thrpt.
//!
//! Before measuring, a self-check asserts that the three trees give identical records after a
//! few ops on a small tree (and after each benchmark that the tree still has N records), so the
//! comparison is one of equal work.
//!
//! Every change rewrites the reference tree's whole `Vec`, so its per-op time is linear in N
//! (allowed: it is the executable spec, not the fast one); its trees are therefore built with
//! `Tree::from_records` from the optimized tree's records rather than by N set ops.
//! `REFERENCE_MAX=10000` (or 0) in the environment skips its larger sizes, e.g. when profiling
//! the other two.
//!
//! The `memory_latency` group measures the floor the random groups stand on at 10^6 records:
//! one cache-missing load, see [`memory_latency`]. After the groups, [`growth_summary`] times
//! the optimized tree's random pairs at 10^3 and 10^6 and that load side by side, and prints
//! the growth ratio and its floor: the figures to quote, as criterion's are seconds apart.
//!
//! Run: `cargo bench --bench extent_tree` (about 3 minutes on 2 cores); filter with e.g.
//! `cargo bench --bench extent_tree -- lock_unlock/optimized`.

mod baseline;
mod side_by_side;

use baseline::RangeMapTree;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use delalloc_contract::{Bits, Record};
use delalloc_optimized::extent_tree::{ExtentIoTree, NoHooks};
use delalloc_reference::tree::Tree as RefTree;
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Tree sizes, in records.
const SIZES: [usize; 4] = [1_000, 10_000, 100_000, 1_000_000];
/// Largest size the reference tree is measured at (by default all of them).
const REFERENCE_MAX: usize = 1_000_000;
/// [`REFERENCE_MAX`], or `$REFERENCE_MAX` if set.
fn reference_max() -> usize {
    std::env::var("REFERENCE_MAX")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(REFERENCE_MAX)
}

/// Distance between record starts; records are half of it long.
const STRIDE: u64 = 8192;
const LEN: u64 = 4096;
/// Length of the position sequence (a power of two). 2^16 random records of a 10^6-record tree
/// touch far more BTreeMap leaves than fit in a cache.
const POSITIONS: usize = 1 << 16;

/// Bits of every record of a benchmark tree.
const RECORD_BITS: Bits = Bits(Bits::DELALLOC.0 | Bits::UPTODATE.0);

/// Inclusive byte range of record `i`.
fn record(i: usize) -> (u64, u64) {
    let s = i as u64 * STRIDE;
    (s, s + LEN - 1)
}

/// The record ranges an iteration works on: a fixed xorshift64 sequence over the n records.
fn positions(n: usize) -> Vec<(u64, u64)> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..POSITIONS)
        .map(|_| record((xorshift(&mut x) % n as u64) as usize))
        .collect()
}

/// The next value of a xorshift64 sequence in `x` (never 0 from a non-zero start).
fn xorshift(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

/// What the benchmarks need of a tree.
trait BenchTree {
    fn set_clear(&mut self, s: u64, e: u64);
    fn lock_unlock(&mut self, s: u64, e: u64);
    fn len(&self) -> usize;
}

impl BenchTree for ExtentIoTree {
    fn set_clear(&mut self, s: u64, e: u64) {
        let r = self.set_bits(s, e, Bits::DIRTY, Bits::NONE, None, &mut NoHooks);
        debug_assert!(r.is_ok());
        self.clear_bits(s, e, Bits::DIRTY, false, false, None, &mut NoHooks);
    }
    fn lock_unlock(&mut self, s: u64, e: u64) {
        let r = self.try_lock(s, e, &mut NoHooks);
        debug_assert!(r.is_ok());
        self.unlock(s, e, &mut NoHooks);
    }
    fn len(&self) -> usize {
        ExtentIoTree::len(self)
    }
}

/// The reference's lock is set(LOCKED, exclusive LOCKED) with an undo on conflict, as its
/// model does; the benchmarks never conflict.
fn ref_try_lock(t: &mut RefTree, s: u64, e: u64) -> Result<(), u64> {
    t.set(s, e, Bits::LOCKED, Bits::LOCKED)
        .inspect_err(|&failed| {
            if failed > s {
                t.clear(s, failed - 1, Bits::LOCKED, false);
            }
        })
}

impl BenchTree for RefTree {
    fn set_clear(&mut self, s: u64, e: u64) {
        let r = self.set(s, e, Bits::DIRTY, Bits::NONE);
        debug_assert!(r.is_ok());
        self.clear(s, e, Bits::DIRTY, false);
    }
    fn lock_unlock(&mut self, s: u64, e: u64) {
        let r = ref_try_lock(self, s, e);
        debug_assert!(r.is_ok());
        self.clear(s, e, Bits::LOCKED, false);
    }
    fn len(&self) -> usize {
        self.records().len()
    }
}

impl BenchTree for RangeMapTree {
    fn set_clear(&mut self, s: u64, e: u64) {
        self.set(s, e, Bits::DIRTY);
        self.clear(s, e, Bits::DIRTY);
    }
    fn lock_unlock(&mut self, s: u64, e: u64) {
        let r = self.try_lock(s, e);
        debug_assert!(r.is_ok());
        self.unlock(s, e);
    }
    fn len(&self) -> usize {
        RangeMapTree::len(self)
    }
}

/// The three trees of one size.
struct Trees {
    n: usize,
    optimized: ExtentIoTree,
    reference: Option<RefTree>,
    baseline: RangeMapTree,
}

impl Trees {
    /// n records, built by n set ops in ascending order; the reference only up to `ref_max`.
    fn build(n: usize, ref_max: usize) -> Trees {
        let mut optimized = ExtentIoTree::new();
        let mut baseline = RangeMapTree::new();
        for i in 0..n {
            let (s, e) = record(i);
            optimized
                .set_bits(s, e, RECORD_BITS, Bits::NONE, None, &mut NoHooks)
                .unwrap();
            baseline.set(s, e, RECORD_BITS);
        }
        // Built by set ops, the reference's tree would cost O(n²); it is taken from the
        // optimized tree's records instead (and checked equal below like the others).
        let reference =
            (n <= ref_max).then(|| RefTree::from_records(optimized.records().collect()));
        let trees = Trees {
            n,
            optimized,
            reference,
            baseline,
        };
        trees.assert_same("build");
        trees
    }

    /// All present trees hold the same records (and n of them, if `n` is given).
    fn assert_same(&self, after: &str) {
        let opt: Vec<Record> = self.optimized.records().collect();
        let base: Vec<Record> = self.baseline.records().collect();
        assert_eq!(opt, base, "optimized and baseline differ after {after}");
        if let Some(t) = &self.reference {
            assert_eq!(
                opt,
                t.records(),
                "optimized and reference differ after {after}"
            );
        }
    }
}

/// Asserts, before anything is measured, that the three trees do the same work: a few ops that
/// split, fill holes, merge back, lock, conflict and unlock, on a 16-record tree.
fn self_check() {
    let mut t = Trees::build(16, usize::MAX);
    let (s0, _) = record(0);
    let (s1, e1) = record(1);
    let (s2, _) = record(2);
    let (s3, e3) = record(3);
    let (s4, _) = record(4);
    let (s5, _) = record(5);
    let (_, e15) = record(15);
    macro_rules! all {
        ($what:expr, |$x:ident| $body:expr) => {{
            {
                let $x = &mut t.optimized;
                $body;
            }
            {
                let $x = &mut t.baseline;
                $body;
            }
            {
                let $x = t.reference.as_mut().unwrap();
                $body;
            }
            t.assert_same($what);
        }};
    }
    // Set across a record's tail, a hole and the next record's head; clear it all again.
    all!("set DIRTY [s0+1K, s1+2K-1]", |x| x.set_clear_parts(
        s0 + 1024,
        s1 + 2047,
        true
    ));
    all!("clear DIRTY [s0, e1]", |x| x.set_clear_parts(s0, e1, false));
    // Split one record in three.
    all!("set DEFRAG [s2+100, s2+200]", |x| x.set_bits_only(
        s2 + 100,
        s2 + 200,
        Bits::DEFRAG
    ));
    // Lock, conflicting lock, unlock.
    all!("lock record 3", |x| assert_eq!(x.lock(s3, e3), Ok(())));
    all!("conflicting lock", |x| assert_eq!(
        x.lock(s3 + 1000, s4),
        Err(s3 + 1000)
    ));
    all!("unlock record 3", |x| x.unlock_range(s3, e3));
    all!("lock inside record 5", |x| assert_eq!(
        x.lock(s5 + 10, s5 + 20),
        Ok(())
    ));
    all!("unlock inside record 5", |x| x
        .unlock_range(s5 + 10, s5 + 20));
    // Fill every hole, then empty them again.
    all!("set DIRTY everywhere", |x| x.set_clear_parts(0, e15, true));
    all!("clear DIRTY everywhere", |x| x
        .set_clear_parts(0, e15, false));
    // The measured pairs leave the tree as it was.
    let before: Vec<Record> = t.optimized.records().collect();
    for i in 0..16 {
        let (s, e) = record(i);
        all!("set_clear pair", |x| x.set_clear(s, e));
        all!("lock_unlock pair", |x| x.lock_unlock(s, e));
    }
    assert_eq!(
        before,
        t.optimized.records().collect::<Vec<_>>(),
        "the pairs changed the tree"
    );
}

/// Single ops for the self-check, over the three trees.
trait CheckOps {
    fn set_clear_parts(&mut self, s: u64, e: u64, set: bool);
    fn set_bits_only(&mut self, s: u64, e: u64, bits: Bits);
    fn lock(&mut self, s: u64, e: u64) -> Result<(), u64>;
    fn unlock_range(&mut self, s: u64, e: u64);
}

impl CheckOps for ExtentIoTree {
    fn set_clear_parts(&mut self, s: u64, e: u64, set: bool) {
        if set {
            self.set_bits_only(s, e, Bits::DIRTY);
        } else {
            self.clear_bits(s, e, Bits::DIRTY, false, false, None, &mut NoHooks);
        }
    }
    fn set_bits_only(&mut self, s: u64, e: u64, bits: Bits) {
        self.set_bits(s, e, bits, Bits::NONE, None, &mut NoHooks)
            .unwrap();
    }
    fn lock(&mut self, s: u64, e: u64) -> Result<(), u64> {
        self.try_lock(s, e, &mut NoHooks)
    }
    fn unlock_range(&mut self, s: u64, e: u64) {
        self.unlock(s, e, &mut NoHooks);
    }
}

impl CheckOps for RangeMapTree {
    fn set_clear_parts(&mut self, s: u64, e: u64, set: bool) {
        if set {
            self.set(s, e, Bits::DIRTY);
        } else {
            self.clear(s, e, Bits::DIRTY);
        }
    }
    fn set_bits_only(&mut self, s: u64, e: u64, bits: Bits) {
        self.set(s, e, bits);
    }
    fn lock(&mut self, s: u64, e: u64) -> Result<(), u64> {
        self.try_lock(s, e)
    }
    fn unlock_range(&mut self, s: u64, e: u64) {
        self.unlock(s, e);
    }
}

impl CheckOps for RefTree {
    fn set_clear_parts(&mut self, s: u64, e: u64, set: bool) {
        if set {
            self.set_bits_only(s, e, Bits::DIRTY);
        } else {
            self.clear(s, e, Bits::DIRTY, false);
        }
    }
    fn set_bits_only(&mut self, s: u64, e: u64, bits: Bits) {
        self.set(s, e, bits, Bits::NONE).unwrap();
    }
    fn lock(&mut self, s: u64, e: u64) -> Result<(), u64> {
        ref_try_lock(self, s, e)
    }
    fn unlock_range(&mut self, s: u64, e: u64) {
        self.clear(s, e, Bits::LOCKED, false);
    }
}

/// One measured operation pair.
#[derive(Clone, Copy)]
enum Pair {
    SetClear,
    LockUnlock,
}

impl Pair {
    fn name(self) -> &'static str {
        match self {
            Pair::SetClear => "set_clear",
            Pair::LockUnlock => "lock_unlock",
        }
    }
    fn run<T: BenchTree>(self, t: &mut T, s: u64, e: u64) {
        match self {
            Pair::SetClear => t.set_clear(s, e),
            Pair::LockUnlock => t.lock_unlock(s, e),
        }
    }
}

/// Which record each iteration works on.
#[derive(Clone, Copy)]
enum Access<'a> {
    /// The fixed pseudo-random sequence: every op starts cold at large sizes.
    Random(&'a [(u64, u64)]),
    /// Record 0, 1, 2, ... n-1, 0, ...: how a file is usually written and written back. Each op
    /// still searches from the top; the caches hold the path, so the growth with n is the
    /// tree's own, without the memory latency of a cold random access.
    Sweep,
}

/// Measures `pair` on `tree` (of n records) with the given access pattern.
fn measure<T: BenchTree>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    pair: Pair,
    n: usize,
    tree: &mut T,
    access: Access<'_>,
) {
    let mut k = 0usize;
    group.bench_function(BenchmarkId::new(name, n), |b| {
        b.iter(|| {
            let (s, e) = match access {
                Access::Random(pos) => pos[k & (POSITIONS - 1)],
                Access::Sweep => record(k % n),
            };
            k = k.wrapping_add(1);
            pair.run(black_box(&mut *tree), black_box(s), black_box(e));
        });
    });
    assert_eq!(
        tree.len(),
        n,
        "{name} {} changed the tree's size",
        pair.name()
    );
}

fn extent_tree(c: &mut Criterion) {
    self_check();
    // `cargo test --benches` runs this without `--bench` (criterion's test mode: each benchmark
    // once, often unoptimized): the small sizes are enough to check that it works.
    let bench_mode = std::env::args().any(|a| a == "--bench");
    let sizes = if bench_mode { &SIZES[..] } else { &SIZES[..2] };
    let mut sizes: Vec<(Trees, Vec<(u64, u64)>)> = sizes
        .iter()
        .map(|&n| {
            let t0 = Instant::now();
            let trees = Trees::build(n, reference_max());
            eprintln!("built the {n}-record trees in {:.1?}", t0.elapsed());
            (trees, positions(n))
        })
        .collect();
    for pair in [Pair::SetClear, Pair::LockUnlock] {
        let mut group = c.benchmark_group(pair.name());
        group.throughput(Throughput::Elements(2));
        for (t, pos) in &mut sizes {
            let n = t.n;
            group
                .sample_size(30)
                .measurement_time(Duration::from_secs(2));
            let random = Access::Random(pos);
            measure(&mut group, "optimized", pair, n, &mut t.optimized, random);
            measure(&mut group, "baseline", pair, n, &mut t.baseline, random);
            if let Some(r) = t.reference.as_mut() {
                // Linear per op: ~1 ms per pair at 10^5, so fewer samples there.
                if n >= 100_000 {
                    group
                        .sample_size(10)
                        .measurement_time(Duration::from_secs(3));
                }
                measure(&mut group, "reference", pair, n, r, random);
            }
        }
        group.finish();
        // The same pairs in file order, for the two trees meant to be fast (the reference's
        // cost is its linear rewrite either way).
        let mut group = c.benchmark_group(format!("{}_sweep", pair.name()));
        group.throughput(Throughput::Elements(2));
        for (t, _) in &mut sizes {
            let n = t.n;
            measure(
                &mut group,
                "optimized",
                pair,
                n,
                &mut t.optimized,
                Access::Sweep,
            );
            measure(
                &mut group,
                "baseline",
                pair,
                n,
                &mut t.baseline,
                Access::Sweep,
            );
        }
        group.finish();
    }
    for (t, _) in &sizes {
        t.assert_same("the benchmarks");
    }
    if let [(small, small_pos), .., (large, large_pos)] = &mut sizes[..] {
        if bench_mode && (small.n, large.n) == (SIZES[0], SIZES[SIZES.len() - 1]) {
            growth_summary(small, small_pos, large, large_pos);
        }
    }
}

/// Rounds of [`growth_summary`], and the pairs (or loads) each timing covers.
const ROUNDS: usize = 200;
const CHUNK: usize = 2048;

/// The optimized tree's growth at random positions from the smallest size to the largest, timed
/// side by side ([`side_by_side`]), with the memory-latency floor under it: every round times
/// [`CHUNK`] random pairs of each kind on both trees and [`CHUNK`] dependent loads through both
/// [`LATENCY_SPANS`], and yields each ratio once.
/// Prints the median round and the quartiles of: pair at the largest size / pair at the
/// smallest, and the floor (pair at the smallest + one load through the large span) / pair at
/// the smallest.
fn growth_summary(
    small: &mut Trees,
    small_pos: &[(u64, u64)],
    large: &mut Trees,
    large_pos: &[(u64, u64)],
) {
    let cycles = LATENCY_SPANS.map(|(_, bytes)| pointer_cycle(bytes / 64));
    let mut at = [0usize; 2];
    let mut k = 0usize;
    // What a timing runs: 0..=3 set_clear on the small tree, on the large one, then lock_unlock
    // likewise; 4 and 5 the loads through the small span and the large one.
    let mut run = |what: usize| match what {
        0..=3 => {
            let pair = [Pair::SetClear, Pair::LockUnlock][what / 2];
            let (tree, pos) = match what % 2 {
                0 => (&mut small.optimized, small_pos),
                _ => (&mut large.optimized, large_pos),
            };
            for _ in 0..CHUNK {
                let (s, e) = pos[k & (POSITIONS - 1)];
                k = k.wrapping_add(1);
                pair.run(black_box(&mut *tree), black_box(s), black_box(e));
            }
        }
        _ => {
            let (next, at) = (&cycles[what - 4], &mut at[what - 4]);
            for _ in 0..CHUNK {
                *at = next[*at].0;
            }
            black_box(*at);
        }
    };
    // Each timing follows one untimed run of the same chunk: the other timings of the round
    // evicted the small tree and the small span from the caches, where a program working on
    // them alone keeps them.
    let time = |what: usize| {
        run(what);
        let start = Instant::now();
        run(what);
        start.elapsed().as_secs_f64() * 1e9 / CHUNK as f64
    };
    // ns per pair (or load), one per round, indexed as `run` is.
    let ns = side_by_side::rounds::<6>(ROUNDS, time);
    let median = |k: usize| side_by_side::median(&ns[k]);
    let show = side_by_side::ratio_text;
    let (n0, n1) = (small.n, large.n);
    eprintln!("optimized, random positions, side by side ({ROUNDS} rounds; median [lower, upper quartile]):");
    for (i, pair) in [Pair::SetClear, Pair::LockUnlock].into_iter().enumerate() {
        let (s, l) = (2 * i, 2 * i + 1);
        let growth = side_by_side::per_round(&ns[l], &ns[s], |large, small| large / small);
        let floor = side_by_side::per_round(&ns[s], &ns[5], |pair, load| (pair + load) / pair);
        eprintln!(
            "  {}: {n0} records {:.1} ns, {n1} records {:.1} ns per pair: {}; \
             floor (pair at {n0} + one load through {}) / pair at {n0}: {}",
            pair.name(),
            median(s),
            median(l),
            show(growth),
            LATENCY_SPANS[1].0,
            show(floor),
        );
    }
    eprintln!(
        "  one dependent load: {} {:.1} ns, {} {:.1} ns",
        LATENCY_SPANS[0].0,
        median(4),
        LATENCY_SPANS[1].0,
        median(5)
    );
    for t in [small, large] {
        assert_eq!(
            t.optimized.len(),
            t.n,
            "the summary's pairs changed the tree"
        );
    }
}

/// Bytes each [`memory_latency`] buffer spans: about what the optimized tree holds at 10^3 and
/// 10^6 records.
const LATENCY_SPANS: [(&str, usize); 2] = [("64KiB", 64 << 10), ("22MiB", 22 << 20)];

/// The machine's floor under the random-position groups: one dependent load from a buffer the
/// size of the tree, each load's address read by the load before it (a pointer chase along a
/// random cycle through every 64-byte line), so the loads cannot overlap. At 10^6 records a
/// random op's leaf is such a load; at 10^3 the whole tree is cached. The random groups' ratio
/// 10^6 / 10^3 cannot be below (pair at 10^3 + this at 22MiB) / pair at 10^3, however little
/// work the tree does: printed next to them so that the two are compared within one run.
fn memory_latency(c: &mut Criterion) {
    let mut group = c.benchmark_group("memory_latency");
    for (name, bytes) in LATENCY_SPANS {
        let next = pointer_cycle(bytes / 64);
        let mut at = 0usize;
        group.bench_function(BenchmarkId::new("dependent_load", name), |b| {
            b.iter(|| {
                at = next[at].0;
                black_box(at)
            });
        });
    }
    group.finish();
}

/// `lines` cache lines, each holding the index of the next one in a random order of them all
/// (a xorshift-driven shuffle), the last pointing back to the first: a single cycle.
fn pointer_cycle(lines: usize) -> Vec<Line> {
    let mut order: Vec<usize> = (0..lines).collect();
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    for i in (1..lines).rev() {
        order.swap(i, (xorshift(&mut x) % i as u64) as usize);
    }
    let mut next = vec![Line(0); lines];
    for w in 0..lines {
        next[order[w]].0 = order[(w + 1) % lines];
    }
    next
}

/// A cache line holding the index of the next one (the alignment pads it to 64 bytes).
#[derive(Clone, Copy)]
#[repr(align(64))]
struct Line(usize);

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    targets = extent_tree, memory_latency
}
criterion_main!(benches);
