// Independent test references for the narrow float formats.
//
// Nothing here shares code with src/formats: decoding is the textbook
// sign/exponent/mantissa formula evaluated with std::ldexp in double, and
// encoding is a brute-force nearest-value search over every finite code of
// the format (ties to the code whose mantissa LSB is even), followed by the
// format's overflow rule.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace octet::testing {

struct FormatSpec {
  const char* name;
  int exp_bits;
  int mant_bits;
  int bias;
  // true: the all-ones exponent encodes Inf (mantissa 0) and NaN (else), as
  // in IEEE 754. false: OCP E4M3FN, where only S.1111.111 is NaN and there is
  // no Inf.
  bool ieee_specials;
  // true: finite values past the largest finite one (and +-Inf) become the
  // largest finite value. false: they become Inf (IEEE rounding).
  bool saturate;

  int bits() const { return 1 + exp_bits + mant_bits; }
  uint32_t code_count() const { return 1u << bits(); }
  uint32_t sign_bit() const { return 1u << (exp_bits + mant_bits); }
  uint32_t exp_field(uint32_t code) const { return (code >> mant_bits) & ((1u << exp_bits) - 1); }
  uint32_t mant_field(uint32_t code) const { return code & ((1u << mant_bits) - 1); }
  uint32_t exp_all_ones() const { return (1u << exp_bits) - 1; }

  bool is_nan(uint32_t code) const {
    if (ieee_specials) return exp_field(code) == exp_all_ones() && mant_field(code) != 0;
    return exp_field(code) == exp_all_ones() && mant_field(code) == (1u << mant_bits) - 1;
  }
  bool is_inf(uint32_t code) const {
    return ieee_specials && exp_field(code) == exp_all_ones() && mant_field(code) == 0;
  }
  // The largest finite magnitude code (sign bit clear).
  uint32_t max_finite_code() const {
    const uint32_t all_ones_but_sign = sign_bit() - 1;
    // IEEE: exponent all-ones is special, so back off one exponent step.
    // E4M3FN: only the all-ones code is NaN, so back off one code.
    return ieee_specials ? all_ones_but_sign - (1u << mant_bits) : all_ones_but_sign - 1;
  }
  uint32_t inf_code() const { return exp_all_ones() << mant_bits; }
};

inline constexpr FormatSpec kF16Spec{"f16", 5, 10, 15, true, false};
inline constexpr FormatSpec kBF16Spec{"bf16", 8, 7, 127, true, false};
inline constexpr FormatSpec kE4M3Spec{"fp8_e4m3", 4, 3, 7, false, true};
inline constexpr FormatSpec kE5M2Spec{"fp8_e5m2", 5, 2, 15, true, false};
inline constexpr FormatSpec kE5M2SaturateSpec{"fp8_e5m2_saturate", 5, 2, 15, true, true};

// Value of a finite code: (-1)^s * 2^(1-bias-mant) * m for subnormals,
// (-1)^s * 2^(e-bias-mant) * (2^mant + m) for normals. Exact in double.
inline double reference_decode(const FormatSpec& f, uint32_t code) {
  const double sign = (code & f.sign_bit()) ? -1.0 : 1.0;
  const int e = static_cast<int>(f.exp_field(code));
  const double m = f.mant_field(code);
  if (f.is_nan(code)) return std::nan("");
  if (f.is_inf(code)) return sign * HUGE_VAL;
  if (e == 0) return sign * std::ldexp(m, 1 - f.bias - f.mant_bits);
  return sign * std::ldexp(std::ldexp(1.0, f.mant_bits) + m, e - f.bias - f.mant_bits);
}

// Brute-force round-to-nearest-even encoder. NaN inputs are not handled
// (each format states its own NaN code; tests check those directly).
class NearestCodeReference {
 public:
  explicit NearestCodeReference(const FormatSpec& f) : f_(f) {
    for (uint32_t code = 0; code < f.sign_bit(); ++code) {
      if (f.is_nan(code) || f.is_inf(code)) continue;
      table_.push_back({reference_decode(f, code), code});
    }
    // Sorting by value keeps this independent of how codes are ordered.
    std::sort(table_.begin(), table_.end(), [](const Entry& a, const Entry& b) { return a.value < b.value; });
    // The value the next code would have if the exponent range were unbounded:
    // largest finite + one ulp at its exponent. Inputs that round to it
    // overflow. Its parity is that of (max finite code + 1).
    const uint32_t max_code = f.max_finite_code();
    const int max_exp = static_cast<int>(f.exp_field(max_code));
    overflow_ = {reference_decode(f, max_code) + std::ldexp(1.0, max_exp - f.bias - f.mant_bits), max_code + 1};
    table_.push_back(overflow_);
  }

  uint32_t encode(float x) const {
    const uint32_t sign = std::signbit(x) ? f_.sign_bit() : 0u;
    const double ax = std::fabs(static_cast<double>(x));
    if (std::isinf(ax)) return sign | overflow_code();
    // First entry with value > ax; table_[0] is 0.0 so i >= 1.
    size_t lo = 0, hi = table_.size();
    while (hi - lo > 1) {
      const size_t mid = (lo + hi) / 2;
      (table_[mid].value <= ax ? lo : hi) = mid;
    }
    const Entry& below = table_[lo];
    if (hi == table_.size()) return sign | overflow_code();  // at or beyond the virtual next code
    if (below.value == ax) return sign | below.code;
    const Entry& above = table_[hi];
    // Both neighbours have <= 12 significant bits, so their midpoint is exact in double.
    const double midpoint = (below.value + above.value) / 2;
    const Entry* pick = nullptr;
    if (ax < midpoint) pick = &below;
    else if (ax > midpoint) pick = &above;
    else pick = (below.code & 1u) == 0 ? &below : &above;
    if (pick->code == overflow_.code) return sign | overflow_code();
    return sign | pick->code;
  }

 private:
  struct Entry {
    double value;
    uint32_t code;
  };
  uint32_t overflow_code() const { return f_.saturate ? f_.max_finite_code() : f_.inf_code(); }

  FormatSpec f_;
  std::vector<Entry> table_;
  Entry overflow_{};
};

}  // namespace octet::testing
