/* Stands for fs/btrfs/block-group.h: delalloc-kernel shim, ours. 6.1's delalloc-space.c includes it and
 * uses nothing from it. */
#ifndef DK_BTRFS_BLOCK_GROUP_H
#define DK_BTRFS_BLOCK_GROUP_H
#include "ctree.h"
#endif
