#!/usr/bin/env bash
# Configures and builds octet (Release) into build/ (or $OCTET_BUILD_DIR).
#   scripts/build.sh [extra cmake -D options...]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${OCTET_BUILD_DIR:-$here/build}
jobs=${OCTET_JOBS:-$(nproc)}
cmake -S "$here" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DOCTET_WERROR=ON "$@" >/dev/null
cmake --build "$build_dir" -j "$jobs"
