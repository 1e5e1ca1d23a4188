//! Hand-worked scenarios with exact numbers (default geometry: 4K sectors, 16K nodes, so
//! trans(1) = 256 KiB and one checksum leaf covers (16384 - 126) / 4 = 4064 sectors), each op followed by a check
//! of SPEC §8 on the snapshot.

use delalloc_contract::{
    Bits, FaultKind, Geometry, InodeSnapshot, Model, Op, OrderedExtent, OrderedKind, Outcome,
    Record, Snapshot,
};
use delalloc_optimized::Optimized;

mod common;
use common::check;

const K4: u64 = 4096;
const GLOBAL: u64 = 16 << 20;

fn geo() -> Geometry {
    Geometry::default()
}

fn trans(n: u64) -> u64 {
    geo().trans_metadata_size(n)
}

/// A model with the op log, checking §8 after every op.
struct Run {
    m: Optimized,
    g: Geometry,
}

impl Run {
    fn new(g: Geometry) -> Run {
        Run {
            m: Optimized::new(&g),
            g,
        }
    }
    fn op(&mut self, op: Op) -> Outcome {
        op.validate(&self.g).expect("valid op");
        let o = self.m.apply(&op);
        check(&self.m.snapshot(), &self.g);
        o
    }
    fn snap(&self) -> Snapshot {
        self.m.snapshot()
    }
    fn inode(&self, ino: usize) -> InodeSnapshot {
        self.snap().inodes[ino].clone()
    }
    /// After an unmount: everything released, nothing leaked.
    fn assert_clean_unmount(&mut self) {
        assert_eq!(self.op(Op::Unmount), Outcome::Done);
        let s = self.snap();
        assert!(!s.mounted);
        assert_eq!(s.warnings.evict_leaks, 0);
        assert_eq!(s.warnings.unmount_leaks, 0);
        assert_eq!((s.data.bytes_may_use, s.data.bytes_reserved), (0, 0));
        assert_eq!((s.meta.bytes_may_use, s.meta.bytes_reserved), (0, 0));
        assert_eq!(s.delalloc_rsv.unwrap(), Default::default());
        assert_eq!(s.delayed_rsv, Default::default());
        assert_eq!(s.global_rsv, Default::default());
        assert_eq!(s.fs_delalloc_bytes, 0);
        for i in &s.inodes {
            assert!(i.records.is_empty() && i.ordered.is_empty());
            assert_eq!(
                (
                    i.outstanding_extents,
                    i.reserved_extents.unwrap(),
                    i.csum_bytes,
                    i.delalloc_bytes,
                    i.delalloc_meta_reserved.unwrap()
                ),
                (0, 0, 0, 0, false)
            );
        }
        assert_eq!(self.op(Op::Commit), Outcome::Unmounted);
        assert_eq!(
            self.op(Op::BufferedWrite {
                ino: 0,
                pos: 0,
                len: 1,
                copied: 1,
                nocow: false
            }),
            Outcome::Unmounted
        );
        assert_eq!(
            self.op(Op::SetBits {
                start: 0,
                end: 1,
                bits: Bits::DIRTY,
                exclusive: Bits::NONE,
                cached: false
            }),
            Outcome::Unmounted
        );
        assert_eq!(self.op(Op::Unmount), Outcome::Unmounted);
    }
}

fn write(ino: u8, pos: u64, len: u64) -> Op {
    Op::BufferedWrite {
        ino,
        pos,
        len,
        copied: len,
        nocow: false,
    }
}

/// What a buffered write or page_mkwrite leaves on its range: 4.4's set_extent_delalloc sets
/// DELALLOC|UPTODATE.
const DU: Bits = Bits(Bits::DELALLOC.0 | Bits::UPTODATE.0);

