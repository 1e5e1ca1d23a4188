/* Stands for fs/btrfs/qgroup.h: delalloc-kernel shim, ours. Quotas are off (SPEC §9: qgroups
 * are not modelled): with qgroups disabled the kernel's reserve and free functions return 0
 * and touch nothing, which is all these do. The signatures are the ones 6.1 and 6.12 declare. */
#ifndef DK_BTRFS_QGROUP_H
#define DK_BTRFS_QGROUP_H
#include "dk_kernel.h"
struct btrfs_inode;
struct btrfs_root;
struct extent_changeset;
static inline int btrfs_qgroup_reserve_data(struct btrfs_inode *inode,
					    struct extent_changeset **reserved, u64 start, u64 len)
{
	(void)inode; (void)reserved; (void)start; (void)len;
	return 0;
}
static inline int btrfs_qgroup_free_data(struct btrfs_inode *inode,
					 struct extent_changeset *reserved, u64 start, u64 len,
					 u64 *freed)
{
	(void)inode; (void)reserved; (void)start; (void)len;
	if (freed)
		*freed = 0;
	return 0;
}
static inline int btrfs_qgroup_reserve_meta_prealloc(struct btrfs_root *root, int num_bytes,
						     bool enforce, bool noflush)
{
	(void)root; (void)num_bytes; (void)enforce; (void)noflush;
	return 0;
}
static inline void btrfs_qgroup_free_meta_prealloc(struct btrfs_root *root, int num_bytes)
{
	(void)root; (void)num_bytes;
}
static inline void btrfs_qgroup_convert_reserved_meta(struct btrfs_root *root, int num_bytes)
{
	(void)root; (void)num_bytes;
}
#endif
