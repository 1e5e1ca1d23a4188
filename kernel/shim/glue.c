/*
 * delalloc-kernel glue: a flat C API over the kernel's io tree, so that Rust never needs the
 * layout of a kernel struct. Ours, not kernel code. Differences between kernel trees (signatures
 * that changed between 6.1 and 6.12) are chosen by DK_* macros that build.rs derives from what
 * the tree's extent-io-tree.h and extent-io-tree.c declare, never from its version number.
 *
 * Not compiled alone: build.rs's generated OUT_DIR/dk_unity.c #includes the tree's
 * extent-io-tree.c and then this file, so the glue can call that file's static functions
 * (__set_extent_bit, for set_bits and lock_range).
 *
 * Everything is single-threaded per tree; the report buffer is thread-local, so trees on
 * different threads (parallel Rust tests) do not see each other's reports.
 */
#include <stdarg.h>
#include "dk_kernel.h"
#include "ctree.h"
#include "extent-io-tree.h"
#include "dk_glue.h"

/* ---- reports ---- */
#define DK_REPORT_CAP 8192
static _Thread_local char dk_reports[DK_REPORT_CAP];
static _Thread_local size_t dk_reports_len;
static _Thread_local u64 dk_reports_lost;

void dk_report(const char *kind, const char *expr, const char *file, int line)
{
	size_t room = DK_REPORT_CAP - dk_reports_len;
	int n = snprintf(dk_reports + dk_reports_len, room, "%s %s:%d: %s\n", kind, file, line, expr);
	if (n < 0 || (size_t)n >= room) {
		dk_reports[dk_reports_len] = '\0';
		dk_reports_lost++;
		return;
	}
	dk_reports_len += (size_t)n;
}

void dk_fatal(const char *kind, const char *expr, const char *file, int line)
{
	fprintf(stderr, "delalloc-kernel: fatal %s at %s:%d: %s\n", kind, file, line, expr);
	if (dk_reports_len)
		fprintf(stderr, "delalloc-kernel: reports before it:\n%s", dk_reports);
	abort();
}

void dk_would_sleep(const char *what, const char *file, int line)
{
	dk_fatal("WOULD_SLEEP", what, file, line);
}

void dk_unsupported(const char *what)
{
	dk_fatal("UNSUPPORTED", what, __FILE__, __LINE__);
}

void dk_message(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	dk_report("MESSAGE", buf, "printk", 0);
}

/* Copies the reports (lines "KIND file:line: text\n") into buf (NUL-terminated, cut to cap) and
 * clears them. Returns the full length (may exceed cap - 1) and sets *lost to how many reports
 * did not fit in the buffer since the last call. */
size_t dk_reports_take(char *buf, size_t cap, u64 *lost)
{
	size_t n = dk_reports_len;
	if (cap) {
		size_t c = n < cap - 1 ? n : cap - 1;
		memcpy(buf, dk_reports, c);
		buf[c] = '\0';
	}
	*lost = dk_reports_lost;
	dk_reports_len = 0;
	dk_reports[0] = '\0';
	dk_reports_lost = 0;
	return n;
}

/* ---- bits, by name ---- */
/* The kernel's value of the bit our contract calls `name`, or 0 when this tree has no such bit
 * (WRITEBACK in 6.x). DO_ACCOUNTING is the kernel's composite of the two CLEAR_*_RESV bits. */
