// Scalar reference conversions between float and the narrow number formats.
//
// All float -> narrow conversions round to nearest, ties to even.
// fp16 / bf16: IEEE-style, NaN and Inf kept (NaN stays a quiet NaN).
// fp8 e4m3 (OCP "E4M3FN"): max finite 448, no infinities; finite overflow
//   saturates to +-448, +-Inf saturates to +-448, NaN -> 0x7F (sign kept).
// fp8 e5m2 (OCP): max finite 57344, Inf kept; overflow beyond the rounding
//   boundary goes to Inf as IEEE does (saturate_e5m2 for the clamped variant).
// int4 packing: element 2i in the low nibble of byte i, element 2i+1 in the high.
#pragma once

#include <cstdint>
#include <span>

namespace octet {

float f16_to_float(uint16_t bits);
uint16_t float_to_f16(float value);
float bf16_to_float(uint16_t bits);
uint16_t float_to_bf16(float value);
float fp8_e4m3_to_float(uint8_t bits);
uint8_t float_to_fp8_e4m3(float value);
float fp8_e5m2_to_float(uint8_t bits);
uint8_t float_to_fp8_e5m2(float value);
// e5m2 with finite overflow clamped to +-57344 (the usual choice when scaling activations).
uint8_t float_to_fp8_e5m2_saturate(float value);

inline constexpr float kFp8E4M3Max = 448.0f;
inline constexpr float kFp8E5M2Max = 57344.0f;

// Bulk conversions (contiguous spans of equal length). These pick a SIMD
// variant at run time where one exists and are tested against the scalar ones.
void convert_f32_to_f16(std::span<const float> src, std::span<uint16_t> dst);
void convert_f16_to_f32(std::span<const uint16_t> src, std::span<float> dst);
void convert_f32_to_bf16(std::span<const float> src, std::span<uint16_t> dst);
void convert_bf16_to_f32(std::span<const uint16_t> src, std::span<float> dst);

// int4 nibble packing: values must already lie in [-8,7] (signed) or [0,15] (unsigned).
inline uint8_t pack_int4(int lo, int hi) { return static_cast<uint8_t>((lo & 0xF) | ((hi & 0xF) << 4)); }
inline int unpack_int4_lo(uint8_t byte) { return static_cast<int8_t>(static_cast<uint8_t>(byte << 4)) >> 4; }
inline int unpack_int4_hi(uint8_t byte) { return static_cast<int8_t>(byte) >> 4; }
inline int unpack_uint4_lo(uint8_t byte) { return byte & 0xF; }
inline int unpack_uint4_hi(uint8_t byte) { return byte >> 4; }

}  // namespace octet
