#!/usr/bin/env bash
# Sets up, builds and runs every test. This is the README's test command and what CI runs.
#   scripts/test.sh                 Release build in build/
#   OCTET_SANITIZE=1 scripts/test.sh  ASan+UBSan build in build-asan/
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
"$here/scripts/setup.sh"
export OCTET_SHARED=${OCTET_SHARED:-$(cd "$here/.." && pwd)/shared}
extra=()
if [ "${OCTET_SANITIZE:-0}" = 1 ]; then
  export OCTET_BUILD_DIR=${OCTET_BUILD_DIR:-$here/build-asan}
  extra+=(-DOCTET_SANITIZE=ON -DOCTET_BUILD_BENCH=OFF)
fi
# CUDA code is compiled when nvcc is present; its tests report "skipped: no GPU" without one.
"$here/scripts/build.sh" "${extra[@]}"
build_dir=${OCTET_BUILD_DIR:-$here/build}
ctest --test-dir "$build_dir" -j "${OCTET_JOBS:-$(nproc)}" --output-on-failure --timeout 900