u32 dk_bit_value(const char *name)
{
#define DK_BIT(ours, kernels) if (strcmp(name, ours) == 0) return (u32)(kernels);
#ifdef DK_HAS_EXTENT_DIRTY
	DK_BIT("DIRTY", EXTENT_DIRTY)
#endif
#ifdef DK_HAS_EXTENT_WRITEBACK
	DK_BIT("WRITEBACK", EXTENT_WRITEBACK)
#endif
#ifdef DK_HAS_EXTENT_UPTODATE
	DK_BIT("UPTODATE", EXTENT_UPTODATE)
#endif
#ifdef DK_HAS_EXTENT_LOCKED
	DK_BIT("LOCKED", EXTENT_LOCKED)
#endif
#ifdef DK_HAS_EXTENT_DIO_LOCKED
	DK_BIT("DIO_LOCKED", EXTENT_DIO_LOCKED)
#endif
#ifdef DK_HAS_EXTENT_NEW
	DK_BIT("NEW", EXTENT_NEW)
#endif
#ifdef DK_HAS_EXTENT_DELALLOC
	DK_BIT("DELALLOC", EXTENT_DELALLOC)
#endif
#ifdef DK_HAS_EXTENT_DEFRAG
	DK_BIT("DEFRAG", EXTENT_DEFRAG)
#endif
#ifdef DK_HAS_EXTENT_BOUNDARY
	DK_BIT("BOUNDARY", EXTENT_BOUNDARY)
#endif
#ifdef DK_HAS_EXTENT_NODATASUM
	DK_BIT("NODATASUM", EXTENT_NODATASUM)
#endif
#ifdef DK_HAS_EXTENT_DO_ACCOUNTING
	DK_BIT("DO_ACCOUNTING", EXTENT_DO_ACCOUNTING)
#endif
#ifdef DK_HAS_EXTENT_NORESERVE
	DK_BIT("NORESERVE", EXTENT_NORESERVE)
#endif
#ifdef DK_HAS_EXTENT_DELALLOC_NEW
	DK_BIT("DELALLOC_NEW", EXTENT_DELALLOC_NEW)
#endif
#undef DK_BIT
	return 0;
}

/* ---- trees ---- */

#ifdef DK_FREE_STATE_BTRFS
#define dk_free_state(s) btrfs_free_extent_state(s)
#else
#define dk_free_state(s) free_extent_state(s)
#endif

static int dk_cache_ready;

/* Creates the extent_state slab cache; the Rust side calls it once (std::sync::Once). */
int dk_init(void)
{
	if (dk_cache_ready)
		return 0;
	int ret = extent_state_init_cachep();
	if (ret == 0)
		dk_cache_ready = 1;
	return ret;
}

/* A handle on a self-test tree: no hooks. */
struct dk_tree *dk_tree_new(void)
{
	struct dk_tree *h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
#ifdef DK_INIT_PRIVATE
	extent_io_tree_init(NULL, &h->own, IO_TREE_SELFTEST, NULL);
#else
	extent_io_tree_init(NULL, &h->own, IO_TREE_SELFTEST);
#endif
	h->tree = &h->own;
	return h;
}

/* The preload of the stand-alone hook tree's file system: see dk_tree_new_hooks. */
#define DK_PRELOAD (1ULL << 62)

/*
 * A handle on the stand-alone hook tree: the io tree of inode 0 of a file system of its own,
 * so that extent-io-tree.c calls the kernel's real delalloc hooks, and they the kernel's
 * delalloc-space.c. The inode's root is a subvolume (not the tree root, not the data
 * relocation tree), fs_info->max_extent_size = max_extent_size.
 *
 * Tree-level programs set and clear DELALLOC on any byte range with or without DO_ACCOUNTING,
 * on an inode that reserved nothing; the reservation code would then ASSERT sector alignment
 * and WARN at every underflow. So this file system is byte-grained (sectorsize 1: every range
 * is sector-aligned) and stands for one where everything the hooks may release was reserved:
 * the data space info's bytes_may_use and the inode's csum_bytes start at DK_PRELOAD, and what
 * the clear hook releases through btrfs_free_reserved_data_space_noquota and
 * btrfs_delalloc_release_metadata comes out of them as those functions compute it
 * (dk_hook_counters reads the differences back). Its metadata reservation is empty, so
 * releasing it releases nothing.
 */
struct dk_tree *dk_tree_new_hooks(u64 max_extent_size)
{
	struct dk_tree *h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	struct dk_fs_config cfg = {
		.sectorsize = 1,
		.nodesize = 16384,
		.max_extent_size = max_extent_size,
		.csums_per_leaf = 1,
		.data_total = U64_MAX,
		.meta_total = U64_MAX,
		.global_rsv_size = 0,
		.inodes = 1,
	};
	h->fs = dk_fs_new(&cfg);
	if (!h->fs) {
		free(h);
		return NULL;
	}
	h->inode = dk_fs_inode(h->fs, 0);
	h->tree = &h->inode->io_tree;
	h->fs->data_sinfo.bytes_may_use = DK_PRELOAD;
	h->inode->csum_bytes = DK_PRELOAD;
	return h;
}

