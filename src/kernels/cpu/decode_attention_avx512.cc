// AVX-512 decode-step attention (kernels/decode_attention.h).
//
// Scores: eight heads at a time (a GQA group of LLaMA-style models), two keys
// per step, each vector holding four heads x four elements of d against a
// 128-bit broadcast of the key (scores_of_8_heads); other heads one by one
// with a horizontal sum per key. Softmax: the AVX-512 row kernel.
// Values: out[h] = sum_j p[h][j] v[j] in d / 16 vector accumulators, up to four
// heads per pass over the values, a row of v loaded once for them. An F16 cache is
// widened 16 halves at a time; an INT8 / FP8 cache is read as codes: 16 at a time
// widened (int8) or decoded (e4m3) to f32 and multiplied by the row's scale, in registers.
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <limits>
#include <type_traits>
#include <utility>
#include <vector>

#include "kernels/decode_attention.h"
#include "kernels/row_kernels.h"
#include "octet/error.h"

#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC 12's _mm512_undefined_* false positive

namespace octet::kernels {
namespace {

bool is_masked(const DecodeAttentionGroup& g, int64_t j) {
  return j < g.first || j > g.last || (g.keep && !g.keep[j]);
}

// Cached rows as f32 vectors: Rows(cached, ld).row(j).load(c) is elements [16c, 16c + 16) of row j.
struct F32Rows {
  const float* data;
  int64_t ld;
  F32Rows(const CachedRows& r, int64_t ld_) : data(static_cast<const float*>(r.data)), ld(ld_) {}
  struct Row {
    const float* p;
    __m512 load(int c) const { return _mm512_loadu_ps(p + 16 * c); }
  };
  Row row(int64_t j) const { return {data + j * ld}; }
};

// Cached f16 rows (an F16 KV cache): 16 halves at a time widened to f32 (vcvtph2ps, exact).
struct F16Rows {
  const uint16_t* data;
  int64_t ld;
  F16Rows(const CachedRows& r, int64_t ld_) : data(static_cast<const uint16_t*>(r.data)), ld(ld_) {}
  struct Row {
    const uint16_t* p;
    __m512 load(int c) const {
      return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 16 * c)));
    }
  };
  Row row(int64_t j) const { return {data + j * ld}; }
};

// Sixteen int8 codes as f32 (exact).
struct DecodeI8 {
  static __m512 decode16(const uint8_t* p) {
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
  }
};

// Sixteen e4m3 codes as f32 (exact; = fp8_e4m3_to_float): a normal code's exponent and mantissa bits move
// to f32's (exponent rebiased by 127 - 7 = 120), a subnormal one (exponent bits 0) is m * 2^-9, the sign
// bit moves to bit 31, and S.1111.111 is NaN.
struct DecodeE4M3 {
  static __m512 decode16(const uint8_t* p) {
    const __m512i code = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    const __m512i magnitude = _mm512_and_si512(code, _mm512_set1_epi32(0x7F));
    const __m512i normal = _mm512_add_epi32(_mm512_slli_epi32(magnitude, 20), _mm512_set1_epi32(120 << 23));
    const __m512 subnormal = _mm512_mul_ps(_mm512_cvtepi32_ps(magnitude), _mm512_set1_ps(1.0f / 512.0f));
    __m512 value = _mm512_mask_blend_ps(_mm512_cmplt_epi32_mask(magnitude, _mm512_set1_epi32(8)),
                                        _mm512_castsi512_ps(normal), subnormal);
    value = _mm512_mask_mov_ps(value, _mm512_cmpeq_epi32_mask(magnitude, _mm512_set1_epi32(0x7F)),
                               _mm512_set1_ps(std::numeric_limits<float>::quiet_NaN()));
    const __m512i sign = _mm512_slli_epi32(_mm512_and_si512(code, _mm512_set1_epi32(0x80)), 24);
    return _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(value), sign));
  }
};

// Rows of code bytes: decode(code) * scale, the product rounded as kv_quant's dequantize_row rounds it.
template <class Decode>
struct CodeRows {
  const uint8_t* data;
  int64_t ld;
  const float* row_scales;
  float scale;
  CodeRows(const CachedRows& r, int64_t ld_)
      : data(static_cast<const uint8_t*>(r.data)), ld(ld_), row_scales(r.row_scales), scale(r.scale) {}
  struct Row {
    const uint8_t* p;
    __m512 s;
    __m512 load(int c) const { return _mm512_mul_ps(Decode::decode16(p + 16 * c), s); }
  };
  Row row(int64_t j) const { return {data + j * ld, _mm512_set1_ps(row_scales ? row_scales[j] : scale)}; }
};

template <int NQ, class Row>
float dot_key(const float* q, const Row& k) {
  __m512 acc = _mm512_mul_ps(_mm512_loadu_ps(q), k.load(0));
#pragma GCC unroll 16
  for (int c = 1; c < NQ; ++c) acc = _mm512_fmadd_ps(_mm512_loadu_ps(q + 16 * c), k.load(c), acc);
  return _mm512_reduce_add_ps(acc);
}

