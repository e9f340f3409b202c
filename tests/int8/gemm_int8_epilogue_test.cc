// The fused f32 / int8 epilogue: scale + bias (+ ReLU) is bit-identical across
// variants; every variant is within a derived error bound of an exact
// (int64 + double) reference; GELU stays within the bound of its
// approximation; fused requantization equals quantizing the f32 output.
//
// Error bounds (u = 2^-24, the unit roundoff of f32; no underflow: scales >= 1e-4):
//   y = fl(fl(fl(float(acc)) * a_scale) * w_scale) + bias is four roundings:
//   with p = acc * a_scale * w_scale (exact), |y_hat - y| <= g3 (1 + u) |p| + u |y|,
//   g3 = 3u / (1 - 3u). The double reference itself adds at most 2^-52 |p|.
//   GELU(erf): 0.5 y (1 + erf(y / sqrt 2)) evaluated in f32 with an erf whose
//   absolute error is <= E: the argument's 2 roundings move erf by at most
//   max|t erf'(t)| * 2u = 0.484 * 2u, 1 + e and the final product add 2u each
//   (relative to 0.5 |y|), so |g_hat - g| <= 0.5 |y| (E + 5u) + O(u^2) <= 0.5 |y| (E + 6u).
//   GELU(tanh): the argument c (y + 0.044715 y^3) carries 7 roundings (constants
//   included, both terms have the same sign), max|t tanh'(t)| = 0.448, so
//   |g_hat - g| <= 0.5 |y| (E + 0.448 * 7u + 4u) <= 0.5 |y| (E + 8u).
//   A pre-activation error d propagates by at most max|GELU'| = 1.129 * d.
//   E: the SIMD rational approximations (Eigen's) measure 4.3e-7 (erf) and
//   3.9e-7 (tanh) evaluated in f32 over a 4M-point grid on [-10, 10]; FMA
//   evaluation moves that by < 2 ulp(1), so E_simd = 6e-7. The scalar reference
//   uses glibc erff / tanhf (documented <= 2 ulp): E_scalar = 2^-22.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <iostream>
#include <limits>

#include "int8_test_util.h"

namespace octet {
namespace {

using testing::all_isas;
using testing::random_float;
using testing::random_int8;
using testing::reference_gemm;
using testing::simd_isas;

constexpr double kU = 0x1p-24;
constexpr double kG3 = 3 * kU / (1 - 3 * kU);
constexpr double kMaxGeluSlope = 1.13;

double approx_error(Int8Isa isa) { return isa == Int8Isa::Scalar ? 0x1p-22 : 6e-7; }

double gelu_erf(double y) { return 0.5 * y * (1.0 + std::erf(y / std::sqrt(2.0))); }
double gelu_tanh(double y) {
  return 0.5 * y * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (y + 0.044715 * y * y * y)));
}

struct Problem {
  int64_t m, k, n;
  std::vector<int8_t> a, w;
  std::vector<float> w_scales, bias, row_scales;
};

Problem make_problem(int64_t m, int64_t k, int64_t n, uint32_t seed) {
  Problem p{m, k, n, random_int8(m * k, -128, 127, seed), random_int8(n * k, -127, 127, seed + 1),
            random_float(n, 1e-4f, 2e-3f, seed + 2), random_float(n, -2.0f, 2.0f, seed + 3),
            random_float(m, 5e-3f, 2e-2f, seed + 4)};
  return p;
}

std::vector<float> run_f32(Int8Isa isa, const Problem& p, int32_t zp, const Int8Epilogue& ep) {
  const PackedInt8Weights packed = pack_int8_weights(p.w.data(), p.n, p.k, p.w_scales.data(), isa);
  std::vector<float> c(p.m * p.n);
  gemm_int8(p.a.data(), p.m, p.k, zp, packed, ep, c.data(), p.n);
  return c;
}

std::vector<int8_t> run_s8(Int8Isa isa, const Problem& p, int32_t zp, const Int8Epilogue& ep, Int8OutputQuant oq) {
  const PackedInt8Weights packed = pack_int8_weights(p.w.data(), p.n, p.k, p.w_scales.data(), isa);
  std::vector<int8_t> c(p.m * p.n);
  gemm_int8_requantize(p.a.data(), p.m, p.k, zp, packed, ep, oq, c.data(), p.n);
  return c;
}

