// Conversions between float and the narrow number formats.
//
// All float -> narrow conversions round to nearest, ties to even.
// fp16: IEEE binary16, NaN and Inf kept. NaNs behave as F16C hardware does:
//   f16 -> f32 sets the quiet bit and keeps the payload (mantissa << 13);
//   f32 -> f16 sets the quiet bit and keeps the top 10 payload bits. So a
//   quiet NaN code round-trips exactly and a signalling one comes back quiet.
// bf16: f32's top half, NaN and Inf kept. bf16 -> f32 is the exact widening
//   (bits << 16); f32 -> bf16 truncates a NaN's payload and sets the quiet bit.
// fp8 e4m3 (OCP "E4M3FN"): max finite 448, no infinities; finite overflow
//   saturates to +-448, +-Inf saturates to +-448, NaN -> 0x7F (sign kept).
//   The NaN codes 0x7F/0xFF round-trip exactly.
// fp8 e5m2 (OCP): max finite 57344, Inf kept; overflow at or beyond the
//   rounding boundary 61440 goes to Inf as IEEE does (float_to_fp8_e5m2_saturate
//   clamps to +-57344 instead, Inf included). NaN -> 0x7E (sign kept); the
//   NaN codes 0x7D/0x7E/0x7F decode to a quiet NaN and come back as 0x7E.
// int4 packing: element 2i in the low nibble of byte i, element 2i+1 in the high.
#pragma once

#include <cstddef>
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

// Bulk conversions over contiguous spans. `src` and `dst` must have the same
// length (else Error "formats"). Each picks a SIMD variant at run time from
// cpu_features() (AVX2+F16C where present; OCTET_ISA=scalar forces the scalar
// loop) and every variant gives bit-identical results to the scalar functions
// above, NaN payloads included.
void convert_f32_to_f16(std::span<const float> src, std::span<uint16_t> dst);
void convert_f16_to_f32(std::span<const uint16_t> src, std::span<float> dst);
void convert_f32_to_bf16(std::span<const float> src, std::span<uint16_t> dst);
void convert_bf16_to_f32(std::span<const uint16_t> src, std::span<float> dst);
void convert_f32_to_fp8_e4m3(std::span<const float> src, std::span<uint8_t> dst);
void convert_fp8_e4m3_to_f32(std::span<const uint8_t> src, std::span<float> dst);
void convert_f32_to_fp8_e5m2(std::span<const float> src, std::span<uint8_t> dst);
void convert_f32_to_fp8_e5m2_saturate(std::span<const float> src, std::span<uint8_t> dst);
void convert_fp8_e5m2_to_f32(std::span<const uint8_t> src, std::span<float> dst);

// The variant the bulk conversions use on this machine: "avx2" or "scalar".
const char* bulk_conversion_isa();

// Round to nearest integer, ties to even (round_half_away: ties away from 0),
// exact and independent of the FP rounding mode: the rounding of every integer
// quantizer (quant/, the KV cache). |v| >= 2^23 and +-Inf come back unchanged;
// -0 stays -0. NaN is the caller's to map first.
float round_half_even(float v);
float round_half_away(float v);

// int4 nibble packing, one pair at a time: values must already lie in
// [-8,7] (signed) or [0,15] (unsigned).
inline uint8_t pack_int4(int lo, int hi) { return static_cast<uint8_t>((lo & 0xF) | ((hi & 0xF) << 4)); }
inline int unpack_int4_lo(uint8_t byte) { return static_cast<int8_t>(static_cast<uint8_t>(byte << 4)) >> 4; }
inline int unpack_int4_hi(uint8_t byte) { return static_cast<int8_t>(byte) >> 4; }
inline int unpack_uint4_lo(uint8_t byte) { return byte & 0xF; }
inline int unpack_uint4_hi(uint8_t byte) { return byte >> 4; }

// Bytes that hold n packed 4-bit values.
inline constexpr size_t int4_packed_bytes(size_t n) { return n / 2 + n % 2; }

// Bulk int4 packing. `packed` must be int4_packed_bytes(values.size()) long;
// with an odd count the last byte's high nibble is 0. Values outside [-8,7]
// (pack_int4) or [0,15] (pack_uint4) throw Error "formats".
void pack_int4(std::span<const int8_t> values, std::span<uint8_t> packed);
void pack_uint4(std::span<const uint8_t> values, std::span<uint8_t> packed);
// Inverse of the above; with an odd count the last high nibble is ignored.
void unpack_int4(std::span<const uint8_t> packed, std::span<int8_t> values);
void unpack_uint4(std::span<const uint8_t> packed, std::span<uint8_t> values);

}  // namespace octet
