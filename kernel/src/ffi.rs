//! The only module with `unsafe`: declarations of shim/glue.c's flat API and a safe owning handle
//! over one glue `struct dk_tree` (a kernel `struct extent_io_tree`, its cached_state and, for an
//! inode's tree, the shim inode the kernel's hooks account in).
//!
//! Invariants the safe API keeps, which every SAFETY comment below relies on:
//! - a [`RawTree`] owns a non-null handle made by `dk_tree_new` or `dk_tree_new_hooks` and freed
//!   only by its Drop, once (which also drops the handle's cached_state);
//! - a tree is used from one thread at a time (`RawTree` is `Send` but not `Sync`: `&mut self` on
//!   every call that changes it, and the glue's report buffer is thread-local);
//! - the kernel's slab cache is created (`dk_init`) before the first tree, once per process;
//! - every pointer passed to C points to live, writable memory of the size the C side is told.
#![allow(
    unsafe_code,
    reason = "the FFI module: every unsafe block says its invariant"
)]

use std::ffi::{c_char, c_int, CStr, CString};
use std::ptr::NonNull;
use std::sync::Once;

/// The glue's `struct dk_tree`, never looked into from Rust.
#[repr(C)]
struct DkTree {
    _opaque: [u8; 0],
}

/// The glue's `struct dk_hook_counters`, field for field.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RawHookCounters {
    pub(crate) outstanding_extents: u64,
    pub(crate) delalloc_bytes: u64,
    pub(crate) defrag_bytes: u64,
    pub(crate) new_delalloc_bytes: u64,
    pub(crate) released_meta_bytes: u64,
    pub(crate) freed_data_bytes: u64,
    pub(crate) fs_delalloc_bytes: i64,
}

/// -EEXIST, as the kernel returns it.
const EEXIST: c_int = -17;

extern "C" {
    fn dk_init() -> c_int;
    fn dk_tree_new() -> *mut DkTree;
    fn dk_tree_new_hooks(max_extent_size: u64) -> *mut DkTree;
    fn dk_tree_free(t: *mut DkTree);
    fn dk_set_bits(
        t: *mut DkTree,
        start: u64,
        end: u64,
        bits: u32,
        cached: c_int,
        failed_start: *mut u64,
    ) -> c_int;
    fn dk_clear_bits(
        t: *mut DkTree,
        start: u64,
        end: u64,
        bits: u32,
        wake: c_int,
        delete: c_int,
        cached: c_int,
    ) -> c_int;
    fn dk_set_delalloc(t: *mut DkTree, start: u64, end: u64) -> c_int;
    fn dk_lock_range(t: *mut DkTree, start: u64, end: u64, failed_start: *mut u64) -> c_int;
    fn dk_hook_counters(t: *mut DkTree, out: *mut RawHookCounters);
    fn dk_cached_state(
        t: *mut DkTree,
        start: *mut u64,
        end: *mut u64,
        in_tree: *mut c_int,
    ) -> c_int;
    fn dk_bit_value(name: *const c_char) -> u32;
    fn dk_set(t: *mut DkTree, start: u64, end: u64, bits: u32) -> c_int;
    fn dk_clear(t: *mut DkTree, start: u64, end: u64, bits: u32) -> c_int;
    fn dk_convert(t: *mut DkTree, start: u64, end: u64, bits: u32, clear: u32) -> c_int;
    fn dk_try_lock(t: *mut DkTree, start: u64, end: u64) -> c_int;
    fn dk_unlock(t: *mut DkTree, start: u64, end: u64) -> c_int;
    fn dk_test_range_bit(t: *mut DkTree, start: u64, end: u64, bits: u32, filled: c_int) -> c_int;
    fn dk_count_range_bits(
        t: *mut DkTree,
        start: *mut u64,
        search_end: u64,
        max_bytes: u64,
        bits: u32,
        contig: c_int,
    ) -> u64;
    fn dk_find_first_extent_bit(
        t: *mut DkTree,
        start: u64,
        s: *mut u64,
        e: *mut u64,
        bits: u32,
    ) -> c_int;
    fn dk_find_first_clear_extent_bit(
        t: *mut DkTree,
        start: u64,
        s: *mut u64,
        e: *mut u64,
        bits: u32,
    );
    fn dk_find_delalloc(t: *mut DkTree, start: *mut u64, end: *mut u64, max_bytes: u64) -> c_int;
    fn dk_records(
        t: *mut DkTree,
        starts: *mut u64,
        ends: *mut u64,
        bits: *mut u32,
        cap: usize,
    ) -> usize;
    fn dk_reports_take(buf: *mut c_char, cap: usize, lost: *mut u64) -> usize;
}

