// KV-cache quantization (private to src/nn): the row quantize / dequantize
// loops that MultiHeadAttention uses for its cache and for its cache-free
// forward, so both see bit-identical keys and values. The arithmetic is the
// one KvCacheQuant documents (octet/nn.h). Loops are scalar; SIMD variants
// can come later as long as they match these bit for bit.
//
// Layouts: x is f32 [batch, kv_heads, seq, head_dim]; codes are one byte per
// value (I8 or F8_E4M3) or two (F16, no scale) [batch, kv_heads, capacity, head_dim]; dynamic scales
// are f32 [batch, kv_heads, capacity]; static scales come from KvCacheQuant,
// one per kv head.
#pragma once

#include <cstdint>

#include "kernels/decode_attention.h"
#include "octet/nn.h"

namespace octet::nn::kv_quant {

// The dynamic scale of one row: max |x| / 127 (I8) or / 448 (F8_E4M3),
// divided in double and rounded once; 1 for an all-zero row; at least FLT_MIN.
// NaN and +-Inf do not count towards max |x| (they quantize as octet's
// conventions say: NaN -> 0 for I8, NaN code for fp8; Inf saturates).
float dynamic_scale(const float* row, int64_t n, DType dtype);

// One row of n values with one scale -> n code bytes (the int8 value's low
// byte, or the e4m3 code), or n halves (F16: 2n bytes, the scale unused).
void quantize_row(const float* row, int64_t n, float scale, DType dtype, uint8_t* codes);
// n codes -> n floats: float(q) * scale, fp8_e4m3_to_float(code) * scale, or f16_to_float(half).
void dequantize_row(const uint8_t* codes, int64_t n, float scale, DType dtype, float* out);

// Which half of the cache a call is about (picks the static scales).
enum class Part { Keys, Values };

// Quantizes x [B, G, S, d] into codes (and, when dynamic, scales) at token
// slots [at, at + S) of every (batch, kv head) block.
void store(const Tensor& x, const KvCacheQuant& quant, Part part, Tensor& codes, Tensor& scales, int64_t at);

// Dequantizes tokens [0, n) of block bg = b * G + g into out [n, d] (f32).
void load_block(const Tensor& codes, const Tensor& scales, const KvCacheQuant& quant, Part part, int64_t bg, int64_t n,
                float* out);

// Block bg's codes as the decode attention kernel reads them (decoded and scaled in registers, equal to
// load_block's rows).
kernels::CachedRows rows_of_block(const Tensor& codes, const Tensor& scales, const KvCacheQuant& quant, Part part,
                                  int64_t bg);

// Tokens [0, n) of every block, dequantized: f32 [B, G, n, d].
Tensor load(const Tensor& codes, const Tensor& scales, const KvCacheQuant& quant, Part part, int64_t n);

// dequantize(quantize(x)) for x [B, G, S, d]: what a quantized cache gives back.
Tensor round_trip(const Tensor& x, const KvCacheQuant& quant, Part part);

// Allocates zeroed codes [B, G, capacity, d] and (dynamic) scales [B, G, capacity].
void allocate(const KvCacheQuant& quant, int64_t batch, int64_t kv_heads, int64_t capacity, int64_t head_dim,
              Tensor& codes, Tensor& scales);

}  // namespace octet::nn::kv_quant