#[test]
fn a_4k_buffered_write_on_a_fresh_fs() {
    let mut r = Run::new(geo());
    assert_eq!(r.op(write(0, 0, K4)), Outcome::Written { bytes: K4 });
    let i = r.inode(0);
    assert_eq!(
        i.records,
        [Record {
            start: 0,
            end: K4 - 1,
            bits: DU
        }]
    );
    assert_eq!(
        (
            i.outstanding_extents,
            i.reserved_extents.unwrap(),
            i.csum_bytes,
            i.delalloc_bytes
        ),
        (1, 1, K4, K4)
    );
    assert!(i.delalloc_meta_reserved.unwrap());
    assert_eq!(i.i_size, K4);
    let s = r.snap();
    // One extent item + the inode-update item, and one checksum leaf.
    assert_eq!(s.delalloc_rsv.unwrap().size, trans(2) + trans(1));
    assert_eq!(s.delalloc_rsv.unwrap().reserved, trans(3));
    assert_eq!(s.meta.bytes_may_use, GLOBAL + trans(3));
    assert_eq!(s.data.bytes_may_use, K4);
    assert_eq!(s.fs_delalloc_bytes, K4);
    r.assert_clean_unmount();
}

#[test]
fn two_adjacent_writes_merge_into_one_extent() {
    let mut r = Run::new(geo());
    r.op(write(0, 0, K4));
    // At i_size, so no lock; the new record merges with the first: +1 (set), −1 (merge),
    // −1 (hand-off). The second reservation took one extent item and no new csum leaf.
    assert_eq!(r.op(write(0, K4, K4)), Outcome::Written { bytes: K4 });
    let i = r.inode(0);
    assert_eq!(
        i.records,
        [Record {
            start: 0,
            end: 2 * K4 - 1,
            bits: DU
        }]
    );
    assert_eq!(
        (
            i.outstanding_extents,
            i.reserved_extents.unwrap(),
            i.csum_bytes
        ),
        (1, 2, 2 * K4)
    );
    let s = r.snap();
    assert_eq!(s.delalloc_rsv.unwrap().size, trans(4));
    assert_eq!(s.data.bytes_may_use, 2 * K4);
    // Overwriting the middle page (below i_size: locked, old delalloc released, new set).
    assert_eq!(r.op(write(0, K4, 100)), Outcome::Written { bytes: 100 });
    let i = r.inode(0);
    assert_eq!(
        i.records,
        [Record {
            start: 0,
            end: 2 * K4 - 1,
            bits: DU
        }]
    );
    assert_eq!(i.i_size, 2 * K4);
    r.assert_clean_unmount();
}

#[test]
fn writeback_and_finish_return_everything() {
    let mut r = Run::new(geo());
    r.op(write(0, 0, K4));
    assert_eq!(
        r.op(Op::Writeback {
            ino: 0,
            start: 0,
            len: K4
        }),
        Outcome::Done
    );
    let i = r.inode(0);
    assert_eq!(
        i.records,
        [Record {
            start: 0,
            end: K4 - 1,
            bits: Bits::UPTODATE
        }]
    );
    assert_eq!(
        i.ordered,
        [OrderedExtent {
            start: 0,
            len: K4,
            kind: OrderedKind::Cow
        }]
    );
    assert_eq!(i.outstanding_extents, 1);
    let s = r.snap();
    assert_eq!((s.data.bytes_may_use, s.data.bytes_reserved), (0, K4));

    assert_eq!(r.op(Op::FinishOrdered { ino: 0, nth: 7 }), Outcome::Done);
    let i = r.inode(0);
    assert!(i.ordered.is_empty());
    assert_eq!(
        (
            i.outstanding_extents,
            i.reserved_extents.unwrap(),
            i.csum_bytes
        ),
        (0, 0, 0)
    );
    assert!(!i.delalloc_meta_reserved.unwrap());
    // The inode-update item moved to the delayed node (seed 002's first branch).
    assert_eq!(i.delayed_bytes_reserved, trans(1));
    let s = r.snap();
    assert_eq!(s.delalloc_rsv.unwrap(), Default::default());
    assert_eq!(
        (s.delayed_rsv.size, s.delayed_rsv.reserved),
        (trans(1), trans(1))
    );
    assert_eq!((s.data.bytes_reserved, s.data.bytes_used), (0, K4));
    assert_eq!(s.meta.bytes_may_use, GLOBAL + trans(1));
    assert_eq!(
        r.op(Op::FinishOrdered { ino: 0, nth: 0 }),
        Outcome::NoOrderedExtent
    );

    assert_eq!(r.op(Op::Commit), Outcome::Done);
    let s = r.snap();
    assert_eq!(s.delayed_rsv, Default::default());
    assert_eq!(s.meta.bytes_may_use, GLOBAL);
    assert_eq!(s.global_rsv.reserved, GLOBAL);
    r.assert_clean_unmount();
}

