// Next-token selection: repetition penalty, then greedy argmax or
// temperature -> top-k -> top-p -> a draw from std::mt19937_64 (the order of
// transformers' logits processors and warpers).
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <unordered_set>

#include "octet/error.h"
#include "octet/generate.h"

namespace octet {

struct Sampler::Engine {
  std::mt19937_64 rng;
};

Sampler::Sampler(const SamplingOptions& options, uint64_t stream)
    : options_(options), engine_(std::make_shared<Engine>()) {
  check(options_.temperature >= 0.0f && std::isfinite(options_.temperature), "generate",
        "temperature must be >= 0, got {}", options_.temperature);
  check(options_.top_k >= 0, "generate", "top_k must be >= 0, got {}", options_.top_k);
  check(options_.top_p > 0.0f && options_.top_p <= 1.0f, "generate", "top_p must be in (0, 1], got {}", options_.top_p);
  check(options_.repetition_penalty > 0.0f, "generate", "repetition_penalty must be > 0, got {}",
        options_.repetition_penalty);
  engine_->rng.seed(options_.seed + stream);
}

int64_t Sampler::next(std::span<float> logits, std::span<const int64_t> history) {
  const int64_t vocab = static_cast<int64_t>(logits.size());
  check(vocab > 0, "generate", "empty logits");
  if (options_.repetition_penalty != 1.0f) {
    std::unordered_set<int64_t> seen(history.begin(), history.end());
    for (int64_t id : seen) {
      if (id < 0 || id >= vocab) continue;
      float& l = logits[static_cast<size_t>(id)];
      l = l > 0.0f ? l / options_.repetition_penalty : l * options_.repetition_penalty;
    }
  }
  if (options_.temperature == 0.0f) {
    // First maximum, like torch.argmax.
    return std::max_element(logits.begin(), logits.end()) - logits.begin();
  }
  for (float& l : logits) l /= options_.temperature;

  // Candidates by decreasing logit (stable: ties keep the lower id first).
  std::vector<int64_t> order(static_cast<size_t>(vocab));
  std::iota(order.begin(), order.end(), 0);
  const auto by_logit = [&](int64_t a, int64_t b) { return logits[size_t(a)] > logits[size_t(b)]; };
  int64_t keep = vocab;
  if (options_.top_k > 0 && options_.top_k < vocab) {
    keep = options_.top_k;
    std::partial_sort(order.begin(), order.begin() + keep, order.end(), by_logit);
    // transformers keeps every token tied with the k-th logit.
    const float kth = logits[size_t(order[size_t(keep - 1)])];
    std::vector<int64_t> rest(order.begin() + keep, order.end());
    std::stable_sort(rest.begin(), rest.end(), by_logit);
    for (int64_t id : rest) {
      if (logits[size_t(id)] < kth) break;
      order[size_t(keep++)] = id;
    }
  } else {
    std::stable_sort(order.begin(), order.end(), by_logit);
  }
  order.resize(size_t(keep));

  // Softmax over the kept candidates, in double.
  const double top = logits[size_t(order.front())];
  std::vector<double> p(order.size());
  double sum = 0.0;
  for (size_t i = 0; i < order.size(); ++i) sum += p[i] = std::exp(double(logits[size_t(order[i])]) - top);
  for (double& x : p) x /= sum;

  if (options_.top_p < 1.0f) {
    // transformers: sorted ascending, drop tokens whose cumulative probability
    // is <= 1 - top_p (always keeping the most likely one).
    double cum_from_low = 0.0;
    size_t cut = p.size();  // p is descending; find the first index from the tail that survives
    for (size_t i = p.size(); i-- > 1;) {
      cum_from_low += p[i];
      if (cum_from_low <= 1.0 - double(options_.top_p)) cut = i;
      else break;
    }
    p.resize(cut);
    order.resize(cut);
    double s = std::accumulate(p.begin(), p.end(), 0.0);
    for (double& x : p) x /= s;
  }

  const double u = std::uniform_real_distribution<double>(0.0, 1.0)(engine_->rng);
  double cum = 0.0;
  for (size_t i = 0; i < p.size(); ++i) {
    cum += p[i];
    if (u < cum) return order[i];
  }
  return order.back();
}

}  // namespace octet
