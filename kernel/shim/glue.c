/*
 * delalloc-kernel glue: a flat C API over the kernel's io tree, so that Rust never needs the
 * layout of a kernel struct. Ours, not kernel code. Differences between kernel trees (signatures
 * that changed between 6.1 and 6.12) are chosen by DK_* macros that build.rs derives from what
 * the tree's extent-io-tree.h declares, never from its version number.
 *
 * Everything is single-threaded per tree; the report buffer is thread-local, so trees on
 * different threads (parallel Rust tests) do not see each other's reports.
 */
#include <stdarg.h>
#include "dk_kernel.h"
#include "ctree.h"
#include "extent-io-tree.h"

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

/* A self-test tree (owner IO_TREE_SELFTEST, no inode): the kernel skips the delalloc hooks for it. */
struct extent_io_tree *dk_tree_new(void)
{
	struct extent_io_tree *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
#ifdef DK_INIT_PRIVATE
	extent_io_tree_init(NULL, t, IO_TREE_SELFTEST, NULL);
#else
	extent_io_tree_init(NULL, t, IO_TREE_SELFTEST);
#endif
	return t;
}

/* Only for the test that the hook stubs abort: a tree the kernel treats as inode-owned (6.1: a
 * non-NULL private_data; 6.12: owner IO_TREE_INODE_IO with tree->inode), with a dummy inode the
 * stubs never read. NULL when this tree's layout is neither. */
struct extent_io_tree *dk_tree_new_inode_owned(void)
{
	static struct btrfs_inode dummy;
#if defined(DK_INIT_PRIVATE) || defined(DK_TREE_HAS_INODE)
	struct extent_io_tree *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
#ifdef DK_INIT_PRIVATE
	extent_io_tree_init(NULL, t, IO_TREE_INODE_IO, &dummy.vfs_inode);
#else
	extent_io_tree_init(NULL, t, IO_TREE_INODE_IO);
	t->inode = &dummy;
#endif
	return t;
#else
	(void)dummy;
	return NULL;
#endif
}

int dk_clear(struct extent_io_tree *t, u64 start, u64 end, u32 bits)
{
#ifdef DK_CLEAR_GFP
	return __clear_extent_bit(t, start, end, bits, NULL, GFP_NOFS, NULL);
#else
	return __clear_extent_bit(t, start, end, bits, NULL, NULL);
#endif
}

/* Frees every record and the tree. Locked records are unlocked first: the kernel's release
 * asserts that none is left (the tree's owner must have unlocked them). */
void dk_tree_free(struct extent_io_tree *t)
{
	if (!t)
		return;
	dk_clear(t, 0, (u64)-1, ~(u32)0);
	extent_io_tree_release(t);
	free(t);
}

int dk_set(struct extent_io_tree *t, u64 start, u64 end, u32 bits)
{
#ifdef DK_SET_GFP
	return set_extent_bit(t, start, end, bits, NULL, GFP_NOFS);
#else
	return set_extent_bit(t, start, end, bits, NULL);
#endif
}

int dk_convert(struct extent_io_tree *t, u64 start, u64 end, u32 bits, u32 clear_bits)
{
	return convert_extent_bit(t, start, end, bits, clear_bits, NULL);
}

/* 1 when [start, end] was locked, 0 when some of it was already locked (the tree is then as it
 * was). Never waits: that is lock_extent's only difference, and waiting cannot end here. */
int dk_try_lock(struct extent_io_tree *t, u64 start, u64 end)
{
#ifdef DK_TRY_LOCK_BITS
	return __try_lock_extent(t, start, end, EXTENT_LOCKED, NULL) ? 1 : 0;
#else
	return try_lock_extent(t, start, end) ? 1 : 0;
#endif
}

int dk_unlock(struct extent_io_tree *t, u64 start, u64 end)
{
	return dk_clear(t, start, end, EXTENT_LOCKED);
}

/* filled: every byte of [start, end] has `bits`; otherwise: some byte has one of them. */
int dk_test_range_bit(struct extent_io_tree *t, u64 start, u64 end, u32 bits, int filled)
{
#ifdef DK_TEST_RANGE_FILLED
	return test_range_bit(t, start, end, bits, filled, NULL) ? 1 : 0;
#else
	if (filled)
		return test_range_bit(t, start, end, bits, NULL) ? 1 : 0;
	return test_range_bit_exists(t, start, end, bits) ? 1 : 0;
#endif
}

u64 dk_count_range_bits(struct extent_io_tree *t, u64 *start, u64 search_end, u64 max_bytes,
			u32 bits, int contig)
{
#ifdef DK_COUNT_CACHED
	return count_range_bits(t, start, search_end, max_bytes, bits, contig, NULL);
#else
	return count_range_bits(t, start, search_end, max_bytes, bits, contig);
#endif
}

/* 1 and the record's range in *start_ret/*end_ret when a record at or after start has a bit of
 * `bits`; 0 otherwise. */
int dk_find_first_extent_bit(struct extent_io_tree *t, u64 start, u64 *start_ret, u64 *end_ret,
			     u32 bits)
{
#ifdef DK_FIND_FIRST_BOOL
	return find_first_extent_bit(t, start, start_ret, end_ret, bits, NULL) ? 1 : 0;
#else
	/* Returns 0 when found, 1 when not. */
	return find_first_extent_bit(t, start, start_ret, end_ret, bits, NULL) == 0 ? 1 : 0;
#endif
}

void dk_find_first_clear_extent_bit(struct extent_io_tree *t, u64 start, u64 *start_ret,
				    u64 *end_ret, u32 bits)
{
	find_first_clear_extent_bit(t, start, start_ret, end_ret, bits);
}

/* btrfs_find_delalloc_range stores a reference to the first record in *cached_state
 * unconditionally (its callers always pass one); we drop it at once. */
int dk_find_delalloc(struct extent_io_tree *t, u64 *start, u64 *end, u64 max_bytes)
{
	struct extent_state *cached = NULL;
	bool found = btrfs_find_delalloc_range(t, start, end, max_bytes, &cached);
	free_extent_state(cached);
	return found ? 1 : 0;
}

/* Writes up to cap records in order; returns how many the tree holds (may exceed cap). */
size_t dk_records(struct extent_io_tree *t, u64 *starts, u64 *ends, u32 *bits, size_t cap)
{
	size_t n = 0;
	for (struct rb_node *node = rb_first(&t->state); node; node = rb_next(node)) {
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
