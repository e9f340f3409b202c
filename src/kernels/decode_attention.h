// Attention of one new token over its sequence's cached keys and values (a
// decode step) for the query heads that share one key/value head (GQA):
//   s[h][j] = scale * dot(q[h], k[j]) for keys j in [first, last] with keep[j]
//             set, else -inf;
//   p[h] = softmax(s[h]) (every key masked: zeros);  out[h] = sum_j p[h][j] v[j].
// The keys and values are read where they lie (rows `ld` elements apart), as
// f32 or as INT8 / FP8 codes decoded in registers. The batched GEMM path packs
// both for every step instead, which costs as much as the product at one query
// row: at batch 8 and ~600 cached tokens the packing was a sixth of a decode
// step of the 1.1B model; a quantized cache was also dequantized into a copy.
#pragma once

#include <cstdint>

namespace octet::kernels {

// How cached key or value rows are stored: f32; f16 (an F16 KV cache, read
// as the exact f32 of each half); or one code byte per value (an INT8 / FP8
// KV cache, nn/kv_quant.h) read as value = decode(code) * scale (a product
// rounded to f32: the kernel sees exactly the rows kv_quant's dequantize_row
// gives, without writing them out), with one scale per row (dynamic) or one
// for all rows (static).
enum class CachedElement { F32, F16, I8, F8E4M3 };

struct CachedRows {
  const void* data = nullptr;  // [total, ld] elements (the first d of each row are used)
  // (row_scales and scale apply to I8 and F8E4M3 codes only)
  CachedElement element = CachedElement::F32;
  const float* row_scales = nullptr;  // codes: [total] scales, or null: `scale` for every row
  float scale = 1.0f;
};

struct DecodeAttentionGroup {
  const float* q = nullptr;  // [heads, d]
  int64_t heads = 0, d = 0;
  CachedRows k, v;
  int64_t ld = 0, total = 0;
  float scale = 1.0f;
  const uint8_t* keep = nullptr;  // [total], nonzero = attend; null = every key
  int64_t first = 0, last = -1;   // keys outside [first, last] are masked
  float* scores = nullptr;        // scratch [heads, total]: the probabilities on return
  float* out = nullptr;           // [heads, d]
};

using DecodeAttentionFn = void (*)(const DecodeAttentionGroup&);

// (Tested against kernels/ref's reference_attention, the definition of every attention path.)
// AVX-512F; needs d % 16 == 0 and d <= 256 (any CachedElement).
void decode_attention_avx512(const DecodeAttentionGroup& g);

// The fast variant for head size d on this CPU (cpu_features(), so OCTET_ISA caps it), or nullptr: then
// callers keep the batched GEMM path.
DecodeAttentionFn decode_attention_kernel(int64_t d);

}  // namespace octet::kernels
