//! Compiles the kernel's io tree and its delalloc hooks from a Linux source tree against our
//! shims (shim/).
//!
//! The tree: `DELALLOC_KERNEL_SRC=DIR`, else `../target/kernel-src/linux-<v>` with
//! `<v>` = `DELALLOC_KERNEL_VERSION` (default 6.12), which `scripts/kernel-source.sh <v>` fills.
//! What differs between trees (signatures, bit values, hook argument types, exclusive bits) is
//! read from the tree's own extent-io-tree.h and extent-io-tree.c and passed to the C as `DK_*`
//! macros (`features`, `unity_features`); nothing is keyed on the version number. No kernel file is copied into the repository: the two files that must sit
//! beside each other for the shims to shadow btrfs headers are copied into OUT_DIR.
//!
//! Two generated C files (OUT_DIR only, never committed):
//! - `dk_unity.c` (`unity_source`): `#include`s the io tree's extent-io-tree.c and then our
//!   shim/glue.c, so that the glue can call the file's static `__set_extent_bit` with a
//!   failed_start (the kernel's set_extent_bit cannot take LOCKED);
//! - `dk_inode_hooks.c` (`hooks_source`): the kernel's four delalloc hooks
//!   (btrfs_{set,clear,merge,split}_delalloc_extent) extracted **by name** from the tree's
//!   fs/btrfs/inode.c, whole bodies with balanced braces, together with every function of
//!   inode.c they call (found the same way, transitively: btrfs_add_delalloc_inode(s),
//!   btrfs_del_delalloc_inode, __btrfs_del_delalloc_inode, whatever the tree has) and the
//!   static inlines `HEADER_INLINES` names from the headers. Each function keeps its file and
//!   line (`#line`), so a WARN in it reports inode.c:line. A function not found fails the
//!   build, naming it and the file. Everything else they call is a shim of ours (shim/btrfs).
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

    println!("cargo:rustc-check-cfg=cfg(kernel_absent)");
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    if let Some(default) = absent_default_tree(&manifest) {
        // No tree named and none unpacked: the crate builds without the kernel model, so that
        // the rest of the workspace needs nothing from the kernel (`delalloc_kernel::built()`
        // then says how to get it). A tree that was named but is broken still fails below.
        // Watch the cache folder (made empty here if need be), so that the build notices when
        // kernel-source.sh unpacks a tree into it.
        let cache = default.parent().expect("the default tree has a parent");
        fs::create_dir_all(cache).unwrap_or_else(|e| panic!("{}: {e}", cache.display()));
        println!("cargo:rerun-if-changed={}", cache.display());
        println!("cargo:rustc-cfg=kernel_absent");
        println!(
            "cargo:warning=no kernel tree at {}: building without the kernel model (run scripts/kernel-source.sh, or set DELALLOC_KERNEL_SRC)",
            default.display()
        );
        return;
    }
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

    // delalloc-space.c is compiled as it is, from a copy beside the io tree's (so that its
    // quoted includes fall through to the shims too); the two headers of the tree it and the
    // shims include that need no shim (delalloc-space.h, block-rsv.h) are copied with it.
    for rel in [
        "fs/btrfs/delalloc-space.c",
        "fs/btrfs/delalloc-space.h",
        "fs/btrfs/block-rsv.h",
    ] {
        let from = kfiles.path(rel);
        println!("cargo:rerun-if-changed={}", from.display());
        let name = Path::new(rel).file_name().unwrap();
        fs::copy(&from, btrfs.join(name)).unwrap_or_else(|e| {
            panic!(
                "delalloc-kernel: cannot copy {} from the kernel tree {}: {e}",
                from.display(),
                src.display()
            )
        });
    }

    let header = fs::read_to_string(&eio_h).unwrap();
    let mut defines = features(&header, &src);
    let eio_text = fs::read_to_string(&eio_c).unwrap();
    defines.extend(unity_features(&eio_text, &header, &src));
    defines.extend(space_features(&kfiles));
    let unity = unity_source(&out, &manifest);
    let mut extracted = header_inlines(&kfiles, &out);
    extracted.extend(space_info_inlines(&kfiles, &out));
    let (hooks, names) = extracted_source(
        &src,
        &kfiles.path("fs/btrfs/inode.c"),
        &HOOKS,
        "dk_inode_c.h",
        &out,
        "dk_inode_hooks.c",
    );
    extracted.extend(names);
    let (block_rsv, names) = extracted_source(
        &src,
        &kfiles.path("fs/btrfs/block-rsv.c"),
        &BLOCK_RSV_FUNCS,
        "dk_block_rsv_c.h",
        &out,
        "dk_block_rsv.c",
    );
    extracted.extend(names);
    println!(
        "cargo:rustc-env=DELALLOC_KERNEL_EXTRACTED={}",
        extracted.join(" ")
    );
    let mut b = cc::Build::new();
    b.std("gnu11")
        .include(manifest.join("shim/include"))
        .include(manifest.join("shim/btrfs"))
        .include(out.join("kinclude"))
        .include(&btrfs)
        .include(&out)
        .file(&unity)
        .file(&hooks)
        .file(&block_rsv)
        .file(btrfs.join("delalloc-space.c"))
        .file(&rbtree_c)
        .file(manifest.join("shim/stubs.c"))
        .file(manifest.join("shim/space.c"))
        .warnings(false)
        .flag_if_supported("-Wno-unused-parameter")
        .flag_if_supported("-fno-strict-aliasing")
        .flag_if_supported("-fno-delete-null-pointer-checks")
        .flag_if_supported("-Werror=implicit-function-declaration")
        // A WARN in the files compiled from their copies in OUT_DIR/btrfs names the tree's file.
        .flag_if_supported(format!(
            "-fmacro-prefix-map={}={}",
            btrfs.display(),
            shown(&src.join("fs/btrfs")).display()
        ));
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
/// the ones in [`PATCHABLE`]; a patched file not in this list would be copied and patched but
/// change nothing, and the build would say so.
const COMPILED: &[&str] = &[
    "fs/btrfs/extent-io-tree.c",
    "fs/btrfs/extent-io-tree.h",
    "fs/btrfs/inode.c",
    "fs/btrfs/delalloc-space.c",
    "fs/btrfs/delalloc-space.h",
    "fs/btrfs/block-rsv.c",
    "fs/btrfs/block-rsv.h",
    "fs/btrfs/space-info.h",
    "fs/btrfs/btrfs_inode.h",
    "fs/btrfs/fs.h",
    "fs/btrfs/ctree.h",
    "fs/btrfs/misc.h",
    "lib/rbtree.c",
];

