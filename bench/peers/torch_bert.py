#!/usr/bin/python3
"""PyTorch peer: a BERT / RoBERTa encoder in plain torch.nn, loaded from a Hugging Face folder.

No transformers library: config.json and model.safetensors are read here (numpy), and the
modules follow HF's BertModel / RobertaModel in eval mode (post-LN, eager attention,
additive mask of torch.finfo(float32).min), so fp32 outputs match HF's.

  torch_bert.py --model DIR --inputs IN.safetensors --outputs OUT.safetensors [--threads T]
      IN holds input_ids (int, [B, S]) and optionally attention_mask, token_type_ids.
      OUT gets last_hidden_state, pooler_output (when the model has a pooler) and
      logits (when it has a sequence-classification head).
  torch_bert.py serve --model DIR [--threads T] [--precision fp32|int8-dynamic|fp16-cuda|fp16-cuda-compile]
                      [--device cpu|cuda[:N]] [--dtype fp32|fp16|bf16] [--compile]
      keeps the model loaded and answers JSON-line requests on stdin (octet bench).
      fp16-cuda is --device cuda --dtype fp16 (eager, attention through
      F.scaled_dot_product_attention); fp16-cuda-compile adds torch.compile. On a GPU
      every timed pass ends with torch.cuda.synchronize().
  torch_bert.py bench --model DIR --batch B --seq S [--threads T] [--warmup W] [--iters N]
                      [--precision fp32|int8-dynamic] [--json]
      times forward passes on random token ids (attention mask all ones) and prints
      p50/p90/p99/mean latency in ms. int8-dynamic is
      torch.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8).

Callers should export OMP_WAIT_POLICY=PASSIVE and OPENBLAS_NUM_THREADS=T (spinning OpenMP
threads otherwise steal cores from whatever runs next); when they are unset this script
sets them before importing torch.
"""
import argparse
import json
import math
import os
import struct
import sys
import time

import numpy as np


# ---- safetensors (numpy) -------------------------------------------------------------
_NP_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32,
              "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_}


