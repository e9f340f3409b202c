// Perplexity against the Hugging Face documentation's algorithm written out
// here independently (windows every `stride` tokens, labels before the last
// trg_len = end - prev_end set to -100, cross-entropy of the shifted labels),
// and model comparison (KL, top-1 agreement) against direct formulas.
//
// Both sides take log-softmax in double of the same f32 logits, so they agree
// to double rounding: relative 1e-12 is ~1e4 ulp of slack for the sums.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "octet/generate.h"
#include "octet/perplexity.h"
#include "support/shared_data.h"

namespace octet {
namespace {

std::vector<int64_t> random_tokens(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int64_t> t(static_cast<size_t>(n));
  for (auto& x : t) x = int64_t(rng() % 512);
  return t;
}

std::vector<double> log_probs(const float* row, int64_t vocab) {
  double m = row[0];
  for (int64_t j = 1; j < vocab; ++j) m = std::max(m, double(row[j]));
  double s = 0;
  for (int64_t j = 0; j < vocab; ++j) s += std::exp(double(row[j]) - m);
  std::vector<double> out(static_cast<size_t>(vocab));
  for (int64_t j = 0; j < vocab; ++j) out[size_t(j)] = double(row[j]) - m - std::log(s);
  return out;
}

// The documentation's loop, token-weighted.
double documented_perplexity(const Model& model, const std::vector<int64_t>& ids, int64_t max_length, int64_t stride,
                             int64_t* scored) {
  const int64_t seq_len = int64_t(ids.size());
  double nll_sum = 0;
  int64_t n_tokens = 0, prev_end = 0;
  for (int64_t begin = 0; begin < seq_len; begin += stride) {
    const int64_t end = std::min(begin + max_length, seq_len), trg_len = end - prev_end;
    std::vector<int64_t> input(ids.begin() + begin, ids.begin() + end), target = input;
    for (int64_t i = 0; i < int64_t(target.size()) - trg_len; ++i) target[size_t(i)] = -100;
    const Tensor logits =
        model.forward({Tensor::from_vector(input, {1, int64_t(input.size())}), {}, {}, {}}).at("logits");
    const int64_t vocab = logits.dim(2);
    for (size_t i = 0; i + 1 < input.size(); ++i) {  // logits[i] predicts target[i + 1]
      if (target[i + 1] == -100) continue;
      nll_sum -= log_probs(logits.data<float>() + i * vocab, vocab)[size_t(target[i + 1])];
      ++n_tokens;
    }
    prev_end = end;
    if (end == seq_len) break;
  }
  *scored = n_tokens;
  return std::exp(nll_sum / double(n_tokens));
}

TEST(Perplexity, MatchesDocumentedSlidingWindow) {
  const auto model = load_causal_lm(testing::shared_path("fixtures/hf/llama"));
  const std::vector<int64_t> ids = random_tokens(100, 1);
  for (auto [ctx, stride] : {std::pair<int64_t, int64_t>{32, 16}, {32, 32}, {128, 128}, {20, 7}}) {
    int64_t want_scored = 0;
    const double want = documented_perplexity(*model, ids, ctx, stride, &want_scored);
    const PerplexityResult r = perplexity(*model, ids, {.context = ctx, .stride = stride, .progress = false});
    EXPECT_NEAR(r.perplexity, want, 1e-12 * want) << ctx << "/" << stride;
    EXPECT_EQ(r.scored_tokens, want_scored) << ctx << "/" << stride;
  }
  // Overlapping windows score every token but the first; disjoint ones lose each window's first.
  EXPECT_EQ(perplexity(*model, ids, {.context = 32, .stride = 16, .progress = false}).scored_tokens, 99);
  const PerplexityResult disjoint = perplexity(*model, ids, {.context = 32, .stride = 32, .progress = false});
  EXPECT_EQ(disjoint.windows, 4);
  EXPECT_EQ(disjoint.scored_tokens, 96);
  EXPECT_EQ(perplexity(*model, ids, {.context = 32, .stride = 16, .limit_tokens = 50, .progress = false}).scored_tokens, 49);
}

TEST(Perplexity, RejectsBadWindows) {
  const auto model = load_causal_lm(testing::shared_path("fixtures/hf/llama"));  // 128 positions
  const auto ids = random_tokens(50, 2);
  EXPECT_THROW(perplexity(*model, ids, {.context = 256}), Error);
  EXPECT_THROW(perplexity(*model, ids, {.context = 16, .stride = 32}), Error);
  EXPECT_THROW(perplexity(*model, std::vector<int64_t>{5}, {}), Error);
}

TEST(Perplexity, CompareModelsKlAndAgreement) {
  const auto a = load_causal_lm(testing::shared_path("fixtures/hf/llama"));
  const auto b = load_causal_lm(testing::shared_path("fixtures/hf/mistral"));
  const auto ids = random_tokens(40, 3);
  const ModelComparison same = compare_models(*a, *a, ids, {.context = 40, .progress = false});
  EXPECT_EQ(same.mean_kl, 0.0);
  EXPECT_EQ(same.top1_agreement, 1.0);
  const ModelComparison c = compare_models(*a, *b, ids, {.context = 40, .progress = false});
  // Direct: one window of 40 tokens, positions 0..38.
  const Tensor ta = Tensor::from_vector(ids, {1, 40});
  const Tensor la = a->forward({ta, {}, {}, {}}).at("logits"), lb = b->forward({ta, {}, {}, {}}).at("logits");
  double kl = 0;
  int agree = 0;
  for (int64_t t = 0; t < 39; ++t) {
    const auto pa = log_probs(la.data<float>() + t * 512, 512), pb = log_probs(lb.data<float>() + t * 512, 512);
    for (int j = 0; j < 512; ++j) kl += std::exp(pa[size_t(j)]) * (pa[size_t(j)] - pb[size_t(j)]);
    agree += std::max_element(pa.begin(), pa.end()) - pa.begin() == std::max_element(pb.begin(), pb.end()) - pb.begin();
  }
  EXPECT_EQ(c.positions, 39);
  EXPECT_NEAR(c.mean_kl, kl / 39, 1e-12 * kl);
  EXPECT_GT(c.mean_kl, 0.0);
  EXPECT_DOUBLE_EQ(c.top1_agreement, agree / 39.0);
  EXPECT_NEAR(c.a.perplexity, perplexity(*a, ids, {.context = 40, .progress = false}).perplexity, 1e-12 * c.a.perplexity);
}

}  // namespace
}  // namespace octet
