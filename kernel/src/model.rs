//! The kernel's io tree as a [`Model`]: the extent-tree ops run on a [`KernelTree`] whose
//! delalloc hooks are the kernel's, so every answer, record and hook counter of the snapshot's
//! `tree` part is the kernel code's.
//!
//! At file-system level, an era-6 program (era C accounting, SPEC §6.1) runs on the kernel's
//! own delalloc accounting ([`crate::era_c`]: delalloc-space.c, block-rsv.c and the hooks on a
//! [`crate::KernelFs`]), and the snapshot's fs part is read from the kernel's fields. A program
//! of another era has no kernel to speak for it: its file system is an embedded
//! [`delalloc_reference::Reference`], so that snapshots compare whole (campaigns against the
//! kernel generate era-6 programs only).

use crate::era_c::EraC;
use crate::{take_reports, KernelTree, Unsupported, KERNEL_PATCH, KERNEL_RELEASE};
use delalloc_contract::op::OpLevel;
use delalloc_contract::{
    Accounting, Bits, Complaint, Geometry, Model, Op, Outcome, Snapshot, TreeSnapshot,
};
use delalloc_reference::Reference;
use std::sync::OnceLock;

/// Whose file system a kernel model has.
enum FsLevel {
    /// Era C (era 6 programs): the kernel's.
    Kernel(Box<EraC>),
    /// Any other era: the reference's.
    Reference(Box<Reference>),
}

/// The kernel's io tree, hooks included, behind the contract's [`Model`].
pub struct KernelModel {
    tree: KernelTree,
    /// The tree's part of the snapshot, read after every op (reading the C tree needs `&mut`,
    /// and [`Model::snapshot`] has `&self`).
    tree_part: TreeSnapshot,
    /// The file-system level (see the module docs).
    fs: FsLevel,
    /// The fs level's part of the snapshot, read after every op that changes it (era C).
    fs_part: Snapshot,
    mounted: bool,
    complaints: Vec<Complaint>,
}

impl KernelModel {
    /// A fresh model for a (validated) geometry: an empty inode io tree whose hooks count with
    /// the geometry's max_extent as `fs_info->max_extent_size`.
    pub fn new(geometry: &Geometry) -> KernelModel {
        // Reports left on this thread by an earlier model (one that panicked mid-op) are not
        // this model's.
        let _ = take_reports();
        let fs = match geometry.era.accounting() {
            Accounting::C => FsLevel::Kernel(Box::new(EraC::new(geometry))),
            Accounting::B => FsLevel::Reference(Box::new(Reference::new(geometry))),
        };
        let mut m = KernelModel {
            tree: KernelTree::with_hooks(geometry.max_extent),
            tree_part: TreeSnapshot::default(),
            fs,
            fs_part: Snapshot::default(),
            mounted: true,
            complaints: Vec::new(),
        };
        m.read_fs();
        m.take_complaints_of_op();
        m.complaints.clear();
        m
    }

    /// Reads the kernel file system's counters into `fs_part` (era C only).
    fn read_fs(&mut self) {
        if let FsLevel::Kernel(fs) = &mut self.fs {
            fs.snapshot_into(&mut self.fs_part);
        }
    }

    /// The kernel's reports since the last op, as complaints.
    fn take_complaints_of_op(&mut self) {
        let (reports, lost) = take_reports();
        self.complaints
            .extend(reports.into_iter().map(|r| Complaint {
                kind: r.kind,
                location: r.location,
                text: r.text,
            }));
        if lost > 0 {
            self.complaints.push(Complaint {
                kind: "LOST".into(),
                location: "delalloc-kernel glue".into(),
                text: format!("{lost} more reports did not fit the report buffer"),
            });
        }
    }

    /// Reads the tree's records and the hooks' counters into `tree_part`.
    fn read_tree(&mut self) {
        let counters = self.tree.hook_counters();
        self.tree_part = TreeSnapshot {
            records: self.tree.records(),
            outstanding_extents: counters.outstanding_extents,
            delalloc_bytes: counters.delalloc_bytes,
            defrag_bytes: counters.defrag_bytes,
            new_delalloc_bytes: counters.new_delalloc_bytes,
        };
    }

    /// One tree op on the kernel's tree. An op the tree cannot take (a bit it lacks) panics
    /// with the reason: a campaign's dialect never generates one, and the oracle reports a
    /// replayed one as this model's panic, naming the op.
    fn tree_op(&mut self, op: &Op) -> Outcome {
        match self.try_tree_op(op) {
            Ok(outcome) => outcome,
            Err(e) => panic!("kernel {KERNEL_RELEASE} cannot run `{op:?}`: {e}"),
        }
    }

