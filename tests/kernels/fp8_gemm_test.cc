// FP8 e4m3 GEMM kernels (kernels/fp8_gemm.h): the reference against the
// definition computed from the raw codes (no packed layout), every SIMD
// variant against the reference bit for bit (the products are exact and the
// additions are in the defined order), decode and prefill row counts, odd k,
// partial panels, every e4m3 code but NaN among the weights.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/fp8_gemm.h"
#include "octet/error.h"
#include "octet/number_formats.h"

namespace octet::kernels::fp8_gemm_test {
namespace {

struct Case {
  int64_t n, k, m;
  bool bias;
};

struct Problem {
  std::vector<uint8_t> w;       // e4m3 codes [n, k]
  std::vector<uint16_t> a;      // bf16 [m, lda], zero past k
  int64_t lda = 0;
  std::vector<float> scale, bias;
  PackedFp8Weights packed;
};

Problem make_problem(const Case& c, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> code(0, 255);
  std::uniform_real_distribution<float> uni(0.01f, 2.0f);
  Problem p;
  p.w.resize(size_t(c.n * c.k));
  for (size_t i = 0; i < p.w.size(); ++i) {
    // Every non-NaN code appears (in order first, then at random).
    uint8_t v = i < 254 ? static_cast<uint8_t>(i < 127 ? i : i + 1) : static_cast<uint8_t>(code(rng));
    if ((v & 0x7F) == 0x7F) v = 0x7E;
    p.w[i] = v;
  }
  p.lda = (c.k + 1) / 2 * 2 + 6;  // a wider row stride than needed
  p.a.assign(size_t(c.m * p.lda), 0);
  for (int64_t i = 0; i < c.m; ++i)
    for (int64_t j = 0; j < c.k; ++j) {
      uint8_t v = static_cast<uint8_t>(code(rng));
      if ((v & 0x7F) == 0x7F) v = 0x00;
      p.a[size_t(i * p.lda + j)] = fp8_e4m3_to_bf16(v);
    }
  p.scale.resize(size_t(c.n));
  for (auto& v : p.scale) v = uni(rng) * 1e-3f;
  if (c.bias) {
    p.bias.resize(size_t(c.n));
    for (auto& v : p.bias) v = uni(rng) - 1.0f;
  }
  p.packed = pack_fp8_weights(p.w.data(), c.n, c.k);
  return p;
}

// fp8_gemm.h's definition from the raw codes.
std::vector<float> definition(const Case& c, const Problem& p) {
  std::vector<float> y(size_t(c.m * c.n));
  const int64_t pairs = (c.k + 1) / 2;
  for (int64_t i = 0; i < c.m; ++i)
    for (int64_t n = 0; n < c.n; ++n) {
      const auto w = [&](int64_t j) { return j < c.k ? fp8_e4m3_to_float(p.w[size_t(n * c.k + j)]) : 0.0f; };
      const auto a = [&](int64_t j) { return bf16_to_float(p.a[size_t(i * p.lda + j)]); };
      float acc = 0.0f;
      for (int64_t q = 0; q < pairs; ++q) {
        acc = std::fma(w(2 * q + 1), a(2 * q + 1), acc);
        acc = std::fma(w(2 * q), a(2 * q), acc);
      }
      const float s = p.scale[size_t(n)];
      y[size_t(i * c.n + n)] = c.bias ? std::fma(acc, s, p.bias[size_t(n)]) : acc * s;
    }
  return y;
}

std::vector<float> run(const Case& c, const Problem& p, Fp8Isa isa) {
  std::vector<float> y(size_t(c.m * c.n), -7.0f);
  fp8_gemm(p.packed, p.a.data(), p.lda, c.m, p.scale.data(), c.bias ? p.bias.data() : nullptr, y.data(), isa);
  return y;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

class Fp8Gemm : public ::testing::TestWithParam<Case> {};

TEST_P(Fp8Gemm, ReferenceMatchesTheDefinition) {
  const Case c = GetParam();
  const Problem p = make_problem(c, 21);
  EXPECT_TRUE(same_bits(run(c, p, Fp8Isa::Reference), definition(c, p)));
}

TEST_P(Fp8Gemm, Avx2EqualsReferenceExactly) {
  if (!fp8_isa_supported(Fp8Isa::Avx2)) GTEST_SKIP() << "no AVX2";
  const Case c = GetParam();
  const Problem p = make_problem(c, 22);
  EXPECT_TRUE(same_bits(run(c, p, Fp8Isa::Avx2), run(c, p, Fp8Isa::Reference)));
}

TEST_P(Fp8Gemm, Avx512EqualsReferenceExactly) {
  if (!fp8_isa_supported(Fp8Isa::Avx512)) GTEST_SKIP() << "no AVX-512 BF16 + VBMI";
  const Case c = GetParam();
  const Problem p = make_problem(c, 23);
  EXPECT_TRUE(same_bits(run(c, p, Fp8Isa::Avx512), run(c, p, Fp8Isa::Reference)));
}

std::vector<Case> cases() {
  std::vector<Case> v;
  for (int64_t m : {1, 3, 8, 9, 16, 37})
    for (auto [n, k] : {std::pair<int64_t, int64_t>{37, 256}, {64, 250}, {100, 97}, {32, 1}})
      v.push_back({n, k, m, (m + n) % 2 == 1});
  return v;
}

INSTANTIATE_TEST_SUITE_P(Shapes, Fp8Gemm, ::testing::ValuesIn(cases()), [](const auto& info) {
  const Case& c = info.param;
  return fmt::format("n{}_k{}_m{}{}", c.n, c.k, c.m, c.bias ? "_bias" : "");
});

TEST(Fp8GemmConvert, EveryCodeBecomesTheBf16OfItsValue) {
  for (int code = 0; code < 256; ++code) {
    const float want = fp8_e4m3_to_float(static_cast<uint8_t>(code));
    const float got = bf16_to_float(fp8_e4m3_to_bf16(static_cast<uint8_t>(code)));
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(got)) << code;
    } else {
      EXPECT_EQ(std::memcmp(&want, &got, sizeof got), 0) << code << ": " << want << " vs " << got;
    }
  }
}

TEST(Fp8GemmPack, RefusesNaNWeights) {
  std::vector<uint8_t> w(64, 0x38);
  w[5] = 0xFF;
  EXPECT_THROW(pack_fp8_weights(w.data(), 2, 32), Error);
  w[5] = 0x7F;
  EXPECT_THROW(pack_fp8_weights(w.data(), 2, 32), Error);
}

}  // namespace
}  // namespace octet::kernels::fp8_gemm_test
