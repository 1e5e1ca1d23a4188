/*
 * delalloc-kernel glue: the types glue.c and fs_glue.c share. Ours, not kernel code. Never seen
 * by Rust, which holds only pointers to these (src/ffi.rs).
 */
#ifndef DK_GLUE_H
#define DK_GLUE_H
#include "dk_kernel.h"
#include "ctree.h"
#include "extent-io-tree.h"
#include "space-info.h"

struct dk_fs;

/*
 * A tree handle: `tree` with its cached_state (`cached`, see dk_cached in glue.c). Three kinds:
 * - a self-test tree: tree = &own (IO_TREE_SELFTEST, no inode: the kernel calls no hook), made
 *   by dk_tree_new, freed by dk_tree_free;
 * - the stand-alone hook tree: the io tree of inode 0 of a file system of its own (`fs`, owned
 *   by the handle: see dk_tree_new_hooks), made by dk_tree_new_hooks, freed by dk_tree_free;
 * - a view of an inode's tree in a file system made by dk_fs_new (dk_fs_tree): owned by that
 *   file system (fs == NULL here), never freed on its own.
 * `inode` is the tree's inode (NULL for a self-test tree).
 */
struct dk_tree {
	struct extent_io_tree *tree;
	struct extent_state *cached;
	struct extent_io_tree own;
	struct dk_fs *fs;
	struct btrfs_inode *inode;
};

/* What a file system is made of (dk_fs_new). Rust validates it (src/fs.rs); the C side relies
 * on: sectorsize a power of two, nodesize > 0, 0 < max_extent_size < 2^32, csums_per_leaf > 0,
 * 1 <= inodes <= DK_MAX_INODES. */
struct dk_fs_config {
	u64 sectorsize;
	u64 nodesize;
	u64 max_extent_size;
	u64 csums_per_leaf;
	u64 data_total;
	u64 meta_total;
	u64 global_rsv_size;
	u32 inodes;
};
#define DK_MAX_INODES 8

/*
 * A file system as the kernel's delalloc accounting sees it: the fs_info with its block
 * reservations (global, delayed_block_rsv, delayed_refs_rsv, ...), the data and metadata space
 * infos, one subvolume root and `inodes` inodes, each with its io tree (the hooks attached), its
 * block reservation and a view handle on its tree (`tree`, with its own cached_state).
 */
struct dk_fs {
	struct btrfs_fs_info fs_info;
	struct btrfs_space_info data_sinfo;
	struct btrfs_space_info meta_sinfo;
	struct btrfs_root root;
	struct super_block sb;
	u32 inodes;
	struct btrfs_inode inode[DK_MAX_INODES];
	struct dk_tree tree[DK_MAX_INODES];
};

struct dk_fs *dk_fs_new(const struct dk_fs_config *cfg);
void dk_fs_free(struct dk_fs *fs);
struct btrfs_inode *dk_fs_inode(struct dk_fs *fs, u32 ino);
/* Frees a handle's cached state and deletes every record of its tree (through the hooks on an
 * inode's tree; locked records included: the kernel's release asserts none is left). */
void dk_tree_empty(struct dk_tree *h);
#endif
