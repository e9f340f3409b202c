// INT8 GEMM rejects bad input with Error("gemm_int8", ...), never aborting.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

#include "int8_test_util.h"

namespace octet {
namespace {

using testing::expect_error;
using testing::random_int8;

TEST(GemmInt8Errors, PackingRejectsMinus128) {
  auto w = random_int8(5 * 9, -127, 127, 1);
  w[3 * 9 + 4] = -128;
  for (Int8Isa isa : testing::all_isas())
    expect_error([&] { pack_int8_weights(w.data(), 5, 9, nullptr, isa); }, "gemm_int8", "weight [3, 4] is -128");
}

TEST(GemmInt8Errors, TransposedPackingRejectsMinus128AndShortRows) {
  auto wt = random_int8(9 * 5, -127, 127, 1);  // W^T [k = 9, n = 5]
  wt[4 * 5 + 3] = -128;                         // W[3, 4]
  for (Int8Isa isa : testing::all_isas())
    expect_error([&] { pack_int8_weights_transposed(wt.data(), 9, 5, 5, nullptr, isa); }, "gemm_int8",
                 "weight [3, 4] is -128");
  expect_error([&] { pack_int8_weights_transposed(wt.data(), 9, 5, 4, nullptr, Int8Isa::Scalar); }, "gemm_int8",
               "leading dimension 4");
}

// Packing W from its transpose gives the very bytes, sums and scales of packing W.
TEST(GemmInt8Packing, TransposedSourceGivesTheSamePacking) {
  for (Int8Isa isa : testing::all_isas())
    for (const auto& [n, k, ld] : {std::tuple{5, 9, 5}, std::tuple{16, 64, 16}, std::tuple{64, 128, 70},
                                   std::tuple{33, 3, 40}, std::tuple{1, 1, 1}}) {
      SCOPED_TRACE(std::string(int8_isa_name(isa)) + " n " + std::to_string(n) + " k " + std::to_string(k));
      const auto wt = random_int8(int64_t(k) * ld, -127, 127, uint32_t(n * 131 + k));
      std::vector<int8_t> w(static_cast<size_t>(n) * k);
      std::vector<float> scales(static_cast<size_t>(n));
      for (int c = 0; c < n; ++c) {
        scales[size_t(c)] = 0.5f + float(c);
        for (int i = 0; i < k; ++i) w[size_t(c) * k + i] = wt[size_t(i) * ld + c];
      }
      const PackedInt8Weights a = pack_int8_weights(w.data(), n, k, scales.data(), isa);
      const PackedInt8Weights b = pack_int8_weights_transposed(wt.data(), k, n, ld, scales.data(), isa);
      ASSERT_EQ(a.n_padded(), b.n_padded());
      ASSERT_EQ(a.k_padded(), b.k_padded());
      EXPECT_EQ(std::memcmp(a.data(), b.data(), size_t(a.n_padded() * a.k_padded())), 0);
      for (int64_t c = 0; c < a.n_padded(); ++c) {
        EXPECT_EQ(a.row_sums()[size_t(c)], b.row_sums()[size_t(c)]) << c;
        EXPECT_EQ(a.scales()[size_t(c)], b.scales()[size_t(c)]) << c;
      }
    }
}

TEST(GemmInt8Errors, PackingRejectsBadShapesAndScales) {
  const auto w = random_int8(4 * 4, -127, 127, 2);
  expect_error([&] { pack_int8_weights(w.data(), 0, 4, nullptr); }, "gemm_int8", "must be positive");
  expect_error([&] { pack_int8_weights(w.data(), 4, 0, nullptr); }, "gemm_int8", "must be positive");
  expect_error([&] { pack_int8_weights(w.data(), -1, 4, nullptr); }, "gemm_int8", "must be positive");
  expect_error([&] { pack_int8_weights(nullptr, 4, 4, nullptr); }, "gemm_int8", "null weight");
  expect_error([&] { pack_int8_weights(w.data(), 1, 200000, nullptr); }, "gemm_int8", "largest k");
  const float scales[4] = {1.0f, std::numeric_limits<float>::quiet_NaN(), 1.0f, 1.0f};
  expect_error([&] { pack_int8_weights(w.data(), 4, 4, scales); }, "gemm_int8", "scale [1]");
}

TEST(GemmInt8Errors, PackingRejectsUnavailableVariants) {
  const auto w = random_int8(4 * 4, -127, 127, 3);
  for (Int8Isa isa : {Int8Isa::Scalar, Int8Isa::Avx2, Int8Isa::Avx512Vnni}) {
    if (int8_isa_available(isa)) {
      EXPECT_EQ(pack_int8_weights(w.data(), 4, 4, nullptr, isa).isa(), isa);
    } else {
      expect_error([&] { pack_int8_weights(w.data(), 4, 4, nullptr, isa); }, "gemm_int8", "does not support");
    }
  }
}

TEST(GemmInt8Errors, GemmRejectsBadArguments) {
  const int64_t n = 6, k = 10, m = 2;
  const auto w = random_int8(n * k, -127, 127, 4);
  const auto a = random_int8(m * k, -128, 127, 5);
  const PackedInt8Weights packed = pack_int8_weights(w.data(), n, k, nullptr);
  std::vector<int32_t> c(m * n);
  std::vector<float> cf(m * n);
  std::vector<int8_t> c8(m * n);
  expect_error([&] { gemm_int8_s32(a.data(), m, k - 1, 0, packed, c.data(), n); }, "gemm_int8", "lda");
  expect_error([&] { gemm_int8_s32(a.data(), m, k, 0, packed, c.data(), n - 1); }, "gemm_int8", "ldc");
  expect_error([&] { gemm_int8_s32(a.data(), -1, k, 0, packed, c.data(), n); }, "gemm_int8", "negative");
  expect_error([&] { gemm_int8_s32(nullptr, m, k, 0, packed, c.data(), n); }, "gemm_int8", "null");
  expect_error([&] { gemm_int8_s32(a.data(), m, k, 0, PackedInt8Weights{}, c.data(), n); }, "gemm_int8",
               "not packed");
  // K * 127 * (128 + |zp|) >= 2^31 could overflow the exact int32 accumulator.
  expect_error([&] { gemm_int8_s32(a.data(), m, k, 2000000, packed, c.data(), n); }, "gemm_int8", "overflow");
  Int8Epilogue ep;
  ep.a_scale = std::numeric_limits<float>::infinity();
  expect_error([&] { gemm_int8(a.data(), m, k, 0, packed, ep, cf.data(), n); }, "gemm_int8", "a_scale");
  ep = Int8Epilogue{};
  ep.activation = static_cast<Int8Activation>(42);
  expect_error([&] { gemm_int8(a.data(), m, k, 0, packed, ep, cf.data(), n); }, "gemm_int8", "activation");
  expect_error([&] { gemm_int8_requantize(a.data(), m, k, 0, packed, {}, {0.0f, 0}, c8.data(), n); }, "gemm_int8",
               "output scale");
  expect_error([&] { gemm_int8_requantize(a.data(), m, k, 0, packed, {}, {1.0f, 0, -129}, c8.data(), n); },
               "gemm_int8", "lower clamp");
  expect_error([&] { gemm_int8_requantize(a.data(), m, k, 0, packed, {}, {1.0f, 128}, c8.data(), n); }, "gemm_int8",
               "zero point");
}

}  // namespace
}  // namespace octet
