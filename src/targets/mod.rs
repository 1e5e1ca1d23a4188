//! Fuzz target bodies, independent of the engine: cargo-fuzz (`fuzz/fuzz_targets/*.rs`), AFL
//! and bolero call these with the engine's bytes and nothing else.
//!
//! A finding is a panic whose message is the whole report, which every engine records as a
//! crash: libFuzzer's and AFL's panic hooks abort after printing it, bolero catches it to
//! shrink. The differential targets decode the bytes with [`input::decode`] (so
//! `delalloc-fuzz import` and `replay` read an artifact exactly as the target did) and run the
//! oracle, with the injected bugs of `DELALLOC_FUZZ_BUGS` if any ([`injected`]).

mod concurrent;

pub use concurrent::concurrent;

use crate::against::Against;
use crate::generators::Level;
use crate::input::{self, Mode};
use crate::oracles::Verdict;
use crate::pairing::Pairing;
use crate::{injected, report};
use delalloc_contract::text::{parse_program_file, print_program, print_program_file};

/// The file-system-level differential target: buffered / direct writes, page_mkwrite, defrag,
/// writeback, ordered IO, truncate, evict, commit, unmount, fault injection.
pub fn fs_level(data: &[u8]) {
    differential(data, Level::Fs, injected::from_env_once());
}

/// The extent-tree-level differential target: bits, locks and queries on the stand-alone tree.
pub fn tree_level(data: &[u8]) {
    differential(data, Level::Tree, injected::from_env_once());
}

/// The reference against the kernel's own io tree and delalloc hooks (`delalloc-kernel`, built
/// from the tree `DELALLOC_KERNEL_SRC` or `scripts/kernel-source.sh` names): tree-level programs,
/// adapted to what the kernel takes (its era, 6.12's one-bit test_range_bit).
pub fn kernel_tree(data: &[u8]) {
    kernel(data, Level::Tree);
}

/// The reference against the kernel's own file-system level (delalloc-space.c, block-rsv.c and
/// the hooks, driven as SPEC §6.1 says): fs-level programs in the kernel's era, era C.
pub fn kernel_fs(data: &[u8]) {
    kernel(data, Level::Fs);
}

/// The kernel targets' body: `data` decoded at `level`, adapted to the kernel's dialect, run
/// against the kernel model; a divergence panics with its report.
fn kernel(data: &[u8], level: Level) {
    crate::oracles::panics::quiet_model_panics();
    if let Err(e) = Against::Kernel.ready() {
        panic!("delalloc-fuzz: the kernel targets need the kernel model: {e}");
    }
    let mut program = input::decode(data, level);
    Against::Kernel.dialect().adapt(&mut program);
    if let Verdict::Diverged(d) = Against::Kernel.run(&program, injected::WrapperBugs::NONE) {
        let pairing = Pairing {
            against: Against::Kernel,
            bugs: injected::WrapperBugs::NONE,
        };
        panic!(
            "delalloc-fuzz: the reference and {} diverged on this {level}-level input ({} mode, {} bytes)\n\
             {}\
             its program file's run line: {}\n\
             to replay it: {} replay --against kernel --level {level} <the artifact file>",
            Against::Kernel.describe(),
            Mode::of(data).name(),
            data.len(),
            report::text(&d),
            pairing.run_line(),
            crate::RUN,
        );
    }
}

/// A differential target of any level, with `bugs` injected (the targets above pass those of
/// `DELALLOC_FUZZ_BUGS`).
pub fn differential(data: &[u8], level: Level, bugs: injected::WrapperBugs) {
    crate::oracles::panics::quiet_model_panics();
    let program = input::decode(data, level);
    if let Verdict::Diverged(d) = injected::run(&program, bugs) {
        // The regression `import` writes records the bugs as its run line.
        let pairing = Pairing {
            against: Against::Optimized,
            bugs,
        };
        let bug_flags = if bugs.is_empty() {
            String::new()
        } else {
            format!(" --bug {}", bugs.name_list().join(","))
        };
        panic!(
            "delalloc-fuzz: the models diverged on this {level}-level input ({} mode, {} bytes)\n\
             {}\
             its program file's run line: {}\n\
             to keep it: {} import --level {level}{bug_flags} <the artifact file>",
            Mode::of(data).name(),
            data.len(),
            report::text(&d),
            pairing.run_line(),
            crate::RUN,
        );
    }
}

