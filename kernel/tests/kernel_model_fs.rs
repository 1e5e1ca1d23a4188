//! The kernel model at file-system level: era-6 programs (era C, SPEC §6.1) run on the kernel's
//! own delalloc accounting. Random programs of every fs op, on small geometries, must keep the
//! invariants of SPEC §8 / §8.1 after every op (checked here on the kernel's numbers), draw no
//! WARN_ON or ASSERT from the kernel code, and unmount with everything released; and they must
//! agree exactly with the reference, op by op (the differential that catches the kernel
//! mutants of delalloc-space.c, scripts/kernel-mutants.sh).

use delalloc_contract::op::FaultKind;
use delalloc_contract::{
    Bits, Era, Geometry, Model, Op, OrderedKind, Outcome, Program, Snapshot, Warnings,
};
use delalloc_kernel::model::KernelModel;
use delalloc_reference::Reference;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn geometry(rng: &mut Rng) -> Geometry {
    let s = 4096;
    let max_extent = s * [4, 8, 32][rng.below(3) as usize];
    Geometry {
        sectorsize: s,
        nodesize: 16384,
        max_extent,
        write_chunk: s * [2, 4][rng.below(2) as usize],
        data_bytes: 1 << 30,
        meta_bytes: 256 << 20,
        global_rsv: 16 << 20,
        inodes: 2,
        era: Era::V6,
    }
}

fn op(rng: &mut Rng, g: &Geometry) -> Op {
    let s = g.sectorsize;
    let ino = rng.below(2) as u8;
    let pos = |rng: &mut Rng| rng.below(64) * 1024;
    let len = |rng: &mut Rng| 1 + rng.below(24 * 1024);
    match rng.below(16) {
        0..=3 => {
            let (pos, len) = (pos(rng), len(rng));
            let copied = if rng.below(4) == 0 {
                rng.below(len + 1)
            } else {
                len
            };
            Op::BufferedWrite {
                ino,
                pos,
                len,
                copied,
                nocow: rng.below(3) == 0,
            }
        }
        4 => Op::DirectWrite {
            ino,
            pos: rng.below(16) * s,
            len: (1 + rng.below(12)) * s,
            fallback: rng.below(3) == 0,
        },
        5 => Op::PageMkwrite {
            ino,
            pos: rng.below(16) * s,
        },
        6 => Op::Defrag {
            ino,
            start: pos(rng),
            len: len(rng),
        },
        7 | 8 => Op::Writeback {
            ino,
            start: pos(rng),
            len: len(rng),
        },
        9 | 10 => Op::FinishOrdered {
            ino,
            nth: rng.below(4) as u8,
        },
        11 => Op::Truncate {
            ino,
            size: rng.below(96) * 1024,
        },
        12 => Op::Evict { ino },
        13 => Op::Commit,
        14 => Op::FailNextReservation {
            kind: if rng.below(2) == 0 {
                FaultKind::Data
            } else {
                FaultKind::Metadata
            },
        },
        _ => Op::SetFreeSpace {
            data: rng.below(4) * 16 * 1024,
            meta: [0, 1 << 20, 64 << 20][rng.below(3) as usize],
        },
    }
}

