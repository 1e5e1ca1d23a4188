//! Behaviour test of the generators' reach: a short fixed-seed batch of generated
//! programs reaches every geometry band of the coverage table (every inode count, sector size,
//! node size, max_extent and write_chunk band, both eras, ample and little space), every op
//! kind and every op shape, and every row of `fuzz --concurrent`'s table, counted by the same
//! code that prints the tables. Not timed:
//! the seeds are fixed, so it either reaches them or it does not.

use delalloc_fuzz::generators::{program_from_seed, Level};
use delalloc_fuzz::oracles::{differential, stats::Stats, Verdict};
use delalloc_fuzz::report;

/// Fixed, so that a failure reproduces: program i uses seed BASE + i.
const BASE: u64 = 0x0016_0000;

/// Every geometry band, from generation alone (cheap: the rarest band, a 512-byte node, is
/// about one program in 300).
#[test]
fn generated_geometries_reach_every_band() {
    let mut stats = Stats::default();
    for level in [Level::Fs, Level::Mixed] {
        for i in 0..3000 {
            stats.count_geometry(&program_from_seed(BASE + i, level).geometry);
        }
    }
    let missing: Vec<String> = stats
        .geometry_counts()
        .filter(|&(_, _, n)| n == 0)
        .map(|(dim, band, _)| format!("{dim} {band}"))
        .collect();
    assert!(missing.is_empty(), "never generated: {missing:?}");
}

/// Every op kind and every op shape (a multi-chunk write and defrag, a DIO fallback and split,
/// a short copy, a waiting lock, a busy try_lock), run on both models.
#[test]
fn generated_programs_reach_every_kind_and_shape() {
    delalloc_fuzz::oracles::panics::quiet_model_panics();
    let mut stats = Stats::default();
    for i in 0..400 {
        let program = program_from_seed(BASE + i, Level::Mixed);
        match differential::run(&program) {
            Verdict::Agree(s) => stats.merge(&s),
            Verdict::Diverged(d) => panic!("seed {}: {}", BASE + i, report::headline(&d)),
        }
    }
    let kinds: Vec<_> = stats.kind_counts().filter(|&(_, n)| n == 0).collect();
    assert!(kinds.is_empty(), "op kinds never run: {kinds:?}");
    let shapes: Vec<_> = stats.shape_counts().filter(|&(_, n)| n == 0).collect();
    assert!(shapes.is_empty(), "op shapes never run: {shapes:?}");
}

/// The concurrent table's rows (SPEC §10): every task op kind, every inode count and both eras,
/// multi-chunk writes and multi-cluster defrag inside tasks, evict and unmount inside tasks, and
/// a fault injected in the setup, from a fixed batch of generated concurrent programs judged by
/// the schedule oracle.
#[test]
fn generated_concurrent_programs_reach_every_row() {
    use delalloc_fuzz::oracles::linearizable::{self, RaceStats, RACE_ROWS};
    use delalloc_fuzz::oracles::Coverage;
    delalloc_fuzz::oracles::panics::quiet_model_panics();
    let mut stats = RaceStats::default();
    for i in 0..600 {
        let p = delalloc_fuzz::generators::concurrent::program_from_seed(BASE + i);
        match linearizable::run(&p) {
            Verdict::Agree(s) => stats.merge(&s),
            Verdict::Diverged(r) => panic!("seed {}: {}", BASE + i, r.kind.name()),
        }
    }
    let missing: Vec<_> = RACE_ROWS
        .iter()
        .zip(stats.rows)
        .filter(|&(_, n)| n == 0)
        .map(|(row, _)| *row)
        .collect();
    assert!(missing.is_empty(), "rows never reached: {missing:?}");
    let text = stats.text();
    assert!(text.contains("coverage: every row above reached"), "{text}");
}
