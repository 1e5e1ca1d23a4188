/* Stands for fs/btrfs/fs.h (6.1: the fs_info part of ctree.h, and super.h's btrfs_sb):
 * delalloc-kernel shim, ours. struct btrfs_fs_info declares only the fields the compiled kernel
 * code reads or writes (the delalloc hooks, delalloc-space.c, the block-rsv.c functions), with
 * the kernel's names and types, plus a few of our own (dk_*, see each). The block reservation
 * type is the tree's own (block-rsv.h, copied beside the compiled files by build.rs). */
#ifndef DK_BTRFS_FS_H
#define DK_BTRFS_FS_H
#include "dk_kernel.h"
/* 6.1's block-rsv.h declares none of the structs its prototypes name (its includers had). */
struct btrfs_fs_info;
struct btrfs_root;
struct btrfs_space_info;
struct btrfs_trans_handle;
#include "block-rsv.h"
/* BTRFS_MAX_LEVEL (uapi btrfs_tree.h): the tree height every reserved item may COW. */
#define BTRFS_MAX_LEVEL 8
struct btrfs_fs_info {
	/* The clear hook releases metadata only when the inode's root is not this one; the
	 * free-space cache's inodes live there. NULL for the file systems the glue makes. */
	struct btrfs_root *tree_root;
	spinlock_t delalloc_root_lock;
	struct list_head delalloc_roots;
	struct percpu_counter delalloc_bytes;
	s32 delalloc_batch;
	u32 nodesize;
	u32 sectorsize;
	u32 sectorsize_bits;
	u32 csums_per_leaf;
	/* count_max_extents' unit. */
	u64 max_extent_size;
	/* The data space info (the kernel keeps this shortcut; metadata is found by flags). */
	struct btrfs_space_info *data_sinfo;
	struct btrfs_block_rsv global_block_rsv;
	struct btrfs_block_rsv trans_block_rsv;
	struct btrfs_block_rsv chunk_block_rsv;
	struct btrfs_block_rsv delayed_block_rsv;
	struct btrfs_block_rsv delayed_refs_rsv;
	struct btrfs_block_rsv empty_block_rsv;
	/* Ours: the metadata space info, which the kernel finds on its space_info list
	 * (btrfs_find_space_info, shim/space.c). */
	struct btrfs_space_info *dk_meta_sinfo;
	/* Ours: SPEC's fail_next_reservation, one flag per kind: the next reservation of more
	 * than 0 bytes of that kind fails with -ENOSPC and clears the flag (shim/space.c). */
	int dk_fail_next_data;
	int dk_fail_next_meta;
};
/* No self-test fs_info here: the hooks and delalloc-space.c do their full accounting. */
static inline int btrfs_is_testing(const struct btrfs_fs_info *fs_info) { (void)fs_info; return 0; }
/* 6.1's hooks find the fs_info through the VFS super block. */
static inline struct btrfs_fs_info *btrfs_sb(struct super_block *sb) { return sb->s_fs_info; }
#endif
