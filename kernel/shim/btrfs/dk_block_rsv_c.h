/* Stands for the #include list of fs/btrfs/block-rsv.c, narrowed to what the functions build.rs
 * extracts from it use: delalloc-kernel shim, ours. Included first by the generated
 * OUT_DIR/dk_block_rsv.c. */
#ifndef DK_BLOCK_RSV_C_H
#define DK_BLOCK_RSV_C_H
#include "dk_kernel.h"
#include <trace/events/btrfs.h>
#include "messages.h"
#include "ctree.h"
#include "block-rsv.h"
#include "space-info.h"
#include "fs.h"
#endif
