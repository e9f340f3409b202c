#!/usr/bin/env bash
# octet's main job on the built-in models: quantize, measure against fp32 in
# the same run, write one HTML report.
#   1. models/sst2-bert-mini (a 4-layer BERT trained on GLUE SST-2): INT8
#      (static, calibrated on training sentences) and INT8 dynamic vs fp32:
#      dev accuracy, latency (batch 8 x seq 128), speedup, size.
#   2. models/kjv-llama (LLaMA architecture, 6.8 M parameters, trained on the
#      King James Bible): w8a16, w8a8-sq, fp8, w4a16-awq, w4a16-gptq and an
#      int8 KV cache vs fp32: perplexity on held-out chapters, KL, top-1
#      agreement, tokens/s, size, and a greedy continuation from each.
#   3. octet-report/index.html: both, with plots (report.json beside it).
# Sets up and builds first (scripts/setup.sh, scripts/build.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
"$here/scripts/setup.sh"
"$here/scripts/build.sh" >/dev/null
cd "$here"
octet="$here/build/bin/octet"
report="octet-report"
start=$(date +%s)

echo "== octet doctor"
"$octet" doctor
echo
echo "== 1/2 encoder: models/sst2-bert-mini on the SST-2 dev set (872 sentences), INT8 vs fp32"
"$octet" report models/sst2-bert-mini --task glue --data data/sst2/dev.tsv --calib data/sst2/train.tsv \
  --recipes int8,int8-dynamic -o "$report" --force
echo
echo "== 2/2 LLM: models/kjv-llama on held-out chapters (data/kjv/kjv.valid.txt), quantized vs fp32"
"$octet" report models/kjv-llama --task perplexity --data data/kjv/kjv.valid.txt --calib data/kjv/kjv.train.txt \
  --recipes w8a16,w8a8-sq,fp8,w4a16-awq,w4a16-gptq,kv-int8 --samples 32 -o "$report" --append
echo
echo "report: $here/$report/index.html (report.json holds the same numbers)"
echo "demo took $(($(date +%s) - start)) s after the build"
