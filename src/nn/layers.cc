// Linear, LayerNorm, RMSNorm, Embedding: weight checks at construction, kernels in forward.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "octet/error.h"
#include "octet/nn.h"

namespace octet::nn {
namespace {

void require_f32_vector(std::string_view tag, std::string_view name, const Tensor& t) {
  check(t.defined() && t.dtype() == DType::F32 && t.rank() == 1, tag, "{} must be a 1-D f32 tensor, got {}", name, t);
}

}  // namespace

Linear::Linear(Tensor weight, Tensor bias) : weight_(std::move(weight)), bias_(std::move(bias)) {
  check(weight_.defined() && weight_.dtype() == DType::F32 && weight_.rank() == 2, "linear",
        "weight must be an f32 [out, in] tensor, got {}", weight_);
  weight_ = weight_.contiguous();
  out_ = weight_.dim(0);
  in_ = weight_.dim(1);
  if (bias_.defined()) {
    require_f32_vector("linear", "bias", bias_);
    check(bias_.dim(0) == weight_.dim(0), "linear", "bias has {} elements, weight has {} outputs", bias_.dim(0),
          weight_.dim(0));
    bias_ = bias_.contiguous();
  }
}

Linear Linear::kernel_resident(int64_t out, int64_t in, Tensor bias) {
  check(out > 0 && in > 0, "linear", "a kernel-resident Linear needs positive sizes, got [{}, {}]", out, in);
  Linear l;
  l.out_ = out;
  l.in_ = in;
  l.resident_ = true;
  if (bias.defined()) {
    require_f32_vector("linear", "bias", bias);
    check(bias.dim(0) == out, "linear", "bias has {} elements, weight has {} outputs", bias.dim(0), out);
    l.bias_ = bias.contiguous();
  }
  return l;
}

void Linear::require_weight() const {
  check(weight_.defined(), "linear",
        "{}: the weight lives only in its quantized kernel (loaded natively); it has no f32 value here "
        "(load the model with simulated execution)",
        name());
}

Tensor Linear::forward(const Tensor& x) const {
  const Tensor in = input_site_.active() ? input_site_.apply(x) : x;
  if (kernel_) return kernel_->forward(in);
  require_weight();
  return kernels::linear(in, weight_, bias_);
}

Tensor Linear::forward_activated(const Tensor& x, kernels::Activation act) const {
  const Tensor in = input_site_.active() ? input_site_.apply(x) : x;
  if (kernel_) return kernel_->forward_activated(in, act);
  require_weight();
  Tensor y = kernels::linear(in, weight_, bias_);
  kernels::activation(act, y, y);
  return y;
}

Tensor Linear::forward_pair(const Linear& first, kernels::Activation act, const Linear& next, const Tensor& x) {
  // The fused path skips next's input site, so only when nothing is installed there.
  if (first.kernel_ && next.kernel_ && !next.input_site_.active()) {
    const Tensor in = first.input_site_.active() ? first.input_site_.apply(x) : x;
    if (const auto prepared = first.kernel_->forward_activated_for(in, act, *next.kernel_))
      return next.kernel_->forward_prepared(*prepared);
    return next.forward(first.kernel_->forward_activated(in, act));
  }
  return next.forward(first.forward_activated(x, act));
}

std::vector<Tensor> Linear::forward_shared(const std::vector<const Linear*>& linears, const Tensor& x) {
  // The fusions below read x directly: only for kernels with no input site.
  bool kernels_only = linears.size() > 1;
  for (const Linear* l : linears) kernels_only = kernels_only && l->kernel_ && !l->input_site_.active();
  std::vector<Tensor> out;
  std::shared_ptr<const PreparedInput> prepared;
  if (kernels_only) {
    const LinearKernel& first = *linears.front()->kernel_;
    // One job for all of them where their kernels allow it (weight-only GEMVs of a decode step).
    std::vector<const LinearKernel*> others;
    for (size_t i = 1; i < linears.size(); ++i) others.push_back(linears[i]->kernel_.get());
    out = first.forward_together(others, x);
    if (out.size() == linears.size()) return out;
    out.clear();
    // Else x converted once, when every kernel takes the same input format.
    const std::string format = first.input_format();
    bool shareable = !format.empty();
    for (const Linear* l : linears) shareable = shareable && l->kernel_->input_format() == format;
    if (shareable) prepared = first.prepare_input(x);
  }
  out.reserve(linears.size());
  for (const Linear* l : linears) out.push_back(prepared ? l->kernel_->forward_prepared(*prepared) : l->forward(x));
  return out;
}

namespace {

// The f32 storage of a parameter, to be rescaled in place.
float* mutable_f32(Tensor& t, std::string_view what) {
  check(t.defined() && t.dtype() == DType::F32 && t.is_contiguous(), "nn", "{} must be a contiguous f32 tensor, got {}",
        what, t.defined() ? t.describe() : "nothing");
  return t.data<float>();
}

void check_divisors(std::span<const float> d, std::string_view what) {
  for (const float v : d)
    check(std::isfinite(v) && v > 0, "nn", "{}: divisors must be positive and finite, got {}", what, v);
}

}  // namespace

void Linear::scale_input_columns(std::span<const float> factors) {
  check(int64_t(factors.size()) == in_features(), "linear", "{}: {} column factors for {} input features", name(),
        factors.size(), in_features());
  check_divisors(factors, name());
  require_weight();
  float* w = mutable_f32(weight_, "Linear weight");
  const int64_t out = out_features(), in = in_features();
  for (int64_t n = 0; n < out; ++n)
    for (int64_t k = 0; k < in; ++k) w[n * in + k] *= factors[size_t(k)];
}

void Linear::divide_output_rows(int64_t first, std::span<const float> divisors) {
  const int64_t rows = int64_t(divisors.size()), in = in_features();
  check(first >= 0 && first + rows <= out_features(), "linear", "{}: rows [{}, {}) outside its {} outputs", name(),
        first, first + rows, out_features());
  check_divisors(divisors, name());
  require_weight();
  float* w = mutable_f32(weight_, "Linear weight");
  for (int64_t j = 0; j < rows; ++j)
    for (int64_t k = 0; k < in; ++k) w[(first + j) * in + k] /= divisors[size_t(j)];
  if (bias_.defined()) {
    float* b = mutable_f32(bias_, "Linear bias");
    for (int64_t j = 0; j < rows; ++j) b[first + j] /= divisors[size_t(j)];
  }
}

void Linear::assign_weight(const Tensor& values) {
  require_weight();
  check(values.defined() && values.dtype() == DType::F32 && values.shape() == weight_.shape(), "linear",
        "{}: new weight {} does not match {}", name(), values.defined() ? values.describe() : "nothing",
        weight_.describe());
  float* w = mutable_f32(weight_, "Linear weight");
  const Tensor v = values.contiguous();
  std::copy_n(v.data<float>(), v.numel(), w);
}

void Linear::forward(const Tensor& x, Tensor& y) const {
  if (kernel_ || input_site_.active()) {
    y = forward(x);
    return;
  }
  require_weight();
  kernels::linear(x, weight_, bias_, y);
}

LayerNorm::LayerNorm(Tensor gamma, Tensor beta, float eps) : gamma_(std::move(gamma)), beta_(std::move(beta)), eps_(eps) {
  require_f32_vector("layer_norm", "gamma", gamma_);
  require_f32_vector("layer_norm", "beta", beta_);
  check(gamma_.dim(0) == beta_.dim(0), "layer_norm", "gamma has {} elements, beta has {}", gamma_.dim(0),
        beta_.dim(0));
  check(eps_ >= 0.0f, "layer_norm", "eps must be >= 0, got {}", eps_);
  gamma_ = gamma_.contiguous();
  beta_ = beta_.contiguous();
}

Tensor LayerNorm::forward(const Tensor& x) const { return kernels::layer_norm(x, gamma_, beta_, eps_); }

Tensor LayerNorm::forward(const Tensor& x, const Tensor& residual, Tensor* sum) const {
  Tensor y;
  kernels::add_layer_norm(x, residual, gamma_, beta_, eps_, y, sum);
  return y;
}

RMSNorm::RMSNorm(Tensor weight, float eps, bool unit_offset)
    : weight_(std::move(weight)), eps_(eps), unit_offset_(unit_offset) {
  require_f32_vector("rms_norm", "weight", weight_);
  check(eps_ >= 0.0f, "rms_norm", "eps must be >= 0, got {}", eps_);
  weight_ = weight_.contiguous();
}

Tensor RMSNorm::forward(const Tensor& x) const { return kernels::rms_norm(x, weight_, eps_, unit_offset_); }

Embedding::Embedding(Tensor table) : table_(std::move(table)) {
  check(table_.defined() && table_.dtype() == DType::F32 && table_.rank() == 2, "embedding",
        "table must be an f32 [vocab, hidden] tensor, got {}", table_);
  table_ = table_.contiguous();
}

Tensor Embedding::forward(const Tensor& ids) const { return kernels::embedding(table_, ids); }

}  // namespace octet::nn

namespace octet::nn {

void LayerNorm::divide_channels(std::span<const float> d) {
  check(int64_t(d.size()) == gamma_.dim(0), "layer_norm", "{} divisors for {} channels", d.size(), gamma_.dim(0));
  check_divisors(d, "layer_norm");
  float* g = mutable_f32(gamma_, "LayerNorm gamma");
  float* b = mutable_f32(beta_, "LayerNorm beta");
  for (size_t j = 0; j < d.size(); ++j) g[j] /= d[j], b[j] /= d[j];
}

void RMSNorm::divide_channels(std::span<const float> d) {
  check(int64_t(d.size()) == weight_.dim(0), "rms_norm", "{} divisors for {} channels", d.size(), weight_.dim(0));
  check_divisors(d, "rms_norm");
  float* w = mutable_f32(weight_, "RMSNorm weight");
  for (size_t j = 0; j < d.size(); ++j) w[j] = unit_offset_ ? (1.0f + w[j]) / d[j] - 1.0f : w[j] / d[j];
}

}  // namespace octet::nn