/// Every file a patch may touch: the ones the build compiles or reads ([`COMPILED`]).
/// fs/btrfs/inode.c holds the delalloc hooks; the headers hold the static inlines taken from
/// them (HEADER_INLINES, the space-info.h helpers).
const PATCHABLE: &[&str] = COMPILED;

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

/// The default tree's path when nothing names a tree (no DELALLOC_KERNEL_SRC, _VERSION or
/// _PATCH) and kernel-source.sh has not unpacked it; `None` when a tree is named or present.
fn absent_default_tree(manifest: &Path) -> Option<PathBuf> {
    let named = [
        "DELALLOC_KERNEL_SRC",
        "DELALLOC_KERNEL_VERSION",
        "DELALLOC_KERNEL_PATCH",
    ]
    .iter()
    .any(|v| env::var_os(v).is_some());
    let default = manifest.join("../target/kernel-src/linux-6.12");
    (!named && !default.join("fs/btrfs/extent-io-tree.c").is_file()).then_some(default)
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

/// The DK_* macros of the space-info shim, read from the tree's fs/btrfs/space-info.h:
/// `DK_RESERVE_META_BLOCK_RSV` when btrfs_reserve_metadata_bytes takes the block reservation
/// (6.1) rather than its space info (6.12).
fn space_features(kfiles: &KernelFiles) -> Vec<(String, Option<String>)> {
    let path = kfiles.path("fs/btrfs/space-info.h");
    let h = read_kernel_file(&path, "the space-info declarations are read from it");
    let decl = declaration(&h, "btrfs_reserve_metadata_bytes").unwrap_or_else(|| {
        panic!(
            "delalloc-kernel: {} declares no btrfs_reserve_metadata_bytes()",
            path.display()
        )
    });
    let mut d = Vec::new();
    if decl.contains("struct btrfs_block_rsv") {
        d.push(("DK_RESERVE_META_BLOCK_RSV".to_string(), None));
    } else if !decl.contains("struct btrfs_space_info") {
        panic!(
            "delalloc-kernel: {}'s btrfs_reserve_metadata_bytes takes neither a block \
             reservation nor a space info: `{decl}`",
            path.display()
        );
    }
    d
}

// ---- the unity build: extent-io-tree.c and the glue in one translation unit ----

/// Writes OUT_DIR/dk_unity.c: the tree's extent-io-tree.c (its copy in OUT_DIR/btrfs, so its
/// quoted includes fall through to the shims), then shim/glue.c and shim/fs_glue.c, in one
/// translation unit, so that the glue can call the file's static functions
/// (`__set_extent_bit`).
fn unity_source(out: &Path, manifest: &Path) -> PathBuf {
    let text = format!(
        "/* Generated by delalloc-kernel's build.rs: the kernel's io tree and our glue in one\n \
         * translation unit. Not committed: the kernel file is read from the tree. */\n\
         #include \"{}\"\n#include \"{}\"\n#include \"{}\"\n",
        c_string(&out.join("btrfs/extent-io-tree.c").display().to_string()),
        c_string(&manifest.join("shim/glue.c").display().to_string()),
        c_string(&manifest.join("shim/fs_glue.c").display().to_string()),
    );
    let path = out.join("dk_unity.c");
    fs::write(&path, text).unwrap();
    path
}

/// The DK_* macros of the unity build, read from the tree's extent-io-tree.c (its static
/// `__set_extent_bit`) and extent-io-tree.h, never from a version number:
/// - `DK_RAW_SET_FAILED_STATE`, `DK_RAW_SET_GFP`: what `__set_extent_bit` takes besides
///   failed_start (6.12: a failed_state; 6.1: a gfp mask);
/// - `DK_EXCLUSIVE_BITS=<mask>`: the bits `__set_extent_bit` treats as exclusive, as its body
///   computes them (`exclusive_bits = (bits & <mask>)`: EXTENT_LOCKED in 6.1,
///   EXTENT_LOCK_BITS in 6.12);
/// - `DK_HAS_EXTENT_CLEAR_ALL_BITS`: clear's `delete` is that bit (required);
/// - `DK_HAS_SET_EXTENT_DELALLOC`: the header has the inline set_extent_delalloc (6.1);
/// - `DK_FREE_STATE_BTRFS`: the state is freed by `btrfs_free_extent_state` rather than
///   `free_extent_state`.
fn unity_features(c: &str, h: &str, src: &Path) -> Vec<(String, Option<String>)> {
    let file = src.join("fs/btrfs/extent-io-tree.c");
    let masked = mask_c(c);
    let set = find_function(c, &masked, "__set_extent_bit").unwrap_or_else(|| {
        panic!(
            "delalloc-kernel: found no definition of __set_extent_bit in {}",
            file.display()
        )
    });
    let mut d: Vec<(String, Option<String>)> = Vec::new();
    let mut flag = |name: &str, on: bool| {
        if on {
            d.push((name.to_string(), None));
        }
    };
    flag(
        "DK_RAW_SET_FAILED_STATE",
        set.prototype.contains("failed_state"),
    );
    flag("DK_RAW_SET_GFP", set.prototype.contains("gfp_t"));
    if set.prototype.contains("exclusive_bits") {
        panic!(
            "delalloc-kernel: {}'s __set_extent_bit takes the exclusive bits as an argument; \
             the glue knows only trees that derive them from the bits set",
            file.display()
        );
    }
    let exclusive = exclusive_bits(&set.masked_body).unwrap_or_else(|| {
        panic!(
            "delalloc-kernel: {}'s __set_extent_bit has no `exclusive_bits = (bits & MASK)`",
            file.display()
        )
    });
    // `delete` is a bit in 6.1 and 6.12 (and wake is derived from the lock bits cleared);
    // older trees took both as arguments of __clear_extent_bit, which the glue does not know.
    if !h.contains("EXTENT_CLEAR_ALL_BITS") {
        panic!(
            "delalloc-kernel: {} has no EXTENT_CLEAR_ALL_BITS: no way the glue knows to clear \
             a range regardless of its bits",
            src.display()
        );
    }
    flag("DK_HAS_EXTENT_CLEAR_ALL_BITS", true);
    flag(
        "DK_HAS_SET_EXTENT_DELALLOC",
        declaration(h, "set_extent_delalloc").is_some(),
    );
    flag(
        "DK_FREE_STATE_BTRFS",
        declaration(h, "btrfs_free_extent_state").is_some(),
    );
    d.push((
        "DK_EXCLUSIVE_BITS".to_string(),
        Some(format!("({exclusive})")),
    ));
    d
}

/// The mask of `exclusive_bits = (bits & MASK);` in a (masked) function body, without spaces
/// ("EXTENT_LOCK_BITS").
fn exclusive_bits(body: &str) -> Option<String> {
    let at = body.find("exclusive_bits =")?;
    let expr = &body[at + "exclusive_bits =".len()..];
    let expr = &expr[..expr.find(';')?];
    let expr: String = expr.chars().filter(|c| !c.is_whitespace()).collect();
    let inner = expr.strip_prefix('(')?.strip_suffix(')')?;
    let mask = inner.strip_prefix("bits&")?;
    let ok = !mask.is_empty()
        && mask
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '|' || c == '(' || c == ')');
    ok.then(|| mask.to_string())
}

