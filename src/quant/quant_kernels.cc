// Scalar reference of the quantization inner loops (see quant_kernels.h).
#include "quant/quant_kernels.h"

#include <algorithm>
#include <cmath>

#include "octet/cpu_features.h"

namespace octet::quant_detail {

// Defined in quant_kernels_avx2.cc (a table only: no AVX2 code runs until the
// CPU check below has passed).
extern const QuantKernels kAvx2QuantKernels;


namespace {

inline float round_as(float v, Rounding rounding) {
  return rounding == Rounding::NearestEven ? round_half_even(v) : round_half_away(v);
}

// round(x * inv) clamped to [lo, hi] = [qmin - zp, qmax - zp], NaN -> 0.
inline float clamped_level(float x, float inv, float lo, float hi, Rounding rounding) {
  float v = x * inv;
  if (std::isnan(v)) v = 0.0f;
  const float r = round_as(v, rounding);
  return std::min(std::max(r, lo), hi);
}

void quantize_scalar(const float* x, int64_t n, RunParams p, int qmin, int qmax, Rounding rounding, uint8_t* codes) {
  for (int64_t i = 0; i < n; ++i) {
    const int64_t k = i * p.stride;
    const int zp = p.zero_point[k];
    const float level = clamped_level(x[i], p.inv_scale[k], static_cast<float>(qmin - zp),
                                      static_cast<float>(qmax - zp), rounding);
    codes[i] = static_cast<uint8_t>(static_cast<int>(level) + zp);
  }
}

void dequantize_scalar(const uint8_t* codes, bool is_signed, int64_t n, RunParams p, float* out) {
  for (int64_t i = 0; i < n; ++i) {
    const int64_t k = i * p.stride;
    const int q = is_signed ? static_cast<int>(static_cast<int8_t>(codes[i])) : static_cast<int>(codes[i]);
    out[i] = static_cast<float>(q - p.zero_point[k]) * p.scale[k];
  }
}

void fake_quantize_scalar(const float* x, int64_t n, RunParams p, int qmin, int qmax, Rounding rounding,
                          float* out) {
  for (int64_t i = 0; i < n; ++i) {
    const int64_t k = i * p.stride;
    const int zp = p.zero_point[k];
    // + 0 turns -0 into +0, as float(q - zp) in the two-step form would.
    const float level = clamped_level(x[i], p.inv_scale[k], static_cast<float>(qmin - zp),
                                      static_cast<float>(qmax - zp), rounding) +
                        0.0f;
    out[i] = level * p.scale[k];
  }
}

bool min_max_scalar(const float* x, int64_t n, float* lo, float* hi) {
  float a = *lo, b = *hi;
  // x * 0 is NaN exactly when x is NaN or Inf; one accumulator catches both.
  float poison = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    a = x[i] < a ? x[i] : a;
    b = x[i] > b ? x[i] : b;
    poison += x[i] * 0.0f;
  }
  *lo = a;
  *hi = b;
  return poison == 0.0f;
}

constexpr QuantKernels kScalarQuantKernels{"scalar", quantize_scalar, dequantize_scalar, fake_quantize_scalar,
                                           min_max_scalar};

}  // namespace

const QuantKernels& scalar_quant_kernels() { return kScalarQuantKernels; }

const QuantKernels* avx2_quant_kernels() {
  const CpuFeatures& f = cpu_features();
  return (f.avx2 && f.fma) ? &kAvx2QuantKernels : nullptr;
}

const QuantKernels& best_quant_kernels() {
  static const QuantKernels& best = avx2_quant_kernels() ? *avx2_quant_kernels() : scalar_quant_kernels();
  return best;
}

}  // namespace octet::quant_detail
