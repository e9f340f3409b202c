// AVX-512 VNNI weight-only GEMV (kernels/wo_gemv.h): vpdpbusd (u8 x s8, four
// products summed into int32 without saturation) on 256-bit vectors
// (AVX512VL), weights entering as the unsigned u = q + o of every format
// (8-bit: q + 128 in [0, 255]); the offset correction o * sum(a) is applied
// per block in int32. Same tile loop and f32 steps as the AVX2 variant.
#include "kernels/cpu/wo_gemv_body.h"

namespace octet::kernels {
namespace {

struct VnniDot {
  static constexpr bool kUnsigned8 = true;  // 8-bit weights enter as u = q + 128, offset 128 applied
  static __m256i load8(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
  static __m256i partial_u(__m256i w, __m256i a) { return _mm256_dpbusd_epi32(_mm256_setzero_si256(), w, a); }
  static __m256i partial8(__m256i w, __m256i a) { return _mm256_dpbusd_epi32(_mm256_setzero_si256(), w, a); }
};

}  // namespace

void wo_gemv_avx512(const PackedWoWeights& w, const int8_t* a, const float* a_scales, const int32_t* a_sums,
                    int64_t m, const float* bias, float* y, int64_t ldy, int64_t tile_begin, int64_t tile_end) {
  wo_detail::wo_gemv_tiles<VnniDot>(w, a, a_scales, a_sums, m, bias, y, ldy, tile_begin, tile_end);
}

}  // namespace octet::kernels
