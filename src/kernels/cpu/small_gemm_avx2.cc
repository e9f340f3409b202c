// AVX2 + FMA kernels of the batched small fp32 GEMM: B packing (shared with
// the AVX-512 kernels) and a 6 x 16 register-tiled microkernel.
//
// Tile: MR = 6 rows x 16 columns = 12 ymm accumulators, 2 ymm of packed B and
// one broadcast of A per k step (15 of 16 registers). Per k: 2 loads of B,
// 6 broadcasts, 12 FMAs. A is read in place (row stride lda): each k step
// touches one float of each of the 6 rows, so the rows stream through L1.
//
// Accuracy: each C element is one f32 accumulator summed over k in order
// (FMA: one rounding per step), then alpha * acc, beta * C by FMA and + bias:
// the usual gamma_{k+3} bound of a dot product computed in f32.
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <utility>

#include "kernels/cpu/small_gemm_internal.h"

namespace octet::kernels::small_gemm {
namespace {

constexpr int kLanes = 8;
constexpr int kVecs = 2;                // ymm per tile row
constexpr int kPanel = kLanes * kVecs;  // 16 columns
constexpr int kTileRows = 6;

// Lanes [0, count) set, for maskload / maskstore of a ragged last panel.
inline __m256i lane_mask(int count) {
  const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(count), iota);
}

// Rows r[0..7] (8 floats each) -> columns: out[i] = (r0[i], ..., r7[i]).
inline void transpose8x8(__m256 r[8]) {
  const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  const __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  const __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  const __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  const __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  r[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
  r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
  r[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
  r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
  r[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
  r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
  r[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
  r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

// B is [k, n]: row kk of B fills row kk of every panel. Rows are read whole
// and in order (one sequential stream, what the hardware prefetcher follows
// best: B is usually cold), with a software prefetch a few rows ahead.
void pack_rows(const float* b, int64_t ldb, int64_t k, int64_t n, int panel_width, float* packed) {
  constexpr int64_t kPrefetchRows = 4;
  const int64_t full_panels = n / panel_width;
  const int tail = static_cast<int>(n - full_panels * panel_width);
  for (int64_t kk = 0; kk < k; ++kk) {
    const float* src = b + kk * ldb;
    if (kk + kPrefetchRows < k) {
      const float* ahead = src + kPrefetchRows * ldb;
      for (int64_t off = 0; off < n; off += 16) _mm_prefetch(reinterpret_cast<const char*>(ahead + off), _MM_HINT_T0);
    }
    for (int64_t p = 0; p < full_panels; ++p) {
      float* dst = packed + (p * k + kk) * panel_width;
      for (int j = 0; j < panel_width; j += kLanes)
        _mm256_storeu_ps(dst + j, _mm256_loadu_ps(src + p * panel_width + j));
    }
    if (tail > 0) {
      float* dst = packed + (full_panels * k + kk) * panel_width;
      std::copy(src + full_panels * panel_width, src + n, dst);
      std::fill(dst + tail, dst + panel_width, 0.0f);
    }
  }
}

// B is [n, k]: the panel is the transpose of `width` rows of B, 8 x 8 at a time.
void pack_panel_transposed(const float* b, int64_t ldb, int64_t k, int width, int panel_width, float* dst) {
  if (width < panel_width)
    for (int64_t kk = 0; kk < k; ++kk) std::fill(dst + kk * panel_width + width, dst + (kk + 1) * panel_width, 0.0f);
  const int full_cols = width / kLanes * kLanes;
  const int64_t full_k = k / kLanes * kLanes;
  for (int j0 = 0; j0 < full_cols; j0 += kLanes) {
    const float* rows = b + j0 * ldb;
    for (int64_t k0 = 0; k0 < full_k; k0 += kLanes) {
      // A Linear's weights come from DRAM (the model is far larger than the
      // caches): fetch each row 4 cache lines ahead of the 8 streams' reads.
      if (k0 % 16 == 0)
        for (int i = 0; i < 8; ++i) _mm_prefetch(reinterpret_cast<const char*>(rows + i * ldb + k0 + 64), _MM_HINT_T0);
      __m256 r[8];
      for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(rows + i * ldb + k0);
      transpose8x8(r);
      for (int i = 0; i < 8; ++i) _mm256_storeu_ps(dst + (k0 + i) * panel_width + j0, r[i]);
    }
    for (int64_t kk = full_k; kk < k; ++kk)
      for (int j = 0; j < kLanes; ++j) dst[kk * panel_width + j0 + j] = rows[j * ldb + kk];
  }
  for (int j = full_cols; j < width; ++j)
    for (int64_t kk = 0; kk < k; ++kk) dst[kk * panel_width + j] = b[j * ldb + kk];
}

// C[0:MR, 0:nr] of one panel: k FMA steps, then the epilogue (masked when nr < 16).
template <int MR>
void tile(int64_t k, const float* a, int64_t lda, const float* bp, float* c, int64_t ldc, int nr, const Epilogue& ep) {
  __m256 acc[MR][kVecs];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < kVecs; ++v) acc[r][v] = _mm256_setzero_ps();
  for (int64_t kk = 0; kk < k; ++kk) {
    __m256 b[kVecs];
#pragma GCC unroll 4
    for (int v = 0; v < kVecs; ++v) b[v] = _mm256_loadu_ps(bp + kk * kPanel + v * kLanes);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const __m256 x = _mm256_broadcast_ss(a + r * lda + kk);
#pragma GCC unroll 4
      for (int v = 0; v < kVecs; ++v) acc[r][v] = _mm256_fmadd_ps(x, b[v], acc[r][v]);
    }
  }

  const __m256 alpha = _mm256_set1_ps(ep.alpha), beta = _mm256_set1_ps(ep.beta);
  const bool full = nr == kPanel;
  __m256i mask[kVecs];
  __m256 bias[kVecs];
#pragma GCC unroll 4
  for (int v = 0; v < kVecs; ++v) {
    mask[v] = lane_mask(nr - v * kLanes);
    bias[v] = !ep.bias ? _mm256_setzero_ps()
              : full   ? _mm256_loadu_ps(ep.bias + v * kLanes)
                       : _mm256_maskload_ps(ep.bias + v * kLanes, mask[v]);
  }
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < kVecs; ++v) {
      float* out = c + r * ldc + v * kLanes;
      __m256 t = _mm256_mul_ps(alpha, acc[r][v]);
      if (ep.beta != 0.0f) t = _mm256_fmadd_ps(beta, full ? _mm256_loadu_ps(out) : _mm256_maskload_ps(out, mask[v]), t);
      if (ep.bias) t = _mm256_add_ps(t, bias[v]);
      if (full) {
        _mm256_storeu_ps(out, t);
      } else {
        _mm256_maskstore_ps(out, mask[v], t);
      }
    }
  }
}

template <size_t... R>
constexpr std::array<TileFn, sizeof...(R)> make_tiles(std::index_sequence<R...>) {
  return {&tile<static_cast<int>(R) + 1>...};
}
// kTiles[rows - 1] handles `rows` rows (the last tile of a block may be short).
constexpr auto kTiles = make_tiles(std::make_index_sequence<kTileRows>{});

void compute_rows_avx2(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* packed,
                       int64_t panel_stride, float* c, int64_t ldc, const Epilogue& ep) {
  compute_rows_tiled(kTiles.data(), kTileRows, kPanel, m, n, k, a, lda, packed, panel_stride, c, ldc, ep);
}

void pack_b_avx2_16(const float* b, int64_t ldb, bool trans_b, int64_t k, int64_t n, float* packed) {
  pack_b_avx2(b, ldb, trans_b, k, n, kPanel, packed);
}

}  // namespace

void pack_b_avx2(const float* b, int64_t ldb, bool trans_b, int64_t k, int64_t n, int panel_width, float* packed) {
  if (!trans_b) {
    pack_rows(b, ldb, k, n, panel_width, packed);
    return;
  }
  for (int64_t j0 = 0, p = 0; j0 < n; j0 += panel_width, ++p) {
    const int width = static_cast<int>(std::min<int64_t>(panel_width, n - j0));
    pack_panel_transposed(b + j0 * ldb, ldb, k, width, panel_width, packed + p * k * panel_width);
  }
}

const IsaKernels kAvx2Kernels = {"avx2", kPanel, kTileRows, &pack_b_avx2_16, &compute_rows_avx2};

}  // namespace octet::kernels::small_gemm
