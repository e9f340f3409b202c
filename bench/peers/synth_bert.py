#!/usr/bin/python3
"""Writes a randomly initialised BERT in Hugging Face layout, for benchmarks.

  synth_bert.py OUT_DIR [--size base|large|mini] [--labels 2] [--seed 0] [--tokenizer DIR]

OUT_DIR gets config.json (BertForSequenceClassification), model.safetensors (f32,
weights ~ N(0, 0.02) as HF's initializer_range, LayerNorm weight 1 / bias 0, biases 0)
and, with --tokenizer, the tokenizer files of DIR (models/sst2-bert-mini has BERT's
uncased 30522-word vocabulary, so the model can be fed SST-2 text). Only the shapes
matter for latency; accuracy of such a model is chance.
"""
import argparse
import json
import os
import shutil
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_bert import write_safetensors  # noqa: E402

SIZES = {  # hidden, layers, heads, intermediate
    "mini": (256, 4, 4, 1024),
    "base": (768, 12, 12, 3072),
    "large": (1024, 24, 16, 4096),
}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out")
    p.add_argument("--size", choices=sorted(SIZES), default="base")
    p.add_argument("--labels", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tokenizer", help="copy tokenizer.json / vocab.txt / tokenizer_config.json ... from here")
    a = p.parse_args()
    hidden, layers, heads, inter = SIZES[a.size]
    vocab, positions, types = 30522, 512, 2
    rng = np.random.default_rng(a.seed)

    def normal(*shape):
        return (rng.standard_normal(shape, dtype=np.float32) * np.float32(0.02)).astype(np.float32)

    t = {
        "bert.embeddings.word_embeddings.weight": normal(vocab, hidden),
        "bert.embeddings.position_embeddings.weight": normal(positions, hidden),
        "bert.embeddings.token_type_embeddings.weight": normal(types, hidden),
        "bert.embeddings.LayerNorm.weight": np.ones(hidden, np.float32),
        "bert.embeddings.LayerNorm.bias": np.zeros(hidden, np.float32),
    }
    for i in range(layers):
        pre = f"bert.encoder.layer.{i}."
        for name, (o, n) in {"attention.self.query": (hidden, hidden), "attention.self.key": (hidden, hidden),
                             "attention.self.value": (hidden, hidden), "attention.output.dense": (hidden, hidden),
                             "intermediate.dense": (inter, hidden), "output.dense": (hidden, inter)}.items():
            t[pre + name + ".weight"] = normal(o, n)
            t[pre + name + ".bias"] = np.zeros(o, np.float32)
        for ln in ("attention.output.LayerNorm", "output.LayerNorm"):
            t[pre + ln + ".weight"] = np.ones(hidden, np.float32)
            t[pre + ln + ".bias"] = np.zeros(hidden, np.float32)
    t["bert.pooler.dense.weight"] = normal(hidden, hidden)
    t["bert.pooler.dense.bias"] = np.zeros(hidden, np.float32)
    t["classifier.weight"] = normal(a.labels, hidden)
    t["classifier.bias"] = np.zeros(a.labels, np.float32)

    config = {
        "architectures": ["BertForSequenceClassification"], "model_type": "bert",
        "hidden_size": hidden, "num_hidden_layers": layers, "num_attention_heads": heads,
        "intermediate_size": inter, "hidden_act": "gelu", "vocab_size": vocab,
        "max_position_embeddings": positions, "type_vocab_size": types, "layer_norm_eps": 1e-12,
        "pad_token_id": 0, "position_embedding_type": "absolute", "initializer_range": 0.02,
        "id2label": {str(i): f"LABEL_{i}" for i in range(a.labels)},
        "label2id": {f"LABEL_{i}": i for i in range(a.labels)},
        "torch_dtype": "float32", "octet_synthetic": f"synth_bert.py --size {a.size} --seed {a.seed}",
    }
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    write_safetensors(os.path.join(a.out, "model.safetensors"), t)
    if a.tokenizer:
        for name in ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
            src = os.path.join(a.tokenizer, name)
            if os.path.exists(src):
                shutil.copy(src, os.path.join(a.out, name))
    n = sum(v.size for v in t.values())
    print(f"{a.out}: BERT-{a.size} ({n / 1e6:.1f}M parameters, {layers} layers, hidden {hidden})")


if __name__ == "__main__":
    main()
