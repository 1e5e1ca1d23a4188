//! Compiles the kernel's io tree from a Linux source tree against our shims (shim/).
//!
//! The tree: `DELALLOC_KERNEL_SRC=DIR`, else `../target/kernel-src/linux-<v>` with
//! `<v>` = `DELALLOC_KERNEL_VERSION` (default 6.12), which `scripts/kernel-source.sh <v>` fills.
//! What differs between trees (signatures, bit values, hook argument types) is read from the
//! tree's own extent-io-tree.h and passed to the C as `DK_*` macros; nothing is keyed on the
//! version number. No kernel file is copied into the repository: the two files that must sit
//! beside each other for the shims to shadow btrfs headers are copied into OUT_DIR.
//!
//! `DELALLOC_KERNEL_PATCH=FILE` builds a mutant: the unified diff FILE (`-p1`, against the tree's
//! root) is applied to copies of the files it touches, in OUT_DIR, and the build reads those
//! copies; the tree itself is never written. See [`kernel_patch`].

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-env-changed=DELALLOC_KERNEL_SRC");
    println!("cargo:rerun-if-env-changed=DELALLOC_KERNEL_VERSION");
    println!("cargo:rerun-if-env-changed=DELALLOC_KERNEL_ASAN");
    println!("cargo:rerun-if-changed=shim");
    println!("cargo:rerun-if-changed=build.rs");

    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let src = match env::var_os("DELALLOC_KERNEL_SRC") {
        Some(dir) => PathBuf::from(dir),
        None => {
            let v = env::var("DELALLOC_KERNEL_VERSION").unwrap_or_else(|_| "6.12".to_string());
            manifest
                .join("..")
                .join("target")
                .join("kernel-src")
                .join(format!("linux-{v}"))
        }
    };
    let eio_c = src.join("fs/btrfs/extent-io-tree.c");
    let eio_h = src.join("fs/btrfs/extent-io-tree.h");
    let rbtree_c = src.join("lib/rbtree.c");
    for f in [&eio_c, &eio_h, &rbtree_c] {
        if !f.is_file() {
            panic!(
                "\n\ndelalloc-kernel: no kernel tree at {} ({} is missing).\n\
                 Fetch the distribution's source with `scripts/kernel-source.sh [6.1|6.12|all]` \
                 (from the repository root; DELALLOC_KERNEL_VERSION=6.1 picks the 6.1 cache), \
                 or point DELALLOC_KERNEL_SRC=DIR at a Linux source tree.\n\n",
                src.display(),
                f.display()
            );
        }
        println!("cargo:rerun-if-changed={}", f.display());
    }

    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    // A mutant: the patched copies replace the tree's files from here on.
    let kfiles = kernel_patch(&src, &out, COMPILED);
    let (eio_c, eio_h, rbtree_c) = (
        kfiles.path("fs/btrfs/extent-io-tree.c"),
        kfiles.path("fs/btrfs/extent-io-tree.h"),
        kfiles.path("lib/rbtree.c"),
    );
    // The io tree's .c and .h side by side in OUT_DIR: their quoted includes ("ctree.h",
    // "misc.h", ...) then miss their own folder and fall through to shim/btrfs.
    let btrfs = out.join("btrfs");
    fs::create_dir_all(&btrfs).unwrap();
    fs::copy(&eio_c, btrfs.join("extent-io-tree.c")).unwrap();
    fs::copy(&eio_h, btrfs.join("extent-io-tree.h")).unwrap();
    // The real rbtree headers, and only them: any other <linux/...> header must be a shim.
    let kinc = out.join("kinclude/linux");
    fs::create_dir_all(&kinc).unwrap();
    for h in ["rbtree.h", "rbtree_types.h", "rbtree_augmented.h"] {
        let from = src.join("include/linux").join(h);
        if from.is_file() {
            fs::copy(&from, kinc.join(h)).unwrap();
            println!("cargo:rerun-if-changed={}", from.display());
        }
    }

    let header = fs::read_to_string(&eio_h).unwrap();
    let defines = features(&header, &src);
    let mut b = cc::Build::new();
    b.std("gnu11")
        .include(manifest.join("shim/include"))
        .include(manifest.join("shim/btrfs"))
        .include(out.join("kinclude"))
        .include(&btrfs)
        .file(btrfs.join("extent-io-tree.c"))
        .file(&rbtree_c)
        .file(manifest.join("shim/glue.c"))
        .file(manifest.join("shim/hooks_stub.c"))
        .warnings(false)
        .flag_if_supported("-Wno-unused-parameter")
        .flag_if_supported("-fno-strict-aliasing")
        .flag_if_supported("-fno-delete-null-pointer-checks");
    for (k, v) in &defines {
        b.define(k, v.as_deref());
    }
    let sanitize = env::var("CARGO_CFG_SANITIZE").unwrap_or_default();
    if sanitize.contains("address") || env::var_os("DELALLOC_KERNEL_ASAN").is_some() {
        b.flag("-fsanitize=address").flag("-fno-omit-frame-pointer");
    }
    b.compile("delalloc_kernel_c");

    // kernel-source.sh's stamp holds the package's release; any other tree has its Makefile.
    let version = fs::read_to_string(src.join(".extracted"))
        .ok()
        .or_else(|| makefile_version(&src))
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=DELALLOC_KERNEL_TREE={}", src.display());
    println!(
        "cargo:rustc-env=DELALLOC_KERNEL_PATCH_FILE={}",
        kfiles
            .patch
            .as_deref()
            .map_or(String::new(), |p| p.display().to_string())
    );
    println!("cargo:rustc-env=DELALLOC_KERNEL_RELEASE={}", version.trim());
    let list: Vec<String> = defines
        .iter()
        .map(|(k, v)| match v {
            Some(v) => format!("{k}={v}"),
            None => k.clone(),
        })
        .collect();
    println!(
        "cargo:rustc-env=DELALLOC_KERNEL_FEATURES={}",
        list.join(" ")
    );
}

