// Sampling: greedy argmax, transformers' repetition penalty rule, top-k and
// top-p candidate sets, seeded determinism, and draws that follow softmax.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "octet/generate.h"

namespace octet {
namespace {

TEST(Sampler, GreedyTakesFirstMaximum) {
  Sampler s({});
  std::vector<float> logits = {0.1f, 2.0f, -1.0f, 2.0f};
  EXPECT_EQ(s.next(logits, {}), 1);
}

TEST(Sampler, RepetitionPenaltyDividesPositiveMultipliesNegative) {
  Sampler s({.repetition_penalty = 2.0f});
  std::vector<float> logits = {3.0f, 2.0f, -1.0f, 1.9f};
  // Token 0 seen: 3 / 2 = 1.5 < 2 -> greedy picks 1; token 2 seen: -1 * 2 = -2.
  EXPECT_EQ(s.next(logits, std::vector<int64_t>{0, 2, 0}), 1);
  EXPECT_FLOAT_EQ(logits[0], 1.5f);
  EXPECT_FLOAT_EQ(logits[2], -2.0f);
  EXPECT_FLOAT_EQ(logits[3], 1.9f);
}

// Empirical frequencies of n draws against probabilities p: each count is
// Binomial(n, p); 5 standard deviations (+1) make a false failure ~1e-6.
void expect_frequencies(const SamplingOptions& opt, std::vector<float> logits, const std::vector<double>& p) {
  Sampler s(opt);
  const int n = 20000;
  std::vector<int> count(p.size(), 0);
  for (int i = 0; i < n; ++i) {
    std::vector<float> l = logits;
    ++count[size_t(s.next(l, {}))];
  }
  for (size_t i = 0; i < p.size(); ++i)
    EXPECT_NEAR(count[i], n * p[i], 5.0 * std::sqrt(n * p[i] * (1.0 - p[i])) + 1.0) << "token " << i;
}

std::vector<double> softmax(const std::vector<double>& x) {
  double m = *std::max_element(x.begin(), x.end()), s = 0;
  std::vector<double> p;
  for (double v : x) s += std::exp(v - m);
  for (double v : x) p.push_back(std::exp(v - m) / s);
  return p;
}

TEST(Sampler, TemperatureDrawsFollowSoftmax) {
  const std::vector<float> logits = {1.0f, 0.0f, 2.0f, -1.0f};
  expect_frequencies({.temperature = 1.0f, .seed = 7}, logits, softmax({1, 0, 2, -1}));
  expect_frequencies({.temperature = 2.0f, .seed = 8}, logits, softmax({0.5, 0, 1, -0.5}));
}

TEST(Sampler, TopKAndTopPRestrictCandidates) {
  const std::vector<float> logits = {1.0f, 0.0f, 2.0f, -1.0f};
  // top_k 2: tokens 2 and 0 renormalised.
  auto p2 = softmax({1, 2});
  expect_frequencies({.temperature = 1.0f, .top_k = 2, .seed = 9}, logits, {p2[0], 0, p2[1], 0});
  // top_p 0.7: softmax = {.237, .087, .644, .032}; dropping from the low end while the
  // cumulative mass stays <= 0.3 removes tokens 3 and 1 (0.119); keeping 0.237 + 0.644.
  expect_frequencies({.temperature = 1.0f, .top_p = 0.7f, .seed = 10}, logits, {p2[0], 0, p2[1], 0});
  // top_p 0.5: token 0 goes too (0.119 + 0.237 <= 0.5): only the argmax remains.
  expect_frequencies({.temperature = 1.0f, .top_p = 0.5f, .seed = 11}, logits, {0, 0, 1, 0});
}

TEST(Sampler, SameSeedSameDraws) {
  auto draws = [](uint64_t seed) {
    Sampler s({.temperature = 1.0f, .seed = seed});
    std::vector<int64_t> out;
    for (int i = 0; i < 50; ++i) {
      std::vector<float> l(100, 0.0f);
      out.push_back(s.next(l, {}));
    }
    return out;
  };
  EXPECT_EQ(draws(42), draws(42));
  EXPECT_NE(draws(42), draws(43));
}

TEST(Sampler, RejectsBadOptions) {
  EXPECT_THROW(Sampler({.temperature = -1.0f}), Error);
  EXPECT_THROW(Sampler({.top_p = 0.0f}), Error);
  EXPECT_THROW(Sampler({.repetition_penalty = 0.0f}), Error);
}

}  // namespace
}  // namespace octet
