// AVX-512 BF16 microkernel of the BF16 GEMM: 12 x 32 register tiles.
//
// Tile: 12 rows x 32 columns = 24 zmm f32 accumulators, 2 zmm of packed
// weights (32 columns x one pair of k) and one broadcast pair of activations
// per step. vdpbf16ps adds both products of a pair to an accumulator lane,
// so a step covers 2 values of k: 24 instructions, 12 cycles at two per
// cycle, twice the fp32 FMA kernel's work per instruction.
//
// Arithmetic: the products of two bf16 are exact in f32; vdpbf16ps adds them
// to the accumulator with a rounding each (denormal inputs read as zero and
// denormal results flush to zero, as the instruction defines).
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

#include "kernels/cpu/gemm_bf16_internal.h"

// GCC 12's AVX-512 intrinsics start from `__m512 __Y = __Y;` (_mm512_undefined_*),
// which -Wmaybe-uninitialized reports at every inlined use: a known false positive.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace octet::kernels::bf16 {
namespace {

constexpr int kLanes = 16;
constexpr int kVecs = 2;
constexpr int kPanel = kLanes * kVecs;  // 32 columns
constexpr int kTileRows = 12;
// How far ahead a tile prefetches its weights: 32 steps, 4 KB. With few rows
// the weights stream from DRAM (BERT-base's are 170 MB in bf16), and a step
// takes ~12 cycles, so 8 steps (1 KB, ~25 ns) hid far less than DRAM's
// latency: BM_LinearStackCold (bench_gemm_fp32) at 16 tokens 7.4 -> 6.0 ms.
constexpr int64_t kPrefetchSteps = 32;

inline __mmask16 lane_mask(int count) {
  return count >= kLanes ? static_cast<__mmask16>(0xFFFF)
         : count <= 0    ? static_cast<__mmask16>(0)
                         : static_cast<__mmask16>((1u << count) - 1u);
}

using TileFn = void (*)(int64_t k_pairs, const uint16_t* a, int64_t lda, const uint16_t* bp, float* c, int64_t ldc,
                        int nr, const float* bias, bool accumulate);

template <int MR>
void tile(int64_t k_pairs, const uint16_t* a, int64_t lda, const uint16_t* bp, float* c, int64_t ldc, int nr,
          const float* bias, bool accumulate) {
  __m512 acc[MR][kVecs];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < kVecs; ++v) acc[r][v] = _mm512_setzero_ps();
  for (int64_t kk = 0; kk < k_pairs; ++kk) {
    // The weights, 2 lines a step, kPrefetchSteps ahead (as the fp32 tile).
    _mm_prefetch(reinterpret_cast<const char*>(bp + (kk + kPrefetchSteps) * 2 * kPanel), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(bp + (kk + kPrefetchSteps) * 2 * kPanel + 2 * kLanes), _MM_HINT_T0);
    __m512bh b[kVecs];
#pragma GCC unroll 4
    for (int v = 0; v < kVecs; ++v)
      b[v] = reinterpret_cast<__m512bh>(_mm512_loadu_si512(bp + kk * 2 * kPanel + v * 2 * kLanes));
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      int32_t pair;  // bf16 (k, k+1) of row r: one 32-bit lane, broadcast
      std::memcpy(&pair, a + r * lda + 2 * kk, sizeof(pair));
      const __m512bh x = reinterpret_cast<__m512bh>(_mm512_set1_epi32(pair));
#pragma GCC unroll 4
      for (int v = 0; v < kVecs; ++v) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], x, b[v]);
    }
  }
  __mmask16 mask[kVecs];
  __m512 add[kVecs];
#pragma GCC unroll 4
  for (int v = 0; v < kVecs; ++v) {
    mask[v] = lane_mask(nr - v * kLanes);
    add[v] = !accumulate && bias ? _mm512_maskz_loadu_ps(mask[v], bias + v * kLanes) : _mm512_setzero_ps();
  }
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < kVecs; ++v) {
      float* out = c + r * ldc + v * kLanes;
      const __m512 prior = accumulate ? _mm512_maskz_loadu_ps(mask[v], out) : add[v];
      _mm512_mask_storeu_ps(out, mask[v], _mm512_add_ps(prior, acc[r][v]));
    }
  }
}

template <size_t... R>
constexpr std::array<TileFn, sizeof...(R)> make_tiles(std::index_sequence<R...>) {
  return {&tile<static_cast<int>(R) + 1>...};
}
constexpr auto kTiles = make_tiles(std::make_index_sequence<kTileRows>{});

}  // namespace

void compute_rows_avx512bf16(int64_t m, int64_t n, int64_t k_pairs, const uint16_t* a, int64_t lda,
                             const uint16_t* panels, int64_t panel_stride, float* c, int64_t ldc, const float* bias,
                             bool accumulate) {
  const int64_t panel_count = (n + kPanel - 1) / kPanel;
  for (int64_t r0 = 0; r0 < m; r0 += kTileRows) {
    const int64_t tile_rows = std::min<int64_t>(kTileRows, m - r0);
    const TileFn fn = kTiles[static_cast<size_t>(tile_rows - 1)];
    const int64_t next_rows = std::clamp<int64_t>(m - r0 - kTileRows, 0, kTileRows);
    for (int64_t p = 0; p < panel_count; ++p) {
      const int nr = static_cast<int>(std::min<int64_t>(kPanel, n - p * kPanel));
      // As the fp32 GEMM (small_gemm.cc, compute_rows_tiled): the next tile's
      // activations and the C this tile accumulates into, ahead of use; with
      // many rows both come from DRAM in short strided runs.
      for (int64_t r = next_rows * p / panel_count; r < next_rows * (p + 1) / panel_count; ++r)
        for (int64_t off = 0; off < k_pairs * 4; off += 64)
          _mm_prefetch(reinterpret_cast<const char*>(a + (r0 + kTileRows + r) * lda) + off, _MM_HINT_T0);
      if (accumulate)
        for (int64_t r = 0; r < tile_rows; ++r)
          for (int64_t off = 0; off < nr * 4; off += 64)
            _mm_prefetch(reinterpret_cast<const char*>(c + (r0 + r) * ldc + p * kPanel) + off, _MM_HINT_T0);
      fn(k_pairs, a + r0 * lda, lda, panels + p * panel_stride, c + r0 * ldc + p * kPanel, ldc, nr,
         bias ? bias + p * kPanel : nullptr, accumulate);
    }
  }
}

}  // namespace octet::kernels::bf16
