//! SPEC §8: the invariants every snapshot satisfies after every op, whatever the op was.
//!
//! [`check`] answers the first broken invariant as a [`Violation`]: its name (stable, used by the
//! minimizer to recognise "the same bug") and a message with the numbers, e.g.
//! `inodes[1]: outstanding_extents 3 != Σ count over DELALLOC records (1) + ordered extents (1)`.
//!
//! The checks never trust the snapshot: a record with end < start, or counters near u64::MAX
//! from a model that underflowed, are reported, not panicked on (sums are u128).

use delalloc_contract::{
    Accounting, Bits, BlockRsv, Geometry, InodeSnapshot, OrderedKind, Record, Rewritten, Snapshot,
    TreeSnapshot,
};
use serde::Serialize;
use std::fmt;

/// A broken invariant: which one (`"8.3 outstanding_extents"`) and why, with the numbers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub invariant: &'static str,
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[§{}] {}", self.invariant, self.message)
    }
}

/// Every SPEC §8 invariant on `s`; the first broken one. Unmounted snapshots must also have
/// released everything (§8.6: the oracle unmounts at the end of every program).
pub fn check(s: &Snapshot, g: &Geometry) -> Result<(), Violation> {
    check_parts(s, g, None)
}

/// [`check`], for a snapshot taken one op after `prev`, which passed [`check`]: each invariant
/// reads only some parts of the state (the stand-alone tree, one inode, the fs-wide fields and
/// all inodes), and parts equal to `prev`'s still satisfy what they satisfied, so only the
/// invariants reading a changed part are checked again. Comparing a part costs less than
/// re-deriving its sums, and most ops change one part.
///
/// `written`: the parts that may differ from `prev` at all; the others are known equal to it
/// and are neither compared nor checked. The oracle learns them from the model whose snapshot
/// buffer is updated in place ([`delalloc_contract::Model::snapshot_update`]); with
/// [`Rewritten::ALL`] every part is compared.
pub fn check_since(
    prev: &Snapshot,
    s: &Snapshot,
    g: &Geometry,
    written: Rewritten,
) -> Result<(), Violation> {
    if prev.inodes.len() != s.inodes.len() {
        return check(s, g);
    }
    check_parts(s, g, Some((prev, written)))
}

fn fs_fields_differ(a: &Snapshot, b: &Snapshot) -> bool {
    a.mounted != b.mounted
        || a.data != b.data
        || a.meta != b.meta
        || a.delalloc_rsv != b.delalloc_rsv
        || a.delayed_rsv != b.delayed_rsv
        || a.global_rsv != b.global_rsv
        || a.fs_delalloc_bytes != b.fs_delalloc_bytes
        || a.warnings != b.warnings
}

/// Checks the invariants of `s` that read a part changed since `prev` (every part without one),
/// comparing only the parts `written` says may have changed. The parts: the stand-alone tree,
/// each inode, and the fs-wide fields, whose invariants (§8.4, §8.5, §8.6) also read every
/// inode. Each part is compared with `prev` at most once.
fn check_parts(
    s: &Snapshot,
    g: &Geometry,
    prev: Option<(&Snapshot, Rewritten)>,
) -> Result<(), Violation> {
    // Bit i: inode i changed. Inodes past the 64th (no geometry has them) count as changed.
    let changed_inodes = prev.map_or(u64::MAX, |(p, written)| {
        let pairs = s.inodes.iter().zip(&p.inodes).take(64).enumerate();
        pairs.fold(0, |m, (i, (a, b))| {
            m | u64::from(written.inode(i) && a != b) << i
        })
    });
    let inode_changed = |i: usize| i >= 64 || changed_inodes >> i & 1 == 1;
    let fs_changed = changed_inodes != 0
        || s.inodes.len() > 64
        || prev.is_none_or(|(p, written)| written.fs && fs_fields_differ(p, s));
    if fs_changed {
        // The models' own WARN_ONs first: they name the op class that leaked.
        no_leaks(s)?;
        if !s.mounted {
            released(s)?;
        }
    }
    match prev {
        Some((_, written)) if !written.tree => {}
        Some((p, _)) => tree_since(&p.tree, &s.tree, g)?,
        None => {
            tree_is_canonical("tree", &s.tree.records, 0, false, g)?;
            tree_counters(&s.tree, record_sums(&s.tree.records, g))?;
        }
    }
    for (i, inode) in s.inodes.iter().enumerate() {
        if inode_changed(i) {
            let name = InodeName(i);
            tree_is_canonical(name, &inode.records, 0, true, g)?;
            inode_counters(name, inode, g)?;
        }
    }
    if fs_changed {
        fs_wide(s)?;
        if s.mounted {
            reservations(s, g)?;
        }
    }
    Ok(())
}

