// Perplexity of a causal LM over a token stream, with the sliding window
// Hugging Face documents for fixed-length models ("Perplexity of
// fixed-length models"): windows of `context` tokens start every `stride`
// tokens; in each, only the last trg_len = end - prev_end tokens are scored
// (the rest is context, label -100), so every token is scored once, with as
// much left context as the window allows. Within a window the first token
// has no prediction, so the very first window scores trg_len - 1 tokens.
// The result is exp of the token-weighted mean negative log-likelihood
// (the current version of that page; nats).
#pragma once

#include <cstdint>
#include <functional>
#include <span>

#include "octet/model.h"

namespace octet {

struct PerplexityOptions {
  int64_t context = 0;       // window length; 0: the model's max_positions
  int64_t stride = 0;        // 0: context (disjoint windows)
  int64_t limit_tokens = 0;  // score only the first N tokens of the stream (0: all)
  bool progress = true;      // a progress bar on stderr (when it is a terminal)
};

struct PerplexityResult {
  double perplexity = 0.0;
  double mean_nll = 0.0;    // nats per scored token
  int64_t scored_tokens = 0;
  int64_t windows = 0;
  double seconds = 0.0;
};

PerplexityResult perplexity(const Model& model, std::span<const int64_t> tokens, const PerplexityOptions& options = {});

// Two models over the same windows and scored positions: both perplexities,
// the mean KL divergence KL(P_a || P_b) of their next-token distributions
// (nats), and how often their argmax tokens agree.
struct ModelComparison {
  PerplexityResult a, b;
  double mean_kl = 0.0;
  double top1_agreement = 0.0;
  int64_t positions = 0;
};

ModelComparison compare_models(const Model& a, const Model& b, std::span<const int64_t> tokens,
                               const PerplexityOptions& options = {});

}  // namespace octet
