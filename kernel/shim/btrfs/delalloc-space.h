/* Stands for fs/btrfs/delalloc-space.h: delalloc-kernel shim, ours. The two functions the clear
 * hook calls only record the bytes they are given in the fs_info (dk_released_meta_bytes,
 * dk_freed_data_bytes): these are the shim's numbers, not the kernel's. The kernel's would
 * release a block reservation and a space info's bytes_may_use, which this crate has not. */
#ifndef DK_BTRFS_DELALLOC_SPACE_H
#define DK_BTRFS_DELALLOC_SPACE_H
#include "dk_kernel.h"
#include "fs.h"
#include "btrfs_inode.h"
static inline void btrfs_delalloc_release_metadata(struct btrfs_inode *inode, u64 num_bytes,
						   bool qgroup_free)
{
	(void)qgroup_free;
	inode->root->fs_info->dk_released_meta_bytes += num_bytes;
}
static inline void btrfs_free_reserved_data_space_noquota(struct btrfs_fs_info *fs_info, u64 len)
{
	fs_info->dk_freed_data_bytes += len;
}
#endif
