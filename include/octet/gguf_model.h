// GGUF llama models as Hugging Face folders.
//
// llama_hf_config_from_gguf is the one mapping from a GGUF file's llama.*
// hyper-parameters to a config.json: load_model() of a .gguf builds the LLaMA
// model from exactly this json, so a folder holding
//
//   octet::write_gguf_model_files("model.gguf", dir);   // config.json + tokenizer.gguf
//   octet::save_safetensors(dir / "model.safetensors", octet::load_model("model.gguf")->parameters());
//
// loads (load_model(dir), load_model_tokenizer(dir)) as the same model with
// the same tokenizer. parameters() are already in Hugging Face names and
// layouts (q/k rows un-permuted from llama.cpp's rotary order).
// Errors are octet::Error tagged "models" (or "gguf" for the file itself).
#pragma once

#include <filesystem>

#include <nlohmann/json.hpp>

namespace octet {

class GgufFile;  // octet/gguf.h

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

}  // namespace octet
