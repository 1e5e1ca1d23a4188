/*
 * delalloc-kernel: link-time stubs for symbols extent-io-tree.c references but this step never
 * reaches. Each aborts loudly: a stub that silently did nothing would make a wrong tree look
 * right.
 *
 * The delalloc hooks: the kernel calls them only for inode-owned trees (6.12: owner
 * IO_TREE_INODE_IO; 6.1: a non-NULL private_data). glue.c creates IO_TREE_SELFTEST trees with no
 * inode, as the kernel's own self-tests do, so they are never called. NEXT STEP (issue 13): take
 * the real ones from the tree's fs/btrfs/inode.c by name at build time and drop these stubs.
 */
#include "dk_kernel.h"
#include "extent_io.h"
#include "btrfs_inode.h"

void btrfs_set_delalloc_extent(DK_HOOK_INODE *inode, struct extent_state *state, u32 bits)
{
	(void)inode; (void)state; (void)bits;
	dk_fatal("STUB", "btrfs_set_delalloc_extent called on a tree without hooks", __FILE__, __LINE__);
}
void btrfs_clear_delalloc_extent(DK_HOOK_INODE *inode, struct extent_state *state, u32 bits)
{
	(void)inode; (void)state; (void)bits;
	dk_fatal("STUB", "btrfs_clear_delalloc_extent called on a tree without hooks", __FILE__, __LINE__);
}
void btrfs_merge_delalloc_extent(DK_HOOK_INODE *inode, struct extent_state *new, struct extent_state *other)
{
	(void)inode; (void)new; (void)other;
	dk_fatal("STUB", "btrfs_merge_delalloc_extent called on a tree without hooks", __FILE__, __LINE__);
}
void btrfs_split_delalloc_extent(DK_HOOK_INODE *inode, struct extent_state *orig, u64 split)
{
	(void)inode; (void)orig; (void)split;
	dk_fatal("STUB", "btrfs_split_delalloc_extent called on a tree without hooks", __FILE__, __LINE__);
}
/* Only reached with a changeset (set/clear_record_extent_bits), which the glue never passes. */
int ulist_add(struct ulist *ulist, u64 val, u64 aux, gfp_t gfp_mask)
{
	(void)ulist; (void)val; (void)aux; (void)gfp_mask;
	dk_fatal("STUB", "ulist_add: changesets are not supported", __FILE__, __LINE__);
}
