#!/usr/bin/env bash
# Installs headless Chromium from the distribution's packages (Debian's `chromium`) when no
# Chromium is on the PATH, and prints the binary's path. The report page's test
# (tests/all/cli_report.rs) opens a page in it and fails, saying how to install it, without it.
#
#   scripts/chromium.sh
#
# Needs root for apt-get (or sudo); runs apt-get update first when the package is unknown.
set -euo pipefail

die() { echo "chromium.sh: $*" >&2; exit 1; }

for b in chromium chromium-browser; do
    if command -v "$b" >/dev/null; then
        command -v "$b"
        exit 0
    fi
done
command -v apt-get >/dev/null || die "no chromium and no apt-get to install it: install Chromium by hand"
sudo=()
if [[ $(id -u) != 0 ]]; then
    command -v sudo >/dev/null || die "installing chromium needs root (apt-get install chromium), and sudo is missing"
    sudo=(sudo)
fi
if ! apt-cache show chromium >/dev/null 2>&1; then
    echo "chromium.sh: chromium unknown to apt, running apt-get update" >&2
    "${sudo[@]}" apt-get update -qq || die "apt-get update failed"
fi
echo "chromium.sh: installing chromium" >&2
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq chromium >&2 \
    || die "apt-get install chromium failed"
command -v chromium || die "chromium is installed but not on the PATH"
