#!/usr/bin/env bash
# Unpacks the kernel source the kernel/ crate compiles (fs/btrfs/extent-io-tree.c, lib/rbtree.c and
# the headers they include) from the distribution's kernel source package into
#   target/kernel-src/linux-<version>/
# and prints that path. No kernel source is ever committed: this cache is under target/.
#
#   scripts/kernel-source.sh [6.1|6.12|all]     (default 6.12)
#
# If /usr/src/linux-source-<version>.tar.xz is missing, installs the Debian package
# linux-source-<version> with apt-get (needs root; runs apt-get update first when the package is
# unknown). A stamp file records a finished extraction, so a second run does nothing.
# Members extracted: fs/btrfs, include, lib/rbtree.c and the top Makefile (for the release):
# ~64 MB. kernel/ compiles extent-io-tree.c and rbtree.c with only include/linux/rbtree*.h from
# include/; the rest of include/ is kept for the next steps (the delalloc hooks) and for reading.
# ~10 s per version, dominated by xz decompressing the whole tarball whatever the members.
# To use your own tree instead (a git checkout with your patch), skip this script and set
# DELALLOC_KERNEL_SRC=/path/to/linux when building kernel/.
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "kernel-source.sh: $*" >&2; exit 1; }

want=${1:-6.12}
case $want in
    6.1 | 6.12) versions=("$want") ;;
    all) versions=(6.1 6.12) ;;
    -h | --help) sed -n '2,16p' "$0"; exit 0 ;;
    *) die "unknown version '$want': expected 6.1, 6.12 or all" ;;
esac

install_package() {
    local pkg=$1
    command -v apt-get >/dev/null || die "/usr/src/$pkg.tar.xz is missing and there is no apt-get to install $pkg; install it by hand, or point DELALLOC_KERNEL_SRC at a kernel tree"
    local sudo=()
    if [[ $(id -u) != 0 ]]; then
        command -v sudo >/dev/null || die "installing $pkg needs root (apt-get install $pkg), and sudo is missing"
        sudo=(sudo)
    fi
    if ! apt-cache show "$pkg" >/dev/null 2>&1; then
        echo "kernel-source.sh: $pkg unknown to apt, running apt-get update" >&2
        "${sudo[@]}" apt-get update -qq || die "apt-get update failed"
    fi
    apt-cache show "$pkg" >/dev/null 2>&1 || die "no package $pkg in this machine's repositories"
    echo "kernel-source.sh: installing $pkg" >&2
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "$pkg" >&2 \
        || die "apt-get install $pkg failed"
}

for v in "${versions[@]}"; do
    pkg=linux-source-$v
    tarball=/usr/src/$pkg.tar.xz
    dest=target/kernel-src/linux-$v
    stamp=$dest/.extracted
    if [[ -f $stamp ]]; then
        echo "$PWD/$dest"
        continue
    fi
    [[ -f $tarball ]] || install_package "$pkg"
    [[ -f $tarball ]] || die "$pkg is installed but $tarball is not there"
    top=$pkg   # the tarball's top folder
    tmp=$(mktemp -d "target/kernel-src/.tmp-$v.XXXXXX" 2>/dev/null) || {
        mkdir -p target/kernel-src
        tmp=$(mktemp -d "target/kernel-src/.tmp-$v.XXXXXX")
    }
    trap 'rm -rf "$tmp"' EXIT
    echo "kernel-source.sh: extracting $tarball (members fs/btrfs include lib/rbtree.c Makefile)" >&2
    tar -xJf "$tarball" -C "$tmp" \
        "$top/fs/btrfs" "$top/include" "$top/lib/rbtree.c" "$top/Makefile" \
        || die "extracting from $tarball failed"
    [[ -f $tmp/$top/fs/btrfs/extent-io-tree.c ]] || die "$tarball has no fs/btrfs/extent-io-tree.c"
    rm -rf "$dest"
    mv "$tmp/$top" "$dest"
    rm -rf "$tmp"
    trap - EXIT
    # The package's own version (e.g. 6.12.118), for reports.
    kv=$(awk -F' = ' '/^VERSION =/{a=$2} /^PATCHLEVEL =/{b=$2} /^SUBLEVEL =/{c=$2} END{print a"."b"."c}' "$dest/Makefile")
    echo "$kv" >"$stamp"
    echo "$PWD/$dest"
done
