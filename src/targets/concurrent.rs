//! The fuzz-target body for concurrent programs, independent of the engine: cargo-fuzz
//! (`fuzz/fuzz_targets/concurrent.rs`), AFL or bolero call [`concurrent`] with the engine's bytes.
//!
//! The bytes are the generator's DNA ([`crate::generators::concurrent::program`]): the geometry,
//! the setup, the tasks and, last, the schedule; so the engine's mutations change interleavings
//! as readily as ops. A finding is a panic whose message is the whole report (timeline, nearest
//! order, program), which every engine records as a crash.
//!
//! `DELALLOC_FUZZ_BUGS=name,name` (as for the other targets; `DELALLOC_FUZZ_CONCURRENT_BUGS`, its
//! older name here, too) re-introduces the model's own bugs by name (e.g.
//! `racing-release-ignored`), to measure how fast an engine finds the seed races; a finding's
//! report names them as its program file's run line.

use crate::against::Against;
use crate::injected;
use crate::oracles::linearizable::Linearizable;
use crate::oracles::{Oracle, Verdict};
use crate::pairing::Pairing;
use arbitrary::Unstructured;
use delalloc_optimized_shuttle::bugs::BugSet;
use std::sync::OnceLock;

/// The model bugs named by `DELALLOC_FUZZ_BUGS` (as the other targets and the commands read it)
/// and by `DELALLOC_FUZZ_CONCURRENT_BUGS`, read once; an unknown name stops the target with a
/// message instead of fuzzing the wrong model (a bug of the sequential wrapper is left out,
/// with a note).
fn bugs_from_env() -> BugSet {
    static BUGS: OnceLock<BugSet> = OnceLock::new();
    *BUGS.get_or_init(|| {
        let shared = injected::from_env_once();
        let (shared, note) = Pairing {
            against: Against::Optimized,
            bugs: shared,
        }
        .race_bugs();
        if let Some(note) = note {
            eprintln!("delalloc-fuzz: {}: {note}", injected::ENV);
        }
        let own = match std::env::var("DELALLOC_FUZZ_CONCURRENT_BUGS") {
            Ok(names) if !names.trim().is_empty() => names
                .parse()
                .unwrap_or_else(|e| panic!("DELALLOC_FUZZ_CONCURRENT_BUGS={names}: {e}")),
            _ => BugSet::NONE,
        };
        shared.union(own)
    })
}

/// The concurrent differential target.
pub fn concurrent(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(program) = crate::generators::concurrent::program(&mut u) else {
        return;
    };
    let oracle = Linearizable {
        bugs: bugs_from_env(),
    };
    if let Verdict::Diverged(d) = oracle.check(&program) {
        panic!(
            "delalloc-fuzz: a concurrent run was rejected ({} input bytes)\n{}\
             its program file's run line: {}\n",
            data.len(),
            crate::report::concurrent::text(&d),
            oracle.run_line()
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
