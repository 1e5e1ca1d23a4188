//! `--against kernel` from the command line: the reference against the kernel's own code
//! (kernel/: the io tree and delalloc hooks, and at the fs level delalloc-space.c and
//! block-rsv.c). A campaign agrees at every level, a program's era follows the kernel unless it
//! names one, a kernel WARN is reported with its file:line and shrinks like any divergence, and
//! what the kernel model cannot run is refused with the reason.

use crate::common::cli::{cli, stderr, stdout};

/// A DEFRAG set without DELALLOC: btrfs_set_delalloc_extent WARNs (6.1 and 6.12).
const WARNS: &str = "geometry era=6\nset_bits 0 4095 DELALLOC\nfind_first_bit 0 DELALLOC\nset_bits 8192 12287 DEFRAG\ncount_range_bits 0 65535 DELALLOC max=1M\n";

/// Era B answers 0 for a count of one byte; 6.x counts it (SPEC §1.2).
const ONE_BYTE_COUNT: &str = "set_bits 0 4095 DELALLOC\ncount_range_bits 0 0 DELALLOC max=1M\n";

#[test]
fn kernel_campaigns_of_every_level_agree() {
    for level in ["tree", "fs", "mixed"] {
        kernel_campaign_agrees(level);
    }
}

fn kernel_campaign_agrees(level: &str) {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "fuzz",
        "--against",
        "kernel",
        "--level",
        level,
        "--seconds",
        "2",
        "--seed",
        "11",
        "--json",
        "--out",
        "findings",
    ];
    let o = cli(&args, dir.path());
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(
        v["summary"]["stats"]["programs"].as_u64().unwrap() > 10,
        "{v}"
    );
    assert_eq!(v["summary"]["divergences"], 0, "{v}");
    assert!(
        stderr(&o).contains("the reference against kernel 6."),
        "{}",
        stderr(&o)
    );
}

/// Runs `args` in `dir`: the command must refuse (exit 2) saying `why` on stderr.
fn refused(args: &[&str], dir: &std::path::Path, why: &str) {
    let o = cli(args, dir);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
    assert!(stderr(&o).contains(why), "{args:?}: {}", stderr(&o));
}

#[test]
fn what_the_kernel_model_cannot_run_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let kernel_tree = ["fuzz", "--against", "kernel", "--level", "tree"];
    refused(
        &["fuzz", "--against", "kernel", "--era", "b"],
        d,
        "the kernel model has era 6's rules only",
    );
    let with_bug = [&kernel_tree[..], &["--bug", "merge-hook-era-a"]].concat();
    refused(&with_bug, d, "mutants --against kernel");
    let src = ["fuzz", "--kernel-src", ".", "--level", "tree"];
    refused(&src, d, "--kernel-src is for --against kernel");
    let not_a_tree = [&kernel_tree[..], &["--kernel-src", "."]].concat();
    refused(&not_a_tree, d, "not a Linux source tree");
    let no_patches = ["mutants", "--against", "kernel", "--patches", "nowhere"];
    refused(&no_patches, d, "--patches nowhere");

    std::fs::write(
        d.join("big.txt"),
        "geometry max_extent=8G\nset_bits 0 4095 DELALLOC\n",
    )
    .unwrap();
    refused(&["replay", "--against", "kernel", "big.txt"], d, "");
    let o = cli(&["replay", "--against", "kernel", "big.txt"], d);
    assert!(
        stdout(&o).contains("max_extent 8589934592 is over 2^31"),
        "{}",
        stdout(&o)
    );
    std::fs::write(d.join("wb.txt"), "set_bits 0 4095 WRITEBACK\n").unwrap();
    std::fs::write(d.join("fs.txt"), "buffered_write ino=0 pos=0 len=4K\n").unwrap();
    let o = cli(&["replay", "--against", "kernel", "wb.txt", "fs.txt"], d);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    let out = stdout(&o);
    assert!(
        out.contains("FAIL wb.txt: op 0 (set_bits): ")
            && out.contains("WRITEBACK, which is no io-tree bit in era 6"),
        "{out}"
    );
    assert!(out.contains("PASS fs.txt"), "{out}");
    let o = cli(
        &["mutants", "--against", "kernel", "--patches", "nowhere"],
        d,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--patches nowhere"), "{}", stderr(&o));
}

#[test]
fn a_programs_era_follows_the_kernel_unless_it_names_one() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("default.txt"), ONE_BYTE_COUNT).unwrap();
    std::fs::write(
        d.join("era-b.txt"),
        format!("geometry era=b\n{ONE_BYTE_COUNT}"),
    )
    .unwrap();
    // Valid in era B only (4.x took exclusive bits as an argument): refused, saying how to
    // keep era B.
    std::fs::write(
        d.join("exclusive.txt"),
        "set_bits 0 4095 BOUNDARY exclusive=BOUNDARY\n",
    )
    .unwrap();
    let o = cli(&["replay", "--against", "kernel", "exclusive.txt"], d);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("`era=b` on its geometry line"),
        "{}",
        stdout(&o)
    );
    let o = cli(&["replay", "--against", "kernel", "default.txt"], d);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let o = cli(&["replay", "--against", "kernel", "era-b.txt"], d);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let out = stdout(&o);
    assert!(
        out.contains("reference: count(bytes=0, first_start=0)"),
        "{out}"
    );
    assert!(out.contains("count(bytes=1, first_start=0)"), "{out}");
    assert!(out.contains("kernel 6."), "{out}");
}

#[test]
fn a_kernel_warn_is_traced_reported_and_minimized() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("warns.txt"), WARNS).unwrap();
    // A divergence (the kernel complained): 1, as replay says of it.
    let o = cli(&["trace", "--against", "kernel", "warns.txt"], d);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("trace of reference | kernel"), "{out}");
    assert!(
        out.contains("! kernel: WARN_ON at ") && out.contains("fs/btrfs/inode.c:"),
        "{out}"
    );
    assert!(out.contains("verdict: complained at op 2"), "{out}");

    let o = cli(&["minimize", "--against", "kernel", "warns.txt"], d);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let min = std::fs::read_to_string(d.join("warns.min.txt")).unwrap();
    let ops: Vec<&str> = min
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("geometry") && !l.starts_with("run "))
        .collect();
    assert_eq!(ops, ["set_bits 0 0 DEFRAG"], "{min}");
    assert!(min.contains("era=6"), "the kernel's era is kept: {min}");
    assert!(min.contains("\nrun against=kernel kernel=6."), "{min}");
}
