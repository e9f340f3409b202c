#!/usr/bin/env bash
# The tests and the fuzz targets under AddressSanitizer + UndefinedBehaviorSanitizer (clang).
#
#   scripts/sanitize.sh [--fast] [--fuzz-seconds S] [--jobs N]
#
# One build in build-sanitize/ (or $OCTET_SANITIZE_BUILD): clang++ with -DOCTET_FUZZ=ON, so the
# library, the CLI, the test binaries and the libFuzzer targets all carry ASan + UBSan
# (-fno-sanitize-recover=undefined, leak detection on); -O1 with line tables, CUDA off.
#   1. the test layers (--fast: FAST_LAYERS below, what CI runs; else every layer) under ctest;
#   2. every fuzz target for S seconds (default 30; 0 skips) through scripts/fuzz.sh.
# Exits non-zero on a failed test (a sanitizer report fails its test) or a fuzz finding.
# CI (.ci/run) runs `scripts/sanitize.sh --fast` after scripts/test.sh; docs/reliability.md
# has the measured times. The GCC build of the whole suite is `OCTET_SANITIZE=1 scripts/test.sh`.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${OCTET_SANITIZE_BUILD:-$ROOT/build-sanitize}"
# The layers that read untrusted bytes (io: safetensors / GGUF / checkpoints and the fuzz
# replays; text: tokenizers; formats: the block codecs; hf_checkpoints: AWQ / GPTQ / FP8
# readers; models: config.json and GGUF -> builders; serve: the HTTP server, which takes requests
# from the network), the thread pool and tensor core, and the CPU kernels (SIMD tails are where
# out-of-bounds reads hide).
FAST_LAYERS=(core io text formats hf_checkpoints models kernels serve)
# In --fast, the kjv-llama round trips of hf_checkpoints are left out: minutes of model compute
# under ASan (330 s of the layer's 370 s) reading the same checkpoints the smaller tests read.
FAST_EXCLUDE='Kjv/RoundTrip|RoundTripPerplexity'

FUZZ_SECONDS=30
JOBS="${OCTET_JOBS:-$(nproc)}"
FAST=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --fast) FAST=1; shift ;;
    --fuzz-seconds) FUZZ_SECONDS="$2"; shift 2 ;;
    --jobs) JOBS="$2"; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "sanitize.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
# No -Werror here: clang warns where GCC does not (-Wsign-compare on cpuid's return); the GCC
# build (scripts/test.sh) is the warning gate.
command -v clang++ >/dev/null || { echo "sanitize.sh: clang++ not found (scripts/setup.sh installs clang)" >&2; exit 2; }

LAUNCHER=()
command -v ccache >/dev/null && LAUNCHER=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
start=$(date +%s)
cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only -DNDEBUG" -DOCTET_FUZZ=ON -DOCTET_BUILD_TESTS=ON \
  -DOCTET_BUILD_BENCH=OFF -DOCTET_CUDA=OFF -DOCTET_WERROR=OFF "${LAUNCHER[@]}" >/dev/null

targets=(octet_cli)
labels=()
exclude=()
if [[ $FAST = 1 ]]; then
  exclude=(-E "$FAST_EXCLUDE")
  for layer in "${FAST_LAYERS[@]}"; do targets+=("octet_${layer}_tests"); labels+=("$layer"); done
else
  for dir in "$ROOT"/tests/*/; do
    layer=$(basename "$dir")
    [[ $layer =~ ^(support|data|fuzz)$ ]] && continue
    compgen -G "$dir*.cc" >/dev/null || continue
    targets+=("octet_${layer}_tests"); labels+=("$layer")
  done
fi
for src in "$ROOT"/tests/fuzz/targets/fuzz_*.cc; do targets+=("$(basename "$src" .cc)"); done
ninja -C "$BUILD" -j"$JOBS" "${targets[@]}"
echo "sanitize.sh: build $(( $(date +%s) - start )) s"

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export OCTET_SHARED=${OCTET_SHARED:-$(cd "$ROOT/.." && pwd)/shared}
status=0
test_start=$(date +%s)
label_regex="^($(IFS='|'; echo "${labels[*]}"))\$"
ctest --test-dir "$BUILD" -L "$label_regex" "${exclude[@]}" -j "$JOBS" --output-on-failure --timeout 900 || status=1
echo "sanitize.sh: tests ($(IFS=' '; echo "${labels[*]}")) $(( $(date +%s) - test_start )) s"

if [[ $FUZZ_SECONDS -gt 0 ]]; then
  OCTET_FUZZ_BUILD="$BUILD" "$ROOT/scripts/fuzz.sh" --seconds "$FUZZ_SECONDS" --jobs "$JOBS" || status=1
fi
echo "sanitize.sh: $(( $(date +%s) - start )) s in all, status $status"
exit $status