def read_safetensors(path):
    """{name: numpy array}; BF16 is widened to float32 exactly (bf16 bits are f32's top half)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        raw = data[base + begin:base + end]
        if info["dtype"] == "BF16":
            bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            arr = bits.view(np.float32)
        elif info["dtype"] in _NP_DTYPES:
            arr = np.frombuffer(raw, dtype=_NP_DTYPES[info["dtype"]])
        else:
            raise SystemExit(f"torch_bert: {path}: tensor '{name}' has unsupported dtype {info['dtype']}")
        out[name] = arr.reshape(info["shape"]).copy()
    return out


def write_safetensors(path, tensors):
    names = {v: k for k, v in _NP_DTYPES.items()}
    header, chunks, offset = {}, [], 0
    for name, arr in tensors.items():
        arr = np.ascontiguousarray(arr)
        raw = arr.tobytes()
        header[name] = {"dtype": names[arr.dtype.type], "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    blob = json.dumps(header).encode()
    blob += b" " * ((8 - len(blob) % 8) % 8)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(blob)) + blob + b"".join(chunks))
    os.replace(tmp, path)


# ---- the model ----------------------------------------------------------------------
def build_model(model_dir, sdpa=False):
    import torch
    from torch import nn
    import torch.nn.functional as F

    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    weights = read_safetensors(os.path.join(model_dir, "model.safetensors"))
    # Old BERT checkpoints name LayerNorm parameters gamma/beta.
    weights = {k.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta", "LayerNorm.bias"): v
               for k, v in weights.items()}
    prefix = next((p for p in ("bert.", "roberta.", "") if p + "embeddings.word_embeddings.weight" in weights), None)
    if prefix is None:
        raise SystemExit(f"torch_bert: {model_dir}: no embeddings.word_embeddings.weight: not a BERT-family model")

    model_type = cfg.get("model_type", "bert")
    if cfg.get("position_embedding_type", "absolute") != "absolute":
        raise SystemExit("torch_bert: only absolute position embeddings are supported")
    hidden, heads = cfg["hidden_size"], cfg["num_attention_heads"]
    head_dim = hidden // heads
    eps = cfg.get("layer_norm_eps", 1e-12)
    act_name = cfg.get("hidden_act", "gelu")
    acts = {"gelu": lambda x: F.gelu(x), "relu": F.relu,
            "gelu_new": lambda x: F.gelu(x, approximate="tanh"),
            "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh")}
    if act_name not in acts:
        raise SystemExit(f"torch_bert: hidden_act '{act_name}' not supported")
    act = acts[act_name]
    # RoBERTa numbers positions from padding_idx + 1, skipping padding tokens.
    roberta_positions = model_type in ("roberta", "xlm-roberta", "camembert")
    pad_id = cfg.get("pad_token_id", 0)

    class Embeddings(nn.Module):
        def __init__(self):
            super().__init__()
            self.word_embeddings = nn.Embedding(cfg["vocab_size"], hidden)
            self.position_embeddings = nn.Embedding(cfg["max_position_embeddings"], hidden)
            self.token_type_embeddings = nn.Embedding(cfg.get("type_vocab_size", 2), hidden)
            self.LayerNorm = nn.LayerNorm(hidden, eps=eps)

        def forward(self, input_ids, token_type_ids):
            if roberta_positions:
                mask = (input_ids != pad_id).long()
                positions = torch.cumsum(mask, dim=1) * mask + pad_id
            else:
                positions = torch.arange(input_ids.shape[1], device=input_ids.device).unsqueeze(0)
            e = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids)
            return self.LayerNorm(e + self.position_embeddings(positions))

    class SelfAttention(nn.Module):
        def __init__(self):
            super().__init__()
            self.query, self.key, self.value = (nn.Linear(hidden, hidden) for _ in range(3))

        def forward(self, x, additive_mask):
            b, s, _ = x.shape
            split = lambda t: t.view(b, s, heads, head_dim).transpose(1, 2)  # noqa: E731
            q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
            if sdpa:  # the fused kernels PyTorch picks on a GPU (flash / memory-efficient)
                context = F.scaled_dot_product_attention(q, k, v, attn_mask=additive_mask)
                return context.transpose(1, 2).reshape(b, s, hidden)
            scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(head_dim) + additive_mask
            context = torch.matmul(torch.softmax(scores, dim=-1), v)
            return context.transpose(1, 2).reshape(b, s, hidden)

    class DenseNorm(nn.Module):  # HF's BertSelfOutput / BertOutput: dense, residual, LayerNorm
        def __init__(self, d_in):
            super().__init__()
            self.dense = nn.Linear(d_in, hidden)
            self.LayerNorm = nn.LayerNorm(hidden, eps=eps)

        def forward(self, x, residual):
            return self.LayerNorm(self.dense(x) + residual)

    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.self = SelfAttention()
            self.output = DenseNorm(hidden)

        def forward(self, x, additive_mask):
            return self.output(self.self(x, additive_mask), x)

    class Intermediate(nn.Module):
        def __init__(self):
            super().__init__()
            self.dense = nn.Linear(hidden, cfg["intermediate_size"])

        def forward(self, x):
            return act(self.dense(x))

    class Layer(nn.Module):
        def __init__(self):
            super().__init__()
            self.attention = Attention()
            self.intermediate = Intermediate()
            self.output = DenseNorm(cfg["intermediate_size"])

        def forward(self, x, additive_mask):
            a = self.attention(x, additive_mask)
            return self.output(self.intermediate(a), a)

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = nn.ModuleList(Layer() for _ in range(cfg["num_hidden_layers"]))

    class Pooler(nn.Module):
        def __init__(self):
            super().__init__()
            self.dense = nn.Linear(hidden, hidden)

        def forward(self, h):
            return torch.tanh(self.dense(h[:, 0]))

    class RobertaHead(nn.Module):  # RobertaClassificationHead on the first token
        def __init__(self, labels):
            super().__init__()
            self.dense = nn.Linear(hidden, hidden)
            self.out_proj = nn.Linear(hidden, labels)

        def forward(self, h):
            return self.out_proj(torch.tanh(self.dense(h[:, 0])))

    has_pooler = prefix + "pooler.dense.weight" in weights
    if "classifier.weight" in weights:
        head = "linear"
    elif "classifier.out_proj.weight" in weights:
        head = "roberta"
    else:
        head = None

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            encoder = nn.Module()
            encoder.embeddings = Embeddings()
            encoder.encoder = Encoder()
            if has_pooler:
                encoder.pooler = Pooler()
            self.base = encoder
            if head == "linear":
                self.classifier = nn.Linear(hidden, weights["classifier.weight"].shape[0])
            elif head == "roberta":
                self.classifier = RobertaHead(weights["classifier.out_proj.weight"].shape[0])

        def forward(self, input_ids, attention_mask, token_type_ids):
            # HF: (1 - mask) * finfo(dtype).min added to the scores of masked keys.
            h = self.base.embeddings(input_ids, token_type_ids)
            additive = (1.0 - attention_mask[:, None, None, :].to(h.dtype)) * torch.finfo(h.dtype).min
            for layer in self.base.encoder.layer:
                h = layer(h, additive)
            out = {"last_hidden_state": h}
            pooled = self.base.pooler(h) if has_pooler else None
            if pooled is not None:
                out["pooler_output"] = pooled
            if head == "linear":
                out["logits"] = self.classifier(pooled)
            elif head == "roberta":
                out["logits"] = self.classifier(h)
            return out

    model = Model()
    state = {}
    for k, v in weights.items():
        if k.endswith("position_ids"):  # a buffer some checkpoints carry
            continue
        if k.startswith("classifier."):
            name = k
        elif k.startswith(prefix):
            name = "base." + k[len(prefix):]
        else:
            name = k  # reported as unexpected below
        state[name] = torch.from_numpy(v.astype(np.float32))
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise SystemExit(f"torch_bert: {model_dir}: missing weights {missing}, unexpected {unexpected}")
    return model.eval(), cfg


# ---- modes ---------------------------------------------------------------------------
def run(args):
    import torch

    model, _ = build_model(args.model)
    inputs = read_safetensors(args.inputs)
    if "input_ids" not in inputs:
        raise SystemExit(f"torch_bert: {args.inputs} has no input_ids")
    ids = torch.from_numpy(inputs["input_ids"].astype(np.int64))
    mask = torch.from_numpy(inputs["attention_mask"].astype(np.int64)) if "attention_mask" in inputs \
        else torch.ones_like(ids)
    types = torch.from_numpy(inputs["token_type_ids"].astype(np.int64)) if "token_type_ids" in inputs \
        else torch.zeros_like(ids)
    with torch.inference_mode():
        out = model(ids, mask, types)
    write_safetensors(args.outputs, {k: v.numpy().astype(np.float32) for k, v in out.items()})


def bench(args):
    import torch
    from torch import nn

    resolve_target(args)
    model, cfg = build_model(args.model, sdpa=args.device.startswith("cuda"))
    if args.precision == "int8-dynamic":
        model = torch.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)
    model = place(model, args)
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(1000 if cfg["vocab_size"] > 2000 else 3, cfg["vocab_size"], (args.batch, args.seq),
                        generator=gen).to(args.device)
    mask, types = torch.ones_like(ids), torch.zeros_like(ids)
    ms = []
    with torch.inference_mode():
        for _ in range(args.warmup):
            model(ids, mask, types)
        sync(args)
        for _ in range(args.iters):
            t0 = time.perf_counter()
            model(ids, mask, types)
            sync(args)
            ms.append((time.perf_counter() - t0) * 1e3)
    a = np.sort(np.array(ms))
    stats = {"runtime": "pytorch", "version": torch.__version__, "model": args.model, "precision": args.precision,
             "device": args.device, "dtype": args.dtype, "compile": bool(args.compile),
             "batch": args.batch, "seq": args.seq, "threads": args.threads, "warmup": args.warmup,
             "iters": args.iters, "p50_ms": float(np.percentile(a, 50)), "p90_ms": float(np.percentile(a, 90)),
             "p99_ms": float(np.percentile(a, 99)), "mean_ms": float(a.mean()), "min_ms": float(a[0]),
             "max_ms": float(a[-1]), "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
             "openblas_num_threads": os.environ.get("OPENBLAS_NUM_THREADS")}
    if args.json:
        print(json.dumps(stats))
    else:
        print(f"{os.path.basename(os.path.normpath(args.model))} {args.precision} b{args.batch} s{args.seq}: "
              f"p50 {stats['p50_ms']:.3f} ms  p90 {stats['p90_ms']:.3f} ms  p99 {stats['p99_ms']:.3f} ms  "
              f"mean {stats['mean_ms']:.3f} ms  ({args.iters} iters, {args.threads} threads)")


_DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


def resolve_target(args):
    """--precision aliases -> (device, dtype, compile)."""
    if args.precision in ("fp16-cuda", "fp16-cuda-compile"):
        args.device = args.device if args.device.startswith("cuda") else "cuda"
        args.dtype = "fp16"
        args.compile = args.compile or args.precision == "fp16-cuda-compile"
    return args


def place(model, args):
    """Moves the fp32 CPU model to args.device / args.dtype; torch.compile when asked."""
    import torch

    if args.device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise SystemExit(f"torch_bert: --device {args.device} but torch {torch.__version__} sees no CUDA GPU")
        torch.backends.cuda.matmul.allow_tf32 = False
    model = model.to(device=torch.device(args.device), dtype=getattr(torch, _DTYPES[args.dtype]))
    if args.compile:
        # Static shapes: the timed passes repeat one shape, so the kernels need not handle others.
        model = torch.compile(model, dynamic=False)
    return model


def sync(args):
    import torch

    if args.device.startswith("cuda"):
        torch.cuda.synchronize()


def serve(args):
    """JSON lines on stdin -> one JSON reply line each on stdout (octet bench drives this).

    {"op": "inputs", "path": IN}           load the inputs the timed passes use
    {"op": "time", "iters": N}             N timed passes -> {"ms": [...]}
    {"op": "run", "inputs": IN, "outputs": OUT}  one pass, outputs written as safetensors
    Every reply has "ok"; failures carry "error". EOF ends the process. The model is
    loaded (and for int8-dynamic quantized) once, before the first reply
    {"ok": true, "ready": true, ...}.
    """
    import torch
    from torch import nn

    def reply(obj):
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    t0 = time.perf_counter()
    resolve_target(args)
    gpu = args.device.startswith("cuda")
    device = torch.device(args.device)
    try:
        model, _ = build_model(args.model, sdpa=gpu)
        if args.precision == "int8-dynamic":
            model = torch.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)
        model = place(model, args)  # torch.compile compiles at the first pass: a failure is that pass's error
    except BaseException as e:  # SystemExit from build_model included: report it on the protocol
        reply({"ok": False, "error": str(e)})
        return
    reply({"ok": True, "ready": True, "runtime": "pytorch", "version": torch.__version__,
           "precision": args.precision, "threads": torch.get_num_threads(), "load_s": time.perf_counter() - t0,
           "device": torch.cuda.get_device_name(device) if gpu else "cpu", "dtype": args.dtype,
           "compile": bool(args.compile), "attention": "sdpa" if gpu else "eager",
           "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
           "openblas_num_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
           "omp_num_threads": os.environ.get("OMP_NUM_THREADS")})

    def load(path):
        t = read_safetensors(path)
        if "input_ids" not in t:
            raise ValueError(f"{path} has no input_ids")
        ids = torch.from_numpy(t["input_ids"].astype(np.int64))
        mask = torch.from_numpy(t["attention_mask"].astype(np.int64)) if "attention_mask" in t \
            else torch.ones_like(ids)
        types = torch.from_numpy(t["token_type_ids"].astype(np.int64)) if "token_type_ids" in t \
            else torch.zeros_like(ids)
        return ids.to(device), mask.to(device), types.to(device)

    feeds = None
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            req = json.loads(line)
            op = req.get("op")
            if op == "inputs":
                feeds = load(req["path"])
                reply({"ok": True})
            elif op == "time":
                if feeds is None:
                    raise ValueError("no inputs loaded")
                ms = []
                with torch.inference_mode():
                    for _ in range(int(req["iters"])):
                        t0 = time.perf_counter()
                        model(*feeds)
                        sync(args)
                        ms.append((time.perf_counter() - t0) * 1e3)
                reply({"ok": True, "ms": ms})
            elif op == "run":
                with torch.inference_mode():
                    out = model(*load(req["inputs"]))
                write_safetensors(req["outputs"],
                                  {k: v.float().cpu().numpy().astype(np.float32) for k, v in out.items()})
                reply({"ok": True})
            else:
                raise ValueError(f"unknown op {op!r}")
        except Exception as e:  # noqa: BLE001 - every failure becomes a reply
            reply({"ok": False, "error": f"{type(e).__name__}: {e}"})


def positive(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not >= 1")
    return value


def parse(argv):
    if argv and argv[0] == "serve":
        p = argparse.ArgumentParser(prog="torch_bert.py serve", description=serve.__doc__,
                                    formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("--model", required=True)
        p.add_argument("--threads", type=positive, default=1)
        p.add_argument("--precision", choices=["fp32", "int8-dynamic", "fp16-cuda", "fp16-cuda-compile"], default="fp32")
        p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
        p.add_argument("--dtype", choices=sorted(_DTYPES), default="fp32")
        p.add_argument("--compile", action="store_true", help="torch.compile the model")
        args = p.parse_args(argv[1:])
        args.mode = "serve"
        return args
    if argv and argv[0] == "bench":
        p = argparse.ArgumentParser(prog="torch_bert.py bench", description="time forward passes")
        p.add_argument("--model", required=True)
        p.add_argument("--batch", type=positive, required=True)
        p.add_argument("--seq", type=positive, required=True)
        p.add_argument("--threads", type=positive, default=1)
        p.add_argument("--warmup", type=int, default=5)
        p.add_argument("--iters", type=positive, default=50)
        p.add_argument("--precision", choices=["fp32", "int8-dynamic", "fp16-cuda", "fp16-cuda-compile"], default="fp32")
        p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
        p.add_argument("--dtype", choices=sorted(_DTYPES), default="fp32")
        p.add_argument("--compile", action="store_true", help="torch.compile the model")
        p.add_argument("--json", action="store_true")
        args = p.parse_args(argv[1:])
        args.mode = "bench"
    else:
        p = argparse.ArgumentParser(prog="torch_bert.py", description=__doc__,
                                    formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("--model", required=True)
        p.add_argument("--inputs", required=True)
        p.add_argument("--outputs", required=True)
        p.add_argument("--threads", type=positive, default=1)
        args = p.parse_args(argv)
        args.mode = "run"
    return args


def main():
    args = parse(sys.argv[1:])
    # Before torch (and its OpenMP runtime) loads: idle threads sleep instead of spinning.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", str(args.threads))
    import torch

    torch.set_num_threads(args.threads)
    {"bench": bench, "serve": serve, "run": run}[args.mode](args)


if __name__ == "__main__":
    main()
