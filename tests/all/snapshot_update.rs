//! The optimized model's incremental snapshot (`Model::snapshot_update`, which copies only the
//! parts whose change stamps moved) always equals a whole snapshot taken afresh. The oracle
//! relies on it after every op: a part skipped although it changed would hide a divergence. It
//! also relies on what the update says it wrote: the parts it did not are not checked again.

use delalloc_contract::{Model, Op, PartStamps, Snapshot};
use delalloc_fuzz::generators::{program_from_seed, Level};
use delalloc_optimized::Optimized;

#[test]
fn incremental_snapshots_equal_whole_ones_after_every_op() {
    let mut checked_ops = 0;
    for level in Level::ALL {
        for seed in 0..300 {
            let p = program_from_seed(seed, level);
            let mut m = Optimized::new(&p.geometry);
            // One buffer and its stamps across the whole program, as the oracle keeps them.
            let (mut s, mut seen) = (Snapshot::default(), PartStamps::default());
            for (i, op) in p.ops.iter().chain([&Op::Unmount]).enumerate() {
                m.apply(op);
                let before = s.clone();
                let written = m.snapshot_update(&mut s, &mut seen);
                assert_eq!(
                    s,
                    m.snapshot(),
                    "{level} seed {seed}: after op {i} ({op:?}) the incremental snapshot is stale"
                );
                // What it says it did not write, the oracle neither compares nor checks again.
                let at = || format!("{level} seed {seed}, op {i} ({op:?})");
                if !written.tree {
                    assert_eq!(s.tree, before.tree, "{}: tree written unannounced", at());
                }
                for (k, (now, was)) in s.inodes.iter().zip(&before.inodes).enumerate() {
                    if !written.inode(k) {
                        assert_eq!(now, was, "{}: inodes[{k}] written unannounced", at());
                    }
                }
                if !written.fs {
                    assert_eq!(
                        (s.mounted, s.data, s.meta, s.warnings, s.fs_delalloc_bytes),
                        (
                            before.mounted,
                            before.data,
                            before.meta,
                            before.warnings,
                            before.fs_delalloc_bytes
                        ),
                        "{}: fs-wide fields written unannounced",
                        at()
                    );
                }
                checked_ops += 1;
            }
        }
    }
    assert!(checked_ops > 10_000, "only {checked_ops} ops checked");
}

#[test]
fn a_buffer_from_another_model_is_not_trusted_without_stamps() {
    let p = program_from_seed(7, Level::Fs);
    let (a, b) = (Optimized::new(&p.geometry), Optimized::new(&p.geometry));
    for op in &p.ops {
        a.apply_shared(op);
    }
    // `s` holds a's state; b is fresh. Empty stamps mean "nothing known": a whole snapshot.
    let mut s = a.snapshot();
    let written = b.snapshot_update(&mut s, &mut PartStamps::default());
    assert_eq!(s, b.snapshot());
    assert!(written.tree, "a whole snapshot writes the tree");
    assert!((0..usize::from(p.geometry.inodes)).all(|k| written.inode(k)));
}
