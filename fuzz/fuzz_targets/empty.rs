//! Does nothing: its exec/s is libFuzzer's own ceiling on this machine, the yardstick for the
//! other targets' rates (MEASUREMENTS.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|_data: &[u8]| {});
