/* Stands for fs/btrfs/btrfs_inode.h (and the struct btrfs_root of ctree.h, and the hook
 * declarations of 6.1's ctree.h): delalloc-kernel shim, ours. struct btrfs_inode and struct
 * btrfs_root declare only the fields the compiled kernel code uses (the delalloc hooks,
 * delalloc-space.c), plus io_tree, the tree itself, with the kernel's names and types. The four
 * hooks are declared with the inode type this tree's headers use (DK_HOOK_INODE, chosen by
 * build.rs from the tree's own declaration); their definitions are the kernel's, extracted from
 * inode.c into OUT_DIR/dk_inode_hooks.c. The header's static inlines the compiled code calls
 * (btrfs_mod_outstanding_extents, and fs.h's count_max_extents and metadata-size helpers) are
 * the tree's, extracted by build.rs into OUT_DIR/dk_header_inlines.h, included at the end. */
#ifndef DK_BTRFS_INODE_H
#define DK_BTRFS_INODE_H
#include "ctree.h"
#include "block-rsv.h"
struct btrfs_root {
	struct btrfs_fs_info *fs_info;
	spinlock_t delalloc_lock;
	struct list_head delalloc_inodes;
	struct list_head delalloc_root;
	u64 nr_delalloc_inodes;
};
struct btrfs_inode {
	struct btrfs_root *root;
	struct extent_io_tree io_tree;
	spinlock_t lock;
	unsigned outstanding_extents;
	struct btrfs_block_rsv block_rsv;
	/* BTRFS_INODE_* flags; 0 here: checksummed, not preallocated. */
	u32 flags;
	u64 csum_bytes;
	struct list_head delalloc_inodes;
	unsigned long runtime_flags;
	u64 delalloc_bytes;
	u64 new_delalloc_bytes;
	u64 defrag_bytes;
	struct inode vfs_inode;
};
#define BTRFS_I(i) container_of(i, struct btrfs_inode, vfs_inode)
/* Inode item flags (uapi btrfs_tree.h; 6.1 ctree.h), the kernel's values. */
#define BTRFS_INODE_NODATASUM (1U << 0)
#define BTRFS_INODE_PREALLOC (1U << 4)
/* A bit of runtime_flags (6.1's delalloc list membership); the value is ours. */
enum { BTRFS_INODE_IN_DELALLOC_LIST = 0 };
/* Ours: the kernel's answer is "the inode's root is the tree root" (the free-space cache's
 * inodes live there); no inode the glue makes is in it. */
static inline bool btrfs_is_free_space_inode(const struct btrfs_inode *inode)
{
	return inode->root->fs_info->tree_root == inode->root;
}
struct extent_state;
#ifndef DK_HOOK_INODE
#error "build.rs must define DK_HOOK_INODE (the inode type the delalloc hooks take)"
#endif
void btrfs_set_delalloc_extent(DK_HOOK_INODE *inode, struct extent_state *state, u32 bits);
void btrfs_clear_delalloc_extent(DK_HOOK_INODE *inode, struct extent_state *state, u32 bits);
void btrfs_merge_delalloc_extent(DK_HOOK_INODE *inode, struct extent_state *new, struct extent_state *other);
void btrfs_split_delalloc_extent(DK_HOOK_INODE *inode, struct extent_state *orig, u64 split);
/* The tracepoint btrfs_mod_outstanding_extents calls (a no-op here). */
#include <trace/events/btrfs.h>
#include "dk_header_inlines.h"
#endif
