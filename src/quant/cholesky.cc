// Blocked Cholesky and triangular inverse in double (see cholesky.h).
//
// Both spend their O(n^3) work in one register-tiled product C += sign * A B
// on row-major panels, spread over the thread pool; the O(n^2 * block) rest
// (diagonal blocks, panel solves) is plain loops. The tile runs on AVX2 + FMA
// when the CPU has them (cholesky_avx2.cc), else on baseline SSE2; the two
// differ only in rounding (FMA), well inside what GPTQ cares about.
#include "quant/cholesky.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "octet/cpu_features.h"
#include "octet/thread_pool.h"

namespace octet::cholesky_detail {
namespace {

constexpr int64_t kBlock = 64;         // diagonal block / panel width
constexpr int64_t kDepth = 256;        // k-slice: a packed 256 x 8 strip of B (16 KiB) stays in L1
constexpr int64_t kRowsPerTask = 48;   // rows of the Cholesky update per parallel task (a multiple of every tile)

// Two doubles: GCC / Clang vector extensions, so the SSE2 tile is vectorised
// as written rather than however the auto-vectoriser reshapes it (which spilled).
using Double2 = double __attribute__((vector_size(16)));
constexpr int kVectors = kTileCols / 2;

}  // namespace

// 3 x 8 sums fill 12 of SSE2's 16 registers.
void tile_product_sse2(const double* a, int64_t lda, const double* strip, int64_t depth, double* acc) {
  Double2 sums[kSse2TileRows][kVectors] = {};
  for (int64_t k = 0; k < depth; ++k) {
    Double2 b[kVectors];
    std::memcpy(b, strip + k * kTileCols, sizeof(b));
    for (int r = 0; r < kSse2TileRows; ++r) {
      const double x = a[r * lda + k];
      const Double2 ar = {x, x};
      for (int v = 0; v < kVectors; ++v) sums[r][v] += ar * b[v];
    }
  }
  for (int r = 0; r < kSse2TileRows; ++r)
    for (int v = 0; v < kVectors; ++v) {
      acc[r * kTileCols + 2 * v] = sums[r][v][0];
      acc[r * kTileCols + 2 * v + 1] = sums[r][v][1];
    }
}

namespace {

struct TileKernel {
  int rows;
  void (*product)(const double* a, int64_t lda, const double* strip, int64_t depth, double* acc);
};

const TileKernel& tile_kernel() {
  static const TileKernel kernel = [] {
    const CpuFeatures& f = cpu_features();
    return f.avx2 && f.fma ? TileKernel{kAvx2TileRows, tile_product_avx2}
                           : TileKernel{kSse2TileRows, tile_product_sse2};
  }();
  return kernel;
}

// C[m, nc] += sign * A[m, kk] B[kk, nc], all row-major with leading dimensions.
// For each k-slice and 8-column strip, the strip of B is packed contiguously
// (zero-padded) and reused by every row tile of A; a last partial tile of rows
// goes through a zero-padded copy, so one kernel serves every tile.
void multiply_accumulate(const double* a, int64_t lda, const double* b, int64_t ldb, double* c, int64_t ldc,
                         int64_t m, int64_t nc, int64_t kk, double sign) {
  const TileKernel& kernel = tile_kernel();
  alignas(64) double strip[kDepth * kTileCols];
  alignas(64) double rows_pad[kMaxTileRows * kDepth];
  alignas(64) double acc[kMaxTileRows * kTileCols];
  for (int64_t k0 = 0; k0 < kk; k0 += kDepth) {
    const int64_t depth = std::min(kDepth, kk - k0);
    for (int64_t j = 0; j < nc; j += kTileCols) {
      const int64_t cols = std::min<int64_t>(kTileCols, nc - j);
      for (int64_t k = 0; k < depth; ++k) {
        const double* src = b + (k0 + k) * ldb + j;
        for (int64_t s = 0; s < kTileCols; ++s) strip[k * kTileCols + s] = s < cols ? src[s] : 0.0;
      }
      for (int64_t i = 0; i < m; i += kernel.rows) {
        const int64_t rows = std::min<int64_t>(kernel.rows, m - i);
        if (rows == kernel.rows) {
          kernel.product(a + i * lda + k0, lda, strip, depth, acc);
        } else {
          for (int64_t r = 0; r < kernel.rows; ++r) {
            double* dst = rows_pad + r * kDepth;
            if (r < rows) {
              std::copy(a + (i + r) * lda + k0, a + (i + r) * lda + k0 + depth, dst);
            } else {
              std::fill(dst, dst + depth, 0.0);
            }
          }
          kernel.product(rows_pad, kDepth, strip, depth, acc);
        }
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t s = 0; s < cols; ++s) c[(i + r) * ldc + j + s] += sign * acc[r * kTileCols + s];
      }
    }
  }
}

// Runs fn(t) for t in [0, tasks) where task t's cost falls with t (triangular
// work): tasks are dealt in pairs (t, tasks - 1 - t) so each thread gets an
// even share.
template <typename Fn>
void parallel_balanced(int64_t tasks, Fn&& fn) {
  parallel_for((tasks + 1) / 2, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      fn(p);
      if (tasks - 1 - p != p) fn(tasks - 1 - p);
    }
  });
}

}  // namespace

