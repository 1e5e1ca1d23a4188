#!/usr/bin/env bash
# A mutation score for the optimized model: cargo-mutants mutates optimized/src (operators,
# function bodies, conditions) and judges each mutant by one short differential campaign,
# tests/all/mutation_campaign.rs: the built-in engine against the reference at each level and era
# (4,000 programs each), eight long programs that build trees of hundreds of records, and the
# concurrent oracle on the shuttle build (1,500 programs), from fixed seeds with fixed budgets,
# so a verdict is reproducible. Then prints the counts.
#
#   scripts/cargo-mutants.sh K/N     run shard K of N (K from 0 to N-1; default 0/3)
#   scripts/cargo-mutants.sh list    list the mutants and their count, run nothing
#   scripts/cargo-mutants.sh counts DIR   the counts of a finished (or stopped) run's DIR/mutants.out
#   scripts/cargo-mutants.sh rerun DIR    test again the mutants DIR's run missed or timed out
#                                         (after a generator or oracle change), into DIR-rerun
#
# N=3 makes a shard of about 465 mutants, under an hour on a 2-core machine with one build at a
# time (CARGO_MUTANTS_JOBS, default 1: more builds in parallel only pay with cores to spare).
# Shards are round-robin, so each one samples every file rather than a slice of one.
# Output: target/cargo-mutants/shard-K-of-N/mutants.out (outcomes.json, caught.txt, missed.txt,
# unviable.txt, timeout.txt, and each mutant's diff and log). The last line printed is
#   mutants: T in optimized/, S in shard K/N, tested X: caught C, missed M, unviable U, timeout O; caught share of viable P%
# where viable = caught + missed + timeout (a timeout is a mutant the campaign did not let
# through, counted apart). Exit status: cargo-mutants' own (0 all caught, 2 missed, 3 timeouts,
# 4 the unmutated tree fails), or 1 for a bad argument.
#
# What is mutated: optimized/src but code that serves only tests: bugs.rs, the catalog of
# re-introducible historical bugs (names, commits, expected fields, parsing, the bit set), which
# tests/all/mutants.rs judges (the campaign replays the catalog's reproducers, so the bugs'
# branches in the model code are mutated and judged); and the structure checks
# (ExtentMap::check, check_node and shape, ExtentIoTree::check_invariants,
# Optimized::check_structure), which no model path runs: the campaign uses them as its oracle.
# `#[cfg(test)]` modules are skipped by cargo-mutants itself.
#
# Build speed: every mutant rebuilds optimized/, its shuttle twin (same sources), the root crate
# and the test binary, so they are built with the `mutants` profile (Cargo.toml: opt-level 1,
# incremental, no debug info; dependencies at opt-level 3). The script first runs the campaign
# on the unmutated tree (cargo-mutants' own baseline cannot, see below), which builds the
# dependencies once into target/cargo-mutants/build; the mutants build into that same dir, from
# a copy of the tree (not --in-place: a run never leaves a mutation in the working tree); no
# other build may use that dir while a shard runs (see where it is set). Measured here: a
# mutant takes about 6 s (2-3 s incremental build, 2-3 s campaign); a first run adds a few
# minutes of dependency builds. A mutant that makes the campaign loop fails the campaign's own
# 20 s hang check (caught, as a fuzzer's timeout is a finding); cargo-mutants' 40 s timeout only
# stops one that hangs where that check cannot see, in the build, say.
set -euo pipefail
cd "$(dirname "$0")/.."

# The cargo-mutants release this script was written against; options and outcomes.json fields
# are from it.
version=27.1.0
arg=${1:-0/3}
out_root=target/cargo-mutants

# counts MUTANTS_OUT: the summary line from outcomes.json (rewritten after every mutant, so a
# stopped run has its counts so far).
counts() {
    local json=$1/outcomes.json n
    [[ -f $json ]] || { echo "cargo-mutants.sh: no $json" >&2; return 1; }
    # One outcome per mutant, plus the baseline's ("Success"); grep keeps this free of jq/python.
    # (grep finds none: status 1, which pipefail would pass on.)
    n() { { grep -o "\"summary\": *\"$1\"" "$json" || true; } | wc -l; }
    local caught missed unviable timeout viable share
    caught=$(n CaughtMutant)
    missed=$(n MissedMutant)
    unviable=$(n Unviable)
    timeout=$(n Timeout)
    viable=$((caught + missed + timeout))
    share=$(awk -v c="$caught" -v v="$viable" 'BEGIN { if (v) printf "%.1f%%", 100 * c / v; else print "-" }')
    echo "tested $((caught + missed + unviable + timeout)): caught $caught, missed $missed, unviable $unviable, timeout $timeout; caught share of viable $share"
}

if ! cargo mutants --version 2>/dev/null | grep -qx "cargo-mutants $version"; then
    echo "cargo-mutants.sh: installing cargo-mutants $version" >&2
    cargo install --locked --version "$version" cargo-mutants
