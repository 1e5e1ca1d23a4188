//! The two historical races of the seeds, re-created on request so that the concurrent oracle
//! can show it finds them (SPEC §10). Each is invisible to a sequential program: it only opens a
//! window in which another task sees a half-done operation.
//!
//! - [`RaceBug::RacingReleaseIgnored`] (seed 000, the racing-release half of 660d3f6cde55):
//!   btrfs_delalloc_reserve_metadata adds its bytes to csum_bytes and drops the inode lock while
//!   reserve_metadata_bytes runs. A release in that window (finish_ordered_io, a DO_ACCOUNTING
//!   clear) computes the checksum leaves it frees from the inflated count; if the reservation then
//!   fails, it must free what the release could not. The re-creation treats every failure as
//!   unraced (forget our csum bytes, free nothing): the leaves the release left behind stay
//!   reserved and leak. (The other half of the commit, raising reserved_extents only on
//!   success, is visible to a sequential program through the ENOSPC path: it is a sequential
//!   injected bug, not a race.)
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
    /// Seed 000: a failed reservation ignores a release that raced with it.
    RacingReleaseIgnored,
    /// Seed 003: the buffered write's extent range unlocked before its delalloc is set.
    UnlockBeforeSetDelalloc,
}

impl RaceBug {
    pub const ALL: [RaceBug; 2] = [
        RaceBug::RacingReleaseIgnored,
        RaceBug::UnlockBeforeSetDelalloc,
    ];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            RaceBug::RacingReleaseIgnored => "race-000-racing-release-ignored",
            RaceBug::UnlockBeforeSetDelalloc => "race-003-unlock-before-set-delalloc",
        }
    }

    pub fn from_name(name: &str) -> Option<RaceBug> {
        RaceBug::ALL.into_iter().find(|b| b.name() == name)
    }

    /// The seed commit the race comes from.
    pub fn seed(self) -> &'static str {
        match self {
            RaceBug::RacingReleaseIgnored => "000",
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
