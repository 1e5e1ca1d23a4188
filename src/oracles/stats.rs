//! What the differential oracle's agreeing runs exercised: ops per kind, outcomes per variant,
//! programs per geometry band, a few op shapes no kind or outcome shows, and the rare WARN
//! paths. A campaign sums them over its workers and prints them as its coverage table: a row
//! at zero is a part of what SPEC allows that the campaign never ran.

use crate::oracles::features::Features;
use crate::oracles::Coverage;
use delalloc_contract::geometry::MIB;
use delalloc_contract::{Era, Geometry, Op, OpKind, Outcome, Snapshot};
use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Serialize, Serializer};
use std::fmt::Write as _;

/// What agreeing runs exercised: programs, ops, ops per kind and outcomes per variant (the
/// share of Enospc or Unmounted says whether inputs are wasted). Mergeable across runs.
#[derive(Clone, Debug, PartialEq, Eq)]
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
    /// Programs per geometry band: row [`geometry_rows`] of [`GEOMETRY`], flattened.
    pub geometry: [u64; GEOMETRY_ROWS],
    /// Ops of each [`SHAPES`] row.
    pub shapes: [u64; SHAPES.len()],
    /// The features reached ([`crate::oracles::features`]): one program's, or their union.
    pub features: Features,
}

/// The WARN paths a correct run may reach, with the era they are reached in (SPEC §5: the
/// steal from the global reserve is era B's last resort; §5.1: era C has no steal, and its
/// inode update goes unreserved when the inode's reservation runs short).
pub const WARN_PATHS: [(&str, Era); 3] = [
    ("global_rsv_steal", Era::B),
    ("unreserved_inode_update", Era::B),
    ("unreserved_inode_update", Era::V6),
];

/// The powers of two a sector or a node may be (SPEC §7's geometry: 512..=65536).
const SIZES: [&str; 8] = ["512", "1K", "2K", "4K", "8K", "16K", "32K", "64K"];

/// The geometry dimensions of the coverage table and the bands of each (programs are counted
/// in exactly one band per dimension; [`geometry_rows`] says which).
pub const GEOMETRY: [(&str, &[&str]); 7] = [
    ("inodes", &["1", "2", "3", "4", "5", "6", "7", "8"]),
    ("sectorsize", &SIZES),
    ("nodesize", &SIZES),
    (
        "max_extent",
        &[
            "1 sector",
            "2-16 sectors",
            "to 1M",
            "to 128M",
            "128M",
            "over 128M",
        ],
    ),
    (
        "write_chunk",
        &["1 sector", "2-16 sectors", "more", "max_extent"],
    ),
    ("era", &["b", "6"]),
    ("space", &["ample", "little"]),
];

/// Rows of [`GEOMETRY`], all dimensions together.
pub const GEOMETRY_ROWS: usize = {
    let mut n = 0;
    let mut i = 0;
    while i < GEOMETRY.len() {
        n += GEOMETRY[i].1.len();
        i += 1;
    }
    n
};

/// For each dimension of [`GEOMETRY`], the band `g` falls in.
pub fn geometry_bands(g: &Geometry) -> [usize; GEOMETRY.len()] {
    let size = |v: u64| (v.clamp(512, 65536).ilog2() - 9) as usize;
    let sectors = |v: u64| v / g.sectorsize.max(1);
    let max_extent = match g.max_extent {
        m if sectors(m) <= 1 => 0,
        m if sectors(m) <= 16 => 1,
        m if m <= MIB => 2,
        m if m < 128 * MIB => 3,
        m if m == 128 * MIB => 4,
        _ => 5,
    };
    let write_chunk = match g.write_chunk {
        c if c == g.max_extent => 3,
        c if sectors(c) <= 1 => 0,
        c if sectors(c) <= 16 => 1,
        _ => 2,
    };
    let default = Geometry::default();
    let little = g.data_bytes < default.data_bytes || g.meta_bytes < default.meta_bytes;
    [
        usize::from(g.inodes.clamp(1, 8) - 1),
        size(g.sectorsize),
        size(g.nodesize),
        max_extent,
        write_chunk,
        usize::from(g.era == Era::V6),
        usize::from(little),
    ]
}

/// The flat row indices (into [`Stats::geometry`]) of `g`'s bands.
fn geometry_rows(g: &Geometry) -> impl Iterator<Item = usize> {
    let mut offset = 0;
    geometry_bands(g)
        .into_iter()
        .zip(GEOMETRY)
        .map(move |(band, (_, bands))| {
            let row = offset + band;
            offset += bands.len();
            row
        })
}

