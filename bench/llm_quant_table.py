"""Renders docs/llm_quantization.md from bench/llm_quant_table.sh's rows.jsonl files.

usage: llm_quant_table.py OUT_DIR CALIBRATION_WINDOWS MODEL_KEY...
"""
import datetime
import json
import os
import platform
import sys

out_dir, samples, keys = sys.argv[1], int(sys.argv[2]), sys.argv[3:]

NAMES = {
    "kjv": ("kjv-llama", "6.8 M parameters, LLaMA architecture trained on the King James Bible",
            "kjv.train.txt", "kjv.valid.txt (held-out chapters), non-overlapping 256-token windows", 512),
    "stories": ("stories260K", "260 K parameters, LLaMA architecture trained on TinyStories (GGUF, fp32)",
                "96 samples the fp32 model generated (seeds 1000-1095)",
                "24 other samples it generated (seeds 5000-5023), non-overlapping 256-token windows", 256),
}


def load(key):
    with open(os.path.join(out_dir, key, "rows.jsonl")) as f:
        return [json.loads(line) for line in f if line.strip()]


def size_of(path):
    if os.path.isdir(path):
        path = os.path.join(path, "model.safetensors")
    return os.path.getsize(path)


def mib(n):
    return f"{n / 2**20:.2f} MiB"


def by_label(rows):
    return {r["label"]: r for r in rows}


def ppl(r):
    return r["perplexity"]["compare_perplexity"]


def delta(r, base):
    return 100.0 * (ppl(r) / base - 1.0)


