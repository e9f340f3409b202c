// Attention of one new token over its sequence's cached keys and values (a
// decode step) for the query heads that share one key/value head (GQA):
//   s[h][j] = scale * dot(q[h], k[j]) for keys j in [first, last] with keep[j]
//             set, else -inf;
//   p[h] = softmax(s[h]) (every key masked: zeros);  out[h] = sum_j p[h][j] v[j].
// The keys and values are read where they lie (rows `ld` floats apart). The
// batched GEMM path packs both for every step instead, which costs as much as
// the product at one query row: at batch 8 and ~600 cached tokens the packing
// was a sixth of a decode step of the 1.1B model.
#pragma once

#include <cstdint>

namespace octet::kernels {

struct DecodeAttentionGroup {
  const float* q = nullptr;  // [heads, d]
  int64_t heads = 0, d = 0;
  const float* k = nullptr;  // [total, ld] (the first d of each row are used)
  const float* v = nullptr;  // [total, ld]
  int64_t ld = 0, total = 0;
  float scale = 1.0f;
  const uint8_t* keep = nullptr;  // [total], nonzero = attend; null = every key
  int64_t first = 0, last = -1;   // keys outside [first, last] are masked
  float* scores = nullptr;        // scratch [heads, total]: the probabilities on return
  float* out = nullptr;           // [heads, d]
};

using DecodeAttentionFn = void (*)(const DecodeAttentionGroup&);

// (Tested against kernels/ref's reference_attention, the definition of every attention path.)
// AVX-512F; needs d % 16 == 0 and d <= 256.
void decode_attention_avx512(const DecodeAttentionGroup& g);

// The fast variant for head size d on this CPU (cpu_features(), so OCTET_ISA caps it), or nullptr: then
// callers keep the batched GEMM path.
DecodeAttentionFn decode_attention_kernel(int64_t d);

}  // namespace octet::kernels
