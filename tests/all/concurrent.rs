//! The concurrent side (SPEC §10): a fixed-seed batch of generated concurrent programs runs
//! under shuttle with the fixes in place and is accepted; each seed race is caught, minimized and
//! replayed from its text; runs are deterministic; the linearizability search honours real time.

use delalloc_contract::concurrent_text::{parse_concurrent_program, print_concurrent_program};
use delalloc_contract::{ConcurrentProgram, Geometry, Model, Op, OrderedKind, Outcome};
use delalloc_fuzz::generators::concurrent::program_from_seed;
use delalloc_fuzz::oracles::linearizable::run::{OpRecord, RunRecord};
use delalloc_fuzz::oracles::linearizable::search::{Mismatch, OrderSearch};
use delalloc_fuzz::oracles::linearizable::{run, run_with, RejectionKind};
use delalloc_fuzz::oracles::Verdict;
use delalloc_fuzz::shrink::concurrent::minimize;
use delalloc_optimized_shuttle::bugs::{Bug, BugSet};
use delalloc_reference::Reference;

fn corpus(name: &str) -> ConcurrentProgram {
    let path = format!("{}/corpus/concurrent/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    parse_concurrent_program(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The fixed-seed shuttle run of CI: generated concurrent programs, the fixed model.
#[test]
fn fixed_seed_batch_is_accepted() {
    let mut overlapping = 0;
    for seed in 0..400 {
        let p = program_from_seed(seed);
        match run(&p) {
            Verdict::Agree(s) => overlapping += s.overlapping,
            Verdict::Diverged(d) => panic!(
                "seed {seed}:\n{}",
                delalloc_fuzz::report::concurrent::text(&d)
            ),
        }
    }
    // The batch really is concurrent: most runs interleave ops.
    assert!(overlapping > 200, "{overlapping} of 400 runs overlapped");
}

/// The fixed-seed batch reaches every shape SPEC §10 allows in tasks: buffered writes over
/// several write chunks, defrag over several clusters, an evict and an unmount inside a task,
/// and more than 3 inodes (up to 8); an evicted inode is used by no other task.
#[test]
fn fixed_seed_batch_reaches_each_task_shape() {
    let (mut multi_write, mut multi_defrag, mut evict, mut unmount, mut wide) = (0, 0, 0, 0, 0);
    let mut max_inodes = 0;
    for seed in 0..400 {
        let p = program_from_seed(seed);
        let chunk = p.geometry.write_chunk;
        let s = p.geometry.sectorsize;
        max_inodes = max_inodes.max(p.geometry.inodes);
        wide += u32::from(p.geometry.inodes > 3);
        for (t, task) in p.tasks.iter().enumerate() {
            for op in task {
                match *op {
                    Op::BufferedWrite { pos, len, .. } if len > chunk - pos % s => {
                        multi_write += 1;
                    }
                    Op::Defrag { len, .. } if len > chunk => multi_defrag += 1,
                    Op::Evict { ino } => {
                        evict += 1;
                        let others = p.tasks.iter().enumerate().filter(|&(u, _)| u != t);
                        assert!(
                            others.flat_map(|(_, o)| o).all(|o| o.ino() != Some(ino)),
                            "seed {seed}: another task uses evicted inode {ino}"
                        );
                    }
                    Op::Unmount => unmount += 1,
                    _ => {}
                }
            }
        }
    }
    for (what, n) in [
        ("multi-chunk buffered writes", multi_write),
        ("multi-cluster defrags", multi_defrag),
        ("evicts in tasks", evict),
        ("unmounts in tasks", unmount),
        ("programs with more than 3 inodes", wide),
    ] {
        assert!(n >= 5, "{n} {what} in 400 programs");
    }
    assert_eq!(max_inodes, 8);
}

/// Stress programs (no order judged, SPEC §10) take into their tasks what the linearizability
/// oracle cannot judge: faults, free-space changes (small ones too) and multi-chunk ops beside
/// truncates. They are valid, and real threads running them leave every invariant intact.
#[test]
fn stress_programs_put_faults_space_changes_and_multi_chunk_ops_in_tasks() {
    use rand::{rngs::SmallRng, RngCore, SeedableRng};
    let (mut faults, mut space, mut tight, mut multi) = (0, 0, 0, 0);
    for seed in 0..200u64 {
        let mut bytes = vec![0u8; 4096];
        SmallRng::seed_from_u64(seed).fill_bytes(&mut bytes);
        let mut u = arbitrary::Unstructured::new(&bytes);
        let p = delalloc_fuzz::generators::concurrent::stress_program(&mut u, 2, 16)
            .expect("enough bytes");
        assert_eq!(p.validate(), Ok(()), "seed {seed}");
        let chunk = p.geometry.write_chunk;
        for op in p.tasks.iter().flatten() {
            match *op {
                Op::FailNextReservation { .. } => faults += 1,
                Op::SetFreeSpace { data, meta } => {
                    space += 1;
                    tight += u32::from(data < 1 << 20 || meta < 1 << 20);
                }
                Op::BufferedWrite { len, .. } | Op::Defrag { len, .. } if len > chunk => {
                    multi += 1;
                }
                _ => {}
            }
        }
    }
    for (what, n) in [
        ("faults", faults),
        ("free-space changes", space),
        ("tight free-space changes", tight),
        ("multi-chunk writes and defrags", multi),
    ] {
        assert!(n >= 10, "{n} {what} in 200 stress programs");
    }
    let config = delalloc_fuzz::engines::stress::StressConfig {
        seconds: 2,
        threads: 2,
        rounds: 2,
        seed: 5,
    };
    if let Err(f) = delalloc_fuzz::engines::stress::stress(&config) {
        panic!("{}: {}\n{:?}", f.when, f.what, f.program);
    }
}

/// Each race is found in the same fixed seed range, and only with its bug.
#[test]
fn each_seed_race_is_found_only_with_its_bug() {
    for bug in [Bug::RacingReleaseIgnored, Bug::UnlockBeforeSetDelalloc] {
        let found = (0..3000u64).find_map(|seed| {
            let p = program_from_seed(seed);
            run_with(&p, bug.into()).divergence().map(|_| p)
        });
        let p = found.unwrap_or_else(|| panic!("{bug:?} not found in 3000 programs"));
        assert!(
            run(&p).divergence().is_none(),
            "{bug:?}: the fixed model rejects it too"
        );
        // Minimized, printed and parsed back, it still shows the race.
        let m = minimize(&p, |q| run_with(q, bug.into())).expect("diverges");
        assert!(m.size_after <= m.size_before);
        let text = print_concurrent_program(&m.program);
        let back = parse_concurrent_program(&text).expect("round trip");
        assert_eq!(back, m.program);
        assert!(run_with(&back, bug.into()).divergence().is_some(), "{text}");
        assert!(run(&back).divergence().is_none(), "{text}");
    }
}

#[test]
fn the_corpus_races_are_caught_with_the_bugs_and_pass_without() {
    for (file, bug, kind) in [
        (
            "seed003_dio_fallback_vs_buffered_write.txt",
            Bug::UnlockBeforeSetDelalloc,
            "invariant broken",
        ),
        (
            "seed000_failed_reservation_vs_release.txt",
            Bug::RacingReleaseIgnored,
            "invariant broken",
        ),
    ] {
        let p = corpus(file);
        assert!(run(&p).divergence().is_none(), "{file} with the fix");
        let v = run_with(&p, BugSet::from(bug));
        let d = v
            .divergence()
            .unwrap_or_else(|| panic!("{file}: {bug:?} not caught"));
        assert_eq!(d.kind.name(), kind, "{file}");
        let text = delalloc_fuzz::report::concurrent::text(d);
        assert!(text.contains("timeline"), "{text}");
    }
}

/// A failed run (here a panic in the model: an op on an inode the geometry does not have, which
/// validation would refuse) is reported as such, and the runs after it on the same thread are
/// whole again: the persistent shuttle runner starts afresh after a failure.
#[test]
fn a_failed_run_leaves_the_next_runs_whole() {
    let mut broken = parse_concurrent_program(
        "geometry sectorsize=4K nodesize=16K max_extent=16K write_chunk=16K data=1T meta=1T global_rsv=16M inodes=1\n\
         task 0\n  buffered_write ino=0 pos=0 len=4096\n\
         task 1\n  buffered_write ino=0 pos=0 len=4096\n\
         schedule 00\n",
    )
    .expect("a valid program");
    if let Op::BufferedWrite { ino, .. } = &mut broken.tasks[1][0] {
        *ino = 7;
    }
    let good = program_from_seed(3);
    let expected = run::run(&good, BugSet::NONE);
    assert!(expected.failure.is_none(), "{:?}", expected.failure);
    for _ in 0..3 {
        let failed = run::run(&broken, BugSet::NONE);
        let message = failed.failure.as_deref().expect("the run fails");
        assert!(message.contains(" (at "), "{message}");
        let again = run::run(&good, BugSet::NONE);
        assert!(again.failure.is_none(), "{:?}", again.failure);
        assert_eq!(again.ops, expected.ops);
        assert_eq!(again.synced, expected.synced);
        assert_eq!(again.decisions, expected.decisions);
    }
}

/// Defrag gives the inode lock up between clusters (btrfs_defrag_file, SPEC §10), so some
/// schedule runs a whole truncate between two clusters of one defrag; every such run is still
/// accepted. Without the yield there, the truncate (which needs the inode lock) could only run
/// before or after the defrag's clusters.
#[test]
fn a_truncate_can_run_between_two_defrag_clusters() {
    for era in ["", " era=6"] {
        let p = parse_concurrent_program(&format!(
            "geometry sectorsize=4K nodesize=16K max_extent=16K write_chunk=16K data=1T meta=1T global_rsv=16M inodes=1{era}\n\
             setup\n  buffered_write ino=0 pos=0 len=65536\n\
             task 0\n  defrag ino=0 start=0 len=49152\n\
             task 1\n  truncate ino=0 size=20480\n\
             schedule 00\n"
        ))
        .expect("a valid program");
        let mut inside = 0;
        for a in 0u8..4 {
            for b in 0u8..4 {
                let mut q = p.clone();
                q.schedule = vec![a, b, a, b, b, a];
                let record = run::run(&q, BugSet::NONE);
                let d = record.ops[0][0];
                let t = record.ops[1][0];
                if d.invoked < t.invoked && t.returned < d.returned {
                    inside += 1;
                }
                if let Verdict::Diverged(d) = run(&q) {
                    panic!("{}", delalloc_fuzz::report::concurrent::text(&d));
                }
            }
        }
        assert!(
            inside > 0,
            "no schedule ran the truncate inside the defrag{era}"
        );
    }
}

/// Era B keeps seed 004's transient DELALLOC on an O_DIRECT write's range, which 4.4 never sets
/// (SPEC §0). It lives only while the write holds the range's extent lock: a plain DIO sets and
/// clears it without letting the inode lock go, and a falling-back DIO, which lets it go in
/// between (seed 003's window), clears it before unlocking. Writeback, the one op that reads
/// DELALLOC before taking the extent lock, re-checks under the lock, as find_lock_delalloc_range
/// does; so a writeback inside the DIO never acts on that DELALLOC. Every schedule is accepted,
/// and a plain DIO's range only ever holds its own Direct ordered extents.
#[test]
fn a_writeback_inside_an_o_direct_write_never_takes_its_delalloc() {
    for fallback in ["", " fallback"] {
        let p = parse_concurrent_program(&format!(
            "geometry sectorsize=4K nodesize=16K max_extent=64K write_chunk=16K data=1T meta=1T global_rsv=16M inodes=1\n\
             setup\n  buffered_write ino=0 pos=0 len=16384\n\
             task 0\n  direct_write ino=0 pos=16384 len=16384{fallback}\n\
             task 1\n  writeback ino=0 start=0 len=65536\n\
             schedule 00\n"
        ))
        .expect("a valid program");
        let mut inside = 0;
        for a in 0u8..4 {
            for b in 0u8..4 {
                for c in 0u8..4 {
                    let mut q = p.clone();
                    q.schedule = vec![a, b, c, b, a, c, a, b];
                    let record = run::run(&q, BugSet::NONE);
                    let (d, w) = (record.ops[0][0], record.ops[1][0]);
                    if d.invoked < w.invoked && w.returned < d.returned {
                        inside += 1;
                    }
                    let quiescent = record.quiescent.as_ref().expect("the run finished");
                    for oe in &quiescent.inodes[0].ordered {
                        let in_dio = oe.start < 32768 && oe.start + oe.len > 16384;
                        assert!(
                            !fallback.is_empty() || !in_dio || oe.kind == OrderedKind::Direct,
                            "schedule {:?}: {oe:?} over the DIO's range",
                            q.schedule
                        );
                    }
                    if let Verdict::Diverged(d) = run(&q) {
                        panic!("{}", delalloc_fuzz::report::concurrent::text(&d));
                    }
                }
            }
        }
        assert!(
            inside > 0,
            "no schedule ran the writeback inside the DIO{fallback}"
        );
    }
}

#[test]
fn runs_are_deterministic_functions_of_the_program() {
    for seed in [3, 17, 41] {
        let p = program_from_seed(seed);
        let a = run::run(&p, BugSet::NONE);
        let b = run::run(&p, BugSet::NONE);
        assert_eq!(a.ops, b.ops, "seed {seed}");
        assert_eq!(a.synced, b.synced, "seed {seed}");
        assert_eq!(a.decisions, b.decisions, "seed {seed}");
    }
    // A different schedule gives a different interleaving of the same ops.
    let p = corpus("seed003_dio_fallback_vs_buffered_write.txt");
    let runs: Vec<Vec<Vec<OpRecord>>> = (0u8..8)
        .map(|b| {
            let mut q = p.clone();
            q.schedule = vec![b; 8];
            run::run(&q, BugSet::NONE).ops
        })
        .collect();
    assert!(
        runs.iter().any(|r| *r != runs[0]),
        "the schedule bytes never changed the run"
    );
}

#[test]
fn one_task_programs_are_judged_like_sequential_ones() {
    for seed in 0..60 {
        let seq = delalloc_fuzz::generators::program_from_seed(
            seed,
            delalloc_fuzz::generators::Level::Fs,
        );
        let sequential = matches!(
            delalloc_fuzz::oracles::differential::run(&seq),
            Verdict::Agree(_)
        );
        let c = ConcurrentProgram::from_sequential(&seq);
        if c.validate().is_err() {
            continue;
        }
        let concurrent = run(&c).divergence().is_none();
        assert_eq!(sequential, concurrent, "seed {seed}");
    }
}

/// The search respects the run's real-time order: a write that returned before a truncate was
/// invoked cannot be placed after it.
#[test]
fn linearizability_respects_real_time_order() {
    let g = Geometry {
        inodes: 1,
        ..Geometry::default()
    };
    let write = Op::BufferedWrite {
        ino: 0,
        pos: 0,
        len: 4096,
        copied: 4096,
        nocow: false,
    };
    let truncate = Op::Truncate { ino: 0, size: 0 };
    let p = ConcurrentProgram {
        geometry: g,
        setup: Vec::new(),
        tasks: vec![vec![write.clone()], vec![truncate.clone()]],
        schedule: Vec::new(),
    };
    // The state a run ends in when the truncate came last: an empty file.
    let mut r = Reference::new(&g);
    let w = r.apply(&write);
    let t = r.apply(&truncate);
    let quiescent = r.snapshot();
    run::sync(&g, &mut |op| r.apply(op));
    let synced = r.snapshot();
    r.apply(&Op::Unmount);
    let after = r.snapshot();
    let record = |write_span: (usize, usize), truncate_span: (usize, usize)| RunRecord {
        ops: vec![
            vec![OpRecord {
                invoked: write_span.0,
                returned: Some(write_span.1),
                outcome: Some(w),
            }],
            vec![OpRecord {
                invoked: truncate_span.0,
                returned: Some(truncate_span.1),
                outcome: Some(t),
            }],
        ],
        quiescent: Some(quiescent.clone()),
        synced: Some(synced.clone()),
        unmount: Some(Outcome::Done),
        after_unmount: Some(after.clone()),
        ..RunRecord::default()
    };
    let start = Reference::new(&g);
    // Overlapping: the truncate may go last.
    assert!(matches!(
        delalloc_fuzz::oracles::linearizable::search::search(&p, &record((0, 3), (1, 2)), &start),
        OrderSearch::Linearizable { .. }
    ));
    // The truncate returned before the write began: only "truncate, write" is allowed, and it
    // leaves a 4 KiB file, not the empty one the run claims.
    match delalloc_fuzz::oracles::linearizable::search::search(&p, &record((2, 3), (0, 1)), &start)
    {
        OrderSearch::NotLinearizable { nearest, .. } => {
            assert_eq!(nearest.order, vec![(1, 0), (0, 0)]);
            assert!(
                matches!(&nearest.mismatch, Mismatch::State { fields } if fields.iter().any(|f| f.field == "inodes[0].i_size")),
                "{:?}",
                nearest.mismatch
            );
        }
        other => panic!("{other:?}"),
    }
}

/// A sequential bug shows in a concurrent run too: here as a state no order explains (O_DIRECT
/// leaving DIRTY|UPTODATE states behind, seed 004), with the nearest order in the report.
#[test]
fn a_wrong_state_is_rejected_with_the_nearest_order() {
    let text = "geometry inodes=1\ntask 0\n  direct_write ino=0 pos=0 len=4K\ntask 1\n  commit\nschedule 0001\n";
    let p = parse_concurrent_program(text).expect("valid");
    assert!(run(&p).divergence().is_none());
    let v = run_with(&p, Bug::DioSetsDirtyUptodate.into());
    let d = v.divergence().expect("caught");
    assert_eq!(d.kind, RejectionKind::NotLinearizable);
    let nearest = d.nearest.as_ref().expect("an order was tried");
    assert_eq!(nearest.order.len(), 2);
    assert!(
        matches!(&nearest.mismatch, Mismatch::State { fields } if fields.iter().any(|f| f.field == "inodes[0].records")),
        "{:?}",
        nearest.mismatch
    );
    let report = delalloc_fuzz::report::concurrent::text(d);
    assert!(
        report.contains("nearest sequential order tried"),
        "{report}"
    );
    assert!(report.contains("inodes[0].records"), "{report}");
}

/// Every file of corpus/concurrent/ is accepted with the fixes in place (the two seed races
/// above are checked with their bugs as well).
#[test]
fn the_concurrent_corpus_passes() {
    let dir = format!("{}/corpus/concurrent", env!("CARGO_MANIFEST_DIR"));
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let p = parse_concurrent_program(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        if let Some(d) = run(&p).divergence() {
            panic!("{path:?}:\n{}", delalloc_fuzz::report::concurrent::text(d));
        }
        n += 1;
    }
    assert!(n >= 3, "{n} files");
}
