/* Stands for fs/btrfs/space-info.h: delalloc-kernel shim, ours. struct btrfs_space_info declares
 * the counters the reservation code reads and writes, with the kernel's names and types; the
 * flush levels are the kernel's names (their values matter nowhere here: nothing flushes).
 *
 * What the tree's header defines as code is taken from it: build.rs extracts the
 * DECLARE_SPACE_INFO_UPDATE macro, its instantiations and the inline
 * btrfs_space_info_free_bytes_may_use by name into OUT_DIR/dk_space_info_inlines.h, included
 * at the end. The functions of space-info.c the compiled code calls are ours (shim/space.c):
 * btrfs_reserve_metadata_bytes and btrfs_reserve_data_bytes reserve from free space or fail
 * (no flushing, no tickets), btrfs_try_granting_tickets has no ticket to grant,
 * btrfs_find_space_info answers the fs_info's data or metadata space info. */
#ifndef DK_BTRFS_SPACE_INFO_H
#define DK_BTRFS_SPACE_INFO_H
#include "dk_kernel.h"
#include <trace/events/btrfs.h>
#include "block-rsv.h"
struct btrfs_fs_info;
enum btrfs_reserve_flush_enum {
	BTRFS_RESERVE_NO_FLUSH,
	BTRFS_RESERVE_FLUSH_LIMIT,
	BTRFS_RESERVE_FLUSH_EVICT,
	BTRFS_RESERVE_FLUSH_DATA,
	BTRFS_RESERVE_FLUSH_FREE_SPACE_INODE,
	BTRFS_RESERVE_FLUSH_ALL,
	BTRFS_RESERVE_FLUSH_ALL_STEAL,
	BTRFS_RESERVE_FLUSH_EMERGENCY,
};
/* Block group type flags (uapi btrfs_tree.h), the kernel's values. */
#define BTRFS_BLOCK_GROUP_DATA (1ULL << 0)
#define BTRFS_BLOCK_GROUP_SYSTEM (1ULL << 1)
#define BTRFS_BLOCK_GROUP_METADATA (1ULL << 2)
struct btrfs_space_info {
	struct btrfs_fs_info *fs_info;
	spinlock_t lock;
	u64 total_bytes;
	u64 bytes_used;
	u64 bytes_pinned;	/* always 0 here: nothing is freed by a commit */
	u64 bytes_reserved;
	u64 bytes_may_use;
	u64 bytes_readonly;	/* always 0 */
	u64 bytes_zone_unusable;	/* always 0 */
	u64 flags;
};
struct btrfs_space_info *btrfs_find_space_info(struct btrfs_fs_info *info, u64 flags);
/* The tree's signature: 6.1 passes the block reservation, 6.12 its space info (build.rs reads
 * which from the tree's space-info.h: DK_RESERVE_META_BLOCK_RSV). */
#ifdef DK_RESERVE_META_BLOCK_RSV
int btrfs_reserve_metadata_bytes(struct btrfs_fs_info *fs_info,
				 struct btrfs_block_rsv *block_rsv,
				 u64 orig_bytes, enum btrfs_reserve_flush_enum flush);
#else
int btrfs_reserve_metadata_bytes(struct btrfs_fs_info *fs_info,
				 struct btrfs_space_info *space_info,
				 u64 orig_bytes, enum btrfs_reserve_flush_enum flush);
#endif
int btrfs_reserve_data_bytes(struct btrfs_fs_info *fs_info, u64 bytes,
			     enum btrfs_reserve_flush_enum flush);
void btrfs_try_granting_tickets(struct btrfs_fs_info *fs_info,
				struct btrfs_space_info *space_info);
#include "dk_space_info_inlines.h"
#endif
