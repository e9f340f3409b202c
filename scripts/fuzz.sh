#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, -DOCTET_FUZZ=ON, ASan + UBSan) in build-fuzz/
# (or $OCTET_FUZZ_BUILD) and runs each one (or TARGET) for S seconds on a copy of its
# seed corpus, N targets at a time (default 2; also the build's -j).
#
#   scripts/fuzz.sh [TARGET...] [--seconds S] [--jobs N]
#
# Targets: safetensors gguf gguf_model config_build tokenizer tokenizer_folder quantized_folder hf_quant serve_request
# (tests/fuzz/targets/fuzz_<target>.cc, entry code in tests/fuzz/fuzz_entries.h).
# Any crash, sanitizer report, leak, timeout (> 2 s per input) or OOM (> 2048 MB)
# is a finding: the input is minimised (-minimize_crash) and copied into
# tests/fuzz/regressions/<target>/, which the normal test suite replays
# (octet_io_tests FuzzReplay.*). Exits non-zero when anything was found.
set -uo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${OCTET_FUZZ_BUILD:-$ROOT/build-fuzz}"
ALL_TARGETS=(safetensors gguf gguf_model config_build tokenizer tokenizer_folder quantized_folder hf_quant serve_request)
SECONDS_PER_TARGET=60
JOBS="${JOBS:-2}"
TARGETS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seconds) SECONDS_PER_TARGET="$2"; shift 2 ;;
    --jobs) JOBS="$2"; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) TARGETS+=("$1"); shift ;;
  esac