// ---- DELALLOC_KERNEL_PATCH: building a mutant ----

/// The kernel files this build compiles or reads, relative to the tree's root. A patch may touch
/// these and the ones in [`PATCHABLE`]; a patched file not in this list is copied and patched but
/// changes nothing, and the build says so.
const COMPILED: &[&str] = &[
    "fs/btrfs/extent-io-tree.c",
    "fs/btrfs/extent-io-tree.h",
    "lib/rbtree.c",
];

/// Every file a patch may touch. fs/btrfs/inode.c holds the delalloc hooks (mutants of them
/// wait for the hooks to be compiled from it).
const PATCHABLE: &[&str] = &[
    "fs/btrfs/extent-io-tree.c",
    "fs/btrfs/extent-io-tree.h",
    "fs/btrfs/inode.c",
    "lib/rbtree.c",
];

/// Where the build reads a kernel file: the tree, or the patched copy when the patch touched it.
struct KernelFiles {
    src: PathBuf,
    /// The patched copies' root (OUT_DIR/patched) and the patch, when DELALLOC_KERNEL_PATCH is set.
    patched: Option<PathBuf>,
    patch: Option<PathBuf>,
    touched: Vec<String>,
}

impl KernelFiles {
    /// `rel` (relative to the tree's root) as this build must read it.
    fn path(&self, rel: &str) -> PathBuf {
        match &self.patched {
            Some(dir) if self.touched.iter().any(|t| t == rel) => dir.join(rel),
            _ => self.src.join(rel),
        }
    }
}

