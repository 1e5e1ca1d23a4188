#!/usr/bin/env bash
# CI's fuzzing checks, run by .ci/run once cargo-fuzz is installed:
#   1. scripts/oss-fuzz-local.sh: oss-fuzz/build.sh outside Docker, one binary + seed corpus zip
#      + options per target, each binary 5 s on its seeds;
#   2. fuzz-all: every cargo-fuzz target CI_FUZZ_SECONDS (default 20) from its seed corpus on the
#      real models: must find nothing;
#   3. fuzz-all on fs_level with the injected bug (DELALLOC_FUZZ_BUGS): must find it (exit 1),
#      so a broken harness, decoder or artifact path cannot pass unnoticed. From the seeds it takes
#      under a hundred inputs; the run stops at the finding;
#   4. mutants --engine libfuzzer on two of the model's own bugs, one per differential target,
#      each needing libFuzzer's mutations past the seeds (a few hundred to about 1,500 inputs):
#      must find both (exit 0) and minimize each to a reproducer. Seconds.
# All four share one build: nightly + ASan as OSS-Fuzz builds when nightly is installed, else the
# current toolchain with -s none.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${CI_FUZZ_SECONDS:-20}
[[ $seconds =~ ^[1-9][0-9]*$ ]] || {
    echo "ci-fuzz.sh: CI_FUZZ_SECONDS must be a positive whole number, not '$seconds'" >&2
    exit 2
}
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then san=address; else san=none; fi
if ! command -v zip >/dev/null 2>&1 || ! command -v unzip >/dev/null 2>&1; then
    echo "ci-fuzz.sh: installing zip and unzip (apt-get)"
    { apt-get update -qq && apt-get install -y -qq zip unzip; } >/dev/null || {
        echo "ci-fuzz.sh: zip and unzip are missing and apt-get could not install them" >&2
        exit 1
    }
fi

# fuzz/ and fuzz/afl/ are workspaces of their own: a dependency added to the root crate must be
# in their lock files too, or `scripts/afl.sh` (which builds with --locked) fails on a clone.
echo "== lock files of the fuzz workspaces"
for manifest in fuzz/Cargo.toml fuzz/afl/Cargo.toml; do
    cargo metadata --locked --format-version 1 --manifest-path "$manifest" >/dev/null || {
        echo "ci-fuzz.sh: ${manifest%Cargo.toml}Cargo.lock is stale: run \`cargo metadata --manifest-path $manifest\` and commit it" >&2
        exit 1
    }
done

echo "== OSS-Fuzz build, outside Docker (sanitizer: $san)"
scripts/oss-fuzz-local.sh --sanitizer "$san" --seconds 5

echo "== fuzz-all: every target ${seconds} s on the real models"
cargo run --locked -q -- fuzz-all --sanitizer "$san" --seconds-per-target "$seconds"

echo "== fuzz-all: the injected bug must be found"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
DELALLOC_FUZZ_BUGS=nocow-writeback-end-rounds-down cargo run --locked -q -- fuzz-all \
    --sanitizer "$san" --target fs_level --seconds-per-target 300 >"$log" 2>&1
status=$?
set -e
grep -E '^(target|fs_level) |^(artifact|to keep it):' "$log" || true
if [[ $status -ne 1 ]] || ! grep -q '^FINDING in fs_level (libfuzzer)' "$log"; then
    cat "$log"
    echo "ci-fuzz.sh: fuzz-all did not report the injected bug (exit $status, expected 1)" >&2
    exit 1
fi

echo "== mutants --engine libfuzzer: two of the model's bugs, from the seed corpora"
cargo run --locked -q -- mutants --engine libfuzzer --sanitizer "$san" \
    --bug noreserve-data-freed,merge-ignores-boundary --runs 1 --seconds-per-bug 60 --seed 1

echo "ci-fuzz: OK (the injected bug was found and reported, the libFuzzer scoreboard found its bugs)"