/// Op shapes no kind or outcome shows, counted per op that ran them (SPEC §6, §6.1).
pub const SHAPES: [&str; 7] = [
    "buffered_write over several chunks",
    "buffered_write short copy",
    "direct_write fallback to buffered",
    "direct_write over several extents",
    "defrag over several chunks",
    "lock waits (would_block)",
    "try_lock busy",
];

/// Which [`SHAPES`] row `op` ran, if any; `i_size` is its inode's size before it.
fn shape(op: &Op, outcome: &Outcome, g: &Geometry, i_size: u64) -> Option<usize> {
    let written = matches!(outcome, Outcome::Written { .. });
    let s = g.sectorsize.max(1);
    match *op {
        Op::BufferedWrite {
            pos, len, copied, ..
        } => {
            if written && copied < len {
                Some(1)
            } else if written && pos % s + copied > g.write_chunk {
                Some(0)
            } else {
                None
            }
        }
        Op::DirectWrite { fallback: true, .. } if written => Some(2),
        Op::DirectWrite { len, .. } if written && len > g.max_extent => Some(3),
        Op::Defrag { start, len, .. } if *outcome == Outcome::Done => {
            // SPEC §6: [a, min(round_up(start + len), round_up(i_size)) - 1] in write_chunks.
            let a = start / s * s;
            let end = start
                .saturating_add(len)
                .div_ceil(s)
                .min(i_size.div_ceil(s))
                .saturating_mul(s);
            (end.saturating_sub(a) > g.write_chunk).then_some(4)
        }
        Op::Lock { .. } if matches!(outcome, Outcome::WouldBlock { .. }) => Some(5),
        Op::TryLock { .. } if *outcome == Outcome::Busy => Some(6),
        _ => None,
    }
}

impl Default for Stats {
    fn default() -> Stats {
        Stats {
            programs: 0,
            ops: 0,
            per_kind: [0; OpKind::ALL.len()],
            outcomes: [0; Outcome::NAMES.len()],
            warn_paths: [0; WARN_PATHS.len()],
            geometry: [0; GEOMETRY_ROWS],
            shapes: [0; SHAPES.len()],
            features: Features::default(),
        }
    }
}

impl Stats {
    pub fn count(&mut self, kind: OpKind, outcome: &Outcome) {
        self.ops += 1;
        self.per_kind[kind as usize] += 1;
        self.outcomes[outcome.index()] += 1;
    }

    /// Counts `op` as [`Stats::count`] does, and its [`SHAPES`] row; `i_size` is the size of
    /// its inode before it ran (0 for ops of no inode).
    pub fn count_op(&mut self, op: &Op, outcome: &Outcome, g: &Geometry, i_size: u64) {
        self.count(op.kind(), outcome);
        self.features.op(op.kind(), outcome);
        if let Some(row) = shape(op, outcome, g, i_size) {
            self.shapes[row] += 1;
            self.features.shape(row);
        }
    }

    /// Counts one program of geometry `g` in its band of every [`GEOMETRY`] dimension.
    pub fn count_geometry(&mut self, g: &Geometry) {
        for row in geometry_rows(g) {
            self.geometry[row] += 1;
            self.features.geometry(row);
        }
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
        for (a, b) in self.geometry.iter_mut().zip(other.geometry) {
            *a += b;
        }
        for (a, b) in self.shapes.iter_mut().zip(other.shapes) {
            *a += b;
        }
        self.features.union_with(&other.features);
    }

    /// Counts the WARN paths a finished program of era `era` shows it reached in its last
    /// snapshot.
    pub fn count_warn_paths(&mut self, last: &Snapshot, era: Era) {
        let w = &last.warnings;
        for (row, (n, (name, path_era))) in self.warn_paths.iter_mut().zip(WARN_PATHS).enumerate() {
            let hit = match name {
                "global_rsv_steal" => w.global_rsv_steals,
                _ => w.unreserved_inode_updates,
            };
            let reached = hit > 0 && era == path_era;
            *n += u64::from(reached);
            if reached {
                self.features.warn_path(row);
            }
        }
    }