    fn try_tree_op(&mut self, op: &Op) -> Result<Outcome, Unsupported> {
        let t = &mut self.tree;
        Ok(match *op {
            Op::SetBits {
                start,
                end,
                bits,
                cached,
                ..
            } => match t.set_bits(start, end, bits, cached)? {
                Ok(()) => Outcome::Done,
                Err(failed_start) => Outcome::Exists { failed_start },
            },
            Op::ClearBits {
                start,
                end,
                bits,
                wake,
                delete,
                cached,
            } => {
                t.clear_bits(start, end, bits, wake, delete, cached)?;
                Outcome::Done
            }
            Op::ConvertBits {
                start,
                end,
                set,
                clear,
            } => {
                t.convert(start, end, set, clear)?;
                Outcome::Done
            }
            Op::SetDelalloc { start, end } => {
                t.set_delalloc(start, end)?;
                Outcome::Done
            }
            Op::Lock { start, end } => match t.lock_range(start, end) {
                Ok(()) => Outcome::Done,
                Err(failed_start) => Outcome::WouldBlock { failed_start },
            },
            Op::TryLock { start, end } => {
                if t.try_lock(start, end) {
                    Outcome::Done
                } else {
                    Outcome::Busy
                }
            }
            Op::Unlock { start, end } => {
                t.unlock(start, end);
                Outcome::Done
            }
            Op::TestRangeBit {
                start,
                end,
                bits,
                filled,
            } => Outcome::Test {
                result: t.test_range_bit(start, end, bits, filled)?,
            },
            Op::CountRangeBits {
                start,
                end,
                max_bytes,
                bits,
                contig,
            } => {
                let (bytes, first_start) =
                    t.count_range_bits(start, end, max_bytes, bits, contig)?;
                Outcome::Count { bytes, first_start }
            }
            Op::FindFirstBit { start, bits } => {
                let found = t.find_first_extent_bit(start, bits)?.map(|(s, e)| {
                    // A query leaves the tree as the last op did, and `tree_part` holds it.
                    let bits = self
                        .tree_part
                        .records
                        .iter()
                        .find(|r| r.start == s)
                        .map_or(Bits::NONE, |r| r.bits);
                    (s, e, bits)
                });
                Outcome::Found { found }
            }
            Op::FindDelalloc { start, max_bytes } => {
                let (found, start, end) = t.find_delalloc(start, u64::MAX, max_bytes);
                Outcome::Delalloc { found, start, end }
            }
            Op::FindFirstClearBit { start, bits } => {
                let (start, end) = t.find_first_clear_extent_bit(start, bits)?;
                Outcome::Clear { start, end }
            }
            Op::BufferedWrite { .. }
            | Op::DirectWrite { .. }
            | Op::PageMkwrite { .. }
            | Op::Defrag { .. }
            | Op::Writeback { .. }
            | Op::FinishOrdered { .. }
            | Op::Truncate { .. }
            | Op::Evict { .. }
            | Op::Commit
            | Op::Unmount
            | Op::SetFreeSpace { .. }
            | Op::FailNextReservation { .. }
            | Op::DrainDelallocRsv => unreachable!("not a tree op: {op:?}"),
        })
    }
}

impl Model for KernelModel {
    /// "kernel 6.12.118", or "kernel 6.12.118+NAME" built with the mutant patch NAME.patch.
    fn name(&self) -> &'static str {
        static NAME: OnceLock<String> = OnceLock::new();
        NAME.get_or_init(|| {
            let patch = std::path::Path::new(KERNEL_PATCH)
                .file_stem()
                .map_or(String::new(), |s| format!("+{}", s.to_string_lossy()));
            format!("kernel {KERNEL_RELEASE}{patch}")
        })
    }

    fn apply(&mut self, op: &Op) -> Outcome {
        if !self.mounted {
            return Outcome::Unmounted;
        }
        let outcome = match op.kind().level() {
            OpLevel::Tree => {
                let outcome = self.tree_op(op);
                // The queries change no record and run no hook: `tree_part` is still current.
                let query = matches!(
                    op,
                    Op::TestRangeBit { .. }
                        | Op::CountRangeBits { .. }
                        | Op::FindFirstBit { .. }
                        | Op::FindDelalloc { .. }
                        | Op::FindFirstClearBit { .. }
                );
                if !query {
                    self.read_tree();
                }
                outcome
            }
            OpLevel::Fs => {
                self.mounted = !matches!(op, Op::Unmount);
                match &mut self.fs {
                    FsLevel::Kernel(fs) => {
                        let outcome = fs.apply(op);
                        self.read_fs();
                        outcome
                    }
                    FsLevel::Reference(fs) => fs.apply(op),
                }
            }
        };
        self.take_complaints_of_op();
        outcome
    }

    fn snapshot(&self) -> Snapshot {
        let mut s = Snapshot::default();
        self.snapshot_into(&mut s);
        s
    }

    /// The fs level's snapshot (the kernel's, read after the last fs op; or the reference's)
    /// and `tree_part`, into `out`'s buffers (the oracle takes one after every op).
    fn snapshot_into(&self, out: &mut Snapshot) {
        match &self.fs {
            FsLevel::Kernel(_) => out.clone_from(&self.fs_part),
            FsLevel::Reference(fs) => fs.snapshot_into(out),
        }
        out.tree.clone_from(&self.tree_part);
    }

    fn take_complaints(&mut self) -> Vec<Complaint> {
        std::mem::take(&mut self.complaints)
    }
}
