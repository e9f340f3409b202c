// AVX-512 activation quantization rows, bit-identical to the scalar reference:
// the quotient x / scale is a multiply by the reciprocal except next to a
// rounding boundary, where it is the division (vec_math_avx512.h,
// quotient_to_round); then the same operations as quantize_act_avx2.cc, 16
// values a vector; the tail is one masked vector instead of scalar code.
#include <immintrin.h>

#include "kernels/cpu/vec_math_avx512.h"
#include "kernels/gemm_int8_internal.h"

#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC 12's _mm512_undefined_* false positive

namespace octet::int8_detail {
namespace {

inline __m512i quantize16(__m512 x, __m512 scale, __m512 inverse, __m512 zero_point, __m512 qmin, __m512 qmax) {
  __m512 v = kernels::avx512::quotient_to_round(x, scale, inverse);  // rounds as x / scale does
  v = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, v, _CMP_ORD_Q), v);  // NaN -> 0
  v = _mm512_add_ps(_mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), zero_point);
  v = _mm512_min_ps(_mm512_max_ps(v, qmin), qmax);
  return _mm512_cvtps_epi32(v);  // an integer in [-128, 127]: vpmovdb below keeps it exactly
}

}  // namespace

void quantize_row_avx512(const float* x, int64_t n, float scale, float zero_point, float qmin, float qmax,
                         int8_t* q) {
  const __m512 vs = _mm512_set1_ps(scale), vinv = _mm512_set1_ps(1.0f / scale), vz = _mm512_set1_ps(zero_point);
  const __m512 vlo = _mm512_set1_ps(qmin), vhi = _mm512_set1_ps(qmax);
  int64_t i = 0;
  for (; i + 64 <= n; i += 64)
    for (int64_t j = i; j < i + 64; j += 16)
      _mm_storeu_si128(reinterpret_cast<__m128i*>(q + j),
                       _mm512_cvtepi32_epi8(quantize16(_mm512_loadu_ps(x + j), vs, vinv, vz, vlo, vhi)));
  for (; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? __mmask16(0xffff) : __mmask16((1u << (n - i)) - 1);
    _mm512_mask_cvtepi32_storeu_epi8(q + i, m, quantize16(_mm512_maskz_loadu_ps(m, x + i), vs, vinv, vz, vlo, vhi));
  }
}

}  // namespace octet::int8_detail
