// e4m3 rounding checked exhaustively around every code, as the fp8 recipes
// (weights, activations, KV cache) rely on it: for each pair of neighbouring
// finite codes a < b, the codes themselves, the floats next to them, the
// midpoint (a tie: the even code wins) and the floats next to the midpoint,
// plus 64 evenly spaced points between them, against the brute-force
// reference of format_reference.h; both signs; the scalar encoder and the
// bulk (SIMD) encoder.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "formats/format_reference.h"
#include "octet/number_formats.h"

namespace octet::testing {
namespace {

struct Probe {
  float value;
  uint32_t expected;
};

// Every probe near every code of e4m3 (positive side; callers mirror them).
std::vector<Probe> probes() {
  const NearestCodeReference reference(kE4M3Spec);
  std::vector<double> values;  // the finite positive values in code order
  for (uint32_t code = 0; code <= kE4M3Spec.max_finite_code(); ++code) values.push_back(reference_decode(kE4M3Spec, code));
  std::vector<Probe> out;
  auto add = [&](float v) { out.push_back({v, reference.encode(v)}); };
  for (size_t i = 0; i + 1 < values.size(); ++i) {
    const float a = float(values[i]), b = float(values[i + 1]);
    const float mid = float((values[i] + values[i + 1]) / 2);  // exact: both have 4 significant bits
    EXPECT_EQ(double(mid), (values[i] + values[i + 1]) / 2);
    for (const float v : {a, std::nextafter(a, b), mid, std::nextafter(mid, a), std::nextafter(mid, b),
                          std::nextafter(b, a), b})
      add(v);
    for (int k = 1; k < 64; ++k) add(float(values[i] + (values[i + 1] - values[i]) * k / 64.0));
  }
  // Past the largest finite value (448): up to the would-be next code (480) and beyond: saturation.
  for (const float v : {448.0f, std::nextafter(448.0f, 1e9f), 463.0f, 464.0f, 465.0f, 479.0f, 480.0f, 1e6f, 3e38f})
    add(v);
  return out;
}

TEST(Fp8E4M3Neighbourhood, EveryCodeAndTheValuesAroundIt) {
  const std::vector<Probe> ps = probes();
  ASSERT_GT(ps.size(), 126u * 70u);
  for (const Probe& p : ps)
    for (const float sign : {1.0f, -1.0f}) {
      const float v = sign * p.value;
      const uint32_t expected = p.expected | (sign < 0 ? 0x80u : 0u);
      ASSERT_EQ(float_to_fp8_e4m3(v), expected) << "value " << v;
    }
  // Ties go to the even code: the midpoint of codes 1 and 2 (2^-9 and 2^-8) goes to 2.
  EXPECT_EQ(float_to_fp8_e4m3(1.5f * std::ldexp(1.0f, -9)), 2u);
  EXPECT_EQ(float_to_fp8_e4m3(2.5f * std::ldexp(1.0f, -9)), 2u);
  EXPECT_EQ(float_to_fp8_e4m3(464.0f), 0x7Eu);  // the tie past 448 saturates
}

TEST(Fp8E4M3Neighbourhood, BulkEncoderAgrees) {
  const std::vector<Probe> ps = probes();
  std::vector<float> values;
  for (const Probe& p : ps) values.push_back(p.value), values.push_back(-p.value);
  std::vector<uint8_t> codes(values.size());
  convert_f32_to_fp8_e4m3(values, codes);
  for (size_t i = 0; i < values.size(); ++i)
    ASSERT_EQ(codes[i], float_to_fp8_e4m3(values[i])) << "value " << values[i];
}

// Every code decodes and re-encodes to itself (the two NaN codes excepted).
TEST(Fp8E4M3Neighbourhood, AllCodesRoundTrip) {
  for (uint32_t code = 0; code < 256; ++code) {
    if ((code & 0x7F) == 0x7F) continue;
    EXPECT_EQ(float_to_fp8_e4m3(fp8_e4m3_to_float(uint8_t(code))), code) << "code " << code;
  }
}

}  // namespace
}  // namespace octet::testing