#[test]
fn seed_000_metadata_enospc_undoes_the_csum_and_frees_nothing() {
    let mut r = Run::new(geo());
    r.op(Op::FailNextReservation {
        kind: FaultKind::Metadata,
    });
    assert_eq!(r.op(write(0, 0, K4)), Outcome::Enospc);
    let i = r.inode(0);
    assert_eq!(i, empty_era_b());
    let s = r.snap();
    assert_eq!(s.data.bytes_may_use, 0);
    assert_eq!(s.delalloc_rsv.unwrap(), Default::default());
    assert_eq!(s.meta.bytes_may_use, GLOBAL);
    // The fault was consumed.
    assert_eq!(r.op(write(0, 0, K4)), Outcome::Written { bytes: K4 });
    // A data fault on a NODATACOW inode: metadata only, NORESERVE, and a Nocow ordered extent.
    r.op(Op::FailNextReservation {
        kind: FaultKind::Data,
    });
    assert_eq!(
        r.op(Op::BufferedWrite {
            ino: 1,
            pos: 0,
            len: K4,
            copied: K4,
            nocow: true
        }),
        Outcome::Written { bytes: K4 }
    );
    assert_eq!(r.inode(1).records[0].bits, DU | Bits::NORESERVE);
    assert_eq!(r.snap().data.bytes_may_use, K4);
    r.op(Op::Writeback {
        ino: 1,
        start: 0,
        len: K4,
    });
    assert_eq!(r.inode(1).ordered[0].kind, OrderedKind::Nocow);
    // Metadata ENOSPC in the middle of a write: earlier chunks stay.
    let g = Geometry {
        write_chunk: 2 * K4,
        ..geo()
    };
    let mut r = Run::new(g);
    assert_eq!(
        r.op(write(0, 0, 4 * K4)),
        Outcome::Written { bytes: 4 * K4 }
    );
    r.op(Op::SetFreeSpace {
        data: 1 << 30,
        meta: 0,
    });
    // The first write's second chunk merged with the first: one extent item is reserved beyond
    // the outstanding extents, enough for one more chunk; the second chunk needs space.
    assert_eq!(
        r.op(write(0, 8 * K4, 4 * K4)),
        Outcome::Written { bytes: 2 * K4 }
    );
    assert_eq!(r.op(write(1, 0, K4)), Outcome::Enospc);
    // With one item of space: the first chunk takes it, and merges with its neighbour, which
    // frees an item for the second.
    r.op(Op::SetFreeSpace {
        data: 1 << 30,
        meta: trans(1),
    });
    assert_eq!(
        r.op(write(0, 10 * K4, 4 * K4)),
        Outcome::Written { bytes: 4 * K4 }
    );
    assert_eq!(r.snap().meta.bytes_may_use, r.snap().meta.total);
    r.assert_clean_unmount();
}

#[test]
fn short_copies_release_the_tail_and_faults_release_everything() {
    let mut r = Run::new(geo());
    assert_eq!(
        r.op(Op::BufferedWrite {
            ino: 0,
            pos: 0,
            len: 2 * K4,
            copied: 3000,
            nocow: false
        }),
        Outcome::Written { bytes: 3000 }
    );
    let i = r.inode(0);
    assert_eq!(
        i.records,
        [Record {
            start: 0,
            end: K4 - 1,
            bits: DU
        }]
    );
    assert_eq!(
        (
            i.outstanding_extents,
            i.reserved_extents.unwrap(),
            i.csum_bytes,
            i.i_size
        ),
        (1, 1, K4, 3000)
    );
    assert_eq!(r.snap().data.bytes_may_use, K4);
    assert_eq!(
        r.op(Op::BufferedWrite {
            ino: 1,
            pos: 10,
            len: 20,
            copied: 0,
            nocow: false
        }),
        Outcome::Fault
    );
    assert_eq!(r.inode(1), empty_era_b());
    assert_eq!(r.op(Op::PageMkwrite { ino: 1, pos: 0 }), Outcome::Fault);
    assert_eq!(r.op(Op::PageMkwrite { ino: 0, pos: 0 }), Outcome::Done);
    assert_eq!(
        r.inode(0).records,
        [Record {
            start: 0,
            end: K4 - 1,
            bits: DU
        }]
    );
    r.assert_clean_unmount();
}

