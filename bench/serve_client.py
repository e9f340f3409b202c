#!/usr/bin/env python3
"""Streaming load client for `octet serve` (bench/serve_load.sh): keeps
--concurrency streaming requests in flight until --requests are done and
reports time to first token, per-request latency, generated tokens and errors.

  python3 bench/serve_client.py --port 8080 --concurrency 16 --requests 64 --max-tokens 64

Prints one JSON object. Standard library only.
"""
import argparse
import http.client
import json
import statistics
import threading
import time

PROMPTS = [
    "In the beginning", "And God said, Let there be", "The LORD is my shepherd", "Blessed are the",
    "And it came to pass", "For God so loved", "Then Jesus said unto", "And Moses spake unto the",
    "Now the serpent was", "And the children of Israel", "Thus saith the LORD", "And he said unto them",
]


def pct(values, q):
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q / 100.0 * (len(s) - 1))))]


def one_request(port, i, max_tokens, ignore_eos):
    body = {"prompt": PROMPTS[i % len(PROMPTS)], "max_tokens": max_tokens, "temperature": 0, "stream": True,
            "stream_options": {"include_usage": True}}
    if ignore_eos:
        body["ignore_eos"] = True
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    t0 = time.perf_counter()
    ttft = None
    tokens = 0
    ok = False
    try:
        conn.request("POST", "/v1/completions", json.dumps(body), {"Content-Type": "application/json"})
        resp = conn.getresponse()
        if resp.status != 200:
            resp.read()
            return {"ok": False, "status": resp.status}
        buf = b""
        while True:
            chunk = resp.read1(65536) if hasattr(resp, "read1") else resp.read(1)
            if not chunk:
                break
            buf += chunk
            while b"\n\n" in buf:
                event, buf = buf.split(b"\n\n", 1)
                if not event.startswith(b"data: "):
                    continue
                data = event[6:]
                if data == b"[DONE]":
                    ok = True
                    continue
                msg = json.loads(data)
                if "error" in msg:
                    return {"ok": False, "status": 500}
                if msg.get("usage"):
                    tokens = msg["usage"]["completion_tokens"]
                elif ttft is None and msg["choices"] and msg["choices"][0].get("text"):
                    ttft = time.perf_counter() - t0
    except (OSError, http.client.HTTPException, ValueError):
        return {"ok": False, "status": 0}
    finally:
        conn.close()
    return {"ok": ok, "status": 200, "ttft": ttft, "latency": time.perf_counter() - t0, "tokens": tokens}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--concurrency", type=int, default=1)
    ap.add_argument("--requests", type=int, default=16)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--ignore-eos", action="store_true")
    a = ap.parse_args()
    results = []
    lock = threading.Lock()
    counter = [0]

    def worker():
        while True:
            with lock:
                i = counter[0]
                if i >= a.requests:
                    return
                counter[0] += 1
            r = one_request(a.port, i, a.max_tokens, a.ignore_eos)
            with lock:
                results.append(r)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(a.concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    good = [r for r in results if r["ok"]]
    ttft = [r["ttft"] for r in good if r["ttft"] is not None]
    lat = [r["latency"] for r in good]
    tokens = sum(r["tokens"] for r in good)
    print(json.dumps({
        "concurrency": a.concurrency, "requests": len(results), "errors": len(results) - len(good),
        "seconds": wall, "requests_per_s": len(good) / wall, "generated_tokens": tokens,
        "generated_tokens_per_s": tokens / wall,
        "ttft_p50_ms": 1000 * pct(ttft, 50) if ttft else None, "ttft_p99_ms": 1000 * pct(ttft, 99) if ttft else None,
        "latency_p50_ms": 1000 * pct(lat, 50) if lat else None, "latency_p99_ms": 1000 * pct(lat, 99) if lat else None,
        "tokens_per_request_mean": statistics.mean([r["tokens"] for r in good]) if good else None,
    }))


if __name__ == "__main__":
    main()
