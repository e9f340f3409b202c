#!/usr/bin/python3
"""An independent packer and unpacker for the Hugging Face int4 / int8
checkpoint layouts, written from their published descriptions (AutoAWQ's
WQLinear_GEMM, AutoGPTQ's QuantLinear.pack with v1 qzeros, Model Optimizer's
pack_int4_in_uint8), not from octet's code. Only numpy (Debian's) is used;
safetensors files are read and written by hand.

  reference_packing.py pack DIR
      writes DIR/{awq,gptq4,gptq8,modelopt}/ (config + model.safetensors) from
      known integer matrices, and DIR/truth.safetensors with those integers.
  reference_packing.py verify OCTET_FOLDER EXPORT_FOLDER
      unpacks the export (its layout from its config) and compares every
      quantized Linear with the octet folder's codes, zero points, scales and
      group index; prints JSON {"layout", "layers", "values", "mismatches": [...]}.
"""
import json
import os
import struct
import sys

import numpy as np

DTYPES = {"F32": np.float32, "F16": np.float16, "I32": np.int32, "I8": np.int8, "U8": np.uint8}
NAMES = {np.dtype(v): k for k, v in DTYPES.items()}

# ---- safetensors by hand -------------------------------------------------------------------


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        raw = data[begin:end]
        if info["dtype"] == "BF16":
            bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            arr = bits.view(np.float32)
        else:
            arr = np.frombuffer(raw, dtype=np.dtype(DTYPES[info["dtype"]]).newbyteorder("<"))
        out[name] = arr.reshape(info["shape"]).copy()
    return out


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, arr in tensors.items():
        arr = np.ascontiguousarray(arr)
        raw = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": NAMES[arr.dtype], "shape": list(arr.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


# ---- the published packings ------------------------------------------------------------------

# AutoAWQ gemm: packed column c of a row holds columns 8c..8c+7; the i-th nibble
# (bits 4i..4i+3) holds column 8c + ORDER[i].
AWQ_ORDER = [0, 2, 4, 6, 1, 3, 5, 7]