/// Seed 002: every branch of the inode-update reservation.
#[test]
fn seed_002_the_steal_chain() {
    for global_rsv in [GLOBAL, 0] {
        let mut r = Run::new(Geometry {
            global_rsv,
            ..geo()
        });
        // One 20K extent (one extent item, the inode item, one csum leaf), written back as five
        // ordered extents: each split adds an outstanding extent nobody reserved.
        r.op(write(0, 0, 5 * K4));
        for p in 0..5 {
            r.op(Op::Writeback {
                ino: 0,
                start: p * K4,
                len: K4,
            });
        }
        let i = r.inode(0);
        assert_eq!(
            (
                i.ordered.len(),
                i.outstanding_extents,
                i.reserved_extents.unwrap()
            ),
            (5, 5, 1)
        );
        assert_eq!(r.snap().delalloc_rsv.unwrap().reserved, trans(3));

        // 1. META_RESERVED: its item migrates to the delayed node.
        r.op(Op::FinishOrdered { ino: 0, nth: 0 });
        assert!(!r.inode(0).delalloc_meta_reserved.unwrap());
        assert_eq!(r.inode(0).delayed_bytes_reserved, trans(1));
        assert_eq!(
            r.snap().delalloc_rsv.unwrap(),
            delalloc_contract::BlockRsv {
                size: trans(2),
                reserved: trans(2)
            }
        );
        // The node already holds a reservation: nothing to do.
        r.op(Op::FinishOrdered { ino: 0, nth: 0 });
        assert_eq!(
            r.snap().delalloc_rsv.unwrap(),
            delalloc_contract::BlockRsv {
                size: trans(2),
                reserved: trans(2)
            }
        );
        r.op(Op::Commit);

        // 2. A fresh reservation would fail: migrate from the delalloc reserve.
        r.op(Op::FailNextReservation {
            kind: FaultKind::Metadata,
        });
        r.op(Op::FinishOrdered { ino: 0, nth: 0 });
        assert_eq!(
            r.snap().delalloc_rsv.unwrap(),
            delalloc_contract::BlockRsv {
                size: trans(2),
                reserved: trans(1)
            }
        );
        assert_eq!(r.inode(0).delayed_bytes_reserved, trans(1));
        r.op(Op::Commit);
        r.op(Op::FailNextReservation {
            kind: FaultKind::Metadata,
        });
        r.op(Op::FinishOrdered { ino: 0, nth: 0 });
        assert_eq!(
            r.snap().delalloc_rsv.unwrap(),
            delalloc_contract::BlockRsv {
                size: trans(2),
                reserved: 0
            }
        );
        r.op(Op::Commit);

        // 3. Nothing left to migrate: WARN and steal from the global reserve (or, without one,
        // go unreserved).
        r.op(Op::FailNextReservation {
            kind: FaultKind::Metadata,
        });
        r.op(Op::FinishOrdered { ino: 0, nth: 0 });
        let s = r.snap();
        assert_eq!(s.warnings.global_rsv_steals, 1);
        assert_eq!(s.delalloc_rsv.unwrap(), Default::default());
        if global_rsv > 0 {
            assert_eq!(s.warnings.unreserved_inode_updates, 0);
            assert_eq!(s.global_rsv.reserved, GLOBAL - trans(1));
            assert_eq!(s.inodes[0].delayed_bytes_reserved, trans(1));
            r.op(Op::Commit);
            // The delayed release tops the global reserve up again.
            assert_eq!(r.snap().global_rsv.reserved, GLOBAL);
        } else {
            assert_eq!(s.warnings.unreserved_inode_updates, 1);
            assert_eq!(s.inodes[0].delayed_bytes_reserved, 0);
        }
        let i = r.inode(0);
        assert_eq!(
            (
                i.outstanding_extents,
                i.reserved_extents.unwrap(),
                i.csum_bytes
            ),
            (0, 0, 0)
        );

        // 4. A fresh reservation for the inode item.
        r.op(write(0, 0, K4));
        r.op(Op::Writeback {
            ino: 0,
            start: 0,
            len: K4,
        });
        r.op(Op::FinishOrdered { ino: 0, nth: 0 }); // META_RESERVED branch again
        r.op(Op::Commit);
        r.op(write(1, 0, K4));
        r.op(Op::Writeback {
            ino: 1,
            start: 0,
            len: K4,
        });
        r.op(write(1, 8 * K4, K4));
        r.op(Op::Writeback {
            ino: 1,
            start: 8 * K4,
            len: K4,
        });
        r.op(Op::FinishOrdered { ino: 1, nth: 0 });
        r.op(Op::Commit);
        let before = r.snap().meta.bytes_may_use;
        r.op(Op::FinishOrdered { ino: 1, nth: 0 });
        assert_eq!(r.inode(1).delayed_bytes_reserved, trans(1));
        // Fresh trans(1) in, the last extent's item and csum leaf out.
        assert_eq!(r.snap().meta.bytes_may_use, before + trans(1) - trans(2));
        r.assert_clean_unmount();
    }
}

