#!/usr/bin/env bash
# Runs oss-fuzz/build.sh as OSS-Fuzz would, but outside Docker: $SRC and $OUT are fresh temporary
# folders ($SRC/delalloc-fuzz is this checkout). Then checks the contract, for every target T of
# fuzz/ but those build.sh skips (`empty`, `concurrent`): $OUT/T (an executable),
# $OUT/T_seed_corpus.zip (not empty), $OUT/T.options, and every dict an options file names; and
# the skipped ones are not shipped. Last, runs
# each binary for a few seconds on its unzipped seed corpus with the flags of its .options file,
# as OSS-Fuzz's run_fuzzer does.
#
#   scripts/oss-fuzz-local.sh [--seconds N] [--sanitizer address|none] [--keep]
#
# --seconds N     how long each binary runs (default 5)
# --sanitizer S   address: nightly + ASan, as OSS-Fuzz builds (the default when a nightly
#                 toolchain is installed); none: stable, `cargo fuzz build -O -s none`
# --keep          keep $SRC and $OUT and print where they are
#
# Installs cargo-fuzz if it is missing (cargo install cargo-fuzz --locked). Exit codes: 0 all
# present and every binary ran clean; 1 something is missing or a binary failed; 2 it could not
# run (bad argument, missing tool).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

die() {
    echo "oss-fuzz-local.sh: $*" >&2
    exit 2
}
usage="usage: scripts/oss-fuzz-local.sh [--seconds N] [--sanitizer address|none] [--keep]"

seconds=5
sanitizer=
keep=
while [[ $# -gt 0 ]]; do
    case $1 in
        --seconds)
            [[ $# -ge 2 && $2 =~ ^[1-9][0-9]*$ ]] || die "--seconds needs a positive whole number ($usage)"
            seconds=$2
            shift 2
            ;;
        --sanitizer)
            [[ $# -ge 2 && ($2 == address || $2 == none) ]] || die "--sanitizer needs address or none ($usage)"
            sanitizer=$2
            shift 2
            ;;
        --keep)
            keep=1
            shift
            ;;
        -h | --help)
            echo "$usage"
            exit 0
            ;;
        *) die "unknown argument '$1' ($usage)" ;;
    esac
done

command -v cargo >/dev/null 2>&1 || die "cargo not found: install a Rust toolchain (rustup) first"
command -v zip >/dev/null 2>&1 || die "zip not found (apt-get install zip)"
command -v unzip >/dev/null 2>&1 || die "unzip not found (apt-get install unzip)"
has_nightly() { rustup toolchain list 2>/dev/null | grep -q '^nightly'; }
if [[ -z $sanitizer ]]; then
    if has_nightly; then sanitizer=address; else sanitizer=none; fi
fi
if [[ $sanitizer == address ]]; then
    has_nightly || die "--sanitizer address needs a nightly toolchain (rustup toolchain install nightly), or pass --sanitizer none"
    # OSS-Fuzz's image builds on nightly with cargo-fuzz's default sanitizer, AddressSanitizer.
    export RUSTUP_TOOLCHAIN=nightly
    export CARGO_FUZZ_FLAGS=
    echo "== toolchain: nightly, AddressSanitizer (as OSS-Fuzz builds)"
else
    export CARGO_FUZZ_FLAGS="-s none"
    echo "== toolchain: $(rustc --version), no sanitizer (-s none)"
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz (cargo install cargo-fuzz --locked)"
    cargo install cargo-fuzz --locked || die "cargo install cargo-fuzz failed"
fi

work=$(mktemp -d)
if [[ -n $keep ]]; then
    trap 'echo "kept: SRC=$work/src OUT=$work/out"' EXIT
else
    trap 'rm -rf "$work"' EXIT
fi
export SRC=$work/src OUT=$work/out
mkdir -p "$SRC" "$OUT"
ln -s "$root" "$SRC/delalloc-fuzz"

echo "== oss-fuzz/build.sh (SRC=$SRC, OUT=$OUT)"
bash oss-fuzz/build.sh || {
    echo "oss-fuzz-local.sh: build.sh failed" >&2
    exit 1
}

echo "== \$OUT"
(cd "$OUT" && ls -l)

failed=0
fail() {
    echo "MISSING: $*"
    failed=1
}
# The targets build.sh does not ship, and why, are in oss-fuzz/build.sh; tests/all/oss_fuzz.rs keeps
# the two lists equal.
skip=(empty concurrent kernel_tree kernel_fs)
targets=()
for t in $(cargo fuzz list); do
    if [[ " ${skip[*]} " == *" $t "* ]]; then
        [[ ! -e $OUT/$t ]] || fail "\$OUT/$t: build.sh must not ship this target"
        continue
    fi
    targets+=("$t")
done
[[ ${#targets[@]} -gt 0 ]] || die "cargo fuzz list named no target"
for t in "${targets[@]}"; do
    [[ -x $OUT/$t ]] || fail "\$OUT/$t (binary)"
    [[ -s $OUT/${t}_seed_corpus.zip ]] || fail "\$OUT/${t}_seed_corpus.zip (seed corpus)"
    if [[ -f $OUT/$t.options ]]; then
        dict=$(sed -n 's/^dict *= *//p' "$OUT/$t.options")
        [[ -z $dict || -f $OUT/$dict ]] || fail "\$OUT/$dict (named by $t.options)"
    else
        fail "\$OUT/$t.options"
    fi
done

# Each binary on its seed corpus, with its options as libFuzzer flags.
printf '\n%-12s %8s %10s %10s %8s  %s\n' target seconds execs execs/s seeds result
for t in "${targets[@]}"; do
    [[ -x $OUT/$t && -s $OUT/${t}_seed_corpus.zip ]] || continue
    seeds=$work/seeds/$t
    mkdir -p "$seeds" "$work/artifacts/$t"
    unzip -q "$OUT/${t}_seed_corpus.zip" -d "$seeds"
    n_seeds=$(find "$seeds" -type f | wc -l)
    flags=()
    if [[ -f $OUT/$t.options ]]; then
        while IFS='=' read -r key value; do
            key=${key// /}
            value=${value# }
            [[ -z $key || $key == \#* || $key == \[* ]] && continue
            [[ $key == dict ]] && value=$OUT/$value
            flags+=("-$key=$value")
        done <"$OUT/$t.options"
    fi
    log=$work/$t.log
    set +e
    (cd "$work/artifacts/$t" && "$OUT/$t" "${flags[@]}" -max_total_time="$seconds" -print_final_stats=1 \
        -artifact_prefix="$work/artifacts/$t/" "$seeds") >"$log" 2>&1
    status=$?
    set -e
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n1)
    result=ok
    if [[ $status -ne 0 ]]; then
        result="FAILED (exit $status; log below)"
        failed=1
    fi
    printf '%-12s %8s %10s %10s %8s  %s\n' "$t" "$seconds" "${execs:-?}" "${rate:-?}" "$n_seeds" "$result"
    if [[ $status -ne 0 ]]; then
        tail -n 40 "$log" | sed 's/^/    /'
    fi
done

if [[ $failed -ne 0 ]]; then
    echo "oss-fuzz-local: FAILED"
    exit 1
fi
echo "oss-fuzz-local: OK: ${#targets[@]} targets (${targets[*]}), each with a binary, a seed corpus zip and options"