// The four epilogue configurations of scale and bias.
std::vector<Int8Epilogue> scale_bias_epilogues(const Problem& p, Int8Activation act) {
  std::vector<Int8Epilogue> eps;
  for (bool per_row : {false, true})
    for (bool bias : {false, true}) {
      Int8Epilogue ep;
      ep.a_scale = 0.0123f;
      ep.a_row_scales = per_row ? p.row_scales.data() : nullptr;
      ep.bias = bias ? p.bias.data() : nullptr;
      ep.activation = act;
      eps.push_back(ep);
    }
  return eps;
}

const std::vector<std::array<int64_t, 3>> kShapes = {{1, 33, 17}, {5, 100, 37}, {13, 64, 50}, {64, 768, 96}, {9, 3, 130}};

TEST(GemmInt8Epilogue, ScaleBiasReluIsBitIdenticalAcrossVariants) {
  OCTET_REQUIRE_SIMD_INT8();
  uint32_t seed = 10;
  for (const auto& [m, k, n] : kShapes) {
    const Problem p = make_problem(m, k, n, seed += 10);
    for (Int8Activation act : {Int8Activation::None, Int8Activation::Relu}) {
      for (const Int8Epilogue& ep : scale_bias_epilogues(p, act)) {
        const auto want = run_f32(Int8Isa::Scalar, p, 3, ep);
        const auto want8 = run_s8(Int8Isa::Scalar, p, 3, ep, {0.05f, -4});
        for (Int8Isa isa : simd_isas()) {
          const auto got = run_f32(isa, p, 3, ep);
          for (size_t i = 0; i < got.size(); ++i)
            ASSERT_EQ(std::bit_cast<uint32_t>(got[i]), std::bit_cast<uint32_t>(want[i]))
                << int8_isa_name(isa) << " m=" << m << " k=" << k << " n=" << n << " at " << i << ": " << got[i]
                << " vs " << want[i];
          ASSERT_EQ(run_s8(isa, p, 3, ep, {0.05f, -4}), want8) << int8_isa_name(isa);
        }
      }
    }
  }
}

TEST(GemmInt8Epilogue, ScaleBiasWithinDerivedBoundOfExactReference) {
  uint32_t seed = 500;
  for (const auto& [m, k, n] : kShapes) {
    const Problem p = make_problem(m, k, n, seed += 10);
    const int32_t zp = -9;
    const auto acc = reference_gemm(p.a, m, k, zp, p.w, n, k);
    for (const Int8Epilogue& ep : scale_bias_epilogues(p, Int8Activation::None)) {
      for (Int8Isa isa : all_isas()) {
        const auto got = run_f32(isa, p, zp, ep);
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < n; ++j) {
            const double a_scale = ep.a_row_scales ? ep.a_row_scales[i] : ep.a_scale;
            const double prod = static_cast<double>(acc[i * n + j]) * a_scale * p.w_scales[j];
            const double y = prod + (ep.bias ? ep.bias[j] : 0.0);
            const double bound = kG3 * (1 + kU) * std::fabs(prod) + kU * std::fabs(y) + 0x1p-52 * std::fabs(prod);
            ASSERT_LE(std::fabs(got[i * n + j] - y), bound) << int8_isa_name(isa) << " at " << i << "," << j;
          }
      }
    }
  }
}

// Pre-activation values swept densely: K = 1, A = 1, W = 1, a_scale = 1 and
// w_scale[n] = y_n make the pre-activation exactly y_n.
std::vector<float> sweep_values() {
  std::vector<float> ys;
  for (int i = -120000; i <= 120000; ++i) ys.push_back(static_cast<float>(i) * 1e-4f);
  for (double mag = 1e-30; mag < 1e31; mag *= 1.7) {
    ys.push_back(static_cast<float>(mag));
    ys.push_back(static_cast<float>(-mag));
  }
  return ys;
}