done
[[ ${#TARGETS[@]} -eq 0 ]] && TARGETS=("${ALL_TARGETS[@]}")
for t in "${TARGETS[@]}"; do
  [[ -f "$ROOT/tests/fuzz/targets/fuzz_$t.cc" ]] || { echo "fuzz.sh: no target '$t' (${ALL_TARGETS[*]})" >&2; exit 2; }
done
command -v clang++ >/dev/null || { echo "fuzz.sh: clang++ not found (apt-get install -y clang libclang-rt-14-dev)" >&2; exit 2; }

LAUNCHER=()
command -v ccache >/dev/null && LAUNCHER=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
build_start=$(date +%s)
# A build folder already configured with OCTET_FUZZ=ON (scripts/sanitize.sh's, which also builds
# the tests) is used as it is; otherwise configure one for the fuzz targets alone.
if ! grep -qs '^OCTET_FUZZ:BOOL=ON' "$BUILD/CMakeCache.txt"; then
  cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
    -DOCTET_FUZZ=ON -DOCTET_BUILD_TESTS=OFF -DOCTET_BUILD_BENCH=OFF -DOCTET_CUDA=OFF "${LAUNCHER[@]}" >/dev/null || exit 1
fi
ninja -C "$BUILD" -j"$JOBS" "${TARGETS[@]/#/fuzz_}" || exit 1
echo "build: $(( $(date +%s) - build_start )) s"

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
# One pool thread per target: targets run --jobs at a time, and a 2-thread pool's worker polls
# between jobs, taking CPU from the other target (fuzz_gguf_model, 300 runs of one seed beside
# other work: 4.1 s wall / 2.5 s CPU with 1 thread, 7.4 s / 3.6 s with 2, 2026-12-06). The
# pool's threading is tested by the normal suite and scripts/test.sh --tsan.
export OCTET_NUM_THREADS="${OCTET_NUM_THREADS:-1}"
# The file-based targets write a folder per input: on tmpfs (/dev/shm) instead of a disk-backed
# /tmp, fuzz_quantized_folder runs 1,374 instead of 1,010 executions per second (40 s each,
# 2026-12-06). $TMPDIR, when set, wins.
scratch_root=/tmp
[[ -d /dev/shm && -w /dev/shm ]] && scratch_root=/dev/shm
WORK="$(mktemp -d "${TMPDIR:-$scratch_root}/octet-fuzz.XXXXXX")"
export TMPDIR="$WORK"  # the targets' scratch folders (tests/fuzz/fuzz_entries.h) go here
trap 'rm -rf "$WORK"' EXIT
# One target: fuzz, then minimise and keep each finding; its summary line goes to $WORK/summary_<t>.
fuzz_one() {
  local t="$1" corpus artifacts dict log start elapsed execs found a name min
  corpus="$WORK/corpus_$t" artifacts="$WORK/artifacts_$t/"
  mkdir -p "$corpus" "$artifacts"
  cp "$ROOT/tests/fuzz/corpus/$t/"* "$corpus/" 2>/dev/null
  dict=()
  [[ -f "$ROOT/tests/fuzz/dict/$t.dict" ]] && dict=(-dict="$ROOT/tests/fuzz/dict/$t.dict")
  log="$WORK/$t.log"
  echo "== $t: ${SECONDS_PER_TARGET} s"
  start=$(date +%s)
  # -fork keeps fuzzing after a finding (each crash, timeout and OOM is saved to artifact_prefix).
  "$BUILD/fuzz/fuzz_$t" "$corpus" "${dict[@]}" -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 -timeout=2 \
    -max_len=65536 -artifact_prefix="$artifacts" -print_final_stats=1 -fork=1 -ignore_crashes=1 -ignore_timeouts=1 \
    -ignore_ooms=1 >"$log" 2>&1
  elapsed=$(( $(date +%s) - start ))
  # fork mode prints "#N ... exec/s" progress lines from the parent; the last one has the total.
  execs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
  [[ -z "$execs" ]] && execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
  found=0
  for a in "$artifacts"*; do
    [[ -f "$a" ]] || continue
    found=$((found + 1))
    name="$(basename "$a")"
    min="$WORK/min_$name"
    # -max_total_time does not bound minimising a timeout (each step may wait 2 s): timeout(1) does.
    timeout 90 "$BUILD/fuzz/fuzz_$t" "$a" -minimize_crash=1 -max_total_time=30 -timeout=2 -rss_limit_mb=2048 \
      -exact_artifact_path="$min" >"$WORK/min_$name.log" 2>&1
    # Keep the minimised input only when it still fails (minimisation can end on a candidate that
    # no longer reproduces); else the original.
    if [[ ! -s "$min" ]] || "$BUILD/fuzz/fuzz_$t" "$min" -timeout=2 -rss_limit_mb=2048 >/dev/null 2>&1; then
      cp "$a" "$min"
    fi
    mkdir -p "$ROOT/tests/fuzz/regressions/$t"
    cp "$min" "$ROOT/tests/fuzz/regressions/$t/$name"
    echo "   finding: tests/fuzz/regressions/$t/$name"
    grep -m3 -E 'ERROR: (AddressSanitizer|libFuzzer|LeakSanitizer)|runtime error|==ERROR|Timeout|out-of-memory|terminate called|deadly signal' \
      "$WORK/min_$name.log" "$log" 2>/dev/null | head -3 | sed 's/^/     /'
  done
  printf '%-18s %8s %12s %10s %8s\n' "$t" "$elapsed" "${execs:-?}" "$(( ${execs:-0} / (elapsed > 0 ? elapsed : 1) ))" \
    "$found" > "$WORK/summary_$t"
  [[ -n "${OCTET_FUZZ_KEEP_LOGS:-}" ]] && cp "$log" "$OCTET_FUZZ_KEEP_LOGS/" 2>/dev/null
  [[ $found -eq 0 ]]
}

# Targets run --jobs at a time (each is one libFuzzer worker plus its idle fork-mode parent).
status=0
running=0
for t in "${TARGETS[@]}"; do
  if [[ $running -ge $JOBS ]]; then
    wait -n || status=1
    running=$((running - 1))
  fi
  fuzz_one "$t" &
  running=$((running + 1))
done
while [[ $running -gt 0 ]]; do
  wait -n || status=1
  running=$((running - 1))
done
echo
printf '%-18s %8s %12s %10s %8s\n' target seconds executions exec/s findings
for t in "${TARGETS[@]}"; do cat "$WORK/summary_$t" 2>/dev/null || echo "$t: no summary"; done
exit $status
