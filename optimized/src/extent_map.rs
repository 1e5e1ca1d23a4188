//! The ordered map under the extent io tree: an arena-backed B+ tree from a record's start
//! (`u64`) to its [`State`] (end, bits), built to stay small and cache-friendly at 10^6 records.
//!
//! Layout:
//! - A leaf holds up to 63 entries in 21 cache-line blocks of three, struct-of-arrays within
//!   each line (`keys[3]`, `ends[3]`, `bits[3]`: 60 bytes), then a header line with the entry
//!   count and the indices of the previous and next leaf: the leaves form a doubly linked list
//!   in key order, so in-order steps in either direction never go back up the tree.
//! - An inner node holds up to 128 children as `u32` arena indices and 127 separator keys.
//!   Every leaf is at the same depth, `height` inner levels below the root.
//! - Nodes live in two `Vec`s (the arenas) and are named by index; removed nodes go on free
//!   lists and are reused before the arenas grow.
//!
//! Why blocks of three rather than one array per field: a lookup in a leaf that is not in cache
//! should cost one memory latency. The leaf search reads the first key of every block — 21
//! independent loads, so the whole leaf is fetched in parallel — and the entry it finds has its
//! end and bits on the same line as its key. With separate `keys`/`ends`/`bits` arrays the end
//! and bits are on other lines that can only be fetched once the slot is known: a second
//! latency on every cold operation. Measured on the extent-tree benchmark: separate arrays were
//! 10–20% slower per operation at 10^6 records, though ~30% faster at 10^3 (everything cached,
//! fewer compares); the large trees are the ones worth the layout.
//!
//! Size: a leaf is 22 lines (1408 bytes) for 63 entries, 22.3 bytes per entry when full; inner
//! nodes add 12 bytes per child, one child per leaf, 0.2 bytes per entry: ≈ 22.5 bytes per
//! entry with full leaves, ≈ 32 at the ~70% fill random insertion gives. A full leaf that gets
//! a new entry past its end while it is the last leaf is not halved: the new entry alone starts
//! the next leaf (and likewise for inner nodes on the rightmost path), so that ascending
//! insertion — how files usually grow — leaves every node full. 10^6 entries in full nodes are
//! 15,874 leaves (21 MiB) under 125 bottom inner nodes (190 KiB, which stay cached) and a root:
//! height 2, and a lookup's only likely cache miss is its leaf.
//!
//! Separators route: in an inner node, child `i` holds the keys `k` with
//! `keys[i-1] <= k < keys[i]` (the missing bounds being those of the node itself). A separator
//! need not be a key still present, only a valid boundary. Unused key slots, in leaves and
//! inner nodes, hold `UNUSED` (`u64::MAX`), so that whole key arrays stay sorted and searches
//! need not wait for the node's length.
//!
//! Deletion is lazy: an entry is removed from its leaf, and only a leaf that becomes empty is
//! unlinked and freed (recursively, an inner node left with no children); nodes are never
//! merged with or refilled from their siblings, and a root with a single child is replaced by
//! that child. Bounds this policy gives, with n entries now: every leaf but an empty root holds
//! at least one entry, so there are at most n leaves and n inner nodes, and the memory held is
//! O(n) nodes — at worst one 1408-byte leaf per entry, for a pattern that leaves single entries
//! scattered across leaves (freed nodes stay in the arenas for reuse). The height grows only
//! when a full root splits and never exceeds what the largest size the map ever had needed, so
//! lookups cost O(log N) for N the most entries ever held, not O(log n). The extent tree's
//! workload — records split and merged in place, ranges cleared as a whole — rarely strands
//! sparse leaves.
//!
//! Positions: a [`Pos`] (leaf index, slot) names an entry without searching. Changing an
//! entry's value keeps every position valid; an insertion invalidates all others (it may shift
//! or split a leaf); a removal invalidates only those spelled out at [`ExtentMap::remove_at`].
//! [`ExtentMap::holds`] checks a remembered position in O(1).

use delalloc_contract::Bits;
use std::fmt;

/// Marks "no node" in an index field (no previous/next leaf, no root yet).
const NIL: u32 = u32::MAX;

/// What the map stores per entry; the start is the key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct State {
    pub end: u64,
    pub bits: Bits,
}

/// An entry's place in the map: its leaf's arena index and its slot in that leaf.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pos {
    leaf: u32,
    slot: u32,
}

/// Entries per [`Block`]: as many (key, end, bits) triples as fit in a cache line.
const PER_BLOCK: usize = 3;

/// One cache line of a leaf: three entries, struct-of-arrays within the line. An entry's key,
/// end and bits share a line, so finding the key brings the rest.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Block {
    keys: [u64; PER_BLOCK],
    ends: [u64; PER_BLOCK],
    bits: [Bits; PER_BLOCK],
}

const EMPTY_BLOCK: Block = Block {
    keys: [UNUSED; PER_BLOCK],
    ends: [0; PER_BLOCK],
    bits: [Bits::NONE; PER_BLOCK],
};

/// A leaf: up to `3 * B` entries, sorted by key, in `B` cache-line blocks; and the list links.
#[derive(Clone)]
#[repr(C, align(64))]
struct Leaf<const B: usize> {
    blocks: [Block; B],
    len: u32,
    prev: u32,
    next: u32,
}

impl<const B: usize> Leaf<B> {
    /// Entries a leaf holds at most.
    const CAP: usize = PER_BLOCK * B;

    fn empty() -> Self {
        Leaf {
            blocks: [EMPTY_BLOCK; B],
            len: 0,
            prev: NIL,
            next: NIL,
        }
    }

    #[inline]
    fn len(&self) -> usize {
        self.len as usize
    }

    /// The key in slot `i` (UNUSED at and past `len`).
    #[inline]
    fn key(&self, i: usize) -> u64 {
        self.blocks[i / PER_BLOCK].keys[i % PER_BLOCK]
    }

