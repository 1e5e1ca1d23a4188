//! The extent-tree-level differential target: reference vs optimized on tree ops.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| delalloc_fuzz::targets::tree_level(data));

// Op-level mutation (delalloc_fuzz::input::mutate), some calls left to libFuzzer's byte mutator.
#[cfg(feature = "structured-mutator")]
libfuzzer_sys::fuzz_mutator!(|data: &mut [u8], size: usize, max_size: usize, seed: u32| {
    use delalloc_fuzz::{generators::Level, input::mutate};
    mutate::libfuzzer(
        data,
        size,
        max_size,
        seed,
        Level::Tree,
        libfuzzer_sys::fuzzer_mutate,
    )
});
