//! The fuzz-target body for concurrent programs, independent of the engine: cargo-fuzz
//! (`fuzz/fuzz_targets/concurrent.rs`), AFL or bolero call [`concurrent`] with the engine's bytes.
//!
//! The bytes are the generator's DNA ([`crate::generators::concurrent::program`]): the geometry,
//! the setup, the tasks and, last, the schedule; so the engine's mutations change interleavings
//! as readily as ops. A finding is a panic whose message is the whole report (timeline, nearest
//! order, program), which every engine records as a crash.
//!
//! `DELALLOC_FUZZ_CONCURRENT_BUGS=name,name` re-introduces the model's own bugs by name (e.g.
//! `racing-release-ignored`), to measure how fast an engine finds the seed races.

use crate::oracles::Verdict;
use arbitrary::Unstructured;
use delalloc_optimized_shuttle::bugs::BugSet;
use std::sync::OnceLock;

/// The bugs named by `DELALLOC_FUZZ_CONCURRENT_BUGS`, read once; an unknown name stops the target with a
/// message instead of fuzzing the wrong model.
fn bugs_from_env() -> BugSet {
    static BUGS: OnceLock<BugSet> = OnceLock::new();
    *BUGS.get_or_init(|| match std::env::var("DELALLOC_FUZZ_CONCURRENT_BUGS") {
        Ok(names) if !names.trim().is_empty() => names
            .parse()
            .unwrap_or_else(|e| panic!("DELALLOC_FUZZ_CONCURRENT_BUGS={names}: {e}")),
        _ => BugSet::NONE,
    })
}

/// The concurrent differential target.
pub fn concurrent(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(program) = crate::generators::concurrent::program(&mut u) else {
        return;
    };
    if let Verdict::Diverged(d) = crate::oracles::linearizable::run_with(&program, bugs_from_env())
    {
        panic!(
            "delalloc-fuzz: a concurrent run was rejected ({} input bytes)\n{}",
            data.len(),
            crate::report::concurrent::text(&d)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_accepts_arbitrary_bytes_with_the_fixed_model() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for len in [0usize, 1, 7, 64, 300, 1024] {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            concurrent(&bytes);
        }
    }
}