template <int NQ, class Rows>
void scores_of_head(const DecodeAttentionGroup& g, Rows keys, const float* q, float* s) {
  const float neg_inf = -std::numeric_limits<float>::infinity();
  for (int64_t j = 0; j < g.total; ++j) s[j] = is_masked(g, j) ? neg_inf : g.scale * dot_key<NQ>(q, keys.row(j));
}

// out rows of H heads (H = 1, 2 or 4) from their probabilities p (rows g.total apart).
template <int NQ, int H, class Rows>
void values_of_heads(const DecodeAttentionGroup& g, Rows values, const float* p, float* out) {
  constexpr int64_t kD = 16 * NQ;  // (a constant: head offsets become displacements, not registers)
  __m512 acc[H][NQ];
#pragma GCC unroll 4
  for (int h = 0; h < H; ++h)
#pragma GCC unroll 16
    for (int c = 0; c < NQ; ++c) acc[h][c] = _mm512_setzero_ps();
  for (int64_t j = 0; j < g.total; ++j) {
    const auto v = values.row(j);
    __m512 w[H];
#pragma GCC unroll 4
    for (int h = 0; h < H; ++h) w[h] = _mm512_set1_ps(p[h * g.total + j]);
#pragma GCC unroll 16
    for (int c = 0; c < NQ; ++c) {
      const __m512 vc = v.load(c);
#pragma GCC unroll 4
      for (int h = 0; h < H; ++h) acc[h][c] = _mm512_fmadd_ps(w[h], vc, acc[h][c]);
    }
  }
#pragma GCC unroll 4
  for (int h = 0; h < H; ++h)
#pragma GCC unroll 16
    for (int c = 0; c < NQ; ++c) _mm512_storeu_ps(out + h * kD + 16 * c, acc[h][c]);
}

// Scores of eight heads, four elements of d at a time: lane (h, e) of a vector holds head h's products of
// elements 4c + e (c = 0 .. 4 NQ - 1), so a key's 4 elements are one 128-bit broadcast and a key costs 8 NQ
// fused multiply-adds plus 5 operations to reduce (a shuffle tree over one vector per head took 23, and
// each head's q was loaded again for every key). q is rearranged once per call into qx [2][4 NQ][16] (heads 0-3, 4-7);
// two keys per iteration share qx's loads. f32 rows broadcast 4 elements from memory; code rows decode 16 (Rows::load,
// the product dequantize_row rounds) and broadcast each quarter, so both see the same values.
struct Four {
  __m512 v[4];
};
template <class Rows>
struct Quarters {
  static Four of(const typename Rows::Row& k, int c16) {
    const __m512 v = k.load(c16);
    return {{_mm512_shuffle_f32x4(v, v, 0x00), _mm512_shuffle_f32x4(v, v, 0x55), _mm512_shuffle_f32x4(v, v, 0xAA),
             _mm512_shuffle_f32x4(v, v, 0xFF)}};
  }
};
template <>
struct Quarters<F32Rows> {
  static Four of(const F32Rows::Row& k, int c16) {
    const float* p = k.p + 16 * c16;
    return {{_mm512_broadcast_f32x4(_mm_loadu_ps(p)), _mm512_broadcast_f32x4(_mm_loadu_ps(p + 4)),
             _mm512_broadcast_f32x4(_mm_loadu_ps(p + 8)), _mm512_broadcast_f32x4(_mm_loadu_ps(p + 12))}};
  }
};

