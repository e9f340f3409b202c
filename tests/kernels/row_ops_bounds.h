// Error bounds of the f32 row kernels, derived here and used as test
// tolerances (by tests/kernels and tests/nn). u = 2^-24 (kU) is the unit
// roundoff: every f32 +, -, *, /, sqrt and FMA is correctly rounded, so each
// adds a relative error <= u.
// A bound returned here is for |fast - exact|; tests compare against the
// reference kernels, which are exact up to their final rounding (u |y|, added).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "kernel_test_util.h"
#include "octet/kernels.h"

namespace octet::kernels::testing {

// Accuracy of the AVX2 and AVX-512 primitives (the same operations; verified
// for both by vec_math_test.cc sweeps):
// exp within kExpMaxUlp ulp (one ulp <= 2u relative), erf within kErfMaxAbs absolute.
inline constexpr double kExpMaxUlp = 2.0;
inline constexpr double kExpRel = kExpMaxUlp * 2.0 * kU;
inline constexpr double kErfMaxAbs = 0x1p-21;  // measured 3.7e-7, worst next to the clamp at |x| = 4
// Smallest normal f32: exp results below it are flushed to 0.
inline constexpr double kFltMin = 0x1p-126;
// First-order bounds drop products of error terms; with every |error| < 1e-4
// in these tests, this factor covers them.
inline constexpr double kSecondOrder = 1.0 + 1e-4;

// Per-element tolerances for rows x flattened [rows, n]. Derivations (first
// order in u; kSecondOrder covers the rest) sit with each function below.
// Notation: exact values in double, hats for f32 results.

// Layer norm, computed as mu^ = fl(sum x / n), d^_i = fl(x_i - mu^),
// v^ = fl(sum d^_i^2 / n), r^ = fl(1 / fl(sqrt(fl(v^ + eps)))), y^ = fl(fl(d^ r^) g + b).
//  - mean: any-order sum of n terms plus a divide: |mu^ - mu| <= gamma_{n+1} sum|x| / n =: e_mu.
//  - variance: sum d^^2 = sum (d_i - dmu)^2 (1+d_i)^2 with sum d_i = 0, so
//    |v^ - v| <= e_mu^2 + (gamma_{n+2} + 2u)(v + e_mu^2) =: dv.
//  - r^: relative error of v^ + eps is dv / (v + eps) + u; sqrt halves it and
//    adds u, the divide adds u: e_r = (dv / (v + eps) + u) / 2 + 2u.
//  - y^: |y^ - y| <= |g| r (1 + e_r) (e_mu (1 + u) + |d_i| (e_r + 2u)) + u |y|.
inline std::vector<double> layer_norm_tolerance(const float* x, const float* gamma, const float* ref_y, float eps,
                                         int64_t rows, int64_t n) {
  std::vector<double> tol(static_cast<size_t>(rows * n));
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = x + r * n;
    double sum = 0.0, abs_sum = 0.0;
    for (int64_t i = 0; i < n; ++i) sum += row[i], abs_sum += std::fabs(row[i]);
    const double mu = sum / n;
    double sq = 0.0;
    for (int64_t i = 0; i < n; ++i) sq += (row[i] - mu) * (row[i] - mu);
    const double v = sq / n;
    const double rstd = 1.0 / std::sqrt(v + eps);
    const double e_mu = gamma_n(n + 1) * abs_sum / n;
    const double dv = e_mu * e_mu + (gamma_n(n + 2) + 2 * kU) * (v + e_mu * e_mu);
    const double e_r = (dv / (v + eps) + kU) / 2 + 2 * kU;
    for (int64_t i = 0; i < n; ++i) {
      const double d = std::fabs(row[i] - mu);
      const double y = std::fabs(ref_y[r * n + i]);
      tol[r * n + i] =
          kSecondOrder * (std::fabs(gamma[i]) * rstd * (1 + e_r) * (e_mu * (1 + kU) + d * (e_r + 2 * kU)) + kU * y) +
          kU * y;  // the reference's own rounding
    }
  }
  return tol;
}

// RMS norm: ms^ = fl(sum x^2 / n) (n FMAs + divide: relative gamma_{n+1}),
// r^ as above: e_r = (gamma_{n+1} ms / (ms + eps) + u) / 2 + 2u,
// y^ = fl(fl(x r^) w^) with w^ = fl(1 + w) when unit_offset (one more u):
// |y^ - y| <= |y| (e_r + 2u [+ u]).
inline std::vector<double> rms_norm_tolerance(const float* x, const float* weight, bool unit_offset, const float* ref_y,
                                       float eps, int64_t rows, int64_t n) {
  std::vector<double> tol(static_cast<size_t>(rows * n));
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = x + r * n;
    double sq = 0.0;
    for (int64_t i = 0; i < n; ++i) sq += static_cast<double>(row[i]) * row[i];
    const double ms = sq / n;
    const double rstd = 1.0 / std::sqrt(ms + eps);
    const double e_r = (gamma_n(n + 1) * ms / (ms + eps) + kU) / 2 + 2 * kU;
    for (int64_t i = 0; i < n; ++i) {
      const double w = unit_offset ? 1.0 + weight[i] : weight[i];
      const double y = std::fabs(row[i] * rstd * w);
      tol[r * n + i] = kSecondOrder * y * (e_r + 2 * kU + (unit_offset ? kU : 0.0)) + kU * std::fabs(ref_y[r * n + i]);
    }
  }
  return tol;
}