static INIT: Once = Once::new();

fn init() {
    INIT.call_once(|| {
        // SAFETY: dk_init only creates the extent_state slab cache (malloc); Once runs it
        // exactly once, before any tree exists, and no other thread is in the C code meanwhile.
        let ret = unsafe { dk_init() };
        assert_eq!(
            ret, 0,
            "delalloc-kernel: extent_state_init_cachep failed ({ret})"
        );
    });
}

/// The kernel's value of the bit our contract calls `name` in this tree, or 0 when the tree has
/// no such bit.
pub(crate) fn bit_value(name: &str) -> u32 {
    let name = CString::new(name).expect("bit names have no NUL");
    // SAFETY: `name` is a NUL-terminated string alive for the call; dk_bit_value only reads it.
    unsafe { dk_bit_value(name.as_ptr()) }
}

/// What a WARN_ON / ASSERT / message of the kernel code left since the last call on this
/// thread: its lines ("KIND file:line: text") and how many did not fit in the C buffer.
pub(crate) fn take_reports() -> (String, u64) {
    let mut buf = vec![0u8; 8192];
    let mut lost: u64 = 0;
    // SAFETY: buf is writable for buf.len() bytes, and dk_reports_take writes at most that many
    // including the NUL; `lost` is a live u64. The buffer is thread-local on the C side.
    let full = unsafe { dk_reports_take(buf.as_mut_ptr().cast(), buf.len(), &mut lost) };
    let text = CStr::from_bytes_until_nul(&buf)
        .expect("dk_reports_take writes a NUL")
        .to_string_lossy()
        .into_owned();
    let cut = u64::from(full >= buf.len());
    (text, lost + cut)
}

/// One kernel io tree behind a glue handle: a self-test tree (no inode, so the kernel calls no
/// delalloc hook) or an inode's tree (the kernel calls its real hooks), with the handle's
/// cached_state.
pub(crate) struct RawTree {
    tree: NonNull<DkTree>,
}

// SAFETY: the handle is plain heap memory (tree, cached state, shim inode) reached only through
// this RawTree; moving it to another thread moves sole ownership (the C code keeps no
// thread-bound state about a tree; the report buffer is per thread, not per tree).
unsafe impl Send for RawTree {}

impl RawTree {
    pub(crate) fn new() -> RawTree {
        init();
        // SAFETY: the slab cache exists (init above); dk_tree_new returns a fresh handle or NULL.
        let p = unsafe { dk_tree_new() };
        RawTree {
            tree: NonNull::new(p).expect("dk_tree_new: out of memory"),
        }
    }

    /// An inode's tree whose hooks are the kernel's, with fs_info->max_extent_size =
    /// `max_extent_size` (> 0: count_max_extents divides by it).
    pub(crate) fn with_hooks(max_extent_size: u64) -> RawTree {
        // count_max_extents divides by it through div_u64, whose divisor is a u32: a value
        // that truncates to 0 would be a division by zero (SIGFPE) in the C code.
        assert!(
            max_extent_size > 0 && u32::try_from(max_extent_size).is_ok(),
            "max_extent_size {max_extent_size} must be in 1..2^32 (the kernel's count_max_extents divides by it as a u32)"
        );
        init();
        // SAFETY: as in `new`; the handle owns the shim inode, root and fs_info it points the
        // tree at, so they live exactly as long as the tree.
        let p = unsafe { dk_tree_new_hooks(max_extent_size) };
        RawTree {
            tree: NonNull::new(p).expect("dk_tree_new_hooks: out of memory"),
        }
    }

    fn p(&mut self) -> *mut DkTree {
        self.tree.as_ptr()
    }

    pub(crate) fn set(&mut self, start: u64, end: u64, bits: u32) -> i32 {
        // SAFETY: self.tree is live and exclusively borrowed (RawTree invariants).
        unsafe { dk_set(self.p(), start, end, bits) }
    }

    pub(crate) fn clear(&mut self, start: u64, end: u64, bits: u32) -> i32 {
        // SAFETY: as in `set`.
        unsafe { dk_clear(self.p(), start, end, bits) }
    }

    /// __set_extent_bit with the handle's cached state: Ok, or Err(failed_start) on -EEXIST.
    pub(crate) fn set_bits(
        &mut self,
        start: u64,
        end: u64,
        bits: u32,
        cached: bool,
    ) -> Result<(), u64> {
        let mut failed = start;
        // SAFETY: as in `set`; `failed` is a live u64 the call may write; the handle's cached
        // state is managed by the glue (a counted reference the handle holds).
        let ret =
            unsafe { dk_set_bits(self.p(), start, end, bits, c_int::from(cached), &mut failed) };
        match ret {
            0 => Ok(()),
            EEXIST => Err(failed),
            other => panic!("__set_extent_bit returned {other}"),
        }
    }

