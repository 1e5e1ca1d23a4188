//! The kernel model is in this build: a workspace built without a kernel tree (none named, and
//! scripts/kernel-source.sh never run) compiles, but this test fails and says how to get it,
//! so that the test suite cannot pass without testing the kernel model.

use delalloc_contract::{Geometry, Op, Outcome};

#[test]
fn the_kernel_model_is_built() {
    let build = delalloc_kernel::built().unwrap_or_else(|e| panic!("{e}"));
    assert!(
        !build.release.is_empty() && !build.tree.is_empty(),
        "{build:?}"
    );
    let mut model = delalloc_kernel::model(&Geometry::default());
    let op = Op::SetDelalloc {
        start: 0,
        end: 4095,
    };
    assert_eq!(model.apply(&op), Outcome::Done);
    assert_eq!(model.snapshot().tree.delalloc_bytes, 4096, "{build}");
}
