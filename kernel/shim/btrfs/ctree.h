/* Stands for fs/btrfs/ctree.h: delalloc-kernel shim, ours. Brings in what extent-io-tree.c
 * and the extracted hooks expect ctree.h to have brought (6.1's extent-io-tree.h includes
 * nothing and relies on it), the fs_info (fs.h) and the inode (btrfs_inode.h). */
#ifndef DK_BTRFS_CTREE_H
#define DK_BTRFS_CTREE_H
#include "dk_kernel.h"
#include <linux/rbtree.h>
#include <linux/spinlock.h>
#include <linux/refcount.h>
#include <linux/wait.h>
#include "messages.h"
#include "misc.h"
#include "extent_io.h"
#include "fs.h"
#include "extent-io-tree.h"
/* No incompat feature is set on the (absent) file system. */
#define btrfs_fs_incompat(fs_info, opt) ((void)(fs_info), 0)
struct btrfs_root;
/* Ours: the tree's root is a subvolume, never the data relocation tree. */
static inline bool btrfs_is_data_reloc_root(const struct btrfs_root *root)
{
	(void)root;
	return false;
}
#include "btrfs_inode.h"
#endif
