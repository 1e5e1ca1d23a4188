#!/bin/bash -eu
# OSS-Fuzz / ClusterFuzzLite build script: builds every cargo-fuzz target of fuzz/ (except the
# `empty` calibration target) and writes, for each target T, into $OUT:
#   T                    the libFuzzer binary
#   T_seed_corpus.zip    corpus/T/, the seed corpus generated from corpus/programs/
#   T.options            oss-fuzz/T.options ([libfuzzer] max_len, and dict for parse_text)
#   T.dict               oss-fuzz/T.dict where there is one (parse_text: the text format's words)
#
# Environment: $OUT (required); the checkout is $SRC/delalloc-fuzz, or DELALLOC_FUZZ_SRC.
# CARGO_FUZZ_FLAGS adds flags to `cargo fuzz build -O` (OSS-Fuzz leaves it unset: cargo-fuzz's
# default AddressSanitizer, on the image's nightly; scripts/oss-fuzz-local.sh passes `-s none`
# on a machine without nightly). The binary targets get no dictionary: their bytes are varints
# and op codes that libFuzzer's comparison tracing already finds.
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
# kernel_tree: compiled from a Linux tree at build time, which the OSS-Fuzz image does not have
# (built without one, its kernel model is absent and every input would stop the run).
skip=(empty concurrent kernel_tree)

read -r -a flags <<<"${CARGO_FUZZ_FLAGS:-}"
cargo fuzz build -O "${flags[@]}"

triple=x86_64-unknown-linux-gnu
bin_dir=fuzz/target/$triple/release
mkdir -p "$OUT"
out=$(cd "$OUT" && pwd)
built=0
for target in $(cargo fuzz list); do
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
    echo "build.sh: cargo fuzz list named no target" >&2
    exit 1
}
