//! The stress mode (`delalloc-fuzz stress`): concurrent programs on real std threads, on the
//! default (std) build of the optimized model, with no deterministic scheduler. Interleavings are
//! whatever the machine does, so nothing here is reproducible step by step; what is checked is
//! what must hold after any interleaving (SPEC §10): at quiescence SPEC §8 (1-5), and after the
//! unmount SPEC §8 again with nothing leaked (no evict or unmount WARN, every reservation zero).
//!
//! Each iteration generates a program with one task per thread ([`stress_program`]), runs its
//! setup, releases all threads at once from a barrier, and has each run its task's ops `rounds`
//! times over (so that threads really overlap), then checks. A failure prints the program (its
//! schedule is empty: replaying it under shuttle explores other interleavings of the same ops).

use crate::generators::concurrent::stress_program;
use arbitrary::Unstructured;
use delalloc_contract::concurrent::MAX_TASK_OPS;
use delalloc_contract::{ConcurrentProgram, Op};
use delalloc_optimized::Optimized;
use rand::{rngs::SmallRng, RngCore, SeedableRng};
use serde::Serialize;
use std::sync::Barrier;
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct StressConfig {
    pub seconds: u64,
    /// Threads per iteration (one task each), 1..=4.
    pub threads: usize,
    /// How many times each thread runs its task's ops.
    pub rounds: usize,
    /// Iteration `i` generates its program from [`iteration_seed`]`(seed, i)`.
    pub seed: u64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct StressSummary {
    pub seed: u64,
    pub threads: usize,
    pub iterations: u64,
    pub ops: u64,
    pub seconds: f64,
    /// Stopped by Ctrl-C ([`crate::interrupt`]) before its time.
    pub interrupted: bool,
}

/// A violated invariant and the program whose run broke it.
#[derive(Clone, Debug)]
pub struct StressFailure {
    pub iteration: u64,
    pub program: ConcurrentProgram,
    /// `quiescent` or `after unmount`.
    pub when: &'static str,
    pub what: String,
}

/// The seed of iteration `i`'s program: [`crate::generators::derived_seed`]`(seed, i)`
/// (SplitMix64 over both), so that nearby `--seed`s run unrelated programs.
pub fn iteration_seed(seed: u64, i: u64) -> u64 {
    crate::generators::derived_seed(seed, i)
}

/// Runs iterations until the time is up, an invariant breaks or Ctrl-C.
pub fn stress(config: &StressConfig) -> Result<StressSummary, Box<StressFailure>> {
    let start = Instant::now();
    let deadline = start + Duration::from_secs(config.seconds);
    let threads = config.threads.clamp(1, 4);
    let mut summary = StressSummary {
        seed: config.seed,
        threads,
        ..StressSummary::default()
    };
    let mut bytes = vec![0u8; 4096];
    while Instant::now() < deadline {
        if crate::interrupt::requested() {
            summary.interrupted = true;
            break;
        }
        let i = summary.iterations;
        SmallRng::seed_from_u64(iteration_seed(config.seed, i)).fill_bytes(&mut bytes);
        let mut u = Unstructured::new(&bytes);
        let Ok(p) = stress_program(&mut u, threads, MAX_TASK_OPS) else {
            summary.iterations += 1;
            continue;
        };
        let ops = run_once(&p, config.rounds).map_err(|(when, what)| {
            Box::new(StressFailure {
                iteration: i,
                program: p.clone(),
                when,
                what,
            })
        })?;
        summary.iterations += 1;
        summary.ops += ops;
    }
    summary.seconds = start.elapsed().as_secs_f64();
    Ok(summary)
}

/// One iteration: setup, all threads at once, checks. Returns the ops applied.
fn run_once(p: &ConcurrentProgram, rounds: usize) -> Result<u64, (&'static str, String)> {
    let model = Optimized::new(&p.geometry);
    for op in &p.setup {
        model.apply_shared(op);
    }
    let barrier = Barrier::new(p.tasks.len());
    std::thread::scope(|s| {
        for task in &p.tasks {
            let (model, barrier) = (&model, &barrier);
            s.spawn(move || {
                barrier.wait();
                for _ in 0..rounds {
                    for op in task {
                        model.apply_shared(op);
                    }
                }
            });
        }
    });
    let quiescent = model.snapshot_shared();
    crate::oracles::invariants::check(&quiescent, &p.geometry)
        .map_err(|v| ("quiescent", format!("§{}: {}", v.invariant, v.message)))?;
    model.apply_shared(&Op::Unmount);
    let after = model.snapshot_shared();
    crate::oracles::invariants::check(&after, &p.geometry)
        .map_err(|v| ("after unmount", format!("§{}: {}", v.invariant, v.message)))?;
    let w = &after.warnings;
    if w.evict_leaks + w.unmount_leaks > 0 {
        return Err((
            "after unmount",
            format!(
                "leaked: {} evict and {} unmount WARN(s); data may_use {}, meta may_use {}, {}",
                w.evict_leaks,
                w.unmount_leaks,
                after.data.bytes_may_use,
                after.meta.bytes_may_use,
                reservations(&after)
            ),
        ));
    }
    Ok((p.setup.len() + p.task_ops() * rounds + 1) as u64)
}

/// The metadata reservations of a leak message, in the snapshot's era: era B's fs-wide
/// delalloc reserve, or era C's inode reservations that are not empty (SPEC §0).
fn reservations(s: &delalloc_contract::Snapshot) -> String {
    if let Some(r) = s.delalloc_rsv {
        return format!("delalloc rsv {}/{}", r.reserved, r.size);
    }
    let held: Vec<String> = s
        .inodes
        .iter()
        .enumerate()
        .filter_map(|(k, i)| {
            let r = i.block_rsv.unwrap_or_default();
            (r.reserved + r.size > 0)
                .then(|| format!("inodes[{k}] block_rsv {}/{}", r.reserved, r.size))
        })
        .collect();
    if held.is_empty() {
        "inode block_rsvs empty".into()
    } else {
        held.join(", ")
    }
}
