#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into tests/fuzz/corpus/<target>/.

Small synthetic files only (no weights copied from shared/): safetensors and
GGUF files written here from the format descriptions, config.json files from
shared/fixtures/hf, tokenizer.json files written here, and quantized folders /
Hugging Face quantized checkpoints made by the real `octet quantize` and
`octet export-hf` from a tiny random LLaMA written here.

    python3 tests/fuzz/make_seeds.py --octet build/bin/octet [--shared ../shared]

Multi-file seeds (quantized_folder, hf_quant) join the files with the separator
tests/fuzz/fuzz_entries.h splits at. Deterministic (seeded).
"""
import argparse
import json
import os
import random
import re
import shutil
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus")
SEP = b"\n@@FILE@@\n"
rng = random.Random(1234)


def out(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# ---- safetensors -------------------------------------------------------------------

ST_SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1,
            "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1}


def safetensors_bytes(tensors, metadata=None, pad=True):
    """tensors: list of (name, dtype, shape); values random."""
    header, data = {}, b""
    for name, dtype, shape in tensors:
        n = 1
        for d in shape:
            n *= d
        nbytes = n * ST_SIZES[dtype]
        if dtype == "BOOL":
            payload = bytes(rng.randint(0, 1) for _ in range(nbytes))
        else:
            payload = bytes(rng.randint(0, 255) for _ in range(nbytes))
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + nbytes]}
        data += payload
    if metadata is not None:
        header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + data


def safetensors_seeds():
    out("safetensors", "f32_small", safetensors_bytes([("a", "F32", [2, 3]), ("b", "F32", [3])], {"format": "pt"}))
    out("safetensors", "all_dtypes", safetensors_bytes([(f"t_{k.lower()}", k, [2, 2]) for k in ST_SIZES]))
    out("safetensors", "empty_and_scalar", safetensors_bytes([("e", "F32", [0, 4]), ("s", "F16", []), ("v", "BF16", [5])]))
    out("safetensors", "unpadded", safetensors_bytes([("x", "I64", [3]), ("y", "U8", [7])], pad=False))
    out("safetensors", "empty_header", struct.pack("<Q", 2) + b"{}")


# ---- GGUF ----------------------------------------------------------------------------

U8, I8, U16, I16, U32, I32, F32, BOOL, STRING, ARRAY, U64, I64, F64 = range(13)
SCALAR_FMT = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i", F32: "<f", BOOL: "<B", U64: "<Q",
              I64: "<q", F64: "<d"}
# ggml type id -> (block elements, block bytes)
GGML = {"F32": (0, 1, 4), "F16": (1, 1, 2), "Q4_0": (2, 32, 18), "Q4_1": (3, 32, 20), "Q5_0": (6, 32, 22),
        "Q8_0": (8, 32, 34), "Q2_K": (10, 256, 84), "Q4_K": (12, 256, 144), "Q5_K": (13, 256, 176),
        "Q6_K": (14, 256, 210), "I8": (24, 1, 1), "I16": (25, 1, 2), "I32": (26, 1, 4), "I64": (27, 1, 8),
        "F64": (28, 1, 8), "BF16": (30, 1, 2)}


def gstr(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def gvalue(t, v):
    if t == STRING:
        return gstr(v)
    if t == ARRAY:
        et, items = v
        return struct.pack("<IQ", et, len(items)) + b"".join(gvalue(et, i) for i in items)
    return struct.pack(SCALAR_FMT[t], v)


def gguf_bytes(metadata, tensors, version=3, alignment=32):
    """metadata: list of (key, type, value); tensors: list of (name, ggml type name, ne list)."""
    head = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(metadata))
    for k, t, v in metadata:
        head += gstr(k) + struct.pack("<I", t) + gvalue(t, v)
    data, infos = b"", b""
    for name, tname, ne, *given in tensors:
        tid, bs, bb = GGML[tname]
        n = 1
        for d in ne:
            n *= d
        nbytes = n // bs * bb
        infos += gstr(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", d) for d in ne)
        infos += struct.pack("<IQ", tid, len(data))
        payload = given[0] if given else bytes(rng.randint(0, 255) for _ in range(nbytes))
        assert len(payload) == nbytes, name
        if bs > 1 and not given:  # keep the fp16 scales finite-ish: a random small exponent for every block's first two bytes
            payload = bytearray(payload)
            for b in range(0, nbytes, bb):
                payload[b + 1] = rng.randint(0x10, 0x3b)
            payload = bytes(payload)
        data += payload + b"\0" * ((alignment - len(payload) % alignment) % alignment)
    body = head + infos
    body += b"\0" * ((alignment - len(body) % alignment) % alignment)
    return body + data


def gguf_seeds():
    meta = [("general.architecture", STRING, "llama"), ("general.name", STRING, "fuzz seed"),
            ("llama.context_length", U32, 128), ("llama.embedding_length", U32, 64),
            ("llama.block_count", U32, 1), ("llama.attention.head_count", U32, 4),
            ("llama.attention.layer_norm_rms_epsilon", F32, 1e-5), ("u8", U8, 7), ("i8", I8, -3), ("u16", U16, 500),
            ("i16", I16, -500), ("i32", I32, -70000), ("u64", U64, 1 << 40), ("i64", I64, -(1 << 40)),
            ("f64", F64, 0.25), ("flag", BOOL, 1),
            ("tokenizer.ggml.tokens", ARRAY, (STRING, ["<unk>", "<s>", "</s>", "a", "b"])),
            ("tokenizer.ggml.scores", ARRAY, (F32, [0.0, 0.0, 0.0, -1.0, -2.0])),
            ("tokenizer.ggml.token_type", ARRAY, (I32, [2, 3, 3, 1, 1])),
            ("nested", ARRAY, (ARRAY, [(U8, [1, 2]), (U8, [3])]))]
    out("gguf", "metadata_all_types", gguf_bytes(meta, [("t.f32", "F32", [4, 2])]))
    out("gguf", "v2_plain", gguf_bytes(meta[:3], [("a", "F16", [8]), ("b", "BF16", [4, 2]), ("c", "I8", [3]),
                                                    ("d", "I16", [2]), ("e", "I32", [2]), ("f", "I64", [1]),
                                                    ("g", "F64", [2])], version=2))
    for t in ["Q4_0", "Q8_0", "Q4_K", "Q6_K", "Q4_1", "Q5_0", "Q2_K", "Q5_K"]:
        bs = GGML[t][1]
        out("gguf", f"block_{t.lower()}", gguf_bytes(meta[:2], [(f"w.{t}", t, [bs, 2])]))
    out("gguf", "alignment_64", gguf_bytes([("general.alignment", U32, 64)], [("x", "F32", [3]), ("y", "Q8_0", [32])],
                                          alignment=64))
    out("gguf", "empty", gguf_bytes([], []))


# ---- GGUF models: a tiny LLaMA with its tokenizer in the metadata ---------------------------

def encode_blocks(values, tname):
    """f32 values (a multiple of 32) as F32, F16, Q8_0 or Q4_0 bytes (ggml's reference layouts); Q4_K and Q6_K
    (a multiple of 256) as valid super-blocks of seeded random codes and scales (the values are not used)."""
    if tname in ("Q4_K", "Q6_K"):
        g = random.Random(len(values))
        outb = b""
        for _ in range(0, len(values), 256):
            if tname == "Q4_K":  # d, dmin (f16), 12 bytes of 6-bit scales and mins, 128 bytes of nibbles
                outb += struct.pack("<ee", 0.002, 0.001) + bytes(g.randrange(256) for _ in range(12 + 128))
            else:  # 128 bytes of low nibbles, 64 of high bits, 16 int8 scales, d (f16)
                outb += bytes(g.randrange(256) for _ in range(192)) + struct.pack("<16b", *[g.randrange(-64, 64) for _ in range(16)])
                outb += struct.pack("<e", 0.001)
        return outb
    if tname == "F32":
        return struct.pack(f"<{len(values)}f", *values)
    if tname == "F16":
        return struct.pack(f"<{len(values)}e", *values)
    outb = b""
    for b in range(0, len(values), 32):
        block = values[b:b + 32]
        amax = max(abs(v) for v in block) or 1.0
        if tname == "Q8_0":
            d = amax / 127
            outb += struct.pack("<e", d) + struct.pack("<32b", *[max(-127, min(127, round(v / d))) for v in block])
        else:  # Q4_0: q in [0, 15], value (q - 8) * d
            d = amax / 8
            q = [max(0, min(15, round(v / d) + 8)) for v in block]
            outb += struct.pack("<e", d) + bytes(q[i] | (q[i + 16] << 4) for i in range(16))
    return outb


def tiny_llama_gguf(weight_type, tokenizer, qkv_bias=False, down_type=None):
    """down_type: ffn_down's type with ffn = 256 (the k-quants' super-block), the other tensors weight_type."""
    g = random.Random(77)
    hidden, ffn, heads, kv_heads, vocab = 32, 256 if down_type else 64, 2, 1, 16
    meta = [("general.architecture", STRING, "llama"), ("llama.context_length", U32, 64),
            ("llama.embedding_length", U32, hidden), ("llama.feed_forward_length", U32, ffn),
            ("llama.block_count", U32, 1), ("llama.attention.head_count", U32, heads),
            ("llama.attention.head_count_kv", U32, kv_heads), ("llama.attention.layer_norm_rms_epsilon", F32, 1e-5),
            ("llama.rope.freq_base", F32, 10000.0)]
    if tokenizer == "llama":
        pieces = ["<unk>", "<s>", "</s>", "\u2581", "\u2581a", "a", "b", "c", "\u2581Once", "\u2581upon", "\u2581time",
                  "\u2581b", "\u2581t", "i", "m", "e"]
        meta += [("tokenizer.ggml.model", STRING, "llama"), ("tokenizer.ggml.tokens", ARRAY, (STRING, pieces)),
                 ("tokenizer.ggml.scores", ARRAY, (F32, [0.0, 0.0, 0.0] + [-float(i) for i in range(1, 14)])),
                 ("tokenizer.ggml.token_type", ARRAY, (I32, [2, 3, 3] + [1] * 13)),
                 ("tokenizer.ggml.bos_token_id", U32, 1), ("tokenizer.ggml.eos_token_id", U32, 2),
                 ("tokenizer.ggml.unknown_token_id", U32, 0), ("tokenizer.ggml.add_bos_token", BOOL, 1)]
    else:
        pieces = ["<|endoftext|>", "O", "n", "c", "e", "\u0120", "u", "p", "o", "\u0120u", "up", "on", "Once", "\u0120up",
                  "ce", "On"]
        meta += [("tokenizer.ggml.model", STRING, "gpt2"), ("tokenizer.ggml.pre", STRING, "gpt2"),
                 ("tokenizer.ggml.tokens", ARRAY, (STRING, pieces)),
                 ("tokenizer.ggml.merges", ARRAY, (STRING, ["\u0120 u", "u p", "o n", "O n", "c e", "\u0120u p"])),
                 ("tokenizer.ggml.token_type", ARRAY, (I32, [3] + [1] * 15)),
                 ("tokenizer.ggml.bos_token_id", U32, 0), ("tokenizer.ggml.eos_token_id", U32, 0)]

    def tensor(name, shape, kind=weight_type, fill=None):
        n = 1
        for d in shape:
            n *= d
        values = [fill] * n if fill is not None else [g.gauss(0, 0.1) for _ in range(n)]
        return (name, kind, list(reversed(shape)), encode_blocks(values, kind))

    t = [tensor("token_embd.weight", [vocab, hidden]), tensor("output_norm.weight", [hidden], "F32", 1.0),
         tensor("output.weight", [vocab, hidden]), tensor("blk.0.attn_norm.weight", [hidden], "F32", 1.0),
         tensor("blk.0.attn_q.weight", [hidden, hidden]), tensor("blk.0.attn_k.weight", [hidden // heads, hidden]),
         tensor("blk.0.attn_v.weight", [hidden // heads, hidden]), tensor("blk.0.attn_output.weight", [hidden, hidden]),
         tensor("blk.0.ffn_norm.weight", [hidden], "F32", 1.0), tensor("blk.0.ffn_gate.weight", [ffn, hidden]),
         tensor("blk.0.ffn_up.weight", [ffn, hidden]), tensor("blk.0.ffn_down.weight", [hidden, ffn], down_type or weight_type)]
    if qkv_bias:
        t += [tensor("blk.0.attn_q.bias", [hidden], "F32"), tensor("blk.0.attn_k.bias", [hidden // heads], "F32"),
              tensor("blk.0.attn_v.bias", [hidden // heads], "F32")]
    return gguf_bytes(meta, t)


def gguf_model_seeds():
    out("gguf_model", "llama_spm_f32", tiny_llama_gguf("F32", "llama"))
    out("gguf_model", "llama_spm_q8_0", tiny_llama_gguf("Q8_0", "llama"))
    out("gguf_model", "llama_spm_q4_0", tiny_llama_gguf("Q4_0", "llama"))
    out("gguf_model", "llama_spm_q4_0_down_q4_k", tiny_llama_gguf("Q4_0", "llama", down_type="Q4_K"))
    out("gguf_model", "llama_spm_q8_0_down_q6_k", tiny_llama_gguf("Q8_0", "llama", down_type="Q6_K"))
    out("gguf_model", "llama_bpe_f16", tiny_llama_gguf("F16", "gpt2"))
    out("gguf_model", "qwen2_bpe_f32_qkv_bias", tiny_llama_gguf("F32", "gpt2", qkv_bias=True))


# ---- config.json ------------------------------------------------------------------------

def config_seeds(shared):
    hf = os.path.join(shared, "fixtures", "hf")
    for arch in sorted(os.listdir(hf)):
        p = os.path.join(hf, arch, "config.json")
        if os.path.exists(p):
            with open(p, "rb") as f:
                out("config_build", arch, f.read())


# ---- tokenizer.json ---------------------------------------------------------------------

def tokenizer_seeds(shared):
    specials = [{"id": 0, "content": "[PAD]", "special": True}, {"id": 1, "content": "[UNK]", "special": True},
                {"id": 2, "content": "[CLS]", "special": True}, {"id": 3, "content": "[SEP]", "special": True}]
    for t in specials:
        t.update({"single_word": False, "lstrip": False, "rstrip": False, "normalized": False})
    words = ["hello", "world", "it", "'", "s", "##s", "##ing", "multi", "##ple", "space", "##s", "and", "new",
             "##line", ",", "!", ".", "2", "##0", "##4", "caf", "##e", "na", "##ive", "x", "a", "b"]
    vocab = {t["content"]: t["id"] for t in specials}
    for w in words:
        vocab.setdefault(w, len(vocab))
    wordpiece = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": specials,
        "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                       "strip_accents": None, "lowercase": True},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {"type": "TemplateProcessing",
                           "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                                      {"Sequence": {"id": "A", "type_id": 0}},
                                      {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
                           "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                                    {"Sequence": {"id": "A", "type_id": 0}},
                                    {"SpecialToken": {"id": "[SEP]", "type_id": 0}},
                                    {"Sequence": {"id": "B", "type_id": 1}},
                                    {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
                           "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [2], "tokens": ["[CLS]"]},
                                              "[SEP]": {"id": "[SEP]", "ids": [3], "tokens": ["[SEP]"]}}},
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": vocab}}
    out("tokenizer", "wordpiece_bert", json.dumps(wordpiece, indent=1))

    # Byte-level BPE (GPT-2 / RoBERTa style) with a regex split.
    chars = ["h", "e", "l", "o", "\u0120", "w", "r", "d", ",", "!", "i", "t", "s", "a", "n", "c", "'"]
    bpe_vocab = {c: i for i, c in enumerate(chars)}
    merges = ["h e", "l l", "he ll", "hell o", "\u0120 w", "o r", "\u0120w or", "\u0120wor l", "\u0120worl d",
              "i t", "' s"]
    for m in merges:
        bpe_vocab.setdefault(m.replace(" ", ""), len(bpe_vocab))
    bpe_vocab["<|endoftext|>"] = len(bpe_vocab)
    for t in ["<s>", "</s>"]:  # RobertaProcessing's tokens must be in the vocabulary
        bpe_vocab[t] = len(bpe_vocab)
    bpe = {"version": "1.0", "truncation": None, "padding": None,
           "added_tokens": [{"id": bpe_vocab["<|endoftext|>"], "content": "<|endoftext|>", "single_word": False,
                             "lstrip": False, "rstrip": False, "normalized": True, "special": True}],
           "normalizer": {"type": "Sequence", "normalizers": [{"type": "NFC"}]},
           "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
               {"type": "Split", "pattern": {"Regex": "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"},
                "behavior": "Isolated", "invert": False},
               {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
           "post_processor": {"type": "RobertaProcessing", "sep": ["</s>", bpe_vocab["</s>"]],
                              "cls": ["<s>", bpe_vocab["<s>"]],
                              "trim_offsets": True, "add_prefix_space": False},
           "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
           "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                     "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "vocab": bpe_vocab,
                     "merges": merges}}
    out("tokenizer", "bpe_byte_level", json.dumps(bpe, indent=1, ensure_ascii=False))

    # SentencePiece-style BPE with byte fallback and Metaspace.
    sp_vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        sp_vocab[f"<0x{b:02X}>"] = len(sp_vocab)
    for p in ["\u2581", "h", "e", "l", "o", "w", "r", "d", "\u2581h", "\u2581he", "ll", "\u2581hell", "\u2581hello"]:
        sp_vocab.setdefault(p, len(sp_vocab))
    spbpe = {"version": "1.0", "added_tokens": [
                 {"id": 0, "content": "<unk>", "single_word": False, "lstrip": False, "rstrip": False,
                  "normalized": False, "special": True}],
             "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u2581"},
                                                                {"type": "Replace", "pattern": {"String": " "},
                                                                 "content": "\u2581"}]},
             "pre_tokenizer": None,
             "post_processor": {"type": "TemplateProcessing",
                                "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                           {"Sequence": {"id": "A", "type_id": 0}}],
                                "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
                                "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
             "decoder": {"type": "Sequence", "decoders": [
                 {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "}, {"type": "ByteFallback"},
                 {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
             "model": {"type": "BPE", "unk_token": "<unk>", "fuse_unk": True, "byte_fallback": True,
                       "vocab": sp_vocab, "merges": ["\u2581 h", "\u2581h e", "l l", "\u2581he ll", "\u2581hell o"]}}
    out("tokenizer", "bpe_sentencepiece_byte_fallback", json.dumps(spbpe, indent=1, ensure_ascii=False))

    unigram = {"version": "1.0", "added_tokens": [],
               "normalizer": {"type": "Sequence", "normalizers": [{"type": "NFKC"}, {"type": "Lowercase"},
                                                                  {"type": "StripAccents"},
                                                                  {"type": "Strip", "strip_left": True, "strip_right": True}]},
               "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always",
                                 "split": True},
               "post_processor": None,
               "decoder": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True},
               "model": {"type": "Unigram", "unk_id": 0, "byte_fallback": False,
                         "vocab": [["<unk>", 0.0], ["\u2581", -2.0], ["\u2581hello", -3.0], ["\u2581world", -3.5],
                                   ["h", -5.0], ["e", -5.0], ["l", -5.0], ["o", -5.0], ["w", -5.0], ["r", -5.0],
                                   ["d", -5.0], [",", -4.0], ["!", -4.0], ["\u2581it", -4.0], ["'s", -4.5]]}}
    out("tokenizer", "unigram_metaspace", json.dumps(unigram, indent=1, ensure_ascii=False))

    wordlevel = {"version": "1.0", "added_tokens": [],
                 "normalizer": {"type": "Replace", "pattern": {"String": "1"}, "content": "0"},
                 "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                     {"type": "WhitespaceSplit"}, {"type": "Punctuation", "behavior": "Isolated"},
                     {"type": "Digits", "individual_digits": True}, {"type": "CharDelimiterSplit", "delimiter": "-"},
                     {"type": "Whitespace"}]},
                 "truncation": {"direction": "Right", "max_length": 8, "strategy": "LongestFirst", "stride": 0},
                 "padding": {"strategy": {"Fixed": 8}, "direction": "Right", "pad_to_multiple_of": None,
                             "pad_id": 0, "pad_type_id": 0, "pad_token": "[PAD]"},
                 "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", 1], "cls": ["[CLS]", 2]},
                 "decoder": {"type": "BPEDecoder", "suffix": "</w>"},
                 "model": {"type": "WordLevel", "vocab": {"[PAD]": 0, "[SEP]": 1, "[CLS]": 2, "[UNK]": 3,
                                                          "hello": 4, "world": 5, "0": 6, ",": 7},
                           "unk_token": "[UNK]"}}
    out("tokenizer", "wordlevel_pretokenizers", json.dumps(wordlevel, indent=1))

    # The real bert-base-uncased tokenizer.json with its vocabulary cut to 400 entries.
    p = os.path.join(shared, "fixtures", "tokenizers", "bert_base_uncased", "tokenizer.json")
    if os.path.exists(p):
        with open(p, encoding="utf-8") as f:
            bert = json.load(f)
        v = bert["model"]["vocab"]
        keep = dict(sorted(v.items(), key=lambda kv: kv[1])[:400])
        for t in bert.get("added_tokens", []):
            keep[t["content"]] = t["id"]
        bert["model"]["vocab"] = keep
        out("tokenizer", "bert_base_uncased_cut", json.dumps(bert, ensure_ascii=False))


# ---- Hugging Face tokenizer folders (tokenizer_folder) ------------------------------------

def pb_varint(v):
    v &= (1 << 64) - 1
    b = b""
    while True:
        if v < 0x80:
            return b + bytes([v])
        b += bytes([(v & 0x7f) | 0x80])
        v >>= 7


def pb_field(number, wire, payload):
    key = pb_varint(number << 3 | wire)
    if wire == 0:
        return key + pb_varint(payload)
    if wire == 5:
        return key + struct.pack("<f", payload)
    return key + pb_varint(len(payload)) + payload


def sentencepiece_model(model_type, byte_fallback):
    """A small sentencepiece ModelProto: (piece, score, type) pieces, trainer_spec, normalizer_spec."""
    pieces = [("<unk>", 0.0, 2), ("<s>", 0.0, 3), ("</s>", 0.0, 3)]
    if byte_fallback:
        pieces += [(f"<0x{b:02X}>", 0.0, 6) for b in range(256)]
    pieces += [(p, -float(i), 1) for i, p in enumerate(["\u2581", "a", "b", "c", "\u2581a", "ab", "\u2581ab", "bc",
                                                         "\u2581the", "he", "t", "h", "e", "\u2581t"], 1)]
    proto = b"".join(pb_field(1, 2, pb_field(1, 2, p.encode()) + pb_field(2, 5, sc) + pb_field(3, 0, t))
                     for p, sc, t in pieces)
    proto += pb_field(2, 2, pb_field(3, 0, model_type) + pb_field(35, 0, int(byte_fallback)) + pb_field(40, 0, 0) +
                      pb_field(41, 0, 1) + pb_field(42, 0, 2) + pb_field(43, 0, (1 << 64) - 1))
    proto += pb_field(3, 2, pb_field(1, 2, b"identity") + pb_field(3, 0, 1) + pb_field(4, 0, 1))
    return proto


def tokenizer_folder_seeds(shared):
    """Layout byte (fuzz_entries.h tokenizer_folder), then tokenizer_config.json,
    special_tokens_map.json, file A, file B."""
    def seed(name, layout, config, special, a, b=b""):
        enc = lambda x: x if isinstance(x, bytes) else (json.dumps(x) if x is not None else "").encode()
        out("tokenizer_folder", name, bytes([layout]) + SEP.join([enc(config), enc(special), enc(a), enc(b)]))

    fixtures = os.path.join(shared, "fixtures", "tokenizers")
    bert = os.path.join(fixtures, "bert_base_uncased")
    if os.path.isdir(bert):
        config = json.load(open(os.path.join(bert, "tokenizer_config.json")))
        special = json.load(open(os.path.join(bert, "special_tokens_map.json")))
        vocab = read(os.path.join(bert, "vocab.txt")).split(b"\n")[:400]
        seed("bert_vocab_txt", 1, config, special, b"\n".join(vocab) + b"\n")
        seed("bert_vocab_txt_by_path", 5, dict(config, do_lower_case=False, strip_accents=None), None,
             b"\n".join(vocab) + b"\n")
        added = {k: {"content": v, "lstrip": False, "normalized": False, "rstrip": False, "single_word": False}
                 for k, v in special.items()}
        seed("bert_vocab_txt_added_token_objects", 1, config, added, b"\n".join(vocab) + b"\n")
        tj = json.load(open(os.path.join(bert, "tokenizer.json"), encoding="utf-8"))
        keep = dict(sorted(tj["model"]["vocab"].items(), key=lambda kv: kv[1])[:400])
        for t in tj.get("added_tokens", []):
            keep[t["content"]] = t["id"]
        tj["model"]["vocab"] = keep
        seed("bert_tokenizer_json", 0, dict(config, model_max_length=128), special,
             json.dumps(tj, ensure_ascii=False).encode())
    gpt2 = os.path.join(fixtures, "gpt2")
    if os.path.isdir(gpt2):
        vocab = json.load(open(os.path.join(gpt2, "vocab.json"), encoding="utf-8"))
        merges = read(os.path.join(gpt2, "merges.txt")).split(b"\n")
        header, merges = merges[0], merges[1:45]
        small = {k: v for k, v in vocab.items() if v < 300}
        small["<|endoftext|>"] = vocab["<|endoftext|>"]
        for t in ["<s>", "</s>", "<pad>", "<unk>"]:  # what RobertaTokenizer's template needs
            small[t] = len(small) + 1000
        a = json.dumps(small, ensure_ascii=False).encode()
        b = header + b"\n" + b"\n".join(merges) + b"\n"
        seed("gpt2_bpe_files", 2, {"tokenizer_class": "GPT2Tokenizer", "add_prefix_space": False,
                                   "add_bos_token": False}, None, a, b)
        seed("roberta_bpe_files_by_path", 6, {"tokenizer_class": "RobertaTokenizer", "add_prefix_space": True,
                                              "model_max_length": 512},
             {"bos_token": "<s>", "eos_token": "</s>", "unk_token": {"content": "<|endoftext|>"}}, a, b)
    seed("llama_sentencepiece_bpe", 3, {"tokenizer_class": "LlamaTokenizer", "add_bos_token": True,
                                        "add_eos_token": False, "legacy": False},
         {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}, sentencepiece_model(2, True))
    seed("t5_sentencepiece_unigram_by_path", 7, {"tokenizer_class": "T5Tokenizer", "legacy": None}, None,
         sentencepiece_model(1, False))


# ---- quantized folders and HF quantized checkpoints ---------------------------------------

def tiny_llama(folder):
    os.makedirs(folder, exist_ok=True)
    cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 32, "intermediate_size": 64,
           "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1, "vocab_size": 32,
           "max_position_embeddings": 64, "rms_norm_eps": 1e-5, "hidden_act": "silu", "tie_word_embeddings": False,
           "rope_theta": 10000.0, "torch_dtype": "float32", "bos_token_id": 1, "eos_token_id": 2}
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    shapes = [("model.embed_tokens.weight", [32, 32]), ("lm_head.weight", [32, 32]), ("model.norm.weight", [32]),
              ("model.layers.0.input_layernorm.weight", [32]), ("model.layers.0.post_attention_layernorm.weight", [32]),
              ("model.layers.0.self_attn.q_proj.weight", [32, 32]), ("model.layers.0.self_attn.k_proj.weight", [16, 32]),
              ("model.layers.0.self_attn.v_proj.weight", [16, 32]), ("model.layers.0.self_attn.o_proj.weight", [32, 32]),
              ("model.layers.0.mlp.gate_proj.weight", [64, 32]), ("model.layers.0.mlp.up_proj.weight", [64, 32]),
              ("model.layers.0.mlp.down_proj.weight", [32, 64])]
    header, data = {}, b""
    for name, shape in shapes:
        n = 1
        for d in shape:
            n *= d
        vals = [1.0 if name.endswith("layernorm.weight") or name == "model.norm.weight" else rng.gauss(0, 0.05)
                for _ in range(n)]
        payload = struct.pack(f"<{n}f", *vals)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [len(data), len(data) + len(payload)]}
        data += payload
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(os.path.join(folder, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + data)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def folder_seeds(octet):
    tmp = tempfile.mkdtemp(prefix="octet-seeds-")
    try:
        base = os.path.join(tmp, "tiny")
        tiny_llama(base)
        out("config_build", "tiny_llama", read(os.path.join(base, "config.json")))
        runs = {"w8a16": ["--recipe", "w8a16"], "w4a16_rtn_g32": ["--recipe", "w4a16-rtn", "--group", "32"],
                "w4a16_rtn_g32_asym": ["--recipe", "w4a16-rtn", "--group", "32", "--asym"],
                "w8a8": ["--recipe", "w8a8"]}
        made = {}
        for name, args in runs.items():
            q = os.path.join(tmp, name)
            r = subprocess.run([octet, "quantize", base, "-o", q, "--log-level", "error"] + args, capture_output=True,
                               text=True)
            if r.returncode != 0:
                print(f"quantize {name} failed: {r.stderr.strip()}", file=sys.stderr)
                continue
            made[name] = q
            out("quantized_folder", name, read(os.path.join(q, "quantization_config.json")) + SEP +
                read(os.path.join(q, "model.safetensors")) + SEP + read(os.path.join(q, "config.json")))
        exports = {"awq": ("w4a16_rtn_g32_asym", []), "gptq": ("w4a16_rtn_g32", []),
                   "gptq_v2": ("w4a16_rtn_g32_asym", ["--gptq-v2"]), "compressed_tensors": ("w8a8", []),
                   "modelopt": ("w4a16_rtn_g32", [])}
        for name, (src, extra) in exports.items():
            if src not in made:
                continue
            fmt = {"gptq_v2": "gptq"}.get(name, name.replace("_", "-"))
            h = os.path.join(tmp, "hf_" + name)
            r = subprocess.run([octet, "export-hf", made[src], "-o", h, "--format", fmt, "--log-level", "error"] + extra,
                               capture_output=True, text=True)
            if r.returncode != 0:
                print(f"export-hf {name} failed: {r.stderr.strip()}", file=sys.stderr)
                continue
            parts = [read(os.path.join(h, "config.json")), read(os.path.join(h, "model.safetensors"))]
            for extra_file in ["hf_quant_config.json", "quantize_config.json"]:
                p = os.path.join(h, extra_file)
                parts.append(read(p) if os.path.exists(p) else b"")
            out("hf_quant", name, SEP.join(parts))
    finally:
        shutil.rmtree(tmp)


def fp8_checkpoint_seeds():
    """vLLM's quant_method "fp8" (static and dynamic activations), written here: `octet export-hf
    --format fp8` needs a folder quantized with the fp8 recipe, which calibrates on text through a
    tokenizer the tiny model does not have. Linears: F8_E4M3 codes (no NaN, 0x7f / 0xff) with a
    0-d F32 weight_scale (and input_scale when static), as llm-compressor / AutoFP8 write them."""
    r = random.Random(8)  # its own generator: the other seeds stay as they were
    linears = [("self_attn.q_proj", [32, 32]), ("self_attn.k_proj", [16, 32]), ("self_attn.v_proj", [16, 32]),
               ("self_attn.o_proj", [32, 32]), ("mlp.gate_proj", [64, 32]), ("mlp.up_proj", [64, 32]),
               ("mlp.down_proj", [32, 64])]
    for scheme in ["static", "dynamic"]:
        cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 32,
               "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1,
               "vocab_size": 32, "max_position_embeddings": 64, "rms_norm_eps": 1e-5, "hidden_act": "silu",
               "tie_word_embeddings": False, "torch_dtype": "bfloat16",
               "quantization_config": {"quant_method": "fp8", "activation_scheme": scheme}}
        header, data = {}, b""

        def add(name, dtype, shape, payload):
            nonlocal data
            header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(payload)]}
            data += payload

        def floats(values):
            return struct.pack(f"<{len(values)}f", *values)

        add("model.embed_tokens.weight", "F32", [32, 32], floats([r.gauss(0, 0.05) for _ in range(1024)]))
        add("lm_head.weight", "F32", [32, 32], floats([r.gauss(0, 0.05) for _ in range(1024)]))
        for norm in ["model.norm.weight", "model.layers.0.input_layernorm.weight",
                     "model.layers.0.post_attention_layernorm.weight"]:
            add(norm, "F32", [32], floats([1.0] * 32))
        for name, shape in linears:
            m = "model.layers.0." + name
            codes = bytes((r.randint(0, 1) << 7) | r.randint(0, 0x7E) for _ in range(shape[0] * shape[1]))
            add(m + ".weight", "F8_E4M3", shape, codes)
            add(m + ".weight_scale", "F32", [], floats([r.uniform(0.0005, 0.002)]))
            if scheme == "static":
                add(m + ".input_scale", "F32", [], floats([r.uniform(0.005, 0.02)]))
        h = json.dumps(header, separators=(",", ":")).encode()
        h += b" " * ((8 - len(h) % 8) % 8)
        st = struct.pack("<Q", len(h)) + h + data
        out("hf_quant", "fp8_" + scheme, SEP.join([json.dumps(cfg, indent=1).encode(), st, b"", b""]))


# ---- dictionaries (tests/fuzz/dict/<target>.dict): format tokens and the JSON keys of the seeds ----

def write_dict(name, words):
    d = os.path.join(ROOT, "tests", "fuzz", "dict")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name + ".dict"), "w") as f:
        f.write(f"# libFuzzer dictionary for fuzz_{name} (written by tests/fuzz/make_seeds.py)\n")
        for w in sorted(set(words)):
            b = w.encode() if isinstance(w, str) else w
            f.write('"' + "".join(chr(c) if 0x20 <= c < 0x7f and c not in (0x22, 0x5c) else f"\\x{c:02X}" for c in b)
                    + '"\n')


def keys_of(target, pattern=rb'"([A-Za-z_0-9.:()\-]{1,40})"'):
    d = os.path.join(CORPUS, target)
    found = set()
    for f in os.listdir(d):
        found |= set(re.findall(pattern, read(os.path.join(d, f))))
    return found


def dictionaries():
    write_dict("safetensors", ["__metadata__", "dtype", "shape", "data_offsets", "{", "}", "[", "]", ":", ",",
                               "U16", "U32", "U64"] + list(ST_SIZES))
    write_dict("gguf", [b"GGUF", b"general.alignment", b"general.architecture", b"tokenizer.ggml.tokens",
                        b"\x00\x00\x00\x00\x00\x00\x00\x00", b"\xff\xff\xff\xff\xff\xff\xff\xff",
                        b"\x00\x00\x00\x00\x00\x01\x00\x00"])
    write_dict("gguf_model", [b"GGUF", b"general.architecture", b"llama", b"gpt2", b"llama-bpe", b"llama3", b"qwen2",
                              b"llama.rope.scaling.type", b"linear", b"llama.rope.scaling.factor",
                              b"llama.attention.key_length", b"llama.rope.dimension_count", b"blk.1.",
                              b"tokenizer.ggml.add_space_prefix", b"tokenizer.ggml.padding_token_id",
                              b"tokenizer.ggml.add_eos_token"] +
               [k for k in keys_of("gguf_model", rb"([a-z_]+\.[a-z_.]+)") if 6 <= len(k) < 48] +
               [b"\x00\x00\x00\x00\x00\x00\x00\x00", b"\xff\xff\xff\xff\xff\xff\xff\xff"])
    write_dict("config_build", keys_of("config_build") | {b"null", b"true", b"false", b"1099511627776", b"-1",
                                                          b"9223372036854775807", b"1e308"})
    write_dict("tokenizer", keys_of("tokenizer") | {b"\\p{L}", b"(?i:", b"(?!", "\u2581".encode(), b"##",
                                                    b"<0x41>", b"Precompiled", b"precompiled_charsmap"})
    write_dict("tokenizer_folder", keys_of("tokenizer_folder") | {SEP, b"do_lower_case", b"strip_accents",
                                                                  b"tokenize_chinese_chars", b"add_prefix_space",
                                                                  b"add_bos_token", b"add_eos_token", b"legacy",
                                                                  b"tokenizer_class", b"model_max_length", b"content",
                                                                  b"null", b"true", b"false", b"T5", b"Roberta"})
    write_dict("quantized_folder", keys_of("quantized_folder") | {SEP, b"int4:sym:group(32)", b"uint4:affine:group(32)",
                                                                  b"fp8_e4m3:sym:per_tensor", b"int8:sym:per_token"})
    write_dict("hf_quant", keys_of("hf_quant") | {SEP, b"awq", b"gptq", b"compressed-tensors", b"fp8", b"modelopt",
                                                  b"FP8", b"W4A16_AWQ", b"W4A8_AWQ", b"W8A16", b"INT8"})


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--octet", default=os.path.join(ROOT, "build", "bin", "octet"))
    ap.add_argument("--shared", default=os.environ.get("OCTET_SHARED", os.path.join(ROOT, "..", "shared")))
    ap.add_argument("--only", help="write only these seeds and the dictionaries (gguf_model, tokenizer, tokenizer_folder, "
                                   "hf_quant_fp8)")
    a = ap.parse_args()
    only = {"gguf_model": gguf_model_seeds, "tokenizer": lambda: tokenizer_seeds(a.shared),
            "tokenizer_folder": lambda: tokenizer_folder_seeds(a.shared), "hf_quant_fp8": fp8_checkpoint_seeds}
    if a.only in only:
        only[a.only]()
        dictionaries()
        return
    assert a.only is None, f"--only supports {', '.join(only)}"
    safetensors_seeds()
    gguf_seeds()
    gguf_model_seeds()
    config_seeds(a.shared)
    tokenizer_seeds(a.shared)
    tokenizer_folder_seeds(a.shared)
    folder_seeds(a.octet)
    fp8_checkpoint_seeds()
    dictionaries()


if __name__ == "__main__":
    main()
