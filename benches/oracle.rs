//! Throughput of the differential oracle on generated programs, and what it is made of.
//!
//! A fixed batch per level (`program_from_seed(seed, level)` for seeds 0..[`PROGRAMS`], generated
//! before measuring and not measured), run three ways side by side in one group per level:
//! - `reference`: every op applied to a fresh `delalloc_reference::Reference`, nothing else;
//! - `optimized`: every op applied to a fresh `delalloc_optimized::Optimized`, nothing else;
//! - `oracle`: `delalloc_fuzz::oracles::differential::run`, i.e. both models plus, after every op, the outcome
//!   comparison, two snapshots, their comparison and the SPEC §8 invariant check.
//!
//! Every way also applies the final `Unmount` the oracle adds to a program that lacks one, so the
//! three do the same model work, and the throughput (`Elements`) counts those ops too: `thrpt`
//! is ops/s, `time` is per batch. The oracle's own cost (snapshots, comparisons, invariants,
//! trace) is `oracle − reference − optimized`. After the criterion groups, a summary times the
//! three side by side and prints that cost as a multiple of the models' ([`own_cost_summary`]):
//! the figure to quote, as criterion's separate timings are seconds apart.
//!
//! Programs on which the oracle does not agree (a model bug or panic) are left out of the batch,
//! so that the "alone" runs cannot panic; how many is printed.
//!
//! Run: `cargo bench --bench oracle` (about 1 minute), or one level's criterion group:
//! `cargo bench --bench oracle -- fs/` (the summary always covers the three levels, in seconds).

mod side_by_side;

use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use delalloc_contract::{Model, Op, Program};
use delalloc_fuzz::generators::{program_from_seed, Level};
use delalloc_fuzz::oracles::{differential, Verdict};
use delalloc_optimized::Optimized;
use delalloc_reference::Reference;
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Programs per level, from seeds 0..PROGRAMS.
const PROGRAMS: u64 = 200;

/// Ops one program makes the models apply: its own, plus the oracle's closing unmount.
fn ops_applied(p: &Program) -> u64 {
    let unmount = !p.ops.iter().any(|op| matches!(op, Op::Unmount));
    p.ops.len() as u64 + u64::from(unmount)
}

/// Applies the program, and the closing unmount if it has none, to `model`; nothing else.
fn run_alone(p: &Program, model: &mut dyn Model) {
    for op in &p.ops {
        black_box(model.apply(op));
    }
    if !p.ops.iter().any(|op| matches!(op, Op::Unmount)) {
        black_box(model.apply(&Op::Unmount));
    }
}

/// The ways a batch is run, in the order criterion measures them and the summary prints them.
const WAYS: [&str; 3] = ["reference", "optimized", "oracle"];

/// Runs every program of `batch` the `way`-th way of [`WAYS`].
fn run_batch(way: usize, batch: &[Program]) {
    for p in batch {
        match way {
            0 => run_alone(p, &mut Reference::new(&p.geometry)),
            1 => run_alone(p, &mut Optimized::new(&p.geometry)),
            _ => {
                let verdict = differential::run(black_box(p));
                debug_assert!(matches!(verdict, Verdict::Agree(_)));
                black_box(verdict);
            }
        }
    }
}

/// A level's batch: the programs the oracle agrees on, and how many it does not.
fn batch(level: Level) -> (Vec<Program>, usize) {
    let (batch, left_out): (Vec<Program>, Vec<Program>) = (0..PROGRAMS)
        .map(|seed| program_from_seed(seed, level))
        .partition(|p| matches!(differential::run(p), Verdict::Agree(_)));
    (batch, left_out.len())
}

fn oracle_throughput(c: &mut Criterion) {
    delalloc_fuzz::oracles::panics::quiet_model_panics();
    for level in Level::ALL {
        let (batch, left_out) = batch(level);
        let ops: u64 = batch.iter().map(ops_applied).sum();
        eprintln!(
            "{level}: {} programs, {ops} ops ({left_out} left out: the oracle does not agree on them)",
            batch.len(),
        );
        let mut group = c.benchmark_group(level.name());
        group.throughput(Throughput::Elements(ops));
        for (way, name) in WAYS.into_iter().enumerate() {
            group.bench_function(BenchmarkId::new(name, batch.len()), |b| {
                b.iter(|| run_batch(way, &batch));
            });
        }
        group.finish();
    }
}

/// Rounds of the side-by-side summary.
const ROUNDS: usize = 100;

/// The oracle's own cost as a multiple of the two models' time, measured side by side
/// ([`side_by_side`]): every round times the three ways once each and yields one ratio
/// `(oracle − reference − optimized) / (reference + optimized)`. Measured by criterion alone,
/// seconds apart, the same code gave 1.00x and 1.61x in two runs minutes apart.
fn own_cost_summary() {
    eprintln!("own cost, side by side ({ROUNDS} rounds; median [lower, upper quartile]):");
    for level in Level::ALL {
        let (batch, _) = batch(level);
        let [r, o, a] = side_by_side::rounds::<3>(ROUNDS, |way| {
            let start = Instant::now();
            run_batch(way, &batch);
            start.elapsed().as_secs_f64() * 1e6
        });
        let models = side_by_side::per_round(&r, &o, |r, o| r + o);
        let own = side_by_side::per_round(&a, &models, |a, m| (a - m) / m);
        let [r, o, a] = [r, o, a].map(|t| side_by_side::median(&t));
        eprintln!(
            "  {level}: reference {r:.0} µs, optimized {o:.0} µs, oracle {a:.0} µs per batch; \
             own cost / models {}",
            side_by_side::ratio_text(own)
        );
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = oracle_throughput
}

fn main() {
    benches();
    // `cargo test --benches` runs every bench binary with `--test`: the benchmarks once each,
    // and no summary.
    if !std::env::args().any(|a| a == "--test" || a == "--list") {
        own_cost_summary();
    }
    Criterion::default().configure_from_args().final_summary();
}