/* __clear_extent_bit(start, end, bits, cached). `delete` clears every bit: EXTENT_CLEAR_ALL_BITS
 * in 6.1 and 6.12 (build.rs requires it). `wake` is not an argument there: __clear_extent_bit
 * derives it from the lock bits being cleared; and nothing ever waits here. */
static int dk_clear_raw(struct extent_io_tree *t, u64 start, u64 end, u32 bits, int delete,
			struct extent_state **cached)
{
#ifndef DK_HAS_EXTENT_CLEAR_ALL_BITS
#error "build.rs requires EXTENT_CLEAR_ALL_BITS"
#endif
	if (delete)
		bits |= EXTENT_CLEAR_ALL_BITS;
#ifdef DK_CLEAR_GFP
	return __clear_extent_bit(t, start, end, bits, cached, GFP_NOFS, NULL);
#else
	return __clear_extent_bit(t, start, end, bits, cached, NULL);
#endif
}

/* The file's static __set_extent_bit with failed_start (NULL unless bits has an exclusive bit:
 * the kernel ASSERTs exactly that) and cached; no failed_state (only an optimisation of the
 * wait that follows in __lock_extent) and no changeset. */
static int dk_raw_set(struct extent_io_tree *t, u64 start, u64 end, u32 bits, u64 *failed_start,
		      struct extent_state **cached)
{
#if defined(DK_RAW_SET_FAILED_STATE)
	return __set_extent_bit(t, start, end, bits, failed_start, NULL, cached, NULL);
#elif defined(DK_RAW_SET_GFP)
	return __set_extent_bit(t, start, end, bits, failed_start, cached, NULL, GFP_NOFS);
#else
#error "this tree's __set_extent_bit takes neither a failed_state nor a gfp mask: unknown signature"
#endif
}

int dk_clear(struct dk_tree *h, u64 start, u64 end, u32 bits)
{
	return dk_clear_raw(h->tree, start, end, bits, 0, NULL);
}

void dk_tree_empty(struct dk_tree *h)
{
	dk_free_state(h->cached);
	h->cached = NULL;
	dk_clear_raw(h->tree, 0, (u64)-1, 0, 1, NULL);
}

/* Frees the cached state, every record and the tree (and the stand-alone hook tree's file
 * system). Every record is deleted first (through the hooks on an inode's tree): the kernel's
 * release asserts no locked record is left (the tree's owner must have unlocked them). A view
 * of a file system's inode tree (dk_fs_tree) is not freed here: dk_fs_free frees it. */
void dk_tree_free(struct dk_tree *h)
{
	if (!h)
		return;
	if (!h->fs && h->inode) {
		dk_report("GLUE", "dk_tree_free on a file system's inode tree", __FILE__, __LINE__);
		return;
	}
	if (h->fs) {
		dk_free_state(h->cached);
		h->cached = NULL;
		dk_fs_free(h->fs);
	} else {
		dk_tree_empty(h);
		extent_io_tree_release(h->tree);
	}
	free(h);
}

/* The handle's cached_state for an op that takes the `cached` flag. With cached, the one the
 * previous op left (maybe none); without, none: the one held is freed first. Either way the op
 * gets &h->cached and may fill it (__set_extent_bit caches the first record it goes over that
 * holds LOCKED or BOUNDARY) or take it (__clear_extent_bit of LOCKED/BOUNDARY drops it). */
static struct extent_state **dk_cached(struct dk_tree *h, int cached)
{
	if (!cached && h->cached) {
		dk_free_state(h->cached);
		h->cached = NULL;
	}
	return &h->cached;
}

/* The cached state's range, and whether it is still in the tree: 1, or 0 when none is held. */
int dk_cached_state(struct dk_tree *h, u64 *start, u64 *end, int *in_tree)
{
	if (!h->cached)
		return 0;
	*start = h->cached->start;
	*end = h->cached->end;
	*in_tree = extent_state_in_tree(h->cached);
	return 1;
}

int dk_set(struct dk_tree *h, u64 start, u64 end, u32 bits)
{
#ifdef DK_SET_GFP
	return set_extent_bit(h->tree, start, end, bits, NULL, GFP_NOFS);
#else
	return set_extent_bit(h->tree, start, end, bits, NULL);
#endif
}

