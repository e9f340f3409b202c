// Properties of quantize / dequantize / fake_quantize for every dtype x scheme x
// granularity, checked against a naive per-element reference written here.
//
// Error bound for integer grids (u = 2^-24, Qr = qmax - qmin, s = scale):
//   v = fl(x * fl(1/s)) = (x/s)(1 + d1)(1 + d2), so |v - x/s| <= 2.0000001 u |x/s| <= 2.0000001 u Qr
//   (values inside the calibrated range have |x/s| <= Qr up to rounding).
//   round(v) is within 1/2 of v. Clamping to [qmin - zp, qmax - zp] can only move
//   it towards x/s, because x/s lies within 1/2 (+ Qr u, from rounding lo/s when the
//   zero point was chosen) of that interval.
//   y = fl(level * s) = level * s (1 + d3), |level| <= Qr, so |y - level*s| <= Qr s u.
//   Hence |x - y| <= s/2 + s (2.0000001 + 1 + 1) Qr u <= s/2 + 4 Qr s u.
// fp8 (m mantissa bits, subnormal spacing 2^e_sub): fp8 rounding of v is within
//   |v| 2^-(m+1) (normal) or 2^(e_sub-1) (subnormal) of v, saturation at the max
//   only removes the 2u excess of |v|; with the float roundings of x*(1/s) and *s:
//   |x - y| <= |x| (2^-(m+1) + 4u) + s 2^(e_sub-1).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "octet/number_formats.h"
#include "octet/quant.h"
#include "octet/thread_pool.h"
#include "quant/test_data.h"