    /// Each WARN path, its era and the programs that reached it.
    pub fn warn_path_counts(&self) -> impl Iterator<Item = (&'static str, Era, u64)> + '_ {
        WARN_PATHS
            .into_iter()
            .zip(self.warn_paths)
            .map(|((name, era), n)| (name, era, n))
    }

    /// Each geometry dimension, band and the programs counted in it, in [`GEOMETRY`] order.
    pub fn geometry_counts(&self) -> impl Iterator<Item = (&'static str, &'static str, u64)> + '_ {
        GEOMETRY
            .into_iter()
            .flat_map(|(dim, bands)| bands.iter().map(move |&b| (dim, b)))
            .zip(self.geometry)
            .map(|((dim, band), n)| (dim, band, n))
    }

    pub fn shape_counts(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        SHAPES.into_iter().zip(self.shapes)
    }

    /// The rows of the coverage table (op kinds, geometry bands, shapes, WARN paths) that no
    /// program reached, as the table names them. Outcomes are not rows: which ones an op kind
    /// can answer depends on the level.
    pub fn unreached(&self) -> Vec<String> {
        let kinds = self
            .kind_counts()
            .filter(|&(_, n)| n == 0)
            .map(|(k, _)| k.name().to_string());
        let geometry = self
            .geometry_counts()
            .filter(|&(_, _, n)| n == 0)
            .map(|(dim, band, _)| format!("{dim} {band}"));
        let shapes = self
            .shape_counts()
            .filter(|&(_, n)| n == 0)
            .map(|(name, _)| name.to_string());
        let warns = self
            .warn_path_counts()
            .filter(|&(_, _, n)| n == 0)
            .map(|(name, era, _)| format!("{name} (era {era})"));
        kinds.chain(geometry).chain(shapes).chain(warns).collect()
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
        struct Nested<'a>(&'a Stats);
        impl Serialize for Nested<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut m = s.serialize_map(Some(GEOMETRY.len()))?;
                let mut counts = self.0.geometry_counts();
                for (dim, bands) in GEOMETRY {
                    let rows: Vec<(&str, u64)> = counts
                        .by_ref()
                        .take(bands.len())
                        .map(|(_, b, n)| (b, n))
                        .collect();
                    m.serialize_entry(dim, &Map(rows.into_iter()))?;
                }
                m.end()
            }
        }
        struct Warns<'a>(&'a Stats);
        impl Serialize for Warns<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut m = s.serialize_map(None)?;
                for (name, era, n) in self.0.warn_path_counts() {
                    m.serialize_entry(&format!("{name} era {era}"), &n)?;
                }
                m.end()
            }
        }
        let mut st = s.serialize_struct("Stats", 9)?;
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
        st.serialize_field("geometry", &Nested(self))?;
        st.serialize_field("shapes", &Map(SHAPES.into_iter().zip(self.shapes)))?;
        st.serialize_field("warn_paths", &Warns(self))?;
        st.serialize_field("unreached", &self.unreached())?;
        st.serialize_field("features", &self.features.count())?;
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

    fn features(&self) -> Option<&Features> {
        Some(&self.features)
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
        let _ = writeln!(s, "programs per geometry band:");
        let mut counts = self.geometry_counts();
        for (dim, bands) in GEOMETRY {
            let _ = write!(s, "  {dim:<12}");
            for (_, band, n) in counts.by_ref().take(bands.len()) {
                let _ = write!(s, " {band}: {n}");
            }
            let _ = writeln!(s);
        }
        let _ = writeln!(s, "op shapes:");
        for (name, n) in self.shape_counts() {
            let _ = writeln!(s, "  {name:<36}{n:>10}");
        }
        let _ = writeln!(s, "programs reaching a WARN path:");
        for (name, era, n) in self.warn_path_counts() {
            let _ = writeln!(s, "  {:<36}{n:>10}", format!("{name} (era {era})"));
        }
        let _ = writeln!(
            s,
            "features (op kind x outcome, WARN paths, shapes, geometry, counter and record-count bands): {}",
            self.features.count()
        );
        s.push_str(&coverage_verdict(&self.unreached()));
        s
    }
}

/// The last line of a coverage table: every row reached, or which were not.
pub fn coverage_verdict<T: AsRef<str>>(unreached: &[T]) -> String {
    if unreached.is_empty() {
        return "coverage: every row above reached\n".into();
    }
    let names: Vec<&str> = unreached.iter().map(AsRef::as_ref).collect();
    format!(
        "coverage: {} row(s) never reached: {}\n",
        names.len(),
        names.join(", ")
    )
}
