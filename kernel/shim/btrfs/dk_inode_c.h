/* Stands for the #include list of fs/btrfs/inode.c, narrowed to what the functions build.rs
 * extracts from it (and from btrfs_inode.h / fs.h) use: delalloc-kernel shim, ours. Included
 * first by the generated OUT_DIR/dk_inode_hooks.c. */
#ifndef DK_INODE_C_H
#define DK_INODE_C_H
#include "dk_kernel.h"
#include <trace/events/btrfs.h>
#include "messages.h"
#include "ctree.h"
#include "fs.h"
#include "btrfs_inode.h"
#include "delalloc-space.h"
#endif
