// AVX2 activation quantization rows, bit-identical to the scalar reference:
// the same IEEE operations (division, round-half-even, max/min selections)
// in the same order, 32 values per step; the tail uses the scalar code.
#include <immintrin.h>

#include "kernels/gemm_int8_internal.h"

namespace octet::int8_detail {
namespace {

inline __m256i quantize8(__m256 x, __m256 scale, __m256 zero_point, __m256 qmin, __m256 qmax) {
  __m256 v = _mm256_div_ps(x, scale);
  v = _mm256_and_ps(v, _mm256_cmp_ps(v, v, _CMP_ORD_Q));  // NaN -> 0
  v = _mm256_add_ps(_mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), zero_point);
  v = _mm256_min_ps(_mm256_max_ps(v, qmin), qmax);
  return _mm256_cvtps_epi32(v);
}

}  // namespace

void quantize_row_avx2(const float* x, int64_t n, float scale, float zero_point, float qmin, float qmax, int8_t* q) {
  const __m256 vs = _mm256_set1_ps(scale), vz = _mm256_set1_ps(zero_point);
  const __m256 vlo = _mm256_set1_ps(qmin), vhi = _mm256_set1_ps(qmax);
  // packs interleave 128-bit lanes; this permutation restores element order.
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m256i q0 = quantize8(_mm256_loadu_ps(x + i), vs, vz, vlo, vhi);
    const __m256i q1 = quantize8(_mm256_loadu_ps(x + i + 8), vs, vz, vlo, vhi);
    const __m256i q2 = quantize8(_mm256_loadu_ps(x + i + 16), vs, vz, vlo, vhi);
    const __m256i q3 = quantize8(_mm256_loadu_ps(x + i + 24), vs, vz, vlo, vhi);
    const __m256i q01 = _mm256_packs_epi32(q0, q1);  // values already in range: no saturation
    const __m256i q23 = _mm256_packs_epi32(q2, q3);
    const __m256i bytes = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(q01, q23), order);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + i), bytes);
  }
  quantize_row_scalar(x + i, n - i, scale, zero_point, qmin, qmax, q + i);
}

float absmax_avx2(const float* x, int64_t n) {
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  __m256 m0 = _mm256_setzero_ps(), m1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    // vmaxps(|x|, m) keeps m when |x| is NaN, like the scalar comparison.
    m0 = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(x + i), abs_mask), m0);
    m1 = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(x + i + 8), abs_mask), m1);
  }
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, _mm256_max_ps(m0, m1));
  // The maximum of non-NaN values does not depend on the order of comparison.
  float m = absmax_scalar(x + i, n - i);
  for (float v : lanes) m = v > m ? v : m;
  return m;
}

}  // namespace octet::int8_detail
