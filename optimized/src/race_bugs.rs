//! The two historical races of the seeds, re-created on request so that the concurrent oracle
//! can show it finds them (SPEC §10). Each is invisible to a sequential program: it only opens a
//! window in which another task sees a half-done operation.
//!
//! - [`RaceBug::ReservedExtentsBeforeSuccess`] (seed 000, 660d3f6cde55 reverted):
//!   btrfs_delalloc_reserve_metadata raises reserved_extents before reserve_metadata_bytes
//!   succeeds (and takes it back on failure). A release racing in the window (finish_ordered_io,
//!   a DO_ACCOUNTING clear) sees the raised count, drops "reserved" extents that were never
//!   reserved and frees their bytes: "releasing bytes we didn't reserve".
//! - [`RaceBug::UnlockBeforeSetDelalloc`] (seed 003, 376cc685cb3b reverted): the buffered write
//!   unlocks its extent range right after cleaning it (the old prepare_pages), before the user
//!   copy and set_extent_delalloc. A DIO falling back to buffered locks the range in between and
//!   its clear of DELALLOC|DIRTY takes the writer's delalloc with it: the writer's reservation
//!   leaks (WARN_ONs at btrfs_destroy_inode).
//!
//! Off by default; a flag test on the reservation and write paths is all the default costs.
//! Kept apart from the sequential injected bugs so that either can grow without the other.

/// One re-created race.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RaceBug {
    /// Seed 000: reserved_extents raised before the reservation succeeds.
    ReservedExtentsBeforeSuccess,
    /// Seed 003: the buffered write's extent range unlocked before its delalloc is set.
    UnlockBeforeSetDelalloc,
}

impl RaceBug {
    pub const ALL: [RaceBug; 2] = [
        RaceBug::ReservedExtentsBeforeSuccess,
        RaceBug::UnlockBeforeSetDelalloc,
    ];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            RaceBug::ReservedExtentsBeforeSuccess => "race-000-reserved-extents-before-success",
            RaceBug::UnlockBeforeSetDelalloc => "race-003-unlock-before-set-delalloc",
        }
    }

    pub fn from_name(name: &str) -> Option<RaceBug> {
        RaceBug::ALL.into_iter().find(|b| b.name() == name)
    }

    /// The seed commit the race comes from.
    pub fn seed(self) -> &'static str {
        match self {
            RaceBug::ReservedExtentsBeforeSuccess => "000",
            RaceBug::UnlockBeforeSetDelalloc => "003",
        }
    }
}

/// A set of re-created races (a bit per [`RaceBug`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RaceBugs(u8);

impl RaceBugs {
    pub const NONE: RaceBugs = RaceBugs(0);

    pub fn with(self, bug: RaceBug) -> RaceBugs {
        RaceBugs(self.0 | 1 << bug as u8)
    }

    #[inline]
    pub fn contains(self, bug: RaceBug) -> bool {
        self.0 & (1 << bug as u8) != 0
    }
}

impl From<RaceBug> for RaceBugs {
    fn from(bug: RaceBug) -> RaceBugs {
        RaceBugs::NONE.with(bug)
    }
}
