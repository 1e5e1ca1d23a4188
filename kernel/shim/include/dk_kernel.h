/*
 * delalloc-kernel: the userspace stand-in for the kernel facilities that fs/btrfs/extent-io-tree.c
 * and lib/rbtree.c use. Written for this project from what the kernel headers declare (names and
 * meanings), not copied from them. Single-threaded semantics: a spinlock is a no-op, nothing ever
 * waits; a path that would sleep is reported and aborts (see dk_would_sleep in glue.c).
 *
 * Every <linux/...> header the two files include maps to this one file through a forwarding
 * header in shim/include/linux/, except the rbtree headers, which build.rs copies from the
 * kernel tree itself (kinclude/). A header not listed there fails the build rather than
 * silently falling back to the kernel's own.
 */
#ifndef DK_KERNEL_H
#define DK_KERNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- integer types ---- */
typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef unsigned long long u64;
typedef int8_t s8;
typedef int16_t s16;
typedef int32_t s32;
typedef long long s64;
typedef u32 __u32;
typedef u64 __u64;
typedef unsigned int gfp_t;
typedef unsigned long slab_flags_t;
/* loff_t comes from glibc (sys/types.h). */

/* ---- attributes and compiler helpers ---- */
#define __always_inline inline __attribute__((__always_inline__))
#define noinline __attribute__((__noinline__))
#define __init
#define __exit
#define __cold __attribute__((__cold__))
#define __must_check
#define __maybe_unused __attribute__((__unused__))
#define __acquires(x)
#define __releases(x)
#define __must_hold(x)
#define __rcu
#define __user
#define __force
#define __printf(a, b) __attribute__((format(printf, a, b)))
#define fallthrough __attribute__((__fallthrough__))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define READ_ONCE(x) (*(volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, v) do { *(volatile __typeof__(x) *)&(x) = (v); } while (0)
#define barrier() __asm__ __volatile__("" ::: "memory")
#define smp_mb() __sync_synchronize()
#define EXPORT_SYMBOL(s)
#define EXPORT_SYMBOL_GPL(s)
#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define min(a, b) ({ __typeof__(a) _dk_a = (a); __typeof__(b) _dk_b = (b); _dk_a < _dk_b ? _dk_a : _dk_b; })
#define max(a, b) ({ __typeof__(a) _dk_a = (a); __typeof__(b) _dk_b = (b); _dk_a > _dk_b ? _dk_a : _dk_b; })
#define min_t(t, a, b) min((t)(a), (t)(b))
#define max_t(t, a, b) max((t)(a), (t)(b))
#define U64_MAX UINT64_MAX
#define U32_MAX UINT32_MAX
#define BIT(n) (1UL << (n))
#define PAGE_SIZE 4096UL
static inline bool is_power_of_2(unsigned long n) { return n != 0 && (n & (n - 1)) == 0; }
/* Alignment helpers with the meanings <linux/align.h> and <linux/math.h> give them; `a` and `y`
 * are powers of two wherever the btrfs code uses them. */
#define ALIGN(x, a) (((x) + ((__typeof__(x))(a) - 1)) & ~((__typeof__(x))(a) - 1))
#define IS_ALIGNED(x, a) (((x) & ((__typeof__(x))(a) - 1)) == 0)
#define round_up(x, y) ((((x) - 1) | ((__typeof__(x))((y) - 1))) + 1)
#define round_down(x, y) ((x) & ~((__typeof__(x))((y) - 1)))
#define DIV_ROUND_UP_ULL(ll, d) (((unsigned long long)(ll) + (d) - 1) / (d))
/* KCSAN's marker for an intentionally racy read: one thread here, so a plain read. */
#define data_race(x) (x)

/* ---- error pointers ---- */
#define MAX_ERRNO 4095
static inline void *ERR_PTR(long e) { return (void *)e; }
static inline long PTR_ERR(const void *p) { return (long)p; }
static inline bool IS_ERR(const void *p) { return (unsigned long)p >= (unsigned long)-MAX_ERRNO; }
#define ENOMEM 12
#define EEXIST 17
#define EINVAL 22
#define EAGAIN 11
#define ENOSPC 28

