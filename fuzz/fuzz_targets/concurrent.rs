//! The concurrent differential target: tasks and a schedule on the optimized model under
//! shuttle, judged by the concurrent oracle (linearizability, SPEC 8, no leak after unmount).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| delalloc_fuzz::targets::concurrent(data));
