// QuantSpec parsing / printing / validation, grids, and range -> scale / zero point.
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <string>
#include <vector>

#include "octet/quant.h"

namespace octet::spec_test {
namespace {

// Expects `fn` to throw octet::Error tagged "quant".
template <typename Fn>
void expect_quant_error(Fn&& fn, const std::string& what) {
  try {
    fn();
    ADD_FAILURE() << what << ": no error thrown";
  } catch (const Error& e) {
    EXPECT_EQ(e.tag(), "quant") << what << ": " << e.what();
  }
}

TEST(QuantSpec, ParsesAndPrintsCanonically) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"int8", "int8:sym:per_tensor"},
      {"int8:sym:per_channel(0)", "int8:sym:per_channel(0)"},
      {"int4:affine:group(128)", "int4:affine:group(128)"},
      {"int4:affine:group(64,0)", "int4:affine:group(64,0)"},
      {"int4:affine:group(64, -1)", "int4:affine:group(64)"},
      {"uint8:asym:per_token", "uint8:affine:per_token"},
      {"uint4:symmetric:per_channel(-1):rna", "uint4:sym:per_channel(-1):rna"},
      {"fp8_e4m3:sym:per_tensor", "fp8_e4m3:sym:per_tensor"},
      {"e5m2:sym:per_channel(1):rne", "fp8_e5m2:sym:per_channel(1)"},
      {"I8:sym:tensor", "int8:sym:per_tensor"},
  };
  for (const auto& [text, canonical] : cases) {
    const QuantSpec s = parse_quant_spec(text);
    EXPECT_EQ(to_string(s), canonical) << text;
    EXPECT_EQ(parse_quant_spec(to_string(s)), s) << text;
  }
  const QuantSpec g = parse_quant_spec("int4:affine:group(128)");
  EXPECT_EQ(g.dtype, DType::I4);
  EXPECT_EQ(g.scheme, QuantScheme::Affine);
  EXPECT_EQ(g.granularity, Granularity::PerGroup);
  EXPECT_EQ(g.group_size, 128);
  EXPECT_EQ(g.axis, -1);
  EXPECT_EQ(g.rounding, Rounding::NearestEven);
  const QuantSpec c = parse_quant_spec("int8:sym:per_channel(0)");
  EXPECT_EQ(c.granularity, Granularity::PerChannel);
  EXPECT_EQ(c.axis, 0);
}

TEST(QuantSpec, RejectsInvalidText) {
  for (const char* text :
       {"", "int3", "f32:sym", "bf16", "int8:foo", "int8:sym:blah", "int8:sym:group(0)", "int8:sym:group(-4)",
        "int8:sym:group(x)", "int8:sym:group(8,1,2)", "int8:sym:per_channel", "int8:sym:per_channel(0",
        "int8:sym:per_channel(a)", "int8:sym:per_tensor:rnz", "int8:sym:per_tensor:rne:extra",
        "fp8_e4m3:affine", "fp8_e5m2:sym:per_tensor:rna"}) {
    expect_quant_error([&] { parse_quant_spec(text); }, text);
  }
}

TEST(QuantSpec, LimitsFollowTheSchemes) {
  auto lim = [](const char* s) { return quant_limits(parse_quant_spec(s)); };
  EXPECT_EQ(lim("int8:sym").qmin, -127);
  EXPECT_EQ(lim("int8:sym").qmax, 127);
  EXPECT_EQ(lim("int8:affine").qmin, -128);
  EXPECT_EQ(lim("uint8:affine").qmin, 0);
  EXPECT_EQ(lim("uint8:affine").qmax, 255);
  EXPECT_EQ(lim("uint8:sym").qmin, 1);
  EXPECT_EQ(lim("uint8:sym").symmetric_zero_point, 128);
  EXPECT_EQ(lim("int4:sym").qmin, -7);
  EXPECT_EQ(lim("int4:affine").qmin, -8);
  EXPECT_EQ(lim("int4:affine").qmax, 7);
  EXPECT_EQ(lim("uint4:affine").qmax, 15);
  EXPECT_EQ(lim("uint4:sym").symmetric_zero_point, 8);
  EXPECT_TRUE(lim("fp8_e4m3").is_float);
  EXPECT_EQ(lim("fp8_e4m3").fp_max, 448.0f);
  EXPECT_EQ(lim("fp8_e5m2").fp_max, 57344.0f);
}

TEST(QuantSpec, ParamShapes) {
  const Shape shape{4, 6, 8};
  auto ps = [&](const char* s) { return quant_param_shape(parse_quant_spec(s), shape); };
  EXPECT_EQ(ps("int8:sym:per_tensor"), Shape{});
  EXPECT_EQ(ps("int8:sym:per_channel(0)"), (Shape{4, 1, 1}));
  EXPECT_EQ(ps("int8:sym:per_channel(1)"), (Shape{1, 6, 1}));
  EXPECT_EQ(ps("int8:sym:per_channel(-1)"), (Shape{1, 1, 8}));
  EXPECT_EQ(ps("int4:sym:group(4)"), (Shape{4, 6, 2}));
  EXPECT_EQ(ps("int4:sym:group(2,1)"), (Shape{4, 3, 8}));
  EXPECT_EQ(ps("int8:affine:per_token"), (Shape{4, 6, 1}));
}

