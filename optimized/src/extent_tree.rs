//! The extent io tree: which byte ranges of a file carry which state bits.
//!
//! One data structure, as in the kernel's fs/btrfs/extent-io-tree.c: a balanced ordered tree of
//! records `[start, end]` (inclusive) keyed by start, each with a non-empty set of stored bits.
//! Records never overlap. Bytes outside every record have no bits.
//!
//! Every change goes through four primitives, and each calls its hook first, so that the
//! accounting layer sees the record as it was:
//! - `set_state_bits`: `on_set`, then OR;
//! - `clear_state_bit`: `on_clear`, then mask (erase if nothing is left, else merge);
//! - `split_state`: `on_split`, then cut in two;
//! - `merge_state`: `on_merge` per absorbed neighbour.
//!
//! The range operations walk the tree one record at a time the way the kernel does, including
//! its detours: a record that merged with its successor is split again when the walk reaches the
//! successor's part (the kernel re-searches and finds the merged record starting before its
//! cursor). Those detours are visible to the hooks, so they are kept.
//!
//! Storage: an [`ExtentMap`], an arena B+ tree whose positions ([`Pos`]: leaf, slot) name a
//! record without searching. An operation descends once, to the record its walk begins at (or
//! not at all when its cursor is still valid); from there every primitive works on positions:
//! reading and changing a record is O(1), its neighbours (for merging) are O(1) steps along the
//! leaf links, and the walk's next record is found by stepping from the record just processed
//! instead of searching again (the kernel's rb_next). Splits insert right after the record in
//! its leaf and erases remove in place, each O(leaf size); only the rare insertion at a leaf's
//! edge or into a full leaf, or a removal that empties a leaf, descends again. A mutating
//! operation is thus O(log n + k) for k records touched, a query O(log n + k). Nothing ever
//! scans the whole map.

use crate::bugs::{Bug, BugSet};
use crate::extent_map::{ExtentMap, Pos, State};
use delalloc_contract::{Bits, Era, Record};
use std::fmt;

/// Callbacks the tree makes while it changes, in the kernel's order. Default: do nothing.
pub trait StateHooks {
    /// `rec` (its bits before the change) is about to gain `bits` (the caller's bits, control bits
    /// included). Called for inserted hole records too (with rec.bits empty), before they are
    /// inserted.
    fn on_set(&mut self, _rec: Record, _bits: Bits) {}
    /// `rec` is about to lose `bits` (the caller's clear mask after expansion, control bits
    /// included).
    fn on_clear(&mut self, _rec: Record, _bits: Bits) {}
    /// `survivor` is about to absorb its neighbour `other` (adjacent, identical bits).
    fn on_merge(&mut self, _survivor: Record, _other: Record) {}
    /// `orig` is about to be split into [orig.start, at-1] and [at, orig.end].
    fn on_split(&mut self, _orig: Record, _at: u64) {}
}

/// Hooks that do nothing: the bare tree.
pub struct NoHooks;
impl StateHooks for NoHooks {}

/// Records carrying one of these are the only ones a [`Cursor`] remembers. They never merge, so
/// their start stays a record start until the bit is cleared (which drops the cursor).
const CACHEABLE: Bits = Bits(Bits::LOCKED.0 | Bits::BOUNDARY.0);

/// The kernel's `cached_state`: the start of a record a previous operation left LOCKED or
/// BOUNDARY, typically the record an unlock of the same range will begin at, and where that
/// record was in the map when it was cached.
///
/// An operation given a cursor checks that the remembered position still holds a record with
/// that start ([`ExtentMap::holds`]: one slot compared, O(1), no search) — or, if the record
/// has moved since (a split or insertion shifted or split its leaf), that a record with that
/// start still exists (one descent) — and that it contains the operation's start; if so it
/// begins its walk there, else it searches as usual. It never changes a result, only where the
/// walk begins. What it saves is the operation's initial descent, as the kernel's cached_state
/// saves the rb-tree search: with the position still valid — the usual case for lock, then work
/// on the range, then unlock — the operation does not search the tree at all. A cursor that is
/// wrong or stale must be harmless, which the tests check.
///
/// Equality and `Debug` consider the record start only: the position is a hint.
#[derive(Clone, Copy, Default)]
pub struct Cursor {
    start: Option<u64>,
    /// Where the record at `start` was, meaningful only while `start` is set.
    pos: Pos,
}

impl PartialEq for Cursor {
    fn eq(&self, other: &Cursor) -> bool {
        self.start == other.start
    }
}

impl Eq for Cursor {}

impl fmt::Debug for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cursor")
            .field("start", &self.start)
            .finish()
    }
}

impl Cursor {
    pub fn new() -> Cursor {
        Cursor::default()
    }
    /// The remembered record start, if any.
    pub fn start(&self) -> Option<u64> {
        self.start
    }
    pub fn is_empty(&self) -> bool {
        self.start.is_none()
    }
    /// Forget the remembered record (the kernel's free_extent_state of the cached pointer).
    pub fn clear(&mut self) {
        self.start = None;
    }
}

/// The map's node sizes: the production ones (63-entry leaves, 128-child inner nodes), or under
/// `--cfg delalloc_small_nodes` 6-entry leaves (two cache-line blocks) and 96-child inner nodes
/// (three whole search groups of keys, as the production node has four), so that the short
/// programs of a campaign (at most 64 ops, rarely 20 records) split leaves and a thousand
/// records fill, split and merge inner nodes, where full-size nodes need 63 and 8,000 records;
/// and a node search still has several blocks, lines and groups to choose from, its last
/// group ending where the node does. The mutation campaign (scripts/cargo-mutants.sh) builds
/// with it; the code is the same generic code either way.
#[cfg(not(delalloc_small_nodes))]
type Map = ExtentMap;
#[cfg(delalloc_small_nodes)]
type Map = ExtentMap<2, 96>;

/// The extent io tree. See the module documentation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtentIoTree {
    map: Map,
    /// The re-introduced bugs of [`crate::bugs`] that live in the tree; none by default.
    bugs: BugSet,
    /// The bits that keep a record from merging: the era's ([`Era::no_merge`]), without
    /// BOUNDARY under [`Bug::MergeIgnoresBoundary`] (the EXTENT_IOBITS test alone). Kept so
    /// that merge_state, on every changed record, tests one word whatever the bugs and era.
    no_merge: Bits,
    /// Whose rules the operations follow (SPEC §1.2); era B by default.
    era: Era,
    /// The kernel's tree->dirty_bytes (era B): bytes of DIRTY records, kept by the primitives
    /// that add or take DIRTY. Era B's count_range_bits answers it for DIRTY from offset 0.
    dirty_bytes: u64,
}

impl Default for ExtentIoTree {
    fn default() -> ExtentIoTree {
        ExtentIoTree::with_bugs(BugSet::NONE)
    }
}

/// What clear_state_bit left: the record, now at this position (merged or not), or nothing —
/// the record was erased — with the position of its predecessor, if any.
enum Cleared {
    Kept(Pos),
    Erased(Option<Pos>),
}

/// Remembers the first cacheable record an operation leaves behind, replacing whatever the
/// caller's cursor held (the kernel caches the first such record it touches; we also replace a
/// stale value so that the cursor always describes the latest operation that cached anything).
struct CacheSlot<'a> {
    cursor: Option<&'a mut Cursor>,
    done: bool,
}

impl<'a> CacheSlot<'a> {
    fn new(cursor: Option<&'a mut Cursor>) -> Self {
        CacheSlot {
            cursor,
            done: false,
        }
    }
    /// Whether an offer could still be taken: callers skip the record lookup otherwise.
    fn wants(&self) -> bool {
        !self.done && self.cursor.is_some()
    }
    /// Offers the record `rec`, at `pos`.
    fn offer(&mut self, rec: Record, pos: Pos) {
        if self.done || !rec.bits.intersects(CACHEABLE) {
            return;
        }
        if let Some(c) = self.cursor.as_deref_mut() {
            c.start = Some(rec.start);
            c.pos = pos;
            self.done = true;
        }
    }
}

impl ExtentIoTree {
    pub fn new() -> ExtentIoTree {
        ExtentIoTree::default()
    }

    /// An empty tree with the tree bugs of `bugs` re-introduced (the others are ignored).
    pub fn with_bugs(bugs: BugSet) -> ExtentIoTree {
        ExtentIoTree {
            map: Map::default(),
            bugs,
            no_merge: Self::no_merge_of(Era::B, bugs),
            era: Era::B,
            dirty_bytes: 0,
        }
    }

    /// This tree following `era`'s rules (SPEC §1.2). Meant for an empty tree.
    #[must_use]
    pub fn with_era(mut self, era: Era) -> ExtentIoTree {
        self.era = era;
        self.no_merge = Self::no_merge_of(era, self.bugs);
        self
    }

    fn no_merge_of(era: Era, bugs: BugSet) -> Bits {
        if bugs.contains(Bug::MergeIgnoresBoundary) {
            era.no_merge().minus(Bits::BOUNDARY)
        } else {
            era.no_merge()
        }
    }

    /// The rules this tree follows.
    pub fn era(&self) -> Era {
        self.era
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Every record, in order.
    pub fn records(&self) -> impl Iterator<Item = Record> + '_ {
        self.map.iter().map(|(start, st)| Record {
            start,
            end: st.end,
            bits: st.bits,
        })
    }

    /// Appends every record, in order, to `out`: [`Self::records`] for a whole-tree copy.
    pub fn records_into(&self, out: &mut Vec<Record>) {
        self.map.extend_into(out, |start, st| Record {
            start,
            end: st.end,
            bits: st.bits,
        });
    }

