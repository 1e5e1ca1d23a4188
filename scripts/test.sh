#!/usr/bin/env bash
# The README's test command: every test, the kernel model's included.
#
#   scripts/test.sh [extra cargo test arguments]
#
# 1. scripts/kernel-source.sh: the kernel model is compiled from the distribution's kernel source
#    (Debian's linux-source-6.12); the first run installs the package with apt-get and unpacks
#    fs/btrfs, include and lib/rbtree.c under target/kernel-src/ (~1 min with the download, ~10 s
#    from the installed tarball; a stamp makes later runs instant). Skipped when
#    DELALLOC_KERNEL_SRC names a tree of your own.
# 2. scripts/chromium.sh: headless Chromium (Debian's chromium, apt-get on the first run), which
#    the report page's test opens a page in.
# 3. cargo test --workspace: unit, conformance state machine, regressions, mutants, CLI, and the
#    kernel model's tests (kernel/tests, the kernel self-tests as programs, --against kernel).
# .ci/run runs this, then the kernel crate again on 6.1 and under AddressSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -z ${DELALLOC_KERNEL_SRC:-} ]]; then
    bash scripts/kernel-source.sh "${DELALLOC_KERNEL_VERSION:-6.12}" >/dev/null
fi
bash scripts/chromium.sh >/dev/null
exec cargo test --workspace "$@"
