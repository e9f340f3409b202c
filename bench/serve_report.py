#!/usr/bin/env python3
"""Markdown tables from bench/serve_load.sh's results.jsonl (docs/serving.md)."""
import json
import sys


def fmt(x, digits=1):
    return "—" if x is None else f"{x:.{digits}f}"


def wrk_errors(w):
    """Socket errors and non-2xx responses of one wrk run."""
    return w["errors_connect"] + w["errors_read"] + w["errors_write"] + w["errors_timeout"] + w["errors_status"]


def main(path):
    rows = [json.loads(line) for line in open(path)]
    llm = [r for r in rows if r.get("endpoint") == "/v1/completions"]
    enc = [r for r in rows if r.get("endpoint") == "/v1/classify"]
    rss = [r for r in rows if "rss_ratio" in r]
    peers = [r for r in rows if "peer" in r]
    print("### LLM: POST /v1/completions (64 new tokens per request, greedy, EOS ignored)\n")
    print("| model | concurrency | requests/s | generated tok/s | p50 latency ms | p99 latency ms | "
          "stream TTFT p50 ms | TTFT p99 ms | stream tok/s | errors | peak RSS MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in llm:
        w, s = r["wrk"], r["stream"]
        errors = wrk_errors(w) + s["errors"]
        print(f"| {r['model']} | {r['concurrency']} | {fmt(w['requests_per_s'], 2)} | {fmt(r['generated_tokens_per_s'], 0)} | "
              f"{fmt(w['latency_p50_ms'])} | {fmt(w['latency_p99_ms'])} | {fmt(s['ttft_p50_ms'])} | {fmt(s['ttft_p99_ms'])} | "
              f"{fmt(s['generated_tokens_per_s'], 0)} | {errors} | {fmt(r['peak_rss_mib'], 0)} |")
    by = {}
    for r in llm:
        by.setdefault(r["model"], {})[r["concurrency"]] = r["generated_tokens_per_s"]
    print("\nBatching gain (generated tok/s at concurrency 16 / concurrency 1): " +
          ", ".join(f"{m} {v[16] / v[1]:.2f}x" for m, v in by.items() if 1 in v and 16 in v and v[1] > 0))
    if enc:
        print("\n### Encoder: POST /v1/classify (sst2-bert-mini, one sentence per request)\n")
        print("| concurrency | requests/s | p50 latency ms | p99 latency ms | errors | mean rows per forward (cumulative) | peak RSS MiB |")
        print("|---:|---:|---:|---:|---:|---:|---:|")
        for r in enc:
            w = r["wrk"]
            errors = wrk_errors(w)
            print(f"| {r['concurrency']} | {fmt(w['requests_per_s'])} | {fmt(w['latency_p50_ms'])} | {fmt(w['latency_p99_ms'])} | "
                  f"{errors} | {fmt(r['mean_batch_so_far'], 2)} | {fmt(r['peak_rss_mib'], 0)} |")
    for r in rss:
        w = r["wrk"]
        errors = wrk_errors(w)
        print(f"\nRSS over {r['rss_run_seconds']} s at concurrency 64 ({r['model']}): {fmt(r['rss_after_warmup_mib'])} MiB after "
              f"warm-up, at most {fmt(r['rss_max_mib'])} MiB ({r['rss_ratio']:.3f}x); {w['requests']} requests, {errors} errors.")
    if peers:
        print("\n### llama.cpp (node-llama-cpp 3.22.1), one context with N sequences, 64 tokens each\n")
        print("| weights | threads | sequences | generated tok/s | TTFT p50 ms |")
        print("|---|---:|---:|---:|---:|")
        for r in peers:
            x = r["result"]
            print(f"| {r['peer']} | {r.get('threads', '—')} | {r['sequences']} | {fmt(x.get('generated_tokens_per_s'), 0)} | {fmt(x.get('ttft_p50_ms'))} |")


if __name__ == "__main__":
    main(sys.argv[1])
