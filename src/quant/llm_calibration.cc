// Calibration windows from text and the LLM quantizer's calibration passes.
#include "quant/llm_calibration.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>
#include <random>

#include "core/error_tags.h"
#include "octet/error.h"
#include "octet/llm_quantize.h"
#include "octet/log.h"
#include "octet/progress.h"

namespace octet {
namespace {

// Thrown by the observer of the last site of interest to end a batch's forward pass.
struct StopForward {};

}  // namespace

CalibrationWindows make_calibration_windows(std::span<const int64_t> tokens, int64_t context,
                                            const CalibrationWindowOptions& o) {
  check(o.samples > 0, kCalibrateTag, "--samples must be > 0, got {}", o.samples);
  check(o.seq_len >= 2, kCalibrateTag, "--seq-len must be >= 2 tokens, got {}", o.seq_len);
  CalibrationWindows w;
  w.text_tokens = int64_t(tokens.size());
  w.seq_len = o.seq_len;
  if (context > 0 && w.seq_len > context) {
    w.warnings.push_back(fmt::format("--seq-len {} clamped to the model's context of {} tokens", o.seq_len, context));
    w.seq_len = context;
  }
  const int64_t available = w.text_tokens / w.seq_len;
  check(available >= 1, kCalibrateTag,
        "the calibration text has {} tokens; one window needs {} (lower --seq-len or give a longer text)",
        w.text_tokens, w.seq_len);
  int64_t samples = o.samples;
  if (samples > available) {
    w.warnings.push_back(fmt::format("--samples {} clamped to the {} windows of {} tokens the text holds", o.samples,
                                     available, w.seq_len));
    samples = available;
  }
  for (const std::string& warning : w.warnings) log_warn("{}", warning);
  // A seeded choice of `samples` of the disjoint windows, kept in text order.
  std::vector<int64_t> slots(static_cast<size_t>(available));
  for (int64_t i = 0; i < available; ++i) slots[size_t(i)] = i;
  std::mt19937_64 rng(o.seed);
  for (int64_t i = 0; i < samples; ++i) {
    std::uniform_int_distribution<int64_t> pick(i, available - 1);
    std::swap(slots[size_t(i)], slots[size_t(pick(rng))]);
  }
  slots.resize(size_t(samples));
  std::sort(slots.begin(), slots.end());
  for (const int64_t s : slots)
    w.windows.emplace_back(tokens.begin() + s * w.seq_len, tokens.begin() + (s + 1) * w.seq_len);
  return w;
}

std::vector<ModelInputs> window_batches(const std::vector<std::vector<int64_t>>& windows, int64_t per_batch) {
  check(per_batch > 0, kCalibrateTag, "windows per batch must be > 0");
  std::vector<ModelInputs> batches;
  for (size_t first = 0; first < windows.size(); first += size_t(per_batch)) {
    const size_t n = std::min(windows.size() - first, size_t(per_batch));
    const int64_t len = int64_t(windows[first].size());
    std::vector<int64_t> ids;
    ids.reserve(n * size_t(len));
    for (size_t i = first; i < first + n; ++i) {
      check(int64_t(windows[i].size()) == len, kCalibrateTag, "calibration windows differ in length ({} vs {})",
            windows[i].size(), len);
      ids.insert(ids.end(), windows[i].begin(), windows[i].end());
    }
    ModelInputs in;
    in.input_ids = Tensor::from_vector(ids, {int64_t(n), len});
    batches.push_back(std::move(in));
  }
  return batches;
}

void ActivationStats::add(const Tensor& x_in, int64_t sample_stride, int64_t max_samples, bool per_head) {
  const Tensor x = x_in.contiguous();
  const int64_t c = x.dim(-1), n = c == 0 ? 0 : x.numel() / c;
  if (channels == 0) {
    channels = c;
    channel_amax.assign(size_t(c), 0.0f);
  }
  check(c == channels, kCalibrateTag, "an activation changed width from {} to {} channels", channels, c);
  const float* p = x.data<float>();
  for (int64_t r = 0; r < n; ++r)
    for (int64_t j = 0; j < c; ++j) channel_amax[size_t(j)] = std::max(channel_amax[size_t(j)], std::fabs(p[r * c + j]));
  for (const float v : channel_amax) amax = std::max(amax, v);
  for (int64_t i = 0; i < n * c; ++i) {
    if (rows == 0 && i == 0) min = max = p[0];
    min = std::min(min, p[i]), max = std::max(max, p[i]);
  }
  if (per_head) {
    // [B, heads, S, d]: max |x| per head.
    check(x.rank() == 4, kCalibrateTag, "a key / value site must be [batch, heads, seq, head_dim], got {}", x);
    const int64_t heads = x.dim(1), per = x.dim(2) * x.dim(3);
    if (head_amax.empty()) head_amax.assign(size_t(heads), 0.0f);
    for (int64_t b = 0; b < x.dim(0); ++b)
      for (int64_t h = 0; h < heads; ++h) {
        const float* q = p + (b * heads + h) * per;
        for (int64_t i = 0; i < per; ++i) head_amax[size_t(h)] = std::max(head_amax[size_t(h)], std::fabs(q[i]));
      }
  }
  if (sample_stride > 0) {
    if (!sampled_rows.defined()) sampled_rows = Tensor::empty({max_samples, c}, DType::F32);
    for (int64_t r = 0; r < n && sampled < max_samples; ++r)
      if ((rows + r) % sample_stride == 0)
        std::memcpy(sampled_rows.data<float>() + sampled++ * c, p + r * c, sizeof(float) * size_t(c));
  }
  rows += n;
}

void run_calibration_pass(Model& model, const std::vector<ModelInputs>& batches,
                          const std::vector<nn::ActivationSite>& sites_in,
                          const std::function<void(const nn::ActivationSite&, const Tensor&)>& observe,
                          const std::string& stop_after, const std::string& label, bool progress) {
  std::vector<nn::ActivationSite> sites = sites_in;  // handles sharing the model's sites
  int64_t batch = 0;
  struct Detach {
    std::vector<nn::ActivationSite>& sites;
    ~Detach() {
      for (auto& s : sites) s.set_observer(nullptr);
    }
  } detach{sites};
  for (nn::ActivationSite& s : sites)
    s.set_observer([&](const nn::ActivationSite& site, const Tensor& x) {
      const Tensor c = x.contiguous();
      int64_t bad = 0;
      for (const float v : c.span<float>()) bad += !std::isfinite(v);
      check(bad == 0, kCalibrateTag, "activation at site '{}' has {} NaN / Inf values (of {}) in calibration batch {} of {}",
            site.name(), bad, c.numel(), batch + 1, batches.size());
      observe(site, c);
      if (site.name() == stop_after) throw StopForward{};
    });
  std::optional<ProgressBar> bar;
  if (progress) {
    ProgressOptions po;
    po.unit = "batch";
    bar.emplace(int64_t(batches.size()), label, po);
  }
  for (; batch < int64_t(batches.size()); ++batch) {
    try {
      model.forward(batches[size_t(batch)]);
    } catch (const StopForward&) {
    }
    if (bar) bar->advance();
  }
  if (bar) bar->finish();
}

}  // namespace octet
