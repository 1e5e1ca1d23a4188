/* Stands for fs/btrfs/btrfs_inode.h (and the hook declarations of 6.1's ctree.h): delalloc-kernel
 * shim. The four delalloc hooks are declared with the inode type this tree's headers use
 * (DK_HOOK_INODE, chosen by build.rs from the tree's own declaration); hooks_stub.c defines them
 * as stubs that abort, because this step's trees are self-test trees the kernel never calls them
 * for. */
#ifndef DK_BTRFS_INODE_H
#define DK_BTRFS_INODE_H
#include "dk_kernel.h"
struct btrfs_root { struct btrfs_fs_info *fs_info; };
struct btrfs_inode { struct inode vfs_inode; struct btrfs_root *root; u64 ino; };
#define BTRFS_I(i) container_of(i, struct btrfs_inode, vfs_inode)
static inline u64 btrfs_ino(const struct btrfs_inode *i) { return i->ino; }
struct extent_state;
#ifndef DK_HOOK_INODE
#error "build.rs must define DK_HOOK_INODE (the inode type the delalloc hooks take)"
#endif
void btrfs_set_delalloc_extent(DK_HOOK_INODE *inode, struct extent_state *state, u32 bits);
void btrfs_clear_delalloc_extent(DK_HOOK_INODE *inode, struct extent_state *state, u32 bits);
void btrfs_merge_delalloc_extent(DK_HOOK_INODE *inode, struct extent_state *new, struct extent_state *other);
void btrfs_split_delalloc_extent(DK_HOOK_INODE *inode, struct extent_state *orig, u64 split);
#endif
