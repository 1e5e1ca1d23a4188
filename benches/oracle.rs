//! Throughput of the differential oracle on generated programs, and what it is made of.
//!
//! A fixed batch per level (`program_from_seed(seed, level)` for seeds 0..[`PROGRAMS`], generated
//! before measuring and not measured), run three ways side by side in one group per level:
//! - `reference`: every op applied to a fresh `delalloc_reference::Reference`, nothing else;
//! - `optimized`: every op applied to a fresh `delalloc_optimized::Optimized`, nothing else;
//! - `oracle`: `delalloc_fuzz::oracle::run`, i.e. both models plus, after every op, the outcome
//!   comparison, two snapshots, their comparison and the SPEC §8 invariant check.
//!
//! Every way also applies the final `Unmount` the oracle adds to a program that lacks one, so the
//! three do the same model work, and the throughput (`Elements`) counts those ops too: `thrpt`
//! is ops/s, `time` is per batch. The oracle's own cost (snapshots, comparisons, invariants,
//! trace) is `oracle − reference − optimized`, read from one run.
//!
//! Programs on which the oracle does not agree (a model bug or panic) are left out of the batch,
//! so that the "alone" runs cannot panic; how many is printed.
//!
//! Run: `cargo bench --bench oracle` (about 1 minute), or one level:
//! `cargo bench --bench oracle -- fs/`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use delalloc_contract::{Model, Op, Program};
use delalloc_fuzz::generate::{program_from_seed, Level};
use delalloc_fuzz::oracle::{self, Verdict};
use delalloc_optimized::Optimized;
use delalloc_reference::Reference;
use std::hint::black_box;
use std::time::Duration;

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

fn oracle_throughput(c: &mut Criterion) {
    oracle::quiet_model_panics();
    for level in Level::ALL {
        let (batch, left_out): (Vec<Program>, Vec<Program>) = (0..PROGRAMS)
            .map(|seed| program_from_seed(seed, level))
            .partition(|p| matches!(oracle::run(p), Verdict::Agree(_)));
        let ops: u64 = batch.iter().map(ops_applied).sum();
        eprintln!(
            "{level}: {} programs, {ops} ops ({} left out: the oracle does not agree on them)",
            batch.len(),
            left_out.len()
        );

        let mut group = c.benchmark_group(level.name());
        group.throughput(Throughput::Elements(ops));
        group.bench_function(BenchmarkId::new("reference", batch.len()), |b| {
            b.iter(|| {
                for p in &batch {
                    run_alone(p, &mut Reference::new(&p.geometry));
                }
            })
        });
        group.bench_function(BenchmarkId::new("optimized", batch.len()), |b| {
            b.iter(|| {
                for p in &batch {
                    run_alone(p, &mut Optimized::new(&p.geometry));
                }
            })
        });
        group.bench_function(BenchmarkId::new("oracle", batch.len()), |b| {
            b.iter(|| {
                for p in &batch {
                    let verdict = oracle::run(black_box(p));
                    debug_assert!(matches!(verdict, Verdict::Agree(_)));
                    black_box(verdict);
                }
            })
        });
        group.finish();
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
criterion_main!(benches);
