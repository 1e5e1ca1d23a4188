#!/bin/bash -eu
# OSS-Fuzz / ClusterFuzzLite build script: builds every cargo-fuzz target of fuzz/ (except the
# `empty` calibration target) and writes, for each target T, into $OUT:
#   T                    the libFuzzer binary
#   T_seed_corpus.zip    corpus/T/, the seed corpus generated from corpus/programs/
#   T.options            oss-fuzz/T.options ([libfuzzer] max_len, and dict for parse_text)
#   T.dict               oss-fuzz/T.dict where there is one (parse_text: the text format's words)
#
# Environment: $OUT (required); the checkout is $SRC/delalloc-fuzz, or DELALLOC_FUZZ_SRC.
# CARGO_FUZZ_FLAGS adds flags to `cargo fuzz build -O --debug-assertions` (OSS-Fuzz leaves it
# unset: cargo-fuzz's default AddressSanitizer, on the image's nightly; scripts/oss-fuzz-local.sh
# passes `-s none` on a machine without nightly). The binary targets get no dictionary: their
# bytes are varints and op codes that libFuzzer's comparison tracing already finds.
#
# --debug-assertions, as the Rust projects on OSS-Fuzz build: debug_assert!s and overflow
# checks on, so that an accounting counter that wraps (the way seed 000's `to_free -
# to_reserve` did) is a crash of its own, not only whatever divergence it leads to. Measured
# before adopting it: tree_level, nightly + ASan (`cargo +nightly fuzz build -O [-a] -s
# address tree_level`), both binaries side by side for 20 s each, one per core (`taskset`,
# cores swapped every round), from corpus/tree_level with -max_len=4096 -seed=1, on this
# 2-core machine while other builds ran (load average 3.6-4.5). exec/s, without / with:
#   rounds 1-3: 503 / 620, 440 / 767, 776 / 2,970 (the load swamps the difference)
#   rounds 4-6: 2,789 / 2,541, 2,777 / 2,297, 1,615 / 1,465 (quieter: 9-17% slower with)
# Edge coverage after 20 s was the same within 1% (2,575-2,608 / 2,538-2,583), and no run
# crashed. A cost of a tenth or so, for checks that turn silent wrap-arounds into findings:
# adopted.
set -euo pipefail

: "${OUT:?build.sh: OUT must name the output directory}"
src=${DELALLOC_FUZZ_SRC:-${SRC:?build.sh: SRC (or DELALLOC_FUZZ_SRC) must be set}/delalloc-fuzz}
[[ -f $src/fuzz/Cargo.toml ]] || {
    echo "build.sh: $src/fuzz/Cargo.toml not found: SRC/delalloc-fuzz must be the checkout" >&2
    exit 2
}
cd "$src"

# empty: calibration only, measures libFuzzer's own exec ceiling and finds nothing.
# concurrent: not shipped yet: its inputs are generator bytes only, and it has no binary seed
# corpus (corpus/concurrent/ holds readable programs that the tests replay).
# kernel_tree, kernel_fs: compiled from a Linux tree at build time, which the OSS-Fuzz image does
# not have (built without one, the kernel model is absent and every input would stop the run).
skip=(empty concurrent kernel_tree kernel_fs)

read -r -a flags <<<"${CARGO_FUZZ_FLAGS:-}"
cargo fuzz build -O --debug-assertions "${flags[@]}"

triple=x86_64-unknown-linux-gnu
bin_dir=fuzz/target/$triple/release
mkdir -p "$OUT"
out=$(cd "$OUT" && pwd)
built=0
# The targets are the files of fuzz/fuzz_targets/, not `cargo fuzz list`: in a coverage build
# (ClusterFuzzLite's cflite_cron.yml) OSS-Fuzz's cargo wrapper turns every `cargo fuzz` command
# into `cargo build --bins`, which lists nothing.
targets=()
for f in fuzz/fuzz_targets/*.rs; do
    targets+=("$(basename "$f" .rs)")
done
for target in "${targets[@]}"; do
    if [[ " ${skip[*]} " == *" $target "* ]]; then
        continue
    fi
    [[ -x $bin_dir/$target ]] || {
        echo "build.sh: $bin_dir/$target was not built" >&2
        exit 1
    }
    cp "$bin_dir/$target" "$out/"
    [[ -d corpus/$target ]] || {
        echo "build.sh: corpus/$target/ missing: run \`cargo run --release -- corpus\`" >&2
        exit 1
    }
    rm -f "$out/${target}_seed_corpus.zip"
    (cd "corpus/$target" && zip -q -r "$out/${target}_seed_corpus.zip" .)
    [[ -f oss-fuzz/$target.options ]] || {
        echo "build.sh: oss-fuzz/$target.options missing" >&2
        exit 1
    }
    cp "oss-fuzz/$target.options" "$out/"
    if [[ -f oss-fuzz/$target.dict ]]; then
        cp "oss-fuzz/$target.dict" "$out/"
    fi
    built=$((built + 1))
    echo "build.sh: $target -> $out/$target, ${target}_seed_corpus.zip ($(find "corpus/$target" -type f | wc -l) seeds), $target.options"
done
[[ $built -gt 0 ]] || {
    echo "build.sh: fuzz/fuzz_targets/ has no target to ship" >&2
    exit 1
}