    #[inline]
    fn state(&self, i: usize) -> State {
        let b = &self.blocks[i / PER_BLOCK];
        State {
            end: b.ends[i % PER_BLOCK],
            bits: b.bits[i % PER_BLOCK],
        }
    }

    #[inline]
    fn set_end(&mut self, i: usize, end: u64) {
        self.blocks[i / PER_BLOCK].ends[i % PER_BLOCK] = end;
    }

    #[inline]
    fn set_bits(&mut self, i: usize, bits: Bits) {
        self.blocks[i / PER_BLOCK].bits[i % PER_BLOCK] = bits;
    }

    /// Slot `i` gets `key` and `val`.
    #[inline]
    fn put(&mut self, i: usize, key: u64, val: State) {
        let b = &mut self.blocks[i / PER_BLOCK];
        b.keys[i % PER_BLOCK] = key;
        b.ends[i % PER_BLOCK] = val.end;
        b.bits[i % PER_BLOCK] = val.bits;
    }

    /// Number of entries with key `<= key`. Branch-free, in two passes so that a leaf not in
    /// cache costs about one memory latency: the first key of every block (independent loads,
    /// so every line of the leaf is fetched in parallel) picks the block, then its keys (now
    /// cached) give the count. Unused slots hold UNUSED, so the keys are sorted throughout and
    /// neither pass waits for `len`, which only clamps the count (a key equal to UNUSED counts
    /// unused slots too).
    #[inline]
    fn count_le(&self, key: u64) -> usize {
        let mut block = 0;
        for b in &self.blocks[1..] {
            block += usize::from(b.keys[0] <= key);
        }
        let mut count = block * PER_BLOCK;
        for &k in &self.blocks[block].keys {
            count += usize::from(k <= key);
        }
        count.min(self.len())
    }

    /// Puts an entry at slot `idx` (at most `len`) of a leaf with room, shifting the later
    /// ones up.
    fn insert(&mut self, idx: usize, key: u64, val: State) {
        for i in (idx..self.len()).rev() {
            self.put(i + 1, self.key(i), self.state(i));
        }
        self.put(idx, key, val);
        self.len += 1;
    }

    /// Takes out the entry at slot `idx`, shifting the later ones down; returns its key.
    fn remove(&mut self, idx: usize) -> u64 {
        let n = self.len();
        let key = self.key(idx);
        for i in idx + 1..n {
            self.put(i - 1, self.key(i), self.state(i));
        }
        self.put(n - 1, UNUSED, EMPTY_STATE);
        self.len -= 1;
        key
    }

    /// Moves the entries from slot `mid` on to the empty leaf `to`.
    fn move_tail(&mut self, mid: usize, to: &mut Self) {
        let n = self.len();
        for i in mid..n {
            to.put(i - mid, self.key(i), self.state(i));
            self.put(i, UNUSED, EMPTY_STATE);
        }
        to.len = (n - mid) as u32;
        self.len = mid as u32;
    }

    /// Whether every slot from `len` on holds UNUSED.
    fn tail_unused(&self) -> bool {
        (self.len()..Self::CAP).all(|i| self.key(i) == UNUSED)
    }
}

/// What an unused slot holds besides its UNUSED key.
const EMPTY_STATE: State = State {
    end: 0,
    bits: Bits::NONE,
};

/// An inner node: `len` children (arena indices) and `len - 1` separators (`keys[..len-1]`;
/// the last key slot is never used).
#[derive(Clone)]
struct Inner<const I: usize> {
    keys: [u64; I],
    children: [u32; I],
    len: u32,
}

impl<const I: usize> Inner<I> {
    fn empty() -> Self {
        Inner {
            keys: [UNUSED; I],
            children: [NIL; I],
            len: 0,
        }
    }
}

/// The path of a descent: per inner level, top first, the node and the child taken.
type Path = Vec<(u32, usize)>;

/// What an unused key slot holds, in leaves and inner nodes alike, so that a node's whole key
/// array is sorted and can be searched without reading its length first.
const UNUSED: u64 = u64::MAX;

/// Keys per 64-byte cache line.
const LINE: usize = 8;

/// Number of the first `len` separators of an inner node (`keys`, sorted, unused slots holding
/// [`UNUSED`]) that are `<= key`: the child to descend into.
///
/// Branch-free, in three narrowing passes — the first key of each group of four lines picks
/// the group, the first key of each line in it picks the line, then that line's keys give the
/// count — so 14 compares for 128 keys instead of a 7-step binary search's chain of
/// mispredicted branches. Inner nodes are few and stay cached, so their search is compute, not
/// memory. No pass waits for `len`, which only clamps the count (a key equal to UNUSED counts
/// unused slots too).
#[inline(always)]
fn count_le<const N: usize>(keys: &[u64; N], len: usize, key: u64) -> usize {
    const GROUP: usize = 4 * LINE;
    let mut group = 0;
    let mut i = GROUP;
    while i < N {
        group += usize::from(keys[i] <= key);
        i += GROUP;
    }
    let mut line = group * GROUP;
    let lines_end = (line + GROUP).min(N);
    let mut j = line + LINE;
    while j < lines_end {
        line += LINE * usize::from(keys[j] <= key);
        j += LINE;
    }
    let mut count = line;
    for &k in &keys[line..(line + LINE).min(N)] {
        count += usize::from(k <= key);
    }
    count.min(len)
}

/// The ordered map. Leaves hold `3 * B` entries (`B` cache-line blocks) and inner nodes `I`
/// children; the defaults are the production sizes, the tests also build tiny nodes to get
/// deep trees.
#[derive(Clone)]
pub struct ExtentMap<const B: usize = 21, const I: usize = 128> {
    leaves: Vec<Leaf<B>>,
    inners: Vec<Inner<I>>,
    free_leaves: Vec<u32>,
    free_inners: Vec<u32>,
    /// The root: a leaf if `height` is 0, else an inner node. NIL until the first insertion.
    root: u32,
    /// Inner levels above the leaves.
    height: u32,
    /// The first leaf in key order (NIL iff root is).
    head: u32,
    len: usize,
}

