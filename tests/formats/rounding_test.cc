// float -> narrow rounding checked against the brute-force reference in
// format_reference.h: hand-picked edge cases with known answers, then a few
// million random floats (fixed seed) aimed at every region of each format.
#include <gtest/gtest.h>

#include <bit>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "formats/format_reference.h"
#include "formats/formats_under_test.h"
#include "formats/random_floats.h"

namespace octet::testing {
namespace {

struct EdgeCase {
  float input;
  uint32_t expected;
  const char* what;
};

float p2(int e) { return std::ldexp(1.0f, e); }
float below(float x) { return std::nextafter(x, 0.0f); }
float above(float x) { return std::nextafter(x, INFINITY); }
float from_bits(uint32_t u) { return std::bit_cast<float>(u); }

void check_edge_cases(const FormatUnderTest& f, const std::vector<EdgeCase>& cases) {
  const NearestCodeReference reference(f.spec);
  for (const EdgeCase& c : cases) {
    SCOPED_TRACE(::testing::Message() << f.spec.name << ": " << c.what << " (input " << c.input << ", bits 0x"
                                      << std::hex << std::bit_cast<uint32_t>(c.input) << ")");
    EXPECT_EQ(reference.encode(c.input), c.expected) << "reference disagrees with the known answer";
    EXPECT_EQ(f.encode(c.input), c.expected);
  }
}

TEST(RoundingEdgeCases, F16) {
  const float tie_1 = 1.0f + p2(-11);
  check_edge_cases(kF16Format, {
      {0.0f, 0x0000, "+0"},
      {-0.0f, 0x8000, "-0 keeps its sign"},
      {-1.0f, 0xBC00, "-1"},
      {tie_1, 0x3C00, "tie 1.0 | 1+ulp goes to even 0x3C00"},
      {1.0f + 3 * p2(-11), 0x3C02, "tie 0x3C01 | 0x3C02 goes to even 0x3C02"},
      {above(tie_1), 0x3C01, "just above a tie"},
      {below(tie_1), 0x3C00, "just below a tie"},
      {p2(-24), 0x0001, "smallest subnormal"},
      {p2(-25), 0x0000, "half the smallest subnormal ties to 0"},
      {-p2(-25), 0x8000, "negative half smallest subnormal ties to -0"},
      {above(p2(-25)), 0x0001, "just above half the smallest subnormal"},
      {3 * p2(-25), 0x0002, "subnormal tie 1 | 2 goes to 2"},
      {5 * p2(-25), 0x0002, "subnormal tie 2 | 3 goes to 2"},
      {1023 * p2(-24), 0x03FF, "largest subnormal"},
      {2047 * p2(-25), 0x0400, "tie largest subnormal | smallest normal goes to the normal (even)"},
      {below(2047 * p2(-25)), 0x03FF, "just below the subnormal/normal midpoint"},
      {p2(-14), 0x0400, "smallest normal"},
      {2049 * p2(-25), 0x0400, "tie 0x0400 | 0x0401 goes to 0x0400"},
      {from_bits(0x00000001), 0x0000, "smallest f32 denormal"},
      {from_bits(0x80000001), 0x8000, "negative f32 denormal"},
      {65504.0f, 0x7BFF, "largest finite"},
      {below(65520.0f), 0x7BFF, "just below the overflow boundary"},
      {65520.0f, 0x7C00, "overflow boundary (tie) rounds to Inf"},
      {-65520.0f, 0xFC00, "negative overflow boundary"},
      {1e10f, 0x7C00, "far overflow"},
      {FLT_MAX, 0x7C00, "FLT_MAX"},
      {INFINITY, 0x7C00, "+Inf"},
      {-INFINITY, 0xFC00, "-Inf"},
  });
}

TEST(RoundingEdgeCases, BF16) {
  const float tie_1 = 1.0f + p2(-8);
  check_edge_cases(kBF16Format, {
      {0.0f, 0x0000, "+0"},
      {-0.0f, 0x8000, "-0"},
      {tie_1, 0x3F80, "tie 1.0 | 1+ulp goes to even"},
      {1.0f + 3 * p2(-8), 0x3F82, "tie 0x3F81 | 0x3F82 goes to even"},
      {above(tie_1), 0x3F81, "just above a tie"},
      {from_bits(0x00008000), 0x0000, "half the smallest subnormal ties to 0"},
      {from_bits(0x80008000), 0x8000, "negative half smallest subnormal"},
      {from_bits(0x00008001), 0x0001, "just above half the smallest subnormal"},
      {from_bits(0x00018000), 0x0002, "subnormal tie 1 | 2 goes to 2"},
      {from_bits(0x007F8000), 0x0080, "tie largest subnormal | smallest normal"},
      {from_bits(0x007F7FFF), 0x007F, "just below the subnormal/normal midpoint"},
      {from_bits(0x7F7F0000), 0x7F7F, "largest finite"},
      {from_bits(0x7F7F7FFF), 0x7F7F, "just below the overflow boundary"},
      {from_bits(0x7F7F8000), 0x7F80, "overflow boundary (tie) rounds to Inf"},
      {FLT_MAX, 0x7F80, "FLT_MAX"},
      {-FLT_MAX, 0xFF80, "-FLT_MAX"},
      {INFINITY, 0x7F80, "+Inf"},
      {-INFINITY, 0xFF80, "-Inf"},
  });
}

TEST(RoundingEdgeCases, Fp8E4M3) {
  check_edge_cases(kE4M3Format, {
      {0.0f, 0x00, "+0"},
      {-0.0f, 0x80, "-0"},
      {1.0625f, 0x38, "tie 1.0 | 1.125 goes to even 0x38"},
      {1.1875f, 0x3A, "tie 0x39 | 0x3A goes to even 0x3A"},
      {above(1.0625f), 0x39, "just above a tie"},
      {p2(-9), 0x01, "smallest subnormal"},
      {p2(-10), 0x00, "half the smallest subnormal ties to 0"},
      {-p2(-10), 0x80, "negative half smallest subnormal ties to -0"},
      {above(p2(-10)), 0x01, "just above half the smallest subnormal"},
      {3 * p2(-10), 0x02, "subnormal tie 1 | 2 goes to 2"},
      {7 * p2(-9), 0x07, "largest subnormal"},
      {15 * p2(-10), 0x08, "tie largest subnormal | smallest normal"},
      {below(15 * p2(-10)), 0x07, "just below the subnormal/normal midpoint"},
      {p2(-6), 0x08, "smallest normal"},
      {416.0f, 0x7D, "second largest"},
      {432.0f, 0x7E, "tie 416 | 448 goes to even 448"},
      {below(432.0f), 0x7D, "just below that tie"},
      {448.0f, 0x7E, "largest finite"},
      {above(448.0f), 0x7E, "just above the largest saturates"},
      {464.0f, 0x7E, "unbounded-rounding boundary saturates"},
      {480.0f, 0x7E, "would-be next value (the NaN code) saturates"},
      {-1e6f, 0xFE, "negative overflow saturates"},
      {FLT_MAX, 0x7E, "FLT_MAX"},
      {INFINITY, 0x7E, "+Inf saturates"},
      {-INFINITY, 0xFE, "-Inf saturates"},
  });
}

std::vector<EdgeCase> e5m2_shared_cases() {
  return {
      {0.0f, 0x00, "+0"},
      {-0.0f, 0x80, "-0"},
      {1.125f, 0x3C, "tie 1.0 | 1.25 goes to even"},
      {1.375f, 0x3E, "tie 0x3D | 0x3E goes to even"},
      {above(1.125f), 0x3D, "just above a tie"},
      {p2(-16), 0x01, "smallest subnormal"},
      {p2(-17), 0x00, "half the smallest subnormal ties to 0"},
      {-p2(-17), 0x80, "negative half smallest subnormal"},
      {above(p2(-17)), 0x01, "just above half the smallest subnormal"},
      {3 * p2(-17), 0x02, "subnormal tie 1 | 2 goes to 2"},
      {3 * p2(-16), 0x03, "largest subnormal"},
      {7 * p2(-17), 0x04, "tie largest subnormal | smallest normal"},
      {below(7 * p2(-17)), 0x03, "just below the subnormal/normal midpoint"},
      {53248.0f, 0x7A, "tie 49152 | 57344 goes to even"},
      {57344.0f, 0x7B, "largest finite"},
      {below(61440.0f), 0x7B, "just below the overflow boundary"},
  };
}

TEST(RoundingEdgeCases, Fp8E5M2) {
  std::vector<EdgeCase> cases = e5m2_shared_cases();
  cases.insert(cases.end(), {
                                {61440.0f, 0x7C, "overflow boundary (tie) rounds to Inf"},
                                {-61440.0f, 0xFC, "negative overflow boundary"},
                                {1e6f, 0x7C, "far overflow"},
                                {INFINITY, 0x7C, "+Inf"},
                                {-INFINITY, 0xFC, "-Inf"},
                            });
  check_edge_cases(kE5M2Format, cases);
}

TEST(RoundingEdgeCases, Fp8E5M2Saturate) {
  std::vector<EdgeCase> cases = e5m2_shared_cases();
  cases.insert(cases.end(), {
                                {61440.0f, 0x7B, "overflow boundary saturates"},
                                {-61440.0f, 0xFB, "negative overflow saturates"},
                                {FLT_MAX, 0x7B, "FLT_MAX"},
                                {INFINITY, 0x7B, "+Inf saturates"},
                                {-INFINITY, 0xFB, "-Inf saturates"},
                            });
  check_edge_cases(kE5M2SaturateFormat, cases);
}

struct RandomCase {
  FormatUnderTest format;
  int count;
};

void PrintTo(const RandomCase& c, std::ostream* os) { *os << c.format.spec.name << " x" << c.count; }

class RandomRounding : public ::testing::TestWithParam<RandomCase> {};

TEST_P(RandomRounding, MatchesBruteForce) {
  const FormatUnderTest& f = GetParam().format;
  const NearestCodeReference reference(f.spec);
  RandomFloats gen(f.spec, 0x0C7E7F0A0ull);
  int failures = 0;
  for (int i = 0; i < GetParam().count && failures < 10; ++i) {
    const float x = gen.next();
    const uint32_t got = f.encode(x);
    if (std::isnan(x)) {
      const uint32_t sign = std::signbit(x) ? f.spec.sign_bit() : 0u;
      if (!f.spec.is_nan(got) || (got & f.spec.sign_bit()) != sign || (f.quiet_bit && !(got & f.quiet_bit))) {
        ++failures;
        ADD_FAILURE() << f.spec.name << ": NaN 0x" << std::hex << std::bit_cast<uint32_t>(x) << " -> 0x" << got;
      }
      continue;
    }
    const uint32_t expected = reference.encode(x);
    if (got != expected) {
      ++failures;
      ADD_FAILURE() << f.spec.name << ": " << x << " (bits 0x" << std::hex << std::bit_cast<uint32_t>(x) << ") -> 0x"
                    << got << ", brute force says 0x" << expected;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Formats, RandomRounding,
                         ::testing::Values(RandomCase{kF16Format, 4'000'000}, RandomCase{kBF16Format, 4'000'000},
                                           RandomCase{kE4M3Format, 1'000'000}, RandomCase{kE5M2Format, 1'000'000},
                                           RandomCase{kE5M2SaturateFormat, 1'000'000}),
                         [](const auto& info) { return format_param_name(info.param.format); });

// The reference's binary search agrees with a plain linear scan over every
// finite code: no code is strictly nearer than the one it picks.
TEST(FormatReference, NearestOnRandomInputs) {
  for (const FormatSpec& f : {kE4M3Spec, kE5M2Spec}) {
    const NearestCodeReference reference(f);
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> dist(-500.0f, 500.0f);
    for (int i = 0; i < 20000; ++i) {
      const float x = dist(rng);
      const uint32_t code = reference.encode(x);
      const double err = std::fabs(reference_decode(f, code) - x);
      // No finite code is strictly nearer (linear scan over all codes).
      for (uint32_t c = 0; c < f.code_count(); ++c) {
        if (f.is_nan(c) || f.is_inf(c)) continue;
        if (std::fabs(x) <= reference_decode(f, f.max_finite_code())) {
          ASSERT_LE(err, std::fabs(reference_decode(f, c) - x)) << f.name << " x=" << x;
        }
      }
    }
  }
}

}  // namespace
}  // namespace octet::testing
