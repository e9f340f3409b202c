// A reproducible stream of test floats aimed at one narrow format.
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <random>

#include "formats/format_reference.h"

namespace octet::testing {

// Random float bit patterns weighted towards where a narrow format can go
// wrong: its whole exponent range (and a little past either end), exact
// midpoints between neighbouring codes and the floats next to them, f32
// denormals, and some fully random bit patterns (NaN and Inf included).
class RandomFloats {
 public:
  RandomFloats(const FormatSpec& f, uint64_t seed) : f_(f), rng_(seed) {
    const int min_exp = 1 - f.bias - f.mant_bits;  // exponent of the smallest subnormal
    const int max_exp = static_cast<int>(f.exp_field(f.max_finite_code())) - f.bias;
    lo_exp_ = std::max(min_exp - 3, -149);
    hi_exp_ = std::min(max_exp + 2, 127);
  }

  float next() {
    const uint32_t sign = static_cast<uint32_t>(rng_() & 1u) << 31;
    const uint32_t mant = static_cast<uint32_t>(rng_()) & 0x7FFFFF;
    switch (rng_() % 10) {
      case 0:
      case 1:
        return std::bit_cast<float>(static_cast<uint32_t>(rng_()));
      case 2:
        return std::bit_cast<float>(sign | mant);  // f32 denormal
      case 3:
      case 4:
      case 5: {  // a midpoint between adjacent codes, nudged by -2..2 float ulps
        const uint32_t code = static_cast<uint32_t>(rng_() % f_.max_finite_code());
        const double mid = (reference_decode(f_, code) + reference_decode(f_, code + 1)) / 2;
        uint32_t bits = std::bit_cast<uint32_t>(static_cast<float>(mid));  // exact: mid has <= 13 significant bits
        const int nudge = static_cast<int>(rng_() % 5) - 2;
        bits += static_cast<uint32_t>(nudge);
        return std::bit_cast<float>(sign | bits);
      }
      default: {
        const int e = lo_exp_ + static_cast<int>(rng_() % static_cast<uint64_t>(hi_exp_ - lo_exp_ + 1));
        if (e < -126) return std::bit_cast<float>(sign | (mant >> (-126 - e)));
        return std::bit_cast<float>(sign | (static_cast<uint32_t>(e + 127) << 23) | mant);
      }
    }
  }

 private:
  FormatSpec f_;
  std::mt19937_64 rng_;
  int lo_exp_ = 0, hi_exp_ = 0;
};

}  // namespace octet::testing
