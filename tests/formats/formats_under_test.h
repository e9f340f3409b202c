// The library's scalar conversions, described uniformly so one test body can
// run over every narrow float format.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

#include "formats/format_reference.h"
#include "octet/number_formats.h"

namespace octet::testing {

struct FormatUnderTest {
  FormatSpec spec;
  float (*decode)(uint32_t code);
  uint32_t (*encode)(float value);
  // f16/bf16: the mantissa bit that marks a quiet NaN; NaN payloads are
  // kept, so a NaN code comes back as itself with this bit set.
  // fp8: 0, every NaN input gives sign | canonical_nan.
  uint32_t quiet_bit;
  uint32_t canonical_nan;  // the code of a positive NaN input with no payload
};

inline const FormatUnderTest kF16Format{
    kF16Spec, [](uint32_t c) { return f16_to_float(static_cast<uint16_t>(c)); },
    [](float v) -> uint32_t { return float_to_f16(v); }, 0x200, 0x7E00};
inline const FormatUnderTest kBF16Format{
    kBF16Spec, [](uint32_t c) { return bf16_to_float(static_cast<uint16_t>(c)); },
    [](float v) -> uint32_t { return float_to_bf16(v); }, 0x40, 0x7FC0};
inline const FormatUnderTest kE4M3Format{
    kE4M3Spec, [](uint32_t c) { return fp8_e4m3_to_float(static_cast<uint8_t>(c)); },
    [](float v) -> uint32_t { return float_to_fp8_e4m3(v); }, 0, 0x7F};
inline const FormatUnderTest kE5M2Format{
    kE5M2Spec, [](uint32_t c) { return fp8_e5m2_to_float(static_cast<uint8_t>(c)); },
    [](float v) -> uint32_t { return float_to_fp8_e5m2(v); }, 0, 0x7E};
inline const FormatUnderTest kE5M2SaturateFormat{
    kE5M2SaturateSpec, [](uint32_t c) { return fp8_e5m2_to_float(static_cast<uint8_t>(c)); },
    [](float v) -> uint32_t { return float_to_fp8_e5m2_saturate(v); }, 0, 0x7E};

inline std::string format_param_name(const FormatUnderTest& f) { return f.spec.name; }
// gtest prints parameters with this instead of dumping their bytes.
inline void PrintTo(const FormatUnderTest& f, std::ostream* os) { *os << f.spec.name; }

}  // namespace octet::testing
