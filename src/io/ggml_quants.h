// ggml's tensor types as stored in GGUF files: block layouts and one trait
// table indexed by the GGML type id.
//
// Block structs mirror ggml-common.h byte for byte (fp16 fields are raw
// IEEE half bits, little-endian). Dequantization follows ggml's
// dequantize_row_* formulas exactly (same operations in the same order, in
// float), so results match llama.cpp bit for bit; so does quantization for
// the types octet writes (ggml's scalar quantize_row_*_ref).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "octet/dtype.h"

namespace octet::io {

inline constexpr int kQK4_0 = 32;
inline constexpr int kQK8_0 = 32;
inline constexpr int kQK_K = 256;  // super-block size of the k-quants
inline constexpr int kKScaleSize = 12;

// x = d * (q - 8), q a 4-bit nibble; element j in the low nibble of qs[j],
// element j + 16 in the high nibble.
struct BlockQ4_0 {
  uint16_t d;  // fp16 scale
  uint8_t qs[kQK4_0 / 2];
};
static_assert(sizeof(BlockQ4_0) == 18);

// x = d * q, q int8.
struct BlockQ8_0 {
  uint16_t d;  // fp16 scale
  int8_t qs[kQK8_0];
};
static_assert(sizeof(BlockQ8_0) == 34);

// 8 sub-blocks of 32: x = d * sc[j] * q - dmin * m[j], with 6-bit sc/m packed
// into `scales` (see get_scale_min_k4) and 4-bit q.
struct BlockQ4_K {
  uint16_t d;     // fp16 super-block scale of the sub-block scales
  uint16_t dmin;  // fp16 super-block scale of the sub-block mins
  uint8_t scales[kKScaleSize];
  uint8_t qs[kQK_K / 2];
};
static_assert(sizeof(BlockQ4_K) == 144);

// 16 sub-blocks of 16: x = d * scales[j] * (q - 32), q 6-bit (low 4 bits in
// ql, high 2 bits in qh).
struct BlockQ6_K {
  uint8_t ql[kQK_K / 2];
  uint8_t qh[kQK_K / 4];
  int8_t scales[kQK_K / 16];
  uint16_t d;  // fp16 super-block scale
};
static_assert(sizeof(BlockQ6_K) == 210);

// Dequantizes `n` elements (a whole number of blocks) from `blocks`, which
// need not be aligned.
using DequantizeFn = void (*)(const uint8_t* blocks, float* out, int64_t n);

void dequantize_q4_0(const uint8_t* blocks, float* out, int64_t n);
void dequantize_q8_0(const uint8_t* blocks, float* out, int64_t n);
void dequantize_q4_k(const uint8_t* blocks, float* out, int64_t n);
void dequantize_q6_k(const uint8_t* blocks, float* out, int64_t n);

// Quantizes `n` finite values (a whole number of blocks) into `blocks`, which
// need not be aligned.
using QuantizeFn = void (*)(const float* x, uint8_t* blocks, int64_t n);

// ggml's quantize_row_q4_0_ref: d = the signed value of largest magnitude / -8,
// q = min(15, trunc(x / d + 8.5)), so that value lands exactly on q = 0.
void quantize_q4_0(const float* x, uint8_t* blocks, int64_t n);
// ggml's quantize_row_q8_0_ref: d = amax / 127, q = roundf(x / d).
void quantize_q8_0(const float* x, uint8_t* blocks, int64_t n);
// ggml's quantize_row_q4_K_ref and quantize_row_q6_K_ref (ggml_kquants.cc).
void quantize_q4_k(const float* x, uint8_t* blocks, int64_t n);
void quantize_q6_k(const float* x, uint8_t* blocks, int64_t n);

// ggml's unpacking of the j-th (0..7) 6-bit scale and min of a Q4_K block.
void get_scale_min_k4(int j, const uint8_t* scales, uint8_t* scale, uint8_t* min);

struct GgmlTypeTraits {
  uint32_t id = 0;
  std::string_view name;         // "Q4_K"
  int64_t block_size = 0;        // elements per block (1 for plain types)
  size_t block_bytes = 0;        // bytes per block
  DequantizeFn dequantize = nullptr;   // block types octet can dequantize
  QuantizeFn quantize = nullptr;       // block types octet can write
  std::optional<DType> plain_dtype;    // plain types, viewable without conversion
};

// The row for a GGML type id, or nullptr for an id octet does not know.
// Known ids octet cannot dequantize have dequantize == nullptr and no plain_dtype.
const GgmlTypeTraits* ggml_type_traits(uint32_t id);

}  // namespace octet::io