/// [`check`] with the violation rendered as one line.
pub fn check_str(s: &Snapshot, g: &Geometry) -> Result<(), String> {
    check(s, g).map_err(|v| v.to_string())
}

/// `inodes[i]`, rendered only into a failure message.
#[derive(Clone, Copy)]
struct InodeName(usize);

impl fmt::Display for InodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "inodes[{}]", self.0)
    }
}

fn fail<T>(invariant: &'static str, message: String) -> Result<T, Violation> {
    Err(Violation { invariant, message })
}

fn len(r: &Record) -> u128 {
    u128::from(r.end) - u128::from(r.start) + 1
}

/// count_max_extents in u128 (a malformed snapshot may hold any record), with the u64
/// division for every real length: a u128 division is a library call, and this runs for every
/// DELALLOC record after every op.
fn count(g: &Geometry, len: u128) -> u128 {
    match u64::try_from(len) {
        Ok(l) => u128::from(g.count_max_extents(l)),
        Err(_) => len.div_ceil(u128::from(g.max_extent)),
    }
}

fn trans(g: &Geometry, items: u128) -> u128 {
    u128::from(g.nodesize) * u128::from(Geometry::MAX_LEVEL) * 2 * items
}

/// btrfs_calc_metadata_size: nodesize * BTRFS_MAX_LEVEL * items (era C's inode update).
fn meta(g: &Geometry, items: u128) -> u128 {
    u128::from(g.nodesize) * u128::from(Geometry::MAX_LEVEL) * items
}

fn leaves(g: &Geometry, bytes: u128) -> u128 {
    (bytes / u128::from(g.sectorsize)).div_ceil(u128::from(g.csums_per_leaf()))
}

/// What a tree's records say its hook counters must be (SPEC §8.2, §8.3).
struct RecordSums {
    /// Σ count_max_extents(len) over DELALLOC records.
    extents: u128,
    /// Σ len over DELALLOC records.
    delalloc: u128,
    /// Σ len over DEFRAG records.
    defrag: u128,
    /// Σ len over DELALLOC_NEW records.
    new_delalloc: u128,
}

/// [`RecordSums`] in one pass: this runs after every op that changes a tree. Branch-free: which
/// records carry DELALLOC, DEFRAG or DELALLOC_NEW is as good as random, and a mispredicted
/// branch per record cost more than the sums.
fn record_sums(records: &[Record], g: &Geometry) -> RecordSums {
    let mut s = RecordSums {
        extents: 0,
        delalloc: 0,
        defrag: 0,
        new_delalloc: 0,
    };
    for r in records {
        let l = len(r);
        let delalloc = u128::from(r.bits.contains(Bits::DELALLOC));
        let defrag = u128::from(r.bits.contains(Bits::DEFRAG));
        let new_delalloc = u128::from(r.bits.contains(Bits::DELALLOC_NEW));
        s.extents += delalloc * count(g, l);
        s.delalloc += delalloc * l;
        s.defrag += defrag * l;
        s.new_delalloc += new_delalloc * l;
    }
    s
}

/// §8.1: sorted, disjoint, non-empty stored bits, no two adjacent mergeable records with equal
/// bits; no LOCKED record in an inode tree (every fs op unlocks what it locked). `records` may
/// be a window of the tree starting at index `offset`, which messages count from. Mergeable
/// means carrying none of the era's no-merge bits (SPEC §1.2).
fn tree_is_canonical(
    name: impl fmt::Display,
    records: &[Record],
    offset: usize,
    inode: bool,
    g: &Geometry,
) -> Result<(), Violation> {
    let no_merge = g.era.no_merge();
    const INV: &str = "8.1 canonical tree";
    for (k, r) in records.iter().enumerate() {
        let i = offset + k;
        if r.end < r.start {
            return fail(
                INV,
                format!("{name}.records[{i}]: end {} < start {}", r.end, r.start),
            );
        }
        if r.bits.is_empty() {
            return fail(
                INV,
                format!(
                    "{name}.records[{i}] {}..={}: no bits (empty records are erased)",
                    r.start, r.end
                ),
            );
        }
        if r.bits.stored() != r.bits {
            return fail(
                INV,
                format!(
                    "{name}.records[{i}] {}..={}: stores non-storable bits {}",
                    r.start, r.end, r.bits
                ),
            );
        }
        if inode && r.bits.contains(Bits::LOCKED) {
            return fail(
                "8.1 no LOCKED inode record",
                format!(
                    "{name}.records[{i}] {}..={} {} is still LOCKED after the op",
                    r.start, r.end, r.bits
                ),
            );
        }
        if k > 0 {
            let p = &records[k - 1];
            if p.end >= r.start {
                return fail(
                    INV,
                    format!(
                        "{name}.records[{}] {}..={} and [{i}] {}..={} overlap or are out of order",
                        i - 1,
                        p.start,
                        p.end,
                        r.start,
                        r.end
                    ),
                );
            }
            if p.end + 1 == r.start && p.bits == r.bits && !r.bits.intersects(no_merge) {
                return fail(
                    INV,
                    format!(
                        "{name}.records[{}] {}..={} and [{i}] {}..={} are adjacent with equal bits {} but not merged",
                        i - 1,
                        p.start,
                        p.end,
                        r.start,
                        r.end,
                        r.bits
                    ),
                );
            }
        }
    }
    Ok(())
}

