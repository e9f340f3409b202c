// INT8 GEMM rejects bad input with Error("gemm_int8", ...), never aborting.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

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
