//! What the differential oracle's agreeing runs exercised: ops per kind, outcomes per variant
//! and the rare WARN paths no outcome shows. A campaign sums them over its workers.

use crate::oracles::Coverage;
use delalloc_contract::{OpKind, Outcome, Snapshot};
use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Serialize, Serializer};
use std::fmt::Write as _;

/// What agreeing runs exercised: programs, ops, ops per kind and outcomes per variant (the
/// share of Enospc or Unmounted says whether inputs are wasted). Mergeable across runs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub programs: u64,
    pub ops: u64,
    /// Indexed by `OpKind as usize`.
    pub per_kind: [u64; OpKind::ALL.len()],
    /// Indexed by [`Outcome::index`].
    pub outcomes: [u64; Outcome::NAMES.len()],
    /// Programs that reached each of the rare, legitimate WARN paths ([`WARN_PATHS`]): no op
    /// outcome shows them, so without this count a campaign could miss them unnoticed.
    pub warn_paths: [u64; WARN_PATHS.len()],
}

/// The WARN paths a correct run may reach (SPEC §5), as the summary names them.
pub const WARN_PATHS: [&str; 2] = ["global_rsv_steal", "unreserved_inode_update"];

impl Stats {
    pub fn count(&mut self, kind: OpKind, outcome: &Outcome) {
        self.ops += 1;
        self.per_kind[kind as usize] += 1;
        self.outcomes[outcome.index()] += 1;
    }

    pub fn merge(&mut self, other: &Stats) {
        self.programs += other.programs;
        self.ops += other.ops;
        for (a, b) in self.per_kind.iter_mut().zip(other.per_kind) {
            *a += b;
        }
        for (a, b) in self.outcomes.iter_mut().zip(other.outcomes) {
            *a += b;
        }
        for (a, b) in self.warn_paths.iter_mut().zip(other.warn_paths) {
            *a += b;
        }
    }

    /// Counts the WARN paths a finished program's last snapshot shows it reached.
    pub fn count_warn_paths(&mut self, last: &Snapshot) {
        let w = &last.warnings;
        for (n, hit) in self
            .warn_paths
            .iter_mut()
            .zip([w.global_rsv_steals, w.unreserved_inode_updates])
        {
            *n += u64::from(hit > 0);
        }
    }

    pub fn warn_path_counts(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        WARN_PATHS.into_iter().zip(self.warn_paths)
    }

    /// Kinds run at least once.
    pub fn kinds_seen(&self) -> usize {
        self.per_kind.iter().filter(|&&n| n > 0).count()
    }

    pub fn kind_counts(&self) -> impl Iterator<Item = (OpKind, u64)> + '_ {
        OpKind::ALL
            .into_iter()
            .map(|k| (k, self.per_kind[k as usize]))
    }

    pub fn outcome_counts(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        Outcome::NAMES.into_iter().zip(self.outcomes)
    }
}

impl Serialize for Stats {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Map<I>(I);
        impl<I: Iterator<Item = (&'static str, u64)> + Clone> Serialize for Map<I> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut m = s.serialize_map(None)?;
                for (k, v) in self.0.clone() {
                    m.serialize_entry(k, &v)?;
                }
                m.end()
            }
        }
        let mut st = s.serialize_struct("Stats", 5)?;
        st.serialize_field("programs", &self.programs)?;
        st.serialize_field("ops", &self.ops)?;
        st.serialize_field(
            "per_kind",
            &Map(OpKind::ALL
                .into_iter()
                .map(|k| (k.name(), self.per_kind[k as usize]))),
        )?;
        st.serialize_field(
            "outcomes",
            &Map(Outcome::NAMES.into_iter().zip(self.outcomes)),
        )?;
        st.serialize_field(
            "warn_paths",
            &Map(WARN_PATHS.into_iter().zip(self.warn_paths)),
        )?;
        st.end()
    }
}

impl Coverage for Stats {
    fn merge(&mut self, other: &Stats) {
        Stats::merge(self, other);
    }

    fn programs(&self) -> u64 {
        self.programs
    }

    fn ops(&self) -> u64 {
        self.ops
    }

    fn kinds_mask(&self) -> u32 {
        self.kind_counts()
            .enumerate()
            .filter(|(_, (_, n))| *n > 0)
            .fold(0, |m, (k, _)| m | 1 << k)
    }

    /// Per-kind counts, outcome shares (a high share of Enospc or Unmounted means wasted
    /// inputs) and the programs that reached each WARN path.
    fn text(&self) -> String {
        let pct = |n: u64| {
            if self.ops == 0 {
                0.0
            } else {
                100.0 * n as f64 / self.ops as f64
            }
        };
        let mut s = String::new();
        let _ = writeln!(
            s,
            "op kinds ({}/{} seen):",
            self.kinds_seen(),
            OpKind::ALL.len()
        );
        for (k, n) in self.kind_counts() {
            let _ = writeln!(s, "  {:<22}{n:>10}  {:>5.1}%", k.name(), pct(n));
        }
        let _ = writeln!(s, "outcomes:");
        for (name, n) in self.outcome_counts().filter(|&(_, n)| n > 0) {
            let _ = writeln!(s, "  {name:<22}{n:>10}  {:>5.1}%", pct(n));
        }
        let _ = writeln!(s, "programs reaching a WARN path:");
        for (name, n) in self.warn_path_counts() {
            let _ = writeln!(s, "  {name:<22}{n:>10}");
        }
        s
    }
}
