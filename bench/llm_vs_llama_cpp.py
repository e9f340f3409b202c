#!/usr/bin/env python3
"""The table of bench/llm_vs_llama_cpp.sh: median over rounds of each octet
folder and llama.cpp GGUF, ratios at equal bits, and the decode bound from the
read bandwidth measured in the same run.

Weights read per decode token = every weight except the embedding table (one
row of it is read): octet's bench-llm weight_bytes minus vocab x hidden x 4
(octet keeps the embedding f32), a GGUF's file size times the share of its
parameters outside token_embd (the exporter stores token_embd in the file's
type). Bound = bandwidth / that; "% bound" = decode tok/s / bound.
"% bound (probe)": octet's own figure (bench-llm's decode_bound_fraction):
the bytes a step reads, KV included, per step time, against the read bandwidth
of the model's weights measured just before and after that very run, so a
machine whose bandwidth drifts between rounds moves both sides of the ratio.
"b8 / b1": median of each round's ratio (its batch-1 and batch-8 processes run
back to back), with the rounds' range.
Peak RSS is that of the batch-1 process; "RSS / (weights + KV)" divides it by
the weight bytes plus one sequence's KV cache (prefill + decode tokens) in the
run's --kv-cache type (f32 4 bytes a value, f16 2, int8 / fp8 1 plus a scale per
token and kv head).
"""
import argparse
import glob
import json
import os
import statistics
import sys

# octet -> llama.cpp at (about) equal bits; gguf-*: octet running llama.cpp's own file.
PAIRS = {"fp32": "f16", "bf16": "f16", "w8a16": "q8_0", "w8a8-sq": "q8_0", "w4a16": "q4_0", "gguf-q8_0": "q8_0", "gguf-q4_0": "q4_0",
         "gguf-q4_k": "q4_k"}


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def peak_rss_mb(path):
    try:
        with open(path) as f:
            return int(f.read().strip().splitlines()[-1]) / 1024.0
    except (OSError, ValueError, IndexError):
        return None


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, digits=1):
    return "-" if v is None else f"{v:.{digits}f}"