// Softmax, computed as z^_i = fl(s x_i + m_i), M^ = max z^, e^_i = exp(fl(z^_i - M^)),
// S^ = sum e^, y^_i = fl(e^_i fl(1 / S^)).
//  - |z^_i - z_i| <= u |z_i|; |M^ - M| <= u |M| (1 + 3u) =: dM (the max moves no
//    more than the element that attains it).
//  - the exponent's error |t^_i - t_i| <= u |z_i| + dM + u |t_i|, plus exp's own
//    relative error: rho_i = that + kExpRel (+ extra, for logits from a GEMM).
//  - rho_S = sum_i p_i rho_i + gamma_n (the sum), then y^_i has relative error
//    rho_i + rho_S + 2u (reciprocal and multiply). Flushed exps lose < kFltMin.
// softmax_relative_bound returns that relative bound for each probability of
// one row, given exact logits z (-inf where masked), reference probabilities p
// and an absolute error `extra_abs_logit` already in every logit (from an
// upstream GEMM: it moves p_i relatively by twice that, via e_i and via S).
inline std::vector<double> softmax_relative_bound(const std::vector<double>& z, const float* p, double extra_abs_logit) {
  const size_t n = z.size();
  double max = -std::numeric_limits<double>::infinity();
  for (double v : z) max = std::max(max, v);
  std::vector<double> rho(n, 0.0);
  if (max == -std::numeric_limits<double>::infinity()) return rho;
  const double dm = kU * std::fabs(max) * (1 + 3 * kU);
  double rho_s = gamma_n(static_cast<double>(n));
  for (size_t i = 0; i < n; ++i) {
    if (z[i] == -std::numeric_limits<double>::infinity()) continue;
    rho[i] = kU * std::fabs(z[i]) + dm + kU * std::fabs(z[i] - max) + kExpRel + extra_abs_logit;
    rho_s += p[i] * rho[i];
  }
  for (size_t i = 0; i < n; ++i) rho[i] += rho_s + 2 * kU;
  return rho;
}

inline std::vector<double> softmax_tolerance(const float* x, const std::vector<const float*>& mask_rows, float scale,
                                      const float* ref_y, int64_t rows, int64_t n) {
  std::vector<double> tol(static_cast<size_t>(rows * n));
  std::vector<double> z(static_cast<size_t>(n));
  for (int64_t r = 0; r < rows; ++r) {
    const float* mask = mask_rows.empty() ? nullptr : mask_rows[r];
    for (int64_t i = 0; i < n; ++i) z[i] = static_cast<double>(scale) * x[r * n + i] + (mask ? mask[i] : 0.0f);
    const std::vector<double> rho = softmax_relative_bound(z, ref_y + r * n, 0.0);
    for (int64_t i = 0; i < n; ++i) {
      const double y = ref_y[r * n + i];
      tol[r * n + i] = kSecondOrder * y * rho[i] + kU * y + kFltMin;
    }
  }
  return tol;
}

// Activations (x exact input, y = the exact result; k_x the f32 argument the kernel rounds):
//  - relu: exact.
//  - silu y = x / (1 + e^-x): exp's kExpRel, then add and divide: |y| (kExpRel + 2u).
//  - quick_gelu y = x / (1 + e^-t), t = fl(1.702 x) off by u |t|: |y| (u |t| + kExpRel + 2u).
//  - gelu_tanh y = x / (1 + e^-2w), w = sqrt(2/pi)(x + 0.044715 x^3): the argument
//    -2w is built from x^2, c x^2 (c rounded), an FMA and a product with the
//    rounded constant -2 sqrt(2/pi): 6 roundings of same-signed terms, so it is
//    off by 6u |2w|: |y| (12u |w| + kExpRel + 2u).
//  - gelu y = h + h erf(x / sqrt 2), h = x / 2 exact: the argument is off by 2u
//    (constant, product), erf' <= 2/sqrt(pi), erf^ off by kErfMaxAbs, one final
//    FMA rounding: |h| (kErfMaxAbs + 2.26u |x / sqrt 2|) + u |y|.
//  Saturation of exp at 2.4e38 (|argument| > 88.37) leaves both the exact and
//  the computed |y| below |x| 2^-126: a floor of |x| 2^-125.
//  The reference evaluates 0.5 x (1 + tanh|erf(...)) in double, which in the
//  far negative tail cancels to an absolute error <= |x| 2^-52 (one double ulp
//  of tanh/erf near -1): added for gelu and gelu_tanh.
inline std::vector<double> activation_tolerance(Activation act, const float* x, const float* ref_y, int64_t n) {
  std::vector<double> tol(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const double v = x[i], y = std::fabs(ref_y[i]), ax = std::fabs(v);
    const double floor = ax * 0x1p-125;
    const double ref_floor = ax * 0x1p-52;
    double bound = 0.0;
    switch (act) {
      case Activation::Relu: bound = 0.0; break;
      case Activation::Silu: bound = y * (kExpRel + 2 * kU) + floor; break;
      case Activation::QuickGelu: bound = y * (kU * 1.702 * ax + kExpRel + 2 * kU) + floor; break;
      case Activation::GeluTanh: {
        const double w = 0.7978845608028654 * (ax + 0.044715 * ax * ax * ax);
        bound = y * (12 * kU * w + kExpRel + 2 * kU) + floor + ref_floor;
        break;
      }
      case Activation::Gelu:
        bound = 0.5 * ax * (kErfMaxAbs + 2.26 * kU * ax / std::sqrt(2.0)) + kU * y + ref_floor;
        break;
    }
    tol[i] = bound == 0.0 ? 0.0 : kSecondOrder * bound + kU * y;
  }
  return tol;
}


}  // namespace octet::kernels::testing
