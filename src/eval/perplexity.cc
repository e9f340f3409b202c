// Sliding-window perplexity and two-model comparison (see perplexity.h).
#include "octet/perplexity.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <vector>

#include "core/elapsed.h"
#include "octet/error.h"
#include "octet/progress.h"

namespace octet {
namespace {

struct Window {
  int64_t begin, end;  // tokens [begin, end) are the input
  int64_t first_target;  // positions t in [first_target, end - 1) predict token t + 1
};

std::vector<Window> plan_windows(const Model& model, int64_t n, PerplexityOptions& o) {
  if (o.context <= 0) o.context = model.info().max_positions;
  check(o.context >= 2, "perplexity", "context must be >= 2 tokens, got {}", o.context);
  check(model.info().max_positions <= 0 || o.context <= model.info().max_positions, "perplexity",
        "context {} exceeds the model's {} positions", o.context, model.info().max_positions);
  if (o.stride <= 0) o.stride = o.context;
  check(o.stride <= o.context, "perplexity", "stride {} exceeds the context {}", o.stride, o.context);
  check(n >= 2, "perplexity", "need at least 2 tokens, got {}", n);
  std::vector<Window> windows;
  int64_t prev_end = 0;
  for (int64_t begin = 0; begin < n; begin += o.stride) {
    const int64_t end = std::min(begin + o.context, n);
    const int64_t trg_len = end - prev_end;
    // Labels of the last trg_len tokens count; label t is predicted at t - 1 >= begin.
    windows.push_back({begin, end, std::max(begin, end - trg_len - 1)});
    prev_end = end;
    if (end == n) break;
  }
  return windows;
}

Tensor window_logits(const Model& model, std::span<const int64_t> tokens, const Window& w) {
  const std::vector<int64_t> ids(tokens.begin() + w.begin, tokens.begin() + w.end);
  const NamedTensors out = model.forward({Tensor::from_vector(ids, {1, w.end - w.begin}), {}, {}, {}});
  const auto it = out.find("logits");
  check(it != out.end() && it->second.rank() == 3, "perplexity", "the model gives no [batch, seq, vocab] logits");
  return it->second;
}

// log softmax of one row in double.
void log_softmax(const float* row, int64_t vocab, std::vector<double>& out) {
  out.resize(size_t(vocab));
  const double top = *std::max_element(row, row + vocab);
  double sum = 0.0;
  for (int64_t j = 0; j < vocab; ++j) sum += std::exp(double(row[j]) - top);
  const double lse = top + std::log(sum);
  for (int64_t j = 0; j < vocab; ++j) out[size_t(j)] = double(row[j]) - lse;
}

void finish(PerplexityResult& r, double nll_sum) {
  r.mean_nll = r.scored_tokens > 0 ? nll_sum / double(r.scored_tokens) : 0.0;
  r.perplexity = std::exp(r.mean_nll);
}

}  // namespace

PerplexityResult perplexity(const Model& model, std::span<const int64_t> tokens, const PerplexityOptions& options) {
  PerplexityOptions o = options;
  if (o.limit_tokens > 0 && int64_t(tokens.size()) > o.limit_tokens) tokens = tokens.first(size_t(o.limit_tokens));
  const std::vector<Window> windows = plan_windows(model, int64_t(tokens.size()), o);
  const auto t0 = std::chrono::steady_clock::now();
  ProgressOptions po;
  if (!o.progress) po.is_tty = false;
  po.unit = "windows";
  ProgressBar bar(int64_t(windows.size()), "perplexity", po);
  PerplexityResult r;
  double nll_sum = 0.0;
  std::vector<double> logp;
  for (const Window& w : windows) {
    const Tensor logits = window_logits(model, tokens, w);
    const int64_t vocab = logits.dim(2);
    for (int64_t t = w.first_target; t < w.end - 1; ++t) {
      const int64_t target = tokens[size_t(t + 1)];
      check(target >= 0 && target < vocab, "perplexity", "token id {} outside the vocabulary [0, {})", target, vocab);
      log_softmax(logits.data<float>() + (t - w.begin) * vocab, vocab, logp);
      nll_sum -= logp[size_t(target)];
      ++r.scored_tokens;
    }
    ++r.windows;
    bar.advance();
  }
  bar.finish();
  r.seconds = seconds_since(t0);
  finish(r, nll_sum);
  return r;
}

ModelComparison compare_models(const Model& a, const Model& b, std::span<const int64_t> tokens,
                               const PerplexityOptions& options) {
  PerplexityOptions o = options;
  if (o.limit_tokens > 0 && int64_t(tokens.size()) > o.limit_tokens) tokens = tokens.first(size_t(o.limit_tokens));
  if (o.context <= 0) o.context = std::min(a.info().max_positions, b.info().max_positions);
  const std::vector<Window> windows = plan_windows(a, int64_t(tokens.size()), o);
  plan_windows(b, int64_t(tokens.size()), o);  // the same windows must fit the other model too
  ProgressOptions po;
  if (!o.progress) po.is_tty = false;
  po.unit = "windows";
  ProgressBar bar(int64_t(windows.size()), "compare", po);
  ModelComparison c;
  double nll_a = 0.0, nll_b = 0.0, kl_sum = 0.0;
  int64_t agree = 0;
  std::vector<double> pa, pb;
  const auto t0 = std::chrono::steady_clock::now();
  for (const Window& w : windows) {
    const Tensor la = window_logits(a, tokens, w), lb = window_logits(b, tokens, w);
    const int64_t vocab = la.dim(2);
    check(lb.dim(2) == vocab, "perplexity", "the models' vocabularies differ ({} vs {})", vocab, lb.dim(2));
    for (int64_t t = w.first_target; t < w.end - 1; ++t) {
      const float* ra = la.data<float>() + (t - w.begin) * vocab;
      const float* rb = lb.data<float>() + (t - w.begin) * vocab;
      log_softmax(ra, vocab, pa);
      log_softmax(rb, vocab, pb);
      const int64_t target = tokens[size_t(t + 1)];
      check(target >= 0 && target < vocab, "perplexity", "token id {} outside the vocabulary [0, {})", target, vocab);
      nll_a -= pa[size_t(target)], nll_b -= pb[size_t(target)];
      double kl = 0.0;
      for (int64_t j = 0; j < vocab; ++j) kl += std::exp(pa[size_t(j)]) * (pa[size_t(j)] - pb[size_t(j)]);
      kl_sum += kl;
      agree += (std::max_element(ra, ra + vocab) - ra) == (std::max_element(rb, rb + vocab) - rb);
      ++c.positions;
    }
    bar.advance();
  }
  bar.finish();
  c.a.windows = c.b.windows = int64_t(windows.size());
  c.a.scored_tokens = c.b.scored_tokens = c.positions;
  c.a.seconds = c.b.seconds = seconds_since(t0);
  finish(c.a, nll_a);
  finish(c.b, nll_b);
  c.mean_kl = c.positions > 0 ? kl_sum / double(c.positions) : 0.0;
  c.top1_agreement = c.positions > 0 ? double(agree) / double(c.positions) : 0.0;
  return c;
}

}  // namespace octet
