//! The OSS-Fuzz / ClusterFuzzLite contract, checked without building anything: every cargo-fuzz
//! target but `empty` has a seed corpus and an options file for oss-fuzz/build.sh to ship, the
//! options' `max_len` holds the inputs the targets are given, and the parse_text dictionary has
//! every word of the text format. (scripts/oss-fuzz-local.sh runs the build itself; CI runs it.)

use delalloc_contract::text::print_program;
use delalloc_contract::{Bits, OpKind};
use delalloc_fuzz::generators::{self, Level};
use delalloc_fuzz::input;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The `[[bin]]` names of fuzz/Cargo.toml: the cargo-fuzz targets.
fn fuzz_targets() -> Vec<String> {
    let toml = read(&root().join("fuzz/Cargo.toml"));
    let mut in_bin = false;
    let mut names = Vec::new();
    for line in toml.lines().map(str::trim) {
        if line.starts_with('[') {
            in_bin = line == "[[bin]]";
        } else if in_bin {
            if let Some(v) = line.strip_prefix("name") {
                let v = v.trim_start().trim_start_matches('=').trim();
                names.push(v.trim_matches('"').to_string());
            }
        }
    }
    assert!(!names.is_empty(), "fuzz/Cargo.toml has no [[bin]] target");
    names
}

/// The shipped targets: all but those build.sh skips (the calibration one, the concurrent one,
/// which has no binary seed corpus yet, and the kernel targets, which need a kernel tree to build).
fn shipped_targets() -> Vec<String> {
    let build = read(&root().join("oss-fuzz/build.sh"));
    assert!(
        build.contains("skip=(empty concurrent kernel_tree kernel_fs)"),
        "build.sh no longer skips the empty, concurrent and kernel targets"
    );
    let local = read(&root().join("scripts/oss-fuzz-local.sh"));
    assert!(
        local.contains("skip=(empty concurrent kernel_tree kernel_fs)"),
        "scripts/oss-fuzz-local.sh must skip what build.sh skips, or it reports them missing"
    );
    fuzz_targets()
        .into_iter()
        .filter(|t| !["empty", "concurrent", "kernel_tree", "kernel_fs"].contains(&t.as_str()))
        .collect()
}

/// `[libfuzzer]` key = value pairs of an options file.
fn libfuzzer_options(target: &str) -> Vec<(String, String)> {
    let text = read(&root().join(format!("oss-fuzz/{target}.options")));
    let mut section = "";
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with('[') {
            section = line;
        } else if section == "[libfuzzer]" {
            let (k, v) = line.split_once('=').expect("key = value");
            out.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    out
}

fn max_len(target: &str) -> usize {
    libfuzzer_options(target)
        .iter()
        .find(|(k, _)| k == "max_len")
        .unwrap_or_else(|| panic!("{target}.options sets no max_len"))
        .1
        .parse()
        .expect("max_len is a number")
}

#[test]
fn every_shipped_target_has_a_seed_corpus_and_options() {
    let targets = shipped_targets();
    for t in ["fs_level", "tree_level", "parse_text"] {
        assert!(
            targets.iter().any(|x| x == t),
            "{t} is not a cargo-fuzz target"
        );
    }
    for t in &targets {
        let corpus = root().join("corpus").join(t);
        let seeds = std::fs::read_dir(&corpus)
            .unwrap_or_else(|e| panic!("{}: {e}", corpus.display()))
            .count();
        assert!(seeds > 0, "{} is empty", corpus.display());
        let options = libfuzzer_options(t);
        assert!(!options.is_empty(), "{t}.options has no [libfuzzer] entry");
        for (k, v) in &options {
            if k == "dict" {
                assert!(
                    root().join("oss-fuzz").join(v).is_file(),
                    "{t}.options names oss-fuzz/{v}, which is missing"
                );
            }
        }
    }
}

#[test]
fn max_len_holds_the_inputs_the_targets_are_given() {
    // The largest program a fuzz input holds has generators::MAX_OPS ops; the generator's
    // programs are what the seeds and the structured mutator are made of.
    let (fs, tree, text) = (
        max_len("fs_level"),
        max_len("tree_level"),
        max_len("parse_text"),
    );
    for seed in 0..300 {
        for (level, cap) in [(Level::Fs, fs), (Level::Tree, tree)] {
            let p = generators::program_from_seed(seed, level);
            let bytes = input::encode(&p);
            assert!(
                bytes.len() <= cap,
                "{level}-level program of seed {seed}: {} bytes encoded, over max_len {cap}",
                bytes.len()
            );
            let printed = print_program(&p);
            assert!(
                printed.len() <= text,
                "{level}-level program of seed {seed}: {} bytes of text, over parse_text's max_len {text}",
                printed.len()
            );
        }
    }
    for (dir, cap) in [
        ("corpus/fs_level", fs),
        ("corpus/tree_level", tree),
        ("corpus/parse_text", text),
    ] {
        for e in std::fs::read_dir(root().join(dir)).unwrap() {
            let p = e.unwrap().path();
            let len = std::fs::metadata(&p).unwrap().len() as usize;
            assert!(
                len <= cap,
                "{}: {len} bytes, over max_len {cap}",
                p.display()
            );
        }
    }
}

/// The strings of a libFuzzer dictionary (`"..."` or `name="..."`, `\xNN` escapes).
fn dictionary(path: &Path) -> BTreeSet<String> {
    let mut words = BTreeSet::new();
    for (i, line) in read(path).lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let quoted = line
            .find('"')
            .and_then(|a| line.rfind('"').filter(|&b| b > a).map(|b| &line[a + 1..b]))
            .unwrap_or_else(|| panic!("{}:{}: not a dictionary entry", path.display(), i + 1));
        let mut word = String::new();
        let mut rest = quoted;
        while let Some(pos) = rest.find("\\x") {
            word.push_str(&rest[..pos]);
            let hex = &rest[pos + 2..pos + 4];
            word.push(u8::from_str_radix(hex, 16).expect("\\xNN") as char);
            rest = &rest[pos + 4..];
        }
        word.push_str(rest);
        words.insert(word);
    }
    words
}

