// AVX2 weight-only GEMV (kernels/wo_gemv.h). Exactness: vpmaddubsw multiplies
// u8 x s8 and adds pairs with s16 saturation. 4-bit weights u in [0, 15] with
// activations in [-127, 127]: a pair is at most 2 * 15 * 127, no saturation.
// 8-bit weights use the sign trick: |q| (<= 128 as u8) times a * sign(q)
// (vpsignb; |a| <= 127 fits), pairs at most 2 * 128 * 127 = 32512 < 32767.
// vpmaddwd with ones widens to exact int32 sums.
#include "kernels/cpu/wo_gemv_body.h"

namespace octet::kernels {
namespace {

struct Avx2Dot {
  static constexpr bool kUnsigned8 = false;  // 8-bit weights enter signed (no offset)
  static __m256i load8(const uint8_t* p) {
    const __m256i u = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    return _mm256_xor_si256(u, _mm256_set1_epi8(static_cast<char>(0x80)));  // u - 128 = q as s8
  }
  static __m256i partial_u(__m256i w, __m256i a) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(w, a), _mm256_set1_epi16(1));
  }
  static __m256i partial8(__m256i w, __m256i a) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(w), _mm256_sign_epi8(a, w)), _mm256_set1_epi16(1));
  }
};

}  // namespace

void wo_gemv_avx2(const PackedWoWeights& w, const int8_t* a, const float* a_scales, const int32_t* a_sums, int64_t m,
                  const float* bias, float* y, int64_t ldy, int64_t tile_begin, int64_t tile_end) {
  wo_detail::wo_gemv_tiles<Avx2Dot>(w, a, a_scales, a_sums, m, bias, y, ldy, tile_begin, tile_end);
}

}  // namespace octet::kernels
