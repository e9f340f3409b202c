// Random-weight models in Hugging Face layout, for benchmarks and tests:
// config.json (architectures / model_type as transformers writes them) and
// model.safetensors with the tensor names the builders read.
//
//   bert  base  (hidden 768, 12 layers, 12 heads, inter 3072, vocab 30522)
//         large (1024, 24, 16, 4096), tiny (64, 2, 4, 128, vocab 512: the
//         fixtures' shapes); BertForSequenceClassification, num_labels 2.
//   llama 1b    (TinyLlama-1.1B: hidden 2048, 22 layers, 32 heads, 4 kv
//         heads, inter 5632, vocab 32000, 2048 positions), tiny (64, 2, 4/2,
//         128, vocab 512); LlamaForCausalLM, untied lm_head.
//
// Weights are N(0, 0.02^2) like transformers' init (initializer_range),
// biases 0, norm weights 1; drawn from per-tensor, per-block seeded
// generators, so the files are identical for a seed whatever the thread count.
// llama gets a synthetic SentencePiece vocabulary (tokenizer.gguf, below);
// bert no tokenizer.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "octet/tensor.h"

namespace octet {

struct SynthOptions {
  std::string arch = "llama";  // "bert" | "llama"
  std::string size = "tiny";   // bert: tiny, base, large; llama: tiny, 1b
  uint64_t seed = 0;
};

enum class SynthInit { Normal, Zeros, Ones };

struct SynthTensor {
  std::string name;
  Shape shape;
  SynthInit init = SynthInit::Normal;
};

// What synthesize() writes, without the weights.
struct SynthPlan {
  std::string config_json;  // config.json's text
  std::vector<SynthTensor> tensors;
  // llama: the size of the synthetic SentencePiece vocabulary written as
  // tokenizer.gguf (0: none). <unk> <s> </s>, the 256 byte pieces <0x00>..
  // <0xFF>, then "▁" and letter pieces ("a".."z", "▁a".., "ab".., "▁ab"..), so text
  // tokenizes (calibration, `octet generate`) and `octet export-gguf` writes a
  // file llama.cpp loads. Not a trained tokenizer: for speed and plumbing.
  int64_t llama_vocab = 0;
  int64_t parameters() const;
};

// Throws Error("synth") for an unknown arch or size.
SynthPlan synth_plan(const SynthOptions& options);

struct SynthResult {
  std::filesystem::path dir;
  int64_t parameters = 0;
  uint64_t bytes = 0;  // of model.safetensors
};

// Writes config.json and model.safetensors (llama: also tokenizer.gguf) as the
// folder `dir`, atomically: a failed or killed run leaves no `dir` (or the old
// one). An existing `dir` is an Error("synth") unless `overwrite`, which
// replaces it whole.
SynthResult synthesize(const SynthOptions& options, const std::filesystem::path& dir, bool overwrite = false);

}  // namespace octet