namespace octet {
namespace {

using quant_testing::Rng;
constexpr double kUnit = 0x1.0p-24;

// Index of the scale slot of flat element e, from the multi-index (independent
// of the library's run layout).
int64_t naive_slot(const QuantSpec& spec, const Shape& shape, int64_t e) {
  const int rank = static_cast<int>(shape.size());
  const Shape ps = quant_param_shape(spec, shape);
  std::vector<int64_t> idx(rank);
  for (int d = rank - 1; d >= 0; --d) {
    idx[d] = e % shape[d];
    e /= shape[d];
  }
  if (spec.granularity == Granularity::PerTensor) return 0;
  const int axis = spec.axis < 0 ? spec.axis + rank : spec.axis;
  std::vector<int64_t> pidx(rank, 0);
  for (int d = 0; d < rank; ++d) {
    switch (spec.granularity) {
      case Granularity::PerChannel: pidx[d] = d == axis ? idx[d] : 0; break;
      case Granularity::PerGroup: pidx[d] = d == axis ? idx[d] / spec.group_size : idx[d]; break;
      case Granularity::PerToken: pidx[d] = d == rank - 1 ? 0 : idx[d]; break;
      default: break;
    }
  }
  int64_t slot = 0;
  for (int d = 0; d < rank; ++d) slot = slot * ps[d] + pidx[d];
  return slot;
}

// Integer code of element e of a quantized tensor.
int code_at(const Tensor& q, int64_t e) {
  const auto* b = static_cast<const uint8_t*>(q.raw_data());
  switch (q.dtype()) {
    case DType::I8: return static_cast<int8_t>(b[e]);
    case DType::U8: return b[e];
    case DType::I4: return (e & 1) ? unpack_int4_hi(b[e / 2]) : unpack_int4_lo(b[e / 2]);
    case DType::U4: return (e & 1) ? unpack_uint4_hi(b[e / 2]) : unpack_uint4_lo(b[e / 2]);
    default: return 0;
  }
}

float fp8_qdq(float v, DType d) {
  return d == DType::F8_E4M3 ? fp8_e4m3_to_float(float_to_fp8_e4m3(v))
                             : fp8_e5m2_to_float(float_to_fp8_e5m2_saturate(v));
}

// Test data: Gaussian values whose magnitude varies with the position (so
// channels, groups and rows get different ranges), some exact zeros, and an
// all-positive first row (affine zero points away from the middle).
Tensor make_input(const Shape& shape, uint64_t seed) {
  Rng rng(seed);
  const int64_t n = shape_numel(shape);
  std::vector<float> v(static_cast<size_t>(n));
  const int64_t last = shape.empty() ? 1 : shape.back();
  for (int64_t i = 0; i < n; ++i) {
    double x = rng.gaussian() * (1.0 + static_cast<double>((i * 7) % 5)) * 0.3;
    if (i < last) x = std::fabs(x) + 0.1;
    if (i % 11 == 3) x = 0.0;
    v[i] = static_cast<float>(x);
  }
  return Tensor::from_floats(v, shape);
}

struct Case {
  std::string spec;
  Shape shape;
};

std::vector<Case> all_cases() {
  std::vector<Case> cases;
  const std::vector<std::string> even_grans = {"per_tensor", "per_channel(0)", "per_channel(1)", "per_channel(-1)",
                                               "group(4)", "group(2,1)", "group(8,-1)", "per_token"};
  const std::vector<std::string> odd_grans = {"per_tensor", "per_channel(0)", "per_channel(-1)", "group(7)",
                                              "group(5,1)", "per_token"};
  for (const char* dtype : {"int8", "uint8", "int4", "uint4", "fp8_e4m3", "fp8_e5m2"}) {
    const bool fp8 = std::string(dtype).rfind("fp8", 0) == 0;
    for (const char* scheme : {"sym", "affine"}) {
      if (fp8 && std::string(scheme) == "affine") continue;
      for (const auto& g : even_grans) cases.push_back({fmt::format("{}:{}:{}", dtype, scheme, g), {4, 6, 8}});
      for (const auto& g : odd_grans) cases.push_back({fmt::format("{}:{}:{}", dtype, scheme, g), {3, 5, 7}});
    }
  }
  return cases;
}

class QdqProperty : public ::testing::TestWithParam<Case> {};

TEST_P(QdqProperty, MatchesNaiveReferenceWithinBound) {
  const Case& c = GetParam();
  const QuantSpec spec = parse_quant_spec(c.spec);
  const QuantLimits lim = quant_limits(spec);
  const Tensor x = make_input(c.shape, std::hash<std::string>{}(c.spec) & 0xFFFF);
  const float* xs = x.data<float>();
  const int64_t n = x.numel();

  // Ranges equal the naive per-slot min / max.
  const QuantRanges ranges = compute_ranges(x, spec);
  std::vector<float> lo(ranges.min.numel(), INFINITY), hi(ranges.min.numel(), -INFINITY);
  for (int64_t e = 0; e < n; ++e) {
    const int64_t s = naive_slot(spec, c.shape, e);
    lo[s] = std::min(lo[s], xs[e]);
    hi[s] = std::max(hi[s], xs[e]);
  }
  for (int64_t s = 0; s < ranges.min.numel(); ++s) {
    ASSERT_EQ(ranges.min.data<float>()[s], lo[s]) << "slot " << s;
    ASSERT_EQ(ranges.max.data<float>()[s], hi[s]) << "slot " << s;
  }

  const QuantParams params = qparams_from_ranges(ranges, spec);
  const Tensor q = quantize(x, spec, params);
  ASSERT_EQ(q.dtype(), spec.dtype);
  ASSERT_EQ(q.shape(), c.shape);
  const Tensor d = dequantize(q, spec, params);
  const Tensor f = fake_quantize(x, spec, params);
  ASSERT_EQ(std::memcmp(d.raw_data(), f.raw_data(), d.nbytes()), 0) << "two-step QDQ differs from fake_quantize";

  const float* scale = params.scale.data<float>();
  const int32_t* zp = params.zero_point.data<int32_t>();
  const double qr = lim.qmax - lim.qmin;
  for (int64_t e = 0; e < n; ++e) {
    const int64_t s = naive_slot(spec, c.shape, e);
    const float inv = 1.0f / scale[s];
    const float got = f.data<float>()[e];
    float expected;
    double bound;
    if (lim.is_float) {
      expected = fp8_qdq(xs[e] * inv, spec.dtype) * scale[s];
      const int mant = spec.dtype == DType::F8_E4M3 ? 3 : 2;
      const int sub_exp = spec.dtype == DType::F8_E4M3 ? -9 : -16;
      bound = std::fabs(xs[e]) * (std::ldexp(1.0, -(mant + 1)) + 4 * kUnit) + scale[s] * std::ldexp(1.0, sub_exp - 1);
    } else {
      const float level = std::nearbyint(xs[e] * inv);
      const int code = std::clamp(static_cast<int>(level) + zp[s], lim.qmin, lim.qmax);
      ASSERT_EQ(code_at(q, e), code) << c.spec << " element " << e;
      expected = static_cast<float>(code - zp[s]) * scale[s];
      bound = scale[s] / 2.0 + 4.0 * qr * scale[s] * kUnit;
    }
    ASSERT_EQ(got, expected) << c.spec << " element " << e << " x=" << xs[e];
    ASSERT_LE(std::fabs(double(xs[e]) - double(got)), bound) << c.spec << " element " << e << " x=" << xs[e];
    if (xs[e] == 0.0f) {
      ASSERT_EQ(got, 0.0f) << "0.0 must be exact";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllSpecs, QdqProperty, ::testing::ValuesIn(all_cases()),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           std::string name = fmt::format("{}_{}", info.param.spec, info.param.shape.back());
                           for (char& ch : name)
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return name;
                         });

TEST(Qdq, OutOfRangeValuesClamp) {
  const std::vector<float> wild = {10.0f, -10.0f, 1e30f, -1e30f, INFINITY, -INFINITY, 0.999f, -0.999f};
  for (const char* s : {"int8:sym", "int8:affine", "uint8:sym", "uint8:affine", "int4:sym", "int4:affine",
                        "uint4:sym", "uint4:affine", "fp8_e4m3", "fp8_e5m2"}) {
    const QuantSpec spec = parse_quant_spec(s);
    const QuantLimits lim = quant_limits(spec);
    const ScaleZeroPoint sz = qparams_for_range(-1.0f, 1.0f, spec);
    const QuantParams p = per_tensor_params(sz);
    const Tensor x = Tensor::from_floats(wild, {static_cast<int64_t>(wild.size())});
    const Tensor y = dequantize(quantize(x, spec, p), spec, p);
    const Tensor f = fake_quantize(x, spec, p);
    const float top = lim.is_float ? lim.fp_max * sz.scale : static_cast<float>(lim.qmax - sz.zero_point) * sz.scale;
    const float bottom = lim.is_float ? -top : static_cast<float>(lim.qmin - sz.zero_point) * sz.scale;
    for (size_t i = 0; i < 6; ++i) {
      const float expected = wild[i] > 0 ? top : bottom;
      EXPECT_EQ(y.data<float>()[i], expected) << s << " x=" << wild[i];
      EXPECT_EQ(f.data<float>()[i], expected) << s << " x=" << wild[i];
    }
    // Just inside the range: within the error bound of the header comment.
    for (size_t i = 6; i < 8; ++i) {
      const double bound = lim.is_float ? std::fabs(wild[i]) * (std::ldexp(1.0, spec.dtype == DType::F8_E4M3 ? -4 : -3) +
                                                                4 * kUnit)
                                        : sz.scale / 2.0 + 4.0 * (lim.qmax - lim.qmin) * sz.scale * kUnit;
      EXPECT_LE(std::fabs(double(y.data<float>()[i]) - wild[i]), bound) << s;
    }
  }
}

TEST(Qdq, NanQuantizesToZeroPoint) {
  for (const char* s : {"int8:sym", "uint8:affine", "int4:affine", "uint4:sym"}) {
    const QuantSpec spec = parse_quant_spec(s);
    const ScaleZeroPoint sz = qparams_for_range(-0.3f, 2.0f, spec);
    const Tensor x = Tensor::from_floats(std::vector<float>{NAN, -NAN}, {2});
    const Tensor q = quantize(x, spec, per_tensor_params(sz));
    EXPECT_EQ(code_at(q, 0), sz.zero_point) << s;
    EXPECT_EQ(code_at(q, 1), sz.zero_point) << s;
    EXPECT_EQ(fake_quantize(x, spec, per_tensor_params(sz)).data<float>()[0], 0.0f) << s;
  }
  const QuantSpec fp8 = parse_quant_spec("fp8_e4m3");
  const Tensor nan = Tensor::from_floats(std::vector<float>{NAN}, {1});
  EXPECT_TRUE(std::isnan(fake_quantize(nan, fp8, per_tensor_params({1.0f, 0})).data<float>()[0]));
}

TEST(Qdq, RoundingModesOnTies) {
  // scale 0.5: 1/scale = 2 exactly, so x * 2 lands exactly on the .5 ties.
  const std::vector<float> x = {1.25f, -1.25f, 0.75f, 0.25f, -0.25f, 2.25f};
  const std::vector<float> even = {1.0f, -1.0f, 1.0f, 0.0f, 0.0f, 2.0f};
  const std::vector<float> away = {1.5f, -1.5f, 1.0f, 0.5f, -0.5f, 2.5f};
  const Tensor t = Tensor::from_floats(x, {6});
  const QuantParams p = per_tensor_params({0.5f, 0});
  const Tensor rne = fake_quantize(t, parse_quant_spec("int8:sym:per_tensor:rne"), p);
  const Tensor rna = fake_quantize(t, parse_quant_spec("int8:sym:per_tensor:rna"), p);
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_EQ(rne.data<float>()[i], even[i]) << x[i];
    EXPECT_EQ(rna.data<float>()[i], away[i]) << x[i];
  }
}

TEST(Qdq, Int4PacksTwoPerByteLowNibbleFirst) {
  const QuantSpec spec = parse_quant_spec("int4:sym:per_tensor");
  const Tensor x = Tensor::from_floats(std::vector<float>{1, -2, 3, -7, 7}, {5});
  const Tensor q = quantize(x, spec, per_tensor_params({1.0f, 0}));
  ASSERT_EQ(q.nbytes(), 3u);
  const auto* b = static_cast<const uint8_t*>(q.raw_data());
  EXPECT_EQ(b[0], pack_int4(1, -2));
  EXPECT_EQ(b[1], pack_int4(3, -7));
  EXPECT_EQ(b[2] & 0x0F, 7);
}

TEST(Qdq, NonContiguousInputAndEmptyTensors) {
  const QuantSpec spec = parse_quant_spec("int8:affine:per_channel(0)");
  const Tensor x = make_input({6, 4}, 5);
  const Tensor xt = x.transpose(0, 1);  // [4, 6], not contiguous
  const QuantParams p = compute_qparams(xt, spec);
  const Tensor a = fake_quantize(xt, spec, p);
  const Tensor b = fake_quantize(xt.contiguous(), spec, p);
  EXPECT_EQ(std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()), 0);

