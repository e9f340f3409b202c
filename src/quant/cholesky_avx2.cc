// AVX2 + FMA register tile of the Cholesky / triangular-inverse product (see
// cholesky.h): 6 rows x 8 columns of sums in 12 ymm registers, the classic
// shape for 16 registers of 4 doubles.
#include <immintrin.h>

#include "quant/cholesky.h"

namespace octet::cholesky_detail {

void tile_product_avx2(const double* a, int64_t lda, const double* strip, int64_t depth, double* acc) {
  static_assert(kAvx2TileRows == 6 && kTileCols == 8);
  __m256d sums[kAvx2TileRows][2];
  for (auto& row : sums) row[0] = row[1] = _mm256_setzero_pd();
  for (int64_t k = 0; k < depth; ++k) {
    const __m256d b0 = _mm256_loadu_pd(strip + k * kTileCols);
    const __m256d b1 = _mm256_loadu_pd(strip + k * kTileCols + 4);
    for (int r = 0; r < kAvx2TileRows; ++r) {
      const __m256d ar = _mm256_broadcast_sd(a + r * lda + k);
      sums[r][0] = _mm256_fmadd_pd(ar, b0, sums[r][0]);
      sums[r][1] = _mm256_fmadd_pd(ar, b1, sums[r][1]);
    }
  }
  for (int r = 0; r < kAvx2TileRows; ++r) {
    _mm256_storeu_pd(acc + r * kTileCols, sums[r][0]);
    _mm256_storeu_pd(acc + r * kTileCols + 4, sums[r][1]);
  }
}

}  // namespace octet::cholesky_detail
