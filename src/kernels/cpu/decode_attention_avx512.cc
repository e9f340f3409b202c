// AVX-512 decode-step attention (kernels/decode_attention.h).
//
// Scores: eight heads at a time (a GQA group of LLaMA-style models), each key
// row loaded once for the eight, d / 16 fused multiply-adds per head into one
// vector, the eight vectors summed by one shuffle tree; other heads one by one
// with a horizontal sum per key. Softmax: the AVX-512 row kernel. Values:
// out[h] = sum_j p[h][j] v[j] in d / 16 vector accumulators, two heads per
// pass over the values, a row of v loaded once for both.
#include <immintrin.h>

#include <array>
#include <limits>
#include <utility>

#include "kernels/decode_attention.h"
#include "kernels/row_kernels.h"

#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC 12's _mm512_undefined_* false positive

namespace octet::kernels {
namespace {

bool is_masked(const DecodeAttentionGroup& g, int64_t j) {
  return j < g.first || j > g.last || (g.keep && !g.keep[j]);
}

template <int NQ>
float dot_key(const float* q, const float* k) {
  __m512 acc = _mm512_mul_ps(_mm512_loadu_ps(q), _mm512_loadu_ps(k));
#pragma GCC unroll 16
  for (int c = 1; c < NQ; ++c) acc = _mm512_fmadd_ps(_mm512_loadu_ps(q + 16 * c), _mm512_loadu_ps(k + 16 * c), acc);
  return _mm512_reduce_add_ps(acc);
}

template <int NQ>
void scores_of_head(const DecodeAttentionGroup& g, const float* q, float* s) {
  const float neg_inf = -std::numeric_limits<float>::infinity();
  for (int64_t j = 0; j < g.total; ++j)
    s[j] = is_masked(g, j) ? neg_inf : g.scale * dot_key<NQ>(q, g.k + j * g.ld);
}

// out rows of H heads (H = 1 or 2) from their probabilities p (rows g.total apart).
template <int NQ, int H>
void values_of_heads(const DecodeAttentionGroup& g, const float* p, float* out) {
  __m512 acc[H][NQ];
#pragma GCC unroll 2
  for (int h = 0; h < H; ++h)
#pragma GCC unroll 16
    for (int c = 0; c < NQ; ++c) acc[h][c] = _mm512_setzero_ps();
  for (int64_t j = 0; j < g.total; ++j) {
    const float* v = g.v + j * g.ld;
    __m512 w[H];
#pragma GCC unroll 2
    for (int h = 0; h < H; ++h) w[h] = _mm512_set1_ps(p[h * g.total + j]);
#pragma GCC unroll 16
    for (int c = 0; c < NQ; ++c) {
      const __m512 vc = _mm512_loadu_ps(v + 16 * c);
#pragma GCC unroll 2
      for (int h = 0; h < H; ++h) acc[h][c] = _mm512_fmadd_ps(w[h], vc, acc[h][c]);
    }
  }
#pragma GCC unroll 2
  for (int h = 0; h < H; ++h)
#pragma GCC unroll 16
    for (int c = 0; c < NQ; ++c) _mm512_storeu_ps(out + h * g.d + 16 * c, acc[h][c]);
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
template <int NQ>
void scores_of_8_heads(const DecodeAttentionGroup& g, const float* q, float* s) {
  const float neg_inf = -std::numeric_limits<float>::infinity();
  alignas(64) float sums[16];
  for (int64_t j = 0; j < g.total; ++j) {
    if (is_masked(g, j)) {
      for (int h = 0; h < 8; ++h) s[h * g.total + j] = neg_inf;
      continue;
    }
    const float* k = g.k + j * g.ld;
    __m512 acc[8];
#pragma GCC unroll 8
    for (int h = 0; h < 8; ++h) acc[h] = _mm512_mul_ps(_mm512_loadu_ps(q + h * g.d), _mm512_loadu_ps(k));
#pragma GCC unroll 16
    for (int c = 1; c < NQ; ++c) {
      const __m512 kc = _mm512_loadu_ps(k + 16 * c);
#pragma GCC unroll 8
      for (int h = 0; h < 8; ++h) acc[h] = _mm512_fmadd_ps(_mm512_loadu_ps(q + h * g.d + 16 * c), kc, acc[h]);
    }
    _mm512_store_ps(sums, sum_lanes_of_8(acc));
#pragma GCC unroll 4
    for (int r = 0; r < 4; ++r) {
      s[r * g.total + j] = g.scale * sums[4 * r];
      s[(4 + r) * g.total + j] = g.scale * sums[4 * r + 1];
    }
  }
}

template <int NQ>
void decode_attention_nq(const DecodeAttentionGroup& g) {
  int64_t h = 0;
  for (; h + 8 <= g.heads; h += 8) scores_of_8_heads<NQ>(g, g.q + h * g.d, g.scores + h * g.total);
  for (; h < g.heads; ++h) scores_of_head<NQ>(g, g.q + h * g.d, g.scores + h * g.total);
  for (h = 0; h < g.heads; ++h) {
    float* s = g.scores + h * g.total;
    kAvx512RowKernels.softmax(s, nullptr, 1.0f, s, g.total);
  }
  // Two heads per pass while their 2 * NQ accumulators fit the 32 registers with room to spare.
  h = 0;
  if constexpr (NQ <= 8)
    for (; h + 2 <= g.heads; h += 2) values_of_heads<NQ, 2>(g, g.scores + h * g.total, g.out + h * g.d);
  for (; h < g.heads; ++h) values_of_heads<NQ, 1>(g, g.scores + h * g.total, g.out + h * g.d);
}

template <int... N>
constexpr auto nq_kernels(std::integer_sequence<int, N...>) {
  return std::array<DecodeAttentionFn, sizeof...(N)>{&decode_attention_nq<N + 1>...};
}

}  // namespace

void decode_attention_avx512(const DecodeAttentionGroup& g) {
  static constexpr auto kernels = nq_kernels(std::make_integer_sequence<int, 16>{});
  kernels[size_t(g.d / 16 - 1)](g);
}

}  // namespace octet::kernels