int64_t cholesky_lower(std::vector<double>& a_vec, int64_t n) {
  double* a = a_vec.data();
  std::vector<double> bt;  // L[j0:j1, 0:j0] transposed: [j0, w]
  for (int64_t j0 = 0; j0 < n; j0 += kBlock) {
    const int64_t j1 = std::min(n, j0 + kBlock), w = j1 - j0;
    if (j0 > 0) {
      // Left-looking update of the block column: A[j0:n, j0:j1] -= L[j0:n, 0:j0] L[j0:j1, 0:j0]^T.
      bt.assign(static_cast<size_t>(j0 * w), 0.0);
      for (int64_t jj = 0; jj < w; ++jj)
        for (int64_t k = 0; k < j0; ++k) bt[k * w + jj] = a[(j0 + jj) * n + k];
      const int64_t tiles = (n - j0 + kRowsPerTask - 1) / kRowsPerTask;
      parallel_for(tiles, [&](int64_t t0, int64_t t1) {
        const int64_t r0 = j0 + t0 * kRowsPerTask, r1 = std::min(n, j0 + t1 * kRowsPerTask);
        multiply_accumulate(a + r0 * n, n, bt.data(), w, a + r0 * n + j0, n, r1 - r0, w, j0, -1.0);
      });
    }
    // The diagonal block, unblocked.
    for (int64_t j = j0; j < j1; ++j) {
      double d = a[j * n + j];
      for (int64_t k = j0; k < j; ++k) d -= a[j * n + k] * a[j * n + k];
      if (!(d > 0.0) || !std::isfinite(d)) return j;
      const double pivot = std::sqrt(d);
      a[j * n + j] = pivot;
      for (int64_t i = j + 1; i < j1; ++i) {
        double v = a[i * n + j];
        for (int64_t k = j0; k < j; ++k) v -= a[i * n + k] * a[j * n + k];
        a[i * n + j] = v / pivot;
      }
    }
    // The panel below it: L[i, j0:j1] = A[i, j0:j1] L_jj^-T, row by row.
    parallel_for(n - j1, [&](int64_t i0, int64_t i1) {
      for (int64_t i = j1 + i0; i < j1 + i1; ++i) {
        double* row = a + i * n;
        for (int64_t j = j0; j < j1; ++j) {
          double v = row[j];
          for (int64_t k = j0; k < j; ++k) v -= row[k] * a[j * n + k];
          row[j] = v / a[j * n + j];
        }
      }
    }, 16);
  }
  for (int64_t i = 0; i < n; ++i) std::fill(a + i * n + i + 1, a + (i + 1) * n, 0.0);
  return -1;
}

std::vector<double> invert_lower(const std::vector<double>& l_vec, int64_t n) {
  const double* l = l_vec.data();
  std::vector<double> m_vec(static_cast<size_t>(n * n), 0.0);
  double* m = m_vec.data();
  std::vector<double> t;  // -L[I, 0:i0] M[0:i0, 0:i0]: [h, i0]
  for (int64_t i0 = 0; i0 < n; i0 += kBlock) {
    const int64_t i1 = std::min(n, i0 + kBlock), h = i1 - i0;
    // M_II = L_II^-1, row by row (forward substitution).
    for (int64_t i = i0; i < i1; ++i) {
      m[i * n + i] = 1.0 / l[i * n + i];
      for (int64_t j = i0; j < i; ++j) {
        double v = 0.0;
        for (int64_t k = j; k < i; ++k) v += l[i * n + k] * m[k * n + j];
        m[i * n + j] = -v / l[i * n + i];
      }
    }
    if (i0 == 0) continue;
    // M[I, 0:i0] = -M_II L[I, 0:i0] M[0:i0, 0:i0]; M[0:i0, 0:i0] is lower, so
    // column tile [j, j + width) only needs rows k >= j of it.
    t.assign(static_cast<size_t>(h * i0), 0.0);
    constexpr int64_t kWidth = 32;
    const int64_t tiles = (i0 + kWidth - 1) / kWidth;
    parallel_balanced(tiles, [&](int64_t tile) {
      const int64_t j = tile * kWidth, width = std::min(kWidth, i0 - j);
      multiply_accumulate(l + i0 * n + j, n, m + j * n + j, n, t.data() + j, i0, h, width, i0 - j, -1.0);
    });
    // M_II is lower with zeros above its diagonal, so the full h x h product is exact.
    parallel_balanced(tiles, [&](int64_t tile) {
      const int64_t j = tile * kWidth, width = std::min(kWidth, i0 - j);
      multiply_accumulate(m + i0 * n + i0, n, t.data() + j, i0, m + i0 * n + j, n, h, width, h, 1.0);
    });
  }
  return m_vec;
}

int64_t inverse_upper_cholesky(const std::vector<double>& a, int64_t n, std::vector<double>& u) {
  // J A J: reversing the row-major array reverses both indices.
  std::vector<double> l(a.rbegin(), a.rend());
  const int64_t failed = cholesky_lower(l, n);
  if (failed >= 0) return n - 1 - failed;
  u = invert_lower(l, n);
  std::reverse(u.begin(), u.end());
  return -1;
}

}  // namespace octet::cholesky_detail