// ---- kernel functions extracted by name from the tree ----

/// The hooks extent-io-tree.c calls for an inode's tree: extracted from fs/btrfs/inode.c.
const HOOKS: [&str; 4] = [
    "btrfs_set_delalloc_extent",
    "btrfs_clear_delalloc_extent",
    "btrfs_merge_delalloc_extent",
    "btrfs_split_delalloc_extent",
];

/// The functions of fs/btrfs/block-rsv.c the model uses (with whatever of block-rsv.c they
/// call, transitively). The file is not compiled whole: its other functions
/// (btrfs_update_global_block_rsv, btrfs_use_block_rsv, btrfs_init_root_block_rsv,
/// btrfs_init_global_block_rsv, ...) read root items, the global roots' rbtree, transaction
/// handles and mount options, none of which exists here.
const BLOCK_RSV_FUNCS: [&str; 9] = [
    "btrfs_init_block_rsv",
    "btrfs_init_metadata_block_rsv",
    "btrfs_block_rsv_add",
    "btrfs_block_rsv_add_bytes",
    "btrfs_block_rsv_use_bytes",
    "btrfs_block_rsv_migrate",
    "btrfs_block_rsv_release",
    "block_rsv_release_bytes",
    "btrfs_release_global_block_rsv",
];

/// Static inlines of the btrfs headers the compiled code calls (the hooks, delalloc-space.c)
/// that are taken from the tree rather than shimmed, each with the headers to look in (the
/// first that defines it wins): 6.12 keeps them in btrfs_inode.h and fs.h, 6.1 in ctree.h.
const HEADER_INLINES: [(&str, &[&str]); 5] = [
    ("btrfs_mod_outstanding_extents", &["btrfs_inode.h"]),
    ("count_max_extents", &["fs.h", "ctree.h", "misc.h"]),
    ("btrfs_csum_bytes_to_leaves", &["fs.h", "ctree.h"]),
    ("btrfs_calc_insert_metadata_size", &["fs.h", "ctree.h"]),
    ("btrfs_calc_metadata_size", &["fs.h", "ctree.h"]),
];