/// Seed 004: O_DIRECT marks DELALLOC only and leaves no records behind.
#[test]
fn seed_004_direct_io_leaves_no_records() {
    let g = Geometry {
        max_extent: 4 * K4,
        write_chunk: 4 * K4,
        ..geo()
    };
    let mut r = Run::new(g);
    assert_eq!(
        r.op(Op::DirectWrite {
            ino: 0,
            pos: 0,
            len: 6 * K4,
            fallback: false
        }),
        Outcome::Written { bytes: 6 * K4 }
    );
    let i = r.inode(0);
    assert!(i.records.is_empty());
    assert_eq!(
        i.ordered,
        [
            OrderedExtent {
                start: 0,
                len: 4 * K4,
                kind: OrderedKind::Direct
            },
            OrderedExtent {
                start: 4 * K4,
                len: 2 * K4,
                kind: OrderedKind::Direct
            },
        ]
    );
    assert_eq!(
        (i.outstanding_extents, i.reserved_extents.unwrap(), i.i_size),
        (2, 2, 6 * K4)
    );
    let s = r.snap();
    assert_eq!((s.data.bytes_may_use, s.data.bytes_reserved), (0, 6 * K4));

    // Over buffered delalloc: it is written back and finished first.
    r.op(write(1, 0, 2 * K4));
    assert_eq!(
        r.op(Op::DirectWrite {
            ino: 1,
            pos: K4,
            len: K4,
            fallback: false
        }),
        Outcome::Written { bytes: K4 }
    );
    // Only the DIO's range is written back first.
    assert_eq!(
        r.inode(1).records,
        [
            Record {
                start: 0,
                end: K4 - 1,
                bits: DU
            },
            Record {
                start: K4,
                end: 2 * K4 - 1,
                bits: Bits::UPTODATE
            }
        ]
    );

    // Fallback (seed 003): the DIO's delalloc goes, the buffered write's comes.
    assert_eq!(
        r.op(Op::DirectWrite {
            ino: 1,
            pos: 4 * K4,
            len: 2 * K4,
            fallback: true
        }),
        Outcome::Written { bytes: 2 * K4 }
    );
    let i = r.inode(1);
    assert_eq!(
        i.records[2],
        Record {
            start: 4 * K4,
            end: 6 * K4 - 1,
            bits: DU
        }
    );
    r.assert_clean_unmount();
}

#[test]
fn defrag_truncate_and_evict() {
    let g = Geometry {
        max_extent: 4 * K4,
        write_chunk: 4 * K4,
        ..geo()
    };
    let mut r = Run::new(g);
    r.op(write(0, 0, 10 * K4));
    assert_eq!(
        r.op(Op::Defrag {
            ino: 0,
            start: K4,
            len: 100 * K4
        }),
        Outcome::Done
    );
    let i = r.inode(0);
    assert_eq!(i.defrag_bytes, 9 * K4);
    assert_eq!(
        i.records[1],
        Record {
            start: K4,
            end: 10 * K4 - 1,
            bits: DU | Bits::DEFRAG
        }
    );
    r.op(Op::Writeback {
        ino: 0,
        start: 0,
        len: 3 * K4,
    });
    assert_eq!(
        r.op(Op::Truncate {
            ino: 0,
            size: 2 * K4 + 1
        }),
        Outcome::Done
    );
    let i = r.inode(0);
    assert_eq!(i.i_size, 2 * K4 + 1);
    assert!(i.records.iter().all(|r| r.end < 3 * K4));
    assert_eq!(r.op(Op::Truncate { ino: 0, size: 0 }), Outcome::Done);
    r.op(write(0, 0, 3 * K4));
    assert_eq!(r.op(Op::Evict { ino: 0 }), Outcome::Done);
    let i = r.inode(0);
    assert!(i.records.is_empty() && i.ordered.is_empty());
    assert_eq!(r.snap().warnings.evict_leaks, 0);
    r.assert_clean_unmount();
}

