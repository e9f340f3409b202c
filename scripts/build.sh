#!/usr/bin/env bash
# Configures and builds octet (Release) into build/ (or $OCTET_BUILD_DIR).
#   scripts/build.sh [extra cmake -D options...]
#   OCTET_BUILD_TARGETS="a b" scripts/build.sh ...   builds only those targets
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${OCTET_BUILD_DIR:-$here/build}
jobs=${OCTET_JOBS:-$(nproc)}
cmake -S "$here" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DOCTET_WERROR=ON "$@" >/dev/null
targets=()
for t in ${OCTET_BUILD_TARGETS:-}; do targets+=(--target "$t"); done
cmake --build "$build_dir" -j "$jobs" "${targets[@]}"