/// `p` as reports print it: without "kernel/../" (lexically, so a symlinked tree keeps the
/// name it was given).
fn shown(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir if out.file_name().is_some() => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}

/// `#line N "file"` before a text taken from `path` at line `line`.
fn line_marker(path: &Path, line: usize) -> String {
    format!(
        "\n#line {} \"{}\"\n",
        line,
        c_string(&shown(path).display().to_string())
    )
}

fn read_kernel_file(path: &Path, why: &str) -> String {
    println!("cargo:rerun-if-changed={}", path.display());
    fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "delalloc-kernel: cannot read {} ({e}); {why}",
            path.display()
        )
    })
}

/// Writes OUT_DIR/dk_header_inlines.h: [`HEADER_INLINES`] as the tree defines them, each behind
/// a `#line` naming its header. Our shim/btrfs/btrfs_inode.h includes it at its end.
fn header_inlines(kfiles: &KernelFiles, out: &Path) -> Vec<String> {
    let mut c = String::from(
        "/* Generated by delalloc-kernel's build.rs: static inlines of the tree's btrfs headers,\n \
         * extracted by name (HEADER_INLINES). Not committed. */\n\
         #ifndef DK_HEADER_INLINES_H\n#define DK_HEADER_INLINES_H\n",
    );
    let mut names = Vec::new();
    for (name, files) in HEADER_INLINES {
        let hit = files.iter().find_map(|f| {
            let path = kfiles.path(&format!("fs/btrfs/{f}"));
            let text = fs::read_to_string(&path).ok()?;
            println!("cargo:rerun-if-changed={}", path.display());
            let masked = mask_c(&text);
            find_function(&text, &masked, name).map(|func| (path, func))
        });
        let Some((path, f)) = hit else {
            panic!(
                "delalloc-kernel: found no definition of {name}() in {}/fs/btrfs (looked in {})",
                kfiles.src.display(),
                files.join(", ")
            )
        };
        c.push_str(&line_marker(&path, f.line));
        c.push_str(&f.text);
        c.push('\n');
        names.push(f.name);
    }
    c.push_str("#endif\n");
    fs::write(out.join("dk_header_inlines.h"), c).unwrap();
    names
}