fi

mutate=(--package delalloc-optimized --exclude optimized/src/bugs.rs
    --exclude-re '(ExtentMap<B, I>::(check|check_node|shape)|ExtentIoTree::check_invariants|Optimized::check_structure)( |$)')
# select: the mutants a run tests, as cargo-mutants options; label: how the summary names them.
case $arg in
    -h | --help) sed -n '2,40p' "$0"; exit 0 ;;
    list) cargo mutants "${mutate[@]}" --list; exit 0 ;;
    counts)
        dir=${2:?"usage: scripts/cargo-mutants.sh counts DIR (the --output dir of a run)"}
        counts "$dir/mutants.out"
        exit 0
        ;;
    rerun)
        dir=${2:?"usage: scripts/cargo-mutants.sh rerun DIR (the --output dir of a run)"}
        again=$(cat "$dir/mutants.out/missed.txt" "$dir/mutants.out/timeout.txt" 2>/dev/null || true)
        [[ -n $again ]] || { echo "cargo-mutants.sh: no missed or timed-out mutants in $dir/mutants.out" >&2; exit 1; }
        # One regex naming each mutant exactly, as `--list` prints it. (cargo-mutants 27.1 keeps
        # its "delete field" mutants whatever --re says: a rerun tests those too.)
        re=$(sed -e 's/[][\\.*^$()+?{}|]/\\&/g' -e 's/^/^/' -e 's/$/$/' <<<"$again" | paste -sd '|')
        select=(--re "$re")
        out=${dir%/}-rerun
        label="$(wc -l <<<"$again") missed or timed out in $dir"
        ;;
    *)
        if ! [[ $arg =~ ^([0-9]+)/([0-9]+)$ ]] || ((10#${BASH_REMATCH[2]} == 0)) \
            || ((10#${BASH_REMATCH[1]} >= 10#${BASH_REMATCH[2]})); then
            echo "cargo-mutants.sh: bad argument '$arg': expected a shard K/N with 0 <= K < N (e.g. 0/3), 'list', 'counts DIR' or 'rerun DIR'" >&2
            exit 1
        fi
        k=$((10#${BASH_REMATCH[1]}))
        n=$((10#${BASH_REMATCH[2]}))
        select=(--shard "$k/$n" --sharding round-robin)
        out=$out_root/shard-$k-of-$n
        label="$(cargo mutants "${mutate[@]}" --list "${select[@]}" | wc -l) in shard $k/$n"
        ;;
esac
mkdir -p "$out"
total=$(cargo mutants "${mutate[@]}" --list | wc -l)
echo "cargo-mutants.sh: $total mutants in optimized/, $label; output in $out/mutants.out" >&2

# The extent map with small nodes (optimized/src/extent_tree.rs): with the production 63-entry
# leaves and 128-child inner nodes no campaign program builds a tree that splits an inner node,
# so the map's split, borrow and merge code would be missed for want of a deep tree, not
# because the oracle cannot tell. Any RUSTFLAGS of the caller are kept.
export RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }--cfg delalloc_small_nodes"
# The builds go to a target dir of the script's own. A mutated copy's workspace members build to
# the same artifact names as the checkout's (measured: a `cargo test --profile mutants` in the
# checkout during a shard linked a mutant's extent map and failed), so nothing but the shard may
# build into it while the shard runs; and a build there never invalidates the checkout's.
jobs=${CARGO_MUTANTS_JOBS:-1}
build_dir=$PWD/$out_root/build
# The unmutated tree first, as cargo-mutants' baseline would be: its own baseline tests only the
# mutated package (delalloc-optimized), which does not hold the campaign, whatever
# --test-package says (cargo-mutants 27.1 lab.rs run_baseline), so it is skipped below and run
# here.
if ! CARGO_TARGET_DIR=$build_dir cargo test --profile mutants --test all -- --ignored --exact \
    mutation_campaign::mutation_campaign; then
    echo "cargo-mutants.sh: the campaign fails on the unmutated tree: no mutant can be judged" >&2
    exit 4
fi
# With one build at a time, the mutants build into that same dir (cargo-mutants leaves
# CARGO_TARGET_DIR alone): the dependencies built just above are reused rather than built again
# in the copy, saving minutes per shard. With more jobs each copy keeps its own target dir, or
# the builds would wait on each other.
if [[ $jobs == 1 ]]; then
    export CARGO_TARGET_DIR=$build_dir
fi
status=0
cargo mutants "${mutate[@]}" "${select[@]}" --baseline skip \
    --jobs "$jobs" \
    --profile mutants \
    --timeout 40 \
    --output "$out" \
    --test-package delalloc-fuzz \
    -- --test all -- --ignored --exact mutation_campaign::mutation_campaign || status=$?
echo "mutants: $total in optimized/, $label, $(counts "$out/mutants.out")"
exit "$status"
