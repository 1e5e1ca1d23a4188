//! The reference against the kernel's own io tree and delalloc hooks, on tree-level programs.
//! Needs a kernel tree at build time (scripts/kernel-source.sh, or DELALLOC_KERNEL_SRC=DIR).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| delalloc_fuzz::targets::kernel_tree(data));