    /// The records overlapping [start, end], in order (the first may start before `start`).
    pub fn records_in(&self, start: u64, end: u64) -> impl Iterator<Item = Record> + '_ {
        self.iter_from(start).take_while(move |r| r.start <= end)
    }

    // ---- lookup helpers ----

    /// The record at `p`, which must be a valid position.
    #[inline]
    fn rec_at(&self, p: Pos) -> Record {
        let (start, st) = self.map.entry(p);
        Record {
            start,
            end: st.end,
            bits: st.bits,
        }
    }

    /// `p` and its record, for the walks.
    #[inline]
    fn found(&self, p: Pos) -> (Pos, Record) {
        (p, self.rec_at(p))
    }

    /// tree_search: the record containing `pos`, or else the first record after it, with its
    /// position. None when no record ends at or after `pos`. One descent.
    fn search_rec(&self, pos: u64) -> Option<(Pos, Record)> {
        match self.map.last_le(pos) {
            Some(p) => self.search_after(Some(p), pos),
            None => self.map.first().map(|p| self.found(p)),
        }
    }

    /// What `search_rec(pos)` finds, without a descent, given `anchor`: the position of the
    /// last record starting before `pos` (or at it) such that the record after it starts at
    /// `pos` or later; None if no record starts before `pos`. The answer is the anchor if it
    /// reaches `pos`, else the record after it. This is how a walk steps on (the kernel's
    /// rb_next) after processing the record that ends just before `pos`.
    #[inline]
    fn search_after(&self, anchor: Option<Pos>, pos: u64) -> Option<(Pos, Record)> {
        let next = match anchor {
            None => self.map.first(),
            Some(p) => {
                let rec = self.rec_at(p);
                if rec.end >= pos {
                    return Some((p, rec));
                }
                self.map.next(p)
            }
        };
        next.map(|p| self.found(p))
    }

    /// Records in order from the one `search(pos)` finds: one descent, then in-order steps.
    fn iter_from(&self, pos: u64) -> impl Iterator<Item = Record> + '_ {
        self.map
            .iter_from(self.search_rec(pos).map(|(p, _)| p))
            .map(|(start, st)| Record {
                start,
                end: st.end,
                bits: st.bits,
            })
    }

    /// Where a walk for `pos` may begin without searching: the cursor's record, if it still
    /// exists and contains `pos`. Returned whole with its position, since the walk needs its
    /// end and bits. O(1) when the cursor's position still holds its record, else one descent.
    fn cursor_rec(&self, cursor: Option<&Cursor>, pos: u64) -> Option<(Pos, Record)> {
        let c = cursor?;
        let s = c.start?;
        let p = if self.map.holds(c.pos, s) {
            c.pos
        } else {
            self.map.get(s)?
        };
        let rec = self.rec_at(p);
        (s <= pos && pos <= rec.end).then_some((p, rec))
    }

    // ---- the four primitives ----

    /// set_state_bits: the record at `p` gains the stored part of `bits`. The hook sees the
    /// record with its old bits and the caller's bits, control bits included, and runs even
    /// when nothing changes (the accounting hook decides what is new).
    /// O(1); returns the record as it now is (still at `p`).
    fn set_state_bits<H: StateHooks>(&mut self, p: Pos, bits: Bits, hooks: &mut H) -> Record {
        let mut rec = self.rec_at(p);
        hooks.on_set(rec, bits);
        if bits.contains(Bits::DIRTY) && !rec.bits.contains(Bits::DIRTY) {
            self.dirty_bytes += rec.len();
        }
        rec.bits = rec.bits.union(bits.stored());
        self.map.set_bits(p, rec.bits);
        rec
    }

    /// clear_state_bit: the record at `p` loses `bits`. A record left with no bits is erased
    /// (a stored record is never empty); otherwise it may now equal a neighbour, so it is
    /// merged. Returns where the surviving record is, or, if erased, where its predecessor is
    /// (positions before an erased one survive the erase).
    fn clear_state_bit<H: StateHooks>(&mut self, p: Pos, bits: Bits, hooks: &mut H) -> Cleared {
        let mut rec = self.rec_at(p);
        hooks.on_clear(rec, bits);
        if bits.contains(Bits::DIRTY) && rec.bits.contains(Bits::DIRTY) {
            self.dirty_bytes -= rec.len();
        }
        let left = rec.bits.minus(bits);
        if left.is_empty() {
            let before = self.map.prev(p);
            self.map.remove_at(p);
            Cleared::Erased(before)
        } else {
            self.map.set_bits(p, left);
            rec.bits = left;
            Cleared::Kept(self.merge_state(p, rec, hooks))
        }
    }

    /// split_state: cut the record at `p` into [start, at-1] and [at, end], both with its
    /// bits. The hook sees the whole record first (a delalloc record becomes two extents).
    /// Returns the positions of the two pieces. O(1) plus a shift in the leaf, unless the new
    /// piece falls at a leaf's edge or into a full leaf (then one descent).
    fn split_state<H: StateHooks>(&mut self, p: Pos, at: u64, hooks: &mut H) -> (Pos, Pos) {
        let orig = self.rec_at(p);
        debug_assert!(
            orig.start < at && at <= orig.end,
            "split point outside the record"
        );
        let hook_after_cut = self.bugs.contains(Bug::SplitHookAfterCut);
        if !hook_after_cut {
            hooks.on_split(orig, at);
        }
        self.map.set_end(p, at - 1);
        let right = self.map.insert_after(
            p,
            at,
            State {
                end: orig.end,
                bits: orig.bits,
            },
        );
        if hook_after_cut {
            // Bug::SplitHookAfterCut: the hook runs on the record as it now is at `orig`'s
            // place in the kernel's split_state, the right piece.
            let right_piece = Record { start: at, ..orig };
            hooks.on_split(right_piece, at);
        }
        // The insertion may have moved the left piece (a leaf split); it is right before.
        let left = self
            .map
            .prev(right)
            .expect("the left piece precedes the right");
        (left, right)
    }

    /// merge_state: keep the tree canonical after the record `rec` at `p` changed or appeared,
    /// by absorbing an adjacent predecessor and then an adjacent successor with identical bits.
    /// Records with a NO_MERGE bit stay as they are: locked and writeback ranges are handed out
    /// by boundary (and cached), so their edges must not move. Returns the survivor's
    /// position. The neighbours are O(1) steps away; each absorbed one is removed in place.
    fn merge_state<H: StateHooks>(&mut self, p: Pos, mut rec: Record, hooks: &mut H) -> Pos {
        if rec.bits.intersects(self.no_merge) {
            return p;
        }
        let start = rec.start;
        let prev = self
            .map
            .prev(p)
            .map(|q| (q, self.rec_at(q)))
            .filter(|(_, o)| o.end.checked_add(1) == Some(start) && o.bits == rec.bits);
        let next_adjacent = self.map.next(p).is_some_and(|q| {
            let o = self.rec_at(q);
            rec.end.checked_add(1) == Some(o.start) && o.bits == rec.bits
        });
        if prev.is_none() && !next_adjacent {
            return p;
        }
        // The survivor is `rec`; with the map keyed by start, absorbing the predecessor is done
        // by growing the predecessor's entry and dropping ours.
        let mut survivor = p;
        if let Some((q, other)) = prev {
            hooks.on_merge(rec, other);
            // q precedes p, so removing p leaves q where it is.
            self.map.remove_at(p);
            self.map.set_end(q, rec.end);
            rec.start = other.start;
            survivor = q;
        }
        if next_adjacent {
            // The successor's position may have shifted with the removal: step again.
            let q = self.map.next(survivor).expect("the adjacent successor");
            let other = self.rec_at(q);
            hooks.on_merge(rec, other);
            self.map.remove_at(q);
            self.map.set_end(survivor, other.end);
        }
        survivor
    }

    /// insert_state: fill the hole [start, end] with a record of `bits` (hook first, with empty
    /// bits, as for a record that existed with none), then merge it. A hole gets nothing if
    /// `bits` has no storable bit, since a stored record is never empty. `next` is the record
    /// right after the hole, if the caller knows it: the new record goes right before it
    /// without a descent when that is inside a leaf. Returns the merged record's position.
    fn insert_state<H: StateHooks>(
        &mut self,
        start: u64,
        end: u64,
        bits: Bits,
        next: Option<Pos>,
        hooks: &mut H,
    ) -> Option<Pos> {
        if bits.stored().is_empty() {
            return None;
        }
        hooks.on_set(
            Record {
                start,
                end,
                bits: Bits::NONE,
            },
            bits,
        );
        if bits.contains(Bits::DIRTY) {
            self.dirty_bytes += end - start + 1;
        }
        let st = State {
            end,
            bits: bits.stored(),
        };
        let p = match next {
            Some(n) => self.map.insert_before(n, start, st),
            None => self.map.insert(start, st),
        };
        let rec = Record {
            start,
            end,
            bits: bits.stored(),
        };
        Some(self.merge_state(p, rec, hooks))
    }

    // ---- range operations ----

    /// set_extent_bit: give every byte of [start, end] the stored part of `bits`, inserting
    /// records into holes and splitting records that straddle the edges.
    ///
    /// If a record in the way already has one of `exclusive`, stop with Err(failed_start):
    /// the record's start, or `start` if it begins before `start`. Everything before
    /// failed_start has already been set by this call and stays set (the kernel does not roll
    /// back; lock callers undo it themselves). `bits.stored()` must not be empty.
    pub fn set_bits<H: StateHooks>(
        &mut self,
        start: u64,
        end: u64,
        bits: Bits,
        exclusive: Bits,
        mut cursor: Option<&mut Cursor>,
        hooks: &mut H,
    ) -> Result<(), u64> {
        debug_assert!(start <= end);
        // What searching for `cur` finds, when already known (the cursor's record, or a step
        // from the record just processed); else a descent finds it.
        let mut hint = self.cursor_rec(cursor.as_deref(), start).map(Some);
        let mut cache = CacheSlot::new(cursor.take());
        let mut cur = start;
        loop {
            let found = match hint.take() {
                Some(found) => found,
                None => self.search_rec(cur),
            };
            let Some((fp, found)) = found else {
                // Nothing at or after cur: the rest of the range is one hole.
                if let Some(p) = self.insert_state(cur, end, bits, None, hooks) {
                    if cache.wants() {
                        cache.offer(self.rec_at(p), p);
                    }
                }
                return Ok(());
            };
            let rs = found.start;
            if rs > cur {
                // A hole before the next record: fill up to it (or to end), then look again.
                let this_end = end.min(rs - 1);
                let filled = self.insert_state(cur, this_end, bits, Some(fp), hooks);
                if let Some(p) = filled {
                    if cache.wants() {
                        cache.offer(self.rec_at(p), p);
                    }
                }
                if this_end == end {
                    return Ok(());
                }
                cur = this_end + 1;
                // The filled record (however merged) is the last one starting before cur.
                if filled.is_some() {
                    hint = Some(self.search_after(filled, cur));
                }
                continue;
            }
            // The record covers cur. If it starts at cur, its start is cur; if before, the
            // kernel reports start. Either way failed_start is cur.
            let st_end = found.end;
            // Bug::ExclusiveMissesStraddler: only records starting at cur are tested.
            if found.bits.intersects(exclusive)
                && !(rs < cur && self.bugs.contains(Bug::ExclusiveMissesStraddler))
            {
                return Err(cur);
            }
            if rs < cur && self.era.set_skips_covered() && found.bits.contains(bits) {
                // 6.x: the record already has every bit asked for: passed over, unsplit.
                cache.offer(found, fp);
                if st_end >= end {
                    return Ok(());
                }
                cur = st_end + 1;
                hint = Some(self.search_after(Some(fp), cur));
                continue;
            }
            let mut p = fp;
            if rs < cur {
                p = self.split_state(p, cur, hooks).1;
            }
            if st_end > end {
                // Runs past end: set only the part in range.
                p = self.split_state(p, end + 1, hooks).0;
                let r = self.set_state_bits(p, bits, hooks);
                cache.offer(r, p);
                self.merge_state(p, r, hooks);
                return Ok(());
            }
            let r = self.set_state_bits(p, bits, hooks);
            cache.offer(r, p);
            let survivor = self.merge_state(p, r, hooks);
            if st_end >= end {
                return Ok(());
            }
            // Continue after the record as it was; if it merged with its successor, the next
            // step finds the merged record starting before cur and splits it again (as the
            // kernel's re-search does).
            cur = st_end + 1;
            hint = Some(self.search_after(Some(survivor), cur));
        }
    }

    /// clear_extent_bit: take `bits` off every byte of [start, end].
    ///
    /// `delete` clears every storable bit (the caller's control bits still reach the hooks);
    /// clearing DELALLOC also clears NORESERVE, which only means something on delalloc ranges.
    /// Records without any of the bits are left alone, not split. Returns whether a LOCKED bit
    /// was cleared, i.e. whether the caller must wake waiters (`wake` states that intent; the
    /// tree has no waiters of its own). Clearing LOCKED or BOUNDARY drops the cursor, since the
    /// record it names is going away.
    #[expect(
        clippy::too_many_arguments,
        reason = "range, bits, two flags, cursor, hooks: every caller sets them differently"
    )]
    pub fn clear_bits<H: StateHooks>(
        &mut self,
        start: u64,
        end: u64,
        bits: Bits,
        wake: bool,
        delete: bool,
        cursor: Option<&mut Cursor>,
        hooks: &mut H,
    ) -> bool {
        debug_assert!(start <= end);
        let _ = wake;
        let mut bits = bits;
        if delete {
            bits = bits.union(Bits::STORABLE);
        }
        if bits.intersects(Bits::DELALLOC) {
            bits = bits.union(Bits::NORESERVE);
        }
        let mut hint = self.cursor_rec(cursor.as_deref(), start).map(Some);
        if bits.intersects(CACHEABLE) {
            if let Some(c) = cursor {
                c.clear();
            }
        }
        let mut woke = false;
        let mut cur = start;
        loop {
            let found = match hint.take() {
                Some(found) => found,
                None => self.search_rec(cur),
            };
            let Some((fp, rec)) = found else {
                return woke;
            };
            let rs = rec.start;
            if rs > end {
                return woke;
            }
            // The last record starting before the next cur, once this one is dealt with.
            let mut anchor = Some(fp);
            if rec.bits.intersects(bits) {
                let mut p = fp;
                if rs < cur {
                    p = self.split_state(p, cur, hooks).1;
                }
                if rec.end > end {
                    p = self.split_state(p, end + 1, hooks).0;
                }
                woke |= rec.bits.intersects(Bits::LOCKED) && bits.intersects(Bits::LOCKED);
                anchor = match self.clear_state_bit(p, bits, hooks) {
                    Cleared::Kept(q) => Some(q),
                    Cleared::Erased(before) => before,
                };
            }
            // A record without the bits is skipped whole. If the cleared piece merged with its
            // successor, the successor has none of the bits either and is skipped on the next
            // step.
            if rec.end >= end {
                return woke;
            }
            cur = rec.end + 1;
            hint = Some(self.search_after(anchor, cur));
        }
    }

    /// convert_extent_bit: one pass over [start, end] that sets `set` and then clears `clear`
    /// on each existing record piece; holes get a record of `set` only. Each existing piece sees
    /// on_set, then on_clear, then is erased if empty or else merged once. Never
    /// used for LOCKED, so there is nothing exclusive and no failure. `set.stored()` must not
    /// be empty.
    pub fn convert_bits<H: StateHooks>(
        &mut self,
        start: u64,
        end: u64,
        set: Bits,
        clear: Bits,
        mut cursor: Option<&mut Cursor>,
        hooks: &mut H,
    ) {
        debug_assert!(start <= end);
        debug_assert!(
            !set.union(clear).intersects(Bits::LOCKED),
            "convert_bits never converts LOCKED"
        );
        let mut hint = self.cursor_rec(cursor.as_deref(), start).map(Some);
        let mut cache = CacheSlot::new(cursor.take());
        let mut cur = start;
        loop {
            let found = match hint.take() {
                Some(found) => found,
                None => self.search_rec(cur),
            };
            let Some((fp, found)) = found else {
                self.insert_converted(cur, end, set, None, &mut cache, hooks);
                return;
            };
            let rs = found.start;
            if rs > cur {
                let this_end = end.min(rs - 1);
                let filled = self.insert_converted(cur, this_end, set, Some(fp), &mut cache, hooks);
                if this_end == end {
                    return;
                }
                cur = this_end + 1;
                if filled.is_some() {
                    hint = Some(self.search_after(filled, cur));
                }
                continue;
            }
            let st_end = found.end;
            let mut p = fp;
            if rs < cur {
                p = self.split_state(p, cur, hooks).1;
            }
            if st_end > end {
                p = self.split_state(p, end + 1, hooks).0;
            }
            self.set_state_bits(p, set, hooks);
            let anchor = match self.clear_state_bit(p, clear, hooks) {
                Cleared::Kept(q) => {
                    if cache.wants() {
                        cache.offer(self.rec_at(q), q);
                    }
                    Some(q)
                }
                Cleared::Erased(before) => before,
            };
            if st_end >= end {
                return;
            }
            cur = st_end + 1;
            hint = Some(self.search_after(anchor, cur));
        }
    }

    /// A hole of convert_bits gets a record of `set` only, as the kernel's insert_state with the
    /// set bits: `clear` applies to existing records, never to a hole (it has nothing to clear).
    /// `next` as for insert_state. Returns the merged record's position.
    fn insert_converted<H: StateHooks>(
        &mut self,
        start: u64,
        end: u64,
        set: Bits,
        next: Option<Pos>,
        cache: &mut CacheSlot<'_>,
        hooks: &mut H,
    ) -> Option<Pos> {
        let p = self.insert_state(start, end, set, next, hooks)?;
        if cache.wants() {
            cache.offer(self.rec_at(p), p);
        }
        Some(p)
    }
    /// try_lock_extent: lock [start, end] unless some of it is locked already. On a conflict
    /// the part this call did lock, [start, failed_start-1], is unlocked again, so the tree is
    /// as before, and Err(failed_start) says where the conflict is.
    pub fn try_lock<H: StateHooks>(
        &mut self,
        start: u64,
        end: u64,
        hooks: &mut H,
    ) -> Result<(), u64> {
        match self.set_bits(start, end, Bits::LOCKED, Bits::LOCKED, None, hooks) {
            Ok(()) => Ok(()),
            Err(failed_start) => {
                // Bug::TryLockKeepsPrefix: no undo, as lock_extent_bits (which then waits).
                if failed_start > start && !self.bugs.contains(Bug::TryLockKeepsPrefix) {
                    self.clear_bits(
                        start,
                        failed_start - 1,
                        Bits::LOCKED,
                        true,
                        false,
                        None,
                        hooks,
                    );
                }
                Err(failed_start)
            }
        }
    }

    /// unlock_extent: clear LOCKED on [start, end] and wake waiters. Returns whether anything
    /// was locked.
    pub fn unlock<H: StateHooks>(&mut self, start: u64, end: u64, hooks: &mut H) -> bool {
        self.clear_bits(start, end, Bits::LOCKED, true, false, None, hooks)
    }

    // ---- queries ----

    /// test_range_bit: with `filled`, whether every byte of [start, end] lies in a record having
    /// any of `bits` (a gap, or running out of records, answers false); without, whether any
    /// record overlapping the range has any of them.
    pub fn test_range_bit(&self, start: u64, end: u64, bits: Bits, filled: bool) -> bool {
        let mut result = false;
        let mut cur = start;
        let mut it = self.iter_from(start).peekable();
        while let Some(rec) = it.next() {
            if filled && rec.start > cur {
                result = false;
                break;
            }
            if rec.start > end {
                break;
            }
            if rec.bits.intersects(bits) {
                result = true;
                if !filled {
                    break;
                }
            } else if filled {
                result = false;
                break;
            }
            if rec.end == u64::MAX {
                break;
            }
            cur = rec.end + 1;
            if cur > end {
                break;
            }
            if it.peek().is_none() {
                if filled {
                    result = false;
                }
                break;
            }
        }
        result
    }

    /// count_range_bits: bytes of [start, end] in records having all of `bits`, and where the
    /// first of them starts. Stops once the total reaches `max_bytes`; with `contig`, stops at
    /// the first gap or non-matching record after a match.
    ///
    /// Kernel quirks kept: an empty-looking range counts nothing (era B: end <= start; era 6:
    /// end < start); era B answers the tree's dirty_bytes for exactly DIRTY from offset 0,
    /// whatever the other arguments; and the total is checked against max_bytes before the
    /// first match's start is recorded, so when the first match alone reaches max_bytes, the
    /// returned start is `start`.
    pub fn count_range_bits(
        &self,
        start: u64,
        end: u64,
        max_bytes: u64,
        bits: Bits,
        contig: bool,
    ) -> (u64, u64) {
        if self.era.count_empty(start, end) {
            return (0, start);
        }
        if self.era.count_dirty_shortcut(start, bits) {
            return (self.dirty_bytes, start);
        }
        let mut total: u64 = 0;
        let mut found = false;
        let mut last: u64 = 0;
        let mut first = start;
        for rec in self.iter_from(start) {
            if rec.start > end {
                break;
            }
            if contig && found && rec.start > last.saturating_add(1) {
                break;
            }
            if rec.end >= start && rec.bits.contains(bits) {
                total = total.saturating_add(end.min(rec.end) - start.max(rec.start) + 1);
                if total >= max_bytes {
                    break;
                }
                if !found {
                    first = start.max(rec.start);
                    found = true;
                }
                last = rec.end;
            } else if contig && found {
                break;
            }
        }
        (total, first)
    }

    /// find_first_extent_bit: the first record ending at or after `start` that has any of
    /// `bits`, whole (it may start before `start`).
    pub fn find_first_bit(&self, start: u64, bits: Bits) -> Option<Record> {
        self.iter_from(start).find(|r| r.bits.intersects(bits))
    }

    /// find_first_clear_extent_bit of fs/btrfs/extent-io-tree.c in 6.1 (the rule since 5.6;
    /// 4.14, era B, has no such function), SPEC §1.1: the first range at or after `start` whose
    /// bytes have none of `bits`.
    ///
    /// `start`: where the search begins; the range may begin before it. `bits`: a byte is clear
    /// when it has none of them; a hole is clear.
    ///
    /// Returns `(start_ret, end_ret)`, inclusive. Records that contain the cursor (at first
    /// `start`) and have one of `bits` move it past their end, one after another. Then:
    ///
    /// ```text
    /// |-- prev --|      hole      |-- next --|      cursor in a hole: start_ret = prev.end + 1
    ///                 ^cursor                       (0 without a prev)
    /// |---- record without bits ----|              cursor in a clear record:
    ///        ^cursor                               start_ret = record.start
    /// |-- clear --|  hole  |-- clear --|-- bits --|  end_ret = bits.start - 1 (clear records
    ///                                                and holes are crossed); no record with
    ///                                                bits after: end_ret = last record's end
    /// ```
    ///
    /// No record at or after the cursor: `(end of the last record + 1, u64::MAX)`, or
    /// `(0, u64::MAX)` for an empty tree; u64::MAX is the kernel's (u64)-1, "up to the end".
    /// start_ret never reaches back over a record, even one lacking `bits`; end_ret stops at
    /// the last record even though the bytes after it are clear (the kernel's quirks, kept).
    ///
    /// One descent, then in-order steps over the records skipped and those of the range:
    /// O(log n + k), as the kernel's loop. Takes no cursor and changes nothing. A record
    /// ending at u64::MAX (past the contract's 2^50) wraps the cursor as the kernel's
    /// arithmetic does.
    pub fn find_first_clear_bit(&self, start: u64, bits: Bits) -> (u64, u64) {
        let anchor = self.map.last_le(start);
        let mut found = self.search_after(anchor, start);
        // When nothing ends at or after the cursor, the record before it is the last one.
        let mut last = anchor;
        let mut cur = start;
        let (p, rec) = loop {
            let Some((p, rec)) = found else {
                let after_last = last.map_or(0, |q| self.rec_at(q).end.wrapping_add(1));
                return (after_last, u64::MAX);
            };
            if rec.start > cur || !rec.bits.intersects(bits) {
                break (p, rec);
            }
            cur = rec.end.wrapping_add(1);
            last = Some(p);
            found = self.map.next(p).map(|q| self.found(q));
        };
        let start_ret = if rec.start <= cur {
            rec.start
        } else {
            self.map.prev(p).map_or(0, |q| self.rec_at(q).end + 1)
        };
        (start_ret, self.clear_run_end(p, rec, bits))
    }

    /// The end of a clear range whose first record at or after its start is `rec` (at `p`):
    /// the byte before the first record from `rec` on having one of `bits`, else the last
    /// record's end.
    fn clear_run_end(&self, mut p: Pos, mut rec: Record, bits: Bits) -> u64 {
        loop {
            if rec.bits.intersects(bits) {
                // Never the first record of the tree: a hole or a record lies before it.
                return rec.start - 1;
            }
            match self.map.next(p) {
                Some(q) => (p, rec) = self.found(q),
                None => return rec.end,
            }
        }
    }

    /// find_delalloc_range: the run of contiguous DELALLOC records beginning with the record at
    /// or after `start`, as (found, run start, run end). The run stops at a gap, at a BOUNDARY
    /// record other than its first, or once it holds max_bytes (its last record counted
    /// whole). Not found: the end is that of the first record (which lacks DELALLOC), or
    /// u64::MAX if there is no record at all; the start stays `start`.
    pub fn find_delalloc_range(&self, start: u64, max_bytes: u64) -> (bool, u64, u64) {
        let mut out_start = start;
        let mut out_end = 0;
        let mut found = false;
        let mut cur = start;
        let mut total: u64 = 0;
        let mut it = self.iter_from(start).peekable();
        if it.peek().is_none() {
            return (false, start, u64::MAX);
        }
        // Bug::FindDelallocIgnoresBoundary: a BOUNDARY record does not end the run.
        let boundary = if self.bugs.contains(Bug::FindDelallocIgnoresBoundary) {
            Bits::NONE
        } else {
            Bits::BOUNDARY
        };
        for rec in it {
            if found && (rec.start != cur || rec.bits.intersects(boundary)) {
                break;
            }
            if !rec.bits.intersects(Bits::DELALLOC) {
                if !found {
                    out_end = rec.end;
                }
                break;
            }
            if !found {
                out_start = rec.start;
            }
            found = true;
            out_end = rec.end;
            // A record ending at u64::MAX is the last one, so the wrap is never compared.
            cur = rec.end.wrapping_add(1);
            total = total.saturating_add(rec.len());
            if total >= max_bytes {
                break;
            }
        }
        (found, out_start, out_end)
    }

    /// The invariants every complete operation leaves: records sorted and disjoint, no empty
    /// bits, no control bits stored, and canonical — no two adjacent records with identical
    /// bits unless they carry a NO_MERGE bit; and beneath, the map's own structure
    /// ([`ExtentMap::check`]).
    pub fn check_invariants(&self) -> Result<(), String> {
        self.map.check()?;
        let mut prev: Option<Record> = None;
        for rec in self.records() {
            if rec.start > rec.end {
                return Err(format!(
                    "record {}..={} ends before it starts",
                    rec.start, rec.end
                ));
            }
            if rec.bits.is_empty() {
                return Err(format!("record {}..={} has no bits", rec.start, rec.end));
            }
            if rec.bits != rec.bits.stored() {
                return Err(format!(
                    "record {}..={} stores non-storable bits {}",
                    rec.start, rec.end, rec.bits
                ));
            }
            if let Some(p) = prev {
                if p.end >= rec.start {
                    return Err(format!(
                        "records {}..={} and {}..={} overlap",
                        p.start, p.end, rec.start, rec.end
                    ));
                }
                if p.end + 1 == rec.start
                    && p.bits == rec.bits
                    && !rec.bits.intersects(self.era.no_merge())
                {
                    return Err(format!(
                        "records {}..={} and {}..={} are adjacent with identical bits {} but not merged",
                        p.start, p.end, rec.start, rec.end, rec.bits
                    ));
                }
            }
            prev = Some(rec);
        }
        let dirty: u64 = self
            .records()
            .filter(|r| r.bits.contains(Bits::DIRTY))
            .map(|r| r.len())
            .sum();
        if dirty != self.dirty_bytes {
            return Err(format!(
                "dirty_bytes {} but DIRTY records hold {dirty}",
                self.dirty_bytes
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: Bits = Bits::DELALLOC;
    const U: Bits = Bits::UPTODATE;
    const L: Bits = Bits::LOCKED;
    const B: Bits = Bits::BOUNDARY;
    const W: Bits = Bits::WRITEBACK;
    const NR: Bits = Bits::NORESERVE;
    const DF: Bits = Bits::DEFRAG;
    const NONE: Bits = Bits::NONE;

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Call {
        Set(Record, Bits),
        Clear(Record, Bits),
        Merge(Record, Record),
        Split(Record, u64),
    }
    use Call::*;

    #[derive(Default)]
    struct Log(Vec<Call>);
    impl StateHooks for Log {
        fn on_set(&mut self, rec: Record, bits: Bits) {
            self.0.push(Set(rec, bits));
        }
        fn on_clear(&mut self, rec: Record, bits: Bits) {
            self.0.push(Clear(rec, bits));
        }
        fn on_merge(&mut self, survivor: Record, other: Record) {
            self.0.push(Merge(survivor, other));
        }
        fn on_split(&mut self, orig: Record, at: u64) {
            self.0.push(Split(orig, at));
        }
    }

    fn r(start: u64, end: u64, bits: Bits) -> Record {
        Record { start, end, bits }
    }

    /// A tree holding exactly these records (bypassing the operations).
    fn tree(recs: &[Record]) -> ExtentIoTree {
        tree_in(Era::B, recs)
    }

    /// A tree of `era` holding exactly these records (bypassing the operations).
    fn tree_in(era: Era, recs: &[Record]) -> ExtentIoTree {
        let mut t = ExtentIoTree::new().with_era(era);
        for rec in recs {
            if rec.bits.contains(Bits::DIRTY) {
                t.dirty_bytes += rec.len();
            }
            t.map.insert(
                rec.start,
                State {
                    end: rec.end,
                    bits: rec.bits,
                },
            );
        }
        t.check_invariants().unwrap();
        t
    }

    fn recs(t: &ExtentIoTree) -> Vec<Record> {
        t.check_invariants().unwrap();
        t.records().collect()
    }

    fn set(
        t: &mut ExtentIoTree,
        s: u64,
        e: u64,
        bits: Bits,
        excl: Bits,
    ) -> (Result<(), u64>, Vec<Call>) {
        let mut log = Log::default();
        let res = t.set_bits(s, e, bits, excl, None, &mut log);
        (res, log.0)
    }

    fn clear(t: &mut ExtentIoTree, s: u64, e: u64, bits: Bits, delete: bool) -> (bool, Vec<Call>) {
        let mut log = Log::default();
        let woke = t.clear_bits(s, e, bits, true, delete, None, &mut log);
        (woke, log.0)
    }

    // ---- set_bits ----

    #[test]
    fn set_on_empty_tree() {
        let mut t = ExtentIoTree::new();
        let (res, calls) = set(&mut t, 0, 4095, D | Bits::DO_ACCOUNTING, NONE);
        assert_eq!(res, Ok(()));
        assert_eq!(recs(&t), [r(0, 4095, D)]);
        assert_eq!(calls, [Set(r(0, 4095, NONE), D | Bits::DO_ACCOUNTING)]);
    }

    #[test]
    fn set_inside_record_already_having_bits_splits_and_merges_back() {
        let mut t = tree(&[r(0, 99, D)]);
        let (res, calls) = set(&mut t, 10, 19, D, NONE);
        assert_eq!(res, Ok(()));
        assert_eq!(recs(&t), [r(0, 99, D)]);
        assert_eq!(
            calls,
            [
                Split(r(0, 99, D), 10),
                Split(r(10, 99, D), 20),
                Set(r(10, 19, D), D),
                Merge(r(10, 19, D), r(0, 9, D)),
                Merge(r(0, 19, D), r(20, 99, D)),
            ]
        );
    }

    #[test]
    fn set_new_bit_inside_record_leaves_three() {
        let mut t = tree(&[r(0, 99, D)]);
        let (res, calls) = set(&mut t, 10, 19, U, NONE);
        assert_eq!(res, Ok(()));
        assert_eq!(recs(&t), [r(0, 9, D), r(10, 19, D | U), r(20, 99, D)]);
        assert_eq!(
            calls,
            [
                Split(r(0, 99, D), 10),
                Split(r(10, 99, D), 20),
                Set(r(10, 19, D), U)
            ]
        );
    }

    #[test]
    fn set_across_holes_and_records() {
        // Hole, record, hole merging forward into an identical record, which the walk then
        // splits again (the kernel re-searches and finds the merged record before its cursor),
        // and a trailing hole.
        let mut t = tree(&[r(10, 19, D), r(30, 39, U)]);
        let (res, calls) = set(&mut t, 5, 44, U, NONE);
        assert_eq!(res, Ok(()));
        assert_eq!(recs(&t), [r(5, 9, U), r(10, 19, D | U), r(20, 44, U)]);
        assert_eq!(
            calls,
            [
                Set(r(5, 9, NONE), U),
                Set(r(10, 19, D), U),
                Set(r(20, 29, NONE), U),
                Merge(r(20, 29, U), r(30, 39, U)),
                Split(r(20, 39, U), 30),
                Set(r(30, 39, U), U),
                Merge(r(30, 39, U), r(20, 29, U)),
                Set(r(40, 44, NONE), U),
                Merge(r(40, 44, U), r(20, 39, U)),
            ]
        );
    }

    #[test]
    fn set_merges_adjacent_identical_records() {
        let mut t = tree(&[r(0, 9, D), r(20, 29, D)]);
        let (_, calls) = set(&mut t, 10, 19, D, NONE);
        assert_eq!(recs(&t), [r(0, 29, D)]);
        assert_eq!(
            calls,
            [
                Set(r(10, 19, NONE), D),
                Merge(r(10, 19, D), r(0, 9, D)),
                Merge(r(0, 19, D), r(20, 29, D))
            ]
        );
    }

    #[test]
    fn no_merge_bits_keep_records_apart() {
        for bit in [L, W, B] {
            let mut t = tree(&[r(0, 9, bit), r(20, 29, bit)]);
            let (_, calls) = set(&mut t, 10, 19, bit, NONE);
            assert_eq!(
                recs(&t),
                [r(0, 9, bit), r(10, 19, bit), r(20, 29, bit)],
                "{bit}"
            );
            assert_eq!(calls, [Set(r(10, 19, NONE), bit)]);
        }
        // Split locked pieces keep their boundaries once the extra bit is gone.
        let mut t = tree(&[r(0, 19, L | D)]);
        let (_, calls) = set(&mut t, 5, 9, U, NONE);
        assert_eq!(
            calls,
            [
                Split(r(0, 19, L | D), 5),
                Split(r(5, 19, L | D), 10),
                Set(r(5, 9, L | D), U)
            ]
        );
        let (woke, calls) = clear(&mut t, 5, 9, U, false);
        assert!(!woke);
        assert_eq!(calls, [Clear(r(5, 9, L | D | U), U)]);
        assert_eq!(recs(&t), [r(0, 4, L | D), r(5, 9, L | D), r(10, 19, L | D)]);
    }

    #[test]
    fn exclusive_conflict_before_start_sets_nothing() {
        let mut t = tree(&[r(0, 9, L)]);
        let (res, calls) = set(&mut t, 5, 19, L, L);
        assert_eq!(res, Err(5));
        assert_eq!(recs(&t), [r(0, 9, L)]);
        assert_eq!(calls, []);
    }

    #[test]
    fn exclusive_conflict_inside_keeps_what_was_set() {
        let mut t = tree(&[r(10, 19, L)]);
        let (res, calls) = set(&mut t, 0, 29, L | D, L);
        assert_eq!(res, Err(10));
        assert_eq!(recs(&t), [r(0, 9, L | D), r(10, 19, L)]);
        assert_eq!(calls, [Set(r(0, 9, NONE), L | D)]);

        // A conflicting record running past end fails at its own start.
        let mut t = tree(&[r(10, 29, L)]);
        let (res, _) = set(&mut t, 0, 19, L, L);
        assert_eq!(res, Err(10));
        assert_eq!(recs(&t), [r(0, 9, L), r(10, 29, L)]);

        // Exclusive bits only matter when present.
        let mut t = tree(&[r(10, 19, U)]);
        assert_eq!(set(&mut t, 0, 29, L, L).0, Ok(()));
        assert_eq!(recs(&t), [r(0, 9, L), r(10, 19, U | L), r(20, 29, L)]);
    }

    // ---- clear_bits ----

    #[test]
    fn clear_skips_records_without_the_bits_and_splits_at_both_ends() {
        let mut t = tree(&[r(0, 9, D), r(10, 19, U), r(20, 29, D)]);
        let (woke, calls) = clear(&mut t, 5, 24, D, false);
        assert!(!woke);
        assert_eq!(recs(&t), [r(0, 4, D), r(10, 19, U), r(25, 29, D)]);
        assert_eq!(
            calls,
            [
                Split(r(0, 9, D), 5),
                Clear(r(5, 9, D), D | NR),
                Split(r(20, 29, D), 25),
                Clear(r(20, 24, D), D | NR),
            ]
        );
    }

    #[test]
    fn clear_strictly_inside_one_record() {
        let mut t = tree(&[r(0, 99, D | U)]);
        let (_, calls) = clear(&mut t, 10, 19, U, false);
        assert_eq!(recs(&t), [r(0, 9, D | U), r(10, 19, D), r(20, 99, D | U)]);
        assert_eq!(
            calls,
            [
                Split(r(0, 99, D | U), 10),
                Split(r(10, 99, D | U), 20),
                Clear(r(10, 19, D | U), U)
            ]
        );
    }

    #[test]
    fn clearing_delalloc_clears_noreserve() {
        let mut t = tree(&[r(0, 9, D | NR | U)]);
        let (_, calls) = clear(&mut t, 0, 9, D | Bits::DO_ACCOUNTING, false);
        assert_eq!(recs(&t), [r(0, 9, U)]);
        assert_eq!(
            calls,
            [Clear(r(0, 9, D | NR | U), D | NR | Bits::DO_ACCOUNTING)]
        );
    }

    #[test]
    fn delete_clears_everything_and_reports_the_unlock() {
        let mut t = tree(&[r(0, 9, D | U | L), r(10, 19, DF)]);
        let (woke, calls) = clear(&mut t, 0, 19, Bits::DO_ACCOUNTING, true);
        assert!(woke);
        assert!(t.is_empty());
        let mask = Bits::STORABLE | Bits::DO_ACCOUNTING;
        assert_eq!(
            calls,
            [Clear(r(0, 9, D | U | L), mask), Clear(r(10, 19, DF), mask)]
        );
    }

    #[test]
    fn unlock_remerges_neighbours() {
        let mut t = tree(&[r(0, 9, D), r(10, 19, D | L), r(20, 29, D)]);
        let mut log = Log::default();
        assert!(t.unlock(10, 19, &mut log));
        assert_eq!(recs(&t), [r(0, 29, D)]);
        assert_eq!(
            log.0,
            [
                Clear(r(10, 19, D | L), L),
                Merge(r(10, 19, D), r(0, 9, D)),
                Merge(r(0, 19, D), r(20, 29, D))
            ]
        );
        let mut log = Log::default();
        assert!(!t.unlock(0, 29, &mut log));
        assert_eq!(log.0, []);
    }

    // ---- locks ----

    #[test]
    fn try_lock_conflict_undoes_the_partial_lock() {
        let mut t = tree(&[r(10, 19, L)]);
        let mut log = Log::default();
        assert_eq!(t.try_lock(0, 29, &mut log), Err(10));
        assert_eq!(recs(&t), [r(10, 19, L)]);
        assert_eq!(log.0, [Set(r(0, 9, NONE), L), Clear(r(0, 9, L), L)]);

        // Conflict at start: nothing to undo.
        let mut log = Log::default();
        assert_eq!(t.try_lock(15, 29, &mut log), Err(15));
        assert_eq!(log.0, []);

        // No conflict: locked, and each new record keeps its own boundaries.
        let mut log = Log::default();
        assert_eq!(t.try_lock(20, 29, &mut log), Ok(()));
        assert_eq!(recs(&t), [r(10, 19, L), r(20, 29, L)]);
        let mut log = Log::default();
        assert!(t.unlock(10, 29, &mut log));
        assert!(t.is_empty());
        assert_eq!(log.0, [Clear(r(10, 19, L), L), Clear(r(20, 29, L), L)]);
    }

    // ---- convert_bits ----

    #[test]
    fn convert_sets_then_clears_holes_included() {
        let mut t = tree(&[r(10, 19, D)]);
        let mut log = Log::default();
        t.convert_bits(0, 29, U, D, None, &mut log);
        assert_eq!(recs(&t), [r(0, 29, U)]);
        assert_eq!(
            log.0,
            [
                Set(r(0, 9, NONE), U),
                Set(r(10, 19, D), U),
                Clear(r(10, 19, D | U), D),
                Merge(r(10, 19, U), r(0, 9, U)),
                Set(r(20, 29, NONE), U),
                Merge(r(20, 29, U), r(0, 19, U)),
            ]
        );
    }

    #[test]
    fn convert_never_clears_a_hole() {
        // convert_extent_bit's insert_state sets the bits on a hole and clears nothing there.
        let mut t = ExtentIoTree::new();
        t.convert_bits(0, 9, U | D, D, None, &mut NoHooks);
        assert_eq!(recs(&t), [r(0, 9, U | D)]);
    }

    #[test]
    fn convert_splits_at_the_edges() {
        let mut t = tree(&[r(0, 99, D | DF)]);
        let mut log = Log::default();
        t.convert_bits(10, 19, U, DF, None, &mut log);
        assert_eq!(
            recs(&t),
            [r(0, 9, D | DF), r(10, 19, D | U), r(20, 99, D | DF)]
        );
        assert_eq!(
            log.0,
            [
                Split(r(0, 99, D | DF), 10),
                Split(r(10, 99, D | DF), 20),
                Set(r(10, 19, D | DF), U),
                Clear(r(10, 19, D | DF | U), DF),
            ]
        );
    }

    // ---- queries ----

    #[test]
    fn test_range_bit_cases() {
        let t = tree(&[r(0, 9, D), r(20, 29, D | U)]);
        assert!(t.test_range_bit(0, 9, D, true));
        assert!(!t.test_range_bit(0, 29, D, true), "gap");
        assert!(
            !t.test_range_bit(0, 15, D, true),
            "gap after the last byte of a record"
        );
        assert!(!t.test_range_bit(20, 39, D, true), "records run out");
        assert!(!t.test_range_bit(10, 19, D, false));
        assert!(t.test_range_bit(5, 25, U, false));
        assert!(
            t.test_range_bit(0, 9, D | U, true),
            "any of the bits per record"
        );
        assert!(!t.test_range_bit(30, 40, D, false));
        assert!(!ExtentIoTree::new().test_range_bit(0, 9, D, true));
    }

    #[test]
    fn count_range_bits_cases() {
        let t = tree(&[r(0, 9, D), r(20, 29, D | U)]);
        assert_eq!(t.count_range_bits(0, 29, u64::MAX, D, false), (20, 0));
        assert_eq!(
            t.count_range_bits(5, 29, u64::MAX, D, true),
            (5, 5),
            "contig stops at the gap"
        );
        assert_eq!(
            t.count_range_bits(5, 29, u64::MAX, D | U, false),
            (10, 20),
            "all of the bits"
        );
        assert_eq!(
            t.count_range_bits(5, 5, u64::MAX, D, false),
            (0, 5),
            "end <= start"
        );
        assert_eq!(
            t.count_range_bits(9, 3, u64::MAX, D, false),
            (0, 9),
            "end <= start"
        );
        // first_start quirk: the first match alone reaches max_bytes before first is recorded.
        let t = tree(&[r(10, 19, D)]);
        assert_eq!(t.count_range_bits(0, 29, 4, D, false), (10, 0));
        assert_eq!(t.count_range_bits(0, 29, 100, D, false), (10, 10));
        // contig also stops at a non-matching record after a match.
        let t = tree(&[r(0, 9, D), r(10, 19, U), r(20, 29, D)]);
        assert_eq!(t.count_range_bits(0, 29, u64::MAX, D, true), (10, 0));
        assert_eq!(t.count_range_bits(0, 29, u64::MAX, D, false), (20, 0));
    }

    #[test]
    fn find_first_bit_cases() {
        let t = tree(&[r(0, 9, D), r(20, 29, U | D), r(30, 39, L)]);
        assert_eq!(t.find_first_bit(10, U), Some(r(20, 29, U | D)));
        assert_eq!(t.find_first_bit(5, D), Some(r(0, 9, D)), "whole record");
        assert_eq!(t.find_first_bit(10, L | DF), Some(r(30, 39, L)));
        assert_eq!(t.find_first_bit(40, D), None);
    }

    /// The kernel's test_find_first_clear_extent_bit (fs/btrfs/tests/extent-io-tests.c, 5.3,
    /// with the empty-tree case added in 5.6), in this tree's terms. Its device-allocation
    /// tree calls DIRTY CHUNK_ALLOCATED and DEFRAG CHUNK_TRIMMED.
    #[test]
    fn find_first_clear_bit_kernel_self_test() {
        const ALLOCATED: Bits = Bits::DIRTY;
        const TRIMMED: Bits = DF;
        const M: u64 = 1 << 20;
        let mut t = ExtentIoTree::new();
        assert_eq!(
            t.find_first_clear_bit(0, TRIMMED),
            (0, u64::MAX),
            "empty tree"
        );
        // 0   1M      4M                 32M
        // ◌ ◌ ●-------◌ ◌ ◌ ◌ ◌ ◌ ◌ ◌ ◌ ◌ ◌
        assert_eq!(
            set(&mut t, M, 4 * M - 1, TRIMMED | ALLOCATED, NONE).0,
            Ok(())
        );
        assert_eq!(
            t.find_first_clear_bit(M / 2, TRIMMED | ALLOCATED),
            (0, M - 1),
            "the hole before the first record"
        );
        // 0   1M      4M                 32M        64M
        // ◌ ◌ ●-------◌ ◌ ◌ ◌ ◌ ◌ ◌ ◌ ◌ ◌ ●----------◌
        assert_eq!(
            set(&mut t, 32 * M, 64 * M - 1, TRIMMED | ALLOCATED, NONE).0,
            Ok(())
        );
        assert_eq!(
            t.find_first_clear_bit(12 * M, TRIMMED | ALLOCATED),
            (4 * M, 32 * M - 1),
            "a hole between records, searched from its middle"
        );
        assert_eq!(
            t.find_first_clear_bit(2 * M, TRIMMED | ALLOCATED),
            (4 * M, 32 * M - 1),
            "from inside a record with the bits: the next hole"
        );
        // ... 32M        64M     72M
        //     ●----------○-------◌      ○ = ALLOCATED only
        assert_eq!(set(&mut t, 64 * M, 72 * M - 1, ALLOCATED, NONE).0, Ok(()));
        assert_eq!(
            t.find_first_clear_bit(65 * M, TRIMMED),
            (64 * M, 72 * M - 1),
            "from inside a record without the bit: that record, the last one"
        );
        assert_eq!(
            t.find_first_clear_bit(56 * M, TRIMMED),
            (64 * M, 72 * M - 1),
            "from a record with the bit into its neighbour without"
        );
        assert_eq!(
            t.find_first_clear_bit((1 << 50) - 1, TRIMMED),
            (72 * M, u64::MAX),
            "beyond every record (the last byte below 2^50)"
        );
        assert_eq!(
            t.find_first_clear_bit(u64::MAX, TRIMMED),
            (72 * M, u64::MAX),
            "the self-test's own start, (u64)-1"
        );
    }

    #[test]
    fn find_first_clear_bit_cases() {
        // 0         10        20        30        40        50
        // D---------U---------◌ ◌ ◌ ◌ ◌ D---------F---------◌      F = DEFRAG
        let t = tree(&[r(0, 9, D), r(10, 19, U), r(30, 39, D), r(40, 49, DF)]);
        assert_eq!(
            t.find_first_clear_bit(0, DF),
            (0, 39),
            "clear records and the hole between them are crossed"
        );
        assert_eq!(
            t.find_first_clear_bit(15, DF),
            (10, 39),
            "the containing record's start, not back over [0, 9] which is clear too"
        );
        assert_eq!(
            t.find_first_clear_bit(25, DF),
            (20, 39),
            "a hole: one past the record before it"
        );
        assert_eq!(
            t.find_first_clear_bit(0, D),
            (10, 29),
            "skips [0, 9], ends before the next record with the bit"
        );
        assert_eq!(
            t.find_first_clear_bit(5, D | U),
            (20, 29),
            "any of the bits: skips two adjacent records into the hole"
        );
        assert_eq!(
            t.find_first_clear_bit(31, D),
            (40, 49),
            "nothing with the bit after: the last record's end, not u64::MAX"
        );
        assert_eq!(
            t.find_first_clear_bit(45, DF),
            (50, u64::MAX),
            "past the last record after skipping"
        );
        assert_eq!(t.find_first_clear_bit(50, D), (50, u64::MAX));
        assert_eq!(
            t.find_first_clear_bit(1000, D),
            (50, u64::MAX),
            "start_ret may be below start"
        );
        // 0         100        200
        // ◌ ◌ ◌ ◌ ◌ D----------◌
        let t = tree(&[r(100, 199, D)]);
        assert_eq!(t.find_first_clear_bit(0, D), (0, 99));
        assert_eq!(t.find_first_clear_bit(150, D), (200, u64::MAX));
        assert_eq!(
            t.find_first_clear_bit(0, U),
            (0, 199),
            "the hole and the clear record"
        );
        assert_eq!(
            t.find_first_clear_bit(150, NONE),
            (100, 199),
            "no bits: every byte is clear"
        );
    }

    #[test]
    fn find_delalloc_range_cases() {
        let t = tree(&[
            r(0, 9, D),
            r(10, 19, D | U),
            r(20, 29, D | B),
            r(30, 39, D),
            r(50, 59, D),
            r(60, 69, U),
        ]);
        assert_eq!(
            t.find_delalloc_range(0, u64::MAX),
            (true, 0, 19),
            "BOUNDARY not first"
        );
        assert_eq!(
            t.find_delalloc_range(20, u64::MAX),
            (true, 20, 39),
            "BOUNDARY first, then gap"
        );
        assert_eq!(
            t.find_delalloc_range(35, u64::MAX),
            (true, 30, 39),
            "starts at the record start"
        );
        assert_eq!(
            t.find_delalloc_range(0, 15),
            (true, 0, 19),
            "max_bytes, last record whole"
        );
        assert_eq!(t.find_delalloc_range(0, 10), (true, 0, 9));
        assert_eq!(
            t.find_delalloc_range(50, u64::MAX),
            (true, 50, 59),
            "stops at a non-delalloc record"
        );
        assert_eq!(t.find_delalloc_range(62, u64::MAX), (false, 62, 69));
        assert_eq!(t.find_delalloc_range(70, u64::MAX), (false, 70, u64::MAX));
        assert_eq!(
            t.find_delalloc_range(40, u64::MAX),
            (true, 50, 59),
            "from the next record"
        );
    }

    #[test]
    fn records_in_and_top_of_the_range() {
        let mut t = ExtentIoTree::new();
        let top = u64::MAX;
        assert_eq!(set(&mut t, top - 9, top, D, NONE).0, Ok(()));
        assert_eq!(set(&mut t, top - 19, top - 10, D, NONE).0, Ok(()));
        assert_eq!(recs(&t), [r(top - 19, top, D)]);
        assert!(t.test_range_bit(top - 19, top, D, true));
        assert_eq!(
            t.find_delalloc_range(top - 5, u64::MAX),
            (true, top - 19, top)
        );
        clear(&mut t, top - 4, top, D, false);
        assert_eq!(recs(&t), [r(top - 19, top - 5, D)]);
        assert_eq!(
            t.records_in(top - 5, top).collect::<Vec<_>>(),
            [r(top - 19, top - 5, D)]
        );
        assert_eq!(t.records_in(top - 4, top).count(), 0);
    }

    // ---- cursor ----

    /// Runs `op` on a copy of `t` with and without `cursor`, asserting identical results,
    /// records and hook calls.
    fn same_with_cursor<R: PartialEq + fmt::Debug>(
        t: &ExtentIoTree,
        cursor: &mut Cursor,
        op: impl Fn(&mut ExtentIoTree, Option<&mut Cursor>, &mut Log) -> R,
    ) -> ExtentIoTree {
        let (mut a, mut b) = (t.clone(), t.clone());
        let (mut la, mut lb) = (Log::default(), Log::default());
        let ra = op(&mut a, Some(cursor), &mut la);
        let rb = op(&mut b, None, &mut lb);
        assert_eq!(ra, rb);
        assert_eq!(la.0, lb.0);
        assert_eq!(a, b);
        a
    }

    #[test]
    fn cursor_never_changes_results() {
        let mut c = Cursor::new();
        let t = tree(&[r(0, 9, D), r(20, 29, U)]);
        // Lock [5, 24]: the first locked record is cached.
        let t = same_with_cursor(&t, &mut c, |t, c, h| t.set_bits(5, 24, L, L, c, h));
        assert_eq!(c.start(), Some(5));
        // A valid cursor: the walk for 5 begins at the record [5, 9].
        let t = same_with_cursor(&t, &mut c, |t, c, h| t.set_bits(5, 24, D, NONE, c, h));
        assert_eq!(c.start(), Some(5));
        // The cursor does not contain the op's start: ignored.
        let t = same_with_cursor(&t, &mut c, |t, c, h| t.set_bits(12, 40, DF, NONE, c, h));
        assert_eq!(
            c.start(),
            Some(12),
            "[12, 19] is locked: the new first cacheable record"
        );
        let t = same_with_cursor(&t, &mut c, |t, c, h| {
            t.clear_bits(0, 40, DF, false, false, c, h)
        });
        let t = same_with_cursor(&t, &mut c, |t, c, h| t.convert_bits(5, 7, U, NONE, c, h));
        // Clearing LOCKED drops it.
        let t = same_with_cursor(&t, &mut c, |t, c, h| {
            t.clear_bits(5, 24, L, true, false, c, h)
        });
        assert!(c.is_empty());
        // A stale cursor: its record is gone.
        let mut stale = Cursor {
            start: Some(5),
            ..Cursor::new()
        };
        let t = same_with_cursor(&t, &mut stale, |t, c, h| {
            t.clear_bits(0, 40, D | U, false, false, c, h)
        });
        assert_eq!(recs(&t), []);
        let mut stale = Cursor {
            start: Some(5),
            ..Cursor::new()
        };
        let _ = same_with_cursor(&t, &mut stale, |t, c, h| t.set_bits(5, 30, B, NONE, c, h));
        assert_eq!(stale.start(), Some(5));
    }

    // ---- randomized ----

    use crate::extent_map::tests::XorShift;

    /// Random bits for the tree tests, on the map tests' xorshift.
    trait RandomBits {
        fn bits(&mut self) -> Bits;
    }
    impl RandomBits for XorShift {
        fn bits(&mut self) -> Bits {
            const PALETTE: [Bits; 8] = [D, U, L, B, W, NR, DF, Bits::DIRTY];
            let mut b = PALETTE[self.below(8) as usize];
            if self.below(3) == 0 {
                b = b | PALETTE[self.below(8) as usize];
            }
            b
        }
    }

    /// Counts what an accounting layer would, from hooks alone; must match the tree after
    /// every operation if the hooks are complete and in order.
    #[derive(Default)]
    struct Counter {
        delalloc_records: i64,
        delalloc_bytes: i64,
    }
    impl StateHooks for Counter {
        fn on_set(&mut self, rec: Record, bits: Bits) {
            if !rec.bits.intersects(D) && bits.intersects(D) {
                self.delalloc_records += 1;
                self.delalloc_bytes += rec.len() as i64;
            }
        }
        fn on_clear(&mut self, rec: Record, bits: Bits) {
            if rec.bits.intersects(D) && bits.intersects(D) {
                self.delalloc_records -= 1;
                self.delalloc_bytes -= rec.len() as i64;
            }
        }
        fn on_merge(&mut self, survivor: Record, other: Record) {
            assert_eq!(survivor.bits, other.bits);
            assert!(survivor.end + 1 == other.start || other.end + 1 == survivor.start);
            if other.bits.intersects(D) {
                self.delalloc_records -= 1;
            }
        }
        fn on_split(&mut self, orig: Record, at: u64) {
            assert!(orig.start < at && at <= orig.end);
            if orig.bits.intersects(D) {
                self.delalloc_records += 1;
            }
        }
    }

    /// Both a Counter and a Log.
    #[derive(Default)]
    struct Both(Counter, Log);
    impl StateHooks for Both {
        fn on_set(&mut self, rec: Record, bits: Bits) {
            self.0.on_set(rec, bits);
            self.1.on_set(rec, bits);
        }
        fn on_clear(&mut self, rec: Record, bits: Bits) {
            self.0.on_clear(rec, bits);
            self.1.on_clear(rec, bits);
        }
        fn on_merge(&mut self, s: Record, o: Record) {
            self.0.on_merge(s, o);
            self.1.on_merge(s, o);
        }
        fn on_split(&mut self, orig: Record, at: u64) {
            self.0.on_split(orig, at);
            self.1.on_split(orig, at);
        }
    }

    const N: u64 = 64;

    /// Per-byte bits of the tree over [0, N).
    fn bytes(t: &ExtentIoTree) -> Vec<Bits> {
        let mut v = vec![NONE; N as usize];
        for rec in t.records() {
            for b in &mut v[rec.start as usize..=rec.end as usize] {
                *b = rec.bits;
            }
        }
        v
    }

    /// Many records: the map's leaves hold 63, so a tree of hundreds of records exercises
    /// splits and erases at leaf edges, leaves emptied and freed, positions that move between
    /// leaves, and cursors whose remembered position went stale while their record survived.
    #[test]
    fn random_ops_on_many_records_agree_with_a_byte_model_and_the_cursorless_twin() {
        const M: u64 = 4096;
        let mut rng = XorShift(0x5EED_1234_5678_9ABD);
        let mut t = ExtentIoTree::new();
        let mut twin = ExtentIoTree::new();
        let mut model = vec![NONE; M as usize];
        let (mut hooks, mut twin_hooks) = (Log::default(), Log::default());
        let mut cursors = [Cursor::new(); 4];
        let mut most = 0;
        let (mut cursor_fast, mut cursor_moved) = (0, 0);
        for step in 0..6000 {
            let s = rng.below(M);
            let len = if rng.below(50) == 0 {
                M
            } else {
                1 + rng.below(40)
            };
            let e = (s + len - 1).min(M - 1);
            let c = &mut cursors[rng.below(4) as usize];
            if let Some(cs) = c.start {
                if t.map.holds(c.pos, cs) {
                    cursor_fast += 1;
                } else if t.map.get(cs).is_some() {
                    cursor_moved += 1;
                }
            }
            let cur = if rng.below(3) > 0 {
                Some(&mut *c)
            } else {
                None
            };
            let ctx = format!("step {step} [{s}, {e}]");
            let range = s as usize..=e as usize;
            match rng.below(8) {
                0..=2 => {
                    let bits = rng.bits();
                    let res = t.set_bits(s, e, bits, NONE, cur, &mut hooks);
                    let res2 = twin.set_bits(s, e, bits, NONE, None, &mut twin_hooks);
                    assert_eq!((res, res2), (Ok(()), Ok(())), "{ctx}");
                    for b in &mut model[range] {
                        *b = *b | bits.stored();
                    }
                }
                3 | 4 => {
                    let bits = rng.bits();
                    let delete = rng.below(10) == 0;
                    let woke = t.clear_bits(s, e, bits, true, delete, cur, &mut hooks);
                    let woke2 = twin.clear_bits(s, e, bits, true, delete, None, &mut twin_hooks);
                    assert_eq!(woke, woke2, "{ctx}");
                    let mut mask = if delete { Bits::STORABLE } else { bits };
                    if mask.intersects(D) {
                        mask = mask | NR;
                    }
                    for b in &mut model[range] {
                        *b = b.minus(mask);
                    }
                }
                5 => {
                    let set = rng.bits().minus(L);
                    let set = if set.is_empty() { U } else { set };
                    let clr = rng.bits().minus(L);
                    t.convert_bits(s, e, set, clr, cur, &mut hooks);
                    twin.convert_bits(s, e, set, clr, None, &mut twin_hooks);
                    for b in &mut model[range] {
                        *b = if b.is_empty() {
                            set
                        } else {
                            (*b | set).minus(clr)
                        };
                    }
                }
                6 => {
                    let res = t.set_bits(s, e, L, L, cur, &mut hooks);
                    assert_eq!(
                        res,
                        twin.set_bits(s, e, L, L, None, &mut twin_hooks),
                        "{ctx}"
                    );
                    let stop = res.err().unwrap_or(e + 1);
                    for b in &mut model[s as usize..stop as usize] {
                        *b = *b | L;
                    }
                }
                _ => {
                    let woke = t.unlock(s, e, &mut hooks);
                    assert_eq!(woke, twin.unlock(s, e, &mut twin_hooks), "{ctx}");
                    for b in &mut model[range] {
                        *b = b.minus(L);
                    }
                }
            }
            assert_eq!(
                hooks.0, twin_hooks.0,
                "{ctx}: the cursor changed the hook calls"
            );
            hooks.0.clear();
            twin_hooks.0.clear();
            if step % 10 == 0 {
                t.check_invariants()
                    .unwrap_or_else(|m| panic!("{ctx}: {m}"));
                assert_eq!(t, twin, "{ctx}: the cursor changed the records");
                let mut bytes = vec![NONE; M as usize];
                for rec in t.records() {
                    for b in &mut bytes[rec.start as usize..=rec.end as usize] {
                        *b = rec.bits;
                    }
                }
                assert_eq!(bytes, model, "{ctx}");
                let q = rng.below(M);
                assert_eq!(
                    t.find_first_bit(q, D).map(|r| r.start.max(q)),
                    (q..M).find(|&p| model[p as usize].intersects(D)),
                    "{ctx}"
                );
            }
            most = most.max(t.len());
        }
        assert!(most > 400, "only {most} records at most");
        // Cursors found where they were, and cursors whose record had moved.
        assert!(
            cursor_fast > 500 && cursor_moved > 50,
            "{cursor_fast} cursors in place, {cursor_moved} moved"
        );
    }

    #[test]
    fn random_ops_keep_invariants_and_agree_with_a_byte_model() {
        let mut cursor_hits = 0;
        for seed in 1..=200u64 {
            let mut rng = XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
            let mut t = ExtentIoTree::new();
            let mut twin = ExtentIoTree::new(); // same ops, never a cursor
            let mut cursor = Cursor::new();
            let mut hooks = Both::default();
            let mut twin_hooks = Log::default();
            for step in 0..60 {
                let s = rng.below(N);
                let e = s + rng.below(N - s);
                let before = bytes(&t);
                let mut expect = before.clone();
                let use_cursor = rng.below(2) == 0;
                if use_cursor && t.cursor_rec(Some(&cursor), s).is_some() {
                    cursor_hits += 1;
                }
                let cur = if use_cursor { Some(&mut cursor) } else { None };
                let ctx = format!("seed {seed} step {step}");
                match rng.below(6) {
                    0 | 1 => {
                        let bits = rng.bits();
                        let excl = match rng.below(3) {
                            0 => L,
                            1 => NONE,
                            _ => Bits(bits.0 & rng.bits().0),
                        };
                        let bits = bits | excl;
                        // Expected failure: the first record in range with an exclusive bit.
                        let failed = t
                            .records_in(s, e)
                            .find(|r| r.bits.intersects(excl))
                            .map(|r| r.start.max(s));
                        let res = t.set_bits(s, e, bits, excl, cur, &mut hooks);
                        let res2 = twin.set_bits(s, e, bits, excl, None, &mut twin_hooks);
                        assert_eq!(res, res2, "{ctx}");
                        assert_eq!(res.err(), failed, "{ctx}");
                        let stop = failed.unwrap_or(e + 1);
                        for b in &mut expect[s as usize..stop as usize] {
                            *b = *b | bits;
                        }
                    }
                    2 => {
                        let delete = rng.below(8) == 0;
                        let bits = rng.bits();
                        let woke = t.clear_bits(s, e, bits, true, delete, cur, &mut hooks);
                        let woke2 =
                            twin.clear_bits(s, e, bits, true, delete, None, &mut twin_hooks);
                        assert_eq!(woke, woke2, "{ctx}");
                        let mut mask = if delete { Bits::STORABLE } else { bits };
                        if mask.intersects(D) {
                            mask = mask | NR;
                        }
                        let had_lock = before[s as usize..=e as usize]
                            .iter()
                            .any(|b| b.intersects(L));
                        assert_eq!(woke, had_lock && mask.intersects(L), "{ctx}");
                        for b in &mut expect[s as usize..=e as usize] {
                            *b = b.minus(mask);
                        }
                    }
                    3 => {
                        let set = rng.bits().minus(L);
                        let set = if set.is_empty() { U } else { set };
                        let clr = rng.bits().minus(L);
                        t.convert_bits(s, e, set, clr, cur, &mut hooks);
                        twin.convert_bits(s, e, set, clr, None, &mut twin_hooks);
                        // A hole gets `set` only; existing records get `set`, then lose `clr`.
                        for b in &mut expect[s as usize..=e as usize] {
                            *b = if b.is_empty() {
                                set
                            } else {
                                (*b | set).minus(clr)
                            };
                        }
                    }
                    4 => {
                        let locked = before[s as usize..=e as usize]
                            .iter()
                            .any(|b| b.intersects(L));
                        let res = t.try_lock(s, e, &mut hooks);
                        assert_eq!(res, twin.try_lock(s, e, &mut twin_hooks), "{ctx}");
                        assert_eq!(res.is_err(), locked, "{ctx}");
                        if !locked {
                            for b in &mut expect[s as usize..=e as usize] {
                                *b = *b | L;
                            }
                        }
                    }
                    _ => {
                        let woke = t.unlock(s, e, &mut hooks);
                        assert_eq!(woke, twin.unlock(s, e, &mut twin_hooks), "{ctx}");
                        for b in &mut expect[s as usize..=e as usize] {
                            *b = b.minus(L);
                        }
                    }
                }
                t.check_invariants()
                    .unwrap_or_else(|m| panic!("{ctx}: {m}"));
                assert_eq!(bytes(&t), expect, "{ctx}");
                assert_eq!(t, twin, "{ctx}: the cursor changed the records");
                assert_eq!(
                    hooks.1 .0, twin_hooks.0,
                    "{ctx}: the cursor changed the hook calls"
                );
                let d_recs: Vec<Record> = t.records().filter(|r| r.bits.intersects(D)).collect();
                assert_eq!(hooks.0.delalloc_records, d_recs.len() as i64, "{ctx}");
                assert_eq!(
                    hooks.0.delalloc_bytes,
                    d_recs.iter().map(|r| r.len() as i64).sum::<i64>(),
                    "{ctx}"
                );

                // Queries against the byte model.
                let (qs, qe) = (rng.below(N), rng.below(N));
                let (qs, qe) = (qs.min(qe), qs.max(qe));
                let q = rng.bits();
                let range = &expect[qs as usize..=qe as usize];
                assert_eq!(
                    t.test_range_bit(qs, qe, q, false),
                    range.iter().any(|b| b.intersects(q)),
                    "{ctx}"
                );
                assert_eq!(
                    t.test_range_bit(qs, qe, q, true),
                    range.iter().all(|b| b.intersects(q)),
                    "{ctx}"
                );
                let (n, _) = t.count_range_bits(qs, qe, u64::MAX, q, false);
                let want = if qe <= qs {
                    0
                } else if qs == 0 && q == Bits::DIRTY {
                    // Era B's shortcut: the tree's dirty_bytes, whatever the end.
                    expect.iter().filter(|b| b.contains(Bits::DIRTY)).count() as u64
                } else {
                    range.iter().filter(|b| b.contains(q)).count() as u64
                };
                assert_eq!(n, want, "{ctx}");
                let first = (qs..N).find(|&p| expect[p as usize].intersects(q));
                assert_eq!(
                    t.find_first_bit(qs, q).map(|r| r.start.max(qs)),
                    first,
                    "{ctx}"
                );
            }
        }
        assert!(
            cursor_hits > 100,
            "the cursor was valid only {cursor_hits} times"
        );
    }

    /// find_first_clear_bit on trees of hundreds of records (several map leaves) against the
    /// rule restated over the record list, and what it reports against the bytes: every byte of
    /// the range is clear, and the range holds the first clear byte at or after the start.
    #[test]
    fn find_first_clear_bit_agrees_with_the_rule_and_the_bytes() {
        const M: u64 = 4096;
        /// SPEC §1.1 over the sorted records, as plainly as it reads.
        fn rule(recs: &[Record], start: u64, bits: Bits) -> (u64, u64) {
            let mut cur = start;
            let mut i = recs.partition_point(|r| r.end < start);
            while i < recs.len() && recs[i].start <= cur && recs[i].bits.intersects(bits) {
                cur = recs[i].end + 1;
                i += 1;
            }
            if i == recs.len() {
                return (recs.last().map_or(0, |r| r.end + 1), u64::MAX);
            }
            let start_ret = if recs[i].start <= cur {
                recs[i].start
            } else if i == 0 {
                0
            } else {
                recs[i - 1].end + 1
            };
            let end_ret = recs[i..]
                .iter()
                .find(|r| r.bits.intersects(bits))
                .map_or(recs[recs.len() - 1].end, |r| r.start - 1);
            (start_ret, end_ret)
        }
        let mut rng = XorShift(0xC1EA_F1F0_2468_ACE1);
        let mut t = ExtentIoTree::new();
        let mut most = 0;
        for step in 0..4000 {
            let s = rng.below(M);
            let e = (s + rng.below(24)).min(M - 1);
            let bits = rng.bits();
            if rng.below(3) == 0 {
                t.clear_bits(s, e, bits, true, false, None, &mut NoHooks);
            } else {
                assert_eq!(t.set_bits(s, e, bits, NONE, None, &mut NoHooks), Ok(()));
            }
            most = most.max(t.len());
            let recs: Vec<Record> = t.records().collect();
            let mut byte_bits = vec![NONE; M as usize];
            for rec in &recs {
                byte_bits[rec.start as usize..=rec.end as usize].fill(rec.bits);
            }
            let clear = |b: u64, bits: Bits| b >= M || !byte_bits[b as usize].intersects(bits);
            for _ in 0..4 {
                let q = rng.below(M + 16);
                let bits = rng.bits();
                let (lo, hi) = t.find_first_clear_bit(q, bits);
                let ctx = format!("step {step}: from {q} for {bits}: ({lo}, {hi})");
                assert_eq!((lo, hi), rule(&recs, q, bits), "{ctx}");
                assert!(
                    (lo..=hi.min(M + 16)).all(|b| clear(b, bits)),
                    "{ctx}: not all clear"
                );
                let first = (q..).find(|&b| clear(b, bits)).unwrap();
                assert!(
                    lo <= first && first <= hi,
                    "{ctx}: misses the first clear byte {first}"
                );
                let last_end = recs.last().map(|r| r.end);
                assert!(
                    hi == u64::MAX || Some(hi) == last_end || !clear(hi + 1, bits),
                    "{ctx}: stops before a clear byte inside the records"
                );
            }
        }
        assert!(most > 200, "the trees stayed small: {most} records");
    }
}
