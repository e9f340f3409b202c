// SmoothQuant factors, the alpha search and the folding (see smoothquant.h).
#include "quant/smoothquant.h"

#include <algorithm>
#include <cmath>

#include "core/error_tags.h"
#include "octet/error.h"
#include "octet/kernels.h"
#include "octet/quantized_model.h"

namespace octet {
namespace {
constexpr float kMinFactor = 1e-5f, kMaxFactor = 1e5f;

int64_t producer_channel(const nn::ChannelScaleProducer& p, int64_t column) {
  return p.channel_of.empty() ? column : p.channel_of[size_t(column)];
}

int64_t group_columns(const nn::LinearInputGroup& g) {
  check(!g.linears.empty(), kQuantizeTag, "group '{}' has no Linear", g.name);
  const int64_t in = g.linears.front()->in_features();
  for (const nn::Linear* l : g.linears)
    check(l->in_features() == in, kQuantizeTag, "group '{}': '{}' reads {} features, not {}", g.name, l->name(),
          l->in_features(), in);
  return in;
}

const nn::ChannelScaleProducer& producer_of(const nn::LinearInputGroup& g) {
  check(g.producer.has_value(), kQuantizeTag, "group '{}' has no producer to fold factors into", g.name);
  return *g.producer;
}

// x [n, in] with column c divided by f[c].
Tensor divide_columns(const Tensor& x_in, std::span<const float> f) {
  const Tensor x = x_in.contiguous();
  Tensor out = Tensor::empty(x.shape(), DType::F32);
  const int64_t in = x.dim(-1), n = x.numel() / in;
  const float* src = x.data<float>();
  float* dst = out.data<float>();
  for (int64_t r = 0; r < n; ++r)
    for (int64_t c = 0; c < in; ++c) dst[r * in + c] = src[r * in + c] / f[size_t(c)];
  return out;
}

// W [out, in] with column c multiplied by f[c].
Tensor scale_columns(const Tensor& w_in, std::span<const float> f) {
  const Tensor w = w_in.contiguous();
  Tensor out = Tensor::empty(w.shape(), DType::F32);
  const int64_t out_rows = w.dim(0), in = w.dim(1);
  for (int64_t r = 0; r < out_rows; ++r)
    for (int64_t c = 0; c < in; ++c) out.data<float>()[r * in + c] = w.data<float>()[r * in + c] * f[size_t(c)];
  return out;
}

double squared_norm(const Tensor& t) {
  double s = 0;
  for (const float v : t.contiguous().span<float>()) s += double(v) * v;
  return s;
}

}  // namespace

std::vector<float> producer_channel_max(const nn::ChannelScaleProducer& p, std::span<const float> per_column) {
  std::vector<float> out(size_t(p.channels), 0.0f);
  for (int64_t c = 0; c < int64_t(per_column.size()); ++c) {
    const int64_t j = producer_channel(p, c);
    check(j >= 0 && j < p.channels, kQuantizeTag, "'{}': column {} maps to channel {} of {}", p.name, c, j, p.channels);
    out[size_t(j)] = std::max(out[size_t(j)], per_column[size_t(c)]);
  }
  return out;
}

std::vector<float> column_factors(const nn::ChannelScaleProducer& p, std::span<const float> producer_factors,
                                  int64_t columns) {
  check(int64_t(producer_factors.size()) == p.channels, kQuantizeTag, "'{}': {} factors for {} channels", p.name,
        producer_factors.size(), p.channels);
  check(p.channel_of.empty() ? columns == p.channels : int64_t(p.channel_of.size()) == columns, kQuantizeTag,
        "'{}': {} consumer columns do not match its {} channels", p.name, columns, p.channels);
  std::vector<float> f(static_cast<size_t>(columns));
  for (int64_t c = 0; c < columns; ++c) f[size_t(c)] = producer_factors[size_t(producer_channel(p, c))];
  return f;
}

std::vector<float> smoothquant_factors(const nn::LinearInputGroup& g, std::span<const float> channel_amax,
                                       double alpha) {
  const nn::ChannelScaleProducer& p = producer_of(g);
  const int64_t in = group_columns(g);
  check(int64_t(channel_amax.size()) == in, kQuantizeTag, "group '{}': {} activation maxima for {} columns", g.name,
        channel_amax.size(), in);
  std::vector<float> w_max(size_t(in), 0.0f);
  for (const nn::Linear* l : g.linears) {
    const Tensor w = l->weight().contiguous();
    const float* d = w.data<float>();
    for (int64_t n = 0; n < l->out_features(); ++n)
      for (int64_t c = 0; c < in; ++c) w_max[size_t(c)] = std::max(w_max[size_t(c)], std::fabs(d[n * in + c]));
  }
  const std::vector<float> a = producer_channel_max(p, channel_amax), w = producer_channel_max(p, w_max);
  std::vector<float> s(size_t(p.channels), 1.0f);
  for (size_t j = 0; j < s.size(); ++j) {
    if (a[j] <= 0 || w[j] <= 0) continue;
    const double v = std::pow(double(a[j]), alpha) / std::pow(double(w[j]), 1.0 - alpha);
    s[j] = std::clamp(float(v), kMinFactor, kMaxFactor);
  }
  return s;
}

void fold_channel_factors(nn::LinearInputGroup& g, std::span<const float> producer_factors) {
  const nn::ChannelScaleProducer& p = producer_of(g);
  const std::vector<float> f = column_factors(p, producer_factors, group_columns(g));
  p.divide(producer_factors);
  for (nn::Linear* l : g.linears) l->scale_input_columns(f);
}

double smoothed_output_error(const nn::LinearInputGroup& g, const Tensor& x, std::span<const float> producer_factors,
                             const LlmRecipe& recipe) {
  const std::vector<float> f = column_factors(producer_of(g), producer_factors, group_columns(g));
  const Tensor xs = divide_columns(x, f);
  ActivationQuant aq;
  if (recipe.activations == ActivationFormat::Int8PerToken) {
    aq.dynamic = true;
  } else {
    float amax = 0;
    for (const float v : xs.span<float>()) amax = std::max(amax, std::fabs(v));
    aq.scale = amax > 0 ? amax / 127.0f : 1.0f;
  }
  const Tensor xq = fake_quantize_activation(xs, aq);
  double num = 0, den = 0;
  for (const nn::Linear* l : g.linears) {
    const Tensor ws = scale_columns(l->weight(), f);
    const Tensor wq = fake_quantize(ws, recipe.weight, compute_qparams(ws, recipe.weight));
    const Tensor exact = kernels::linear(x, l->weight(), {});
    const Tensor approx = kernels::linear(xq, wq, {});
    const auto e = exact.span<float>(), a = approx.span<float>();
    for (size_t i = 0; i < e.size(); ++i) num += (double(a[i]) - e[i]) * (double(a[i]) - e[i]);
    den += squared_norm(exact);
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

double search_smoothquant_alpha(const nn::LinearInputGroup& g, std::span<const float> channel_amax, const Tensor& x,
                                const LlmRecipe& recipe) {
  double best_alpha = recipe.alpha, best_error = INFINITY;
  for (int i = 0; i <= 12; ++i) {
    const double alpha = 0.3 + 0.05 * i;
    const double error = smoothed_output_error(g, x, smoothquant_factors(g, channel_amax, alpha), recipe);
    if (error < best_error) best_error = error, best_alpha = alpha;
  }
  return best_alpha;
}

}  // namespace octet