  const Tensor empty = Tensor::empty({0, 8}, DType::F32);
  const QuantSpec pt = parse_quant_spec("int8:sym:per_tensor");
  EXPECT_EQ(quantize(empty, pt, per_tensor_params({1.0f, 0})).numel(), 0);
  EXPECT_THROW(compute_ranges(empty, pt), Error);
  EXPECT_THROW(fake_quantize(empty, pt), Error);
}

TEST(Qdq, BadParamsAndInputs) {
  const QuantSpec spec = parse_quant_spec("int8:affine:per_channel(0)");
  const Tensor x = make_input({4, 8}, 9);
  const QuantParams good = compute_qparams(x, spec);
  auto expect_quant_error = [](auto&& fn, const char* what) {
    try {
      fn();
      ADD_FAILURE() << what << ": no error";
    } catch (const Error& e) {
      EXPECT_EQ(e.tag(), "quant") << what;
    }
  };
  expect_quant_error([&] { quantize(x, spec, per_tensor_params({1.0f, 0})); }, "per-tensor params");
  QuantParams bad_scale{good.scale.clone(), good.zero_point.clone()};
  bad_scale.scale.data<float>()[1] = 0.0f;
  expect_quant_error([&] { quantize(x, spec, bad_scale); }, "zero scale");
  bad_scale.scale.data<float>()[1] = NAN;
  expect_quant_error([&] { fake_quantize(x, spec, bad_scale); }, "NaN scale");
  QuantParams bad_zp{good.scale.clone(), good.zero_point.clone()};
  bad_zp.zero_point.data<int32_t>()[2] = 300;
  expect_quant_error([&] { quantize(x, spec, bad_zp); }, "zero point out of range");
  expect_quant_error([&] { quantize(x, parse_quant_spec("int8:sym:per_channel(0)"), bad_zp); }, "sym zp");
  expect_quant_error([&] { quantize(x, parse_quant_spec("int8:sym:per_channel(2)"), good); }, "axis out of range");
  expect_quant_error([&] { quantize(x, parse_quant_spec("int4:sym:group(3)"), good); }, "group does not divide");
  expect_quant_error([&] { dequantize(x, spec, good); }, "dequantize f32");
  expect_quant_error([&] { quantize(Tensor::zeros({4, 8}, DType::I32), spec, good); }, "quantize i32");
  Tensor with_nan = x.clone();
  with_nan.data<float>()[5] = NAN;
  expect_quant_error([&] { compute_ranges(with_nan, spec); }, "NaN in data");
  with_nan.data<float>()[5] = -INFINITY;
  expect_quant_error([&] { compute_qparams(with_nan, spec); }, "Inf in data");
}

TEST(Qdq, SameResultForAnyThreadCount) {
  const QuantSpec spec = parse_quant_spec("int4:affine:group(32)");
  const Tensor x = make_input({64, 1024}, 3);  // several parallel blocks
  const int saved = num_threads();
  set_num_threads(1);
  const QuantParams p1 = compute_qparams(x, spec);
  const Tensor q1 = quantize(x, spec, p1);
  set_num_threads(4);
  const QuantParams p4 = compute_qparams(x, spec);
  const Tensor q4 = quantize(x, spec, p4);
  set_num_threads(saved);
  ASSERT_EQ(std::memcmp(p1.scale.raw_data(), p4.scale.raw_data(), p1.scale.nbytes()), 0);
  ASSERT_EQ(std::memcmp(q1.raw_data(), q4.raw_data(), q1.nbytes()), 0);
}

}  // namespace
}  // namespace octet
