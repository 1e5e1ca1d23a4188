//! The optimized model alone on generated era-6 programs: SPEC §8 and §8.1 after every op, and
//! everything released after the unmount. Runs before the reference has era C to compare
//! with, and keeps the model honest on its own afterwards (the differential oracle checks the
//! same invariants on both models, but a divergence stops a campaign at the first program).

use delalloc_contract::{Era, Model, Op};
use delalloc_fuzz::generators::{program_from_seed, Dialect, Level};
use delalloc_fuzz::oracles::invariants::check;
use delalloc_optimized::Optimized;

#[test]
fn generated_era_6_programs_keep_the_era_c_invariants() {
    let dialect = Dialect {
        era: Some(Era::V6),
        ..Dialect::ANY
    };
    let mut fs_ops = 0;
    for seed in 0..4000u64 {
        let level = if seed % 2 == 0 {
            Level::Fs
        } else {
            Level::Mixed
        };
        let mut p = program_from_seed(seed, level);
        dialect.adapt(&mut p);
        assert_eq!(p.geometry.era, Era::V6);
        fs_ops += p.ops.iter().filter(|op| op.ino().is_some()).count();
        let mut m = Optimized::new(&p.geometry);
        let ops = p.ops.iter().chain(std::iter::once(&Op::Unmount));
        for (i, op) in ops.enumerate() {
            m.apply(op);
            if let Err(v) = check(&m.snapshot(), &p.geometry) {
                panic!(
                    "seed {seed} op {i} ({op:?}): {v}\n{}",
                    delalloc_contract::text::print_program(&p)
                );
            }
        }
    }
    assert!(fs_ops > 30_000, "only {fs_ops} file-system ops");
}
