/* Stands for fs/btrfs/transaction.h: delalloc-kernel shim, ours. 6.1's delalloc-space.c includes it and
 * uses nothing from it. */
#ifndef DK_BTRFS_TRANSACTION_H
#define DK_BTRFS_TRANSACTION_H
#include "ctree.h"
#endif