#[test]
fn big_extents_split_and_merge_by_count() {
    // max_extent 4 pages: a 5-page record counts 2; written back in 4 + 1 it stays 2 + the OE.
    let g = Geometry {
        max_extent: 4 * K4,
        write_chunk: 4 * K4,
        ..geo()
    };
    let mut r = Run::new(g);
    r.op(write(0, 0, 5 * K4));
    assert_eq!(r.inode(0).outstanding_extents, 2);
    r.op(write(0, 6 * K4, 5 * K4));
    assert_eq!(r.inode(0).outstanding_extents, 4);
    // Filling the hole merges [5 pages][1][5 pages] = 11 pages: count 3.
    r.op(write(0, 5 * K4, K4));
    assert_eq!(
        r.inode(0).records,
        [Record {
            start: 0,
            end: 11 * K4 - 1,
            bits: DU
        }]
    );
    assert_eq!(r.inode(0).outstanding_extents, 3);
    r.op(Op::Writeback {
        ino: 0,
        start: 0,
        len: 1 << 40,
    });
    assert_eq!(r.inode(0).ordered.len(), 3);
    r.assert_clean_unmount();
}

#[test]
fn the_stand_alone_tree() {
    let mut r = Run::new(geo());
    let lock = |start, end| Op::Lock { start, end };
    assert_eq!(r.op(lock(100, 199)), Outcome::Done);
    assert_eq!(
        r.op(lock(0, 150)),
        Outcome::WouldBlock { failed_start: 100 }
    );
    assert_eq!(r.op(Op::TryLock { start: 0, end: 150 }), Outcome::Busy);
    assert_eq!(
        r.snap().tree.records,
        [Record {
            start: 100,
            end: 199,
            bits: Bits::LOCKED
        }]
    );
    assert_eq!(r.op(Op::SetDelalloc { start: 0, end: 299 }), Outcome::Done);
    assert_eq!(r.snap().tree.outstanding_extents, 3);
    assert_eq!(r.op(Op::Unlock { start: 0, end: 299 }), Outcome::Done);
    assert_eq!(r.snap().tree.outstanding_extents, 1);
    assert_eq!(
        r.op(Op::SetBits {
            start: 50,
            end: 60,
            bits: Bits::DEFRAG | Bits::LOCKED,
            exclusive: Bits::LOCKED,
            cached: true
        }),
        Outcome::Done
    );
    assert_eq!(
        r.op(Op::ClearBits {
            start: 0,
            end: 299,
            bits: Bits::DELALLOC,
            wake: true,
            delete: false,
            cached: true
        }),
        Outcome::Done
    );
    assert_eq!(r.snap().tree.defrag_bytes, 11);
    assert_eq!(
        r.op(Op::FindFirstBit {
            start: 0,
            bits: Bits::DEFRAG
        }),
        Outcome::Found {
            found: Some((50, 60, Bits::DEFRAG | Bits::LOCKED | Bits::UPTODATE))
        }
    );
    assert_eq!(
        r.op(Op::FindDelalloc {
            start: 0,
            max_bytes: 10
        }),
        Outcome::Delalloc {
            found: false,
            start: 0,
            end: 49
        }
    );
    assert_eq!(
        r.op(Op::TestRangeBit {
            start: 0,
            end: 299,
            bits: Bits::UPTODATE,
            filled: true
        }),
        Outcome::Test { result: true }
    );
    assert_eq!(
        r.op(Op::CountRangeBits {
            start: 0,
            end: 299,
            max_bytes: 1000,
            bits: Bits::DEFRAG,
            contig: false
        }),
        Outcome::Count {
            bytes: 11,
            first_start: 50
        }
    );
    r.assert_clean_unmount();
}

