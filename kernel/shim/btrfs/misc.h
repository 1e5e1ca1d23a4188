/* Stands for fs/btrfs/misc.h: delalloc-kernel shim with only what the io tree uses. */
#ifndef DK_BTRFS_MISC_H
#define DK_BTRFS_MISC_H
#include "dk_kernel.h"
/*
 * ENUM_BIT(NAME) inside an enum: NAME is the next single-bit mask. Each entry takes an index
 * (NAME_DK_IDX), and the alias NAME_DK_LAST resets the enum's counter to that index so the next
 * entry's index is one more.
 */
#define ENUM_BIT(name) name##_DK_IDX, name = (1U << name##_DK_IDX), name##_DK_LAST = name##_DK_IDX
/* Whether x lies in [first, first + len). */
#define in_range(x, first, len) ((x) >= (first) && (x) - (first) < (len))
#endif