impl<const B: usize, const I: usize> Default for ExtentMap<B, I> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const B: usize, const I: usize> ExtentMap<B, I> {
    /// An empty map. Allocates nothing until the first insertion.
    pub fn new() -> Self {
        assert!(B >= 1 && I >= 3, "node capacities too small");
        ExtentMap {
            leaves: Vec::new(),
            inners: Vec::new(),
            free_leaves: Vec::new(),
            free_inners: Vec::new(),
            root: NIL,
            height: 0,
            head: NIL,
            len: 0,
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    // ---- reading by position ----

    /// The key at `p`, which must be valid.
    #[inline]
    pub fn key(&self, p: Pos) -> u64 {
        self.leaves[p.leaf as usize].key(p.slot as usize)
    }

    /// The entry at `p`, which must be valid.
    #[inline]
    pub fn entry(&self, p: Pos) -> (u64, State) {
        let leaf = &self.leaves[p.leaf as usize];
        let s = p.slot as usize;
        (leaf.key(s), leaf.state(s))
    }

    /// Sets the end of the entry at `p`, which must be valid. Positions stay valid.
    #[inline]
    pub fn set_end(&mut self, p: Pos, end: u64) {
        self.leaves[p.leaf as usize].set_end(p.slot as usize, end);
    }

    /// Sets the bits of the entry at `p`, which must be valid. Positions stay valid.
    #[inline]
    pub fn set_bits(&mut self, p: Pos, bits: Bits) {
        self.leaves[p.leaf as usize].set_bits(p.slot as usize, bits);
    }

    /// Whether `p` — any value, e.g. remembered across changes or from another map — names a
    /// live entry with key `key`. O(1). Since keys are unique, true means `p` is that key's
    /// position now. A freed leaf has no entries, so a position into it never holds.
    #[inline]
    pub fn holds(&self, p: Pos, key: u64) -> bool {
        self.leaves
            .get(p.leaf as usize)
            .is_some_and(|leaf| p.slot < leaf.len && leaf.key(p.slot as usize) == key)
    }

    // ---- in-order steps ----

    /// The first entry, if any. O(1).
    pub fn first(&self) -> Option<Pos> {
        (self.len > 0).then_some(Pos {
            leaf: self.head,
            slot: 0,
        })
    }

    /// The entry after `p` (valid) in key order, if any. O(1): the next slot, or the next
    /// leaf's first (leaves in the list are never empty).
    #[inline]
    pub fn next(&self, p: Pos) -> Option<Pos> {
        let leaf = &self.leaves[p.leaf as usize];
        if p.slot + 1 < leaf.len {
            Some(Pos {
                leaf: p.leaf,
                slot: p.slot + 1,
            })
        } else if leaf.next != NIL {
            Some(Pos {
                leaf: leaf.next,
                slot: 0,
            })
        } else {
            None
        }
    }

    /// The entry before `p` (valid) in key order, if any. O(1).
    #[inline]
    pub fn prev(&self, p: Pos) -> Option<Pos> {
        if p.slot > 0 {
            Some(Pos {
                leaf: p.leaf,
                slot: p.slot - 1,
            })
        } else {
            let prev = self.leaves[p.leaf as usize].prev;
            (prev != NIL).then(|| Pos {
                leaf: prev,
                slot: self.leaves[prev as usize].len - 1,
            })
        }
    }

    /// Entries in key order from `from` (None: nothing).
    pub fn iter_from(&self, from: Option<Pos>) -> Iter<'_, B, I> {
        Iter {
            map: self,
            pos: from,
            left: self.len,
            exact: false,
        }
    }

    /// All entries in key order.
    pub fn iter(&self) -> Iter<'_, B, I> {
        Iter {
            exact: true,
            ..self.iter_from(self.first())
        }
    }

    /// Appends `f(key, value)` for every entry, in key order, to `out`, a leaf at a time: a
    /// whole-map copy (the oracle's snapshot after every op) without the per-entry position
    /// steps and capacity checks of collecting [`Self::iter`].
    pub fn extend_into<T>(&self, out: &mut Vec<T>, f: impl Fn(u64, State) -> T) {
        out.reserve(self.len);
        let mut leaf = if self.len > 0 { self.head } else { NIL };
        while leaf != NIL {
            let l = &self.leaves[leaf as usize];
            out.extend((0..l.len()).map(|i| f(l.key(i), l.state(i))));
            leaf = l.next;
        }
    }

    // ---- searching ----

    /// The leaf `key` routes to: one descent, `height` inner nodes. The root must exist.
    #[inline]
    fn find_leaf(&self, key: u64) -> u32 {
        let mut node = self.root;
        for _ in 0..self.height {
            let inner = &self.inners[node as usize];
            let n = inner.len as usize;
            node = inner.children[count_le(&inner.keys, n - 1, key)];
        }
        node
    }

    /// `find_leaf`, recording the path in `path` (cleared first).
    fn find_leaf_with_path(&self, key: u64, path: &mut Path) -> u32 {
        path.clear();
        let mut node = self.root;
        for _ in 0..self.height {
            let inner = &self.inners[node as usize];
            let n = inner.len as usize;
            let i = count_le(&inner.keys, n - 1, key);
            path.push((node, i));
            node = inner.children[i];
        }
        node
    }

    /// The last entry with key `<= key`, if any: one descent. Its leaf is the one `key` routes
    /// to, or — when every key there is greater — the last entry of the previous leaf.
    #[inline]
    pub fn last_le(&self, key: u64) -> Option<Pos> {
        if self.len == 0 {
            return None;
        }
        let leaf = self.find_leaf(key);
        let l = &self.leaves[leaf as usize];
        let n = l.count_le(key);
        if n > 0 {
            Some(Pos {
                leaf,
                slot: n as u32 - 1,
            })
        } else {
            self.prev(Pos { leaf, slot: 0 })
        }
    }