/* ---- reports: WARN_ON / BUG_ON / ASSERT / messages reach Rust (glue.c) ---- */
void dk_report(const char *kind, const char *expr, const char *file, int line);
__attribute__((noreturn)) void dk_fatal(const char *kind, const char *expr, const char *file, int line);
void dk_message(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void dk_would_sleep(const char *what, const char *file, int line);
/* A path the glue never takes on purpose (changesets, ADD_INODE_BYTES): aborts, naming it. */
__attribute__((noreturn)) void dk_unsupported(const char *what);

#define WARN_ON(cond) ({ int _dk_c = !!(cond); if (unlikely(_dk_c)) dk_report("WARN_ON", #cond, __FILE__, __LINE__); _dk_c; })
#define WARN_ON_ONCE(cond) WARN_ON(cond)
#define WARN(cond, ...) ({ int _dk_c = !!(cond); if (unlikely(_dk_c)) dk_report("WARN", #cond, __FILE__, __LINE__); _dk_c; })
/* The kernel does not return from BUG(): neither can we, so it records and aborts. */
#define BUG() dk_fatal("BUG", "", __FILE__, __LINE__)
#define BUG_ON(cond) do { if (unlikely(cond)) dk_fatal("BUG_ON", #cond, __FILE__, __LINE__); } while (0)
#define pr_err(...) dk_message(__VA_ARGS__)
#define pr_warn(...) dk_message(__VA_ARGS__)
#define pr_info(...) dk_message(__VA_ARGS__)
#define printk(...) dk_message(__VA_ARGS__)

/* ---- memory: GFP flags and slab caches over malloc ---- */
#define __GFP_DIRECT_RECLAIM 0x400u
#define __GFP_NOFAIL 0x8000u
#define __GFP_HIGH 0x20u
#define __GFP_NOWARN 0x2000u
#define __GFP_DMA32 0x4u
#define __GFP_HIGHMEM 0x2u
#define GFP_ATOMIC (__GFP_HIGH)
#define GFP_NOWAIT 0u
#define GFP_NOFS (__GFP_DIRECT_RECLAIM | 0x40u)
#define GFP_NOIO (__GFP_DIRECT_RECLAIM)
#define GFP_KERNEL (__GFP_DIRECT_RECLAIM | 0xc0u)
static inline bool gfpflags_allow_blocking(gfp_t f) { return (f & __GFP_DIRECT_RECLAIM) != 0; }
#define SLAB_RECLAIM_ACCOUNT 0x1ul
#define SLAB_MEM_SPREAD 0x2ul
#define SLAB_PANIC 0x4ul
#define SLAB_HWCACHE_ALIGN 0x8ul
struct kmem_cache { size_t size; };
static inline struct kmem_cache *dk_kmem_cache_create(const char *name, size_t size)
{
	struct kmem_cache *c = malloc(sizeof(*c));
	(void)name;
	if (c)
		c->size = size;
	return c;
}
/* kmem_cache_create(name, size, align, flags, ctor); the 6.x signatures differ only after size. */
#define kmem_cache_create(name, size, ...) dk_kmem_cache_create((name), (size))
static inline void kmem_cache_destroy(struct kmem_cache *c) { free(c); }
static inline void *kmem_cache_alloc(struct kmem_cache *c, gfp_t f) { (void)f; return malloc(c->size); }
static inline void kmem_cache_free(struct kmem_cache *c, void *p) { (void)c; free(p); }
static inline void *kmalloc(size_t n, gfp_t f) { (void)f; return malloc(n); }
static inline void *kzalloc(size_t n, gfp_t f) { (void)f; return calloc(1, n); }
static inline void kfree(const void *p) { free((void *)p); }

/* ---- refcount ---- */
typedef struct { int refs; } refcount_t;
static inline void refcount_set(refcount_t *r, int n) { r->refs = n; }
static inline unsigned int refcount_read(const refcount_t *r) { return (unsigned int)r->refs; }
static inline void refcount_inc(refcount_t *r)
{
	if (r->refs <= 0)
		dk_report("REFCOUNT", "refcount_inc on zero", __FILE__, __LINE__);
	r->refs++;
}
static inline void refcount_dec(refcount_t *r)
{
	if (--r->refs <= 0)
		dk_report("REFCOUNT", "refcount_dec to zero", __FILE__, __LINE__);
}
static inline bool refcount_dec_and_test(refcount_t *r) { return --r->refs == 0; }

/* ---- lists (the delalloc inode lists of the hooks; the debug leak list) ---- */
struct list_head { struct list_head *next, *prev; };
#define LIST_HEAD_INIT(n) { &(n), &(n) }
#define LIST_HEAD(n) struct list_head n = LIST_HEAD_INIT(n)
static inline void INIT_LIST_HEAD(struct list_head *l) { l->next = l; l->prev = l; }
static inline bool list_empty(const struct list_head *l) { return l->next == l; }
static inline void list_add(struct list_head *n, struct list_head *h)
{
	n->next = h->next; n->prev = h; h->next->prev = n; h->next = n;
}
static inline void list_del(struct list_head *e)
{
	e->prev->next = e->next; e->next->prev = e->prev; e->next = e->prev = NULL;
}
static inline void list_add_tail(struct list_head *n, struct list_head *h)
{
	n->next = h; n->prev = h->prev; h->prev->next = n; h->prev = n;
}
static inline void list_del_init(struct list_head *e)
{
	e->prev->next = e->next; e->next->prev = e->prev; INIT_LIST_HEAD(e);
}
#define list_entry(p, t, m) container_of(p, t, m)

/* ---- bit operations on an unsigned long (single-threaded: plain, not atomic) ---- */
#define BITS_PER_LONG (8 * (int)sizeof(long))
static inline void set_bit(long nr, volatile unsigned long *addr) { *addr |= 1UL << nr; }
static inline void clear_bit(long nr, volatile unsigned long *addr) { *addr &= ~(1UL << nr); }
static inline bool test_bit(long nr, const volatile unsigned long *addr) { return (*addr >> nr) & 1; }

/* ---- 64-bit division: div_u64 divides by a u32, as the kernel's <linux/math64.h> declares ---- */
static inline u64 div_u64(u64 dividend, u32 divisor) { return dividend / divisor; }

/* ---- percpu counters: one thread, so a plain s64 (the batch only matters across CPUs) ---- */
struct percpu_counter { s64 count; };
static inline void percpu_counter_add_batch(struct percpu_counter *c, s64 amount, s32 batch)
{
	(void)batch;
	c->count += amount;
}

/* ---- locks: single-threaded, so no-ops ---- */
typedef struct { int unused; } spinlock_t;
struct lock_class_key { int unused; };
#define DEFINE_SPINLOCK(n) spinlock_t n = { 0 }
#define spin_lock_init(l) ((void)(l))
#define spin_lock(l) ((void)(l))
#define spin_unlock(l) ((void)(l))
#define spin_lock_irqsave(l, f) ((void)(l), (f) = 0)
#define spin_unlock_irqrestore(l, f) ((void)(l), (void)(f))
#define lockdep_set_class(l, k) ((void)(l), (void)(k))
#define lockdep_assert_held(l) ((void)(l))
/* Nothing else runs, so there is never a reason to drop the lock: "did not reschedule". */
#define cond_resched_lock(l) ((void)(l), 0)
#define cond_resched() ((void)0)
#define need_resched() 0

/* ---- RCU: nothing is read concurrently ---- */
#define rcu_assign_pointer(p, v) WRITE_ONCE((p), (v))
#define rcu_dereference_raw(p) READ_ONCE(p)
#define rcu_dereference(p) READ_ONCE(p)

/* ---- wait queues: nobody ever waits; sleeping would be a deadlock, so it is reported ---- */
typedef struct { int waiters; } wait_queue_head_t;
struct wait_queue_entry { int unused; };
#define TASK_UNINTERRUPTIBLE 2
#define DEFINE_WAIT(n) struct wait_queue_entry n = { 0 }
#define init_waitqueue_head(q) ((q)->waiters = 0)
#define prepare_to_wait(q, w, s) ((void)(q), (void)(w), (void)(s))
#define finish_wait(q, w) ((void)(q), (void)(w))
#define waitqueue_active(q) ((q)->waiters != 0)
#define wake_up(q) ((void)(q))
#define schedule() dk_would_sleep("schedule", __FILE__, __LINE__)

/* ---- the current task: only journal_info is read (delalloc-space.c: is a transaction open?).
 * Never set here: no transaction is ever open around a delalloc reservation. ---- */
struct task_struct { void *journal_info; };
extern struct task_struct dk_current_task;
#define current (&dk_current_task)

/* ---- VFS bits the btrfs code names: only the fields it reads ---- */
struct super_block { void *s_fs_info; };
struct inode { loff_t i_size; struct super_block *i_sb; };
static inline loff_t i_size_read(const struct inode *i) { return i->i_size; }
/* The clear hook calls it only for EXTENT_ADD_INODE_BYTES, a bit the glue never passes. */
static inline void inode_add_bytes(struct inode *inode, loff_t bytes)
{
	(void)inode; (void)bytes;
	dk_unsupported("inode_add_bytes (EXTENT_ADD_INODE_BYTES)");
}

#endif