def awq_pack(values):  # uint values [rows, cols] -> int32 [rows, cols / 8]
    rows, cols = values.shape
    packed = np.zeros((rows, cols // 8), dtype=np.uint32)
    for c in range(cols // 8):
        for i in range(8):
            packed[:, c] |= values[:, 8 * c + AWQ_ORDER[i]].astype(np.uint32) << np.uint32(4 * i)
    return packed.view(np.int32)


def awq_unpack(packed):
    packed = packed.view(np.uint32)
    rows, words = packed.shape
    values = np.zeros((rows, words * 8), dtype=np.int64)
    for c in range(words):
        for i in range(8):
            values[:, 8 * c + AWQ_ORDER[i]] = (packed[:, c] >> np.uint32(4 * i)) & 0xF
    return values


# AutoGPTQ: qweight row r holds input rows r*(32/bits) + j at bits j*bits...;
# qzeros packs (zeros - 1) the same way along the output columns.
def gptq_pack_rows(values, bits):  # [in, out] -> [in * bits / 32, out]
    per = 32 // bits
    packed = np.zeros((values.shape[0] // per, values.shape[1]), dtype=np.uint32)
    for row in range(packed.shape[0]):
        for j in range(per):
            packed[row] |= values[row * per + j].astype(np.uint32) << np.uint32(bits * j)
    return packed.view(np.int32)


def gptq_unpack_rows(packed, bits):
    per, mask = 32 // bits, (1 << bits) - 1
    packed = packed.view(np.uint32)
    values = np.zeros((packed.shape[0] * per, packed.shape[1]), dtype=np.int64)
    for row in range(packed.shape[0]):
        for j in range(per):
            values[row * per + j] = (packed[row] >> np.uint32(bits * j)) & mask
    return values


def gptq_pack_zeros(zeros, bits, v1=True):  # actual zero points [groups, out] -> [groups, out * bits / 32]
    per = 32 // bits
    stored = zeros.astype(np.int64) - (1 if v1 else 0)
    assert stored.min() >= 0, "v1 cannot store a zero point of 0"
    packed = np.zeros((zeros.shape[0], zeros.shape[1] // per), dtype=np.uint32)
    for col in range(packed.shape[1]):
        for j in range(per):
            packed[:, col] |= stored[:, col * per + j].astype(np.uint32) << np.uint32(bits * j)
    return packed.view(np.int32)


def gptq_unpack_zeros(packed, bits, v1=True):
    per, mask = 32 // bits, (1 << bits) - 1
    packed = packed.view(np.uint32)
    zeros = np.zeros((packed.shape[0], packed.shape[1] * per), dtype=np.int64)
    for col in range(packed.shape[1]):
        for j in range(per):
            zeros[:, col * per + j] = (packed[:, col] >> np.uint32(bits * j)) & mask
    return zeros + (1 if v1 else 0)


# Model Optimizer int4: signed values [out, in] -> uint8 [out / 2, in], two output rows a byte (low = even row).
def modelopt_pack(values):
    lo = values[0::2].astype(np.int64) & 0xF
    hi = values[1::2].astype(np.int64) & 0xF
    return (lo | (hi << 4)).astype(np.uint8)


def modelopt_unpack(packed):
    p = packed.astype(np.int64)
    lo, hi = p & 0xF, (p >> 4) & 0xF
    lo = np.where(lo > 7, lo - 16, lo)
    hi = np.where(hi > 7, hi - 16, hi)
    out = np.zeros((p.shape[0] * 2, p.shape[1]), dtype=np.int64)
    out[0::2], out[1::2] = lo, hi
    return out


# ---- pack: known integers into each layout ------------------------------------------------------


def write_folder(path, tensors, config=None, files=None):
    os.makedirs(path, exist_ok=True)
    write_safetensors(os.path.join(path, "model.safetensors"), tensors)
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump({"architectures": ["LlamaForCausalLM"], "model_type": "llama",
                   **({"quantization_config": config} if config else {})}, f, indent=2)
    for name, j in (files or {}).items():
        with open(os.path.join(path, name), "w") as f:
            json.dump(j, f, indent=2)


def pack(out_dir):
    rng = np.random.default_rng(20240607)
    truth = {}

    def f16_scales(groups, out):
        return (rng.uniform(0.001, 0.05, size=(groups, out))).astype(np.float16)

    def record(prefix, codes, zeros, scales, g_idx):  # codes [out, in], zeros / scales [out, groups]
        truth[prefix + ".codes"] = codes.astype(np.int32)
        truth[prefix + ".zeros"] = zeros.astype(np.int32)
        truth[prefix + ".scales"] = scales.astype(np.float32)
        truth[prefix + ".g_idx"] = g_idx.astype(np.int32)

    out, inn, g = 16, 64, 32
    groups = inn // g
    trivial = np.arange(inn) // g

    # AutoAWQ gemm: qweight [in, out/8], qzeros [groups, out/8], scales [groups, out] f16.
    tensors = {}
    for layer in ("model.layers.0.self_attn.q_proj", "model.layers.0.mlp.down_proj"):
        codes = rng.integers(0, 16, size=(out, inn))
        zeros = rng.integers(0, 16, size=(out, groups))
        scales = f16_scales(groups, out)
        tensors[layer + ".qweight"] = awq_pack(codes.T)
        tensors[layer + ".qzeros"] = awq_pack(zeros.T)
        tensors[layer + ".scales"] = scales
        record("awq." + layer, codes, zeros, scales.T, trivial)
    write_folder(os.path.join(out_dir, "awq"), tensors,
                 {"quant_method": "awq", "bits": 4, "group_size": g, "zero_point": True, "version": "gemm"})

    # GPTQ 4-bit v1: an asymmetric layer and a symmetric act-order layer (non-trivial g_idx).
    tensors = {}
    layer = "model.layers.0.self_attn.k_proj"
    codes = rng.integers(0, 16, size=(out, inn))
    zeros = rng.integers(1, 16, size=(out, groups))  # v1 cannot hold 0
    scales = f16_scales(groups, out)
    tensors[layer + ".qweight"] = gptq_pack_rows(codes.T, 4)
    tensors[layer + ".qzeros"] = gptq_pack_zeros(zeros.T, 4)
    tensors[layer + ".scales"] = scales
    tensors[layer + ".g_idx"] = trivial.astype(np.int32)
    record("gptq4." + layer, codes, zeros, scales.T, trivial)
    layer = "model.layers.0.self_attn.v_proj"
    codes = rng.integers(0, 16, size=(out, inn))
    zeros = np.full((out, groups), 8)
    scales = f16_scales(groups, out)
    g_idx = rng.permutation(trivial)  # act-order: each column's group, in the original column order
    tensors[layer + ".qweight"] = gptq_pack_rows(codes.T, 4)
    tensors[layer + ".qzeros"] = gptq_pack_zeros(zeros.T, 4)
    tensors[layer + ".scales"] = scales
    tensors[layer + ".g_idx"] = g_idx.astype(np.int32)
    record("gptq4." + layer, codes, zeros, scales.T, g_idx)
    write_folder(os.path.join(out_dir, "gptq4"), tensors,
                 {"quant_method": "gptq", "bits": 4, "group_size": g, "desc_act": True, "sym": False,
                  "checkpoint_format": "gptq"})

    # GPTQ 8-bit symmetric, one group per row (group_size -1): zero point 128, stored 127.
    tensors = {}
    layer = "model.layers.0.mlp.gate_proj"
    codes = rng.integers(0, 256, size=(out, inn))
    zeros = np.full((out, 1), 128)
    scales = f16_scales(1, out)
    tensors[layer + ".qweight"] = gptq_pack_rows(codes.T, 8)
    tensors[layer + ".qzeros"] = gptq_pack_zeros(zeros.T, 8)
    tensors[layer + ".scales"] = scales
    tensors[layer + ".g_idx"] = np.zeros(inn, dtype=np.int32)
    record("gptq8." + layer, codes, zeros, scales.T, np.zeros(inn))
    write_folder(os.path.join(out_dir, "gptq8"), tensors,
                 {"quant_method": "gptq", "bits": 8, "group_size": -1, "desc_act": False, "sym": True,
                  "checkpoint_format": "gptq"})

    # Model Optimizer W4A16_AWQ: signed int4, one layer on [-7, 7] and one with -8.
    tensors = {}
    for layer, low in (("model.layers.0.mlp.up_proj", -7), ("model.layers.1.mlp.up_proj", -8)):
        codes = rng.integers(low, 8, size=(out, inn))
        codes[0, 0] = low
        scales = rng.uniform(0.001, 0.05, size=(out, groups)).astype(np.float32)
        tensors[layer + ".weight"] = modelopt_pack(codes)
        tensors[layer + ".weight_scale"] = scales
        tensors[layer + ".pre_quant_scale"] = np.ones(inn, dtype=np.float16)
        record("modelopt." + layer, codes, np.zeros((out, groups)), scales, trivial)
    write_folder(os.path.join(out_dir, "modelopt"), tensors, None,
                 {"hf_quant_config.json": {"producer": {"name": "modelopt", "version": "0.19.0"},
                                           "quantization": {"quant_algo": "W4A16_AWQ", "group_size": g,
                                                            "has_zero_point": False, "pre_quant_scale": True,
                                                            "kv_cache_quant_algo": None,
                                                            "exclude_modules": ["lm_head"]}}})
    write_safetensors(os.path.join(out_dir, "truth.safetensors"), truth)
    print(json.dumps({"written": sorted({k.split(".")[0] for k in truth})}))


# ---- verify: an octet export against the octet folder it came from ------------------------------


def octet_linear(weights, entry):
    """Codes [out, in], zero points [out, groups], scales [out, groups], group index [in] of an octet folder."""
    name, spec = entry["name"], entry["weight"]
    w = weights[name + ".weight"]
    scale = weights[name + ".weight_scale"].astype(np.float64)
    if spec.startswith("int4") or spec.startswith("uint4"):  # u8 [out, in / 2], element 2i in the low nibble
        b = w.astype(np.int64)
        lo, hi = b & 0xF, b >> 4
        if spec.startswith("int4"):
            lo, hi = np.where(lo > 7, lo - 16, lo), np.where(hi > 7, hi - 16, hi)
        codes = np.zeros((w.shape[0], w.shape[1] * 2), dtype=np.int64)
        codes[:, 0::2], codes[:, 1::2] = lo, hi
    else:
        codes = w.astype(np.int64)
    if scale.ndim == 1:
        scale = scale[:, None]
    zeros = weights.get(name + ".weight_zero_point", np.zeros(scale.shape, dtype=np.int64)).astype(np.int64)
    group = codes.shape[1] // scale.shape[1]
    g_idx = weights.get(name + ".weight_group_index", np.arange(codes.shape[1]) // group).astype(np.int64)
    return codes, zeros, scale, g_idx


def verify(octet_dir, export_dir):
    cfg = json.load(open(os.path.join(octet_dir, "quantization_config.json")))
    ow = read_safetensors(os.path.join(octet_dir, "model.safetensors"))
    ew = read_safetensors(os.path.join(export_dir, "model.safetensors"))
    if os.path.exists(os.path.join(export_dir, "hf_quant_config.json")):
        layout, q = "modelopt", json.load(open(os.path.join(export_dir, "hf_quant_config.json")))["quantization"]
    else:
        q = json.load(open(os.path.join(export_dir, "config.json")))["quantization_config"]
        layout = q["quant_method"]
    mismatches, values = [], 0

    def expect(cond, what):
        if not cond:
            mismatches.append(what)

    for entry in cfg["linears"]:
        name = entry["name"]
        codes, zeros, scale, g_idx = octet_linear(ow, entry)
        signed = entry["weight"].startswith("int")  # int4:sym / int8:sym: zero point 0 in octet
        out, inn = codes.shape
        if layout == "awq":
            e_codes = awq_unpack(ew[name + ".qweight"]).T
            e_zeros = awq_unpack(ew[name + ".qzeros"]).T
            e_scale = ew[name + ".scales"].astype(np.float64).T
            e_gidx = np.arange(inn) // (inn // e_scale.shape[1])
            offset = 8
        elif layout == "gptq":
            bits = 8 if entry["weight"].startswith("int8") else 4
            v1 = q.get("checkpoint_format", "gptq") == "gptq"
            e_codes = gptq_unpack_rows(ew[name + ".qweight"], bits).T
            e_zeros = gptq_unpack_zeros(ew[name + ".qzeros"], bits, v1).T
            e_scale = ew[name + ".scales"].astype(np.float64).T
            e_gidx = ew[name + ".g_idx"].astype(np.int64)
            offset = 1 << (bits - 1)
        elif layout == "modelopt":
            e_codes = modelopt_unpack(ew[name + ".weight"])
            e_scale = ew[name + ".weight_scale"].astype(np.float64)
            e_zeros = np.zeros(e_scale.shape, dtype=np.int64)
            e_gidx = np.arange(inn) // (inn // e_scale.shape[1])
            offset = 0
        else:
            raise SystemExit("unknown layout " + layout)
        expect(e_codes.shape == codes.shape, f"{name}: codes {e_codes.shape} vs {codes.shape}")
        if e_codes.shape != codes.shape:
            continue
        if signed:  # octet's symmetric codes are the layout's unsigned ones minus the offset, zero point = offset
            expect(np.array_equal(e_codes - offset, codes), f"{name}: codes differ")
            expect(np.all(e_zeros == offset), f"{name}: zero points are not {offset}")
        else:
            expect(np.array_equal(e_codes, codes), f"{name}: codes differ")
            expect(np.array_equal(e_zeros, zeros), f"{name}: zero points differ")
        # Scales: exactly octet's, or octet's rounded to the stored dtype.
        stored = ew[name + (".scales" if layout in ("awq", "gptq") else ".weight_scale")].dtype
        expect(np.array_equal(e_scale, scale.astype(stored).astype(np.float64)), f"{name}: scales differ")
        expect(np.array_equal(e_gidx, g_idx), f"{name}: group index differs")
        values += codes.size
    print(json.dumps({"layout": layout, "layers": len(cfg["linears"]), "values": values, "mismatches": mismatches}))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "pack":
        pack(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "verify":
        verify(sys.argv[2], sys.argv[3])
    else:
        raise SystemExit(__doc__)
