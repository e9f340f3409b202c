// Histogram layout, growth without losing counts, and the percentile rule.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "octet/quant_calibration.h"
#include "quant/test_data.h"

namespace octet {
namespace {

using quant_testing::Rng;

uint64_t sum(std::span<const uint64_t> v) { return std::accumulate(v.begin(), v.end(), uint64_t{0}); }

TEST(Histogram, BinLayout) {
  Histogram h(4);
  h.add(std::vector<float>{0.0f, 0.1f, -0.1f, 1.0f, -1.0f, 0.5f, 0.74f, -0.26f});
  EXPECT_EQ(h.range(), 1.0);
  EXPECT_EQ(h.bin_width(), 0.25);
  EXPECT_EQ(h.total(), 8u);
  EXPECT_EQ(h.min(), -1.0f);
  EXPECT_EQ(h.max(), 1.0f);
  // positive: 0, 0.1 -> bin 0; 0.5, 0.74 -> bin 2; 1.0 (= R) -> last bin.
  EXPECT_EQ(std::vector<uint64_t>(h.positive().begin(), h.positive().end()), (std::vector<uint64_t>{2, 0, 2, 1}));
  // negative: -0.1 -> bin 0; -0.26 -> bin 1; -1.0 -> last bin.
  EXPECT_EQ(std::vector<uint64_t>(h.negative().begin(), h.negative().end()), (std::vector<uint64_t>{1, 1, 0, 1}));
  EXPECT_EQ(h.magnitude_counts(), (std::vector<uint64_t>{3, 1, 2, 2}));
}

TEST(Histogram, ZerosFirstThenData) {
  Histogram h(8);
  h.add(std::vector<float>(5, 0.0f));
  EXPECT_EQ(h.range(), 0.0);
  EXPECT_EQ(h.amax(), 0.0f);
  h.add(std::vector<float>{2.0f, -1.0f});
  EXPECT_EQ(h.range(), 2.0);
  EXPECT_EQ(h.positive()[0], 5u);
  EXPECT_EQ(h.positive()[7], 1u);
  EXPECT_EQ(h.negative()[4], 1u);
  EXPECT_EQ(h.total(), 7u);
}

// Growing by an integer factor merges whole bins: compared with a histogram that
// had the final range from the start, every bin matches except for the values
// sitting exactly on an old edge R (kept in the old last bin, so one merged bin
// lower; see quant_calibration.h) and the one extra value that fixed the range.
TEST(Histogram, GrowthMergesBinsExactly) {
  Rng rng(7);
  std::vector<float> first(20000), second(20000);
  for (float& v : first) v = static_cast<float>(rng.uniform(-0.75, 0.75));
  first[0] = 0.75f;  // R0 = 0.75
  for (float& v : second) v = static_cast<float>(rng.uniform(-2.9, 2.9));  // f = ceil(2.9 / 0.75) = 4
  Histogram grown;
  grown.add(first);
  grown.add(second);
  ASSERT_EQ(grown.range(), 3.0);
  EXPECT_EQ(grown.total(), 40000u);
  EXPECT_EQ(sum(grown.positive()) + sum(grown.negative()), 40000u);

  Histogram direct;
  direct.add(std::vector<float>{3.0f});  // fixes R = 3 = 4 * 0.75
  direct.add(first);
  direct.add(second);
  ASSERT_EQ(direct.range(), 3.0);
  uint64_t differences = 0;
  for (int i = 0; i < grown.bins(); ++i) {
    differences += static_cast<uint64_t>(std::llabs(int64_t(grown.positive()[i]) - int64_t(direct.positive()[i])));
    differences += static_cast<uint64_t>(std::llabs(int64_t(grown.negative()[i]) - int64_t(direct.negative()[i])));
  }
  // Each value at +-0.75 moved one bin (2 differences), the extra 3.0 adds 1.
  const auto on_edge = static_cast<uint64_t>(std::count_if(first.begin(), first.end(),
                                                           [](float v) { return std::fabs(v) == 0.75f; }));
  EXPECT_LE(differences, 2 * on_edge + 1);
  EXPECT_GE(on_edge, 1u);
}

TEST(Histogram, HugeGrowthKeepsCounts) {
  Histogram h(16);
  h.add(std::vector<float>{1e-3f, -5e-4f, 2e-4f});
  h.add(std::vector<float>{1e6f});
  EXPECT_EQ(h.total(), 4u);
  EXPECT_EQ(sum(h.positive()) + sum(h.negative()), 4u);
  EXPECT_GE(h.range(), 1e6);
  EXPECT_EQ(h.positive()[0] + h.negative()[0], 3u);
}

TEST(Histogram, GrownAndOnePassPercentilesAgreeWithinABin) {
  // Batches of growing spread force several growth steps.
  std::vector<float> all;
  Histogram grown;
  for (int b = 0; b < 6; ++b) {
    std::vector<float> batch = quant_testing::gaussian_values(10000, 100 + b, std::pow(1.7, b));
    grown.add(batch);
    all.insert(all.end(), batch.begin(), batch.end());
  }
  Histogram one_pass;
  one_pass.add(all);
  EXPECT_EQ(grown.total(), one_pass.total());
  EXPECT_GT(grown.range(), one_pass.range());
  const double tolerance = std::max(grown.bin_width(), one_pass.bin_width());
  for (double p : {50.0, 90.0, 99.0, 99.9, 99.99}) {
    const ClipRange a = percentile_range(grown, p, QuantScheme::Symmetric);
    const ClipRange b = percentile_range(one_pass, p, QuantScheme::Symmetric);
    EXPECT_NEAR(a.hi, b.hi, tolerance) << p;
    const ClipRange c = percentile_range(grown, p, QuantScheme::Affine);
    const ClipRange d = percentile_range(one_pass, p, QuantScheme::Affine);
    EXPECT_NEAR(c.lo, d.lo, tolerance) << p;
    EXPECT_NEAR(c.hi, d.hi, tolerance) << p;
  }
}

// x_i = i / N for i = 1..N: the p-th percentile is p / 100 (one bin is 1/2048).
TEST(Percentile, KnownAnswerOnUniformSequence) {
  const int n = 100000;
  std::vector<float> v(n);
  for (int i = 0; i < n; ++i) v[i] = static_cast<float>(i + 1) / n;
  Histogram h;
  h.add(v);
  for (double p : {50.0, 99.0, 99.9, 99.99}) {
    const ClipRange r = percentile_range(h, p, QuantScheme::Symmetric);
    EXPECT_NEAR(r.hi, p / 100.0, h.bin_width()) << p;
    EXPECT_EQ(r.lo, -r.hi);
  }
  EXPECT_EQ(percentile_range(h, 100.0, QuantScheme::Symmetric).hi, 1.0f);
}

// x_i = -1 + 2 i / N: the lower tail cut is at -1 + 2 (1 - p/100), the upper at -1 + 2 p/100.
TEST(Percentile, AffineCutsBothTails) {
  const int n = 100000;
  std::vector<float> v(n);
  for (int i = 0; i < n; ++i) v[i] = -1.0f + 2.0f * static_cast<float>(i + 1) / n;
  Histogram h;
  h.add(v);
  for (double p : {99.0, 99.9, 99.99}) {
    const ClipRange r = percentile_range(h, p, QuantScheme::Affine);
    EXPECT_NEAR(r.lo, -1.0 + 2.0 * (1.0 - p / 100.0), h.bin_width()) << p;
    EXPECT_NEAR(r.hi, -1.0 + 2.0 * p / 100.0, h.bin_width()) << p;
  }
  // Skewed data: the affine range follows each tail separately.
  std::vector<float> skew(n);
  for (int i = 0; i < n; ++i) skew[i] = -0.25f + 1.25f * static_cast<float>(i) / (n - 1);
  Histogram hs;
  hs.add(skew);
  const ClipRange r = percentile_range(hs, 99.0, QuantScheme::Affine);
  EXPECT_NEAR(r.lo, -0.25 + 1.25 * 0.01, hs.bin_width());
  EXPECT_NEAR(r.hi, -0.25 + 1.25 * 0.99, hs.bin_width());
}

TEST(Histogram, RejectsBadBatchesAndKeepsState) {
  Histogram h;
  h.add(std::vector<float>{1.0f, 2.0f});
  auto expect_quant_error = [](auto&& fn, const char* what) {
    try {
      fn();
      ADD_FAILURE() << what << ": no error";
    } catch (const Error& e) {
      EXPECT_EQ(e.tag(), "quant") << what;
    }
  };
  expect_quant_error([&] { h.add(std::vector<float>{}); }, "empty");
  expect_quant_error([&] { h.add(std::vector<float>{1.0f, NAN}); }, "NaN");
  expect_quant_error([&] { h.add(std::vector<float>{INFINITY, 1.0f}); }, "Inf");
  expect_quant_error([&] { h.add(Tensor::zeros({2}, DType::I8)); }, "int8 tensor");
  expect_quant_error([] { Histogram bad(0); }, "0 bins");
  expect_quant_error([] { percentile_range(Histogram(), 99.0, QuantScheme::Symmetric); }, "no data");
  expect_quant_error([&] { percentile_range(h, 0.0, QuantScheme::Symmetric); }, "percentile 0");
  expect_quant_error([&] { percentile_range(h, 100.5, QuantScheme::Symmetric); }, "percentile > 100");
  EXPECT_EQ(h.total(), 2u);
  EXPECT_EQ(h.max(), 2.0f);
  EXPECT_EQ(h.range(), 2.0);
}

}  // namespace
}  // namespace octet
