// Decoder LLMs: the KV cache, incremental decoding and text generation.
//
//   auto model = octet::load_causal_lm("fixtures/hf/llama");
//   octet::GenerationOptions opt;
//   opt.max_new_tokens = 20;
//   auto result = octet::generate(*model, {{1, 15043, 29892}}, opt);
//
// A batch of prompts of different lengths is left-padded: padding tokens get
// attention_mask 0 and every sequence's position ids are cumsum(mask) - 1
// (what transformers' generate() passes), so each sequence computes exactly
// what it would alone. The cache is allocated once per call, sized to the
// longest prompt plus max_new_tokens, and read in place by attention.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "octet/model.h"
#include "octet/nn.h"
#include "octet/tokenizer.h"

namespace octet {

class GgufFile;

// One nn::AttentionCache per attention layer, for `batch` sequences of up to
// `capacity` tokens; all layers hold the same number of tokens.
class KVCache {
 public:
  KVCache() = default;
  explicit KVCache(std::vector<nn::AttentionCache> layers);

  int64_t length() const;  // tokens cached per sequence
  int64_t capacity() const;
  int64_t batch() const;
  // Bytes allocated for keys and values: f32 tensors, or codes plus any
  // per-token scales when the layers quantize their cache (nn::KvCacheQuant).
  size_t bytes() const;
  std::vector<nn::AttentionCache>& layers() { return layers_; }
  const std::vector<nn::AttentionCache>& layers() const { return layers_; }
  // Forgets every cached token (the memory stays allocated).
  void clear();

 private:
  std::vector<nn::AttentionCache> layers_;
};

// A decoder-only language model that can run incrementally.
class CausalLM : public Model {
 public:
  // The longest sequence the model can position (max_position_embeddings).
  int64_t context_length() const { return info_.max_positions; }

  KVCache make_cache(int64_t batch, int64_t capacity) const;

  // Runs the new tokens inputs.input_ids [batch, seq] after the cache's
  // tokens and appends their keys/values. inputs.attention_mask covers cached
  // and new tokens: [batch, cache.length() + seq] (default all ones);
  // inputs.position_ids [batch, seq] (default: cache.length() + 0..seq-1).
  // Returns logits [batch, seq, vocab], or [batch, 1, vocab] for the last
  // position only when `last_only` (prefill need not project every position).
  virtual Tensor forward_cached(const ModelInputs& inputs, KVCache& cache, bool last_only) const = 0;

  // One decode step for n independent sequences, each with its own KVCache of
  // batch 1 (the caches may hold different numbers of tokens): tokens[i] is
  // appended to *caches[i] at position caches[i]->length(). Returns the
  // next-token logits [n, vocab]. Row i equals what
  // forward_cached([[tokens[i]]], *caches[i], /*last_only=*/true) returns, bit for bit.
  // (Continuous batching: sequences join and leave between steps.)
  //
  // This base version runs forward_cached per sequence. DecoderModel runs the
  // sequences together (each Linear one product of M = n rows, attention per
  // sequence on its own cache) in groups of at most the smallest
  // Linear::row_invariant_rows() of the model, so the promise holds for any n:
  //   f32 after use_decode_kernels: 64 rows (runtime::kGemvMaxRows, the GEMV);
  //   native int8 (W8A8 static or per-token dynamic): any number (integer
  //     dots, per-row scales and a per-element epilogue);
  //   native weight-only (W8A16 / W4A16): any number (integer GEMV / GEMM,
  //     unless OCTET_WO_GEMV_MAX_ROWS / set_weight_only_gemv_max_rows caps
  //     the integer path: more rows than the cap dequantize and run sgemm);
  //   simulated kernels (e.g. fp8, W4A8) and Linears without a kernel (the
  //     f32 sgemm, whose rows depend on M): 1, i.e. one sequence at a time.
  // An active activation site (calibration observers, fake-quant transforms)
  // also runs the sequences one at a time, so observers see what
  // forward_cached shows them.
  //
  // Throws Error("models") unless tokens.size() == caches.size() > 0, every
  // cache is distinct, of batch 1, made for this model (its layers and KV
  // quantization) with room for one more token, and every token id is in the
  // vocabulary; the caches are then untouched.
  virtual Tensor decode_ragged(std::span<const int64_t> tokens, std::span<KVCache* const> caches) const;