template <int NQ, class Rows>
void scores_of_8_heads(const DecodeAttentionGroup& g, Rows keys, const float* q, float* s) {
  constexpr int64_t kD = 16 * NQ, kChunks = 4 * NQ;
  alignas(64) float qx[2][kChunks][16];
  for (int hg = 0; hg < 2; ++hg)
    for (int64_t c = 0; c < kChunks; ++c)
      for (int h = 0; h < 4; ++h)
        for (int e = 0; e < 4; ++e) qx[hg][c][4 * h + e] = q[(4 * hg + h) * kD + 4 * c + e];
  // The eight scores of a key are stored together, key after key, into `by_key` [total][8]; the rows of s
  // are written from it afterwards (eight scalar stores into eight rows per key were slower).
  thread_local std::vector<float> by_key_buffer;
  by_key_buffer.resize(size_t(8 * g.total));
  float* const by_key = by_key_buffer.data();
  // After the reduction, lane 4L holds head L of heads 0-3 and lane 4L + 2 head 4 + L.
  const __m512i heads_in_order = _mm512_setr_epi32(0, 4, 8, 12, 2, 6, 10, 14, 0, 0, 0, 0, 0, 0, 0, 0);
  const __m256 scale = _mm256_set1_ps(g.scale);
  const __m256 masked = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  const auto reduce_store = [&](__m512 lo, __m512 hi, int64_t j) {
    const __m512 v = _mm512_add_ps(_mm512_shuffle_ps(lo, hi, 0x44), _mm512_shuffle_ps(lo, hi, 0xEE));
    const __m512 sums = _mm512_permutexvar_ps(heads_in_order, _mm512_add_ps(v, _mm512_permute_ps(v, 0xB1)));
    _mm256_storeu_ps(by_key + 8 * j, _mm256_mul_ps(scale, _mm512_castps512_ps256(sums)));
  };
  // Keys j and j + 1 (both when pair).
  const auto keys_at = [&](int64_t j, auto pair_constant) {
    constexpr bool pair = decltype(pair_constant)::value;
    const auto k0 = keys.row(j), k1 = keys.row(pair ? j + 1 : j);
    __m512 a[2][2] = {{_mm512_setzero_ps(), _mm512_setzero_ps()}, {_mm512_setzero_ps(), _mm512_setzero_ps()}};
#pragma GCC unroll 16
    for (int c16 = 0; c16 < NQ; ++c16) {
      const Four b0 = Quarters<Rows>::of(k0, c16);
      Four b1 = b0;
      if constexpr (pair) b1 = Quarters<Rows>::of(k1, c16);
#pragma GCC unroll 4
      for (int e = 0; e < 4; ++e) {
        const __m512 q0 = _mm512_load_ps(qx[0][4 * c16 + e]), q1 = _mm512_load_ps(qx[1][4 * c16 + e]);
        a[0][0] = _mm512_fmadd_ps(q0, b0.v[e], a[0][0]);
        a[0][1] = _mm512_fmadd_ps(q1, b0.v[e], a[0][1]);
        if constexpr (pair) {
          a[1][0] = _mm512_fmadd_ps(q0, b1.v[e], a[1][0]);
          a[1][1] = _mm512_fmadd_ps(q1, b1.v[e], a[1][1]);
        }
      }
    }
    reduce_store(a[0][0], a[0][1], j);
    if constexpr (pair) reduce_store(a[1][0], a[1][1], j + 1);
  };
  // Only keys inside the window [first, last] are computed (a sliding window over a long cache skips the
  // rest); padding masks inside it are applied after.
  const int64_t begin = std::max<int64_t>(g.first, 0), end = std::min<int64_t>(g.last + 1, g.total);
  int64_t j = begin;
  for (; j + 2 <= end; j += 2) keys_at(j, std::true_type{});
  if (j < end) keys_at(j, std::false_type{});
  for (j = 0; j < g.total; ++j)
    if (is_masked(g, j)) _mm256_storeu_ps(by_key + 8 * j, masked);
  for (int h = 0; h < 8; ++h)
    for (int64_t jj = 0; jj < g.total; ++jj) s[h * g.total + jj] = by_key[8 * jj + h];
}

template <int NQ, class Rows>
void decode_attention_nq(const DecodeAttentionGroup& g) {
  const Rows keys(g.k, g.ld), values(g.v, g.ld);
  int64_t h = 0;
  for (; h + 8 <= g.heads; h += 8) scores_of_8_heads<NQ>(g, keys, g.q + h * g.d, g.scores + h * g.total);
  for (; h < g.heads; ++h) scores_of_head<NQ>(g, keys, g.q + h * g.d, g.scores + h * g.total);
  for (h = 0; h < g.heads; ++h) {
    float* s = g.scores + h * g.total;
    kAvx512RowKernels.softmax(s, nullptr, 1.0f, s, g.total);
  }
  // Several heads per pass while their accumulators fit the 32 registers with room to spare (each row of
  // v is loaded once for them).
  h = 0;
  if constexpr (NQ <= 4)
    for (; h + 4 <= g.heads; h += 4) values_of_heads<NQ, 4>(g, values, g.scores + h * g.total, g.out + h * g.d);
  if constexpr (NQ <= 8)
    for (; h + 2 <= g.heads; h += 2) values_of_heads<NQ, 2>(g, values, g.scores + h * g.total, g.out + h * g.d);
  for (; h < g.heads; ++h) values_of_heads<NQ, 1>(g, values, g.scores + h * g.total, g.out + h * g.d);
}

// decode_attention_nq<NQ, Rows> for NQ = 1 .. 16 (d = 16 NQ), indexed by NQ - 1.
template <class Rows, int... N>
constexpr auto nq_kernels(std::integer_sequence<int, N...>) {
  return std::array<DecodeAttentionFn, sizeof...(N)>{&decode_attention_nq<N + 1, Rows>...};
}

template <class Rows>
constexpr auto kNqKernels = nq_kernels<Rows>(std::make_integer_sequence<int, 16>{});

}  // namespace

void decode_attention_avx512(const DecodeAttentionGroup& g) {
  check(g.k.element == g.v.element, "decode_attention", "keys and values must be cached as one element type");
  const size_t nq = size_t(g.d / 16 - 1);
  switch (g.k.element) {
    case CachedElement::F32: return kNqKernels<F32Rows>[nq](g);
    case CachedElement::F16:
      return kNqKernels<F16Rows>[nq](g);
    case CachedElement::I8: return kNqKernels<CodeRows<DecodeI8>>[nq](g);
    case CachedElement::F8E4M3: return kNqKernels<CodeRows<DecodeE4M3>>[nq](g);
  }
}

}  // namespace octet::kernels
