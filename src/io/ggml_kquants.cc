// Quantization to ggml's k-quant super-block formats Q4_K and Q6_K, written
// from the format and ggml's reference algorithm (quantize_row_q4_K_ref /
// quantize_row_q6_K_ref, no importance matrix): the same operations in the
// same order, in float, so the blocks match llama.cpp's own quantizer.
//
// Q4_K: each 32-value sub-block gets an affine fit x ~ scale * q - min
// (q in 0..15), searched over 21 candidate scales with weights |x| + rms(x);
// the 8 scales and 8 mins are then quantized to 6 bits against the
// super-block's largest (d = max_scale / 63, dmin = max_min / 63, both f16),
// and the values re-quantized against the 6-bit scales actually stored.
// Q6_K: each 16-value sub-block gets a symmetric fit (q in -32..31) searched
// over 19 candidate scales weighted by x^2; the 16 scales become int8 against
// d = -max_scale / 128 (f16).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "io/ggml_quants.h"
#include "octet/number_formats.h"

namespace octet::io {
namespace {

constexpr float kGroupMaxEps = 1e-15f;

// Round to nearest, ties to even, through the float adder (valid for |x| < 2^22),
// as ggml does.
int nearest_int(float x) {
  const float v = x + 12582912.0f;
  int32_t bits;
  std::memcpy(&bits, &v, sizeof(bits));
  return (bits & 0x007fffff) - 0x00400000;
}

// Affine fit of n values: returns the scale, sets *neg_min (the subtracted
// minimum, >= 0) and the codes L in [0, nmax].
float fit_affine(int n, int nmax, const float* x, const float* w, uint8_t* L, float* neg_min, uint8_t* Laux,
                 float rmin, float rdelta, int nstep) {
  float min = x[0], max = x[0];
  float sum_w = w[0], sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    min = std::min(min, x[i]);
    max = std::max(max, x[i]);
    sum_w += w[i];
    sum_x += w[i] * x[i];
  }
  if (min > 0) min = 0;
  if (max == min) {
    std::fill(L, L + n, uint8_t{0});
    *neg_min = -min;
    return 0.0f;
  }
  float iscale = static_cast<float>(nmax) / (max - min);
  float scale = 1 / iscale;
  float best_error = 0;
  for (int i = 0; i < n; ++i) {
    const int l = nearest_int(iscale * (x[i] - min));
    L[i] = static_cast<uint8_t>(std::max(0, std::min(nmax, l)));
    const float diff = scale * L[i] + min - x[i];
    best_error += w[i] * (diff * diff);
  }
  for (int is = 0; is <= nstep; ++is) {
    iscale = (rmin + rdelta * static_cast<float>(is) + static_cast<float>(nmax)) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      const int l = std::max(0, std::min(nmax, nearest_int(iscale * (x[i] - min))));
      Laux[i] = static_cast<uint8_t>(l);
      const auto fl = static_cast<float>(l);
      sum_l += w[i] * fl;
      sum_l2 += w[i] * fl * fl;
      sum_xl += w[i] * fl * x[i];
    }
    const float D = sum_w * sum_l2 - sum_l * sum_l;
    if (D > 0) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
      float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
      if (this_min > 0) {
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      float cur_error = 0;
      for (int i = 0; i < n; ++i) {
        const float diff = this_scale * Laux[i] + this_min - x[i];
        cur_error += w[i] * (diff * diff);
      }
      if (cur_error < best_error) {
        std::copy(Laux, Laux + n, L);
        best_error = cur_error;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  *neg_min = -min;
  return scale;
}

// Symmetric fit of n values with codes in [-nmax, nmax - 1], weights x^2;
// returns the (signed) scale and the codes + nmax in L.
float fit_symmetric(int n, int nmax, const float* x, int8_t* L) {
  float max = 0, amax = 0;
  for (int i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  if (amax < kGroupMaxEps) {
    std::fill(L, L + n, int8_t{0});
    return 0.0f;
  }
  auto code = [nmax](float v) { return std::max(-nmax, std::min(nmax - 1, nearest_int(v))); };
  float iscale = -static_cast<float>(nmax) / max;
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; ++i) {
    const int l = code(iscale * x[i]);
    L[i] = static_cast<int8_t>(l + nmax);
    const float w = x[i] * x[i];
    sumlx += w * x[i] * static_cast<float>(l);
    suml2 += w * static_cast<float>(l) * static_cast<float>(l);
  }
  float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f;
  float best = scale * sumlx;
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    iscale = -(static_cast<float>(nmax) + 0.1f * static_cast<float>(is)) / max;
    sumlx = suml2 = 0;
    for (int i = 0; i < n; ++i) {
      const int l = code(iscale * x[i]);
      const float w = x[i] * x[i];
      sumlx += w * x[i] * static_cast<float>(l);
      suml2 += w * static_cast<float>(l) * static_cast<float>(l);
    }
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(nmax + code(iscale * x[i]));
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

}  // namespace

void quantize_q4_k(const float* x, uint8_t* blocks, int64_t n) {
  uint8_t L[kQK_K], Laux[32];
  float weights[32], mins[kQK_K / 32], scales[kQK_K / 32];
  for (int64_t i = 0; i < n / kQK_K; ++i, x += kQK_K) {
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < kQK_K / 32; ++j) {
      const float* xs = x + 32 * j;
      float sum_x2 = 0;
      for (int l = 0; l < 32; ++l) sum_x2 += xs[l] * xs[l];
      const float av_x = std::sqrt(sum_x2 / 32);
      for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(xs[l]);
      scales[j] = fit_affine(32, 15, xs, weights, L + 32 * j, &mins[j], Laux, -1.0f, 0.1f, 20);
      max_scale = std::max(max_scale, scales[j]);
      max_min = std::max(max_min, mins[j]);
    }
    BlockQ4_K b{};
    const float inv_scale = max_scale > 0 ? 63.0f / max_scale : 0.0f;
    const float inv_min = max_min > 0 ? 63.0f / max_min : 0.0f;
    for (int j = 0; j < kQK_K / 32; ++j) {
      // 8-bit truncation first (as ggml's uint8_t), then the clamp to 6 bits.
      const auto ls = std::min<uint8_t>(63, static_cast<uint8_t>(nearest_int(inv_scale * scales[j])));
      const auto lm = std::min<uint8_t>(63, static_cast<uint8_t>(nearest_int(inv_min * mins[j])));
      if (j < 4) {
        b.scales[j] = ls;
        b.scales[j + 4] = lm;
      } else {
        b.scales[j + 4] = static_cast<uint8_t>((ls & 0xF) | ((lm & 0xF) << 4));
        b.scales[j - 4] |= static_cast<uint8_t>((ls >> 4) << 6);
        b.scales[j] |= static_cast<uint8_t>((lm >> 4) << 6);
      }
    }
    b.d = float_to_f16(max_scale / 63.0f);
    b.dmin = float_to_f16(max_min / 63.0f);
    for (int j = 0; j < kQK_K / 32; ++j) {
      uint8_t sc, m;
      get_scale_min_k4(j, b.scales, &sc, &m);
      const float d = f16_to_float(b.d) * static_cast<float>(sc);
      if (d == 0.0f) continue;  // codes from the sub-block fit stay
      const float dm = f16_to_float(b.dmin) * static_cast<float>(m);
      for (int l = 0; l < 32; ++l)
        L[32 * j + l] = static_cast<uint8_t>(std::max(0, std::min(15, nearest_int((x[32 * j + l] + dm) / d))));
    }
    for (int j = 0, q = 0; j < kQK_K; j += 64, q += 32)
      for (int l = 0; l < 32; ++l) b.qs[q + l] = static_cast<uint8_t>(L[j + l] | (L[j + l + 32] << 4));
    std::memcpy(blocks + static_cast<size_t>(i) * sizeof(BlockQ4_K), &b, sizeof(b));
  }
}

void quantize_q6_k(const float* x, uint8_t* blocks, int64_t n) {
  int8_t L[kQK_K];
  float scales[kQK_K / 16];
  for (int64_t i = 0; i < n / kQK_K; ++i, x += kQK_K) {
    float max_scale = 0, max_abs_scale = 0;
    for (int ib = 0; ib < kQK_K / 16; ++ib) {
      scales[ib] = fit_symmetric(16, 32, x + 16 * ib, L + 16 * ib);
      if (std::fabs(scales[ib]) > max_abs_scale) {
        max_abs_scale = std::fabs(scales[ib]);
        max_scale = scales[ib];
      }
    }
    BlockQ6_K b{};
    if (max_abs_scale >= kGroupMaxEps) {
      const float iscale = -128.0f / max_scale;
      b.d = float_to_f16(1 / iscale);
      for (int ib = 0; ib < kQK_K / 16; ++ib)
        b.scales[ib] = static_cast<int8_t>(std::min(127, nearest_int(iscale * scales[ib])));
      for (int j = 0; j < kQK_K / 16; ++j) {
        const float d = f16_to_float(b.d) * static_cast<float>(b.scales[j]);
        if (d == 0.0f) continue;
        for (int l = 0; l < 16; ++l)
          L[16 * j + l] = static_cast<int8_t>(std::max(-32, std::min(31, nearest_int(x[16 * j + l] / d))) + 32);
      }
      uint8_t* ql = b.ql;
      uint8_t* qh = b.qh;
      for (int j = 0; j < kQK_K; j += 128, ql += 64, qh += 32) {
        for (int l = 0; l < 32; ++l) {
          const int q1 = L[j + l], q2 = L[j + l + 32], q3 = L[j + l + 64], q4 = L[j + l + 96];
          ql[l] = static_cast<uint8_t>((q1 & 0xF) | ((q3 & 0xF) << 4));
          ql[l + 32] = static_cast<uint8_t>((q2 & 0xF) | ((q4 & 0xF) << 4));
          qh[l] = static_cast<uint8_t>((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
        }
      }
    }
    std::memcpy(blocks + static_cast<size_t>(i) * sizeof(BlockQ6_K), &b, sizeof(b));
  }
}

}  // namespace octet::io