/// N threads, one inode each, via apply_shared; then unmount: nothing leaks.
/// DELALLOC_NEW on the stand-alone tree (SPEC §2.1): new_delalloc_bytes follows the records
/// that carry it, apart from DELALLOC, and records differing only in it stay apart.
#[test]
fn delalloc_new_counts_its_own_bytes() {
    let mut r = Run::new(geo());
    let (d, dn) = (Bits::DELALLOC, Bits::DELALLOC_NEW);
    let set = |start, end, bits| Op::SetBits {
        start,
        end,
        bits,
        exclusive: Bits::NONE,
        cached: false,
    };
    let clear = |start, end, bits, delete| Op::ClearBits {
        start,
        end,
        bits,
        wake: true,
        delete,
        cached: false,
    };
    let counters = |r: &Run| {
        let t = r.snap().tree;
        (
            t.records.len(),
            t.new_delalloc_bytes,
            t.delalloc_bytes,
            t.outstanding_extents,
        )
    };
    assert_eq!(r.op(set(0, 2 * K4 - 1, d | dn)), Outcome::Done);
    assert_eq!(r.op(set(2 * K4, 3 * K4 - 1, d)), Outcome::Done);
    assert_eq!(
        counters(&r),
        (2, 2 * K4, 3 * K4, 2),
        "bits differ: two records"
    );
    assert_eq!(r.op(set(2 * K4, 3 * K4 - 1, dn)), Outcome::Done);
    assert_eq!(counters(&r), (1, 3 * K4, 3 * K4, 1), "equal bits: merged");
    assert_eq!(r.op(clear(0, 3 * K4 - 1, d, false)), Outcome::Done);
    assert_eq!(
        counters(&r),
        (1, 3 * K4, 0, 0),
        "DELALLOC_NEW outlives DELALLOC"
    );
    assert_eq!(r.op(clear(K4, 2 * K4 - 1, dn, false)), Outcome::Done);
    assert_eq!(counters(&r), (2, 2 * K4, 0, 0));
    assert_eq!(
        r.op(clear(0, (1 << 50) - 1, Bits::NONE, true)),
        Outcome::Done
    );
    assert_eq!(counters(&r), (0, 0, 0, 0));
}

#[test]
fn threads_on_disjoint_inodes() {
    let g = Geometry {
        inodes: 8,
        max_extent: 16 * K4,
        write_chunk: 4 * K4,
        ..geo()
    };
    let m = Optimized::new(&g);
    std::thread::scope(|s| {
        for ino in 0..g.inodes {
            let m = &m;
            s.spawn(move || {
                let mut x = u64::from(ino).wrapping_mul(0x9e37_79b9_7f4a_7c15) + 1;
                let mut rnd = |n: u64| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x % n
                };
                for _ in 0..300 {
                    let pos = rnd(64) * 1000;
                    let op = match rnd(6) {
                        0..=2 => Op::BufferedWrite {
                            ino,
                            pos,
                            len: 1 + rnd(20_000),
                            copied: 1 + rnd(20_000) / 2,
                            nocow: false,
                        },
                        3 => Op::Writeback {
                            ino,
                            start: pos,
                            len: 1 + rnd(40_000),
                        },
                        4 => Op::FinishOrdered {
                            ino,
                            nth: rnd(256) as u8,
                        },
                        _ => Op::PageMkwrite {
                            ino,
                            pos: rnd(16) * K4,
                        },
                    };
                    let op = match op {
                        Op::BufferedWrite {
                            ino,
                            pos,
                            len,
                            copied,
                            nocow,
                        } => Op::BufferedWrite {
                            ino,
                            pos,
                            len,
                            copied: copied.min(len),
                            nocow,
                        },
                        op => op,
                    };
                    op.validate(&g).expect("valid op");
                    m.apply_shared(&op);
                }
            });
        }
        // A committer beside them.
        s.spawn(|| {
            for _ in 0..50 {
                m.apply_shared(&Op::Commit);
                std::thread::yield_now();
            }
        });
    });
    let before = m.snapshot_shared();
    check(&before, &g);
    assert!(before.inodes.iter().any(|i| !i.records.is_empty()));
    assert_eq!(m.apply_shared(&Op::Unmount), Outcome::Done);
    let s = m.snapshot_shared();
    check(&s, &g);
    assert_eq!(s.warnings, delalloc_contract::Warnings::default());
    assert_eq!(
        (
            s.data.bytes_may_use,
            s.data.bytes_reserved,
            s.meta.bytes_may_use
        ),
        (0, 0, 0)
    );
    assert_eq!(
        (s.delalloc_rsv.unwrap(), s.delayed_rsv, s.global_rsv),
        Default::default()
    );
    assert_eq!(s.fs_delalloc_bytes, 0);
}