/* __set_extent_bit(start, end, bits, &failed_start, cached): 0, or -EEXIST with *failed_start
 * when bits has an exclusive bit (DK_EXCLUSIVE_BITS, the tree's own rule) that a record in the
 * range already has. What was set before failed_start stays set. */
int dk_set_bits(struct dk_tree *h, u64 start, u64 end, u32 bits, int cached, u64 *failed_start)
{
	struct extent_state **cp = dk_cached(h, cached);
	return dk_raw_set(h->tree, start, end, bits, (bits & DK_EXCLUSIVE_BITS) ? failed_start : NULL, cp);
}

/* __clear_extent_bit(start, end, bits [| EXTENT_CLEAR_ALL_BITS], cached). */
int dk_clear_bits(struct dk_tree *h, u64 start, u64 end, u32 bits, int wake, int delete, int cached)
{
	(void)wake;
	return dk_clear_raw(h->tree, start, end, bits, delete, dk_cached(h, cached));
}

/* The tree's set-delalloc: 6.1's inline set_extent_delalloc(start, end, extra_bits 0, NULL).
 * Without it (6.12) set_extent_bit(EXTENT_DELALLOC): ours, standing for the last line of
 * 6.12's btrfs_set_extent_delalloc (inode.c), which is not extracted because what it does
 * first (btrfs_find_new_delalloc_bytes: extent maps) has nothing to run on here; with
 * extra_bits 0 its tree change is that set (plus DELALLOC_NEW past i_size, not modelled). */
int dk_set_delalloc(struct dk_tree *h, u64 start, u64 end)
{
	/* Ours, standing for btrfs_set_extent_delalloc (inode.c) on an inode of i_size 0 without
	 * PREALLOC: its `start >= i_size_read()` branch (6.1 inode.c:2861, 6.12 :2808), the only
	 * one reachable there, adds EXTENT_DELALLOC_NEW to extra_bits before its set_extent_bit.
	 * The function itself is not extracted: its other branch walks the extent maps. */
#ifdef DK_HAS_SET_EXTENT_DELALLOC
	return set_extent_delalloc(h->tree, start, end, EXTENT_DELALLOC_NEW, NULL);
#else
	return dk_set(h, start, end, EXTENT_DELALLOC | EXTENT_DELALLOC_NEW);
#endif
}

/* lock_extent's first attempt, as 6.1 lock_extent and 6.12 __lock_extent make it:
 * __set_extent_bit(LOCKED, &failed_start); on -EEXIST, clear LOCKED from [start,
 * failed_start - 1] and answer failed_start. Ours from there: the kernel would now wait for
 * the conflicting record to be unlocked and try again, which cannot end on one thread. */
int dk_lock_range(struct dk_tree *h, u64 start, u64 end, u64 *failed_start)
{
	u64 failed = start;
	int err = dk_raw_set(h->tree, start, end, EXTENT_LOCKED, &failed, NULL);
	if (err == -EEXIST) {
		if (failed != start)
			dk_clear_raw(h->tree, start, failed - 1, EXTENT_LOCKED, 0, NULL);
		*failed_start = failed;
	}
	return err;
}

int dk_convert(struct dk_tree *h, u64 start, u64 end, u32 bits, u32 clear_bits)
{
	return convert_extent_bit(h->tree, start, end, bits, clear_bits, NULL);
}

/* 1 when [start, end] was locked, 0 when some of it was already locked (the tree is then as it
 * was). Never waits: that is lock_extent's only difference, and waiting cannot end here. */
int dk_try_lock(struct dk_tree *h, u64 start, u64 end)
{
#ifdef DK_TRY_LOCK_BITS
	return __try_lock_extent(h->tree, start, end, EXTENT_LOCKED, NULL) ? 1 : 0;
#else
	return try_lock_extent(h->tree, start, end) ? 1 : 0;
#endif
}

int dk_unlock(struct dk_tree *h, u64 start, u64 end)
{
	return dk_clear(h, start, end, EXTENT_LOCKED);
}

