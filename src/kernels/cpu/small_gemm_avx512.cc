// AVX-512F microkernel of the batched small fp32 GEMM: 12 x 32 register tiles.
//
// Tile: MR = 12 rows x 32 columns = 24 zmm accumulators, 2 zmm of packed B
// and one broadcast of A per k step (27 of 32 registers). Per k: 2 loads of
// B, 12 broadcasts, 24 FMAs: 12 cycles at two 512-bit FMAs per cycle, so the
// loads have room and 24 independent chains hide the FMA latency. A is read
// in place (row stride lda). B is packed by pack_b_avx2 with 32-wide panels.
//
// Accuracy: each C element is one f32 accumulator summed over k in order
// (FMA: one rounding per step), then alpha * acc, beta * C by FMA and + bias:
// the usual gamma_{k+3} bound of a dot product computed in f32.
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <utility>

#include "kernels/cpu/small_gemm_internal.h"

// GCC 12's AVX-512 intrinsics start from `__m512 __Y = __Y;` (_mm512_undefined_*),
// which -Wmaybe-uninitialized reports at every inlined use: a known false positive.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace octet::kernels::small_gemm {
namespace {

constexpr int kLanes = 16;
constexpr int kVecs = 2;                // zmm per tile row
constexpr int kPanel = kLanes * kVecs;  // 32 columns
constexpr int kTileRows = 12;
// How far ahead a tile prefetches B: 32 steps (4 KB). A step takes ~12
// cycles, so the former 8 steps (~25 ns) hid little of DRAM's latency when a
// Linear's packed weights stream from memory (few rows):
// BM_LinearStackCold at 16 tokens 10.6 -> 9.9 ms, at 1 token 6.5 -> 6.1 ms.
constexpr int64_t kPrefetchSteps = 32;

// Lanes [0, count) of one vector (count may be <= 0 or >= 16).
inline __mmask16 lane_mask(int count) {
  return count >= kLanes ? static_cast<__mmask16>(0xFFFF)
         : count <= 0    ? static_cast<__mmask16>(0)
                         : static_cast<__mmask16>((1u << count) - 1u);
}

// C[0:MR, 0:nr] of one panel: k FMA steps, then the epilogue (masked when nr < 32).
template <int MR>
void tile(int64_t k, const float* a, int64_t lda, const float* bp, float* c, int64_t ldc, int nr, const Epilogue& ep) {
  __m512 acc[MR][kVecs];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < kVecs; ++v) acc[r][v] = _mm512_setzero_ps();
  for (int64_t kk = 0; kk < k; ++kk) {
    // B, 2 lines a step, kPrefetchSteps ahead: with few rows (and weights
    // packed at load) the panel streams from DRAM, faster than the hardware
    // prefetchers alone bring it (BERT-base at 16 tokens: see docs/kernels.md).
    _mm_prefetch(reinterpret_cast<const char*>(bp + (kk + kPrefetchSteps) * kPanel), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(bp + (kk + kPrefetchSteps) * kPanel + kLanes), _MM_HINT_T0);
    __m512 b[kVecs];
#pragma GCC unroll 4
    for (int v = 0; v < kVecs; ++v) b[v] = _mm512_loadu_ps(bp + kk * kPanel + v * kLanes);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const __m512 x = _mm512_set1_ps(a[r * lda + kk]);
#pragma GCC unroll 4
      for (int v = 0; v < kVecs; ++v) acc[r][v] = _mm512_fmadd_ps(x, b[v], acc[r][v]);
    }
  }

  const __m512 alpha = _mm512_set1_ps(ep.alpha), beta = _mm512_set1_ps(ep.beta);
  __mmask16 mask[kVecs];
  __m512 bias[kVecs];
#pragma GCC unroll 4
  for (int v = 0; v < kVecs; ++v) {
    mask[v] = lane_mask(nr - v * kLanes);
    bias[v] = ep.bias ? _mm512_maskz_loadu_ps(mask[v], ep.bias + v * kLanes) : _mm512_setzero_ps();
  }
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < kVecs; ++v) {
      float* out = c + r * ldc + v * kLanes;
      __m512 t = _mm512_mul_ps(alpha, acc[r][v]);
      if (ep.beta != 0.0f) t = _mm512_fmadd_ps(beta, _mm512_maskz_loadu_ps(mask[v], out), t);
      if (ep.bias) t = _mm512_add_ps(t, bias[v]);
      _mm512_mask_storeu_ps(out, mask[v], t);
    }
  }
}

template <size_t... R>
constexpr std::array<TileFn, sizeof...(R)> make_tiles(std::index_sequence<R...>) {
  return {&tile<static_cast<int>(R) + 1>...};
}
// kTiles[rows - 1] handles `rows` rows (the last tile of a block may be short).
constexpr auto kTiles = make_tiles(std::make_index_sequence<kTileRows>{});

void compute_rows_avx512(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* packed,
                         int64_t panel_stride, float* c, int64_t ldc, const Epilogue& ep) {
  compute_rows_tiled(kTiles.data(), kTileRows, kPanel, m, n, k, a, lda, packed, panel_stride, c, ldc, ep);
}

void pack_b_32(const float* b, int64_t ldb, bool trans_b, int64_t k, int64_t n, float* packed) {
  pack_b_avx2(b, ldb, trans_b, k, n, kPanel, packed);
}

}  // namespace

const IsaKernels kAvx512Kernels = {"avx512", kPanel, kTileRows, &pack_b_32, &compute_rows_avx512};

}  // namespace octet::kernels::small_gemm