/// Random programs over every op kind on small geometries (where count_max_extents, chunking
/// and csum leaves all matter), SPEC §8 checked after every op, a clean unmount at the end.
#[test]
fn random_programs_keep_the_invariants() {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut rnd = move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n.max(1)
    };
    for _ in 0..300 {
        let s = 512u64 << rnd(4);
        let g = Geometry {
            sectorsize: s,
            nodesize: s.max(4096) << rnd(2),
            max_extent: s * (1 + rnd(8)),
            write_chunk: s,
            data_bytes: s * 128 + rnd(s * 512),
            meta_bytes: (1 << 20) << rnd(7),
            global_rsv: (1 << 18) * rnd(3),
            inodes: 1 + rnd(3) as u8,
            era: Default::default(),
        };
        let g = Geometry {
            write_chunk: s * (1 + rnd(g.max_extent / s)),
            ..g
        };
        g.validate().expect("valid geometry");
        let mut r = Run::new(g);
        for _ in 0..150 {
            let ino = rnd(u64::from(g.inodes)) as u8;
            let pos = rnd(40 * s) + if rnd(4) == 0 { 0 } else { rnd(s) };
            let len = 1 + rnd(12 * s);
            let a = pos / s * s;
            let op = match rnd(24) {
                0..=5 => Op::BufferedWrite {
                    ino,
                    pos,
                    len,
                    copied: if rnd(4) == 0 { rnd(len + 1) } else { len },
                    nocow: rnd(3) == 0,
                },
                6 | 7 => Op::DirectWrite {
                    ino,
                    pos: a,
                    len: (1 + rnd(8)) * s,
                    fallback: rnd(3) == 0,
                },
                8 => Op::PageMkwrite { ino, pos: a },
                9 => Op::Defrag {
                    ino,
                    start: pos,
                    len,
                },
                10..=12 => Op::Writeback {
                    ino,
                    start: pos,
                    len,
                },
                13..=15 => Op::FinishOrdered {
                    ino,
                    nth: rnd(256) as u8,
                },
                16 => Op::Truncate {
                    ino,
                    size: rnd(40 * s),
                },
                17 => Op::Evict { ino },
                18 => Op::Commit,
                19 if rnd(3) == 0 => Op::SetFreeSpace {
                    data: rnd(64 * s),
                    meta: rnd(g.trans_metadata_size(24)),
                },
                19 => Op::SetFreeSpace {
                    data: 1 << 30,
                    meta: 1 << 30,
                },
                20 => Op::FailNextReservation {
                    kind: if rnd(2) == 0 {
                        FaultKind::Data
                    } else {
                        FaultKind::Metadata
                    },
                },
                21 => Op::SetDelalloc {
                    start: pos,
                    end: pos + len,
                },
                22 => Op::ClearBits {
                    start: pos,
                    end: pos + len,
                    bits: Bits(1 << rnd(11)).stored() | Bits::DELALLOC,
                    wake: true,
                    delete: rnd(5) == 0,
                    cached: true,
                },
                _ => Op::SetBits {
                    start: pos,
                    end: pos + len,
                    bits: Bits::DEFRAG | Bits(1 << rnd(11)).stored(),
                    exclusive: Bits::NONE,
                    cached: rnd(2) == 0,
                },
            };
            r.op(op);
        }
        r.assert_clean_unmount();
    }
}

/// An era-B inode with nothing in it: its era's fields present and zero (SPEC §0).
fn empty_era_b() -> InodeSnapshot {
    InodeSnapshot {
        reserved_extents: Some(0),
        delalloc_meta_reserved: Some(false),
        ..InodeSnapshot::default()
    }
}
