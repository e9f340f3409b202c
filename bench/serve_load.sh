#!/usr/bin/env bash
# Load measurement of `octet serve` (docs/serving.md): wrk drives non-streaming
# requests, bench/serve_client.py streaming ones (time to first token), at
# concurrency 1, 4, 16, 64, on kjv-llama fp32 / w8a8-sq / w4a16-awq and
# sst2-bert-mini /v1/classify; then a 60 s run at concurrency 64 samples the
# server's RSS, and llama.cpp (node-llama-cpp) generates with 1 and 16
# sequences of one context for the batching comparison. Everything runs on
# 127.0.0.1 and is bounded in time.
#
#   bash bench/serve_load.sh [--quick] [--duration S] [--rss-seconds S]
#
# Results: bench/out/serve/serve_load.json and serve_load.md (the tables of
# docs/serving.md). The load generators share the machine's CPUs with the
# server: on 2 vCPUs that costs the server part of one core (stated in the doc).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
duration=10
rss_seconds=60
concurrency=(1 4 16 64)
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) duration=3; rss_seconds=10; shift ;;
    --duration) duration=$2; shift 2 ;;
    --rss-seconds) rss_seconds=$2; shift 2 ;;
    *) echo "serve_load.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
octet=${OCTET_BIN:-$here/build/bin/octet}
[ -x "$octet" ] || "$here/scripts/build.sh"
command -v wrk >/dev/null || { echo "serve_load.sh: wrk is missing (scripts/setup.sh installs it)" >&2; exit 1; }
out=$here/bench/out/serve
mkdir -p "$out"
threads=${OCTET_NUM_THREADS:-$(nproc)}
results=$out/results.jsonl
: > "$results"

# ---- models ---------------------------------------------------------------------
kjv=$here/models/kjv-llama
calib=$here/data/kjv/kjv.train.txt
for recipe in w8a8-sq w4a16-awq; do
  [ -d "$out/kjv-$recipe" ] || "$octet" quantize "$kjv" --recipe "$recipe" --calib "$calib" -o "$out/kjv-$recipe" >/dev/null
done
[ -f "$out/kjv-f16.gguf" ] || "$octet" export-gguf "$kjv" -o "$out/kjv-f16.gguf" --type f16 >/dev/null
[ -f "$out/kjv-q8_0.gguf" ] || "$octet" export-gguf "$kjv" -o "$out/kjv-q8_0.gguf" --type q8_0 >/dev/null

