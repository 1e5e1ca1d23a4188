/* Stands for the kernel header <trace/events/btrfs.h>: tracepoints are no-ops here. */
#include "dk_kernel.h"
#define trace_alloc_extent_state(...) ((void)0)
#define trace_free_extent_state(...) ((void)0)
#define trace_btrfs_set_extent_bit(...) ((void)0)
#define trace_btrfs_clear_extent_bit(...) ((void)0)
#define trace_btrfs_convert_extent_bit(...) ((void)0)
#define trace_btrfs_inode_mod_outstanding_extents(...) ((void)0)
/* delalloc-space.c, block-rsv.c and the space-info.h helpers. */
#define trace_btrfs_space_reservation(...) ((void)0)
#define trace_update_bytes_may_use(...) ((void)0)
#define trace_update_bytes_pinned(...) ((void)0)
#define trace_update_bytes_zone_unusable(...) ((void)0)
