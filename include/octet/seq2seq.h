// Encoder-decoder (seq2seq) language models: T5 (v1.0 and v1.1 gated-GELU)
// and BART, with cached decoding and greedy / sampled generation.
//
//   auto model = octet::load_seq2seq_lm("fixtures/hf/t5");
//   octet::GenerationOptions opt;
//   opt.max_new_tokens = 10;
//   auto r = octet::generate_seq2seq(*model, {{37, 5, 112}}, opt);
//   // r.new_tokens[0]: the decoder ids after decoder_start_token_id
//
// The prompt is the encoder input. The encoder runs once; each decoder layer
// projects the encoder output to cross-attention keys/values once
// (Seq2SeqCache::cross_k/v) and appends its self-attention keys/values step
// by step (self_k/v). Model::forward() (no cache across calls) takes
// ModelInputs::decoder_input_ids (default: one decoder_start_token_id per
// row) and returns "logits" [batch, dec_seq, vocab], "last_hidden_state" (the
// decoder's, after its final norm) and "encoder_last_hidden_state".
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <vector>

#include "octet/generate.h"
#include "octet/model.h"

namespace octet {

// Decoder state of one encoder-decoder batch.
struct Seq2SeqCache {
  Tensor encoder_mask;                  // i64 [batch, enc_seq], nonzero = token
  std::vector<Tensor> self_k, self_v;   // per decoder layer: f32 [batch, heads, capacity, head_dim]
  std::vector<Tensor> cross_k, cross_v; // per decoder layer: f32 [batch, heads, enc_seq, head_dim]
  int64_t length = 0;                   // decoder tokens cached per sequence
  int64_t capacity = 0;
  int64_t batch() const { return encoder_mask.defined() ? encoder_mask.dim(0) : 0; }
};

class Seq2SeqLM : public Model {
 public:
  // config.json's decoder_start_token_id (required).
  int64_t decoder_start_token_id() const { return decoder_start_token_id_; }
  // input_ids, attention_mask (undefined: all ones) [batch, seq] -> encoder_last_hidden_state [batch, seq, d_model].
  virtual Tensor encode(const Tensor& input_ids, const Tensor& attention_mask) const = 0;
  // An empty decoder cache for up to `capacity` decoder tokens, with the
  // cross-attention keys/values of `encoder_hidden` computed now.
  virtual Seq2SeqCache make_cache(const Tensor& encoder_hidden, const Tensor& attention_mask, int64_t capacity) const = 0;
  // Runs decoder_ids [batch, n] after the cache's tokens (causal self-attention,
  // cross-attention over the encoder) and appends their keys/values. Returns
  // logits [batch, n, vocab]; `hidden` (optional) gets the decoder's last
  // hidden state [batch, n, d_model].
  virtual Tensor decode(const Tensor& decoder_ids, Seq2SeqCache& cache, Tensor* hidden = nullptr) const = 0;
  // encode + decode over the whole decoder_input_ids with a fresh cache.
  NamedTensors forward(const ModelInputs& inputs) const override;

 protected:
  int64_t decoder_start_token_id_ = 0;
};

// Whether `path` is a Hugging Face folder (or a file in one, not .gguf) whose
// config.json says is_encoder_decoder: true (what load_seq2seq_lm loads).
bool is_seq2seq_model(const std::filesystem::path& path);

// load_model() for an encoder-decoder; throws Error("generate") for any other model.
std::unique_ptr<Seq2SeqLM> load_seq2seq_lm(const std::filesystem::path& path);

// Generates for each prompt (encoder token ids, non-empty; prompts of a batch
// are right-padded and masked). Decoding starts from decoder_start_token_id;
// result.new_tokens holds the ids after it (transformers' generated_ids minus
// its first column), stopping a sequence at eos (options.eos_ids, default
// the model's eos_token_id) or after max_new_tokens. With use_cache = false
// every step reruns the decoder over the whole sequence (a reference).
GenerationResult generate_seq2seq(const Seq2SeqLM& model, const std::vector<std::vector<int64_t>>& prompts,
                                  const GenerationOptions& options, bool use_cache = true);

}  // namespace octet