def main():
    ap = argparse.ArgumentParser()
    for a in ("--out", "--model"):
        ap.add_argument(a, required=True)
    for a in ("--threads", "--prefill", "--decode", "--rounds"):
        ap.add_argument(a, type=int, required=True)
    ap.add_argument("--kv-cache", default="f32")
    o = ap.parse_args()
    res = os.path.join(o.out, "results")
    cfg = json.load(open(os.path.join(o.model, "config.json")))
    vocab, hidden = cfg["vocab_size"], cfg["hidden_size"]
    layers, inter = cfg["num_hidden_layers"], cfg["intermediate_size"]
    heads, kv = cfg["num_attention_heads"], cfg.get("num_key_value_heads", cfg["num_attention_heads"])
    d = hidden // heads
    per_layer = hidden * (heads * d) * 2 + hidden * (kv * d) * 2 + 3 * hidden * inter + 2 * hidden
    params = vocab * hidden * 2 + layers * per_layer + hidden
    embed_share = vocab * hidden / params

    bw = []
    for p in sorted(glob.glob(os.path.join(res, "bandwidth.r*.json"))):
        j = load_json(p)
        for b in (j or {}).get("benchmarks", []):
            if "GB/s" in b:
                bw.append(b["GB/s"] * 1e9)
    bandwidth = median(bw)

    # The KV cache of one sequence of prefill + decode tokens (what batch 1 holds besides the weights).
    value_bytes = {"f32": 4.0, "f16": 2.0}.get(o.kv_cache, 1.0 + 4.0 / d)
    kv_bytes = layers * 2 * (o.prefill + o.decode) * kv * d * value_bytes

    rows = {}
    for name in PAIRS:
        pre, dec1, dec8, rss, wbytes, probe1 = [], [], [], [], None, []
        by_round = {}  # round -> {batch: decode tok/s}
        # octet-NAME.rN.json: batch 1 (its .time: the peak RSS); octet-NAME-b8.rN.json: batch 8.
        for p in sorted(glob.glob(os.path.join(res, f"octet-{name}.r*.json")) +
                        glob.glob(os.path.join(res, f"octet-{name}-b8.r*.json"))):
            j = load_json(p)
            if not j:
                continue
            rnd = p.rsplit(".r", 1)[1].split(".")[0]
            for r in j["results"]:
                wbytes = r["weight_bytes"]
                by_round.setdefault(rnd, {})[r["batch"]] = r["decode_tokens_per_second"]
                if r["batch"] == 1:
                    pre.append(r["prefill_tokens_per_second"])
                    dec1.append(r["decode_tokens_per_second"])
                    if r.get("decode_bound_fraction") is not None:
                        probe1.append(100 * r["decode_bound_fraction"])
                elif r["batch"] == 8:
                    dec8.append(r["decode_tokens_per_second"])
            if "-b8." not in p:
                rss.append(peak_rss_mb(p.replace(".json", ".time")))
        if wbytes is None:
            continue
        read = wbytes - vocab * hidden * 4
        rss_mb = median(rss)
        rows[f"octet {name}"] = dict(kind="octet", name=name, weights=wbytes / 1e6, read=read / 1e6, prefill=median(pre),
                                     dec1=median(dec1), dec8=median(dec8), rss=rss_mb, probe1=probe1,
                                     ratios=[b[8] / b[1] for b in by_round.values() if b.get(1) and b.get(8)],
                                     rss_ratio=rss_mb * 1024 * 1024 / (wbytes + kv_bytes) if rss_mb else None)
    peer_missing = False
    for t in ("f16", "q8_0", "q4_0", "q4_k"):
        pre, dec1, rss = [], [], []
        for p in sorted(glob.glob(os.path.join(res, f"llama-{t}.r*.json"))):
            j = load_json(p)
            if not j or "error" in j:
                peer_missing = peer_missing or (j is not None and j.get("error") == "not installed")
                continue
            pre.append(j["prefill_tokens_per_s"])
            dec1.append(j["decode_tokens_per_s"])
            rss.append(peak_rss_mb(p.replace(".json", ".time")))
        gguf = os.path.join(o.out, f"model-{t}.gguf")
        if not pre or not os.path.exists(gguf):
            continue
        size = os.path.getsize(gguf)
        rows[f"llama.cpp {t}"] = dict(kind="llama", name=t, weights=size / 1e6, read=size * (1 - embed_share) / 1e6,
                                      prefill=median(pre), dec1=median(dec1), dec8=None, rss=median(rss), rss_ratio=None,
                                      probe1=[], ratios=[])

    print(f"model: {o.model} ({params / 1e9:.2f} B parameters, vocabulary {vocab}); {o.threads} threads; "
          f"prefill {o.prefill} tokens, decode {o.decode} tokens; median of {o.rounds} interleaved rounds; "
          f"octet's KV cache {o.kv_cache} (llama.cpp's: its default, f16)")
    print(f"read bandwidth (same run, {o.threads} threads): " + (f"{bandwidth / 1e9:.1f} GB/s" if bandwidth else "not measured (bench_decode not built)"))
    if peer_missing:
        print("llama.cpp: node-llama-cpp is not installed (scripts/setup.sh installs it): octet rows only")
    print()
    print("| runtime | weights MB | read / token MB | prefill tok/s | decode b1 tok/s | % of bound | % of bound (probe) | decode b8 tok/s (total) | b8 / b1 (rounds) | peak RSS MB (b1) | RSS / (weights + KV) | vs llama.cpp (prefill, decode b1) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")

    def spread(values, digits):
        if not values:
            return "-"
        text = f"{median(values):.{digits}f}"
        return text + (f" ({min(values):.{digits}f}-{max(values):.{digits}f})" if len(values) > 1 else "")
    for key, r in rows.items():
        bound = bandwidth / (r["read"] * 1e6) if bandwidth and r["read"] > 0 else None
        pct = 100 * r["dec1"] / bound if bound and r["dec1"] else None
        vs = ""
        if r["kind"] == "octet" and f"llama.cpp {PAIRS[r['name']]}" in rows:
            p = rows[f"llama.cpp {PAIRS[r['name']]}"]
            vs = f"{PAIRS[r['name']]}: {r['prefill'] / p['prefill']:.2f}x, {r['dec1'] / p['dec1']:.2f}x"
        print(f"| {key} | {r['weights']:.0f} | {r['read']:.0f} | {fmt(r['prefill'])} | {fmt(r['dec1'])} | {fmt(pct, 0)} | "
              f"{spread(r['probe1'], 0)} | {fmt(r['dec8'])} | {spread(r['ratios'], 2)} | {fmt(r['rss'], 0)} | "
              f"{fmt(r['rss_ratio'], 2)} | {vs} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
