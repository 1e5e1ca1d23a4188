//! The kernel mutants of corpus/kernel-mutants (see scripts/kernel-mutants.sh) against the tree
//! this crate was built from: each must apply to it, without fuzz (`patch -p1 --dry-run`; the
//! tree is never written), so that a new kernel tree that moves or rewrites a mutated line is
//! noticed here rather than by a mutant silently building as the clean tree. And each says what
//! it is: its header names the mutant, the function, the bug and the bug class.
//!
//! `NAME.<version>.patch` is NAME's variant for that release (6.1 matches 6.1.192); `NAME.patch`
//! is for every release. For a tree no variant names, some variant must apply.

// Without a kernel tree the crate has no KernelTree; tests/built.rs fails instead.
#![cfg(not(kernel_absent))]

use delalloc_kernel::{KERNEL_RELEASE, KERNEL_TREE};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The mutant's name and the release its variant is for (None: every release).
fn split_name(file: &str) -> (String, Option<String>) {
    let stem = file.strip_suffix(".patch").expect("a .patch file");
    // NAME.<digits>.<digits>: a variant.
    let mut parts = stem.rsplitn(3, '.');
    let (minor, major, name) = (parts.next(), parts.next(), parts.next());
    if let (Some(minor), Some(major), Some(name)) = (minor, major, name) {
        let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if numeric(minor) && numeric(major) {
            return (name.to_string(), Some(format!("{major}.{minor}")));
        }
    }
    (stem.to_string(), None)
}

fn for_this_release(version: &str) -> bool {
    KERNEL_RELEASE == version || KERNEL_RELEASE.starts_with(&format!("{version}."))
}

/// `patch --dry-run`'s verdict on `file` against the tree: Ok, or what patch said.
fn dry_run(file: &Path) -> Result<(), String> {
    let out = Command::new("patch")
        .args([
            "-p1",
            "--dry-run",
            "--batch",
            "--forward",
            "-d",
            KERNEL_TREE,
            "-i",
        ])
        .arg(file)
        .env("LC_ALL", "C")
        .output()
        .unwrap_or_else(|e| panic!("cannot run `patch`: {e}"));
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        Err(format!("does not apply ({}): {said}", out.status))
    } else if said.contains("fuzz") {
        Err(format!(
            "applies only with fuzz, so it may land elsewhere: check it still changes the \
             function its header names, and refresh it: {said}"
        ))
    } else {
        Ok(())
    }
}

#[test]
fn every_kernel_mutant_applies_to_this_tree_without_fuzz() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus/kernel-mutants");
    let mut groups: BTreeMap<String, Vec<(Option<String>, PathBuf)>> = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let file = path.file_name().unwrap().to_string_lossy().to_string();
        if !file.ends_with(".patch") {
            continue;
        }
        let (name, version) = split_name(&file);
        groups.entry(name).or_default().push((version, path));
    }
    assert!(groups.len() >= 7, "too few mutants in {}", dir.display());

    let mut failures = Vec::new();
    let mut checked = 0;
    for (name, variants) in &groups {
        for (_, path) in variants {
            if let Err(why) = header_ok(name, path) {
                failures.push(format!("{}: {why}", path.display()));
            }
        }
        let plain: Vec<&PathBuf> = variants
            .iter()
            .filter(|(v, _)| v.is_none())
            .map(|(_, p)| p)
            .collect();
        let mine: Vec<&PathBuf> = variants
            .iter()
            .filter(|(v, _)| v.as_deref().is_some_and(for_this_release))
            .map(|(_, p)| p)
            .collect();
        let chosen = if !plain.is_empty() && variants.len() > 1 {
            failures.push(format!(
                "{name}: both a NAME.patch and NAME.<version>.patch variants"
            ));
            continue;
        } else if !plain.is_empty() {
            plain
        } else if !mine.is_empty() {
            mine
        } else {
            // A release no variant names: one of them must do.
            let fits: Vec<&PathBuf> = variants
                .iter()
                .map(|(_, p)| p)
                .filter(|p| dry_run(p).is_ok())
                .collect();
            if fits.is_empty() {
                failures.push(format!(
                    "{name}: no variant for {KERNEL_RELEASE} and none of {:?} applies",
                    variants.iter().map(|(_, p)| p).collect::<Vec<_>>()
                ));
            } else {
                eprintln!("{name}: no variant names {KERNEL_RELEASE}; {fits:?} applies");
            }
            checked += 1;
            continue;
        };
        for path in chosen {
            checked += 1;
            if let Err(why) = dry_run(path) {
                failures.push(format!("{}: {why}", path.display()));
            }
        }
    }
    eprintln!("{checked} mutants checked against {KERNEL_TREE} ({KERNEL_RELEASE})");
    assert!(
        failures.is_empty(),
        "kernel mutants against {KERNEL_TREE} ({KERNEL_RELEASE}):\n{}",
        failures.join("\n")
    );
}

/// The header before the diff: `Mutant: NAME ...`, then Function, Bug, Resembles, Applies to.
fn header_ok(name: &str, path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let header = &text[..text.find("\n--- ").ok_or("no diff")?];
    let first = header.lines().next().unwrap_or("");
    let named = first
        .strip_prefix("Mutant: ")
        .and_then(|rest| rest.split_whitespace().next());
    if named != Some(name) {
        return Err(format!("the header's first line must be `Mutant: {name}`"));
    }
    for field in ["Function:", "Bug:", "Resembles:", "Applies to:"] {
        if !header.lines().any(|l| l.starts_with(field)) {
            return Err(format!("the header has no `{field}` line"));
        }
    }
    Ok(())
}

#[test]
fn variant_names_split() {
    assert_eq!(split_name("a-b.patch"), ("a-b".to_string(), None));
    assert_eq!(
        split_name("merge.6.12.patch"),
        ("merge".to_string(), Some("6.12".to_string()))
    );
    assert_eq!(
        split_name("merge.6.1.patch"),
        ("merge".to_string(), Some("6.1".to_string()))
    );
    assert_eq!(split_name("x.y.patch"), ("x.y".to_string(), None));
}