TEST(GemmInt8Epilogue, ActivationsWithinDerivedBoundOnDenseSweep) {
  const std::vector<float> ys = sweep_values();
  const int64_t n = static_cast<int64_t>(ys.size());
  const std::vector<int8_t> w(n, 1);
  const int8_t one = 1;
  for (Int8Isa isa : all_isas()) {
    const PackedInt8Weights packed = pack_int8_weights(w.data(), n, 1, ys.data(), isa);
    for (Int8Activation act : {Int8Activation::Relu, Int8Activation::GeluErf, Int8Activation::GeluTanh}) {
      Int8Epilogue ep;
      ep.activation = act;
      std::vector<float> c(n);
      gemm_int8(&one, 1, 1, 0, packed, ep, c.data(), n);
      double worst = 0;  // the largest error as a fraction of its bound
      for (int64_t j = 0; j < n; ++j) {
        const double y = ys[j];
        double want = 0, bound = 0;
        switch (act) {
          case Int8Activation::Relu: want = y > 0 ? y : 0; break;
          case Int8Activation::GeluErf:
            want = gelu_erf(y);
            bound = 0.5 * std::fabs(y) * (approx_error(isa) + 6 * kU);
            break;
          default:
            want = gelu_tanh(y);
            bound = 0.5 * std::fabs(y) * (approx_error(isa) + 8 * kU);
            break;
        }
        const double err = std::fabs(c[j] - want);
        ASSERT_LE(err, bound) << int8_isa_name(isa) << " activation " << static_cast<int>(act) << " y=" << y
                              << " got " << c[j] << " want " << want;
        if (bound > 0) worst = std::max(worst, err / bound);
      }
      std::cout << "[ int8 ] " << int8_isa_name(isa) << " activation " << static_cast<int>(act)
                << ": worst error / bound = " << worst << "\n";
    }
  }
}

TEST(GemmInt8Epilogue, GeluOnRandomGemmWithinPropagatedBound) {
  const Problem p = make_problem(19, 300, 45, 900);
  const int32_t zp = 4;
  const auto acc = reference_gemm(p.a, p.m, p.k, zp, p.w, p.n, p.k);
  for (Int8Activation act : {Int8Activation::GeluErf, Int8Activation::GeluTanh}) {
    for (const Int8Epilogue& ep : scale_bias_epilogues(p, act)) {
      for (Int8Isa isa : all_isas()) {
        const auto got = run_f32(isa, p, zp, ep);
        for (int64_t i = 0; i < p.m; ++i)
          for (int64_t j = 0; j < p.n; ++j) {
            const double a_scale = ep.a_row_scales ? ep.a_row_scales[i] : ep.a_scale;
            const double prod = static_cast<double>(acc[i * p.n + j]) * a_scale * p.w_scales[j];
            const double y = prod + (ep.bias ? ep.bias[j] : 0.0);
            const double pre_bound = kG3 * (1 + kU) * std::fabs(prod) + kU * std::fabs(y) + 0x1p-52 * std::fabs(prod);
            const double act_terms = act == Int8Activation::GeluErf ? 6 * kU : 8 * kU;
            const double bound = kMaxGeluSlope * pre_bound +
                                 0.5 * (std::fabs(y) + pre_bound) * (approx_error(isa) + act_terms);
            const double want = act == Int8Activation::GeluErf ? gelu_erf(y) : gelu_tanh(y);
            ASSERT_LE(std::fabs(got[i * p.n + j] - want), bound) << int8_isa_name(isa) << " at " << i << "," << j;
          }
      }
    }
  }
}

// Fused requantization equals the f32 epilogue followed by the per-tensor
// quantizer (same rule), for every activation, with clamping exercised.
TEST(GemmInt8Epilogue, RequantizeEqualsQuantizedF32Output) {
  uint32_t seed = 1300;
  for (const auto& [m, k, n] : kShapes) {
    const Problem p = make_problem(m, k, n, seed += 10);
    for (Int8Activation act :
         {Int8Activation::None, Int8Activation::Relu, Int8Activation::GeluErf, Int8Activation::GeluTanh}) {
      for (const Int8Epilogue& ep : scale_bias_epilogues(p, act)) {
        for (Int8Isa isa : all_isas()) {
          const auto f32 = run_f32(isa, p, 0, ep);
          // Outputs beyond +-1.2 clamp; qmin -127 is octet's symmetric grid, -100 clamps more.
          for (const Int8OutputQuant oq : {Int8OutputQuant{0.01f, 7}, Int8OutputQuant{0.01f, 0, -127},
                                           Int8OutputQuant{0.01f, 3, -100}}) {
            std::vector<int8_t> want(f32.size());
            quantize_int8_per_tensor_clamped(f32.data(), m, n, n, oq.scale, oq.zero_point, oq.qmin, want.data(), n,
                                             Int8Isa::Scalar);
            ASSERT_EQ(run_s8(isa, p, 0, ep, oq), want)
                << int8_isa_name(isa) << " activation " << static_cast<int>(act) << " qmin " << oq.qmin;
          }
        }
      }
    }
  }
}

