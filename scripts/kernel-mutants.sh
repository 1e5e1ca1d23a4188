#!/usr/bin/env bash
# Kernel mutants: for each patch in corpus/kernel-mutants and each kernel version, builds the
# kernel/ crate with DELALLOC_KERNEL_PATCH=<patch> and runs its era-6 differentials against the
# reference: kernel/tests/kernel_tree.rs (the kernel's io tree, and its inode tree with the
# delalloc hooks) and kernel/tests/kernel_model_fs.rs (the file-system level, era C, on the
# kernel's delalloc-space.c and block-rsv.c), then prints
# a table: mutant, version, applies, caught by the test, seconds. The clean tree is run first for
# each version and must pass, or no "caught" means anything.
#
#   scripts/kernel-mutants.sh [6.1|6.12|all]       (default all; needs scripts/kernel-source.sh)
#
# MUTANTS=GLOB picks patches by file name (e.g. MUTANTS='clear-*'); DELALLOC_KERNEL_TEST_SEEDS=N
# runs more programs (default 60 seeds). Builds go to kernel/target/mutants (one target dir,
# rebuilt per row) and each row's log to kernel/target/mutants/logs/.
#
# A patch named NAME.<version>.patch is the variant of NAME for that version only (a patch that
# cannot serve both trees; its header says why); NAME.patch is for every version.
# "applies" is `patch -p1 --dry-run` against the tree (which is never written; "fuzz" when it
# needs fuzz, which kernel/tests/kernel_mutants.rs refuses). "caught" is yes
# when a test fails on the mutant; "not compiled" when the build reports that the patch changes
# a file it does not compile.
# Exit status 1 when the clean tree fails, a patch does not apply or does not build, or an
# applicable mutant of compiled code is not caught.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD

want=${1:-all}
case $want in
    6.1 | 6.12) versions=("$want") ;;
    all) versions=(6.12 6.1) ;;
    -h | --help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "kernel-mutants.sh: unknown version '$want': expected 6.1, 6.12 or all" >&2; exit 2 ;;
esac

unset DELALLOC_KERNEL_SRC DELALLOC_KERNEL_PATCH
export CARGO_TARGET_DIR=$root/kernel/target/mutants
logs=$CARGO_TARGET_DIR/logs
mkdir -p "$logs"
# The era-6 differentials: the self-test tree (io tree only), the inode tree with the hooks, and
# the file-system level.
binaries=(--test kernel_tree --test kernel_model_fs)
tests=(random_ops_agree_exactly_with_the_reference_in_era_6 random_hook_ops_agree_exactly_with_the_reference_in_era_6 random_era_6_fs_programs_agree_exactly_with_the_reference)
bad=0
rows=()

# run VERSION PATCH-or-empty LABEL: one table row.
run() {
    local v=$1 patch=$2 label=$3 applies=- caught t0 log
    t0=$(date +%s)
    mkdir -p "$logs/$v"
    log=$logs/$v/${label%.patch}.log
    : >"$log"
    if [[ -n $patch ]]; then
        if LC_ALL=C patch -p1 --dry-run --batch --forward -d "target/kernel-src/linux-$v" \
            -i "$patch" >>"$log" 2>&1; then
            applies=yes
            grep -q fuzz "$log" && applies=fuzz
        else
            applies=no
        fi
    fi
    if [[ $applies == no ]]; then
        caught=-
        bad=1
    elif ! (cd kernel && DELALLOC_KERNEL_VERSION=$v DELALLOC_KERNEL_PATCH=$patch \
        nice cargo test "${binaries[@]}" --no-run) >>"$log" 2>&1; then
        caught="build failed"
        bad=1
    elif grep -q "which this build does not compile" "$log"; then
        caught="not compiled"
    elif (cd kernel && DELALLOC_KERNEL_VERSION=$v DELALLOC_KERNEL_PATCH=$patch \
        nice cargo test "${binaries[@]}" -- --exact "${tests[@]}") >>"$log" 2>&1; then
        if [[ -n $patch ]]; then
            caught=NO
            bad=1
        else
            caught="no (clean: passes)"
        fi
    else
        if [[ -n $patch ]]; then
            caught=yes
        else
            caught="CLEAN TREE FAILS"
            bad=1
        fi
    fi
    rows+=("$(printf '%-42s %-5s %-7s %-19s %4ss' "$label" "$v" "$applies" "$caught" \
        $(($(date +%s) - t0)))")
    echo "${rows[-1]}" >&2
}

for v in "${versions[@]}"; do
    if [[ ! -f target/kernel-src/linux-$v/fs/btrfs/extent-io-tree.c ]]; then
        echo "kernel-mutants.sh: no linux-$v tree: run scripts/kernel-source.sh $v" >&2
        exit 2
    fi
    run "$v" "" "(clean)"
    for p in corpus/kernel-mutants/${MUTANTS:-*}.patch; do
        [[ -f $p ]] || continue
        name=$(basename "$p")
        # NAME.<version>.patch: only for that version.
        if [[ $name =~ \.([0-9]+\.[0-9]+)\.patch$ && ${BASH_REMATCH[1]} != "$v" ]]; then
            continue
        fi
        run "$v" "$root/$p" "$name"
    done
done

echo
printf '%-42s %-5s %-7s %-19s %5s\n' mutant version applies "caught by test" seconds
for r in "${rows[@]}"; do echo "$r"; done
exit $bad