/// SPEC §8 (1, 3, 4) and §8.1 (5) on a snapshot; the failures, named.
fn invariants(g: &Geometry, s: &Snapshot) -> Vec<String> {
    let mut bad = Vec::new();
    let mut data_may_use = 0;
    let mut data_reserved = 0;
    let mut inode_rsv = 0;
    let mut delayed = 0;
    let mut fs_delalloc = 0;
    for (i, n) in s.inodes.iter().enumerate() {
        let delalloc: Vec<_> = n
            .records
            .iter()
            .filter(|r| r.bits.contains(Bits::DELALLOC))
            .collect();
        if n.records.iter().any(|r| r.bits.contains(Bits::LOCKED)) {
            bad.push(format!("inode {i}: a LOCKED record after an op"));
        }
        let extents: u64 = delalloc
            .iter()
            .map(|r| g.count_max_extents(r.len()))
            .sum::<u64>()
            + n.ordered.len() as u64;
        if n.outstanding_extents != extents {
            bad.push(format!(
                "inode {i}: outstanding_extents {} != {extents}",
                n.outstanding_extents
            ));
        }
        let bytes: u64 = delalloc.iter().map(|r| r.len()).sum();
        if n.delalloc_bytes != bytes {
            bad.push(format!(
                "inode {i}: delalloc_bytes {} != {bytes}",
                n.delalloc_bytes
            ));
        }
        let ordered: u64 = n.ordered.iter().map(|o| o.len).sum();
        if n.csum_bytes != bytes + ordered {
            bad.push(format!(
                "inode {i}: csum_bytes {} != {bytes} + {ordered}",
                n.csum_bytes
            ));
        }
        data_may_use += delalloc
            .iter()
            .filter(|r| !r.bits.contains(Bits::NORESERVE))
            .map(|r| r.len())
            .sum::<u64>();
        data_reserved += n
            .ordered
            .iter()
            .filter(|o| o.kind != OrderedKind::Nocow)
            .map(|o| o.len)
            .sum::<u64>();
        let rsv = n.block_rsv.expect("era C has the inode reservation");
        if rsv.reserved > rsv.size {
            bad.push(format!("inode {i}: reservation {rsv:?} above its size"));
        }
        if n.outstanding_extents == 0 && n.csum_bytes == 0 && (rsv.size, rsv.reserved) != (0, 0) {
            bad.push(format!(
                "inode {i}: nothing outstanding but a reservation {rsv:?}"
            ));
        }
        if n.reserved_extents.is_some() || n.delalloc_meta_reserved.is_some() {
            bad.push(format!("inode {i}: era B fields in an era C snapshot"));
        }
        inode_rsv += rsv.reserved;
        delayed += n.delayed_bytes_reserved;
        fs_delalloc += n.delalloc_bytes;
    }
    let mut check = |what: &str, got: u64, want: u64| {
        if got != want {
            bad.push(format!("{what}: {got} != {want}"));
        }
    };
    check("fs delalloc_bytes", s.fs_delalloc_bytes, fs_delalloc);
    check("data may_use", s.data.bytes_may_use, data_may_use);
    check("data bytes_reserved", s.data.bytes_reserved, data_reserved);
    if s.mounted {
        check(
            "metadata may_use",
            s.meta.bytes_may_use,
            inode_rsv + s.delayed_rsv.reserved + s.global_rsv.reserved,
        );
        check("delayed size", s.delayed_rsv.size, delayed);
        check("delayed reserved", s.delayed_rsv.reserved, delayed);
    }
    if s.delalloc_rsv.is_some() {
        bad.push("era C has no fs-wide delalloc reservation".into());
    }
    if s.warnings.evict_leaks != 0 || s.warnings.unmount_leaks != 0 {
        bad.push(format!("leaks: {:?}", s.warnings));
    }
    bad
}

fn run(seed: u64, outcomes: &mut [u64; 14]) -> (Vec<Op>, Snapshot, Vec<String>) {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let g = geometry(&mut rng);
    let mut ops: Vec<Op> = (0..40).map(|_| op(&mut rng, &g)).collect();
    ops.push(Op::Unmount);
    let p = Program {
        geometry: g,
        ops: ops.clone(),
    };
    if let Err(e) = p.validate() {
        panic!("seed {seed}: the test made an invalid program: {e}");
    }
    let mut m = KernelModel::new(&g);
    let mut failures = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let outcome = m.apply(op);
        outcomes[outcome.index()] += 1;
        let s = m.snapshot();
        for f in invariants(&g, &s) {
            failures.push(format!("seed {seed} op {i} {op:?} -> {outcome:?}: {f}"));
        }
        for c in m.take_complaints() {
            failures.push(format!("seed {seed} op {i} {op:?}: kernel {c:?}"));
        }
        if !failures.is_empty() {
            return (ops, s, failures);
        }
    }
    let s = m.snapshot();
    (ops, s, failures)
}

#[test]
fn random_era_6_programs_keep_the_invariants_and_unmount_clean() {
    let seeds = std::env::var("DELALLOC_KERNEL_TEST_SEEDS")
        .map_or(300u64, |v| v.parse().expect("a number of seeds"));
    let mut written = 0u64;
    let mut outcomes = [0u64; 14];
    for seed in 1..=seeds {
        let (_, s, failures) = run(seed, &mut outcomes);
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        assert!(!s.mounted);
        assert_eq!(s.warnings, Warnings::default());
        assert_eq!(
            (
                s.meta.bytes_may_use,
                s.data.bytes_may_use,
                s.data.bytes_reserved
            ),
            (0, 0, 0),
            "seed {seed}: everything released at unmount"
        );
        written += s.data.bytes_used;
    }
    assert!(written > 0, "the programs wrote something");
    for o in [
        Outcome::Enospc,
        Outcome::Fault,
        Outcome::NoOrderedExtent,
        Outcome::Written { bytes: 1 },
    ] {
        assert!(
            outcomes[o.index()] > 0,
            "no {o:?} in {seeds} programs: {outcomes:?}"
        );
    }
}

