//! Several threads on the same inodes through `apply_shared`: no deadlock, SPEC §8 at
//! quiescence, and a clean unmount. This reaches what a sequential run cannot: waiting range
//! locks, releases racing with a reservation (reserve_metadata's second failure branch), and
//! truncates racing with page_mkwrite and defrag.

use delalloc_contract::{FaultKind, Geometry, Op, Outcome};
use delalloc_optimized::Optimized;

mod common;

#[test]
fn threads_sharing_inodes() {
    let s = 4096;
    let g = Geometry {
        inodes: 2,
        max_extent: 8 * s,
        write_chunk: 2 * s,
        meta_bytes: 64 << 20,
        global_rsv: 1 << 20,
        ..Geometry::default()
    };
    for round in 0..20u64 {
        let m = Optimized::new(&g);
        std::thread::scope(|sc| {
            for t in 0..6u64 {
                let m = &m;
                sc.spawn(move || {
                    let mut x = (t + 1 + round * 7).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
                    let mut rnd = |n: u64| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        x % n
                    };
                    for _ in 0..400 {
                        let ino = rnd(2) as u8;
                        let pos = rnd(32) * 1000;
                        let a = pos / s * s;
                        let len = 1 + rnd(30_000);
                        let op = match rnd(12) {
                            0..=2 => Op::BufferedWrite {
                                ino,
                                pos,
                                len,
                                copied: len - rnd(2) * rnd(len),
                                nocow: rnd(3) == 0,
                            },
                            3 => Op::DirectWrite {
                                ino,
                                pos: a,
                                len: (1 + rnd(4)) * s,
                                fallback: rnd(2) == 0,
                            },
                            4 => Op::PageMkwrite { ino, pos: a },
                            5 => Op::Defrag {
                                ino,
                                start: pos,
                                len,
                            },
                            6 | 7 => Op::Writeback {
                                ino,
                                start: pos,
                                len,
                            },
                            8 | 9 => Op::FinishOrdered {
                                ino,
                                nth: rnd(256) as u8,
                            },
                            10 => Op::Truncate {
                                ino,
                                size: rnd(40_000),
                            },
                            _ if rnd(4) == 0 => Op::FailNextReservation {
                                kind: FaultKind::Metadata,
                            },
                            _ => Op::Commit,
                        };
                        op.validate(&g).expect("valid op");
                        m.apply_shared(&op);
                    }
                });
            }
        });
        common::check(&m.snapshot_shared(), &g);
        assert_eq!(m.apply_shared(&Op::Unmount), Outcome::Done);
        let snap = m.snapshot_shared();
        common::check(&snap, &g);
        assert_eq!(
            snap.warnings.evict_leaks + snap.warnings.unmount_leaks,
            0,
            "{:?}",
            snap.warnings
        );
    }
}
