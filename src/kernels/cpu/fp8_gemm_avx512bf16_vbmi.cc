// AVX-512 FP8 kernel (kernels/fp8_gemm.h): panels of 32 outputs as two
// vectors of 16 lanes, up to 8 rows at a time (16 f32 accumulators), one
// vdpbf16ps per row, vector and pair of inputs; with up to 4 rows, two panels
// at a time (four independent accumulator chains per row).
//
// The e4m3 codes become bf16 in registers through byte tables (VBMI): the
// code's 7 magnitude bits index two 128-entry tables (vpermi2b), one for the
// high byte of the value's bf16 and one for the low byte (subnormals are
// table entries like any other); the sign bit is or-ed into the high byte,
// and vpunpcklbw / vpunpckhbw interleave low and high bytes into the two
// vectors of 32 bf16 (the stored order, fp8_packed_position, is the one that
// makes their per-128-bit-lane interleave come out in pair order): five
// operations per 64 codes. With many rows a panel is converted once into a
// bf16 buffer and the rows read that.
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>
#include <vector>

#include "kernels/fp8_gemm.h"

// GCC 12's AVX-512 intrinsics start from `__m512 __Y = __Y;` (_mm512_undefined_*),
// which -Wmaybe-uninitialized reports at every inlined use: a known false positive.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace octet::kernels {
namespace {

constexpr int kRows = 8;
constexpr int kLanes = 16;
constexpr int64_t kConvertRows = 16;  // from this many rows on, a panel is converted once
constexpr int64_t kPrefetchBytes = 4096;  // software prefetch distance along a panel (R > 1 rows)

struct Converter {
  __m512i high0, high1, low0, low1;  // bf16 high / low byte of magnitudes 0-63 and 64-127
  __m512i sign = _mm512_set1_epi8(static_cast<char>(0x80));
  Converter() {
    alignas(64) uint8_t high[128], low[128];
    for (int mag = 0; mag < 128; ++mag) {
      const uint16_t bits = fp8_e4m3_to_bf16(static_cast<uint8_t>(mag));
      high[mag] = static_cast<uint8_t>(bits >> 8);
      low[mag] = static_cast<uint8_t>(bits & 0xFF);
    }
    high0 = _mm512_load_si512(high);
    high1 = _mm512_load_si512(high + 64);
    low0 = _mm512_load_si512(low);
    low1 = _mm512_load_si512(low + 64);
  }
  // 64 stored codes of one pair -> bf16 of codes 0-31 (first) and 32-63 (second), pair order.
  void operator()(const uint8_t* p, __m512i& first, __m512i& second) const {
    const __m512i codes = _mm512_loadu_si512(p);
    const __m512i hi = _mm512_ternarylogic_epi32(_mm512_permutex2var_epi8(high0, codes, high1), codes, sign, 0xF8);
    const __m512i lo = _mm512_permutex2var_epi8(low0, codes, low1);  // bit 7 (the sign) is ignored as an index
    first = _mm512_unpacklo_epi8(lo, hi);
    second = _mm512_unpackhi_epi8(lo, hi);
  }
};

inline __mmask16 lane_mask(int64_t count) {
  return count >= kLanes ? static_cast<__mmask16>(0xFFFF)
         : count <= 0    ? static_cast<__mmask16>(0)
                         : static_cast<__mmask16>((1u << count) - 1u);
}

// R rows of P consecutive panels: weights from e4m3 codes (kFromCodes) or from a converted bf16 panel (P = 1).
// With few rows, two panels give four independent vdpbf16ps chains per row instead of two (a chain's
// latency, not the conversion, limited one panel at one row).
template <int R, int P, bool kFromCodes>
void panel_rows(const Converter& cv, const void* panel, int64_t panel_stride, int64_t pairs, const uint16_t* a,
                int64_t lda, const float* out_scale, const float* bias, float* y, int64_t ldy, int64_t valid) {
  constexpr int V = 2 * P;  // vectors of 16 outputs
  __m512 acc[R][V];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) acc[r][v] = _mm512_setzero_ps();
  for (int64_t kk = 0; kk < pairs; ++kk) {
    // Several rows leave the hardware prefetcher too little lead on weights streamed from memory (as the
    // weight-only kernel, wo_gemv_body.h): fetch kPrefetchBytes ahead along each panel.
    if constexpr (kFromCodes && R > 1) {
#pragma GCC unroll 2
      for (int q = 0; q < P; ++q)
        _mm_prefetch(static_cast<const char*>(panel) + q * panel_stride + kk * 2 * kFp8Panel + kPrefetchBytes,
                     _MM_HINT_T0);
    }
    __m512bh b[V];
#pragma GCC unroll 2
    for (int q = 0; q < P; ++q) {
      if constexpr (kFromCodes) {
        __m512i first, second;
        cv(static_cast<const uint8_t*>(panel) + q * panel_stride + kk * 2 * kFp8Panel, first, second);
        b[2 * q] = reinterpret_cast<__m512bh>(first);
        b[2 * q + 1] = reinterpret_cast<__m512bh>(second);
      } else {
        const uint16_t* p = static_cast<const uint16_t*>(panel) + kk * 2 * kFp8Panel;
        b[2 * q] = reinterpret_cast<__m512bh>(_mm512_loadu_si512(p));
        b[2 * q + 1] = reinterpret_cast<__m512bh>(_mm512_loadu_si512(p + 2 * kLanes));
      }
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      int32_t pair;
      std::memcpy(&pair, a + r * lda + 2 * kk, sizeof pair);
      const __m512bh x = reinterpret_cast<__m512bh>(_mm512_set1_epi32(pair));
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], x, b[v]);
    }
  }
  for (int v = 0; v < V; ++v) {
    const __mmask16 mask = lane_mask(valid - v * kLanes);
    if (!mask) break;
    const __m512 scale = _mm512_maskz_loadu_ps(mask, out_scale + v * kLanes);
    const __m512 add = bias ? _mm512_maskz_loadu_ps(mask, bias + v * kLanes) : _mm512_setzero_ps();
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512 out = bias ? _mm512_fmadd_ps(acc[r][v], scale, add) : _mm512_mul_ps(acc[r][v], scale);
      _mm512_mask_storeu_ps(y + r * ldy + v * kLanes, mask, out);
    }
  }
}

