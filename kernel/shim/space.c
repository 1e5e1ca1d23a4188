/*
 * delalloc-kernel: the functions of fs/btrfs/space-info.c that delalloc-space.c and the
 * block-rsv.c functions call, written for this project (ours, not kernel code) to the model's
 * rule (SPEC §3): a reservation fits in its space info's free bytes or fails with -ENOSPC at
 * once. The kernel would flush (delalloc, delayed items, a transaction commit) and queue a
 * ticket before failing; none of that exists here, so nothing ever waits and no ticket is ever
 * queued. The counters are changed through the tree's own btrfs_space_info_update_bytes_may_use
 * (space-info.h, extracted by build.rs), so an underflow WARNs as the kernel's would.
 *
 * SPEC's fail_next_reservation: fs_info->dk_fail_next_data / dk_fail_next_meta make the next
 * reservation of more than 0 bytes of that kind fail once with -ENOSPC (the flag is cleared).
 */
#include "dk_kernel.h"
#include "ctree.h"
#include "space-info.h"

/* The current task of the kernel code: never inside a transaction (journal_info NULL). */
struct task_struct dk_current_task;

/* free = total - (used + reserved + pinned + readonly + may_use + zone_unusable), the kernel's
 * btrfs_space_info_used(s, true); pinned, readonly and zone_unusable are always 0 here, so it is
 * SPEC §3's total - may_use - reserved - used. */
static int dk_reserve_bytes(struct btrfs_fs_info *fs_info, struct btrfs_space_info *s, u64 bytes,
			    int *fail_next)
{
	u64 used;
	int ret = 0;

	if (bytes == 0)
		return 0;
	if (*fail_next) {
		*fail_next = 0;
		return -ENOSPC;
	}
	spin_lock(&s->lock);
	used = s->bytes_used + s->bytes_reserved + s->bytes_pinned + s->bytes_readonly +
	       s->bytes_may_use + s->bytes_zone_unusable;
	if (used > s->total_bytes || bytes > s->total_bytes - used)
		ret = -ENOSPC;
	else
		btrfs_space_info_update_bytes_may_use(fs_info, s, (s64)bytes);
	spin_unlock(&s->lock);
	return ret;
}

#ifdef DK_RESERVE_META_BLOCK_RSV
int btrfs_reserve_metadata_bytes(struct btrfs_fs_info *fs_info,
				 struct btrfs_block_rsv *block_rsv,
				 u64 orig_bytes, enum btrfs_reserve_flush_enum flush)
{
	(void)flush;
	return dk_reserve_bytes(fs_info, block_rsv->space_info, orig_bytes,
				&fs_info->dk_fail_next_meta);
}
#else
int btrfs_reserve_metadata_bytes(struct btrfs_fs_info *fs_info,
				 struct btrfs_space_info *space_info,
				 u64 orig_bytes, enum btrfs_reserve_flush_enum flush)
{
	(void)flush;
	return dk_reserve_bytes(fs_info, space_info, orig_bytes, &fs_info->dk_fail_next_meta);
}
#endif

int btrfs_reserve_data_bytes(struct btrfs_fs_info *fs_info, u64 bytes,
			     enum btrfs_reserve_flush_enum flush)
{
	(void)flush;
	return dk_reserve_bytes(fs_info, fs_info->data_sinfo, bytes, &fs_info->dk_fail_next_data);
}

/* No reservation ever waits on a ticket here (dk_reserve_bytes answers at once). */
void btrfs_try_granting_tickets(struct btrfs_fs_info *fs_info,
				struct btrfs_space_info *space_info)
{
	(void)fs_info;
	(void)space_info;
}

/* The kernel walks fs_info->space_info for the flags; there are two space infos here. */
struct btrfs_space_info *btrfs_find_space_info(struct btrfs_fs_info *info, u64 flags)
{
	if (flags & BTRFS_BLOCK_GROUP_DATA)
		return info->data_sinfo;
	if (flags & BTRFS_BLOCK_GROUP_METADATA)
		return info->dk_meta_sinfo;
	return NULL;
}
