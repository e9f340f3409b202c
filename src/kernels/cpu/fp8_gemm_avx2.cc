// AVX2 FP8 kernel (kernels/fp8_gemm.h): 8 outputs per vector, up to 4 rows;
// the e4m3 codes of a pair of inputs are split into the even and odd input's
// codes and converted to f32 in registers (normal: (code & 0x7F) << 20 plus
// 120 << 23; subnormal: m * 2^-9 from the integer m; the sign to bit 31),
// then two fmas per row in the order the definition gives (odd input
// first). The products are exact, so this equals fp8_gemm_ref bit for bit.
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <utility>

#include "kernels/fp8_gemm.h"

namespace octet::kernels {
namespace {

constexpr int kRows = 4;
constexpr int kLanes = 8;

inline __m256 decode(__m256i code) {
  const __m256i mag = _mm256_and_si256(code, _mm256_set1_epi32(0x7F));
  const __m256i normal = _mm256_add_epi32(_mm256_slli_epi32(mag, 20), _mm256_set1_epi32(120 << 23));
  const __m256 sub = _mm256_mul_ps(_mm256_cvtepi32_ps(mag), _mm256_set1_ps(1.0f / 512.0f));
  const __m256 is_sub = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(8), mag));
  const __m256 value = _mm256_blendv_ps(_mm256_castsi256_ps(normal), sub, is_sub);
  const __m256i sign = _mm256_slli_epi32(_mm256_and_si256(code, _mm256_set1_epi32(0x80)), 24);
  return _mm256_or_ps(value, _mm256_castsi256_ps(sign));
}

// R rows x 8 outputs (lanes [v * 8, v * 8 + 8) of a panel).
template <int R>
void slice_rows(const uint8_t* panel, int64_t v, int64_t pairs, const uint16_t* a, int64_t lda, const float* out_scale,
                const float* bias, float* y, int64_t ldy, int64_t valid) {
  __m256 acc[R];
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_ps();
  for (int64_t kk = 0; kk < pairs; ++kk) {
    // 8 outputs x (even, odd) codes: pair-order codes 16v .. 16v + 15, stored as two runs of 8 bytes
    // (fp8_packed_position), one 16-bit lane per output once joined.
    const uint8_t* pair = panel + kk * 2 * kFp8Panel;
    const __m128i codes = _mm_unpacklo_epi64(
        _mm_loadl_epi64(reinterpret_cast<const __m128i*>(pair + fp8_packed_position(16 * v))),
        _mm_loadl_epi64(reinterpret_cast<const __m128i*>(pair + fp8_packed_position(16 * v + 8))));
    const __m256i both = _mm256_cvtepu16_epi32(codes);
    const __m256 even = decode(_mm256_and_si256(both, _mm256_set1_epi32(0xFF)));
    const __m256 odd = decode(_mm256_srli_epi32(both, 8));
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      // The row's bf16 pair as one 32-bit word: the odd input's bits are its high half as they stand, the even
      // input's its low half shifted up (a bf16's f32 is its bits << 16).
      uint32_t pair;
      std::memcpy(&pair, a + r * lda + 2 * kk, sizeof pair);
      const __m256 odd_a = _mm256_castsi256_ps(_mm256_set1_epi32(static_cast<int32_t>(pair & 0xFFFF0000u)));
      const __m256 even_a = _mm256_castsi256_ps(_mm256_set1_epi32(static_cast<int32_t>(pair << 16)));
      acc[r] = _mm256_fmadd_ps(odd, odd_a, acc[r]);
      acc[r] = _mm256_fmadd_ps(even, even_a, acc[r]);
    }
  }
  alignas(32) float out[kLanes];
  for (int r = 0; r < R; ++r) {
    _mm256_store_ps(out, acc[r]);
    for (int64_t j = 0; j < valid; ++j) {
      const int64_t n = v * kLanes + j;
      y[r * ldy + n] = bias ? std::fma(out[j], out_scale[n], bias[n]) : out[j] * out_scale[n];
    }
  }
}

using SliceRowsFn = void (*)(const uint8_t*, int64_t, int64_t, const uint16_t*, int64_t, const float*, const float*,
                             float*, int64_t, int64_t);

template <int... R>
constexpr auto make_row_kernels(std::integer_sequence<int, R...>) {
  return std::array<SliceRowsFn, sizeof...(R)>{&slice_rows<R + 1>...};
}

}  // namespace

void fp8_gemm_avx2(const PackedFp8Weights& w, const uint16_t* a, int64_t lda, int64_t m, const float* out_scale,
                   const float* bias, float* y, int64_t ldy, int64_t panel_begin, int64_t panel_end) {
  static constexpr auto kernels = make_row_kernels(std::make_integer_sequence<int, kRows>{});
  const int64_t pairs = w.k_pairs();
  const uint8_t* codes = w.codes.data<uint8_t>();
  for (int64_t p = panel_begin; p < panel_end; ++p) {
    const uint8_t* panel = codes + p * pairs * 2 * kFp8Panel;
    const int64_t n0 = p * kFp8Panel;
    for (int64_t r0 = 0; r0 < m; r0 += kRows) {
      const int64_t rows = std::min<int64_t>(kRows, m - r0);
      for (int64_t v = 0; v < kFp8Panel / kLanes; ++v) {
        const int64_t valid = std::min<int64_t>(kLanes, w.n - n0 - v * kLanes);
        if (valid <= 0) break;
        kernels[size_t(rows - 1)](panel, v, pairs, a + r0 * lda, lda, out_scale + n0, bias ? bias + n0 : nullptr,
                                  y + r0 * ldy + n0, ldy, valid);
      }
    }
  }
}

}  // namespace octet::kernels
