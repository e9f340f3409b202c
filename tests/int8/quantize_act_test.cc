// Activation quantizers: the scalar reference follows the stated rule (known
// answers for ties, clamping, NaN), and the AVX2 variant is bit-identical to
// it on random data and on every special value.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

#include "int8_test_util.h"

namespace octet {
namespace {

using testing::expect_error;
using testing::random_float;
using testing::simd_isas;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

std::vector<int8_t> per_tensor(Int8Isa isa, const std::vector<float>& x, float scale, int32_t zp) {
  std::vector<int8_t> q(x.size());
  quantize_int8_per_tensor(x.data(), 1, static_cast<int64_t>(x.size()), static_cast<int64_t>(x.size()), scale, zp,
                           q.data(), static_cast<int64_t>(x.size()), isa);
  return q;
}

// Values with every special case: exact ties (k + 0.5) * scale (scale a power
// of two, so x / scale is exact), clamping, NaN, infinities, signed zeros.
std::vector<float> special_values(float scale) {
  std::vector<float> x;
  for (int i = -300; i <= 300; ++i) x.push_back((static_cast<float>(i) + 0.5f) * scale);
  for (float v : {0.0f, -0.0f, kNaN, -kNaN, kInf, -kInf, 1e30f, -1e30f, 127.49f * scale, 127.5f * scale,
                  -128.5f * scale, -128.49f * scale, std::numeric_limits<float>::denorm_min()})
    x.push_back(v);
  return x;
}

TEST(QuantizeInt8, PerTensorKnownAnswers) {
  // round half to even, then + zero point, then clamp to [-128, 127]; NaN -> zero point.
  const std::vector<float> x = {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 0.49f, 1000.0f, -1000.0f, kNaN, kInf, -kInf};
  const std::vector<int8_t> want = {0, 2, 2, 0, -2, -2, 0, 127, -128, 0, 127, -128};
  EXPECT_EQ(per_tensor(Int8Isa::Scalar, x, 1.0f, 0), want);
  // With a zero point of 10 and scale 0.5: x / 0.5 = {1, 3, 5, -1, -3, -5, 0.98, ...}.
  const std::vector<int8_t> want_zp = {11, 13, 15, 9, 7, 5, 11, 127, -128, 10, 127, -128};
  EXPECT_EQ(per_tensor(Int8Isa::Scalar, x, 0.5f, 10), want_zp);
}

TEST(QuantizeInt8, PerTensorSimdEqualsScalar) {
  OCTET_REQUIRE_SIMD_INT8();
  uint32_t seed = 1;
  for (int32_t zp : {0, -128, 5, 127}) {
    for (float scale : {0.25f, 0.0371f, 1.0f}) {
      std::vector<std::vector<float>> inputs = {special_values(scale)};
      for (size_t len : {0, 1, 7, 31, 32, 33, 100, 4097}) inputs.push_back(random_float(len, -200 * scale, 200 * scale, seed++));
      for (const auto& x : inputs) {
        const auto want = per_tensor(Int8Isa::Scalar, x, scale, zp);
        for (Int8Isa isa : simd_isas()) ASSERT_EQ(per_tensor(isa, x, scale, zp), want) << int8_isa_name(isa);
      }
    }
  }
}

// The AVX-512 rows multiply by 1 / scale and divide only next to a rounding
// boundary (quotient_to_round): inputs on, and a few ulps either side of,
// (n + 1/2) * scale for every code n, with scales whose reciprocal is exact
// and inexact, tiny and huge, must still give the scalar reference's codes.
TEST(QuantizeInt8, PerTensorSimdEqualsScalarNextToRoundingBoundaries) {
  OCTET_REQUIRE_SIMD_INT8();
  for (float scale : {2.0f, 0.5f, 3.0f, 0.0371f, 1.0f / 127, 7.3e-6f, 1e-30f, 3.1e4f}) {
    std::vector<float> x;
    for (int n = -140; n <= 140; ++n) {
      const float boundary = (static_cast<float>(n) + 0.5f) * scale;
      float up = boundary, down = boundary;
      x.push_back(boundary);
      for (int step = 0; step < 4; ++step) {
        up = std::nextafter(up, std::numeric_limits<float>::infinity());
        down = std::nextafter(down, -std::numeric_limits<float>::infinity());
        x.push_back(up);
        x.push_back(down);
      }
    }
    for (int32_t zp : {0, -128, 5}) {
      const auto want = per_tensor(Int8Isa::Scalar, x, scale, zp);
      for (Int8Isa isa : simd_isas()) ASSERT_EQ(per_tensor(isa, x, scale, zp), want) << int8_isa_name(isa) << " scale " << scale;
    }
  }
}

TEST(QuantizeInt8, PerTensorHonoursStrides) {
  const int64_t rows = 3, cols = 37, ldx = 40, ldq = 45;
  const auto x = random_float(rows * ldx, -3, 3, 77);
  for (Int8Isa isa : testing::all_isas()) {
    std::vector<int8_t> q(rows * ldq, 99);
    quantize_int8_per_tensor(x.data(), rows, cols, ldx, 0.05f, 1, q.data(), ldq, isa);
    for (int64_t r = 0; r < rows; ++r) {
      const std::vector<float> row(x.begin() + r * ldx, x.begin() + r * ldx + cols);
      const auto want = per_tensor(Int8Isa::Scalar, row, 0.05f, 1);
      for (int64_t c = 0; c < cols; ++c) ASSERT_EQ(q[r * ldq + c], want[c]);
      for (int64_t c = cols; c < ldq; ++c) ASSERT_EQ(q[r * ldq + c], 99) << "wrote past cols";
    }
  }
}

// The clamped variant: codes below qmin become qmin (octet's symmetric grid
// uses -127), everything else as the unclamped quantizer; all ISAs agree.
TEST(QuantizeInt8, PerTensorClampedRaisesTheLowerBound) {
  const auto x = random_float(1000, -300, 300, 91);
  const float scale = 1.0f;
  const auto plain = per_tensor(Int8Isa::Scalar, x, scale, 0);
  int64_t clamped = 0;
  for (Int8Isa isa : testing::all_isas())
    for (int32_t qmin : {-128, -127, -5}) {
      std::vector<int8_t> q(x.size());
      quantize_int8_per_tensor_clamped(x.data(), 1, int64_t(x.size()), int64_t(x.size()), scale, 0, qmin, q.data(),
                                       int64_t(x.size()), isa);
      for (size_t i = 0; i < x.size(); ++i) {
        ASSERT_EQ(q[i], std::max<int8_t>(plain[i], int8_t(qmin))) << int8_isa_name(isa) << " qmin " << qmin;
        clamped += plain[i] < qmin;
      }
    }
  EXPECT_GT(clamped, 0);  // the data reaches below every qmin but -128
  std::vector<int8_t> q(8);
  expect_error([&] { quantize_int8_per_tensor_clamped(x.data(), 1, 8, 8, 1.0f, 0, -129, q.data(), 8); },
               "quantize_int8", "lower clamp");
}

struct TokenResult {
  std::vector<int8_t> q;
  std::vector<float> scales;
};

TokenResult per_token(Int8Isa isa, const std::vector<float>& x, int64_t rows, int64_t cols) {
  TokenResult r{std::vector<int8_t>(x.size()), std::vector<float>(rows)};
  quantize_int8_per_token(x.data(), rows, cols, cols, r.q.data(), cols, r.scales.data(), isa);
  return r;
}

TEST(QuantizeInt8, PerTokenFollowsTheRule) {
  const int64_t rows = 5, cols = 67;
  auto x = random_float(rows * cols, -4, 4, 5);
  x[0 * cols + 13] = -9.0f;                            // row 0: absmax from a negative value
  for (int64_t c = 0; c < cols; ++c) x[1 * cols + c] = 0.0f;  // row 1: all zero
  x[2 * cols + 3] = kNaN;                              // row 2: NaN ignored by absmax
  const auto r = per_token(Int8Isa::Scalar, x, rows, cols);
  for (int64_t i = 0; i < rows; ++i) {
    float absmax = 0;
    for (int64_t c = 0; c < cols; ++c)
      if (!std::isnan(x[i * cols + c])) absmax = std::max(absmax, std::fabs(x[i * cols + c]));
    const float scale = absmax > 0 ? absmax / 127.0f : 1.0f;
    ASSERT_EQ(r.scales[i], scale) << "row " << i;
    for (int64_t c = 0; c < cols; ++c) {
      const float v = x[i * cols + c];
      const int8_t q = r.q[i * cols + c];
      if (std::isnan(v)) {
        EXPECT_EQ(q, 0);
        continue;
      }
      EXPECT_GE(q, -127);
      // Round to nearest: the dequantized value is within half a step (plus the
      // division's rounding, relative 2^-24 of |x / scale| <= 127.5).
      EXPECT_LE(std::fabs(q - static_cast<double>(v) / scale), 0.5 + 127.5 * 0x1p-24) << "row " << i << " col " << c;
      if (absmax > 0 && std::fabs(v) == absmax) {
        EXPECT_EQ(std::abs(q), 127);
      }
    }
  }
}

TEST(QuantizeInt8, PerTokenSimdEqualsScalar) {
  OCTET_REQUIRE_SIMD_INT8();
  uint32_t seed = 50;
  for (int64_t cols : {1, 15, 16, 17, 32, 33, 768, 1001}) {
    const int64_t rows = 4;
    auto x = random_float(rows * cols, -30, 30, seed++);
    x[0] = kNaN;
    if (cols > 2) x[cols + 1] = kInf;  // row 1: infinite absmax
    for (int64_t c = 0; c < cols; ++c) x[2 * cols + c] = c % 3 ? 0.0f : -0.0f;
    // Row 3: exact ties relative to its own scale (absmax 127 -> scale 1).
    for (int64_t c = 0; c < cols; ++c) x[3 * cols + c] = c == 0 ? 127.0f : static_cast<float>(c % 200) * 0.5f - 50.0f;
    const auto want = per_token(Int8Isa::Scalar, x, rows, cols);
    ASSERT_EQ(want.scales[3], 1.0f);
    for (Int8Isa isa : simd_isas()) {
      const auto got = per_token(isa, x, rows, cols);
      ASSERT_EQ(got.q, want.q) << int8_isa_name(isa) << " cols " << cols;
      for (int64_t r = 0; r < rows; ++r)
        ASSERT_EQ(std::bit_cast<uint32_t>(got.scales[r]), std::bit_cast<uint32_t>(want.scales[r]));
    }
  }
}

TEST(QuantizeInt8, RejectsBadArguments) {
  const std::vector<float> x(8, 1.0f);
  std::vector<int8_t> q(8);
  float scale = 0;
  expect_error([&] { quantize_int8_per_tensor(x.data(), 1, 8, 8, 0.0f, 0, q.data(), 8); }, "quantize_int8", "scale");
  expect_error([&] { quantize_int8_per_tensor(x.data(), 1, 8, 8, kNaN, 0, q.data(), 8); }, "quantize_int8", "scale");
  expect_error([&] { quantize_int8_per_tensor(x.data(), 1, 8, 8, 1.0f, 128, q.data(), 8); }, "quantize_int8", "zero point");
  expect_error([&] { quantize_int8_per_tensor(x.data(), 1, 8, 7, 1.0f, 0, q.data(), 8); }, "quantize_int8", "leading");
  expect_error([&] { quantize_int8_per_token(x.data(), 1, 8, 8, q.data(), 8, nullptr); }, "quantize_int8", "scales");
  expect_error([&] { quantize_int8_per_token(x.data(), -1, 8, 8, q.data(), 8, &scale); }, "quantize_int8", "negative");
}

}  // namespace
}  // namespace octet