    /// The entry with key `key`, if any: one descent.
    pub fn get(&self, key: u64) -> Option<Pos> {
        self.last_le(key).filter(|&p| self.key(p) == key)
    }

    // ---- insertion ----

    /// Inserts `key` with `val`, or overwrites the value if `key` is present (like
    /// `BTreeMap::insert`). Returns the entry's position. One descent, plus, when the leaf is
    /// full, a second one recording the path and a split per full level (see
    /// [`Self::split_leaf`]). Invalidates every other position.
    pub fn insert(&mut self, key: u64, val: State) -> Pos {
        if self.root == NIL {
            let leaf = self.alloc_leaf();
            self.root = leaf;
            self.head = leaf;
        }
        let leaf = self.find_leaf(key);
        let l = &mut self.leaves[leaf as usize];
        let idx = l.count_le(key);
        if idx > 0 && l.key(idx - 1) == key {
            l.set_end(idx - 1, val.end);
            l.set_bits(idx - 1, val.bits);
            return Pos {
                leaf,
                slot: idx as u32 - 1,
            };
        }
        let pos = if l.len() < Leaf::<B>::CAP {
            l.insert(idx, key, val);
            Pos {
                leaf,
                slot: idx as u32,
            }
        } else {
            let mut path = Path::new();
            self.find_leaf_with_path(key, &mut path);
            self.split_leaf(leaf, idx, key, val, &mut path)
        };
        self.len += 1;
        pos
    }

    /// Inserts `key`, which must lie strictly between the key at `p` (valid) and the next key,
    /// right after `p`. O(1) plus a shift when the slot after `p` is inside a leaf with room;
    /// otherwise (the leaf is full, or `p` is its last entry and only a descent knows which
    /// leaf `key` routes to) it is [`Self::insert`]. Returns the new entry's position;
    /// invalidates every other position.
    pub fn insert_after(&mut self, p: Pos, key: u64, val: State) -> Pos {
        self.insert_inside(p.leaf, p.slot as usize + 1, key, val)
    }

    /// Inserts `key`, which must lie strictly between the key before `p` (valid) and the key at
    /// `p`, right before `p`. Same costs and contract as [`Self::insert_after`].
    pub fn insert_before(&mut self, p: Pos, key: u64, val: State) -> Pos {
        self.insert_inside(p.leaf, p.slot as usize, key, val)
    }

    /// Inserts `key` at slot `idx` of `leaf` if that is strictly between two of its entries
    /// (so the leaf's range certainly holds `key`) and the leaf has room; else by descent.
    fn insert_inside(&mut self, leaf: u32, idx: usize, key: u64, val: State) -> Pos {
        let l = &mut self.leaves[leaf as usize];
        let n = l.len();
        if idx > 0 && idx < n && n < Leaf::<B>::CAP {
            debug_assert!(
                l.key(idx - 1) < key && key < l.key(idx),
                "insert out of order"
            );
            l.insert(idx, key, val);
            self.len += 1;
            Pos {
                leaf,
                slot: idx as u32,
            }
        } else {
            self.insert(key, val)
        }
    }

    /// split_leaf: `leaf` is full and the new entry belongs at slot `idx`. Moves the upper half
    /// to a new leaf linked after it (or, when appending past the end of the last leaf, moves
    /// nothing: the new entry alone starts the new leaf), puts the entry in its half, and hands
    /// the new leaf's first key as separator to the parent. `path` is the descent to `leaf`.
    /// Returns the entry's position.
    fn split_leaf(&mut self, leaf: u32, idx: usize, key: u64, val: State, path: &mut Path) -> Pos {
        let cap = Leaf::<B>::CAP;
        let append = idx == cap && self.leaves[leaf as usize].next == NIL;
        let mid = if append { cap } else { cap / 2 };
        let right = self.alloc_leaf();
        let (l, r) = self.two_leaves(leaf, right);
        l.move_tail(mid, r);
        r.prev = leaf;
        r.next = l.next;
        l.next = right;
        let after = r.next;
        let pos = if idx < mid {
            l.insert(idx, key, val);
            Pos {
                leaf,
                slot: idx as u32,
            }
        } else {
            r.insert(idx - mid, key, val);
            Pos {
                leaf: right,
                slot: (idx - mid) as u32,
            }
        };
        let sep = r.key(0);
        if after != NIL {
            self.leaves[after as usize].prev = right;
        }
        self.insert_into_parent(path, sep, right, after == NIL);
        pos
    }

    /// insert_into_parent: the node at the end of `path` (the root if `path` is empty) was
    /// split; `right` is its new right sibling, whose keys are all `>= sep`, and `rightmost`
    /// says whether `right` is the last node of its level. Adds `right` after the split node in
    /// the parent, splitting the parent in turn when full (unevenly when appending on the
    /// rightmost path, as for leaves), or grows a new root.
    fn insert_into_parent(&mut self, path: &mut Path, sep: u64, right: u32, rightmost: bool) {
        let Some((parent, ci)) = path.pop() else {
            // The root split: a new root above the two halves.
            let root = self.alloc_inner();
            let node = &mut self.inners[root as usize];
            node.keys[0] = sep;
            node.children[0] = self.root;
            node.children[1] = right;
            node.len = 2;
            self.root = root;
            self.height += 1;
            return;
        };
        let node = &mut self.inners[parent as usize];
        let n = node.len as usize;
        if n < I {
            // Room: separator at key slot ci, right sibling at child slot ci+1.
            node.keys.copy_within(ci..n - 1, ci + 1);
            node.children.copy_within(ci + 1..n, ci + 2);
            node.keys[ci] = sep;
            node.children[ci + 1] = right;
            node.len += 1;
            return;
        }
        // Full: lay out the I+1 children and I separators, then cut. The left part keeps `m`
        // children, the right gets the rest, and the separator between them goes up.
        let mut keys: Vec<u64> = Vec::with_capacity(I);
        keys.extend_from_slice(&node.keys[..ci]);
        keys.push(sep);
        keys.extend_from_slice(&node.keys[ci..n - 1]);
        let mut children: Vec<u32> = Vec::with_capacity(I + 1);
        children.extend_from_slice(&node.children[..=ci]);
        children.push(right);
        children.extend_from_slice(&node.children[ci + 1..n]);
        let append = rightmost && ci + 1 == n;
        let m = if append { I } else { I.div_ceil(2) };
        node.keys[..m - 1].copy_from_slice(&keys[..m - 1]);
        node.keys[m - 1..].fill(UNUSED);
        node.children[..m].copy_from_slice(&children[..m]);
        node.len = m as u32;
        let up = keys[m - 1];
        let new = self.alloc_inner();
        let node = &mut self.inners[new as usize];
        let rn = I + 1 - m;
        node.keys[..rn - 1].copy_from_slice(&keys[m..]);
        node.children[..rn].copy_from_slice(&children[m..]);
        node.len = rn as u32;
        self.insert_into_parent(path, up, new, rightmost && ci + 1 == n);
    }