using PanelRowsFn = void (*)(const Converter&, const void*, int64_t, int64_t, const uint16_t*, int64_t, const float*,
                             const float*, float*, int64_t, int64_t);

template <int P, bool kFromCodes, int... R>
constexpr auto make_row_kernels(std::integer_sequence<int, R...>) {
  return std::array<PanelRowsFn, sizeof...(R)>{&panel_rows<R + 1, P, kFromCodes>...};
}

constexpr int kPairRows = 4;  // up to this many rows, panels go two at a time

}  // namespace

void fp8_gemm_avx512(const PackedFp8Weights& w, const uint16_t* a, int64_t lda, int64_t m, const float* out_scale,
                     const float* bias, float* y, int64_t ldy, int64_t panel_begin, int64_t panel_end) {
  static const Converter cv;
  static constexpr auto from_codes = make_row_kernels<1, true>(std::make_integer_sequence<int, kRows>{});
  static constexpr auto two_from_codes = make_row_kernels<2, true>(std::make_integer_sequence<int, kPairRows>{});
  static constexpr auto from_bf16 = make_row_kernels<1, false>(std::make_integer_sequence<int, kRows>{});
  const int64_t pairs = w.k_pairs(), panel_stride = pairs * 2 * kFp8Panel;
  const uint8_t* codes = w.codes.data<uint8_t>();
  const bool convert_once = m >= kConvertRows;
  thread_local std::vector<uint16_t> converted;
  if (convert_once) converted.resize(size_t(panel_stride));
  for (int64_t p = panel_begin; p < panel_end;) {
    const uint8_t* panel = codes + p * panel_stride;
    const int64_t n0 = p * kFp8Panel;
    const int64_t count = !convert_once && m <= kPairRows && p + 1 < panel_end ? 2 : 1;
    const int64_t valid = std::min(count * kFp8Panel, w.n - n0);
    if (convert_once)
      for (int64_t c = 0; c < panel_stride; c += 64) {
        __m512i first, second;
        cv(panel + c, first, second);
        _mm512_storeu_si512(converted.data() + c, first);
        _mm512_storeu_si512(converted.data() + c + 32, second);
      }
    for (int64_t r0 = 0; r0 < m; r0 += kRows) {
      const int64_t rows = std::min<int64_t>(kRows, m - r0);
      const auto fn = convert_once ? from_bf16[size_t(rows - 1)]
                      : count == 2 ? two_from_codes[size_t(rows - 1)]
                                   : from_codes[size_t(rows - 1)];
      fn(cv, convert_once ? static_cast<const void*>(converted.data()) : panel, panel_stride, pairs, a + r0 * lda,
         lda, out_scale + n0, bias ? bias + n0 : nullptr, y + r0 * ldy + n0, ldy, valid);
    }
    p += count;
  }
}

}  // namespace octet::kernels
