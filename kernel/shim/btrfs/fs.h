/* Stands for fs/btrfs/fs.h (6.1: the fs_info part of ctree.h, and super.h's btrfs_sb):
 * delalloc-kernel shim, ours. struct btrfs_fs_info declares only the fields the extracted
 * delalloc hooks read or write, with the kernel's names and types, plus two counters of our own
 * (dk_*) that the shims of delalloc-space.h keep. */
#ifndef DK_BTRFS_FS_H
#define DK_BTRFS_FS_H
#include "dk_kernel.h"
struct btrfs_root;
struct btrfs_fs_info {
	/* The clear hook releases metadata only when the inode's root is not this one. NULL. */
	struct btrfs_root *tree_root;
	spinlock_t delalloc_root_lock;
	struct list_head delalloc_roots;
	struct percpu_counter delalloc_bytes;
	s32 delalloc_batch;
	/* Set to 4096 by the glue; read only by btrfs_set_extent_delalloc, not extracted. */
	u32 sectorsize;
	/* count_max_extents' unit, set per tree from Rust (KernelTree::with_hooks). */
	u64 max_extent_size;
	/* Ours, not the kernel's: bytes passed to our btrfs_delalloc_release_metadata and
	 * btrfs_free_reserved_data_space_noquota (shim/btrfs/delalloc-space.h). */
	u64 dk_released_meta_bytes;
	u64 dk_freed_data_bytes;
};
/* No self-test fs_info here: the hooks do their full accounting (delalloc_bytes & co.). */
static inline int btrfs_is_testing(const struct btrfs_fs_info *fs_info) { (void)fs_info; return 0; }
/* 6.1's hooks find the fs_info through the VFS super block. */
static inline struct btrfs_fs_info *btrfs_sb(struct super_block *sb) { return sb->s_fs_info; }
#endif