/// The text-format parser on arbitrary bytes (invalid UTF-8 replaced): it must never panic,
/// an error must point into the text, and a program it accepts must print and parse back to
/// itself, its run line included.
pub fn parse_text(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match parse_program_file(&text, &|_| Ok(())) {
        Ok((program, run)) => {
            let printed = match &run {
                Some(run) => print_program_file(&program, run),
                None => print_program(&program),
            };
            match parse_program_file(&printed, &|_| Ok(())) {
                Ok(again) => assert_eq!(
                    again,
                    (program, run),
                    "printing and re-parsing changed the program; printed:\n{printed}"
                ),
                Err(e) => panic!("the printed program does not parse: {e}\n{printed}"),
            }
        }
        Err(e) => {
            let lines = text.lines().count().max(1);
            assert!(
                (1..=lines).contains(&e.line) && e.column >= 1,
                "parse error outside the text ({lines} lines): {e}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generators;
    use delalloc_contract::text::parse_program;

    /// Shows the injected bug: a metadata-only (NORESERVE) write, then a writeback ending
    /// inside it off a sector boundary.
    const NOCOW_THEN_UNALIGNED_WRITEBACK: &str = "set_free_space data=0 meta=64M\n\
        buffered_write ino=0 pos=0 len=8K nocow\nwriteback ino=0 start=0 len=5000\n";

    #[test]
    fn targets_accept_generated_and_literal_inputs() {
        for seed in 0..20 {
            fs_level(&input::generated_input(seed));
            tree_level(&input::generated_input(seed));
            let p = generators::program_from_seed(seed, Level::Fs);
            fs_level(&input::encode(&p));
            parse_text(print_program(&p).as_bytes());
        }
        for bytes in [
            &b""[..],
            b"\x01",
            b"\xff\xfe",
            b"geometry inodes=9\n",
            b"commit\x00",
        ] {
            fs_level(bytes);
            tree_level(bytes);
            parse_text(bytes);
        }
    }

    #[test]
    #[should_panic(expected = "the models diverged on this fs-level input (literal mode")]
    fn a_divergence_panics_with_the_oracles_report() {
        let p = parse_program(NOCOW_THEN_UNALIGNED_WRITEBACK).unwrap();
        let bugs = injected::WrapperBugs::parse("nocow-writeback-end-rounds-down").unwrap();
        differential(&input::encode(&p), Level::Fs, injected::WrapperBugs::NONE);
        differential(&input::encode(&p), Level::Fs, bugs);
    }

    #[test]
    fn the_report_names_the_op_the_fields_and_the_program() {
        let p = parse_program(NOCOW_THEN_UNALIGNED_WRITEBACK).unwrap();
        let bugs = injected::WrapperBugs::parse("nocow-writeback-end-rounds-down").unwrap();
        let input = input::encode(&p);
        let err = std::panic::catch_unwind(|| differential(&input, Level::Fs, bugs)).unwrap_err();
        let msg = err.downcast_ref::<String>().unwrap();
        for needle in [
            "DIVERGENCE (state differs) at op 2: writeback ino=0 start=0 len=5000",
            "inodes[0].records",
            "program up to that op (3 ops):",
            "buffered_write ino=0 pos=0 len=8K nocow",
            "its program file's run line: run against=optimized bugs=nocow-writeback-end-rounds-down",
            "cargo run --release -- import --level fs --bug nocow-writeback-end-rounds-down <the artifact file>",
        ] {
            assert!(msg.contains(needle), "{needle}: {msg}");
        }
    }
}
