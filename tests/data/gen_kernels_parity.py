#!/usr/bin/python3
"""Writes tests/data/kernels_parity.json: small inputs (exact f32 values) and
PyTorch's results for them, computed in float64 so they are the exact answers
octet's f32 kernels are bounded against. Run once with Debian's python3-torch
(1.13); the tests read the JSON and need no Python.

    /usr/bin/python3 tests/data/gen_kernels_parity.py
"""
import json
import math
import os

import torch
import torch.nn.functional as F

torch.manual_seed(1234)
D = torch.float64


def f32(*shape, lo=-1.0, hi=1.0):
    """Random values that are exactly representable in f32, held as float64."""
    return (torch.rand(*shape, dtype=torch.float32) * (hi - lo) + lo).to(D)


def flat(t, digits):
    # 9 significant digits round-trip an f32 input; 12 keep a float64 result far
    # below f32 resolution while keeping the file small.
    # JSON has no infinities: -inf (masks) is written as null.
    return [None if v == float("-inf") else float("%.*g" % (digits, v)) for v in t.reshape(-1).tolist()]


def entry(outputs=(), **tensors):
    return {k: {"shape": list(v.shape), "data": flat(v, 12 if k in outputs else 9)} for k, v in tensors.items()}


cases = {}

x = f32(3, 37, lo=-3, hi=5)
g, b = f32(37, lo=0.5, hi=1.5), f32(37)
cases["layer_norm"] = entry(("y",), x=x, gamma=g, beta=b, y=F.layer_norm(x, (37,), g, b, eps=1e-5))

x = f32(3, 20, lo=-4, hi=4)
w = f32(20, lo=-1.5, hi=1.5)
rms = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6)  # LlamaRMSNorm
cases["rms_norm"] = entry(("y", "y_unit_offset"), x=x, weight=w, y=rms * w, y_unit_offset=rms * (1 + w))  # GemmaRMSNorm

x = f32(203, lo=-8, hi=8)
cases["activations"] = entry(
    ("gelu", "gelu_new", "gelu_pytorch_tanh", "quick_gelu", "silu", "relu"),
    x=x,
    gelu=F.gelu(x),
    gelu_new=0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0)))),
    gelu_pytorch_tanh=F.gelu(x, approximate="tanh"),
    quick_gelu=x * torch.sigmoid(torch.tensor(1.702, dtype=torch.float32).double() * x),
    silu=F.silu(x),
    relu=F.relu(x),
)

x = f32(4, 3, 19, lo=-6, hi=6)
mask = torch.zeros(4, 1, 19, dtype=D)
mask[1, 0, 15:] = float("-inf")
mask[2, 0, :3] = -1e4
cases["softmax"] = entry(("y",), x=x, mask=mask, y=torch.softmax(x * 0.5 + mask, dim=-1))

# GQA attention with padding and causal masks, as HF models do it: repeat the
# kv heads, mask with -inf, softmax, weighted sum.
B, H, HKV, S, DH = 2, 4, 2, 7, 8
q, k, v = f32(B, H, S, DH), f32(B, HKV, S, DH), f32(B, HKV, S, DH)
key_mask = torch.ones(B, S, dtype=torch.int64)
key_mask[1, 5:] = 0
kr, vr = k.repeat_interleave(H // HKV, dim=1), v.repeat_interleave(H // HKV, dim=1)
scores = q @ kr.transpose(-1, -2) / math.sqrt(DH)
allowed = torch.tril(torch.ones(S, S, dtype=torch.bool))[None, None] & key_mask.bool()[:, None, None, :]
probs = torch.softmax(scores.masked_fill(~allowed, float("-inf")), dim=-1)
cases["attention"] = entry(("out", "probs"), q=q, k=k, v=v, key_mask=key_mask.to(D), out=probs @ vr, probs=probs)

# A BERT-style self-attention block: torch's MultiheadAttention (fused in_proj
# rows q, k, v; key_padding_mask True = padding).
E, HEADS, SEQ = 16, 4, 6
mha = torch.nn.MultiheadAttention(E, HEADS, batch_first=True, dtype=D)
with torch.no_grad():
    for p in mha.parameters():
        p.copy_(f32(*p.shape, lo=-0.4, hi=0.4))
hidden = f32(2, SEQ, E)
pad = torch.zeros(2, SEQ, dtype=torch.bool)
pad[1, 4:] = True
with torch.no_grad():
    out, _ = mha(hidden, hidden, hidden, key_padding_mask=pad, need_weights=False)
cases["mha_block"] = entry(("out",), hidden=hidden, attention_mask=(~pad).to(D), in_proj_weight=mha.in_proj_weight,
                           in_proj_bias=mha.in_proj_bias, out_proj_weight=mha.out_proj.weight,
                           out_proj_bias=mha.out_proj.bias, out=out)

# A LLaMA-style gated MLP: down(silu(gate(x)) * up(x)).
hidden = f32(2, 3, 12)
gate, up, down = f32(20, 12, lo=-0.5, hi=0.5), f32(20, 12, lo=-0.5, hi=0.5), f32(12, 20, lo=-0.5, hi=0.5)
y = F.linear(F.silu(F.linear(hidden, gate)) * F.linear(hidden, up), down)
cases["gated_mlp"] = entry(("y",), x=hidden, gate=gate, up=up, down=down, y=y)

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kernels_parity.json")
with open(path, "w") as f:
    json.dump({"generator": "tests/data/gen_kernels_parity.py", "torch": torch.__version__, "cases": cases}, f,
              separators=(",", ":"), allow_nan=False)
print(path, os.path.getsize(path), "bytes")
