// A LLaMA-family decoder (model_type llama, mistral without a sliding window
// shorter than the cache, qwen2) running on one CUDA GPU, built from a loaded
// CPU model: Model::parameters() gives every tensor by its checkpoint name.
//
// Precisions (all activations f16, every kernel's math f32):
//   fp16   every Linear through cuBLASLt f16 (f32 accumulation)
//   w4a16  Linears (not the LM head) int4, symmetric RTN per group of 128
//          input columns (octet's grid rule; scales stored as f16), run by
//          the W4A16 GEMV for <= 16 rows and dequantize + cuBLASLt above
//   fp8    Linears (not the LM head) W8A8 e4m3 per tensor: weight scale
//          amax / 448, activations quantized dynamically per tensor
// The LM head stays f16 in every precision (as AWQ / GPTQ checkpoints do).
// KV cache f16 or fp8 e4m3 (one f32 scale per layer and kv head, default 1.0:
// e4m3's range +-448 covers LLaMA keys and values without calibration).
//
// Sequences of one batch have the same length (no padding): prefill() starts
// them, decode_step() appends one token to each. Decode steps are captured in
// a CUDA graph per batch size and replayed (the cache length is read from
// device memory), unless DecoderOptions::use_graphs is false.
//
// All of this is host code over the public octet::cuda API: built without
// CUDA it compiles and throws the stand-in's Error "cuda".
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "octet/cuda_llm_ops.h"
#include "octet/model.h"

namespace octet::cuda {

enum class LlmPrecision { FP16, W4A16, FP8 };
enum class KvCacheType { F16, FP8 };

// "fp16" | "w4a16" | "fp8"; "f16" | "fp8" (Error "cli"-free: tag "cuda").
LlmPrecision parse_llm_precision(std::string_view text);
std::string_view llm_precision_name(LlmPrecision p);
KvCacheType parse_kv_cache_type(std::string_view text);
std::string_view kv_cache_type_name(KvCacheType t);

struct DecoderOptions {
  LlmPrecision precision = LlmPrecision::FP16;
  KvCacheType kv_cache = KvCacheType::F16;
  int device = 0;
  int64_t max_batch = 1;
  int64_t max_seq = 2048;  // cache capacity per sequence (prompt + generated)
  bool use_graphs = true;
  float kv_scale = 1.0f;   // fp8 cache: the scale of every (layer, kv head)
  // rms_norm_eps; <= 0: read config.json beside the model (model_dir), else 1e-5.
  float rms_norm_eps = 0;
  std::filesystem::path model_dir;  // where config.json is (optional)
};

// The int4 symmetric group-128 RTN of an f32 weight [N, K] (K % 128 == 0)
// with octet's grid rule (quant.h: qparams_for_range for int4:sym:group(128)),
// packed for the GEMV. dequantize_w4() of it is the weight the GPU uses.
W4Host quantize_w4_rtn(const Tensor& weight);

class LlamaCudaRunner {
 public:
  LlamaCudaRunner(const Model& model, const DecoderOptions& options);
  ~LlamaCudaRunner();
  LlamaCudaRunner(const LlamaCudaRunner&) = delete;
  LlamaCudaRunner& operator=(const LlamaCudaRunner&) = delete;

  // Starts `tokens` (i64 or i32 [B, S], B <= max_batch, S <= max_seq) from an
  // empty cache. Returns f32 logits [B, vocab] of the last position, or [B,
  // S, vocab] of every position when `all_positions`.
  Tensor prefill(const Tensor& tokens, bool all_positions = false);
  // One new token per sequence (B as in prefill) -> f32 logits [B, vocab].
  Tensor decode_step(std::span<const int64_t> tokens);
  // Greedy continuation of `prompt` [B, S]: prefill, then `new_tokens`
  // argmax steps (ties to the lowest id). Result [B][new_tokens].
  std::vector<std::vector<int64_t>> generate_greedy(const Tensor& prompt, int64_t new_tokens);

  // Reallocates the KV cache for `max_batch` sequences of `max_seq` tokens
  // (drops the cached tokens and the captured decode graphs).
  void set_cache(int64_t max_batch, int64_t max_seq);

  int64_t length() const;  // tokens cached per sequence
  int64_t batch() const;   // sequences of the current prefill
  const ModelInfo& info() const;
  // Device bytes of all weights (embedding table included).
  int64_t weight_bytes() const;
  // Bytes one decode step reads: every Linear and norm weight, the LM head,
  // and the keys and values of `batch` sequences of `length` tokens.
  int64_t decode_bytes(int64_t batch, int64_t length) const;
  const Stream& stream() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace octet::cuda
