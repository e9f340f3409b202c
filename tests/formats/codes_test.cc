// Exhaustive checks over every code of each narrow float format: decoding
// matches the independent formula, and code -> float -> code is the identity
// (with each format's stated NaN rule).
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>

#include "formats/format_reference.h"
#include "formats/formats_under_test.h"

namespace octet::testing {
namespace {

// Known answers from the IEEE 754 / OCP FP8 spec tables; they pin the
// reference formula itself before it is used to judge the library.
TEST(FormatReference, KnownValues) {
  EXPECT_EQ(reference_decode(kF16Spec, 0x3C00), 1.0);
  EXPECT_EQ(reference_decode(kF16Spec, 0xC000), -2.0);
  EXPECT_EQ(reference_decode(kF16Spec, 0x7BFF), 65504.0);
  EXPECT_EQ(reference_decode(kF16Spec, 0x0400), std::ldexp(1.0, -14));
  EXPECT_EQ(reference_decode(kF16Spec, 0x0001), std::ldexp(1.0, -24));
  EXPECT_EQ(reference_decode(kF16Spec, 0x3555), 0.333251953125);
  EXPECT_EQ(reference_decode(kBF16Spec, 0x3F80), 1.0);
  EXPECT_EQ(reference_decode(kBF16Spec, 0x7F7F), 3.3895313892515355e38);
  EXPECT_EQ(reference_decode(kBF16Spec, 0x0001), std::ldexp(1.0, -133));
  EXPECT_EQ(reference_decode(kE4M3Spec, 0x7E), 448.0);
  EXPECT_EQ(reference_decode(kE4M3Spec, 0x38), 1.0);
  EXPECT_EQ(reference_decode(kE4M3Spec, 0x08), std::ldexp(1.0, -6));
  EXPECT_EQ(reference_decode(kE4M3Spec, 0x01), std::ldexp(1.0, -9));
  EXPECT_EQ(reference_decode(kE4M3Spec, 0xFE), -448.0);
  EXPECT_EQ(reference_decode(kE5M2Spec, 0x7B), 57344.0);
  EXPECT_EQ(reference_decode(kE5M2Spec, 0x3C), 1.0);
  EXPECT_EQ(reference_decode(kE5M2Spec, 0x04), std::ldexp(1.0, -14));
  EXPECT_EQ(reference_decode(kE5M2Spec, 0x01), std::ldexp(1.0, -16));
  EXPECT_EQ(reference_decode(kE5M2Spec, 0x7C), HUGE_VAL);
  EXPECT_EQ(kF16Spec.max_finite_code(), 0x7BFFu);
  EXPECT_EQ(kBF16Spec.max_finite_code(), 0x7F7Fu);
  EXPECT_EQ(kE4M3Spec.max_finite_code(), 0x7Eu);
  EXPECT_EQ(kE5M2Spec.max_finite_code(), 0x7Bu);
}

TEST(FormatReference, SpecialCodeCounts) {
  auto count = [](const FormatSpec& f, bool nan) {
    int n = 0;
    for (uint32_t c = 0; c < f.code_count(); ++c) n += nan ? f.is_nan(c) : f.is_inf(c);
    return n;
  };
  EXPECT_EQ(count(kF16Spec, true), 2 * 1023);
  EXPECT_EQ(count(kF16Spec, false), 2);
  EXPECT_EQ(count(kBF16Spec, true), 2 * 127);
  EXPECT_EQ(count(kE4M3Spec, true), 2);  // 0x7F and 0xFF only
  EXPECT_EQ(count(kE4M3Spec, false), 0);
  EXPECT_EQ(count(kE5M2Spec, true), 6);
  EXPECT_EQ(count(kE5M2Spec, false), 2);
}

class EveryCode : public ::testing::TestWithParam<FormatUnderTest> {};

TEST_P(EveryCode, DecodeMatchesFormula) {
  const FormatUnderTest& f = GetParam();
  int failures = 0;
  for (uint32_t code = 0; code < f.spec.code_count() && failures < 10; ++code) {
    const float got = f.decode(code);
    const bool negative = (code & f.spec.sign_bit()) != 0;
    bool ok = std::signbit(got) == negative;
    if (f.spec.is_nan(code)) {
      ok = ok && std::isnan(got);
    } else {
      ok = ok && static_cast<double>(got) == reference_decode(f.spec, code);
    }
    if (!ok) {
      ++failures;
      ADD_FAILURE() << f.spec.name << " code 0x" << std::hex << code << " decoded to " << got << " (bits 0x"
                    << std::bit_cast<uint32_t>(got) << "), expected " << reference_decode(f.spec, code);
    }
  }
}

TEST_P(EveryCode, RoundTripsThroughFloat) {
  const FormatUnderTest& f = GetParam();
  int failures = 0;
  for (uint32_t code = 0; code < f.spec.code_count() && failures < 10; ++code) {
    const uint32_t sign = code & f.spec.sign_bit();
    uint32_t expected = code;
    if (f.spec.is_nan(code)) {
      expected = f.quiet_bit ? (code | f.quiet_bit) : (sign | f.canonical_nan);
    } else if (f.spec.is_inf(code) && f.spec.saturate) {
      expected = sign | f.spec.max_finite_code();
    }
    const uint32_t got = f.encode(f.decode(code));
    if (got != expected) {
      ++failures;
      ADD_FAILURE() << f.spec.name << " code 0x" << std::hex << code << " -> " << f.decode(code) << " -> 0x" << got
                    << ", expected 0x" << expected;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Formats, EveryCode,
                         ::testing::Values(kF16Format, kBF16Format, kE4M3Format, kE5M2Format, kE5M2SaturateFormat),
                         [](const auto& info) { return format_param_name(info.param); });

// f16 NaNs follow what F16C hardware does: decoding sets the quiet bit and
// keeps the payload (mantissa << 13); encoding keeps the top 10 payload bits.
TEST(F16Nan, PayloadKeptAndQuieted) {
  for (uint32_t code = 0; code < 0x10000; ++code) {
    if (!kF16Spec.is_nan(code)) continue;
    const uint32_t sign = (code & 0x8000) << 16;
    const uint32_t expected = sign | 0x7FC00000u | ((code & 0x3FF) << 13);
    ASSERT_EQ(std::bit_cast<uint32_t>(f16_to_float(static_cast<uint16_t>(code))), expected) << std::hex << code;
  }
  EXPECT_EQ(float_to_f16(std::bit_cast<float>(0x7FC00000u)), 0x7E00);
  EXPECT_EQ(float_to_f16(std::bit_cast<float>(0x7F800001u)), 0x7E00);  // payload below f16 precision
  EXPECT_EQ(float_to_f16(std::bit_cast<float>(0xFFC02000u)), 0xFE01);
  EXPECT_EQ(float_to_f16(std::bit_cast<float>(0x7FA00000u)), 0x7F00);  // signalling -> quiet, payload kept
  EXPECT_EQ(float_to_f16(std::bit_cast<float>(0x7FFFFFFFu)), 0x7FFF);
}

// bf16 -> f32 is an exact widening (bits << 16), NaN payload and all.
TEST(BF16Nan, DecodeIsWideningEncodeQuiets) {
  for (uint32_t code = 0; code < 0x10000; ++code) {
    ASSERT_EQ(std::bit_cast<uint32_t>(bf16_to_float(static_cast<uint16_t>(code))), code << 16) << std::hex << code;
  }
  EXPECT_EQ(float_to_bf16(std::bit_cast<float>(0x7F800001u)), 0x7FC0);
  EXPECT_EQ(float_to_bf16(std::bit_cast<float>(0x7FA00000u)), 0x7FE0);
  EXPECT_EQ(float_to_bf16(std::bit_cast<float>(0xFFFFFFFFu)), 0xFFFF);  // payload truncated, never rounded into Inf
  EXPECT_EQ(float_to_bf16(std::bit_cast<float>(0x7FC0FFFFu)), 0x7FC0);
}

TEST(Fp8Nan, CanonicalCodes) {
  for (uint32_t nan_bits : {0x7FC00000u, 0x7F800001u, 0x7FFFFFFFu}) {
    const float pos = std::bit_cast<float>(nan_bits);
    const float neg = std::bit_cast<float>(nan_bits | 0x80000000u);
    EXPECT_EQ(float_to_fp8_e4m3(pos), 0x7F);
    EXPECT_EQ(float_to_fp8_e4m3(neg), 0xFF);
    EXPECT_EQ(float_to_fp8_e5m2(pos), 0x7E);
    EXPECT_EQ(float_to_fp8_e5m2(neg), 0xFE);
    EXPECT_EQ(float_to_fp8_e5m2_saturate(pos), 0x7E);
    EXPECT_EQ(float_to_fp8_e5m2_saturate(neg), 0xFE);
  }
}

}  // namespace
}  // namespace octet::testing
