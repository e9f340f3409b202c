// AVX-512 VNNI weight-only kernel (kernels/wo_gemv.h, loop in
// wo_gemv_body.h): one tile of 16 outputs per vector, vpdpbusd (u8 weights x
// s8 activations, four products summed into int32 without saturation) with
// the row's 4 codes broadcast; every format enters as the unsigned u (8-bit:
// q + 128) and the offset correction o * sum(a) is applied per block in int32.
#include <cmath>

#include "kernels/cpu/wo_gemv_body.h"

// GCC 12's AVX-512 intrinsics start from `__m512 __Y = __Y;` (_mm512_undefined_*),
// which -Wmaybe-uninitialized reports at every inlined use: a known false positive.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace octet::kernels {
namespace {

struct Avx512Ops {
  static constexpr int64_t kLanes = 16, kRows = 8;
  static constexpr bool kUnsigned8 = true;
  using I = __m512i;
  using F = __m512;
  static I izero() { return _mm512_setzero_si512(); }
  static I iset1(int32_t v) { return _mm512_set1_epi32(v); }
  static F fzero() { return _mm512_setzero_ps(); }
  static F fset1(float v) { return _mm512_set1_ps(v); }
  static F fmulv(F a, F b) { return _mm512_mul_ps(a, b); }
  static F u8_to_f(const uint8_t* p) {  // 16 bytes as f32
    return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
  }
  static F fload(const float* p) { return _mm512_loadu_ps(p); }
  static I iload(const int32_t* p) { return _mm512_loadu_si512(p); }
  static void unpack4(const uint8_t* p, I& lo, I& hi) {
    const I v = _mm512_loadu_si512(p), mask = _mm512_set1_epi8(0x0F);
    lo = _mm512_and_si512(v, mask);
    hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), mask);
  }
  static I load8(const uint8_t* p) { return _mm512_loadu_si512(p); }
  // acc += dot4(w as u8, the 4 codes at a4 broadcast as s8). Inline asm with the broadcast folded into the
  // instruction's memory operand: with the intrinsic GCC 12 copies the accumulator around each use and
  // issues a separate broadcast per dot.
  static I dot4_u(I acc, I w, const int8_t* a4) {
    __asm__("vpdpbusd %[a]%{1to16%}, %[w], %[acc]"
            : [acc] "+v"(acc)
            : [w] "v"(w), [a] "m"(*reinterpret_cast<const int32_t*>(a4)));
    return acc;
  }
  static I dot4_8(I acc, I w, const int8_t* a4) { return dot4_u(acc, w, a4); }
  static I isub(I a, I b) { return _mm512_sub_epi32(a, b); }
  static I imul(I a, int32_t s) { return _mm512_mullo_epi32(a, _mm512_set1_epi32(s)); }
  static F fmul(F a, float s) { return _mm512_mul_ps(a, _mm512_set1_ps(s)); }
  // a * (*s broadcast), the broadcast folded into the memory operand at a constant displacement from s (GCC 12
  // otherwise keeps a register per row for the address).
  static F fmul_at(F a, const float* s) {
    F r;
    __asm__("vmulps %[s]%{1to16%}, %[a], %[r]" : [r] "=v"(r) : [a] "v"(a), [s] "m"(*s));
    return r;
  }
  static F fma(F a, F b, F c) { return _mm512_fmadd_ps(a, b, c); }
  static F cvt(I d) { return _mm512_cvtepi32_ps(d); }
  static void fstore(float* p, F v) { _mm512_store_ps(p, v); }
  static void fstoreu(float* p, F v) { _mm512_storeu_ps(p, v); }
};

}  // namespace

// quantize_q8_blocks, vectorised with the same operations per value: |x| by
// clearing the sign, vmaxps(|x|, acc) returns acc for a NaN |x| (as std::max
// keeps amax), the one scalar division and reciprocal, x * inv, vrndscaleps
// to nearest even, the clamp, NaN -> 0; so codes, scales and sums are equal.
void quantize_q8_blocks_avx512(const float* x, int64_t m, int64_t k, int8_t* codes, float* scales, int32_t* sums) {
  const int64_t blocks = k / kWoBlock;
  const __m512 lo = _mm512_set1_ps(-127.0f), hi = _mm512_set1_ps(127.0f);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t b = 0; b < blocks; ++b) {
      const float* xs = x + i * k + b * kWoBlock;
      const __m512 x0 = _mm512_loadu_ps(xs), x1 = _mm512_loadu_ps(xs + 16);
      const __m512 acc = _mm512_max_ps(_mm512_abs_ps(x1), _mm512_max_ps(_mm512_abs_ps(x0), _mm512_setzero_ps()));
      const float amax = _mm512_reduce_max_ps(acc);
      const float scale = amax / 127.0f;
      const __m512 inv = _mm512_set1_ps(scale > 0.0f ? 1.0f / scale : 0.0f);
      __m512i sum = _mm512_setzero_si512();
      for (int h = 0; h < 2; ++h) {
        const __m512 v = _mm512_mul_ps(h == 0 ? x0 : x1, inv);
        const __m512 r = _mm512_min_ps(_mm512_max_ps(_mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), lo), hi);
        const __mmask16 ordered = _mm512_cmp_ps_mask(v, v, _CMP_ORD_Q);
        const __m512i q = _mm512_maskz_cvtps_epi32(ordered, r);
        sum = _mm512_add_epi32(sum, q);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(codes + i * k + b * kWoBlock + h * 16), _mm512_cvtepi32_epi8(q));
      }
      scales[i * blocks + b] = std::isfinite(scale) ? scale : 0.0f;
      sums[i * blocks + b] = _mm512_reduce_add_epi32(sum);
    }
}

void wo_gemv_avx512(const PackedWoWeights& w, const int8_t* a, const float* a_scales, const int32_t* a_sums, int64_t m,
                    const WoTerms* terms, const float* bias, float* y, int64_t ldy, int64_t tile_begin,
                    int64_t tile_end) {
  wo_detail::wo_gemv_tiles<Avx512Ops>(w, a, a_scales, a_sums, m, terms, bias, y, ldy, tile_begin, tile_end);
}

}  // namespace octet::kernels
