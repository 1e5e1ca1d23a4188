//! Extent state bits, with the values of the 3.x/4.x kernels (extent_io.h), so that a program
//! printed here reads like a kernel trace.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A set of extent state bits. Stored bits and control bits share the space, as in the kernel;
/// control bits ([`Bits::CONTROL`]) reach the hooks but are never stored in a record.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Bits(pub u32);

impl Bits {
    /// The empty set.
    pub const NONE: Bits = Bits(0);
    /// EXTENT_DIRTY: the range has dirty pages.
    pub const DIRTY: Bits = Bits(1);
    /// EXTENT_WRITEBACK: the range is being written back.
    pub const WRITEBACK: Bits = Bits(1 << 1);
    /// EXTENT_UPTODATE: the pages hold the file's current data.
    pub const UPTODATE: Bits = Bits(1 << 2);
    /// EXTENT_LOCKED: held by lock_extent; other lockers wait.
    pub const LOCKED: Bits = Bits(1 << 3);
    /// EXTENT_NEW: freshly allocated, not yet on disk.
    pub const NEW: Bits = Bits(1 << 4);
    /// EXTENT_DELALLOC: dirty data with space reserved but no extent allocated yet; the hooks
    /// count these bytes and their outstanding extents.
    pub const DELALLOC: Bits = Bits(1 << 5);
    /// EXTENT_DEFRAG: marked by the defrag ioctl to be rewritten.
    pub const DEFRAG: Bits = Bits(1 << 6);
    /// EXTENT_BOUNDARY: the record does not merge with its neighbours.
    pub const BOUNDARY: Bits = Bits(1 << 9);
    /// EXTENT_NODATASUM: the data carries no checksums.
    pub const NODATASUM: Bits = Bits(1 << 10);
    /// Control bit: a clear that carries it releases the metadata reservation of the cleared range.
    pub const DO_ACCOUNTING: Bits = Bits(1 << 11);
    /// EXTENT_NORESERVE: delalloc written in place (NOCOW) without a data space reservation.
    pub const NORESERVE: Bits = Bits(1 << 15);
    /// EXTENT_DELALLOC_NEW: delalloc over bytes that have no allocated extent yet (written past
    /// i_size, or into a hole), counted in the inode's new_delalloc_bytes (SPEC §2.1). 4.14's
    /// value (1U << 18, after EXTENT_CLEAR_DATA_RESV at 1U << 17); 6.1 has it at 1U << 14, after
    /// the kernel renumbered its bits, so bits are matched by name, never by number.
    pub const DELALLOC_NEW: Bits = Bits(1 << 18);

    /// Bits that are only messages to the hooks and never stored.
    pub const CONTROL: Bits = Bits::DO_ACCOUNTING;
    /// Records carrying any of these never merge with a neighbour (era B merge_state:
    /// EXTENT_IOBITS | EXTENT_BOUNDARY).
    pub const NO_MERGE: Bits = Bits(Bits::LOCKED.0 | Bits::WRITEBACK.0 | Bits::BOUNDARY.0);
    /// Every bit a record can store.
    pub const STORABLE: Bits = Bits(
        Bits::DIRTY.0
            | Bits::WRITEBACK.0
            | Bits::UPTODATE.0
            | Bits::LOCKED.0
            | Bits::NEW.0
            | Bits::DELALLOC.0
            | Bits::DEFRAG.0
            | Bits::BOUNDARY.0
            | Bits::NODATASUM.0
            | Bits::NORESERVE.0
            | Bits::DELALLOC_NEW.0,
    );

    /// Names in the order the text format prints them.
    pub const NAMES: [(&'static str, Bits); 12] = [
        ("DIRTY", Bits::DIRTY),
        ("WRITEBACK", Bits::WRITEBACK),
        ("UPTODATE", Bits::UPTODATE),
        ("LOCKED", Bits::LOCKED),
        ("NEW", Bits::NEW),
        ("DELALLOC", Bits::DELALLOC),
        ("DEFRAG", Bits::DEFRAG),
        ("BOUNDARY", Bits::BOUNDARY),
        ("NODATASUM", Bits::NODATASUM),
        ("DO_ACCOUNTING", Bits::DO_ACCOUNTING),
        ("NORESERVE", Bits::NORESERVE),
        ("DELALLOC_NEW", Bits::DELALLOC_NEW),
    ];

    /// Whether every bit of `other` is set here.
    pub const fn contains(self, other: Bits) -> bool {
        self.0 & other.0 == other.0
    }
    /// Whether some bit of `other` is set here.
    pub const fn intersects(self, other: Bits) -> bool {
        self.0 & other.0 != 0
    }
    /// The bits set in either.
    pub const fn union(self, other: Bits) -> Bits {
        Bits(self.0 | other.0)
    }
    /// These bits without those of `other`.
    pub const fn minus(self, other: Bits) -> Bits {
        Bits(self.0 & !other.0)
    }
    /// Whether no bit is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// The bits a record would store: control bits removed.
    pub const fn stored(self) -> Bits {
        Bits(self.0 & Bits::STORABLE.0)
    }
    /// The bit called `name` in [`Bits::NAMES`] (`DELALLOC`).
    pub fn from_name(name: &str) -> Option<Bits> {
        Bits::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, b)| *b)
    }
}

impl std::ops::BitOr for Bits {
    type Output = Bits;
    fn bitor(self, rhs: Bits) -> Bits {
        self.union(rhs)
    }
}

impl fmt::Display for Bits {
    /// `DELALLOC|UPTODATE` style, `0` for no bits, unknown bits as a trailing hex number.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("0");
        }
        let mut rest = self.0;
        let mut first = true;
        for (name, bit) in Bits::NAMES {
            if rest & bit.0 != 0 {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                rest &= !bit.0;
                first = false;
            }
        }
        if rest != 0 {
            if !first {
                f.write_str("|")?;
            }
            write!(f, "{rest:#x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Bits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