/* filled: every byte of [start, end] has `bits`; otherwise: some byte has one of them. */
int dk_test_range_bit(struct dk_tree *h, u64 start, u64 end, u32 bits, int filled)
{
#ifdef DK_TEST_RANGE_FILLED
	return test_range_bit(h->tree, start, end, bits, filled, NULL) ? 1 : 0;
#else
	if (filled)
		return test_range_bit(h->tree, start, end, bits, NULL) ? 1 : 0;
	return test_range_bit_exists(h->tree, start, end, bits) ? 1 : 0;
#endif
}

u64 dk_count_range_bits(struct dk_tree *h, u64 *start, u64 search_end, u64 max_bytes,
			u32 bits, int contig)
{
#ifdef DK_COUNT_CACHED
	return count_range_bits(h->tree, start, search_end, max_bytes, bits, contig, NULL);
#else
	return count_range_bits(h->tree, start, search_end, max_bytes, bits, contig);
#endif
}

/* 1 and the record's range in *start_ret/*end_ret when a record at or after start has a bit of
 * `bits`; 0 otherwise. */
int dk_find_first_extent_bit(struct dk_tree *h, u64 start, u64 *start_ret, u64 *end_ret,
			     u32 bits)
{
#ifdef DK_FIND_FIRST_BOOL
	return find_first_extent_bit(h->tree, start, start_ret, end_ret, bits, NULL) ? 1 : 0;
#else
	/* Returns 0 when found, 1 when not. */
	return find_first_extent_bit(h->tree, start, start_ret, end_ret, bits, NULL) == 0 ? 1 : 0;
#endif
}

void dk_find_first_clear_extent_bit(struct dk_tree *h, u64 start, u64 *start_ret,
				    u64 *end_ret, u32 bits)
{
	find_first_clear_extent_bit(h->tree, start, start_ret, end_ret, bits);
}

/* btrfs_find_delalloc_range stores a reference to the first record in *cached_state
 * unconditionally (its callers always pass one); we drop it at once. */
int dk_find_delalloc(struct dk_tree *h, u64 *start, u64 *end, u64 max_bytes)
{
	struct extent_state *cached = NULL;
	bool found = btrfs_find_delalloc_range(h->tree, start, end, max_bytes, &cached);
	dk_free_state(cached);
	return found ? 1 : 0;
}

/* Writes up to cap records in order; returns how many the tree holds (may exceed cap). */
size_t dk_records(struct dk_tree *h, u64 *starts, u64 *ends, u32 *bits, size_t cap)
{
	size_t n = 0;
	for (struct rb_node *node = rb_first(&h->tree->state); node; node = rb_next(node)) {
		struct extent_state *s = rb_entry(node, struct extent_state, rb_node);
		if (n < cap) {
			starts[n] = s->start;
			ends[n] = s->end;
			bits[n] = s->state;
		}
		n++;
	}
	return n;
}

/* What the hooks keep, read back. The first four are the kernel's own fields of the inode
 * (0 on a self-test tree). released_meta / freed_data: on the stand-alone hook tree, how far the
 * kernel's btrfs_delalloc_release_metadata and btrfs_free_reserved_data_space_noquota have
 * brought the inode's csum_bytes and the data bytes_may_use down from DK_PRELOAD (0 on a
 * self-test tree). fs_delalloc_bytes is fs_info->delalloc_bytes (a percpu counter in the
 * kernel). */
struct dk_hook_counters {
	u64 outstanding_extents;
	u64 delalloc_bytes;
	u64 defrag_bytes;
	u64 new_delalloc_bytes;
	u64 released_meta_bytes;
	u64 freed_data_bytes;
	s64 fs_delalloc_bytes;
};

void dk_hook_counters(struct dk_tree *h, struct dk_hook_counters *out)
{
	memset(out, 0, sizeof(*out));
	if (!h->inode)
		return;
	out->outstanding_extents = h->inode->outstanding_extents;
	out->delalloc_bytes = h->inode->delalloc_bytes;
	out->defrag_bytes = h->inode->defrag_bytes;
	out->new_delalloc_bytes = h->inode->new_delalloc_bytes;
	out->fs_delalloc_bytes = h->inode->root->fs_info->delalloc_bytes.count;
	if (h->fs) {
		out->released_meta_bytes = DK_PRELOAD - h->inode->csum_bytes;
		out->freed_data_bytes = DK_PRELOAD - h->fs->data_sinfo.bytes_may_use;
	}
}