/// Writes OUT_DIR/dk_space_info_inlines.h from the tree's fs/btrfs/space-info.h: the
/// `DECLARE_SPACE_INFO_UPDATE` macro, every instantiation of it
/// (btrfs_space_info_update_bytes_may_use, ...), and the static inline
/// `btrfs_space_info_free_bytes_may_use`, each behind a `#line`. Our shim/btrfs/space-info.h
/// includes it after its struct. A tree that has them elsewhere fails the build, naming them.
fn space_info_inlines(kfiles: &KernelFiles, out: &Path) -> Vec<String> {
    let path = kfiles.path("fs/btrfs/space-info.h");
    let text = read_kernel_file(&path, "the space-info helpers are extracted from it");
    let masked = mask_c(&text);
    let mut c = String::from(
        "/* Generated by delalloc-kernel's build.rs: the space-info.h helpers of the tree,\n \
         * extracted by name (space_info_inlines). Not committed. */\n\
         #ifndef DK_SPACE_INFO_INLINES_H\n#define DK_SPACE_INFO_INLINES_H\n",
    );
    let macro_name = "DECLARE_SPACE_INFO_UPDATE";
    let (line, def) = find_macro(&text, &masked, macro_name).unwrap_or_else(|| {
        panic!(
            "delalloc-kernel: {} defines no {macro_name} macro (the space info update helpers)",
            path.display()
        )
    });
    c.push_str(&line_marker(&path, line));
    c.push_str(&def);
    let mut names = vec![macro_name.to_string()];
    // Its instantiations: top-level lines `DECLARE_SPACE_INFO_UPDATE(name, "trace");`.
    let mut offset = 0;
    for (i, l) in masked.lines().enumerate() {
        if l.starts_with(&format!("{macro_name}(")) {
            let end = masked[offset..]
                .find(';')
                .map_or(masked.len(), |e| offset + e + 1);
            c.push_str(&line_marker(&path, i + 1));
            c.push_str(&text[offset..end]);
            c.push('\n');
            let inner = &l[macro_name.len() + 1..];
            names.push(format!(
                "btrfs_space_info_update_{}",
                inner.split(',').next().unwrap_or("").trim()
            ));
        }
        offset += l.len() + 1;
    }
    if names.len() == 1 {
        panic!(
            "delalloc-kernel: {} never instantiates {macro_name}",
            path.display()
        );
    }
    let name = "btrfs_space_info_free_bytes_may_use";
    let f = find_function(&text, &masked, name).unwrap_or_else(|| {
        panic!(
            "delalloc-kernel: found no definition of {name}() in {}",
            path.display()
        )
    });
    c.push_str(&line_marker(&path, f.line));
    c.push_str(&f.text);
    c.push_str("\n#endif\n");
    names.push(f.name);
    fs::write(out.join("dk_space_info_inlines.h"), c).unwrap();
    names
}

