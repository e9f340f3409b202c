// Group-wise RTN of weight matrices: bit-identical to octet's own QDQ ops,
// clipping, code dtypes, and bad input.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "octet/quant.h"
#include "quant/group_quant.h"
#include "quant/solver_testing.h"

namespace octet {
namespace {

using solver_testing::expect_codes_on_grid;
using solver_testing::expect_quantize_error;

// Weights with row-dependent magnitudes, outliers, exact zeros and an
// all-positive row (affine zero points away from the middle).
Tensor test_weights(int64_t out, int64_t in, uint64_t seed) {
  std::vector<float> v = quant_testing::gaussian_with_outliers(static_cast<size_t>(out * in), 12, seed, 8.0, 20.0);
  for (int64_t r = 0; r < out; ++r)
    for (int64_t c = 0; c < in; ++c) {
      float& x = v[r * in + c];
      x *= static_cast<float>(0.02 * (1 + r % 7));
      if (r == 1) x = std::fabs(x) + 0.5f;
      if ((r * in + c) % 97 == 0) x = 0.0f;
    }
  return Tensor::from_floats(v, {out, in});
}

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() && std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

TEST(GroupQuantTest, RtnIsBitIdenticalToOctetQdq) {
  const Tensor w = test_weights(48, 256, 11);
  for (const char* text : {"int4:sym:group(32)", "int4:sym:group(128)", "uint4:affine:group(128)",
                           "int8:sym:per_channel(0)", "uint4:affine:group(32)", "int8:affine:group(64)",
                           "uint8:affine:group(128)", "int4:sym:group(32):rna", "uint8:sym:per_channel(0)"}) {
    SCOPED_TRACE(text);
    const QuantSpec spec = parse_quant_spec(text);
    const GroupQuantizedWeight q = quantize_weight_rtn(w, spec);
    const QuantParams params = compute_qparams(w, spec);
    const Tensor expected = dequantize(quantize(w, spec, params), spec, params);
    EXPECT_TRUE(bitwise_equal(dequantize_group_weight(q), expected));
    // The params are octet's own, reshaped to [out, in / group].
    EXPECT_TRUE(bitwise_equal(q.scales, params.scale.reshape(q.scales.shape())));
    EXPECT_TRUE(bitwise_equal(q.zero_points, params.zero_point.reshape(q.zero_points.shape())));
    EXPECT_EQ(q.group, spec.granularity == Granularity::PerChannel ? 256 : spec.group_size);
    EXPECT_EQ(q.spec, spec);
    expect_codes_on_grid(q);
  }
}

TEST(GroupQuantTest, CodesUseTheWholeGrid) {
  // Affine uint4 reaches 0 and 15, symmetric int4 -7 and 7, uint8 255 (stored as U8).
  const Tensor w = test_weights(16, 128, 5);
  auto extremes = [&](const char* text) {
    const GroupQuantizedWeight q = quantize_weight_rtn(w, parse_quant_spec(text));
    const Tensor codes = q.codes.to(DType::F32);
    float lo = INFINITY, hi = -INFINITY;
    for (const float c : codes.span<float>()) lo = std::min(lo, c), hi = std::max(hi, c);
    return std::pair{lo, hi};
  };
  EXPECT_EQ(extremes("uint4:affine:group(32)"), (std::pair{0.0f, 15.0f}));
  EXPECT_EQ(extremes("int4:sym:group(32)"), (std::pair{-7.0f, 7.0f}));
  EXPECT_EQ(extremes("uint8:affine:group(64)"), (std::pair{0.0f, 255.0f}));
  EXPECT_EQ(quantize_weight_rtn(w, parse_quant_spec("uint8:affine:group(64)")).codes.dtype(), DType::U8);
  EXPECT_EQ(quantize_weight_rtn(w, parse_quant_spec("uint4:affine:group(64)")).codes.dtype(), DType::I8);
}

TEST(GroupQuantTest, ClipMaxClampsEachGroupFirst) {
  const int64_t out = 24, in = 128, group = 32, groups = in / group;
  const Tensor w = test_weights(out, in, 23);
  const float* wd = w.data<float>();
  for (const char* text : {"int4:sym:group(32)", "uint4:affine:group(32)"}) {
    SCOPED_TRACE(text);
    const QuantSpec spec = parse_quant_spec(text);
    // Clip each group at a fraction of its own amax that varies with the group.
    std::vector<float> clip(out * groups);
    std::vector<float> clamped(out * in);
    for (int64_t r = 0; r < out; ++r)
      for (int64_t g = 0; g < groups; ++g) {
        float amax = 0;
        for (int64_t k = 0; k < group; ++k) amax = std::max(amax, std::fabs(wd[r * in + g * group + k]));
        const float c = amax * static_cast<float>(0.5 + 0.1 * double((r + g) % 6));
        clip[r * groups + g] = c;
        for (int64_t k = 0; k < group; ++k) {
          const int64_t i = r * in + g * group + k;
          clamped[i] = std::min(std::max(wd[i], -c), c);
        }
      }
    const Tensor clip_t = Tensor::from_floats(clip, {out, groups});
    const Tensor clamped_t = Tensor::from_floats(clamped, {out, in});
    const GroupQuantizedWeight q = quantize_weight_rtn(w, spec, &clip_t);
    // Same as octet's QDQ of the clamped weights, params from the clamped values.
    const QuantParams params = compute_qparams(clamped_t, spec);
    EXPECT_TRUE(bitwise_equal(dequantize_group_weight(q), dequantize(quantize(clamped_t, spec, params), spec, params)));
    EXPECT_TRUE(bitwise_equal(q.scales, params.scale));
    // Every dequantized value lies within the clip range (plus half a step of rounding).
    const Tensor dq = dequantize_group_weight(q);
    for (int64_t r = 0; r < out; ++r)
      for (int64_t c = 0; c < in; ++c) {
        const int64_t slot = r * groups + c / group;
        ASSERT_LE(std::fabs(dq.data<float>()[r * in + c]), clip[slot] + 0.5f * q.scales.data<float>()[slot])
            << r << "," << c;
      }
    // A clip at or above amax changes nothing; clip 0 gives zeros.
    const Tensor loose = Tensor::full({out, groups}, 1e6f);
    EXPECT_TRUE(bitwise_equal(dequantize_group_weight(quantize_weight_rtn(w, spec, &loose)),
                              dequantize_group_weight(quantize_weight_rtn(w, spec))));
    const Tensor zero = Tensor::zeros({out, groups}, DType::F32);
    const Tensor zeroed = dequantize_group_weight(quantize_weight_rtn(w, spec, &zero));
    for (const float v : zeroed.span<float>()) ASSERT_EQ(v, 0.0f);
  }
}

TEST(GroupQuantTest, RejectsBadInput) {
  const Tensor w = test_weights(8, 64, 3);
  const QuantSpec g32 = parse_quant_spec("int4:sym:group(32)");
  expect_quantize_error([&] { quantize_weight_rtn(w, parse_quant_spec("int4:sym:group(48)")); }, "group 48 of 64",
                        "does not divide");
  expect_quantize_error([&] { quantize_weight_rtn(w, parse_quant_spec("int8:sym:per_tensor")); }, "per tensor");
  expect_quantize_error([&] { quantize_weight_rtn(w, parse_quant_spec("int8:sym:per_channel(1)")); }, "channel 1");
  expect_quantize_error([&] { quantize_weight_rtn(w, parse_quant_spec("int4:sym:group(32,0)")); }, "group on axis 0");
  expect_quantize_error([&] { quantize_weight_rtn(w, parse_quant_spec("fp8_e4m3:sym:per_channel(0)")); }, "fp8");
  expect_quantize_error([&] { quantize_weight_rtn(w.reshape({8, 2, 32}), g32); }, "rank 3");
  expect_quantize_error([&] { quantize_weight_rtn(w.to(DType::F64), g32); }, "f64");
  std::vector<float> bad(8 * 64, 1.0f);
  bad[77] = std::numeric_limits<float>::quiet_NaN();
  expect_quantize_error([&] { quantize_weight_rtn(Tensor::from_floats(bad, {8, 64}), g32); }, "NaN", "NaN");
  const Tensor wrong_clip = Tensor::full({8, 1}, 1.0f);
  expect_quantize_error([&] { quantize_weight_rtn(w, g32, &wrong_clip); }, "clip shape");
  const Tensor negative_clip = Tensor::full({8, 2}, -1.0f);
  expect_quantize_error([&] { quantize_weight_rtn(w, g32, &negative_clip); }, "negative clip");
  GroupQuantizedWeight q = quantize_weight_rtn(w, g32);
  q.group = 48;
  expect_quantize_error([&] { dequantize_group_weight(q); }, "inconsistent group");
}

}  // namespace
}  // namespace octet