/// Compares a counter with what the records (and ordered extents) say it must be.
/// `why` is only rendered on failure: these checks run after every op of every program, and
/// building their messages eagerly was a quarter of the oracle's time on tree programs.
fn expect(
    invariant: &'static str,
    name: impl fmt::Display,
    field: &str,
    have: u64,
    want: u128,
    why: impl FnOnce() -> String,
) -> Result<(), Violation> {
    if u128::from(have) != want {
        return fail(invariant, format!("{name}: {field} {have} != {}", why()));
    }
    Ok(())
}

/// §8.2 and §8.1 for the stand-alone tree `t`, one op after `prev`, which passed them: only the
/// window of records that differ (outside the common prefix and suffix) is read, with one
/// neighbour on each side for the pairwise rules. The sums over the records come from `prev`'s
/// counters, which equalled its record sums, less the old window's sums plus the new one's.
/// Tree programs change a few records of a tree per op; re-deriving every sum after every op
/// was the largest part of the invariant check.
fn tree_since(prev: &TreeSnapshot, t: &TreeSnapshot, g: &Geometry) -> Result<(), Violation> {
    let (old, new) = (&prev.records[..], &t.records[..]);
    let same_front = old.iter().zip(new).take_while(|(a, b)| a == b).count();
    let same_back = old[same_front..]
        .iter()
        .rev()
        .zip(new[same_front..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let (old_window, new_window) = (
        &old[same_front..old.len() - same_back],
        same_front..new.len() - same_back,
    );
    let checked = same_front.saturating_sub(1)..(new_window.end + 1).min(new.len());
    tree_is_canonical("tree", &new[checked.clone()], checked.start, false, g)?;
    let gone = record_sums(old_window, g);
    let added = record_sums(&new[new_window], g);
    let from_prev = |counter: u64, gone: u128, added: u128| u128::from(counter) - gone + added;
    let sums = RecordSums {
        extents: from_prev(prev.outstanding_extents, gone.extents, added.extents),
        delalloc: from_prev(prev.delalloc_bytes, gone.delalloc, added.delalloc),
        defrag: from_prev(prev.defrag_bytes, gone.defrag, added.defrag),
        new_delalloc: from_prev(
            prev.new_delalloc_bytes,
            gone.new_delalloc,
            added.new_delalloc,
        ),
    };
    tree_counters(t, sums)
}

/// §8.2: the stand-alone tree's hook counters against its records' `sums`.
fn tree_counters(t: &TreeSnapshot, sums: RecordSums) -> Result<(), Violation> {
    let RecordSums {
        extents: n,
        delalloc: d,
        defrag: f,
        new_delalloc: nd,
    } = sums;
    expect(
        "8.2 tree outstanding_extents",
        "tree",
        "outstanding_extents",
        t.outstanding_extents,
        n,
        || format!("Σ count over DELALLOC records ({n})"),
    )?;
    expect(
        "8.2 tree delalloc_bytes",
        "tree",
        "delalloc_bytes",
        t.delalloc_bytes,
        d,
        || format!("Σ len of DELALLOC records ({d})"),
    )?;
    expect(
        "8.2 tree defrag_bytes",
        "tree",
        "defrag_bytes",
        t.defrag_bytes,
        f,
        || format!("Σ len of DEFRAG records ({f})"),
    )?;
    expect(
        "8.2 tree new_delalloc_bytes",
        "tree",
        "new_delalloc_bytes",
        t.new_delalloc_bytes,
        nd,
        || format!("Σ len of DELALLOC_NEW records ({nd})"),
    )
}

/// §8.3: one inode's counters against its records and ordered extents.
fn inode_counters(name: InodeName, i: &InodeSnapshot, g: &Geometry) -> Result<(), Violation> {
    for (k, w) in i.ordered.windows(2).enumerate() {
        if w[0]
            .start
            .checked_add(w[0].len)
            .is_none_or(|end| end > w[1].start)
        {
            return fail(
                "8.3 ordered extents sorted and disjoint",
                format!(
                    "{name}.ordered[{k}] {}+{} and [{}] {}+{} overlap or are out of order",
                    w[0].start,
                    w[0].len,
                    k + 1,
                    w[1].start,
                    w[1].len
                ),
            );
        }
    }
    if let Some((k, o)) = i.ordered.iter().enumerate().find(|(_, o)| o.len == 0) {
        return fail(
            "8.3 ordered extents sorted and disjoint",
            format!("{name}.ordered[{k}] at {} is empty", o.start),
        );
    }
    let RecordSums {
        extents: by_records,
        delalloc: d,
        defrag: f,
        new_delalloc: nd,
    } = record_sums(&i.records, g);
    let by_ordered: u128 = i.ordered.iter().map(|o| count(g, u128::from(o.len))).sum();
    expect(
        "8.3 outstanding_extents",
        name,
        "outstanding_extents",
        i.outstanding_extents,
        by_records + by_ordered,
        || format!("Σ count over DELALLOC records ({by_records}) + ordered extents ({by_ordered})"),
    )?;
    expect(
        "8.3 delalloc_bytes",
        name,
        "delalloc_bytes",
        i.delalloc_bytes,
        d,
        || format!("Σ len of DELALLOC records ({d})"),
    )?;
    expect(
        "8.3 defrag_bytes",
        name,
        "defrag_bytes",
        i.defrag_bytes,
        f,
        || format!("Σ len of DEFRAG records ({f})"),
    )?;
    expect(
        "8.3 new_delalloc_bytes",
        name,
        "new_delalloc_bytes",
        i.new_delalloc_bytes,
        nd,
        || format!("Σ len of DELALLOC_NEW records ({nd})"),
    )?;
    let o: u128 = i.ordered.iter().map(|o| u128::from(o.len)).sum();
    expect(
        "8.3 csum_bytes",
        name,
        "csum_bytes",
        i.csum_bytes,
        u128::from(i.delalloc_bytes) + o,
        || {
            format!(
                "delalloc_bytes ({}) + Σ ordered len ({o})",
                i.delalloc_bytes
            )
        },
    )
}

/// §8.4: fs-wide sums.
fn fs_wide(s: &Snapshot) -> Result<(), Violation> {
    let d: u128 = s.inodes.iter().map(|i| u128::from(i.delalloc_bytes)).sum();
    expect(
        "8.4 fs_delalloc_bytes",
        "fs",
        "fs_delalloc_bytes",
        s.fs_delalloc_bytes,
        d,
        || format!("Σ inode delalloc_bytes ({d})"),
    )?;
    let may_use: u128 = s
        .inodes
        .iter()
        .flat_map(|i| &i.records)
        .filter(|r| r.bits.contains(Bits::DELALLOC) && !r.bits.contains(Bits::NORESERVE))
        .map(len)
        .sum();
    expect(
        "8.4 data bytes_may_use",
        "fs",
        "data.bytes_may_use",
        s.data.bytes_may_use,
        may_use,
        || format!("Σ len of inode DELALLOC records without NORESERVE ({may_use})"),
    )?;
    let reserved: u128 = s
        .inodes
        .iter()
        .flat_map(|i| &i.ordered)
        .filter(|o| matches!(o.kind, OrderedKind::Cow | OrderedKind::Direct))
        .map(|o| u128::from(o.len))
        .sum();
    expect(
        "8.4 data bytes_reserved",
        "fs",
        "data.bytes_reserved",
        s.data.bytes_reserved,
        reserved,
        || format!("Σ len of Cow and Direct ordered extents ({reserved})"),
    )
}

/// §8.5 (era B) and §8.1 (era C): the metadata reservations, while mounted. First, that the
/// snapshot has the fields of its era and no others.
fn reservations(s: &Snapshot, g: &Geometry) -> Result<(), Violation> {
    match g.era.accounting() {
        Accounting::B => reservations_b(s, g),
        Accounting::C => reservations_c(s, g),
    }
}

fn era_fields(found: &str, era: &str) -> Result<(), Violation> {
    fail(
        "8 era fields",
        format!("{found}: the snapshot does not have the fields of {era}"),
    )
}

/// §8.5, era B: the fs-wide delalloc reservation holds every inode's reserved items and csum
/// leaves.
fn reservations_b(s: &Snapshot, g: &Geometry) -> Result<(), Violation> {
    let Some(delalloc_rsv) = s.delalloc_rsv else {
        return era_fields("fs: no delalloc_rsv", "era B");
    };
    let rsvs = u128::from(delalloc_rsv.reserved)
        + u128::from(s.delayed_rsv.reserved)
        + u128::from(s.global_rsv.reserved);
    expect(
        "8.5 metadata bytes_may_use",
        "fs",
        "meta.bytes_may_use",
        s.meta.bytes_may_use,
        rsvs,
        || {
            format!(
                "delalloc_rsv.reserved ({}) + delayed_rsv.reserved ({}) + global_rsv.reserved ({})",
                delalloc_rsv.reserved, s.delayed_rsv.reserved, s.global_rsv.reserved
            )
        },
    )?;
    let mut items = 0u128;
    let mut leaf_count = 0u128;
    for (k, i) in s.inodes.iter().enumerate() {
        let (Some(reserved_extents), Some(meta_reserved), None) =
            (i.reserved_extents, i.delalloc_meta_reserved, i.block_rsv)
        else {
            return era_fields(&format!("inodes[{k}]"), "era B");
        };
        items += u128::from(reserved_extents) + u128::from(meta_reserved);
        leaf_count += leaves(g, u128::from(i.csum_bytes));
    }
    let size = trans(g, items) + trans(g, leaf_count);
    expect(
        "8.5 delalloc_rsv.size",
        "fs",
        "delalloc_rsv.size",
        delalloc_rsv.size,
        size,
        || {
            format!(
            "trans(Σ reserved_extents + META_RESERVED = {items}) + trans(Σ csum leaves = {leaf_count}) = {size}"
        )
        },
    )?;
    reserved_within_size(
        "8.5 delalloc_rsv.reserved <= size",
        "fs",
        "delalloc_rsv",
        delalloc_rsv,
    )?;
    delayed_rsv(s)
}

/// §8.1, era C: metadata may_use is the inode reservations, the delayed and the global
/// reserve; each inode reservation was trimmed to its size, and has the size its counters
/// give while no ordered extent is pending (writeback leaves it stale until then).
fn reservations_c(s: &Snapshot, g: &Geometry) -> Result<(), Violation> {
    if s.delalloc_rsv.is_some() {
        return era_fields("fs: a delalloc_rsv", "era C");
    }
    let mut inode_rsvs = 0u128;
    for (k, i) in s.inodes.iter().enumerate() {
        let (None, None, Some(rsv)) = (i.reserved_extents, i.delalloc_meta_reserved, i.block_rsv)
        else {
            return era_fields(&format!("inodes[{k}]"), "era C");
        };
        reserved_within_size(
            "8.1 inode block_rsv.reserved <= size",
            &format!("inodes[{k}]"),
            "block_rsv",
            rsv,
        )?;
        if i.ordered.is_empty() {
            // btrfs_calculate_inode_block_rsv_size (6.12 delalloc-space.c:240).
            let o = u128::from(i.outstanding_extents);
            let extents = if o > 0 { trans(g, o) + meta(g, 1) } else { 0 };
            let size = extents + trans(g, leaves(g, u128::from(i.csum_bytes)));
            if u128::from(rsv.size) != size {
                return fail(
                    "8.1 block_rsv.size without ordered extents",
                    format!(
                        "inodes[{k}]: block_rsv.size {} != insert(outstanding_extents {o}){} + insert(csum leaves of {}) = {size}, with no ordered extent pending",
                        rsv.size,
                        if o > 0 { " + meta(1)" } else { "" },
                        i.csum_bytes
                    ),
                );
            }
        }
        inode_rsvs += u128::from(rsv.reserved);
    }
    let rsvs = inode_rsvs + u128::from(s.delayed_rsv.reserved) + u128::from(s.global_rsv.reserved);
    expect(
        "8.1 metadata bytes_may_use",
        "fs",
        "meta.bytes_may_use",
        s.meta.bytes_may_use,
        rsvs,
        || {
            format!(
                "Σ inode block_rsv.reserved ({inode_rsvs}) + delayed_rsv.reserved ({}) + global_rsv.reserved ({})",
                s.delayed_rsv.reserved, s.global_rsv.reserved
            )
        },
    )?;
    delayed_rsv(s)
}

/// A block reservation never holds more than its size (block_rsv_release_bytes gives the
/// excess back); `field` is where it sits in `place`.
fn reserved_within_size(
    invariant: &'static str,
    place: &str,
    field: &str,
    rsv: BlockRsv,
) -> Result<(), Violation> {
    if rsv.reserved <= rsv.size {
        return Ok(());
    }
    fail(
        invariant,
        format!(
            "{place}: {field}.reserved {} > {field}.size {}",
            rsv.reserved, rsv.size
        ),
    )
}

/// §8.5 / §8.1: the delayed reserve holds exactly the delayed nodes' reservations.
fn delayed_rsv(s: &Snapshot) -> Result<(), Violation> {
    let delayed: u128 = s
        .inodes
        .iter()
        .map(|i| u128::from(i.delayed_bytes_reserved))
        .sum();
    let why = || format!("Σ inode delayed_bytes_reserved ({delayed})");
    expect(
        "8.5 delayed_rsv",
        "fs",
        "delayed_rsv.size",
        s.delayed_rsv.size,
        delayed,
        why,
    )?;
    expect(
        "8.5 delayed_rsv",
        "fs",
        "delayed_rsv.reserved",
        s.delayed_rsv.reserved,
        delayed,
        why,
    )
}

/// §8.6: no WARN_ON of a leak.
fn no_leaks(s: &Snapshot) -> Result<(), Violation> {
    if s.warnings.evict_leaks != 0 {
        return fail(
            "8.6 no evict leaks",
            format!("fs: warnings.evict_leaks = {}", s.warnings.evict_leaks),
        );
    }
    if s.warnings.unmount_leaks != 0 {
        return fail(
            "8.6 no unmount leaks",
            format!("fs: warnings.unmount_leaks = {}", s.warnings.unmount_leaks),
        );
    }
    Ok(())
}

/// §8.6 after unmount: every reservation and accounting field back to zero (the oracle names the
/// field; the model's own `unmount_leaks` only says that something leaked).
fn released(s: &Snapshot) -> Result<(), Violation> {
    const INV: &str = "8.6 released at unmount";
    let fs = [
        ("data.bytes_may_use", s.data.bytes_may_use),
        ("data.bytes_reserved", s.data.bytes_reserved),
        ("meta.bytes_may_use", s.meta.bytes_may_use),
        ("meta.bytes_reserved", s.meta.bytes_reserved),
        ("delalloc_rsv.size", s.delalloc_rsv.unwrap_or_default().size),
        (
            "delalloc_rsv.reserved",
            s.delalloc_rsv.unwrap_or_default().reserved,
        ),
        ("delayed_rsv.size", s.delayed_rsv.size),
        ("delayed_rsv.reserved", s.delayed_rsv.reserved),
        ("global_rsv.size", s.global_rsv.size),
        ("global_rsv.reserved", s.global_rsv.reserved),
        ("fs_delalloc_bytes", s.fs_delalloc_bytes),
    ];
    if let Some((field, v)) = fs.iter().find(|(_, v)| *v != 0) {
        return fail(INV, format!("fs: {field} = {v} after unmount"));
    }
    for (k, i) in s.inodes.iter().enumerate() {
        let fields = [
            ("outstanding_extents", i.outstanding_extents),
            ("reserved_extents", i.reserved_extents.unwrap_or(0)),
            ("csum_bytes", i.csum_bytes),
            ("delalloc_bytes", i.delalloc_bytes),
            ("defrag_bytes", i.defrag_bytes),
            ("new_delalloc_bytes", i.new_delalloc_bytes),
            (
                "delalloc_meta_reserved",
                u64::from(i.delalloc_meta_reserved.unwrap_or(false)),
            ),
            ("block_rsv.size", i.block_rsv.unwrap_or_default().size),
            (
                "block_rsv.reserved",
                i.block_rsv.unwrap_or_default().reserved,
            ),
            ("delayed_bytes_reserved", i.delayed_bytes_reserved),
            ("ordered extents", i.ordered.len() as u64),
            ("records", i.records.len() as u64),
        ];
        if let Some((field, v)) = fields.iter().find(|(_, v)| *v != 0) {
            return fail(INV, format!("inodes[{k}]: {field} = {v} after unmount"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use delalloc_contract::{BlockRsv, OrderedExtent, SpaceInfo};

    /// A freshly mounted era-B file system.
    fn mounted(g: &Geometry) -> Snapshot {
        let inode = InodeSnapshot {
            reserved_extents: Some(0),
            delalloc_meta_reserved: Some(false),
            ..InodeSnapshot::default()
        };
        Snapshot {
            mounted: true,
            inodes: vec![inode; usize::from(g.inodes)],
            delalloc_rsv: Some(BlockRsv::default()),
            data: SpaceInfo {
                total: g.data_bytes,
                ..Default::default()
            },
            meta: SpaceInfo {
                total: g.meta_bytes,
                bytes_may_use: g.global_rsv,
                ..Default::default()
            },
            global_rsv: BlockRsv {
                size: g.global_rsv,
                reserved: g.global_rsv,
            },
            ..Default::default()
        }
    }

    #[test]
    fn a_fresh_mount_and_a_clean_unmount_pass() {
        let g = Geometry::default();
        assert_eq!(check(&mounted(&g), &g), Ok(()));
        let mut s = mounted(&g);
        s.mounted = false;
        s.meta.bytes_may_use = 0;
        s.global_rsv = BlockRsv::default();
        assert_eq!(check(&s, &g), Ok(()));
    }

    #[test]
    fn a_consistent_inode_passes_and_each_counter_is_named() {
        let g = Geometry {
            max_extent: 8192,
            ..Geometry::default()
        };
        let mut s = mounted(&g);
        let i = &mut s.inodes[1];
        i.records = vec![Record {
            start: 0,
            end: 12287,
            bits: Bits::DELALLOC | Bits::DIRTY,
        }];
        i.ordered = vec![OrderedExtent {
            start: 16384,
            len: 4096,
            kind: OrderedKind::Cow,
        }];
        i.outstanding_extents = 3;
        i.delalloc_bytes = 12288;
        i.csum_bytes = 16384;
        i.reserved_extents = Some(3);
        i.delalloc_meta_reserved = Some(true);
        s.fs_delalloc_bytes = 12288;
        s.data.bytes_may_use = 12288;
        s.data.bytes_reserved = 4096;
        s.delalloc_rsv = Some(BlockRsv {
            size: g.trans_metadata_size(5),
            reserved: g.trans_metadata_size(5),
        });
        s.meta.bytes_may_use += g.trans_metadata_size(5);
        assert_eq!(check(&s, &g), Ok(()));

        s.inodes[1].outstanding_extents = 2;
        let v = check(&s, &g).unwrap_err();
        assert_eq!(v.invariant, "8.3 outstanding_extents");
        assert_eq!(
            v.message,
            "inodes[1]: outstanding_extents 2 != Σ count over DELALLOC records (2) + ordered extents (1)"
        );
    }

    #[test]
    fn check_since_rechecks_every_changed_part_and_only_those() {
        let g = Geometry::default();
        let prev = mounted(&g);
        assert_eq!(check(&prev, &g), Ok(()));

        // A broken inode is found when it changed...
        let mut s = prev.clone();
        s.inodes[1].delalloc_bytes = 4096;
        assert_eq!(
            check_since(&prev, &s, &g, Rewritten::ALL)
                .unwrap_err()
                .invariant,
            "8.3 delalloc_bytes"
        );
        // ...and so is a broken stand-alone tree, or a broken fs-wide counter.
        let mut s = prev.clone();
        s.tree.outstanding_extents = 1;
        assert_eq!(
            check_since(&prev, &s, &g, Rewritten::ALL)
                .unwrap_err()
                .invariant,
            "8.2 tree outstanding_extents"
        );
        let mut s = prev.clone();
        s.data.bytes_reserved = 1;
        assert_eq!(
            check_since(&prev, &s, &g, Rewritten::ALL)
                .unwrap_err()
                .invariant,
            "8.4 data bytes_reserved"
        );

        // A part equal to the previous, checked snapshot is not derived again: given a `prev`
        // that (wrongly) holds the same broken inode, check_since trusts it, check does not.
        let mut broken = prev.clone();
        broken.inodes[0].csum_bytes = 7;
        assert!(check(&broken, &g).is_err());
        assert_eq!(check_since(&broken, &broken, &g, Rewritten::ALL), Ok(()));
    }

    #[test]
    fn check_since_skips_the_parts_not_written_and_only_those() {
        let g = Geometry::default();
        let prev = mounted(&g);
        let mut s = prev.clone();
        s.inodes[1].delalloc_bytes = 4096;
        s.tree.outstanding_extents = 1;
        let nothing = Rewritten {
            tree: false,
            inodes: 0,
            fs: false,
        };
        let mut fs_broken = prev.clone();
        fs_broken.data.bytes_reserved = 1;
        // Parts said to be unwritten are taken as equal to `prev`: not compared, not checked.
        assert_eq!(check_since(&prev, &s, &g, nothing), Ok(()));
        assert_eq!(check_since(&prev, &fs_broken, &g, nothing), Ok(()));
        // Each written part is compared and checked again.
        let cases = [
            (
                &s,
                Rewritten {
                    inodes: 0b10,
                    ..nothing
                },
                "8.3 delalloc_bytes",
            ),
            (
                &s,
                Rewritten {
                    tree: true,
                    ..nothing
                },
                "8.2 tree outstanding_extents",
            ),
            (
                &fs_broken,
                Rewritten {
                    fs: true,
                    ..nothing
                },
                "8.4 data bytes_reserved",
            ),
        ];
        for (snapshot, written, broken) in cases {
            let v = check_since(&prev, snapshot, &g, written).unwrap_err();
            assert_eq!(v.invariant, broken, "written {written:?}");
        }
    }

    #[test]
    fn malformed_records_are_reported_not_panicked_on() {
        let g = Geometry::default();
        let mut s = mounted(&g);
        s.tree.records = vec![Record {
            start: 10,
            end: 5,
            bits: Bits::DIRTY,
        }];
        assert!(check(&s, &g)
            .unwrap_err()
            .message
            .contains("end 5 < start 10"));
        s.tree.records = vec![
            Record {
                start: 0,
                end: 4095,
                bits: Bits::DIRTY,
            },
            Record {
                start: 4096,
                end: 8191,
                bits: Bits::DIRTY,
            },
        ];
        assert!(check(&s, &g).unwrap_err().message.contains("not merged"));
        s.tree.records[1].bits = Bits::DIRTY | Bits::LOCKED;
        s.tree.records[0].bits = Bits::DIRTY | Bits::LOCKED;
        assert_eq!(check(&s, &g), Ok(()));
        s.inodes[0].records = s.tree.records.clone();
        assert_eq!(
            check(&s, &g).unwrap_err().invariant,
            "8.1 no LOCKED inode record"
        );
    }

    /// A canonical tree of records over `pieces` (gap, length, bits) and counters that match.
    fn tree_of(pieces: &[(u64, u64, Bits)], g: &Geometry) -> TreeSnapshot {
        let mut t = TreeSnapshot::default();
        let mut at = 0;
        for &(gap, len, bits) in pieces {
            let r = Record {
                start: at + gap,
                end: at + gap + len - 1,
                bits,
            };
            at = r.end + 1;
            t.records.push(r);
        }
        let sums = record_sums(&t.records, g);
        t.outstanding_extents = sums.extents as u64;
        t.delalloc_bytes = sums.delalloc as u64;
        t.defrag_bytes = sums.defrag as u64;
        t.new_delalloc_bytes = sums.new_delalloc as u64;
        t
    }

    proptest::proptest! {
        /// The windowed tree check of check_since answers exactly what the full check answers,
        /// for any edit of a tree that passed: records replaced anywhere (valid or not), and
        /// counters right or off by one.
        #[test]
        fn tree_since_answers_what_check_answers(
            before in proptest::collection::vec((0u64..3, 1u64..5, 0usize..5), 0..12),
            at in 0usize..12,
            cut in 0usize..4,
            put in proptest::collection::vec((0u64..3, 1u64..5, 0usize..5), 0..4),
            nudge in 0usize..9,
        ) {
            let g = Geometry { max_extent: 2, ..Geometry::default() };
            const BITS: [Bits; 5] =
                [Bits::DELALLOC, Bits::DEFRAG, Bits::DIRTY, Bits::LOCKED, Bits::DELALLOC_NEW];
            let pieces: Vec<_> = before.iter().map(|&(gap, len, b)| (gap, len, BITS[b])).collect();
            let mut prev = mounted(&g);
            prev.tree = tree_of(&pieces, &g);
            proptest::prop_assume!(check(&prev, &g).is_ok());
            // Splice `put` (laid out after the record before `at`) in place of `cut` records.
            let at = at.min(prev.tree.records.len());
            let cut = cut.min(prev.tree.records.len() - at);
            let mut s = prev.clone();
            let base = if at == 0 { 0 } else { s.tree.records[at - 1].end + 1 };
            let mut fresh = tree_of(
                &put.iter().map(|&(gap, len, b)| (gap, len, BITS[b])).collect::<Vec<_>>(),
                &g,
            )
            .records;
            for r in &mut fresh {
                r.start += base;
                r.end += base;
            }
            s.tree.records.splice(at..at + cut, fresh);
            let sums = record_sums(&s.tree.records, &g);
            s.tree.outstanding_extents = sums.extents as u64 + u64::from(nudge == 1);
            s.tree.delalloc_bytes = sums.delalloc as u64 + u64::from(nudge == 2);
            s.tree.defrag_bytes = sums.defrag as u64 + u64::from(nudge == 3);
            s.tree.new_delalloc_bytes = sums.new_delalloc as u64 + u64::from(nudge == 4);
            proptest::prop_assert_eq!(check_since(&prev, &s, &g, Rewritten::ALL), check(&s, &g));
        }
    }
}