/// The `#define name(...)` of `text` at the start of a line, with its continuation lines: (its
/// 1-based line, its text).
fn find_macro(text: &str, masked: &str, name: &str) -> Option<(usize, String)> {
    let mut offset = 0;
    let mut lines = masked.lines().enumerate();
    while let Some((i, l)) = lines.next() {
        let t = l.trim_start();
        let hit = t
            .strip_prefix('#')
            .map(str::trim_start)
            .and_then(|t| t.strip_prefix("define"))
            .map(str::trim_start)
            .and_then(|t| t.strip_prefix(name))
            .is_some_and(|rest| rest.starts_with('('));
        if hit {
            let mut end = offset + l.len();
            let mut last = l;
            while last.trim_end().ends_with('\\') {
                let Some((_, next)) = lines.next() else { break };
                end += 1 + next.len();
                last = next;
            }
            return Some((i + 1, format!("{}\n", &text[offset..end])));
        }
        offset += l.len() + 1;
    }
    None
}

/// Writes OUT_DIR/`out_name`: the functions `roots` of the kernel file `file` and every function
/// of that file they call (transitively), extracted by name with their bodies, each behind a
/// `#line` naming its kernel file and line, after prototypes of all of them (so their order does
/// not matter). It includes only our shim header `include`; whatever else the functions call is
/// shimmed there or in the headers it includes. A root not found fails the build. Returns the
/// file and the names extracted, in file order.
fn extracted_source(
    src: &Path,
    file: &Path,
    roots: &[&str],
    include: &str,
    out: &Path,
    out_name: &str,
) -> (PathBuf, Vec<String>) {
    let text = read_kernel_file(file, "functions are extracted from it");
    let masked = mask_c(&text);
    let mut queue: Vec<String> = roots.iter().map(|h| h.to_string()).collect();
    let mut seen = std::collections::HashSet::new();
    let mut found: Vec<CFunction> = Vec::new();
    while let Some(name) = queue.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let Some(func) = find_function(&text, &masked, &name) else {
            if roots.contains(&name.as_str()) {
                panic!(
                    "delalloc-kernel: found no definition of {name}() in {}",
                    file.display()
                );
            }
            continue; // not this file's: a shim's, or a header's
        };
        queue.extend(func.callees.iter().filter(|c| !seen.contains(*c)).cloned());
        found.push(func);
    }
    found.sort_by_key(|f| f.line);

    let mut c = format!(
        "/* Generated by delalloc-kernel's build.rs from {}: functions of {} and what they\n \
         * call there, extracted by name (build.rs, extracted_source). Not committed. Compiled\n \
         * against our shims only (shim/btrfs/{include}). */\n\
         #include \"{include}\"\n\n",
        src.display(),
        file.file_name().unwrap_or_default().to_string_lossy(),
    );
    for f in &found {
        c.push_str(&f.prototype);
        c.push_str(";\n");
    }
    for f in &found {
        c.push_str(&line_marker(file, f.line));
        c.push_str(&f.text);
        c.push('\n');
    }
    let path = out.join(out_name);
    fs::write(&path, c).unwrap();
    (path, found.into_iter().map(|f| f.name).collect())
}

/// A C function definition found by name.
struct CFunction {
    name: String,
    /// From the line its declaration starts on to its closing brace, as in the file.
    text: String,
    /// The declaration before the body ("static void f(int a)").
    prototype: String,
    /// The 1-based line `text` starts on.
    line: usize,
    /// The body with comments and literals blanked (see [`mask_c`]).
    masked_body: String,
    /// Every identifier the body calls (`name(`), in order of first appearance.
    callees: Vec<String>,
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// `text` with the contents of comments and of string and character literals replaced by spaces
/// (newlines kept): the same length and line structure, but every brace, parenthesis and
/// identifier left in it is code.
fn mask_c(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = b.to_vec();
    let mut i = 0;
    let blank = |out: &mut Vec<u8>, from: usize, to: usize| {
        for c in &mut out[from..to] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    };
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let end = text[i + 2..].find("*/").map_or(b.len(), |e| i + 2 + e + 2);
                blank(&mut out, i, end);
                i = end;
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                let end = text[i..].find('\n').map_or(b.len(), |e| i + e);
                blank(&mut out, i, end);
                i = end;
            }
            q @ (b'"' | b'\'') => {
                let mut j = i + 1;
                while j < b.len() && b[j] != q && b[j] != b'\n' {
                    j += if b[j] == b'\\' { 2 } else { 1 };
                }
                let end = (j + 1).min(b.len());
                blank(&mut out, i + 1, end.saturating_sub(1).max(i + 1));
                i = end;
            }
            _ => i += 1,
        }
    }
    String::from_utf8(out).expect("only ASCII bytes were replaced")
}