    pub(crate) fn clear_bits(
        &mut self,
        start: u64,
        end: u64,
        bits: u32,
        wake: bool,
        delete: bool,
        cached: bool,
    ) -> i32 {
        // SAFETY: as in `set_bits`.
        unsafe {
            dk_clear_bits(
                self.p(),
                start,
                end,
                bits,
                c_int::from(wake),
                c_int::from(delete),
                c_int::from(cached),
            )
        }
    }

    pub(crate) fn set_delalloc(&mut self, start: u64, end: u64) -> i32 {
        // SAFETY: as in `set`.
        unsafe { dk_set_delalloc(self.p(), start, end) }
    }

    /// lock_extent's first attempt: Ok, or Err(failed_start) with the partial lock undone.
    pub(crate) fn lock_range(&mut self, start: u64, end: u64) -> Result<(), u64> {
        let mut failed = start;
        // SAFETY: as in `set_bits`.
        let ret = unsafe { dk_lock_range(self.p(), start, end, &mut failed) };
        match ret {
            0 => Ok(()),
            EEXIST => Err(failed),
            other => panic!("__set_extent_bit(LOCKED) returned {other}"),
        }
    }

    pub(crate) fn hook_counters(&mut self) -> RawHookCounters {
        let mut out = RawHookCounters::default();
        // SAFETY: as in `set`; `out` is a live struct of the C layout (repr(C), same fields).
        unsafe { dk_hook_counters(self.p(), &mut out) };
        out
    }

    /// The handle's cached state: (start, end, still in the tree), or None.
    pub(crate) fn cached_state(&mut self) -> Option<(u64, u64, bool)> {
        let (mut s, mut e, mut in_tree) = (0u64, 0u64, 0 as c_int);
        // SAFETY: as in `set`; s, e and in_tree are live and writable; the glue only reads the
        // cached state, which the handle's counted reference keeps alive.
        let held = unsafe { dk_cached_state(self.p(), &mut s, &mut e, &mut in_tree) };
        (held != 0).then_some((s, e, in_tree != 0))
    }

    pub(crate) fn convert(&mut self, start: u64, end: u64, bits: u32, clear: u32) -> i32 {
        // SAFETY: as in `set`.
        unsafe { dk_convert(self.p(), start, end, bits, clear) }
    }

    pub(crate) fn try_lock(&mut self, start: u64, end: u64) -> bool {
        // SAFETY: as in `set`; the glue's try-lock never sleeps.
        unsafe { dk_try_lock(self.p(), start, end) != 0 }
    }

    pub(crate) fn unlock(&mut self, start: u64, end: u64) -> i32 {
        // SAFETY: as in `set`.
        unsafe { dk_unlock(self.p(), start, end) }
    }

    pub(crate) fn test_range_bit(&mut self, start: u64, end: u64, bits: u32, filled: bool) -> bool {
        // SAFETY: as in `set` (the kernel's queries take the tree lock, hence a mutable pointer).
        unsafe { dk_test_range_bit(self.p(), start, end, bits, c_int::from(filled)) != 0 }
    }

    /// (bytes, the start the kernel wrote back).
    pub(crate) fn count_range_bits(
        &mut self,
        start: u64,
        search_end: u64,
        max: u64,
        bits: u32,
        contig: bool,
    ) -> (u64, u64) {
        let mut s = start;
        // SAFETY: as in `set`; `s` is a live u64 the call may write.
        let n = unsafe {
            dk_count_range_bits(self.p(), &mut s, search_end, max, bits, c_int::from(contig))
        };
        (n, s)
    }

    pub(crate) fn find_first_extent_bit(&mut self, start: u64, bits: u32) -> Option<(u64, u64)> {
        let (mut s, mut e) = (0u64, 0u64);
        // SAFETY: as in `set`; s and e are live u64s the call may write.
        let found = unsafe { dk_find_first_extent_bit(self.p(), start, &mut s, &mut e, bits) };
        (found != 0).then_some((s, e))
    }

    pub(crate) fn find_first_clear_extent_bit(&mut self, start: u64, bits: u32) -> (u64, u64) {
        let (mut s, mut e) = (0u64, 0u64);
        // SAFETY: as in `find_first_extent_bit`.
        unsafe { dk_find_first_clear_extent_bit(self.p(), start, &mut s, &mut e, bits) };
        (s, e)
    }

