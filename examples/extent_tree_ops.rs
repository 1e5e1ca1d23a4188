//! Runs random set/clear (or try_lock/unlock) pairs on an optimized extent tree of N records,
//! for counting instructions per op with callgrind: a count that cache and TLB misses do not
//! inflate, so it shows the algorithmic growth from 10^3 to 10^6 records that the wall-clock
//! benchmark (benches/extent_tree.rs) mixes with the memory latency of random positions.
//!
//! ```sh
//! cargo build --release --example extent_tree_ops
//! for n in 1000 1000000; do for pairs in 0 100000; do
//!   valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/extent_tree_ops $n $pairs set-clear 2>&1 | grep refs
//! done; done
//! # instructions per pair at n = (refs with 100000 pairs - refs with 0) / 100000
//! ```
//!
//! The tree is the benchmark's: record i covers [8192 i, 8192 i + 4095] with DELALLOC|UPTODATE,
//! and positions follow the same xorshift64 sequence.

use delalloc_contract::Bits;
use delalloc_optimized::extent_tree::{ExtentIoTree, NoHooks};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: extent_tree_ops RECORDS PAIRS set-clear|lock-unlock";
    let (Some(n), Some(pairs), Some(kind)) = (
        args.get(1)
            .and_then(|a| a.parse::<u64>().ok())
            .filter(|&n| n > 0),
        args.get(2).and_then(|a| a.parse::<u64>().ok()),
        args.get(3)
            .filter(|k| ["set-clear", "lock-unlock"].contains(&k.as_str())),
    ) else {
        eprintln!("{usage}");
        return ExitCode::from(2);
    };
    let bits = Bits(Bits::DELALLOC.0 | Bits::UPTODATE.0);
    let mut t = ExtentIoTree::new();
    for i in 0..n {
        let s = i * 8192;
        let _ = t.set_bits(s, s + 4095, bits, Bits::NONE, None, &mut NoHooks);
    }
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..pairs {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let s = (x % n) * 8192;
        if kind == "lock-unlock" {
            let locked = t.try_lock(s, s + 4095, &mut NoHooks);
            assert!(locked.is_ok(), "record {s} was left locked");
            t.unlock(s, s + 4095, &mut NoHooks);
        } else {
            let set = t.set_bits(s, s + 4095, Bits::DIRTY, Bits::NONE, None, &mut NoHooks);
            assert!(set.is_ok());
            t.clear_bits(s, s + 4095, Bits::DIRTY, false, false, None, &mut NoHooks);
        }
    }
    std::hint::black_box(&t);
    ExitCode::SUCCESS
}