/// `DELALLOC_KERNEL_PATCH=FILE`: copies the files the unified diff FILE touches from `src` into
/// OUT_DIR/patched (afresh on every run) and applies FILE there with `patch -p1 --batch
/// --forward`. A relative FILE is taken from this crate's directory (where cargo runs build.rs).
/// A patch that does not apply, or touches a file outside [`PATCHABLE`], fails the build with
/// patch's own output. Without the variable the tree's files are used as they are.
fn kernel_patch(src: &Path, out: &Path, compiled: &[&str]) -> KernelFiles {
    println!("cargo:rerun-if-env-changed=DELALLOC_KERNEL_PATCH");
    let unpatched = KernelFiles {
        src: src.to_path_buf(),
        patched: None,
        patch: None,
        touched: Vec::new(),
    };
    let patch = match env::var_os("DELALLOC_KERNEL_PATCH") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => return unpatched,
    };
    let patch = fs::canonicalize(&patch).unwrap_or_else(|e| {
        panic!(
            "\n\ndelalloc-kernel: DELALLOC_KERNEL_PATCH={} cannot be read ({e}; a relative path \
             is taken from {}).\n\n",
            patch.display(),
            env::current_dir().unwrap().display()
        )
    });
    println!("cargo:rerun-if-changed={}", patch.display());
    let text = fs::read_to_string(&patch)
        .unwrap_or_else(|e| panic!("delalloc-kernel: cannot read {}: {e}", patch.display()));
    let touched = diff_targets(&text).unwrap_or_else(|why| {
        panic!(
            "\n\ndelalloc-kernel: DELALLOC_KERNEL_PATCH={} is not a -p1 unified diff this build \
             can apply: {why}\n\n",
            patch.display()
        )
    });
    let dir = out.join("patched");
    if dir.exists() {
        fs::remove_dir_all(&dir).unwrap();
    }
    for rel in &touched {
        if !PATCHABLE.contains(&rel.as_str()) {
            panic!(
                "\n\ndelalloc-kernel: DELALLOC_KERNEL_PATCH={} touches {rel}; a patch may touch \
                 only {}.\n\n",
                patch.display(),
                PATCHABLE.join(", ")
            );
        }
        let from = src.join(rel);
        let to = dir.join(rel);
        fs::create_dir_all(to.parent().unwrap()).unwrap();
        fs::copy(&from, &to).unwrap_or_else(|e| {
            panic!(
                "delalloc-kernel: DELALLOC_KERNEL_PATCH={} touches {rel}, which cannot be \
                 copied from the kernel tree {}: {e}",
                patch.display(),
                src.display()
            )
        });
        println!("cargo:rerun-if-changed={}", from.display());
    }
    let run = std::process::Command::new("patch")
        .args([
            "-p1",
            "--batch",
            "--forward",
            "--no-backup-if-mismatch",
            "-d",
        ])
        .arg(&dir)
        .arg("-i")
        .arg(&patch)
        .env("LC_ALL", "C")
        .output()
        .unwrap_or_else(|e| {
            panic!("delalloc-kernel: DELALLOC_KERNEL_PATCH is set but `patch` cannot be run: {e}")
        });
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    if !run.status.success() {
        panic!(
            "\n\ndelalloc-kernel: the patch {} does not apply to the kernel tree {} \
             (patch -p1 --batch --forward in a copy of its files, {}, {}). patch said:\n{said}\n",
            patch.display(),
            src.display(),
            dir.display(),
            run.status
        );
    }
    if said.contains("fuzz") {
        println!(
            "cargo:warning=delalloc-kernel: {} applied to {} with fuzz: {}",
            patch.display(),
            src.display(),
            said.replace('\n', " | ")
        );
    }
    for rel in &touched {
        if !compiled.contains(&rel.as_str()) {
            println!(
                "cargo:warning=delalloc-kernel: {} changes {rel}, which this build does not \
                 compile: that part of the mutant has no effect here",
                patch.display()
            );
        }
    }
    KernelFiles {
        src: src.to_path_buf(),
        patched: Some(dir),
        patch: Some(patch),
        touched,
    }
}

