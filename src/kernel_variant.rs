//! This binary built on another kernel tree, or on its own tree with a patch applied.
//!
//! The kernel model is compiled from a Linux tree when this crate is built (kernel/build.rs
//! reads `DELALLOC_KERNEL_SRC` and `DELALLOC_KERNEL_PATCH`), so running against another tree, or
//! against a mutant of this one, means another build. Variants are built with cargo from this
//! crate's own sources into one shared target directory, `target/kernel-variants` (so only the
//! kernel crate and this one recompile between variants), and each binary is copied out under
//! a name of its own, so that building the next variant never changes one in use.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Set in a variant's environment: a variant never builds another one.
pub const VARIANT_ENV: &str = "DELALLOC_FUZZ_KERNEL_VARIANT";

/// Which kernel sources a variant is built from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Variant {
    /// The tree (`DELALLOC_KERNEL_SRC`); `None`: the tree this binary was built from.
    pub src: Option<PathBuf>,
    /// A patch applied to a copy of the tree's files (`DELALLOC_KERNEL_PATCH`).
    pub patch: Option<PathBuf>,
}

impl Variant {
    /// A short name for the variant's binary: the patch's file stem, or the tree's folder name.
    pub fn name(&self) -> String {
        let name = |p: Option<&std::ffi::OsStr>| {
            p.map_or(String::new(), |s| s.to_string_lossy().into_owned())
        };
        match (&self.src, &self.patch) {
            (_, Some(patch)) => format!("patch-{}", name(patch.file_stem())),
            (Some(src), None) => format!("tree-{}", name(src.file_name())),
            (None, None) => "clean".into(),
        }
    }
}

/// The repository this binary was built from (its Cargo.toml's folder).
pub fn source_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The tree this binary's kernel model was built from, if it has one.
pub fn built_tree() -> Option<PathBuf> {
    delalloc_kernel::built().ok().map(|b| PathBuf::from(b.tree))
}

/// Whether `dir` is the tree this binary was built from.
pub fn is_built_tree(dir: &Path) -> bool {
    let canon = |p: &Path| std::fs::canonicalize(p).ok();
    built_tree().is_some_and(|t| canon(&t).is_some() && canon(&t) == canon(dir))
}

/// Builds `variant` (release profile) and returns its binary. Progress goes to stderr; the
/// error says what failed, with cargo's own output when the build broke.
pub fn build(variant: &Variant) -> Result<PathBuf, String> {
    if std::env::var_os(VARIANT_ENV).is_some() {
        return Err(
            "this binary is itself a kernel variant and does not build others (run the \
             repository's own build)"
                .into(),
        );
    }
    let root = source_root();
    if !root.join("Cargo.toml").is_file() {
        return Err(format!(
            "building a kernel variant needs this binary's sources, and {} has no Cargo.toml",
            root.display()
        ));
    }
    let src = match &variant.src {
        Some(src) => absolute(src)?,
        None => built_tree().ok_or(
            "this binary has no kernel model to take the tree from: give --kernel-src DIR",
        )?,
    };
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    let target = root.join("target/kernel-variants");
    cmd.args([
        "build",
        "--release",
        "--bin",
        "delalloc-fuzz",
        "--manifest-path",
    ])
    .arg(root.join("Cargo.toml"))
    .env("CARGO_TARGET_DIR", &target)
    .env("DELALLOC_KERNEL_SRC", &src)
    .env_remove("DELALLOC_KERNEL_VERSION");
    match &variant.patch {
        Some(patch) => cmd.env("DELALLOC_KERNEL_PATCH", absolute(patch)?),
        None => cmd.env_remove("DELALLOC_KERNEL_PATCH"),
    };
    eprintln!(
        "kernel variant {}: building against {}{}",
        variant.name(),
        src.display(),
        variant
            .patch
            .as_ref()
            .map_or(String::new(), |p| format!(" with {}", p.display()))
    );
    let out = crate::interrupt::output(&mut cmd)
        .map_err(|e| format!("cannot run cargo to build the kernel variant: {e}"))?;
    if !out.status.success() {
        let log = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        return Err(format!(
            "building kernel variant {} failed ({}):\n{}",
            variant.name(),
            out.status,
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        ));
    }
    let bins = target.join("bin");
    std::fs::create_dir_all(&bins).map_err(|e| format!("{}: {e}", bins.display()))?;
    let bin = bins.join(format!("delalloc-fuzz-{}", variant.name()));
    std::fs::copy(target.join("release/delalloc-fuzz"), &bin)
        .map_err(|e| format!("copying the variant to {}: {e}", bin.display()))?;
    Ok(bin)
}

fn absolute(p: &Path) -> Result<PathBuf, String> {
    std::fs::canonicalize(p).map_err(|e| format!("{}: {e}", p.display()))
}

/// This process's arguments without `--kernel-src DIR` / `--kernel-src=DIR`: what a variant
/// built on DIR is run with.
pub fn args_without_kernel_src() -> Vec<std::ffi::OsString> {
    let mut out = Vec::new();
    let mut args = std::env::args_os().skip(1);
    while let Some(a) = args.next() {
        if a == "--kernel-src" {
            args.next();
        } else if !a.to_string_lossy().starts_with("--kernel-src=") {
            out.push(a);
        }
    }
    out
}

/// Runs this command again on a build against `src`: the exit code it gave.
pub fn rerun_on(src: &Path) -> Result<u8, String> {
    if !src.join("fs/btrfs/extent-io-tree.c").is_file() {
        return Err(format!(
            "--kernel-src {}: not a Linux source tree (no fs/btrfs/extent-io-tree.c)",
            src.display()
        ));
    }
    let bin = build(&Variant {
        src: Some(src.to_path_buf()),
        patch: None,
    })?;
    let status = crate::interrupt::status(
        Command::new(&bin)
            .args(args_without_kernel_src())
            .env(VARIANT_ENV, "1"),
    )
    .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    Ok(status
        .code()
        .and_then(|c| u8::try_from(c).ok())
        .unwrap_or(2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_are_named_by_patch_or_tree_folder() {
        let tree = Variant {
            src: Some(PathBuf::from("target/kernel-src/linux-6.1")),
            patch: None,
        };
        assert_eq!(tree.name(), "tree-linux-6.1");
        let mutant = Variant {
            src: None,
            patch: Some(PathBuf::from(
                "corpus/kernel-mutants/merge-ignores-locked.6.12.patch",
            )),
        };
        assert_eq!(mutant.name(), "patch-merge-ignores-locked.6.12");
        assert_eq!(Variant::default().name(), "clean");
    }

    #[test]
    fn a_directory_without_the_io_tree_is_not_a_kernel_tree() {
        let dir = tempfile::tempdir().unwrap();
        let e = rerun_on(dir.path()).unwrap_err();
        assert!(e.contains("not a Linux source tree"), "{e}");
    }
}