    // ---- removal ----

    /// Removes the entry at `p` (valid). Afterwards the positions of the later entries of the
    /// same leaf are one slot lower and `p`'s leaf may be gone; every other position stays
    /// valid (nodes are never merged or refilled). O(1) plus a shift, or one descent when the
    /// leaf becomes empty (see [`Self::remove_leaf`]).
    pub fn remove_at(&mut self, p: Pos) {
        let l = &mut self.leaves[p.leaf as usize];
        let key = l.remove(p.slot as usize);
        self.len -= 1;
        if l.len == 0 && self.height > 0 {
            self.remove_leaf(p.leaf, key);
        }
    }

    /// Removes the key at `key`, if present; returns its value.
    pub fn remove(&mut self, key: u64) -> Option<State> {
        let p = self.get(key)?;
        let (_, st) = self.entry(p);
        self.remove_at(p);
        Some(st)
    }

    /// remove_leaf: `leaf` (not the root) just became empty; `key` routed to it. Unlinks and
    /// frees it, removes it from its parent together with one adjacent separator (the sibling
    /// on that side takes over its key range), frees ancestors left without children, and
    /// replaces a root left with one child by that child.
    fn remove_leaf(&mut self, leaf: u32, key: u64) {
        let mut path = Path::new();
        let found = self.find_leaf_with_path(key, &mut path);
        debug_assert_eq!(found, leaf, "a removed key routes to its leaf");
        let (prev, next) = {
            let l = &self.leaves[leaf as usize];
            (l.prev, l.next)
        };
        if prev != NIL {
            self.leaves[prev as usize].next = next;
        } else {
            self.head = next;
        }
        if next != NIL {
            self.leaves[next as usize].prev = prev;
        }
        self.free_leaves.push(leaf);
        while let Some((parent, ci)) = path.pop() {
            let node = &mut self.inners[parent as usize];
            let n = node.len as usize;
            if n > 1 {
                // Child ci goes; so does the separator on its left (the left sibling's range
                // grows), or for the first child the one on its right (the right sibling's).
                let k = ci.saturating_sub(1);
                node.keys.copy_within(k + 1..n - 1, k);
                node.keys[n - 2] = UNUSED;
                node.children.copy_within(ci + 1..n, ci);
            }
            node.len -= 1;
            if node.len > 0 {
                break;
            }
            self.free_inners.push(parent);
        }
        while self.height > 0 && self.inners[self.root as usize].len == 1 {
            let old = self.root;
            self.root = self.inners[old as usize].children[0];
            self.inners[old as usize].len = 0;
            self.free_inners.push(old);
            self.height -= 1;
        }
    }

    // ---- arena ----

    /// A fresh empty leaf: reused from the free list, or pushed onto the arena.
    fn alloc_leaf(&mut self) -> u32 {
        if let Some(i) = self.free_leaves.pop() {
            let l = &mut self.leaves[i as usize];
            debug_assert!(l.len == 0 && l.tail_unused());
            l.prev = NIL;
            l.next = NIL;
            i
        } else {
            let i = u32::try_from(self.leaves.len()).expect("extent map: too many leaves");
            assert!(i != NIL, "extent map: too many leaves");
            self.leaves.push(Leaf::empty());
            i
        }
    }

    /// A fresh empty inner node: reused from the free list, or pushed onto the arena.
    fn alloc_inner(&mut self) -> u32 {
        if let Some(i) = self.free_inners.pop() {
            let node = &mut self.inners[i as usize];
            node.len = 0;
            node.keys.fill(UNUSED);
            i
        } else {
            let i = u32::try_from(self.inners.len()).expect("extent map: too many inner nodes");
            self.inners.push(Inner::empty());
            i
        }
    }

    /// Two distinct leaves, mutably.
    fn two_leaves(&mut self, a: u32, b: u32) -> (&mut Leaf<B>, &mut Leaf<B>) {
        let (a, b) = (a as usize, b as usize);
        assert!(a != b);
        if a < b {
            let (lo, hi) = self.leaves.split_at_mut(b);
            (&mut lo[a], &mut hi[0])
        } else {
            let (lo, hi) = self.leaves.split_at_mut(a);
            (&mut hi[0], &mut lo[b])
        }
    }

    // ---- checking ----

