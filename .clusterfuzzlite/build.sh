#!/bin/bash -eu
# ClusterFuzzLite's build.sh: the same as OSS-Fuzz's, which lives in oss-fuzz/build.sh.
set -euo pipefail
exec "$SRC/delalloc-fuzz/oss-fuzz/build.sh" "$@"