# ---- server control ---------------------------------------------------------------
pid=""
port=""
start_server() {  # MODEL [extra flags]
  local log=$out/server.log
  "$octet" serve "$@" --port 0 --max-batch 64 --max-queue 512 --threads "$threads" --log-level warn 2> "$log" &
  pid=$!
  for _ in $(seq 1 600); do
    port=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\).*|\1|p' "$log" | head -1)
    [ -n "$port" ] && return 0
    kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; exit 1; }
    sleep 0.1
  done
  echo "serve_load.sh: the server did not start" >&2; exit 1
}
stop_server() {
  kill -TERM "$pid"
  local rc=0
  wait "$pid" || rc=$?
  [ "$rc" = 0 ] || { echo "serve_load.sh: the server exited with $rc" >&2; cat "$out/server.log" >&2; exit 1; }
}
metric() { curl -s "http://127.0.0.1:$port/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
rss_kib() { awk '/^VmRSS/ { print $2 }' "/proc/$pid/status"; }
hwm_kib() { awk '/^VmHWM/ { print $2 }' "/proc/$pid/status"; }

run_wrk() {  # CONCURRENCY SECONDS MODE PATH -> the WRK_JSON object
  local c=$1 t=1
  [ "$c" -ge 2 ] && t=2
  SERVE_MODE=$3 SERVE_PATH=$4 SERVE_MAX_TOKENS=64 wrk -t"$t" -c"$c" -d"$2"s --timeout 120s \
    -s "$here/bench/serve_wrk.lua" "http://127.0.0.1:$port" | sed -n 's/^WRK_JSON //p'
}

# ---- LLM: kjv-llama in three precisions ----------------------------------------------
for variant in fp32 w8a8-sq w4a16-awq; do
  model=$kjv
  [ "$variant" = fp32 ] || model=$out/kjv-$variant
  start_server "$model"
  python3 "$here/bench/serve_client.py" --port "$port" --concurrency 4 --requests 8 --max-tokens 16 >/dev/null  # warm-up
  for c in "${concurrency[@]}"; do
    g0=$(metric octet_generated_tokens_total)
    w=$(run_wrk "$c" "$duration" completion /v1/completions)
    g1=$(metric octet_generated_tokens_total)
    n=$(( c * 2 > 8 ? c * 2 : 8 ))
    s=$(python3 "$here/bench/serve_client.py" --port "$port" --concurrency "$c" --requests "$n" --max-tokens 64 --ignore-eos)
    python3 - "$variant" "$c" "$g0" "$g1" "$w" "$s" "$(hwm_kib)" >> "$results" <<'PY'
import json, sys
variant, c, g0, g1, w, s, hwm = sys.argv[1:]
w, s = json.loads(w), json.loads(s)
print(json.dumps({"model": "kjv-llama " + variant, "endpoint": "/v1/completions", "concurrency": int(c),
                  "wrk": w, "generated_tokens_per_s": (float(g1) - float(g0)) / w["seconds"],
                  "stream": s, "peak_rss_mib": int(hwm) / 1024}))
PY
    echo "kjv-llama $variant c=$c: $(tail -1 "$results" | python3 -c 'import json,sys; r=json.load(sys.stdin); print("%.1f req/s, %.0f tok/s, ttft p50 %s ms" % (r["wrk"]["requests_per_s"], r["generated_tokens_per_s"], r["stream"]["ttft_p50_ms"]))')"
  done
  stop_server
done

# ---- encoder: sst2-bert-mini /v1/classify ------------------------------------------------
start_server "$here/models/sst2-bert-mini" --batch-wait-ms 2
run_wrk 4 2 classify /v1/classify >/dev/null  # warm-up
for c in "${concurrency[@]}"; do
  w=$(run_wrk "$c" "$duration" classify /v1/classify)
  python3 - "$c" "$w" "$(hwm_kib)" "$(metric octet_batch_size_sum)" "$(metric octet_batch_size_count)" >> "$results" <<'PY'
import json, sys
c, w, hwm, bsum, bcount = sys.argv[1:]
print(json.dumps({"model": "sst2-bert-mini", "endpoint": "/v1/classify", "concurrency": int(c), "wrk": json.loads(w),
                  "peak_rss_mib": int(hwm) / 1024, "mean_batch_so_far": float(bsum) / max(1.0, float(bcount))}))
PY
  echo "sst2-bert-mini c=$c: $(tail -1 "$results" | python3 -c 'import json,sys; r=json.load(sys.stdin); print("%.1f req/s, p99 %.1f ms" % (r["wrk"]["requests_per_s"], r["wrk"]["latency_p99_ms"]))')"
done
stop_server

# ---- RSS over a long run at concurrency 64 (kjv-llama w8a8-sq) ---------------------------------
start_server "$out/kjv-w8a8-sq"
run_wrk 64 5 completion /v1/completions >/dev/null  # warm-up
rss_warm=$(rss_kib)
samples=$out/rss_samples.txt
: > "$samples"
( for _ in $(seq 1 "$rss_seconds"); do rss_kib >> "$samples" 2>/dev/null || true; sleep 1; done ) &
sampler=$!
w=$(run_wrk 64 "$rss_seconds" completion /v1/completions)
wait "$sampler" || true
rss_max=$(sort -n "$samples" | tail -1)
python3 - "$rss_warm" "$rss_max" "$rss_seconds" "$w" >> "$results" <<'PY'
import json, sys
warm, top, secs, w = sys.argv[1:]
print(json.dumps({"model": "kjv-llama w8a8-sq", "rss_run_seconds": int(secs), "rss_after_warmup_mib": int(warm) / 1024,
                  "rss_max_mib": int(top) / 1024, "rss_ratio": int(top) / int(warm), "wrk": json.loads(w)}))
PY
echo "RSS: after warm-up $((rss_warm / 1024)) MiB, max over ${rss_seconds}s $((rss_max / 1024)) MiB"
stop_server

# ---- llama.cpp with 1 and 16 sequences (the same weights, GGUF) ----------------------------------
ids=$("$octet" generate "$kjv" --prompt "In the beginning" --max-new-tokens 1 --json 2>/dev/null |
      python3 -c 'import json,sys; print(",".join(str(i) for i in json.load(sys.stdin)["sequences"][0]["prompt_ids"]))' || true)
[ -n "$ids" ] || ids=1,512,278
# llama.cpp threads 1 and $threads: on 2 vCPUs its spinning workers and node's
# own thread contend, and one thread is often several times faster.
for gguf in kjv-f16 kjv-q8_0; do
  for t in $(printf '%s\n' 1 "$threads" | sort -un); do
    for n in 1 16; do
      r=$(node "$here/bench/peers/llama_cpp.mjs" "$out/$gguf.gguf" --prompt-ids "$ids" --sequences "$n" \
            --max-new-tokens 64 --threads "$t" | tail -1) || true
      python3 -c 'import json,sys; json.loads(sys.argv[1])' "$r" 2>/dev/null || r='{"error": "failed"}'
      echo "{\"peer\": \"$gguf\", \"threads\": $t, \"sequences\": $n, \"result\": $r}" >> "$results"
      echo "llama.cpp $gguf threads=$t sequences=$n: $r"
    done
  done
done

python3 "$here/bench/serve_report.py" "$results" > "$out/serve_load.md"
python3 -c 'import json,sys; print(json.dumps([json.loads(l) for l in open(sys.argv[1])], indent=1))' "$results" > "$out/serve_load.json"
cat "$out/serve_load.md"