/// The files (relative to the tree's root, `-p1`) a unified diff changes, in order. Leading text
/// (a mutant's description) is skipped, as `patch` skips it; hunk bodies are skipped by their
/// line counts, so a removed line starting "-- " cannot pass for a file header.
fn diff_targets(text: &str) -> Result<Vec<String>, String> {
    let mut files: Vec<String> = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line.starts_with("--- ") && lines.peek().is_some_and(|l| l.starts_with("+++ ")) {
            let new = lines.next().unwrap();
            let name = |l: &str| l[4..].split('\t').next().unwrap_or("").trim().to_string();
            let (old, new) = (name(line), name(new));
            if old == "/dev/null" || new == "/dev/null" {
                return Err(format!("it creates or deletes a file ({old} -> {new})"));
            }
            let rel = match new.split_once('/') {
                Some((_, rel)) if !rel.is_empty() => rel.to_string(),
                _ => return Err(format!("`{new}` has no leading directory to strip (-p1)")),
            };
            if rel.starts_with('/') || rel.split('/').any(|c| c == "..") {
                return Err(format!("`{new}` leaves the tree"));
            }
            if !files.contains(&rel) {
                files.push(rel);
            }
        } else if let Some(ranges) = line.strip_prefix("@@ -") {
            // "@@ -a[,b] +c[,d] @@": b old lines and d new lines follow.
            let count = |r: &str| -> Option<u64> {
                match r.split_once(',') {
                    Some((_, n)) => n.parse().ok(),
                    None => Some(1),
                }
            };
            let mut parts = ranges.split(' ');
            let old = parts.next().and_then(count);
            let new = parts
                .next()
                .and_then(|r| r.strip_prefix('+'))
                .and_then(count);
            let (Some(mut old), Some(mut new)) = (old, new) else {
                return Err(format!("unreadable hunk header `{line}`"));
            };
            while old > 0 || new > 0 {
                let Some(body) = lines.next() else {
                    return Err(format!("hunk `{line}` ends early"));
                };
                match body.chars().next() {
                    Some('-') => old = old.saturating_sub(1),
                    Some('+') => new = new.saturating_sub(1),
                    Some('\\') => {}
                    // A context line (an empty line is a context line some tools strip).
                    _ => {
                        old = old.saturating_sub(1);
                        new = new.saturating_sub(1);
                    }
                }
            }
        }
    }
    if files.is_empty() {
        return Err("it changes no file (no `--- a/...` / `+++ b/...` header)".to_string());
    }
    Ok(files)
}

/// VERSION.PATCHLEVEL.SUBLEVEL from the tree's Makefile.
fn makefile_version(src: &Path) -> Option<String> {
    let mk = fs::read_to_string(src.join("Makefile")).ok()?;
    let field = |name: &str| {
        mk.lines().find_map(|l| {
            l.strip_prefix(name)?
                .trim_start()
                .strip_prefix('=')
                .map(|v| v.trim().to_string())
        })
    };
    Some(format!(
        "{}.{}.{}",
        field("VERSION")?,
        field("PATCHLEVEL")?,
        field("SUBLEVEL")?
    ))
}

/// The declaration of `func` in `header`: from its name to the next ';' or '{'.
fn declaration<'a>(header: &'a str, func: &str) -> Option<&'a str> {
    let mut from = 0;
    while let Some(i) = header[from..].find(func) {
        let at = from + i;
        let before = header[..at].chars().next_back();
        let after = header[at + func.len()..].trim_start().chars().next();
        if !before.is_some_and(|c| c.is_alphanumeric() || c == '_') && after == Some('(') {
            let rest = &header[at..];
            let end = rest.find([';', '{']).unwrap_or(rest.len());
            // The text before the name on its line holds the return type.
            let line_start = header[..at].rfind('\n').map_or(0, |n| n + 1);
            return Some(&header[line_start..at + end]);
        }
        from = at + func.len();
    }
    None
}