#[test]
fn the_parse_text_dictionary_has_every_word_of_the_format() {
    let dict = dictionary(&root().join("oss-fuzz/parse_text.dict"));
    let mut missing = BTreeSet::new();
    let mut need = |w: &str| {
        if !dict.contains(w) {
            missing.insert(w.to_string());
        }
    };
    need("geometry");
    // The run line's words (contract/src/run_line.rs).
    for w in [
        "run",
        "against=",
        "optimized",
        "kernel=",
        "mutant=",
        "bugs=",
    ] {
        need(w);
    }
    for k in OpKind::ALL {
        need(k.name());
    }
    for (name, _) in Bits::NAMES {
        need(name);
    }
    // Keys, flags and reservation kinds, as the printer writes them, over many programs.
    for seed in 0..400 {
        let text = print_program(&generators::program_from_seed(seed, Level::Mixed));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            for tok in line.split_whitespace().skip(1) {
                if let Some((key, _)) = tok.split_once('=') {
                    need(&format!("{key}="));
                } else if tok.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                    need(tok);
                } else if tok
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b == b'_' || b == b'|')
                {
                    tok.split('|').for_each(&mut need);
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "oss-fuzz/parse_text.dict lacks {missing:?}"
    );
}

/// The docs name every cargo-fuzz target and say which the OSS-Fuzz build ships: the README's
/// table of targets has a row per target, its OSS-Fuzz column agrees with build.sh, and
/// oss-fuzz/README.md names each target left out.
#[test]
fn the_docs_list_every_target_and_what_oss_fuzz_ships() {
    let readme = read(&root().join("README.md"));
    let shipped = shipped_targets();
    for t in fuzz_targets() {
        let row = readme
            .lines()
            .find(|l| l.starts_with(&format!("| `{t}` |")))
            .unwrap_or_else(|| panic!("README.md's table of fuzz targets has no row for {t}"));
        let ships = row.trim_end().trim_end_matches('|').trim_end();
        let column = ships.rsplit('|').next().unwrap().trim();
        assert_eq!(
            column == "shipped",
            shipped.contains(&t),
            "{t}: README says `{column}`"
        );
        if !shipped.contains(&t) {
            assert!(
                read(&root().join("oss-fuzz/README.md")).contains(&format!("- `{t}`: ")),
                "oss-fuzz/README.md does not say why {t} is left out"
            );
        }
    }
}

/// build.sh builds as the Rust projects on OSS-Fuzz do, and finds its targets without `cargo
/// fuzz list`, which OSS-Fuzz's cargo wrapper turns into a build in a coverage build.
#[test]
fn build_sh_builds_with_debug_assertions_and_lists_targets_from_their_files() {
    let build = read(&root().join("oss-fuzz/build.sh"));
    assert!(
        build.contains("\ncargo fuzz build -O --debug-assertions \"${flags[@]}\"\n"),
        "{build}"
    );
    let code: Vec<&str> = build
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect();
    assert!(
        !code.iter().any(|l| l.contains("cargo fuzz list")),
        "build.sh must not run `cargo fuzz list`"
    );
    assert!(
        code.iter().any(|l| l.contains("fuzz/fuzz_targets/*.rs")),
        "{build}"
    );
}

/// ClusterFuzzLite's four GitHub workflows, as its documentation lays them out: PR fuzzing,
/// continuous builds, batch fuzzing, and the cron tasks (pruning and coverage).
#[test]
fn clusterfuzzlite_has_the_recommended_workflows() {
    let workflow = |name: &str| read(&root().join(".github/workflows").join(name));
    let pr = workflow("cflite_pr.yml");
    assert!(pr.contains("pull_request:") && pr.contains("mode: 'code-change'"));
    let build = workflow("cflite_build.yml");
    assert!(
        build.contains("push:") && build.contains("- main") && build.contains("upload-build: true"),
        "{build}"
    );
    let batch = workflow("cflite_batch.yml");
    assert!(batch.contains("mode: 'batch'"), "{batch}");
    let cron = workflow("cflite_cron.yml");
    assert!(
        cron.contains("mode: 'prune'")
            && cron.contains("mode: 'coverage'")
            && cron.contains("sanitizer: coverage"),
        "{cron}"
    );
    for (name, text) in [
        ("cflite_pr.yml", &pr),
        ("cflite_build.yml", &build),
        ("cflite_batch.yml", &batch),
        ("cflite_cron.yml", &cron),
    ] {
        assert!(
            text.contains("language: rust") && text.contains("permissions: read-all"),
            "{name}"
        );
    }
}