    /// The structural invariants, for tests: keys sorted within leaves and within each node's
    /// separator bounds, all leaves at one depth, the leaf list in key order and covering every
    /// leaf of the tree, no empty leaf but an empty root, a root with 2+ children, `len` right.
    pub fn check(&self) -> Result<(), String> {
        if self.root == NIL {
            return if self.len == 0 && self.head == NIL {
                Ok(())
            } else {
                Err("no root but entries".into())
            };
        }
        let mut leaves_in_order = Vec::new();
        self.check_node(self.root, self.height, None, None, &mut leaves_in_order)?;
        if self.height > 0 && self.inners[self.root as usize].len < 2 {
            return Err("inner root with fewer than 2 children".into());
        }
        // The list, from head, is the leaves in tree order, with matching back links.
        let mut listed = Vec::new();
        let mut prev = NIL;
        let mut cur = self.head;
        while cur != NIL {
            if self.leaves[cur as usize].prev != prev {
                return Err(format!("leaf {cur}: bad prev link"));
            }
            listed.push(cur);
            prev = cur;
            cur = self.leaves[cur as usize].next;
            if listed.len() > self.leaves.len() {
                return Err("leaf list cycles".into());
            }
        }
        if listed != leaves_in_order {
            return Err("leaf list differs from the tree's leaves".into());
        }
        let total: usize = listed
            .iter()
            .map(|&l| self.leaves[l as usize].len as usize)
            .sum();
        if total != self.len {
            return Err(format!("len {} but {total} entries", self.len));
        }
        let keys: Vec<u64> = self.iter().map(|(k, _)| k).collect();
        if keys.windows(2).any(|w| w[0] >= w[1]) {
            return Err("keys not strictly increasing".into());
        }
        Ok(())
    }

    /// Checks the subtree at `node` (`level` inner levels above its leaves), whose keys must
    /// lie in [lo, hi); appends its leaves in order.
    fn check_node(
        &self,
        node: u32,
        level: u32,
        lo: Option<u64>,
        hi: Option<u64>,
        out: &mut Vec<u32>,
    ) -> Result<(), String> {
        let in_range = |k: u64| lo.is_none_or(|lo| k >= lo) && hi.is_none_or(|hi| k < hi);
        if level == 0 {
            let l = &self.leaves[node as usize];
            if l.len == 0 && node != self.root {
                return Err(format!("empty leaf {node}"));
            }
            let keys: Vec<u64> = (0..l.len()).map(|i| l.key(i)).collect();
            if !l.tail_unused() {
                return Err(format!("leaf {node}: an unused slot is not UNUSED"));
            }
            if let Some(&k) = keys.iter().find(|&&k| !in_range(k)) {
                return Err(format!("leaf {node}: key {k} outside [{lo:?}, {hi:?})"));
            }
            out.push(node);
            return Ok(());
        }
        let inner = &self.inners[node as usize];
        let n = inner.len as usize;
        if n == 0 {
            return Err(format!("inner node {node} has no children"));
        }
        let seps = &inner.keys[..n - 1];
        if inner.keys[n - 1..].iter().any(|&k| k != UNUSED) {
            return Err(format!("inner node {node}: an unused slot is not UNUSED"));
        }
        if seps.windows(2).any(|w| w[0] >= w[1]) {
            return Err(format!("inner node {node}: separators not increasing"));
        }
        if let Some(&k) = seps.iter().find(|&&k| !in_range(k)) {
            return Err(format!("inner node {node}: separator {k} out of range"));
        }
        for i in 0..n {
            let clo = if i == 0 { lo } else { Some(seps[i - 1]) };
            let chi = if i == n - 1 { hi } else { Some(seps[i]) };
            self.check_node(inner.children[i], level - 1, clo, chi, out)?;
        }
        Ok(())
    }

    /// Arena sizes, for tests and reports: (height, live leaves, live inner nodes, bytes held
    /// by the arenas).
    pub fn shape(&self) -> (u32, usize, usize, usize) {
        (
            self.height,
            self.leaves.len() - self.free_leaves.len(),
            self.inners.len() - self.free_inners.len(),
            self.leaves.capacity() * size_of::<Leaf<B>>()
                + self.inners.capacity() * size_of::<Inner<I>>(),
        )
    }
}

/// Maps are equal when they hold the same entries, however their nodes are laid out.
impl<const B: usize, const I: usize> PartialEq for ExtentMap<B, I> {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}

impl<const B: usize, const I: usize> Eq for ExtentMap<B, I> {}

/// Printed like a `BTreeMap<u64, State>`: the entries, not the nodes.
impl<const B: usize, const I: usize> fmt::Debug for ExtentMap<B, I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// In-order iterator over (key, value), following the leaf links.
pub struct Iter<'a, const B: usize, const I: usize> {
    map: &'a ExtentMap<B, I>,
    pos: Option<Pos>,
    /// Entries left at most; exactly, when `exact` (a walk of the whole map).
    left: usize,
    exact: bool,
}

