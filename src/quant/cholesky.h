// Dense symmetric positive definite algebra in double for GPTQ (private to
// src/quant): a blocked Cholesky factorisation and a blocked triangular
// inverse, O(n^3), parallel over octet's thread pool. Matrices are row-major
// n x n std::vector<double>.
#pragma once

#include <cstdint>
#include <vector>

namespace octet::cholesky_detail {

// Lower Cholesky factor in place: A = L L^T, reading only A's lower triangle;
// the upper triangle is set to 0. Returns -1 on success, or the index of the
// first pivot that is not positive and finite (A not numerically positive
// definite), leaving `a` partly overwritten.
int64_t cholesky_lower(std::vector<double>& a, int64_t n);

// The inverse of a lower-triangular L with a nonzero diagonal (lower again).
std::vector<double> invert_lower(const std::vector<double>& l, int64_t n);

// The upper-triangular U with U^T U = A^-1 for a symmetric positive definite A
// (torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(A)), upper=True)),
// computed as one Cholesky and one triangular inverse: with J the index
// reversal, J A J = L L^T gives A = R R^T for the upper R = J L J, so
// A^-1 = (R^-1)^T R^-1 and U = R^-1 = J L^-1 J. Returns -1 on success or the
// failing pivot's index in A's own order (U is then unspecified).
int64_t inverse_upper_cholesky(const std::vector<double>& a, int64_t n, std::vector<double>& u);

// The register tile of the blocked product (private to cholesky*.cc):
// acc[0:rows, 0:8] = A[0:rows, 0:depth] strip, where strip is B packed as
// [depth, 8] and acc is row-major [rows, 8].
inline constexpr int kTileCols = 8;
inline constexpr int kAvx2TileRows = 6;
inline constexpr int kMaxTileRows = 6;
inline constexpr int kSse2TileRows = 3;
// Baseline x86-64 (SSE2), 3 rows.
void tile_product_sse2(const double* a, int64_t lda, const double* strip, int64_t depth, double* acc);
// AVX2 + FMA (cholesky_avx2.cc), 6 rows; call only when cpu_features() reports both.
void tile_product_avx2(const double* a, int64_t lda, const double* strip, int64_t depth, double* acc);

}  // namespace octet::cholesky_detail
