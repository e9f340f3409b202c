#!/usr/bin/env bash
# octet's native CPU LLM execution against llama.cpp on the same weights, same
# run, same thread count (issue 12's table; docs/llm_benchmarks.md).
#
#   bench/llm_vs_llama_cpp.sh [--model DIR] [--threads 2] [--prefill 512] [--decode 128] [--rounds 2]
#                             [--kv-cache f16] [--out DIR]
#
# KV cache: octet's rows decode with `bench-llm --kv-cache KV` (default f16, the
# precision of llama.cpp's default cache, so both runtimes read the same bytes
# per cached token; f32 was the only CPU choice before 2026-12-07).
#
# MODEL: an fp32 LLaMA folder with a tokenizer (default: `octet synth --arch
# llama --size 1b`, TinyLlama-1.1B's shapes, vocabulary 32000, written once
# into OUT). From it, once (kept in OUT):
#   octet folders  w8a16, w8a8-sq (calibrated on kjv.train.txt), w4a16-rtn
#                  group 32; all with --quantize-lm-head, as a GGUF's
#                  output.weight is quantized too;
#   GGUF files     octet export-gguf MODEL --type f16 | q8_0 | q4_0 | q4_k.
# Then ROUNDS interleaved rounds, each: the read bandwidth (bench_decode's
# BM_ReadBandwidth, when built), the fp32 model as fp32 and as bf16
# (`--precision bf16`: its Linears on the bf16 GEMM, where the CPU has AVX-512
# BF16), every octet folder (`octet bench-llm --batch 1` and `--batch 8`, each
# also reporting decode against the read bandwidth of the model's own weights
# measured just before and after it) and every GGUF in llama.cpp (bench/peers/llama_cpp.mjs, batch 1:
# PREFILL prompt ids, DECODE new tokens), each under /usr/bin/time for its
# peak RSS. bench/llm_vs_llama_cpp.py prints the table (median of rounds).
# Without node-llama-cpp the octet rows still run and the table says so.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OCTET="${OCTET:-$ROOT/build/bin/octet}"
BUILD_DIR="$(dirname "$(dirname "$OCTET")")"
SHARED="${OCTET_SHARED:-$ROOT/../shared}"
MODEL="" THREADS=2 PREFILL=512 DECODE=128 ROUNDS=2 KV=f16 OUT="$ROOT/bench/out/llm"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --model) MODEL="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    --prefill) PREFILL="$2"; shift 2 ;;
    --decode) DECODE="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    --kv-cache) KV="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "llm_vs_llama_cpp.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ -x "$OCTET" ]] || { echo "llm_vs_llama_cpp.sh: no octet binary at $OCTET (build first, or set OCTET=)" >&2; exit 2; }
mkdir -p "$OUT/results"
if [[ -z "$MODEL" ]]; then
  MODEL="$OUT/tinyllama-1b"
  [[ -f "$MODEL/config.json" && -f "$MODEL/tokenizer.gguf" ]] || "$OCTET" synth --arch llama --size 1b -o "$MODEL" --force
fi
CALIB="$SHARED/models/kjv-llama/kjv.train.txt"
declare -A RECIPE=(
  [w8a16]="--recipe w8a16 --quantize-lm-head"
  [w8a8-sq]="--recipe w8a8-sq --calib $CALIB --samples 16 --seq-len 256 --quantize-lm-head"
  [w4a16]="--recipe w4a16-rtn --group 32 --quantize-lm-head"
)
# gguf-*: octet itself on llama.cpp's files (Q8_0 / Q4_0 / Q4_K / Q6_K Linears run natively).
OCTET_CONFIGS=(fp32 bf16 w8a16 w8a8-sq w4a16 gguf-q8_0 gguf-q4_0 gguf-q4_k)
if ! grep -qw avx512_bf16 /proc/cpuinfo; then
  echo "this CPU lacks AVX-512 BF16: no octet bf16 row"
  OCTET_CONFIGS=("${OCTET_CONFIGS[@]/bf16}")
fi
GGUF_TYPES=(f16 q8_0 q4_0 q4_k)
for c in w8a16 w8a8-sq w4a16; do
  [[ -f "$OUT/$c/quantization_config.json" ]] || "$OCTET" quantize "$MODEL" -o "$OUT/$c" ${RECIPE[$c]} --force
done
for t in "${GGUF_TYPES[@]}"; do
  [[ -f "$OUT/model-$t.gguf" ]] || "$OCTET" export-gguf "$MODEL" -o "$OUT/model-$t.gguf" --type "$t" --force
done
# BOS then PREFILL - 1 ids drawn (seed 0) from the vocabulary past the special and byte pieces.
VOCAB=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['vocab_size'])" "$MODEL/config.json")
IDS=$(python3 -c "import random,sys; random.seed(0); n,v=int(sys.argv[1]),int(sys.argv[2]); print(','.join(['1']+[str(random.randrange(min(259,v-1),v)) for _ in range(n-1)]))" "$PREFILL" "$VOCAB")
rm -f "$OUT/results/"*.json "$OUT/results/"*.time
for ((r = 1; r <= ROUNDS; r++)); do
  echo "== round $r / $ROUNDS"
  if [[ -x "$BUILD_DIR/bench/bench_decode" ]]; then
    OCTET_NUM_THREADS=$THREADS "$BUILD_DIR/bench/bench_decode" --benchmark_filter=BM_ReadBandwidth \
      --benchmark_out="$OUT/results/bandwidth.r$r.json" --benchmark_out_format=json > /dev/null 2>&1 || true
  fi
  for c in "${OCTET_CONFIGS[@]}"; do
    [[ -n $c ]] || continue
    dir="$OUT/$c"; [[ $c == fp32 || $c == bf16 ]] && dir="$MODEL"; [[ $c == gguf-* ]] && dir="$OUT/model-${c#gguf-}.gguf"
    precision=(); [[ $c == fp32 || $c == bf16 ]] && precision=(--precision "$c")
    echo "   octet $c"
    # Batch 1 and batch 8 in separate processes: the peak RSS of batch 1 is the model's own (weights + KV).
    /usr/bin/time -f '%M' -o "$OUT/results/octet-$c.r$r.time" \
      "$OCTET" bench-llm "$dir" "${precision[@]}" --prefill "$PREFILL" --decode "$DECODE" --batch 1 --threads "$THREADS" --kv-cache "$KV" --json \
      > "$OUT/results/octet-$c.r$r.json"
    "$OCTET" bench-llm "$dir" "${precision[@]}" --prefill "$PREFILL" --decode "$DECODE" --batch 8 --threads "$THREADS" --kv-cache "$KV" --json \
      > "$OUT/results/octet-$c-b8.r$r.json"
  done
  for t in "${GGUF_TYPES[@]}"; do
    echo "   llama.cpp $t"
    /usr/bin/time -f '%M' -o "$OUT/results/llama-$t.r$r.time" \
      node "$ROOT/bench/peers/llama_cpp.mjs" "$OUT/model-$t.gguf" --prompt-ids "$IDS" --max-new-tokens "$DECODE" \
      --threads "$THREADS" > "$OUT/results/llama-$t.r$r.json" || true
  done
done
python3 "$ROOT/bench/llm_vs_llama_cpp.py" --out "$OUT" --model "$MODEL" --threads "$THREADS" --prefill "$PREFILL" \
  --decode "$DECODE" --rounds "$ROUNDS" --kv-cache "$KV" | tee "$OUT/table.md"
