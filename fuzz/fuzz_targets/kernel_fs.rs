//! The reference against the kernel's own file-system level (delalloc-space.c, block-rsv.c, the
//! io tree and its hooks), on fs-level programs in era C. Needs a kernel tree at build time
//! (scripts/kernel-source.sh, or DELALLOC_KERNEL_SRC=DIR).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| delalloc_fuzz::targets::kernel_fs(data));