// Non-finite and out-of-range epilogue outputs (a bias of NaN, +-inf, +-1e30,
// +-3e9 or values just past the clamp bounds) requantize as the rule says in
// every variant: NaN -> zero_point, the rest clamped to [qmin, 127]. The
// AVX-512 epilogue clamps before it converts, so huge values must not reach
// the float-to-int conversion's out-of-range result.
TEST(GemmInt8Epilogue, RequantizeNonFiniteAndHugeOutputs) {
  Problem p = make_problem(6, 40, 48, 1700);
  const float inf = std::numeric_limits<float>::infinity();
  const float specials[] = {
      std::numeric_limits<float>::quiet_NaN(), inf, -inf, 1e30f, -1e30f, 3e9f, -3e9f, 1.275f, -1.285f, 1.265f, 0.0f};
  for (int64_t j = 0; j < p.n; ++j) p.bias[j] = specials[j % std::size(specials)];
  Int8Epilogue ep;
  ep.a_scale = 1e-6f;  // the sums add well under one code to the bias
  ep.bias = p.bias.data();
  for (const Int8OutputQuant oq : {Int8OutputQuant{0.01f, 7, -128}, Int8OutputQuant{0.01f, -3, -100}}) {
    const auto want = run_s8(Int8Isa::Scalar, p, 0, ep, oq);
    for (int64_t i = 0; i < p.m; ++i)
      for (int64_t j = 0; j < p.n; ++j) {
        const float b = p.bias[j];
        const int8_t code = want[i * p.n + j];
        if (std::isnan(b)) {
          EXPECT_EQ(code, oq.zero_point);
        } else if (b > 1e9f) {
          EXPECT_EQ(code, 127);
        } else if (b < -1e9f) {
          EXPECT_EQ(code, oq.qmin);
        }
      }
    for (Int8Isa isa : simd_isas())
      ASSERT_EQ(run_s8(isa, p, 0, ep, oq), want) << int8_isa_name(isa) << " zp " << oq.zero_point;
  }
}

// Integer outputs (unit scales, no bias) requantized with scale 2 land exactly
// on rounding ties (odd sums), and with scales next to 2, 2/3 or 2/7 a hair beside
// them: the AVX-512 epilogue's multiply-by-reciprocal must still round as the
// division does.
TEST(GemmInt8Epilogue, RequantizeRoundsTiesAsTheDivisionDoes) {
  Problem p = make_problem(7, 5, 40, 1500);
  p.a = random_int8(p.m * p.k, -3, 3, 1501);
  p.w = random_int8(p.n * p.k, -3, 3, 1502);
  std::fill(p.w_scales.begin(), p.w_scales.end(), 1.0f);
  Int8Epilogue ep;  // a_scale 1, no bias: outputs are the integer sums, |sum| <= 45
  for (Int8Isa isa : all_isas()) {
    const auto f32 = run_f32(isa, p, 0, ep);
    for (float scale : {2.0f, std::nextafter(2.0f, 3.0f), std::nextafter(2.0f, 1.0f), 3.0f, 0.5f, 2.0f / 3, 2.0f / 7,
                        0.3f}) {
      const Int8OutputQuant oq{scale, 0, -127};
      std::vector<int8_t> want(f32.size());
      quantize_int8_per_tensor_clamped(f32.data(), p.m, p.n, p.n, oq.scale, oq.zero_point, oq.qmin, want.data(), p.n,
                                       Int8Isa::Scalar);
      ASSERT_EQ(run_s8(isa, p, 0, ep, oq), want) << int8_isa_name(isa) << " scale " << scale;
    }
  }
}

}  // namespace
}  // namespace octet
