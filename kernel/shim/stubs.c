/*
 * delalloc-kernel: a link-time stub for a symbol extent-io-tree.c references but the glue never
 * reaches. It aborts loudly: a stub that silently did nothing would make a wrong tree look right.
 * Ours, not kernel code.
 */
#include "dk_kernel.h"
#include "extent_io.h"

/* Only reached with a changeset (set/clear_record_extent_bits), which the glue never passes. */
int ulist_add(struct ulist *ulist, u64 val, u64 aux, gfp_t gfp_mask)
{
	(void)ulist; (void)val; (void)aux; (void)gfp_mask;
	dk_fatal("STUB", "ulist_add: changesets are not supported", __FILE__, __LINE__);
}
