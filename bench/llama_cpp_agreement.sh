#!/usr/bin/env bash
# octet vs llama.cpp on the same GGUF file: exports kjv-llama with
# `octet export-gguf` (default q8_0), runs 64 greedy tokens from the same
# prompt ids in octet (`octet generate` on the .gguf) and in llama.cpp
# (bench/peers/llama_cpp.mjs, node-llama-cpp), and reports how many leading
# tokens agree plus both runtimes' prefill and decode tokens/s.
#
#   bench/llama_cpp_agreement.sh [--type q8_0] [--threads 2] [--tokens 64] [--prompt-ids 1,512,278] [--out DIR]
#
# Environment: OCTET (the octet binary, default build/bin/octet), OCTET_SHARED
# (default ../shared), LLAMA_CPP_PEER (default bench/peers/llama_cpp.mjs). Without node-llama-cpp installed the llama.cpp side is
# reported as missing and octet's side still runs (exit code 0).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
octet=${OCTET:-$here/build/bin/octet}
shared=${OCTET_SHARED:-$here/../shared}
type=q8_0 threads=2 tokens=64 prompt_ids=1,512,278 out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --type) type=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --tokens) tokens=$2; shift 2 ;;
    --prompt-ids) prompt_ids=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "usage: $0 [--type q8_0] [--threads 2] [--tokens 64] [--prompt-ids 1,512,278] [--out DIR]" >&2; exit 2 ;;
  esac
done
[ -x "$octet" ] || { echo "llama_cpp_agreement: octet binary not found at $octet (build first or set OCTET)" >&2; exit 2; }
model="$shared/models/kjv-llama"
[ -d "$model" ] || { echo "llama_cpp_agreement: $model not found (set OCTET_SHARED)" >&2; exit 2; }
if [ -z "$out" ]; then out=$(mktemp -d); trap 'rm -rf "$out"' EXIT; fi
mkdir -p "$out"
gguf="$out/kjv-llama-$type.gguf"

"$octet" export-gguf "$model" -o "$gguf" --type "$type" --force --json > "$out/export.json"
OMP_WAIT_POLICY=PASSIVE "$octet" generate "$gguf" --prompt-ids "$prompt_ids" --max-new-tokens "$tokens" \
  --threads "$threads" --json > "$out/octet.json" 2> /dev/null
set +e
node "${LLAMA_CPP_PEER:-$here/bench/peers/llama_cpp.mjs}" "$gguf" --prompt-ids "$prompt_ids" --max-new-tokens "$tokens" \
  --threads "$threads" > "$out/llama_cpp.json" 2> "$out/llama_cpp.err"
peer_rc=$?
set -e

python3 - "$out" "$type" "$threads" "$tokens" "$prompt_ids" "$peer_rc" <<'EOF'
import json, sys
out, typ, threads, tokens, prompt, peer_rc = sys.argv[1:]
o = json.load(open(f"{out}/octet.json"))
ids = o["sequences"][0]["generated_ids"]
print(f"model kjv-llama exported as {typ}; prompt ids {prompt}; {tokens} greedy tokens; {threads} threads")
print(f"octet      decode {o['decode_tokens_per_second']:8.1f} tok/s   prefill {o['prefill_tokens_per_second']:8.1f} tok/s")
result = {"type": typ, "threads": int(threads), "tokens": int(tokens), "prompt_ids": prompt,
          "octet": {"ids": ids, "decode_tokens_per_s": o["decode_tokens_per_second"],
                    "prefill_tokens_per_s": o["prefill_tokens_per_second"]}}
try:
    p = json.load(open(f"{out}/llama_cpp.json"))
except Exception:
    p = {"error": open(f"{out}/llama_cpp.err").read().strip()[-300:] or f"exit code {peer_rc}"}
if "error" in p:
    print(f"llama.cpp  not run: {p['error']}{': ' + p['detail'] if 'detail' in p else ''}")
    result["llama_cpp"] = p
else:
    q = p["generated_ids"]
    agree = 0
    while agree < min(len(ids), len(q)) and ids[agree] == q[agree]:
        agree += 1
    same = sum(1 for a, b in zip(ids, q) if a == b)
    print(f"llama.cpp  decode {p['decode_tokens_per_s']:8.1f} tok/s   prefill {p['prefill_tokens_per_s']:8.1f} tok/s")
    print(f"agreement: the first {agree} of {len(ids)} greedy tokens agree ({same} positions equal)")
    result["llama_cpp"] = p
    result["leading_agreement"] = agree
    result["equal_positions"] = same
json.dump(result, open(f"{out}/agreement.json", "w"), indent=1)
EOF
