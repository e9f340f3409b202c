#!/usr/bin/env bash
# Sets up, builds and runs every test. This is the README's test command and what CI runs.
#   scripts/test.sh                   Release build in build/
#   OCTET_SANITIZE=1 scripts/test.sh  ASan+UBSan build (GCC) of the whole suite in build-asan/
#   scripts/test.sh --tsan            ThreadSanitizer build in build-tsan/: the thread pool (core),
#                                     runtime and server tests (docs/reliability.md)
# (scripts/sanitize.sh: the clang ASan+UBSan build CI runs, with the fuzz targets.)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
tsan=0
for a in "$@"; do
  case "$a" in
    --tsan) tsan=1 ;;
    *) echo "test.sh: unknown option '$a'" >&2; exit 2 ;;
  esac
done
"$here/scripts/setup.sh"
export OCTET_SHARED=${OCTET_SHARED:-$(cd "$here/.." && pwd)/shared}
extra=()
ctest_args=()
if [ "${OCTET_SANITIZE:-0}" = 1 ]; then
  export OCTET_BUILD_DIR=${OCTET_BUILD_DIR:-$here/build-asan}
  # CUDA off: nvcc's host compiler does not take the sanitizers, and without a GPU the CUDA
  # tests skip anyway. No -Werror: instrumented code makes GCC warn where the Release build
  # (the warning gate) does not, some with no option to turn them off ("ignoring loop
  # annotation" on the kernels' `#pragma GCC unroll`).
  extra+=(-DOCTET_SANITIZE=ON -DOCTET_BUILD_BENCH=OFF -DOCTET_CUDA=OFF -DOCTET_WERROR=OFF)
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
fi
if [ $tsan = 1 ]; then
  export OCTET_BUILD_DIR=${OCTET_BUILD_DIR:-$here/build-tsan}
  extra+=(-DOCTET_TSAN=ON -DOCTET_BUILD_BENCH=OFF -DOCTET_CUDA=OFF -DOCTET_WERROR=OFF)  # as above
  ctest_args+=(-L '^(core|runtime|serve)$')
  export OCTET_BUILD_TARGETS=${OCTET_BUILD_TARGETS:-octet_cli octet_core_tests octet_runtime_tests octet_serve_tests}
  export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:suppressions=$here/tests/tsan.supp}
fi
# CUDA code is compiled when nvcc is present; its tests report "skipped: no GPU" without one.
"$here/scripts/build.sh" "${extra[@]}"
build_dir=${OCTET_BUILD_DIR:-$here/build}
ctest --test-dir "$build_dir" -j "${OCTET_JOBS:-$(nproc)}" --output-on-failure --timeout 900 "${ctest_args[@]}"