TEST(QuantSpec, ValidationAgainstShapes) {
  const Shape shape{4, 6, 8};
  expect_quant_error([&] { validate_quant_spec(parse_quant_spec("int4:sym:group(5)"), shape); }, "group 5 of 8");
  expect_quant_error([&] { validate_quant_spec(parse_quant_spec("int4:sym:group(4,1)"), shape); }, "group 4 of 6");
  expect_quant_error([&] { validate_quant_spec(parse_quant_spec("int8:sym:per_channel(3)"), shape); }, "axis 3");
  expect_quant_error([&] { validate_quant_spec(parse_quant_spec("int8:sym:per_channel(-4)"), shape); }, "axis -4");
  expect_quant_error([&] { validate_quant_spec(parse_quant_spec("int8:sym:per_channel(0)"), Shape{}); }, "scalar");
  expect_quant_error([&] { validate_quant_spec(parse_quant_spec("int8:sym:per_token"), Shape{}); }, "scalar token");
  QuantSpec bad_dtype;
  bad_dtype.dtype = DType::F16;
  expect_quant_error([&] { validate_quant_spec(bad_dtype, shape); }, "f16 target");
  EXPECT_NO_THROW(validate_quant_spec(parse_quant_spec("int4:sym:group(8)"), shape));
  EXPECT_NO_THROW(validate_quant_spec(parse_quant_spec("int8:sym:per_tensor"), Shape{}));
}

// Known answers worked out by hand from the rules in quant.h.
TEST(QuantParams, KnownAnswers) {
  auto sz = [](float lo, float hi, const char* s) { return qparams_for_range(lo, hi, parse_quant_spec(s)); };
  EXPECT_EQ(sz(-2, 1.27f, "int8:sym").scale, static_cast<float>(2.0 / 127.0));
  EXPECT_EQ(sz(-2, 1.27f, "int8:sym").zero_point, 0);
  // [-1, 3]: scale 4/255; zp = -128 - round(-63.75) = -64.
  EXPECT_EQ(sz(-1, 3, "int8:affine").scale, static_cast<float>(4.0 / 255.0));
  EXPECT_EQ(sz(-1, 3, "int8:affine").zero_point, -64);
  // All-positive range is extended to [0, 2]: zp 0; all-negative to [-2, 0]: zp 255.
  EXPECT_EQ(sz(0.5f, 2, "uint8:affine").zero_point, 0);
  EXPECT_EQ(sz(0.5f, 2, "uint8:affine").scale, static_cast<float>(2.0 / 255.0));
  EXPECT_EQ(sz(-2, -0.5f, "uint8:affine").zero_point, 255);
  // uint4 [-1, 2]: scale 0.2, zp = 0 - round(-5) = 5.
  EXPECT_EQ(sz(-1, 2, "uint4:affine").scale, 0.2f);
  EXPECT_EQ(sz(-1, 2, "uint4:affine").zero_point, 5);
  EXPECT_EQ(sz(-0.7f, 0.35f, "int4:sym").scale, static_cast<float>(double(0.7f) / 7.0));
  EXPECT_EQ(sz(-1, 1, "uint8:sym").zero_point, 128);
  EXPECT_EQ(sz(-1, 1, "uint8:sym").scale, static_cast<float>(1.0 / 127.0));
  EXPECT_EQ(sz(-896, 10, "fp8_e4m3").scale, 2.0f);
  EXPECT_EQ(sz(0, 57344, "fp8_e5m2").scale, 1.0f);
  // Degenerate ranges.
  EXPECT_EQ(sz(0, 0, "int8:sym").scale, 1.0f);
  EXPECT_EQ(sz(0, 0, "uint8:affine").scale, 1.0f);
  EXPECT_EQ(sz(0, 0, "uint8:affine").zero_point, 128);
  EXPECT_EQ(sz(0, 1e-44f, "int8:sym").scale, FLT_MIN);
  expect_quant_error([&] { sz(NAN, 1, "int8:sym"); }, "NaN bound");
  expect_quant_error([&] { sz(-INFINITY, 1, "int8:sym"); }, "Inf bound");
  expect_quant_error([&] { sz(2, 1, "int8:sym"); }, "lo > hi");
}

TEST(QuantParams, AffineZeroIsOnTheGrid) {
  // For many ranges, the zero point is an integer code that dequantizes to 0.0
  // exactly, and quantize(0.0) gives it back.
  for (const char* s : {"int8:affine", "uint8:affine", "int4:affine", "uint4:affine"}) {
    const QuantSpec spec = parse_quant_spec(s);
    const QuantLimits lim = quant_limits(spec);
    for (float lo : {-3.7f, -1.0f, -0.001f, 0.0f, 0.25f}) {
      for (float hi : {0.0f, 0.01f, 1.0f, 5.3f}) {
        if (lo > hi) continue;
        const ScaleZeroPoint p = qparams_for_range(lo, hi, spec);
        EXPECT_GE(p.zero_point, lim.qmin);
        EXPECT_LE(p.zero_point, lim.qmax);
        const Tensor zero = Tensor::zeros({3}, DType::F32);
        const Tensor y = fake_quantize(zero, spec, per_tensor_params(p));
        for (int i = 0; i < 3; ++i) EXPECT_EQ(y.data<float>()[i], 0.0f) << s << " [" << lo << ", " << hi << "]";
      }
    }
  }
}

}  // namespace
}  // namespace octet::spec_test
