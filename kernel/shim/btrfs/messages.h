/* Stands for fs/btrfs/messages.h: delalloc-kernel shim. ASSERT is on (as with CONFIG_BTRFS_ASSERT)
 * and is reported to Rust rather than crashing; btrfs_panic cannot return, so it aborts. */
#ifndef DK_BTRFS_MESSAGES_H
#define DK_BTRFS_MESSAGES_H
#include "dk_kernel.h"
#define ASSERT(cond) do { if (unlikely(!(cond))) dk_report("ASSERT", #cond, __FILE__, __LINE__); } while (0)
#define btrfs_err(fs_info, ...) ((void)(fs_info), dk_message(__VA_ARGS__))
#define btrfs_warn(fs_info, ...) ((void)(fs_info), dk_message(__VA_ARGS__))
#define btrfs_debug_rl(fs_info, ...) ((void)(fs_info))
#define btrfs_panic(fs_info, err, ...) ((void)(fs_info), (void)(err), dk_message(__VA_ARGS__), dk_fatal("btrfs_panic", "", __FILE__, __LINE__))
#endif
