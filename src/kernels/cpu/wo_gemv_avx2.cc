// AVX2 weight-only kernel (kernels/wo_gemv.h, loop in wo_gemv_body.h): half
// a tile (8 outputs) per vector. Exactness: vpmaddubsw multiplies u8 x s8 and
// adds pairs with s16 saturation. 4-bit weights u in [0, 15] with activations
// in [-127, 127]: a pair is at most 2 * 15 * 127, no saturation. 8-bit
// weights use the sign trick: |q| (<= 128 as u8) times a * sign(q) (vpsignb;
// |a| <= 127 fits), pairs at most 2 * 128 * 127 = 32512 < 32767, no offset.
// vpmaddwd with ones widens each output's 4 products to an exact int32.
#include <cmath>

#include "kernels/cpu/wo_gemv_body.h"

namespace octet::kernels {
namespace {

struct Avx2Ops {
  static constexpr int64_t kLanes = 8, kRows = 4;
  static constexpr bool kUnsigned8 = false;
  using I = __m256i;
  using F = __m256;
  static I izero() { return _mm256_setzero_si256(); }
  static I iset1(int32_t v) { return _mm256_set1_epi32(v); }
  static F fzero() { return _mm256_setzero_ps(); }
  static F fset1(float v) { return _mm256_set1_ps(v); }
  static F fmulv(F a, F b) { return _mm256_mul_ps(a, b); }
  static F u8_to_f(const uint8_t* p) {  // 8 bytes as f32
    return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
  }
  static F fload(const float* p) { return _mm256_loadu_ps(p); }
  static I iload(const int32_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
  static void unpack4(const uint8_t* p, I& lo, I& hi) {
    const I v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)), mask = _mm256_set1_epi8(0x0F);
    lo = _mm256_and_si256(v, mask);
    hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), mask);
  }
  static I load8(const uint8_t* p) {  // u - 128 = q as s8
    return _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)), _mm256_set1_epi8(-128));
  }
  static I bcast4(const int8_t* p) { return _mm256_broadcastd_epi32(_mm_loadu_si32(p)); }
  static I dot4_u(I acc, I w, const int8_t* a4) {
    const I pairs = _mm256_maddubs_epi16(w, bcast4(a4));
    return _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
  }
  static I dot4_8(I acc, I w, const int8_t* a4) {
    const I pairs = _mm256_maddubs_epi16(_mm256_abs_epi8(w), _mm256_sign_epi8(bcast4(a4), w));
    return _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
  }
  static I isub(I a, I b) { return _mm256_sub_epi32(a, b); }
  static I imul(I a, int32_t s) { return _mm256_mullo_epi32(a, _mm256_set1_epi32(s)); }
  static F fmul_at(F a, const float* s) { return _mm256_mul_ps(a, _mm256_broadcast_ss(s)); }
  static F fmul(F a, float s) { return _mm256_mul_ps(a, _mm256_set1_ps(s)); }
  static F fma(F a, F b, F c) { return _mm256_fmadd_ps(a, b, c); }
  static F cvt(I d) { return _mm256_cvtepi32_ps(d); }
  static void fstore(float* p, F v) { _mm256_store_ps(p, v); }
  static void fstoreu(float* p, F v) { _mm256_storeu_ps(p, v); }
};

}  // namespace

// quantize_q8_blocks with the same operations per value (see the AVX-512
// variant): vmaxps(|x|, acc) keeps acc for NaN, x * inv, vroundps to nearest
// even, the clamp, NaN -> 0; codes, scales and sums equal the scalar ones.
void quantize_q8_blocks_avx2(const float* x, int64_t m, int64_t k, int8_t* codes, float* scales, int32_t* sums) {
  const int64_t blocks = k / kWoBlock;
  const __m256 sign = _mm256_set1_ps(-0.0f), lo = _mm256_set1_ps(-127.0f), hi = _mm256_set1_ps(127.0f);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t b = 0; b < blocks; ++b) {
      const float* xs = x + i * k + b * kWoBlock;
      __m256 xv[4];
      __m256 acc = _mm256_setzero_ps();
      for (int h = 0; h < 4; ++h) {
        xv[h] = _mm256_loadu_ps(xs + 8 * h);
        acc = _mm256_max_ps(_mm256_andnot_ps(sign, xv[h]), acc);
      }
      __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
      m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
      m4 = _mm_max_ss(m4, _mm_shuffle_ps(m4, m4, 1));
      const float amax = _mm_cvtss_f32(m4);
      const float scale = amax / 127.0f;
      const __m256 inv = _mm256_set1_ps(scale > 0.0f ? 1.0f / scale : 0.0f);
      __m256i q[4];
      for (int h = 0; h < 4; ++h) {
        const __m256 v = _mm256_mul_ps(xv[h], inv);
        const __m256 r = _mm256_min_ps(_mm256_max_ps(_mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), lo), hi);
        q[h] = _mm256_and_si256(_mm256_cvtps_epi32(r), _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_ORD_Q)));
      }
      // int32 -> int8 (values in [-127, 127], no saturation), undoing the packs' lane interleave.
      const __m256i w16 = _mm256_packs_epi32(q[0], q[1]), w16b = _mm256_packs_epi32(q[2], q[3]);
      const __m256i b8 = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(w16, w16b), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(codes + i * k + b * kWoBlock), b8);
      __m256i s = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
      __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
      s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4E));
      s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xB1));
      scales[i * blocks + b] = std::isfinite(scale) ? scale : 0.0f;
      sums[i * blocks + b] = _mm_cvtsi128_si32(s4);
    }
}

void wo_gemv_avx2(const PackedWoWeights& w, const int8_t* a, const float* a_scales, const int32_t* a_sums, int64_t m,
                  const WoTerms* terms, const float* bias, float* y, int64_t ldy, int64_t tile_begin,
                  int64_t tile_end) {
  wo_detail::wo_gemv_tiles<Avx2Ops>(w, a, a_scales, a_sums, m, terms, bias, y, ldy, tile_begin, tile_end);
}

}  // namespace octet::kernels