def table(rows):
    base = rows[0]["perplexity"]["perplexity"]
    lines = [
        "| recipe | weights | activations | KV cache | perplexity | Δ ppl | mean KL (nats) | top-1 agreement | "
        "last-word acc. | weight bytes | quantize time |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        q = r["quantize"]
        p = r["perplexity"]
        lw = r["last_word"]
        weights = q.get("weights", "f32")
        acts = q.get("activations", "f32")
        kv = q.get("kv_cache", "f32")
        size = q.get("weights_file_bytes") or size_of(p["model"])
        seconds = q.get("seconds")
        lines.append(
            f"| {r['label']} | {weights} | {acts} | {kv} | {ppl(r):.3f} | {delta(r, base):+.2f} % | "
            f"{p['mean_kl']:.5f} | {100 * p['top1_agreement']:.2f} % | "
            f"{100 * lw['accuracy']:.2f} % ({lw['correct']}/{lw['examples']}) | {mib(size)} | "
            f"{'-' if seconds is None else f'{seconds:.1f} s'} |")
    return "\n".join(lines)


def check(ok):
    return "met" if ok else "**NOT met**"


def targets(rows):
    """The issue's target checks (they are stated for kjv-llama; other models get the same lines for reference)."""
    r = by_label(rows)
    base = rows[0]["perplexity"]["perplexity"]
    out = []

    def line(text, ok):
        out.append(f"- {text}: {check(ok)}")

    for label, bound in (("w8a16", 0.3), ("w8a8-sq", 1.0), ("fp8", 1.0)):
        if label in r:
            d = delta(r[label], base)
            line(f"`{label}` Δ ppl {d:+.3f} % <= {bound} %", d <= bound)
    for kv in ("int8", "fp8"):
        for host in ("fp32", "w8a8-sq"):
            label = f"{host} + kv {kv}"
            if label in r and host in r:
                host_ppl = base if host == "fp32" else ppl(r[host])
                d = 100.0 * (ppl(r[label]) / host_ppl - 1.0)
                line(f"`--kv-cache {kv}` on {host} adds {d:+.3f} % <= 0.5 %", d <= 0.5)
    for g in ("g128", "g32"):
        rtn = r.get(f"w4a16-rtn {g}")
        for algo in ("awq", "gptq"):
            x = r.get(f"w4a16-{algo} {g}")
            if rtn and x:
                ok = ppl(x) < ppl(rtn) and x["perplexity"]["mean_kl"] < rtn["perplexity"]["mean_kl"]
                line(f"`w4a16-{algo}` {g} better than RTN: ppl {ppl(x):.3f} vs {ppl(rtn):.3f}, KL "
                     f"{x['perplexity']['mean_kl']:.5f} vs {rtn['perplexity']['mean_kl']:.5f}", ok)
    return "\n".join(out)


def recovered(fp, rtn, better):
    return 100.0 * (rtn - better) / (rtn - fp) if rtn > fp else float("nan")


def published(rows):
    r = by_label(rows)
    base = rows[0]["perplexity"]["perplexity"]
    out = ["| result | published | ratio / direction (published) | here | ratio / direction (here) |",
           "|---|---|---|---|---|"]
    if "w8a8-sq" in r and "w8a8" in r:
        out.append(
            f"| SmoothQuant W8A8, LLaMA-7B | 11.51 -> 11.56 | +0.43 % | {base:.3f} -> {ppl(r['w8a8-sq']):.3f} "
            f"(naive w8a8 {ppl(r['w8a8']):.3f}) | {delta(r['w8a8-sq'], base):+.2f} % (naive {delta(r['w8a8'], base):+.2f} %) |")
    if all(k in r for k in ("w4a16-rtn g128", "w4a16-awq g128")):
        rtn, awq = ppl(r["w4a16-rtn g128"]), ppl(r["w4a16-awq g128"])
        out.append(
            f"| AWQ INT4 g128 vs RTN, LLaMA-7B | 5.68 -> AWQ 5.78, RTN 5.96 | AWQ +1.8 %, RTN +4.9 %: AWQ recovers "
            f"{recovered(5.68, 5.96, 5.78):.0f} % of RTN's loss | {base:.3f} -> AWQ {awq:.3f}, RTN {rtn:.3f} | AWQ "
            f"{delta(r['w4a16-awq g128'], base):+.2f} %, RTN {delta(r['w4a16-rtn g128'], base):+.2f} %: recovers "
            f"{recovered(base, rtn, awq):.0f} % |")
    if all(k in r for k in ("w4a16-rtn g128", "w4a16-gptq g128")):
        rtn, gptq = ppl(r["w4a16-rtn g128"]), ppl(r["w4a16-gptq g128"])
        out.append(
            f"| GPTQ INT4 vs RTN, OPT-125M | 27.65 -> GPTQ 31.12, RTN 37.28 | GPTQ +12.5 %, RTN +34.8 %: GPTQ "
            f"recovers {recovered(27.65, 37.28, 31.12):.0f} % of RTN's loss | {base:.3f} -> GPTQ {gptq:.3f}, RTN "
            f"{rtn:.3f} | GPTQ {delta(r['w4a16-gptq g128'], base):+.2f} %, RTN {delta(r['w4a16-rtn g128'], base):+.2f} "
            f"%: recovers {recovered(base, rtn, gptq):.0f} % |")
    return "\n".join(out)


doc = [
    "# LLM quantization: measured",
    "",
    "Generated by `bash bench/llm_quant_table.sh` (do not edit by hand) on "
    f"{datetime.date.today().isoformat()}, {platform.machine()}, {os.cpu_count()} CPUs. Every row is the octet CLI "
    "as a user runs it:",
    "",
    "```sh",
    f"octet quantize MODEL -o OUT <recipe options> --calib CALIB.txt --samples {samples} --seq-len L",
    "octet perplexity MODEL --compare OUT --data EVAL.txt --ctx 256 --json   # perplexity, KL(fp32 || quantized), top-1",
    "octet eval OUT --task last-word --data EVAL.txt --json                   # LAMBADA-style last-word accuracy",
    "```",
    "",
    "Δ ppl is the perplexity increase over the fp32 model on the same windows; mean KL is KL(P_fp32 || P_quantized) "
    "per scored token; top-1 agreement is how often both models' most likely next token is the same; last-word "
    "accuracy is the share of lines whose final word greedy decoding reproduces from the rest of the line. Weight "
    "bytes is the size of the folder's model.safetensors (codes, scales and every f32 parameter: embeddings, norms, "
    "lm_head, which the recipes keep f32). Formats without a CPU kernel yet (int4, fp8, weight-only int8) run "
    "simulated: dequantized weights and fake-quantized activations, bit-exact with the stored codes.",
    "",
]
def calibration_windows(rows):
    for r in rows:
        c = r["quantize"].get("calibration")
        if c:
            return c["windows"], c["seq_len"], c["text_tokens"]
    return samples, 0, 0


def loads(rows):
    values = [float(r["load"]) for r in rows if r.get("load")]
    return f"{min(values):.1f}-{max(values):.1f}" if values else "not recorded"


for key in keys:
    rows = load(key)
    name, what, calib, evaluation, seq = NAMES[key]
    windows, seq_len, text_tokens = calibration_windows(rows)
    heading = ("### Targets (the issue's, stated for kjv-llama)" if key == "kjv" else
               "### The same checks, for reference (the issue's targets are stated for kjv-llama)")
    doc += [f"## {name}", "", f"{what}. Calibration: {calib}: {windows} windows of {seq_len} tokens (seed 0) out of "
            f"{text_tokens} tokens. Evaluation: {evaluation}. Load average while measuring: {loads(rows)} on 2 CPUs "
            "(quantize times are wall times under that load).", "", table(rows), "", heading, "", targets(rows), "",
            "### Against the published results (direction and ratio)", "", published(rows), ""]
print("\n".join(doc))
