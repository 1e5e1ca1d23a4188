#!/usr/bin/env bash
# A time-boxed AFL++ campaign on the file-system-level differential target (fuzz/afl/), from the
# seed corpus corpus/fs_level/.
#
#   scripts/afl.sh [SECONDS] [OUT_DIR]
#
# SECONDS: fuzzing time after calibration (afl-fuzz -V), default 60. OUT_DIR: afl-fuzz's output
# folder; it must not exist yet (default fuzz/afl/out/fs_level/run-<date>, a fresh one each time,
# so that no earlier campaign is overwritten). Installs cargo-afl if it is missing and builds
# AFL++ once (`cargo afl config --build`) for the current toolchain. DELALLOC_FUZZ_BUGS (see
# src/injected.rs) passes through to the target.
#
# Prints execs, execs/s, corpus size, crashes and hangs from afl-fuzz's fuzzer_stats. Exit codes:
# 0 no crash; 1 a crash was found (the files and the `delalloc-fuzz import` command are printed);
# 2 the campaign could not run (bad argument, missing tool, afl-fuzz failed to start).
set -euo pipefail
caller=$PWD
cd "$(dirname "$0")/.."
root=$PWD

die() {
    echo "afl.sh: $*" >&2
    exit 2
}

seconds=${1:-60}
[[ $seconds =~ ^[1-9][0-9]*$ ]] || die "SECONDS must be a positive whole number, not '$seconds' (usage: scripts/afl.sh [SECONDS] [OUT_DIR])"
[[ $# -le 2 ]] || die "too many arguments (usage: scripts/afl.sh [SECONDS] [OUT_DIR])"
out=${2:-fuzz/afl/out/fs_level/run-$(date +%Y%m%d-%H%M%S)}
# An OUT_DIR given on the command line is relative to where the script was started.
[[ $# -lt 2 || $out == /* ]] || out=$caller/$out
[[ ! -e $out ]] || die "$out already exists; pass a new OUT_DIR (afl.sh never overwrites a campaign)"
seeds=corpus/fs_level
[[ -n "$(ls -A "$seeds" 2>/dev/null)" ]] || die "$seeds is missing or empty: run \`cargo run --release -- corpus\`"

command -v cargo >/dev/null 2>&1 || die "cargo not found: install a Rust toolchain (rustup) first"

# 1. cargo-afl.
if ! cargo afl --version >/dev/null 2>&1; then
    echo "== installing cargo-afl (cargo install cargo-afl --locked)"
    cargo install cargo-afl --locked || die "cargo install cargo-afl failed"
fi
# "cargo-afl 0.18.2 (AFL++ version 4.40c)"
afl_version=$(cargo afl --version | awk '{print $2}')

# 2. AFL++ itself, built once per rustc and cargo-afl version, where cargo-afl keeps it
#    (cargo-afl-common: $XDG_DATA_HOME/afl.rs/rustc-<version>-<commit>/afl.rs-<version>/).
rustc_v=$(rustc -vV)
rustc_release=$(sed -n 's/^release: //p' <<<"$rustc_v")
rustc_commit=$(sed -n 's/^commit-hash: //p' <<<"$rustc_v")
afl_data=${XDG_DATA_HOME:-$HOME/.local/share}/afl.rs/rustc-$rustc_release${rustc_commit:+-${rustc_commit:0:7}}/afl.rs-$afl_version
if [[ -f $afl_data/afl-llvm/afl-compiler-rt.o && -x $afl_data/afl/bin/afl-fuzz ]]; then
    echo "== AFL++ already built for rustc $rustc_release, cargo-afl $afl_version ($afl_data)"
else
    echo "== building AFL++ (cargo afl config --build), once for this toolchain"
    # cargo-afl refuses a second build; if its path differs from the guess above, that is fine.
    if ! config_log=$(cargo afl config --build 2>&1); then
        grep -q "already built" <<<"$config_log" || {
            echo "$config_log" >&2
            die "cargo afl config --build failed (it needs make and a C compiler)"
        }
    fi
fi

# 3. The harness.
echo "== building the harness (fuzz/afl: cargo afl build --release)"
(cd fuzz/afl && cargo afl build --release --locked) || die "cargo afl build failed"
harness=$root/fuzz/afl/target/release/fs_level

# 4. The campaign. This machine's kernel hands core dumps to a program and its CPU frequency is
#    not ours to set: AFL's checks for both are told to carry on. It binds to a free core if
#    there is one and runs anyway if not (the cores may be shared). afl-fuzz's screen on a
#    terminal, plain status lines elsewhere (CI, a pipe).
afl_env=(AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_TRY_AFFINITY=1
    AFL_SUPPRESS_ERROR_PROMPT=1)
[[ -t 1 ]] || afl_env+=(AFL_NO_UI=1)
mkdir -p "$(dirname "$out")"
echo "== afl-fuzz for ${seconds}s: seeds $seeds, output $out${DELALLOC_FUZZ_BUGS:+, DELALLOC_FUZZ_BUGS=$DELALLOC_FUZZ_BUGS}"
set +e
env "${afl_env[@]}" cargo afl fuzz -i "$seeds" -o "$out" -V "$seconds" -- "$harness"
status=$?
set -e

stats=$out/default/fuzzer_stats
if [[ ! -f $stats ]]; then
    die "afl-fuzz exited with status $status before writing $stats (its output is above)"
fi
afl_stat() { sed -n "s/^$1 *: *//p" "$stats" | head -n1; }
execs=$(afl_stat execs_done)
rate=$(afl_stat execs_per_sec)
run_time=$(afl_stat run_time)
corpus=$(afl_stat corpus_count)
crashes=$(afl_stat saved_crashes)
hangs=$(afl_stat saved_hangs)
: "${crashes:=$(afl_stat unique_crashes)}" "${hangs:=$(afl_stat unique_hangs)}"
echo
echo "AFL++ fs_level: ${run_time:-?}s, ${execs:-?} execs, ${rate:-?} execs/s, corpus ${corpus:-?}, crashes ${crashes:-?}, hangs ${hangs:-?}"
echo "output: $out"

crash_files=()
if [[ -d $out/default/crashes ]]; then
    while IFS= read -r f; do crash_files+=("$f"); done < <(find "$out/default/crashes" -name 'id:*' -type f | sort)
fi
if [[ ${#crash_files[@]} -gt 0 || ${crashes:-0} -gt 0 ]]; then
    echo "FOUND ${#crash_files[@]} crash(es) in $out/default/crashes/:"
    printf '  %s\n' "${crash_files[@]:0:5}"
    [[ ${#crash_files[@]} -le 5 ]] || echo "  ... and $((${#crash_files[@]} - 5)) more"
    echo "to see one:  ${DELALLOC_FUZZ_BUGS:+DELALLOC_FUZZ_BUGS=$DELALLOC_FUZZ_BUGS }cargo run --release -- replay --level fs '${crash_files[0]:-$out/default/crashes}'"
    echo "to keep it:  ${DELALLOC_FUZZ_BUGS:+DELALLOC_FUZZ_BUGS=$DELALLOC_FUZZ_BUGS }cargo run --release -- import --level fs '${crash_files[0]:-$out/default/crashes}'"
    exit 1
fi
if [[ $status -ne 0 ]]; then
    die "afl-fuzz exited with status $status (its output is above)"
fi
echo "no crash"
