// GGUF llama models as Hugging Face folders.
//
// llama_hf_config_from_gguf is the one mapping from a GGUF file's llama.*
// hyper-parameters to a config.json: load_model() of a .gguf builds the LLaMA
// model from exactly this json, so a folder holding
//
//   octet::write_gguf_model_files("model.gguf", dir);   // config.json + tokenizer.gguf
//   octet::save_safetensors(dir / "model.safetensors",
//                           octet::load_model("model.gguf", {.float_weights = true})->parameters());
//
// loads (load_model(dir), load_model_tokenizer(dir)) as the same model with
// the same tokenizer. parameters() are already in Hugging Face names and
// layouts (q/k rows un-permuted from llama.cpp's rotary order).
// Errors are octet::Error tagged "models" (or "gguf" for the file itself).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "octet/gguf.h"
#include "octet/model.h"

namespace octet {

// The config.json of a GGUF "llama" model: LlamaForCausalLM with the sizes,
// head_dim (only when llama.attention.key_length is set), context length,
// rms_norm_eps, rope_theta, rope_scaling ({"type": "linear", "factor"} or
// null), vocab_size (token_embd rows), tie_word_embeddings (no output.weight),
// attention_bias / mlp_bias (q, k, v and o biases; MLP biases), bos/eos/pad
// token ids from tokenizer.ggml.* (null when absent), torch_dtype float32.
// Floats are the file's f32 values widened exactly. q/k/v biases without an
// o bias (Qwen2-style) give model_type "qwen2" (Qwen2ForCausalLM), which is
// LLaMA with exactly those biases. Unsupported files (another architecture,
// partial rotary, rope scaling other than linear, inconsistent heads) throw.
nlohmann::json llama_hf_config_from_gguf(const GgufFile& file);

// Writes config.json (the above) and tokenizer.gguf (a GGUF with no tensors:
// general.architecture and every tokenizer.* key of `gguf`) into the existing
// `folder`, each to a temporary name renamed into place. A file without a
// tokenizer (tokenizer.ggml.model) is an error.
void write_gguf_model_files(const std::filesystem::path& gguf, const std::filesystem::path& folder);

// A Linear of a GGUF model whose weight stays in the file's blocks.
struct GgufResidentLinear {
  std::string linear;          // the model's Linear ("model.layers.0.self_attn.q_proj")
  std::string tensor;          // its GGUF tensor ("blk.0.attn_q.weight")
  GgmlType type = GgmlType::F32;
  Shape shape;                 // [out, in] as stored
  Tensor blocks;               // the stored bytes (u8, a view of the mapped file)
  int64_t permuted_heads = 0;  // q/k: the heads whose rows llama.cpp interleaved for its rotary; else 0
};

// The model of a GGUF file (what load_model() builds from the file), except
// that when `resident` is given, Linear weights stored as one of
// `resident_types` are not dequantized: those Linears are built
// nn::Linear::kernel_resident (no f32 weight) and listed in `resident`, for
// the caller to install kernels that read the blocks. load_model() does so
// for Q4_0, Q8_0, Q4_K and Q6_K (native weight-only kernels) unless
// LoadOptions::float_weights.
std::unique_ptr<Model> load_gguf_model(const std::filesystem::path& path, const LoadOptions& options,
                                       const std::vector<GgmlType>& resident_types,
                                       std::vector<GgufResidentLinear>* resident);
// Every weight dequantized to f32.
std::unique_ptr<Model> load_gguf_model(const std::filesystem::path& path, const LoadOptions& options);

}  // namespace octet