/// The DK_* macros glue.c and the shims are built with, read from what the tree declares.
fn features(h: &str, src: &Path) -> Vec<(String, Option<String>)> {
    let mut d: Vec<(String, Option<String>)> = Vec::new();
    let mut flag = |name: &str, on: bool| {
        if on {
            d.push((name.to_string(), None));
        }
    };
    let decl = |f: &str| declaration(h, f).unwrap_or("");
    flag(
        "DK_INIT_PRIVATE",
        decl("extent_io_tree_init").contains("private_data"),
    );
    flag("DK_SET_GFP", decl("set_extent_bit").contains("gfp_t"));
    flag("DK_CLEAR_GFP", decl("__clear_extent_bit").contains("gfp_t"));
    flag(
        "DK_TRY_LOCK_BITS",
        declaration(h, "__try_lock_extent").is_some(),
    );
    flag(
        "DK_TEST_RANGE_FILLED",
        decl("test_range_bit").contains("filled"),
    );
    // 6.12 keeps the owning inode in the tree (a union with fs_info); 6.1 in private_data.
    flag(
        "DK_TREE_HAS_INODE",
        h.contains("struct btrfs_inode *inode;"),
    );
    // 6.12's test_range_bit / test_range_bit_exists take one bit (`u32 bit`) and ASSERT it.
    flag(
        "DK_TEST_RANGE_ONE_BIT",
        decl("test_range_bit").contains("u32 bit,"),
    );
    flag(
        "DK_COUNT_CACHED",
        decl("count_range_bits").contains("cached"),
    );
    flag(
        "DK_FIND_FIRST_BOOL",
        decl("find_first_extent_bit")
            .trim_start()
            .starts_with("bool"),
    );
    for f in [
        "set_extent_bit",
        "__clear_extent_bit",
        "convert_extent_bit",
        "count_range_bits",
        "test_range_bit",
        "find_first_extent_bit",
        "find_first_clear_extent_bit",
        "btrfs_find_delalloc_range",
        "extent_io_tree_init",
        "extent_io_tree_release",
    ] {
        if declaration(h, f).is_none() {
            panic!("delalloc-kernel: {} declares no {f}(): this tree's io tree API is not one the glue knows", src.display());
        }
    }
    if declaration(h, "__try_lock_extent").is_none() && declaration(h, "try_lock_extent").is_none()
    {
        panic!(
            "delalloc-kernel: {} declares neither __try_lock_extent nor try_lock_extent",
            src.display()
        );
    }
    // Bits: by name, as the header defines them (#define in 6.1, ENUM_BIT in 6.12).
    for name in [
        "DIRTY",
        "WRITEBACK",
        "UPTODATE",
        "LOCKED",
        "DIO_LOCKED",
        "NEW",
        "DELALLOC",
        "DEFRAG",
        "BOUNDARY",
        "NODATASUM",
        "DO_ACCOUNTING",
        "NORESERVE",
        "DELALLOC_NEW",
    ] {
        let n = format!("EXTENT_{name}");
        if h.contains(&format!("#define {n}"))
            || h.contains(&format!("#define\t{n}"))
            || h.contains(&format!("ENUM_BIT({n})"))
        {
            d.push((format!("DK_HAS_{n}"), None));
        }
    }
    // The inode type the delalloc hooks take: 6.12 declares them on struct btrfs_inode (in
    // btrfs_inode.h), 6.1 on the VFS struct inode (in ctree.h).
    let hook_inode = ["btrfs_inode.h", "ctree.h", "inode.c"]
        .iter()
        .filter_map(|f| fs::read_to_string(src.join("fs/btrfs").join(f)).ok())
        .find_map(|text| {
            let decl = declaration(&text, "btrfs_set_delalloc_extent")?;
            let args = &decl[decl.find('(')? + 1..];
            Some(if args.trim_start().starts_with("struct btrfs_inode") {
                "struct btrfs_inode"
            } else {
                "struct inode"
            })
        })
        .unwrap_or_else(|| {
            panic!(
                "delalloc-kernel: found no declaration of btrfs_set_delalloc_extent in {}/fs/btrfs",
                src.display()
            )
        });
    d.push(("DK_HOOK_INODE".to_string(), Some(hook_inode.to_string())));
    d
}
