//! AFL++ harness of the file-system-level differential target: the same body as the cargo-fuzz
//! target (`delalloc_fuzz::targets::fs_level`), so an AFL crash (`out/default/crashes/id:*`)
//! replays and imports with `delalloc-fuzz replay` / `import --level fs` like a libFuzzer one.

fn main() {
    afl::fuzz!(|data: &[u8]| delalloc_fuzz::targets::fs_level(data));
}
