// Error bounds of the f32 row kernels, derived in row_ops_bounds.cc and used
// as test tolerances. u = 2^-24 (kU) is the unit roundoff: every f32 +, -, *,
// /, sqrt and FMA is correctly rounded, so each adds a relative error <= u.
// A bound returned here is for |fast - exact|; tests compare against the
// reference kernels, which are exact up to their final rounding (u |y|, added).
#pragma once

#include <cstdint>
#include <vector>

#include "kernel_test_util.h"
#include "octet/kernels.h"

namespace octet::kernels::testing {

// Accuracy of the AVX2 primitives (verified by vec_math_test.cc sweeps):
// exp within kExpMaxUlp ulp (one ulp <= 2u relative), erf within kErfMaxAbs absolute.
inline constexpr double kExpMaxUlp = 2.0;
inline constexpr double kExpRel = kExpMaxUlp * 2.0 * kU;
inline constexpr double kErfMaxAbs = 0x1p-21;  // measured 3.7e-7, worst next to the clamp at |x| = 4
// Smallest normal f32: exp results below it are flushed to 0.
inline constexpr double kFltMin = 0x1p-126;
// First-order bounds drop products of error terms; with every |error| < 1e-4
// in these tests, this factor covers them.
inline constexpr double kSecondOrder = 1.0 + 1e-4;

// Per-element tolerances for rows x flattened [rows, n].
std::vector<double> layer_norm_tolerance(const float* x, const float* gamma, const float* ref_y, float eps,
                                         int64_t rows, int64_t n);
std::vector<double> rms_norm_tolerance(const float* x, const float* weight, bool unit_offset, const float* ref_y,
                                       float eps, int64_t rows, int64_t n);
// mask_rows[r]: the additive mask row for row r (may be null); empty: no mask.
std::vector<double> softmax_tolerance(const float* x, const std::vector<const float*>& mask_rows, float scale,
                                      const float* ref_y, int64_t rows, int64_t n);
std::vector<double> activation_tolerance(Activation act, const float* x, const float* ref_y, int64_t n);

// The relative error bound of each probability of one softmax row, given the
// exact logits z (may hold -inf), the reference probabilities p, and an extra
// absolute error of every logit (from an upstream GEMM; it moves p_i by at
// most twice that, relatively: once through e_i, once through the sum).
std::vector<double> softmax_relative_bound(const std::vector<double>& z, const float* p, double extra_abs_logit);

}  // namespace octet::kernels::testing