/// The index of the bracket closing the one at `open` (same kind), in masked text.
fn matching(b: &[u8], open: usize) -> Option<usize> {
    let (o, c) = (b[open], if b[open] == b'(' { b')' } else { b'}' });
    let mut depth = 0usize;
    for (i, &x) in b[open..].iter().enumerate() {
        if x == o {
            depth += 1;
        } else if x == c {
            depth -= 1;
            if depth == 0 {
                return Some(open + i);
            }
        }
    }
    None
}

/// The top-level definition of the function `name` in `text` (`masked` = [`mask_c`] of it): a
/// whole-word `name`, then its parenthesised parameters, then a body in braces.
fn find_function(text: &str, masked: &str, name: &str) -> Option<CFunction> {
    let b = masked.as_bytes();
    let skip_ws = |mut i: usize| {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    };
    let line_start = |i: usize| masked[..i].rfind('\n').map_or(0, |n| n + 1);
    // Brace depth at `depth_at`, advanced forward as the candidates come (in order).
    let (mut depth_at, mut depth) = (0usize, 0i64);
    let mut from = 0;
    while let Some(found) = masked[from..].find(name) {
        let at = from + found;
        from = at + name.len();
        if (at > 0 && is_ident(b[at - 1])) || b.get(from).is_some_and(|&c| is_ident(c)) {
            continue;
        }
        let open = skip_ws(from);
        if b.get(open) != Some(&b'(') {
            continue;
        }
        let close = matching(b, open)?;
        let brace = skip_ws(close + 1);
        if b.get(brace) != Some(&b'{') {
            continue; // a call or a prototype
        }
        depth = masked[depth_at..at].bytes().fold(depth, |d, c| match c {
            b'{' => d + 1,
            b'}' => d - 1,
            _ => d,
        });
        depth_at = at;
        if depth != 0 {
            continue; // `name(...) {` inside a body: a macro's use, not a definition
        }
        let end = matching(b, brace)?;
        // The declaration starts on the name's line, or on the line before when the return
        // type stands alone there ("static void\nname(...)").
        let mut start = line_start(at);
        if masked[start..at].trim().is_empty() && start > 0 {
            let prev = line_start(start - 1);
            let line = masked[prev..start].trim();
            if !(line.is_empty() || line.ends_with([';', '}']) || line.starts_with('#')) {
                start = prev;
            }
        }
        let body = &masked[brace..=end];
        let mut callees: Vec<String> = Vec::new();
        let bb = body.as_bytes();
        let mut i = 0;
        while i < bb.len() {
            if is_ident(bb[i]) && (i == 0 || !is_ident(bb[i - 1])) {
                let mut j = i;
                while j < bb.len() && is_ident(bb[j]) {
                    j += 1;
                }
                let mut k = j;
                while k < bb.len() && bb[k].is_ascii_whitespace() {
                    k += 1;
                }
                let word = &body[i..j];
                const KEYWORDS: [&str; 8] = [
                    "if", "for", "while", "switch", "return", "sizeof", "typeof", "defined",
                ];
                if bb.get(k) == Some(&b'(')
                    && !bb[i].is_ascii_digit()
                    && !KEYWORDS.contains(&word)
                    && !callees.iter().any(|c| c == word)
                {
                    callees.push(word.to_string());
                }
                i = j;
            } else {
                i += 1;
            }
        }
        return Some(CFunction {
            name: name.to_string(),
            text: text[start..=end].to_string(),
            prototype: text[start..brace].trim_end().to_string(),
            line: text[..start].matches('\n').count() + 1,
            masked_body: body.to_string(),
            callees,
        });
    }
    None
}

/// `s` as the inside of a C string literal.
fn c_string(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}
