// Scalar reference conversions (see octet/number_formats.h for the rules).
#include "octet/number_formats.h"

#include <bit>
#include <cmath>
#include <cstring>

namespace octet {
namespace {

inline uint32_t bits_of(float f) { return std::bit_cast<uint32_t>(f); }
inline float float_of(uint32_t u) { return std::bit_cast<float>(u); }

// Decodes a small float format with `mant` mantissa bits and exponent bias
// `bias`. `ieee_special`: the all-ones exponent means Inf/NaN (e5m2, fp16);
// otherwise only the all-ones code (S.1111.111) is NaN (e4m3fn).
inline float decode_small(uint32_t code, int exp_bits, int mant, int bias, bool ieee_special) {
  const uint32_t sign = (code >> (exp_bits + mant)) & 1u;
  const uint32_t e = (code >> mant) & ((1u << exp_bits) - 1);
  const uint32_t m = code & ((1u << mant) - 1);
  const float s = sign ? -1.0f : 1.0f;
  const uint32_t e_max = (1u << exp_bits) - 1;
  if (ieee_special && e == e_max) return m == 0 ? s * INFINITY : std::copysign(NAN, s);
  if (!ieee_special && e == e_max && m == (1u << mant) - 1) return std::copysign(NAN, s);
  if (e == 0) return s * std::ldexp(static_cast<float>(m), 1 - bias - mant);
  return s * std::ldexp(static_cast<float>(m | (1u << mant)), static_cast<int>(e) - bias - mant);
}

// Encodes |x| (finite, non-NaN) into a small float with round-to-nearest-even.
// Returns the magnitude code (no sign); the code may exceed the largest finite
// one on overflow, callers decide between Inf and saturation.
inline uint32_t encode_small_magnitude(float ax, int mant, int bias) {
  // Work on the fp32 representation: value = 1.m * 2^(E-127).
  const uint32_t u = bits_of(ax);
  if (u == 0) return 0;
  int exp = static_cast<int>(u >> 23) - 127;      // unbiased exponent of x (denormal f32 handled below)
  uint32_t m32 = u & 0x7FFFFF;
  if ((u >> 23) == 0) {  // f32 denormal: far below any small format's subnormal range
    return 0;
  }
  m32 |= 0x800000;  // 24-bit significand
  const int min_normal_exp = 1 - bias;
  // Number of significand bits to drop so the result has `mant` fraction bits,
  // plus extra bits when the result is subnormal.
  int shift = 23 - mant;
  int target_exp = exp;
  if (exp < min_normal_exp) {
    shift += min_normal_exp - exp;
    target_exp = min_normal_exp - 1;  // marks subnormal (biased exponent 0)
  }
  if (shift > 24) return 0;  // rounds to zero (strictly below half the smallest subnormal)
  uint32_t q = m32 >> shift;
  const uint32_t rem = m32 & ((1u << shift) - 1);
  const uint32_t half = 1u << (shift - 1);
  if (rem > half || (rem == half && (q & 1))) ++q;
  // q now holds the significand incl. the implicit bit (if normal). Build the code.
  uint32_t code;
  if (target_exp < min_normal_exp) {
    code = q;  // subnormal; if q reached 1<<mant it correctly became the smallest normal
  } else {
    // Normal: q in [1<<mant, 2<<mant]; carry into exponent on overflow.
    int be = target_exp + bias;
    if (q >> (mant + 1)) {
      q >>= 1;
      ++be;
    }
    code = (static_cast<uint32_t>(be) << mant) | (q & ((1u << mant) - 1));
  }
  return code;
}

}  // namespace

float f16_to_float(uint16_t bits) {
  // NaN: quiet bit set, payload kept, as F16C's vcvtph2ps does, so the SIMD
  // variant can be bit-identical to this one.
  if ((bits & 0x7C00) == 0x7C00 && (bits & 0x3FF) != 0) {
    const uint32_t sign = static_cast<uint32_t>(bits & 0x8000) << 16;
    return float_of(sign | 0x7FC00000u | (static_cast<uint32_t>(bits & 0x3FF) << 13));
  }
  return decode_small(bits, 5, 10, 15, true);
}

uint16_t float_to_f16(float value) {
  const uint32_t sign = (bits_of(value) >> 31) << 15;
  // NaN: quiet bit set, top 10 payload bits kept (as vcvtps2ph does).
  if (std::isnan(value)) return static_cast<uint16_t>(sign | 0x7E00 | ((bits_of(value) >> 13) & 0x3FF));
  const float ax = std::fabs(value);
  if (std::isinf(ax)) return static_cast<uint16_t>(sign | 0x7C00);
  uint32_t code = encode_small_magnitude(ax, 10, 15);
  if (code >= 0x7C00) code = 0x7C00;  // overflow -> Inf
  return static_cast<uint16_t>(sign | code);
}

float bf16_to_float(uint16_t bits) { return float_of(static_cast<uint32_t>(bits) << 16); }

uint16_t float_to_bf16(float value) {
  uint32_t u = bits_of(value);
  if (std::isnan(value)) return static_cast<uint16_t>((u >> 16) | 0x0040);  // keep sign/payload, force quiet
  const uint32_t lsb = (u >> 16) & 1u;
  u += 0x7FFFu + lsb;  // round to nearest even; overflow carries into Inf correctly
  return static_cast<uint16_t>(u >> 16);
}

float fp8_e4m3_to_float(uint8_t bits) { return decode_small(bits, 4, 3, 7, false); }

uint8_t float_to_fp8_e4m3(float value) {
  const uint32_t sign = (bits_of(value) >> 31) << 7;
  if (std::isnan(value)) return static_cast<uint8_t>(sign | 0x7F);
  const float ax = std::fabs(value);
  if (ax >= kFp8E4M3Max) return static_cast<uint8_t>(sign | 0x7E);  // saturate (Inf too)
  uint32_t code = encode_small_magnitude(ax, 3, 7);
  if (code > 0x7E) code = 0x7E;  // rounding up past 448 saturates
  return static_cast<uint8_t>(sign | code);
}

float fp8_e5m2_to_float(uint8_t bits) { return decode_small(bits, 5, 2, 15, true); }

uint8_t float_to_fp8_e5m2(float value) {
  const uint32_t sign = (bits_of(value) >> 31) << 7;
  if (std::isnan(value)) return static_cast<uint8_t>(sign | 0x7E);
  const float ax = std::fabs(value);
  if (std::isinf(ax)) return static_cast<uint8_t>(sign | 0x7C);
  uint32_t code = encode_small_magnitude(ax, 2, 15);
  if (code >= 0x7C) code = 0x7C;  // overflow -> Inf
  return static_cast<uint8_t>(sign | code);
}

uint8_t float_to_fp8_e5m2_saturate(float value) {
  if (std::isnan(value)) return float_to_fp8_e5m2(value);
  const float clamped = std::fmax(-kFp8E5M2Max, std::fmin(kFp8E5M2Max, value));
  return float_to_fp8_e5m2(clamped);
}

// |v| >= 2^23 (and +-Inf) is already an integer; below that, truncation
// through int32 is exact and v - t is exact, so the tie tests are exact and do
// not depend on the FP rounding mode. NaN never reaches here (callers map it to 0).
float round_half_even(float v) {
  if (!(std::fabs(v) < 8388608.0f)) return v;
  const int32_t i = static_cast<int32_t>(v);
  const float frac = v - static_cast<float>(i);
  const int32_t step = v < 0 ? -1 : 1;
  if (std::fabs(frac) > 0.5f || (std::fabs(frac) == 0.5f && (i & 1))) return static_cast<float>(i + step);
  return std::copysign(static_cast<float>(i), v);  // keeps -0 for v in (-0.5, 0]
}

float round_half_away(float v) {
  if (!(std::fabs(v) < 8388608.0f)) return v;
  const int32_t i = static_cast<int32_t>(v);
  const float frac = v - static_cast<float>(i);
  if (std::fabs(frac) >= 0.5f) return static_cast<float>(i + (v < 0 ? -1 : 1));
  return std::copysign(static_cast<float>(i), v);
}

}  // namespace octet
