//! What this crate was built from, and the kernel model if it was built at all.
//!
//! Without a kernel tree (none named, and `scripts/kernel-source.sh` never run) build.rs
//! compiles no C and sets `cfg(kernel_absent)`: the crate still builds, so that the
//! reference-vs-optimized suite needs nothing from the kernel, and [`built`] says how to get
//! the kernel model.

use delalloc_contract::{Geometry, Model};

/// The kernel tree (and patch) the kernel model was compiled from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Build {
    /// The kernel release, "6.12.118".
    pub release: &'static str,
    /// The tree's path.
    pub tree: &'static str,
    /// The mutant patch applied to a copy of the tree's files, or "".
    pub patch: &'static str,
    /// The tree's test_range_bit takes one bit (6.12), not a mask (6.1).
    pub one_bit_tests: bool,
}

impl std::fmt::Display for Build {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "kernel {} ({}", self.release, self.tree)?;
        if !self.patch.is_empty() {
            write!(f, ", patched with {}", self.patch)?;
        }
        f.write_str(")")
    }
}

/// Why there is no kernel model in this build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotBuilt;

impl std::fmt::Display for NotBuilt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(
            "this build has no kernel model: no kernel tree was found when it was compiled. \
             Run `scripts/kernel-source.sh` (installs and unpacks the distribution's kernel \
             source; `6.1`, `6.12` or `all`) or set DELALLOC_KERNEL_SRC=/path/to/linux, then \
             build again",
        )
    }
}

impl std::error::Error for NotBuilt {}

/// The tree the kernel model was built from.
#[cfg(not(kernel_absent))]
pub fn built() -> Result<Build, NotBuilt> {
    Ok(Build {
        release: crate::KERNEL_RELEASE,
        tree: crate::KERNEL_TREE,
        patch: crate::KERNEL_PATCH,
        one_bit_tests: crate::kernel_has("DK_TEST_RANGE_ONE_BIT"),
    })
}

/// The tree the kernel model was built from: none in this build.
#[cfg(kernel_absent)]
pub fn built() -> Result<Build, NotBuilt> {
    Err(NotBuilt)
}

/// A fresh kernel model of `geometry`. Panics with [`NotBuilt`]'s message in a build without
/// one: callers ask [`built`] first.
pub fn model(geometry: &Geometry) -> Box<dyn Model> {
    #[cfg(not(kernel_absent))]
    {
        Box::new(crate::model::KernelModel::new(geometry))
    }
    #[cfg(kernel_absent)]
    {
        let _ = geometry;
        panic!("{NotBuilt}")
    }
}
