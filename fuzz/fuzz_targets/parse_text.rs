//! The text-format parser on arbitrary bytes: never panics, and what it accepts prints and
//! parses back to itself.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| delalloc_fuzz::targets::parse_text(data));