    /// (found, start, end) as btrfs_find_delalloc_range leaves them.
    pub(crate) fn find_delalloc(
        &mut self,
        start: u64,
        end: u64,
        max_bytes: u64,
    ) -> (bool, u64, u64) {
        let (mut s, mut e) = (start, end);
        // SAFETY: as in `find_first_extent_bit`.
        let found = unsafe { dk_find_delalloc(self.p(), &mut s, &mut e, max_bytes) };
        (found != 0, s, e)
    }

    /// Every record in order: (start, end, kernel bits).
    pub(crate) fn records(&mut self) -> Vec<(u64, u64, u32)> {
        let mut cap = 16;
        loop {
            let (mut s, mut e, mut b) = (vec![0u64; cap], vec![0u64; cap], vec![0u32; cap]);
            // SAFETY: as in `set`; the three vectors each hold `cap` writable elements and
            // dk_records writes at most `cap` of each.
            let n = unsafe {
                dk_records(
                    self.p(),
                    s.as_mut_ptr(),
                    e.as_mut_ptr(),
                    b.as_mut_ptr(),
                    cap,
                )
            };
            if n <= cap {
                return (0..n).map(|i| (s[i], e[i], b[i])).collect();
            }
            cap = n;
        }
    }
}

impl Drop for RawTree {
    fn drop(&mut self) {
        // SAFETY: the handle came from dk_tree_new(_hooks) and is freed here only, once (Drop);
        // dk_tree_free drops its cached state first.
        unsafe { dk_tree_free(self.tree.as_ptr()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_fill_and_drop_many_trees() {
        for i in 0..50u64 {
            let mut t = RawTree::new();
            let dirty = bit_value("DIRTY");
            for k in 0..40 {
                // Disjoint, non-adjacent records: they stay apart.
                assert_eq!(t.set(k * 10 + i, k * 10 + i + 4, dirty), 0);
            }
            assert_eq!(t.records().len(), 40, "records() grows its buffer past 16");
            // Locked records at drop: dk_tree_free unlocks them before the kernel's release.
            assert!(t.try_lock(1000, 1010));
        }
        assert_eq!(
            take_reports(),
            (String::new(), 0),
            "no WARN/ASSERT from any of it"
        );
    }

    /// Inode trees with the kernel's hooks, filled and dropped holding a cached state (a record
    /// in the tree, or one the tree has dropped): under ASan, no leak and no use after free.
    #[test]
    fn create_fill_and_drop_many_hook_trees() {
        let (delalloc, locked) = (bit_value("DELALLOC"), bit_value("LOCKED"));
        for i in 0..50u64 {
            let mut t = RawTree::with_hooks(4096 * (1 + i % 3));
            for k in 0..40 {
                assert_eq!(
                    t.set_bits(k * 5000, k * 5000 + 4999, delalloc, k % 2 == 0),
                    Ok(())
                );
            }
            assert_eq!(t.records().len(), 1, "adjacent DELALLOC records merge");
            assert_eq!(t.hook_counters().delalloc_bytes, 200_000);
            assert_eq!(t.set_bits(300_000, 300_099, locked, false), Ok(()));
            assert_eq!(t.cached_state(), Some((300_000, 300_099, true)));
            if i % 2 == 0 {
                // The tree drops the record; the handle's reference keeps it alive.
                assert_eq!(t.unlock(300_000, 300_099), 0);
                assert_eq!(t.cached_state(), Some((300_000, 300_099, false)));
            }
            let want = if i % 2 == 0 { Ok(()) } else { Err(300_050) };
            assert_eq!(t.lock_range(300_050, 300_200), want);
        }
        assert_eq!(take_reports(), (String::new(), 0));
    }

    #[test]
    fn unknown_bit_names_are_zero() {
        assert_eq!(bit_value("NO_SUCH_BIT"), 0);
        assert_ne!(bit_value("DELALLOC"), 0);
    }

    #[test]
    fn reports_are_per_thread_and_taken_once() {
        let mut t = RawTree::new();
        // count_range_bits with search_end < start: a WARN_ON in both 6.1 and 6.12, which then
        // answers 0. A test of the reporting path, not of the tree.
        assert_eq!(
            t.count_range_bits(10, 5, u64::MAX, bit_value("DIRTY"), false)
                .0,
            0
        );
        let (text, lost) = take_reports();
        assert!(
            text.starts_with("WARN_ON ") && text.contains("extent-io-tree.c:"),
            "{text}"
        );
        assert_eq!(lost, 0);
        assert_eq!(take_reports().0, "", "taken");
        std::thread::spawn(|| assert_eq!(take_reports().0, ""))
            .join()
            .unwrap();
    }
}
