// Reference row kernels: each op's formula as a plain loop, in double, so a
// result is the exact value rounded once to f32 (up to double error). The
// AVX2 kernels are tested against these.
#include <cmath>
#include <numbers>
#include <limits>

#include "kernels/row_kernels.h"

namespace octet::kernels {
namespace {

void ref_layer_norm(const float* x, const float* gamma, const float* beta, float eps, float* y, int64_t n) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += x[i];
  const double mean = sum / static_cast<double>(n);
  double sq = 0.0;
  for (int64_t i = 0; i < n; ++i) sq += (x[i] - mean) * (x[i] - mean);
  const double rstd = 1.0 / std::sqrt(sq / static_cast<double>(n) + eps);
  for (int64_t i = 0; i < n; ++i) y[i] = static_cast<float>((x[i] - mean) * rstd * gamma[i] + beta[i]);
}

void ref_add_layer_norm(const float* x, const float* residual, const float* gamma, const float* beta, float eps,
                        float* sum, float* y, int64_t n) {
  // The sum is rounded to f32 first, as a framework materialising x + residual does.
  for (int64_t i = 0; i < n; ++i) sum[i] = x[i] + residual[i];
  ref_layer_norm(sum, gamma, beta, eps, y, n);
}

void ref_rms_norm(const float* x, const float* weight, float eps, bool unit_offset, float* y, int64_t n) {
  double sq = 0.0;
  for (int64_t i = 0; i < n; ++i) sq += static_cast<double>(x[i]) * x[i];
  const double rstd = 1.0 / std::sqrt(sq / static_cast<double>(n) + eps);
  for (int64_t i = 0; i < n; ++i) {
    const double w = unit_offset ? 1.0 + weight[i] : weight[i];
    y[i] = static_cast<float>(x[i] * rstd * w);
  }
}

void ref_softmax(const float* x, const float* mask, float scale, float* y, int64_t n) {
  const double neg_inf = -std::numeric_limits<double>::infinity();
  double max = neg_inf;
  for (int64_t i = 0; i < n; ++i) {
    const double z = static_cast<double>(scale) * x[i] + (mask ? mask[i] : 0.0f);
    if (z > max) max = z;
  }
  if (max == neg_inf) {  // everything masked: zeros, not 0/0
    for (int64_t i = 0; i < n; ++i) y[i] = 0.0f;
    return;
  }
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(scale) * x[i] + (mask ? mask[i] : 0.0f) - max);
  for (int64_t i = 0; i < n; ++i)
    y[i] = static_cast<float>(std::exp(static_cast<double>(scale) * x[i] + (mask ? mask[i] : 0.0f) - max) / sum);
}

void ref_gelu(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = static_cast<float>(0.5 * x[i] * (1.0 + std::erf(x[i] / std::sqrt(2.0))));
}

void ref_gelu_tanh(const float* x, float* y, int64_t n) {
  const double k = std::sqrt(2.0 / std::numbers::pi);
  for (int64_t i = 0; i < n; ++i) {
    const double v = x[i];
    y[i] = static_cast<float>(0.5 * v * (1.0 + std::tanh(k * (v + 0.044715 * v * v * v))));
  }
}

void ref_quick_gelu(const float* x, float* y, int64_t n) {
  // 1.702 as f32, as HF's `x * sigmoid(1.702 * x)` sees it on an f32 tensor.
  const double k = 1.702f;
  for (int64_t i = 0; i < n; ++i) y[i] = static_cast<float>(x[i] / (1.0 + std::exp(-k * x[i])));
}

void ref_relu(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] < 0.0f ? 0.0f : x[i];  // NaN passes through
}

void ref_silu(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = static_cast<float>(x[i] / (1.0 + std::exp(-static_cast<double>(x[i]))));
}

void ref_add(const float* a, const float* b, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
}

void ref_mul(const float* a, const float* b, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] * b[i];
}

}  // namespace

const RowKernels kRefRowKernels = {
    "ref",        &ref_layer_norm, &ref_add_layer_norm, &ref_rms_norm, &ref_softmax, &ref_gelu, &ref_gelu_tanh,
    &ref_quick_gelu, &ref_relu,    &ref_silu,           &ref_add,      &ref_mul,
};

}  // namespace octet::kernels