impl<const B: usize, const I: usize> Iterator for Iter<'_, B, I> {
    type Item = (u64, State);

    #[inline]
    fn next(&mut self) -> Option<(u64, State)> {
        let p = self.pos?;
        self.pos = self.map.next(p);
        self.left = self.left.saturating_sub(1);
        Some(self.map.entry(p))
    }

    /// Exact for a walk of the whole map, so that collecting it allocates once.
    fn size_hint(&self) -> (usize, Option<usize>) {
        match self.pos {
            None => (0, Some(0)),
            Some(_) if self.exact => (self.left, Some(self.left)),
            Some(_) => (1, Some(self.left)),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// A seeded xorshift64 for the randomized tests of this crate (deterministic, no dependency).
    pub(crate) struct XorShift(pub(crate) u64);
    impl XorShift {
        pub(crate) fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }
        pub(crate) fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    fn val(k: u64, salt: u64) -> State {
        State {
            end: k.wrapping_add(salt),
            bits: Bits((k ^ salt) as u32),
        }
    }

    /// Compares `m` with `model` entirely, and its structure.
    fn same<const B: usize, const I: usize>(m: &ExtentMap<B, I>, model: &BTreeMap<u64, State>) {
        m.check().unwrap();
        assert_eq!(m.len(), model.len());
        assert!(m.iter().eq(model.iter().map(|(&k, &v)| (k, v))));
        assert_eq!(m.iter().size_hint(), (m.len(), Some(m.len())));
        assert_eq!(m.iter().skip(1).count(), m.len().saturating_sub(1));
        // Backwards, through prev.
        let mut back = Vec::new();
        let mut p = m.first();
        while let Some(n) = p.and_then(|q| m.next(q)) {
            p = Some(n);
        }
        while let Some(q) = p {
            back.push(m.entry(q));
            p = m.prev(q);
        }
        assert!(back
            .into_iter()
            .eq(model.iter().rev().map(|(&k, &v)| (k, v))));
    }

    /// Queries at `k` answered the same as the model: last_le, get, next/prev around it.
    fn same_at<const B: usize, const I: usize>(
        m: &ExtentMap<B, I>,
        model: &BTreeMap<u64, State>,
        k: u64,
    ) {
        let le = m.last_le(k);
        let want = model.range(..=k).next_back().map(|(&k, &v)| (k, v));
        assert_eq!(le.map(|p| m.entry(p)), want, "last_le({k})");
        let after = match le {
            Some(p) => m.next(p),
            None => m.first(),
        };
        let want_gt = model
            .range((std::ops::Bound::Excluded(k), std::ops::Bound::Unbounded))
            .next()
            .map(|(&k, &v)| (k, v));
        assert_eq!(after.map(|p| m.entry(p)), want_gt, "first > {k}");
        if let Some(p) = le {
            let want_prev = model.range(..m.key(p)).next_back().map(|(&k, &v)| (k, v));
            assert_eq!(m.prev(p).map(|q| m.entry(q)), want_prev, "prev of {k}");
            assert!(m.holds(p, m.key(p)));
        }
        assert_eq!(m.get(k).map(|p| m.entry(p)), model.get(&k).map(|&v| (k, v)));
        // A range walk from k.
        let walked: Vec<_> = m.iter_from(le.or(m.first())).take(5).collect();
        let from = le.map_or(0, |p| m.key(p));
        let want: Vec<_> = model.range(from..).take(5).map(|(&k, &v)| (k, v)).collect();
        assert_eq!(walked, want, "walk from {k}");
    }

    /// Random inserts, positional inserts, removals (by key and by position), overwrites and
    /// queries against a BTreeMap, growing to `peak` entries (at most half the key space),
    /// shrinking to a quarter of it, growing back to `peak`, then removing everything.
    /// Returns the greatest height the map reached.
    fn random_against_btreemap<const B: usize, const I: usize>(
        seed: u64,
        peak: usize,
        key_space: u64,
    ) -> u32 {
        let mut rng = XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut m: ExtentMap<B, I> = ExtentMap::new();
        let mut model = BTreeMap::new();
        let check_every = (peak / 20).max(1);
        let mut ops = 0usize;
        let mut max_height = 0;
        for phase in 0..3 {
            let growing = phase != 1;
            loop {
                ops += 1;
                let k = rng.below(key_space);
                let r = rng.below(10);
                // Removals by key mostly miss in a large key space; those by position hit.
                let insert = if growing { r < 8 } else { r < 2 };
                if insert {
                    let v = val(k, rng.next());
                    // Sometimes positionally, next to a neighbour, when k is absent.
                    let le = m.last_le(k);
                    let p = match (le, rng.below(3)) {
                        (Some(p), 0) if m.key(p) != k => m.insert_after(p, k, v),
                        (Some(p), 1) if m.key(p) != k && m.next(p).is_some() => {
                            let n = m.next(p).unwrap();
                            m.insert_before(n, k, v)
                        }
                        _ => m.insert(k, v),
                    };
                    assert_eq!(m.entry(p), (k, v));
                    model.insert(k, v);
                } else if rng.below(2) == 0 {
                    assert_eq!(m.remove(k), model.remove(&k));
                } else if let Some(p) = m.last_le(k) {
                    // By position; the neighbours' positions survive as documented.
                    let key = m.key(p);
                    let before = m.prev(p).map(|q| (q, m.key(q)));
                    m.remove_at(p);
                    model.remove(&key);
                    if let Some((q, qk)) = before {
                        assert!(m.holds(q, qk), "the predecessor's position survives");
                    }
                } else {
                    assert_eq!(m.remove(k), model.remove(&k));
                }
                if ops.is_multiple_of(7) {
                    // Changing a value in place.
                    if let Some(q) = m.last_le(rng.below(key_space)) {
                        let (k, mut st) = m.entry(q);
                        st.end ^= 1;
                        m.set_end(q, st.end);
                        st.bits = Bits(st.bits.0 ^ 2);
                        m.set_bits(q, st.bits);
                        model.insert(k, st);
                    }
                }
                same_at(&m, &model, rng.below(key_space));
                if ops.is_multiple_of(check_every) {
                    same(&m, &model);
                    max_height = max_height.max(m.shape().0);
                }
                if growing && model.len() >= peak {
                    break;
                }
                if !growing && model.len() < peak / 4 {
                    break;
                }
            }
            same(&m, &model);
        }
        // Down to empty, in random order, then grow a little again from the empty root.
        let mut keys: Vec<u64> = model.keys().copied().collect();
        for i in (1..keys.len()).rev() {
            keys.swap(i, rng.below(i as u64 + 1) as usize);
        }
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(m.remove(*k), model.remove(k));
            if i % check_every == 0 {
                same(&m, &model);
            }
        }
        same(&m, &model);
        assert!(m.is_empty());
        assert_eq!(m.shape().0, 0, "an empty map is a root leaf");
        for k in 0..(3 * Leaf::<B>::CAP as u64) {
            m.insert(k * 3, val(k, 1));
            model.insert(k * 3, val(k, 1));
        }
        same(&m, &model);
        max_height
    }

    #[test]
    fn tiny_nodes_small_key_space() {
        for seed in 1..=40 {
            assert!(random_against_btreemap::<1, 3>(seed, 200, 400) >= 4);
            assert!(random_against_btreemap::<2, 4>(seed, 500, 2_000) >= 3);
        }
    }

    #[test]
    fn tiny_nodes_deep_trees() {
        for seed in 1..=4 {
            assert!(random_against_btreemap::<1, 3>(seed, 5_000, u64::MAX) >= 8);
            assert!(random_against_btreemap::<2, 5>(seed, 10_000, 1 << 20) >= 5);
        }
    }

    #[test]
    fn production_nodes_multi_level() {
        // 63/128 nodes, random order: ~44 entries per leaf, so 60k entries are ~1.4k leaves
        // under ~15 inner nodes and a root: height 2, with splits and removals at both levels.
        assert_eq!(random_against_btreemap::<21, 128>(7, 60_000, 1 << 40), 2);
        assert_eq!(random_against_btreemap::<21, 128>(8, 15_000, 30_000), 2);
    }

    #[test]
    fn ascending_insertion_fills_every_node() {
        let mut m: ExtentMap = ExtentMap::new();
        let n = 1_000_000u64;
        for k in 0..n {
            m.insert(k * 8192, val(k, 0));
        }
        m.check().unwrap();
        let (height, leaves, inners, _) = m.shape();
        assert_eq!(height, 2);
        assert_eq!(leaves, (n as usize).div_ceil(63));
        assert_eq!(inners, 1 + leaves.div_ceil(128));
        // Leaves full: ~21 bytes per entry in leaves, < 22 with the inner nodes.
        let bytes = leaves * size_of::<Leaf<21>>() + inners * size_of::<Inner<128>>();
        assert!(bytes as f64 / (n as f64) < 23.0, "{bytes} bytes");
        // Descending removal down to empty, positionally from the end.
        let mut p = m.first();
        while let Some(q) = p.and_then(|q| m.next(q)) {
            p = Some(q);
        }
        let mut left = n;
        while let Some(q) = p {
            let before = m.prev(q);
            m.remove_at(q);
            left -= 1;
            p = before;
            if left.is_multiple_of(100_000) {
                m.check().unwrap();
                assert_eq!(m.len() as u64, left);
            }
        }
        assert!(m.is_empty());
        m.check().unwrap();
    }

    /// `count_le` against a plain count, for node sizes around the group and line sizes, every
    /// fill, and keys at, between and beyond the stored ones (UNUSED included).
    fn count_le_matches_a_plain_count<const N: usize>() {
        let mut rng = XorShift(N as u64 + 1);
        for len in 0..=N {
            let mut keys = [UNUSED; N];
            let mut k = rng.below(4);
            for slot in keys.iter_mut().take(len) {
                *slot = k;
                k += 1 + rng.below(3);
            }
            if len > 0 && rng.below(4) == 0 {
                keys[len - 1] = UNUSED; // a key equal to the sentinel
            }
            for probe in (0..k + 2).chain([UNUSED - 1, UNUSED]) {
                let want = keys[..len].iter().filter(|&&x| x <= probe).count();
                assert_eq!(
                    count_le(&keys, len, probe),
                    want,
                    "N={N} len={len} key={probe}"
                );
            }
        }
    }

    #[test]
    fn inner_search_counts_right() {
        count_le_matches_a_plain_count::<1>();
        count_le_matches_a_plain_count::<3>();
        count_le_matches_a_plain_count::<8>();
        count_le_matches_a_plain_count::<9>();
        count_le_matches_a_plain_count::<31>();
        count_le_matches_a_plain_count::<32>();
        count_le_matches_a_plain_count::<33>();
        count_le_matches_a_plain_count::<100>();
        count_le_matches_a_plain_count::<128>();
        count_le_matches_a_plain_count::<130>();
    }

    #[test]
    fn keys_at_the_top_of_the_range() {
        // u64::MAX is a key like any other, although unused slots hold it too.
        let mut m: ExtentMap<1, 3> = ExtentMap::new();
        let mut model = BTreeMap::new();
        for k in (0..40)
            .map(|i| u64::MAX - i * 3)
            .chain([u64::MAX - 1, 0, 1])
        {
            m.insert(k, val(k, 0));
            model.insert(k, val(k, 0));
            same(&m, &model);
            for probe in [0, 1, 2, u64::MAX - 2, u64::MAX - 1, u64::MAX, k] {
                same_at(&m, &model, probe);
            }
        }
        assert_eq!(m.remove(u64::MAX), model.remove(&u64::MAX));
        same(&m, &model);
        same_at(&m, &model, u64::MAX);
    }

    #[test]
    fn holds_rejects_stale_positions() {
        let mut m: ExtentMap<1, 4> = ExtentMap::new();
        let p = m.insert(10, val(10, 0));
        assert!(m.holds(p, 10));
        assert!(!m.holds(p, 11));
        m.insert(5, val(5, 0));
        assert!(!m.holds(p, 10), "shifted by an insertion before it");
        let p = m.get(10).unwrap();
        m.remove(10);
        assert!(!m.holds(p, 10));
        assert!(!m.holds(
            Pos {
                leaf: 1000,
                slot: 0
            },
            5
        ));
        // A position into a freed leaf.
        for k in 0..40 {
            m.insert(k * 10, val(k, 0));
        }
        let p = m.get(390).unwrap();
        for k in 20..40 {
            m.remove(k * 10);
        }
        m.check().unwrap();
        assert!(!m.holds(p, 390));
    }

    #[test]
    fn equality_ignores_layout_and_debug_prints_entries() {
        let mut a: ExtentMap<1, 4> = ExtentMap::new();
        let mut b: ExtentMap<1, 4> = ExtentMap::new();
        for k in 0..50 {
            a.insert(k, val(k, 0));
        }
        for k in (0..50).rev() {
            b.insert(k, val(k, 0));
        }
        assert_eq!(a, b);
        b.insert(100, val(100, 0));
        assert_ne!(a, b);
        let mut c: ExtentMap = ExtentMap::new();
        c.insert(
            3,
            State {
                end: 4,
                bits: Bits::NONE,
            },
        );
        let mut d = BTreeMap::new();
        d.insert(
            3u64,
            State {
                end: 4,
                bits: Bits::NONE,
            },
        );
        assert_eq!(format!("{c:?}"), format!("{d:?}"));
    }
}
