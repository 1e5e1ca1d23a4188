/* Stands for fs/btrfs/extent_io.h: delalloc-kernel shim. Changesets (qgroup bookkeeping) are
 * never passed by the glue; ulist_add is a stub in stubs.c that aborts if reached. */
#ifndef DK_BTRFS_EXTENT_IO_H
#define DK_BTRFS_EXTENT_IO_H
#include "dk_kernel.h"
struct ulist { int unused; };
struct extent_changeset {
	u64 bytes_changed;
	struct ulist range_changed;
};
int ulist_add(struct ulist *ulist, u64 val, u64 aux, gfp_t gfp_mask);
static inline void extent_changeset_prealloc(struct extent_changeset *c, gfp_t f)
{
	(void)f;
	if (c)
		dk_unsupported("extent_changeset_prealloc");
}
/* The changesets the glue passes are always NULL (no qgroups): nothing to free. */
static inline void extent_changeset_free(struct extent_changeset *c)
{
	if (c)
		dk_unsupported("extent_changeset_free");
}
#endif
