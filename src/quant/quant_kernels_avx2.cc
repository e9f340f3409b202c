// AVX2 variant of the quantization inner loops. Same arithmetic as the scalar
// reference in quant_kernels.cc, 32 elements per step; tails use the scalar
// element formula so results are bit-identical (checked in tests/quant).
//
// Operand order of min/max matters for bit-exactness: _mm256_max_ps(a, b)
// returns b when the two compare equal (+0 vs -0), which is exactly
// `a > b ? a : b`; the scalar code is written the same way.
#include <immintrin.h>

#include <cmath>

#include "quant/quant_kernels.h"

namespace octet::quant_detail {
namespace {

inline __m256 round8(__m256 v, Rounding rounding) {
  if (rounding == Rounding::NearestEven) return _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __m256 sign_mask = _mm256_set1_ps(-0.0f);
  const __m256 frac = _mm256_andnot_ps(sign_mask, _mm256_sub_ps(v, t));
  const __m256 away = _mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ);
  const __m256 step = _mm256_or_ps(_mm256_and_ps(v, sign_mask), _mm256_set1_ps(1.0f));
  return _mm256_add_ps(t, _mm256_and_ps(away, step));
}

// Per-lane parameters for 8 elements starting at element i of the run.
struct Lanes {
  __m256 inv, scale, lo, hi;
  __m256i zp;
};

inline Lanes load_lanes(const RunParams& p, int64_t i, int qmin, int qmax) {
  Lanes l;
  if (p.stride == 0) {
    l.inv = _mm256_set1_ps(p.inv_scale[0]);
    l.scale = _mm256_set1_ps(p.scale[0]);
    l.zp = _mm256_set1_epi32(p.zero_point[0]);
  } else {
    l.inv = _mm256_loadu_ps(p.inv_scale + i);
    l.scale = _mm256_loadu_ps(p.scale + i);
    l.zp = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p.zero_point + i));
  }
  l.lo = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_set1_epi32(qmin), l.zp));
  l.hi = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_set1_epi32(qmax), l.zp));
  return l;
}

// round(x * inv) clamped to [qmin - zp, qmax - zp]; NaN -> 0.
inline __m256 level8(const float* x, const Lanes& l, Rounding rounding) {
  __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x), l.inv);
  v = _mm256_and_ps(v, _mm256_cmp_ps(v, v, _CMP_ORD_Q));
  const __m256 r = round8(v, rounding);
  return _mm256_min_ps(l.hi, _mm256_max_ps(l.lo, r));
}

inline __m256i code8(const float* x, const RunParams& p, int64_t i, int qmin, int qmax, Rounding rounding) {
  const Lanes l = load_lanes(p, i, qmin, qmax);
  return _mm256_add_epi32(_mm256_cvtps_epi32(level8(x + i, l, rounding)), l.zp);
}

void quantize_avx2(const float* x, int64_t n, RunParams p, int qmin, int qmax, Rounding rounding, uint8_t* codes) {
  const bool is_signed = qmin < 0;
  // packs/packus work within 128-bit lanes; this permutation restores order.
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m256i a = code8(x, p, i, qmin, qmax, rounding);
    const __m256i b = code8(x, p, i + 8, qmin, qmax, rounding);
    const __m256i c = code8(x, p, i + 16, qmin, qmax, rounding);
    const __m256i d = code8(x, p, i + 24, qmin, qmax, rounding);
    // Codes are already inside [qmin, qmax], so neither pack saturates.
    const __m256i ab = _mm256_packs_epi32(a, b);
    const __m256i cd = _mm256_packs_epi32(c, d);
    const __m256i bytes = is_signed ? _mm256_packs_epi16(ab, cd) : _mm256_packus_epi16(ab, cd);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(codes + i), _mm256_permutevar8x32_epi32(bytes, order));
  }
  if (i < n) {
    const RunParams tail{p.scale + i * p.stride, p.inv_scale + i * p.stride, p.zero_point + i * p.stride, p.stride};
    scalar_quant_kernels().quantize(x + i, n - i, tail, qmin, qmax, rounding, codes + i);
  }
}

void dequantize_avx2(const uint8_t* codes, bool is_signed, int64_t n, RunParams p, float* out) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i raw = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(codes + i));
    const __m256i q = is_signed ? _mm256_cvtepi8_epi32(raw) : _mm256_cvtepu8_epi32(raw);
    const __m256i zp = p.stride == 0 ? _mm256_set1_epi32(p.zero_point[0])
                                     : _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p.zero_point + i));
    const __m256 scale = p.stride == 0 ? _mm256_set1_ps(p.scale[0]) : _mm256_loadu_ps(p.scale + i);
    _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(q, zp)), scale));
  }
  if (i < n) {
    const RunParams tail{p.scale + i * p.stride, p.inv_scale + i * p.stride, p.zero_point + i * p.stride, p.stride};
    scalar_quant_kernels().dequantize(codes + i, is_signed, n - i, tail, out + i);
  }
}

void fake_quantize_avx2(const float* x, int64_t n, RunParams p, int qmin, int qmax, Rounding rounding, float* out) {
  const __m256 zero = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const Lanes l = load_lanes(p, i, qmin, qmax);
    // + 0 turns -0 into +0, as float(q - zp) would.
    const __m256 level = _mm256_add_ps(level8(x + i, l, rounding), zero);
    _mm256_storeu_ps(out + i, _mm256_mul_ps(level, l.scale));
  }
  if (i < n) {
    const RunParams tail{p.scale + i * p.stride, p.inv_scale + i * p.stride, p.zero_point + i * p.stride, p.stride};
    scalar_quant_kernels().fake_quantize(x + i, n - i, tail, qmin, qmax, rounding, out + i);
  }
}

bool min_max_avx2(const float* x, int64_t n, float* lo, float* hi) {
  __m256 a = _mm256_set1_ps(*lo), b = _mm256_set1_ps(*hi);
  __m256 poison = _mm256_setzero_ps();
  const __m256 zero = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    a = _mm256_min_ps(v, a);  // v < a ? v : a
    b = _mm256_max_ps(v, b);  // v > b ? v : b
    poison = _mm256_add_ps(poison, _mm256_mul_ps(v, zero));
  }
  alignas(32) float la[8], lb[8], lp[8];
  _mm256_store_ps(la, a);
  _mm256_store_ps(lb, b);
  _mm256_store_ps(lp, poison);
  float ra = *lo, rb = *hi, rp = 0.0f;
  for (int k = 0; k < 8; ++k) {
    ra = la[k] < ra ? la[k] : ra;
    rb = lb[k] > rb ? lb[k] : rb;
    rp += lp[k];
  }
  bool finite = rp == 0.0f;
  if (i < n) finite = scalar_quant_kernels().min_max(x + i, n - i, &ra, &rb) && finite;
  *lo = ra;
  *hi = rb;
  return finite;
}

}  // namespace

extern const QuantKernels kAvx2QuantKernels;
constexpr QuantKernels kAvx2QuantKernels{"avx2", quantize_avx2, dequantize_avx2, fake_quantize_avx2, min_max_avx2};

}  // namespace octet::quant_detail
