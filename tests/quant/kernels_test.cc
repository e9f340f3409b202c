// The AVX2 quantization kernels against the scalar reference: bit-identical
// outputs on random data, exact ties, NaN / Inf / huge values, +-0, both
// rounding modes, shared and per-element params, every tail length.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "quant/quant_kernels.h"
#include "quant/test_data.h"

namespace octet::quant_detail {
namespace {

using quant_testing::Rng;

struct Grid {
  int qmin, qmax;
};
constexpr Grid kGrids[] = {{-127, 127}, {-128, 127}, {0, 255}, {1, 255}, {-8, 7}, {0, 15}};

std::vector<float> tricky_values(size_t n, uint64_t seed) {
  Rng rng(seed);
  std::vector<float> v(n);
  const float specials[] = {NAN, INFINITY, -INFINITY, 1e30f, -1e30f, 0.0f, -0.0f, 0.5f, -0.5f, 1.5f, -2.5f};
  for (size_t i = 0; i < n; ++i) {
    const uint64_t kind = rng.below(10);
    if (kind == 0) {
      v[i] = specials[rng.below(std::size(specials))];
    } else if (kind < 4) {  // exact ties after scaling by a power-of-two inverse scale
      v[i] = (static_cast<float>(static_cast<int>(rng.below(600)) - 300) + 0.5f) * 0.25f;
    } else {
      v[i] = static_cast<float>(rng.gaussian() * 40.0);
    }
  }
  return v;
}

struct Params {
  std::vector<float> scale, inv;
  std::vector<int32_t> zp;
};

Params make_params(size_t n, Grid g, uint64_t seed) {
  Rng rng(seed);
  Params p;
  for (size_t i = 0; i < n; ++i) {
    // Half the scales are powers of two (exact inverses: ties stay ties).
    const float s = rng.below(2) ? std::ldexp(1.0f, static_cast<int>(rng.below(5)) - 2)
                                 : static_cast<float>(rng.uniform(0.01, 3.0));
    p.scale.push_back(s);
    p.inv.push_back(1.0f / s);
    p.zp.push_back(g.qmin + static_cast<int32_t>(rng.below(static_cast<uint64_t>(g.qmax - g.qmin + 1))));
  }
  return p;
}

TEST(QuantKernels, Avx2MatchesScalarBitForBit) {
  if (!avx2_quant_kernels()) GTEST_SKIP() << "CPU has no AVX2 (or OCTET_ISA=scalar): nothing to compare";
  const QuantKernels& ref = scalar_quant_kernels();
  const QuantKernels& simd = *avx2_quant_kernels();
  uint64_t seed = 1;
  for (int64_t n : {0, 1, 7, 8, 9, 31, 32, 33, 63, 64, 100, 257}) {
    const std::vector<float> x = tricky_values(static_cast<size_t>(n) + 1, seed++);
    for (const Grid& g : kGrids) {
      const Params p = make_params(static_cast<size_t>(n) + 1, g, seed++);
      for (int64_t stride : {0, 1}) {
        const RunParams rp{p.scale.data(), p.inv.data(), p.zp.data(), stride};
        for (Rounding r : {Rounding::NearestEven, Rounding::NearestAway}) {
          std::vector<uint8_t> qa(n + 1, 0xAB), qb(n + 1, 0xAB);
          ref.quantize(x.data(), n, rp, g.qmin, g.qmax, r, qa.data());
          simd.quantize(x.data(), n, rp, g.qmin, g.qmax, r, qb.data());
          ASSERT_EQ(qa, qb) << "quantize n=" << n << " grid [" << g.qmin << "," << g.qmax << "] stride " << stride;
          ASSERT_EQ(qa[n], 0xAB) << "wrote past the end";

          std::vector<float> fa(n + 1, 7.0f), fb(n + 1, 7.0f);
          ref.fake_quantize(x.data(), n, rp, g.qmin, g.qmax, r, fa.data());
          simd.fake_quantize(x.data(), n, rp, g.qmin, g.qmax, r, fb.data());
          ASSERT_EQ(std::memcmp(fa.data(), fb.data(), fa.size() * sizeof(float)), 0) << "fake_quantize n=" << n;

          const bool is_signed = g.qmin < 0;
          std::vector<float> da(n + 1, 7.0f), db(n + 1, 7.0f);
          ref.dequantize(qa.data(), is_signed, n, rp, da.data());
          simd.dequantize(qa.data(), is_signed, n, rp, db.data());
          ASSERT_EQ(std::memcmp(da.data(), db.data(), da.size() * sizeof(float)), 0) << "dequantize n=" << n;
          // Two-step QDQ equals the fused one.
          ASSERT_EQ(std::memcmp(da.data(), fa.data(), n * sizeof(float)), 0) << "QDQ != fake_quantize n=" << n;
        }
      }
    }
  }
}

TEST(QuantKernels, MinMaxVariantsAgree) {
  const QuantKernels& ref = scalar_quant_kernels();
  for (int64_t n : {1, 5, 8, 17, 1000}) {
    std::vector<float> x(static_cast<size_t>(n));
    Rng rng(static_cast<uint64_t>(n));
    for (float& v : x) v = static_cast<float>(rng.gaussian());
    float lo = INFINITY, hi = -INFINITY;
    ASSERT_TRUE(ref.min_max(x.data(), n, &lo, &hi));
    EXPECT_EQ(lo, *std::min_element(x.begin(), x.end()));
    EXPECT_EQ(hi, *std::max_element(x.begin(), x.end()));
    if (const QuantKernels* simd = avx2_quant_kernels()) {
      float lo2 = INFINITY, hi2 = -INFINITY;
      ASSERT_TRUE(simd->min_max(x.data(), n, &lo2, &hi2));
      EXPECT_EQ(lo, lo2);
      EXPECT_EQ(hi, hi2);
    }
    for (float bad : {NAN, INFINITY, -INFINITY}) {
      std::vector<float> y = x;
      y[static_cast<size_t>(n) / 2] = bad;
      float a = INFINITY, b = -INFINITY;
      EXPECT_FALSE(ref.min_max(y.data(), n, &a, &b));
      if (const QuantKernels* simd = avx2_quant_kernels()) {
        EXPECT_FALSE(simd->min_max(y.data(), n, &a, &b));
      }
    }
  }
}

TEST(QuantKernels, ScalarRoundingIsExact) {
  EXPECT_EQ(round_half_even(2.5f), 2.0f);
  EXPECT_EQ(round_half_even(3.5f), 4.0f);
  EXPECT_EQ(round_half_even(-2.5f), -2.0f);
  EXPECT_EQ(round_half_even(-3.5f), -4.0f);
  EXPECT_EQ(round_half_even(0.49999997f), 0.0f);
  EXPECT_EQ(round_half_even(8388609.0f), 8388609.0f);  // 2^23 + 1: already an integer
  EXPECT_EQ(round_half_away(2.5f), 3.0f);
  EXPECT_EQ(round_half_away(-2.5f), -3.0f);
  EXPECT_EQ(round_half_away(0.49999997f), 0.0f);
  EXPECT_EQ(round_half_away(-0.5f), -1.0f);
  // Against std::nearbyint (default mode: ties to even) on many values.
  Rng rng(42);
  for (int i = 0; i < 100000; ++i) {
    const auto v = static_cast<float>(rng.uniform(-300.0, 300.0));
    ASSERT_EQ(round_half_even(v), std::nearbyint(v)) << v;
    ASSERT_EQ(round_half_away(v), std::round(v)) << v;
  }
}

}  // namespace
}  // namespace octet::quant_detail
