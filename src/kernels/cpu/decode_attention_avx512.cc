// AVX-512 decode-step attention (kernels/decode_attention.h).
//
// Scores: eight heads at a time (a GQA group of LLaMA-style models), each key
// row loaded once for the eight, d / 16 fused multiply-adds per head into one
// vector, the eight vectors summed by one shuffle tree into one vector of the
// eight scores (stored key by key, then written out per head); other heads one
// by one with a horizontal sum per key. Softmax: the AVX-512 row kernel.
// Values: out[h] = sum_j p[h][j] v[j] in d / 16 vector accumulators, up to four
// heads per pass over the values, a row of v loaded once for them. An INT8 / FP8 cache
// is read as codes: 16 at a time widened (int8) or decoded (e4m3) to f32 and
// multiplied by the row's scale, in registers.
#include <immintrin.h>

#include <array>
#include <limits>
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

// The 16-lane sums of a[0..7] as lanes: element 4 * r of the result is sum(a[r]) and element 4 * r + 1 is
// sum(a[4 + r]) (r = 0..3), by a tree of 128/256-bit shuffles and adds: 23 operations where eight
// horizontal reductions take about 64.
inline __m512 sum_lanes_of_8(const __m512 a[8]) {
  __m512 x[4];
  for (int i = 0; i < 4; ++i)  // [a(2i) low 256 + high 256 | a(2i+1) likewise]
    x[i] = _mm512_add_ps(_mm512_shuffle_f32x4(a[2 * i], a[2 * i + 1], 0x44),
                         _mm512_shuffle_f32x4(a[2 * i], a[2 * i + 1], 0xEE));
  // 128-bit lanes [a0 | a1 | a2 | a3] (y0) and [a4 | a5 | a6 | a7] (y1), four partial sums each.
  const __m512 y0 = _mm512_add_ps(_mm512_shuffle_f32x4(x[0], x[1], 0x88), _mm512_shuffle_f32x4(x[0], x[1], 0xDD));
  const __m512 y1 = _mm512_add_ps(_mm512_shuffle_f32x4(x[2], x[3], 0x88), _mm512_shuffle_f32x4(x[2], x[3], 0xDD));
  const __m512 t = _mm512_add_ps(_mm512_unpacklo_ps(y0, y1), _mm512_unpackhi_ps(y0, y1));
  return _mm512_add_ps(t, _mm512_permute_ps(t, 0x4E));
}

// Scores of eight heads at once: each key row is loaded once for the eight, and their dot products are
// reduced together (sum_lanes_of_8). s rows are g.total apart.
template <int NQ, class Rows>
void scores_of_8_heads(const DecodeAttentionGroup& g, Rows keys, const float* q, float* s) {
  constexpr int64_t kD = 16 * NQ;  // (a constant: head offsets become displacements, not registers)
  // The eight sums of a key land in lanes 0..7 (one permute) and are stored together, key after key, into
  // `by_key` [total][8]; the rows of s are written from it afterwards. (Eight scalar stores into eight rows
  // per key kept the loop waiting on their address arithmetic and on spilled pointers.)
  thread_local std::vector<float> by_key_buffer;
  by_key_buffer.resize(size_t(8 * g.total));
  float* const by_key = by_key_buffer.data();
  const __m512i heads_in_order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 0, 0, 0, 0, 0, 0, 0, 0);
  const __m256 scale = _mm256_set1_ps(g.scale);
  const __m256 masked = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  for (int64_t j = 0; j < g.total; ++j) {
    if (is_masked(g, j)) {
      _mm256_storeu_ps(by_key + 8 * j, masked);
      continue;
    }
    const auto k = keys.row(j);
    const __m512 k0 = k.load(0);
    __m512 acc[8];
#pragma GCC unroll 8
    for (int h = 0; h < 8; ++h) acc[h] = _mm512_mul_ps(_mm512_loadu_ps(q + h * kD), k0);
#pragma GCC unroll 16
    for (int c = 1; c < NQ; ++c) {
      const __m512 kc = k.load(c);
#pragma GCC unroll 8
      for (int h = 0; h < 8; ++h) acc[h] = _mm512_fmadd_ps(_mm512_loadu_ps(q + h * kD + 16 * c), kc, acc[h]);
    }
    const __m512 sums = _mm512_permutexvar_ps(heads_in_order, sum_lanes_of_8(acc));
    _mm256_storeu_ps(by_key + 8 * j, _mm256_mul_ps(scale, _mm512_castps512_ps256(sums)));
  }
  for (int h = 0; h < 8; ++h)
    for (int64_t j = 0; j < g.total; ++j) s[h * g.total + j] = by_key[8 * j + h];
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
    case CachedElement::I8: return kNqKernels<CodeRows<DecodeI8>>[nq](g);
    case CachedElement::F8E4M3: return kNqKernels<CodeRows<DecodeE4M3>>[nq](g);
  }
}

}  // namespace octet::kernels
