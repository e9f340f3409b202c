#!/usr/bin/env bash
# The benchmark tables of docs/benchmarks.md: octet fp32 / bf16 / INT8 against
# PyTorch fp32 / dynamic int8 and ONNX Runtime fp32 / INT8 QDQ, in one `octet
# bench` run, repeated, on a BERT-base-shaped model (random weights: latency only).
#
#   scripts/bench_table.sh [--model DIR] [--out DIR] [--repeats N] [--build DIR]
#                          [--batch B] [--seq S] [--iters N] [--precision LIST] [--peers LIST]
#                          [-- more octet bench options]
#
# Defaults: a BERT-base made by `octet synth --arch bert --size base` in $out/bert-base, 3
# repeats of `octet bench --batch 8 --seq 128 --threads 2 --warmup 3 --iters 12
# --rounds 4 --precision fp32,bf16,int8 --peers torch,torch-int8,ort,ort-int8`,
# results in $out (run-<i>.json, table.md). The median over the repeats of each
# runner's p50 is the headline; every repeat is listed too, with the ratios of
# the medians to PyTorch fp32, octet fp32 and ONNX Runtime (fp32 rows against
# ORT fp32, int8 rows against ORT int8-qdq).
# Nothing is set for OPENBLAS_CORETYPE: whatever the environment has is used and
# reported (octet re-executes itself with SkylakeX only when it is unset).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
model=""
out="$here/build/bench-table"
repeats=3
build="$here/build"
batch=8
seq=128
iters=12
precision=fp32,bf16,int8
peers=torch,torch-int8,ort,ort-int8
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --model) model=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --repeats) repeats=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --seq) seq=$2; shift 2 ;;
    --iters) iters=$2; shift 2 ;;
    --precision) precision=$2; shift 2 ;;
    --peers) peers=$2; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    *) echo "bench_table.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
done

octet="$build/bin/octet"
[ -x "$octet" ] || { echo "bench_table.sh: $octet not built (ninja -C $build octet_cli)" >&2; exit 1; }
mkdir -p "$out"
if [ -z "$model" ]; then
  model="$out/bert-base"
  [ -f "$model/model.safetensors" ] || "$octet" synth --arch bert --size base -o "$model" --force >&2
fi

for i in $(seq 1 "$repeats"); do
  echo "bench_table.sh: run $i of $repeats (load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
  "$octet" bench "$model" --batch "$batch" --seq "$seq" --threads 2 --warmup 3 --iters "$iters" --rounds 4 \
    --precision "$precision" --peers "$peers" --calib-samples 16 --work-dir "$out/work" --json \
    "${extra[@]}" \
    > "$out/run-$i.json"
done

/usr/bin/python3 - "$out" "$repeats" <<'EOF'
import json, statistics, sys
out, repeats = sys.argv[1], int(sys.argv[2])
runs = [json.load(open(f"{out}/run-{i}.json")) for i in range(1, repeats + 1)]
keys = [(r["framework"], r["precision"]) for r in runs[0]["results"]]
def p50s(key):
    return [r["p50_ms"] for run in runs for r in run["results"]
            if (r["framework"], r["precision"]) == key and "p50_ms" in r]
def mins(key):
    return [r["min_ms"] for run in runs for r in run["results"]
            if (r["framework"], r["precision"]) == key and "min_ms" in r]
def p99s(key):
    return [r["p99_ms"] for run in runs for r in run["results"]
            if (r["framework"], r["precision"]) == key and "p99_ms" in r]
med = {k: statistics.median(p50s(k)) for k in keys if p50s(k)}
torch = med.get(("pytorch", "fp32"))
env = runs[0]["environment"]
lines = [f"Model: {runs[0]['model']}, batch {runs[0]['batch']} x seq {runs[0]['seq']}, {runs[0]['threads']} threads, "
         f"{runs[0]['iters']} timed passes per runner per run in {runs[0]['rounds']} interleaved rounds, {repeats} runs.",
         f"CPU: {env['cpu']} ({env['isa']}), OPENBLAS_CORETYPE={env['OPENBLAS_CORETYPE']}, "
         f"load average at start of each run: " + "; ".join(r["environment"].get("loadavg", "?") for r in runs) + ".",
         "",
         "| framework | precision | p50 (median of runs) | p99 (worst run) | min (best run) | p50 per run | vs PyTorch fp32 | vs octet fp32 | vs ORT |",
         "| --- | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: |"]
# Each row against ONNX Runtime at its own kind of precision: int8 rows vs ORT
# int8-qdq, the rest vs ORT fp32.
def ort_peer(precision):
    return ("onnxruntime", "int8-qdq") if precision.startswith("int8") else ("onnxruntime", "fp32")
for k in keys:
    if k not in med:
        err = next(r.get("error", "") for r in runs[0]["results"] if (r["framework"], r["precision"]) == k)
        lines.append(f"| {k[0]} | {k[1]} | - | - | - | failed: {err} | - | - | - |")
        continue
    per = ", ".join(f"{v:.1f}" for v in p50s(k))
    vs_torch = f"{torch / med[k]:.2f}x" if torch else "-"
    vs_octet = f"{med[('octet', 'fp32')] / med[k]:.2f}x" if ("octet", "fp32") in med else "-"
    ort = ort_peer(k[1])
    vs_ort = f"{med[ort] / med[k]:.2f}x" if ort in med and k[0] != "onnxruntime" else "-"
    lines.append(f"| {k[0]} | {k[1]} | {med[k]:.1f} ms | {max(p99s(k)):.1f} ms | {min(mins(k)):.1f} ms | {per} | "
                 f"{vs_torch} | {vs_octet} | {vs_ort} |")
open(f"{out}/table.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
EOF
