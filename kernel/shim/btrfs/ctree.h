/* Stands for fs/btrfs/ctree.h: delalloc-kernel shim. The fs_info stays opaque: the io trees here
 * are self-test trees that never reach it. */
#ifndef DK_BTRFS_CTREE_H
#define DK_BTRFS_CTREE_H
#include "dk_kernel.h"
/* 6.1's extent-io-tree.h includes nothing and relies on ctree.h for these. */
#include <linux/rbtree.h>
#include <linux/spinlock.h>
#include <linux/refcount.h>
#include <linux/wait.h>
#include "messages.h"
#include "misc.h"
#include "extent_io.h"
struct btrfs_fs_info;
/* No incompat feature is set on the (absent) file system. */
#define btrfs_fs_incompat(fs_info, opt) ((void)(fs_info), 0)
#include "btrfs_inode.h"
#endif