/// The same random era-6 programs on the reference: every outcome and every snapshot equal.
#[test]
fn random_era_6_fs_programs_agree_exactly_with_the_reference() {
    let seeds = std::env::var("DELALLOC_KERNEL_TEST_SEEDS")
        .map_or(300u64, |v| v.parse().expect("a number of seeds"));
    for seed in 1..=seeds {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let g = geometry(&mut rng);
        let mut ops: Vec<Op> = (0..40).map(|_| op(&mut rng, &g)).collect();
        ops.push(Op::Unmount);
        let mut kernel = KernelModel::new(&g);
        let mut reference = Reference::new(&g);
        for (i, op) in ops.iter().enumerate() {
            let (k, r) = (kernel.apply(op), reference.apply(op));
            assert_eq!(
                k, r,
                "seed {seed} op {i} {op:?}: outcomes (kernel, reference)"
            );
            let (ks, rs) = (kernel.snapshot(), reference.snapshot());
            if ks != rs {
                let diffs: Vec<String> = rs
                    .diff(&ks)
                    .iter()
                    .map(|d| format!("{}: reference {} kernel {}", d.field, d.left, d.right))
                    .collect();
                panic!(
                    "seed {seed} op {i} {op:?}: state differs:\n{}",
                    diffs.join("\n")
                );
            }
        }
    }
}

/// One buffered write, written back and finished, committed, unmounted: the kernel's numbers
/// at each step (SPEC §4.1, §5.1).
#[test]
fn a_write_through_its_whole_life() {
    let g = Geometry {
        era: Era::V6,
        inodes: 1,
        ..Geometry::default()
    };
    let mut m = KernelModel::new(&g);
    let w = m.apply(&Op::BufferedWrite {
        ino: 0,
        pos: 0,
        len: 10_000,
        copied: 10_000,
        nocow: false,
    });
    assert_eq!(w, Outcome::Written { bytes: 10_000 });
    let s = m.snapshot();
    let n = &s.inodes[0];
    assert_eq!(n.i_size, 10_000);
    assert_eq!(n.records.len(), 1);
    assert_eq!(n.records[0].bits, Bits::DELALLOC | Bits::DELALLOC_NEW);
    assert_eq!((n.outstanding_extents, n.csum_bytes), (1, 12288));
    let size = g.trans_metadata_size(1) + g.metadata_size(1) + g.trans_metadata_size(1);
    assert_eq!(
        n.block_rsv.map(|r| (r.size, r.reserved)),
        Some((size, size))
    );
    assert_eq!(s.meta.bytes_may_use, g.global_rsv + size);

    assert_eq!(
        m.apply(&Op::Writeback {
            ino: 0,
            start: 0,
            len: 1 << 20
        }),
        Outcome::Done
    );
    let s = m.snapshot();
    assert_eq!(s.inodes[0].ordered.len(), 1);
    assert_eq!(s.data.bytes_reserved, 12288);
    assert_eq!(
        m.apply(&Op::FinishOrdered { ino: 0, nth: 0 }),
        Outcome::Done
    );
    let s = m.snapshot();
    assert_eq!(s.inodes[0].delayed_bytes_reserved, g.metadata_size(1));
    assert_eq!(s.delayed_rsv.reserved, g.metadata_size(1));
    assert_eq!(
        s.inodes[0].records,
        vec![],
        "DELALLOC_NEW and DEFRAG cleared at finish"
    );
    assert_eq!(s.data.bytes_used, 12288);
    assert_eq!(m.apply(&Op::Commit), Outcome::Done);
    assert_eq!(m.snapshot().delayed_rsv.reserved, 0);
    assert_eq!(m.apply(&Op::Unmount), Outcome::Done);
    let s = m.snapshot();
    assert_eq!((s.meta.bytes_may_use, s.warnings), (0, Warnings::default()));
    assert_eq!(m.apply(&Op::Commit), Outcome::Unmounted);
    assert!(m.take_complaints().is_empty());
}
