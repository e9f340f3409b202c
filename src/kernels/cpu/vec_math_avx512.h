// AVX-512 building blocks: exp, erf, tail masks. Include only from
// *_avx512.cc files. Everything has internal linkage so no AVX-512 code can
// leak into other translation units.
//
// exp_ps and erf_ps are the AVX2 ones (vec_math_avx2.h) widened to 16 lanes:
// the same constants and the same sequence of correctly rounded operations,
// lane for lane, so the accuracy stated and swept there holds here too
// (tests/kernels/vec_math_test.cc sweeps both variants against the same bounds):
//   exp_ps: <= 2 ulp on [ln(FLT_MIN), 88.37]; below FLT_MIN (and -inf) -> +0;
//           saturates at exp(88.376); NaN propagates.
//   erf_ps: absolute error <= 2^-21; NaN propagates.
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace octet::kernels::avx512 {
namespace {

// fl(x / divisor) as far as rounding it to an integer can tell, mostly
// without dividing: y = x * inverse (inverse = fl(1 / divisor)) is within
// 3u |x / divisor| of the correctly rounded quotient (u = 2^-24), so both
// round to the same integer (any mode, half-even included) unless a
// half-integer lies that close to y. Lanes within 8u |y| of one, and NaN or
// infinite y, take the division; the result rounds bit-identically to
// round(x / divisor). y - floor(y) is exact for |y| >= 0.5 (Sterbenz) and off
// by < 2^-25 below, inside the margin.
inline __m512 quotient_to_round(__m512 x, __m512 divisor, __m512 inverse) {
  const __m512 y = _mm512_mul_ps(x, inverse);
  const __m512 below = _mm512_roundscale_ps(y, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
  const __m512 from_half = _mm512_abs_ps(_mm512_sub_ps(_mm512_sub_ps(y, below), _mm512_set1_ps(0.5f)));
  const __m512 margin = _mm512_mul_ps(_mm512_abs_ps(y), _mm512_set1_ps(0x1p-21f));
  const __mmask16 unsure = _mm512_cmp_ps_mask(from_half, margin, _CMP_NGT_UQ);  // <=, or NaN
  return unsure ? _mm512_mask_div_ps(y, unsure, x, divisor) : y;
}

inline __m512 exp_ps(__m512 x) {
  const __m512 hi = _mm512_set1_ps(88.3762626647949f);
  const __m512 lo = _mm512_set1_ps(-88.0f);
  const __m512 flush_below = _mm512_set1_ps(-87.33654475f);  // ln(FLT_MIN)
  // min/max return their second operand when one is NaN: keep x second so NaN survives.
  const __m512 xc = _mm512_max_ps(lo, _mm512_min_ps(hi, x));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(xc, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), xc);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  const __m512i biased = _mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127));
  const __m512 pow2n = _mm512_castsi512_ps(_mm512_slli_epi32(biased, 23));
  const __m512 result = _mm512_mul_ps(p, pow2n);
  // Below FLT_MIN (and -inf): exactly 0. NaN compares false and is kept.
  const __mmask16 keep = _mm512_cmp_ps_mask(x, flush_below, _CMP_NLT_UQ);
  return _mm512_maskz_mov_ps(keep, result);
}

// erf(x) = x P(x^2) / Q(x^2) on [-4, 4] (the rational approximation Eigen and
// XLA use for f32); |erf(x)| rounds to 1 beyond 4.
inline __m512 erf_ps(__m512 x) {
  const __m512 xc = _mm512_max_ps(_mm512_set1_ps(-4.0f), _mm512_min_ps(_mm512_set1_ps(4.0f), x));
  const __m512 x2 = _mm512_mul_ps(xc, xc);
  __m512 p = _mm512_set1_ps(-2.72614225801306e-10f);
  p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(2.77068142495902e-08f));
  p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(-2.10102402082508e-06f));
  p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(-5.69250639462346e-05f));
  p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(-7.34990630326855e-04f));
  p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(-2.95459980854025e-03f));
  p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(-1.60960333262415e-02f));
  __m512 q = _mm512_set1_ps(-1.45660718464996e-05f);
  q = _mm512_fmadd_ps(q, x2, _mm512_set1_ps(-2.13374055278905e-04f));
  q = _mm512_fmadd_ps(q, x2, _mm512_set1_ps(-1.68282697438203e-03f));
  q = _mm512_fmadd_ps(q, x2, _mm512_set1_ps(-7.37332916720468e-03f));
  q = _mm512_fmadd_ps(q, x2, _mm512_set1_ps(-1.42647390514189e-02f));
  return _mm512_div_ps(_mm512_mul_ps(xc, p), q);
}

// Mask selecting the first `count` (0..16) of 16 lanes, for ragged tails.
inline __mmask16 tail_mask(int64_t count) {
  return static_cast<__mmask16>((1u << static_cast<unsigned>(count)) - 1u);
}

// Masked-off lanes load as 0 and are never touched by stores, so a tail never
// reads or writes past the end of a row.
inline __m512 load_tail(const float* p, __mmask16 k) { return _mm512_maskz_loadu_ps(k, p); }
inline void store_tail(float* p, __mmask16 k, __m512 v) { _mm512_mask_storeu_ps(p, k, v); }

}  // namespace
}  // namespace octet::kernels::avx512