 protected:
  // The checks decode_ragged() promises (every override calls it first).
  void check_ragged(std::span<const int64_t> tokens, std::span<KVCache* const> caches) const;
  virtual nn::AttentionCache make_layer_cache(int64_t layer, int64_t batch, int64_t capacity) const = 0;
  virtual int64_t num_attention_layers() const = 0;
};

// load_model() for a decoder; throws Error("generate") when the model is not a causal LM.
// The head is always CausalLM; `options` passes float_weights.
std::unique_ptr<CausalLM> load_causal_lm(const std::filesystem::path& path, const LoadOptions& options = {});
// The model load_model_for_execution() gives (a quantized folder runs with `exec`) as a causal LM.
std::unique_ptr<CausalLM> as_causal_lm(std::unique_ptr<Model> model, const std::filesystem::path& path);

// The tokenizer that comes with a model: a GGUF file's tokenizer.ggml.*
// tables, else Tokenizer::load() of the Hugging Face folder (the file's folder
// for any other file), else, when the folder has none of Tokenizer::load()'s
// files, its tokenizer.gguf (see write_gguf_model_files in gguf_model.h).
Tokenizer load_model_tokenizer(const std::filesystem::path& path);
// From a GGUF file's metadata: tokenizer.ggml.model "llama" (SentencePiece
// pieces, scores and token types, with byte fallback) or "gpt2" (byte-level
// BPE vocab + merges; tokenizer.ggml.pre picks the split regex).
Tokenizer tokenizer_from_gguf(const GgufFile& file);

// Installs, on every Linear that has no kernel yet, the f32 kernel that runs
// few-row inputs (decoding) as a threaded GEMV streaming the weights once
// (OpenBLAS's sgemm is slow at M = 1) and larger ones as the usual GEMM.
// Its describe() is "f32"; quantized kernels replace it. The CLI commands call
// it after loading; call it before generate() for decode speed.
void use_decode_kernels(Model& model);

// ---- sampling -----------------------------------------------------------------

struct SamplingOptions {
  // 0: greedy (argmax; ties go to the lowest id). Else logits / temperature.
  float temperature = 0.0f;
  int64_t top_k = 0;       // keep the k most likely tokens (0: all)
  float top_p = 1.0f;      // keep the smallest set whose probability reaches top_p
  // transformers' rule: a token already in the sequence (prompt included) has
  // its logit divided by the penalty when positive, multiplied when negative.
  float repetition_penalty = 1.0f;
  // Seeds std::mt19937_64; each sequence of a batch draws from its own
  // generator seeded seed + index, so results do not depend on batch order.
  uint64_t seed = 0;
};

// Picks the next token from one row of logits (modified in place by the
// penalty and temperature). `history` holds the sequence's tokens so far.
class Sampler {
 public:
  explicit Sampler(const SamplingOptions& options, uint64_t stream = 0);
  int64_t next(std::span<float> logits, std::span<const int64_t> history);
  const SamplingOptions& options() const { return options_; }

 private:
  SamplingOptions options_;
  struct Engine;
  std::shared_ptr<Engine> engine_;
};

// ---- generation -----------------------------------------------------------------

struct GenerationOptions {
  int64_t max_new_tokens = 32;
  SamplingOptions sampling;
  // Stop a sequence after it produces one of these (default: the model's eos_token_id).
  std::optional<std::vector<int64_t>> eos_ids;
  // Stop once the decoded new text contains one of these; needs `detokenize`.
  std::vector<std::string> stop_strings;
  std::function<std::string(std::span<const int64_t> ids)> detokenize;
  // Token id used for left padding (default: pad_token_id, else eos, else 0).
  std::optional<int64_t> pad_id;
  // Called for every new token as it is chosen (sequence index, token id).
  std::function<void(int64_t sequence, int64_t token)> on_token;
};

enum class FinishReason { Length, Eos, StopString, Context };
std::string_view finish_reason_name(FinishReason reason);

struct GenerationResult {
  std::vector<std::vector<int64_t>> new_tokens;  // per sequence, without the prompt
  std::vector<FinishReason> finish_reasons;
  int64_t prompt_tokens = 0;     // real (unpadded) prompt tokens, all sequences
  int64_t generated_tokens = 0;  // new tokens, all sequences
  double prefill_seconds = 0.0;
  double decode_seconds = 0.0;   // the steps after the first new token
  int64_t decode_steps = 0;
};

// Prefill and the decode loop over one KV cache (the step-level API).
class Generator {
 public:
  // `model` must outlive the generator. Capacity is per sequence.
  Generator(const CausalLM& model, int64_t batch, int64_t capacity, int64_t pad_id = 0);

  // Left-pads `prompts` (one per sequence, none empty) into the empty cache;
  // returns the next-token logits [batch, vocab].
  Tensor prefill(const std::vector<std::vector<int64_t>>& prompts);
  // One token per sequence; returns the next-token logits [batch, vocab].
  Tensor decode_step(std::span<const int64_t> tokens);

  const KVCache& cache() const { return cache_; }
  int64_t batch() const { return batch_; }

 private:
  const CausalLM& model_;
  int64_t batch_, pad_id_;
  KVCache cache_;
  std::vector<int64_t> mask_;       // [batch, capacity] row-major: 1 = real token
  std::vector<int64_t> next_pos_;   // per sequence: the next position id
};

// Generates for each prompt (token ids; each non-empty). Throws
// Error("generate") when a prompt does not fit the model's context; a sequence
// that reaches the context stops with FinishReason::Context.
GenerationResult generate(const CausalLM& model, const std::vector<std::vector<int64_t>>& prompts,
                          const GenerationOptions& options);

}  // namespace octet
