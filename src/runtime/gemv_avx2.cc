// AVX2 + FMA few-row GEMV (compiled with -mavx2 -mfma; chosen at run time).
#include <immintrin.h>

#include <algorithm>

#include "runtime/gemv.h"

namespace octet::runtime {
namespace {

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// R weight rows against M input rows: R * M accumulators of 8 lanes.
template <int R, int M>
void block(const float* x, const float* w, int64_t k, const float* bias, float* y, int64_t n, int64_t j) {
  __m256 acc[R][M];
  for (int r = 0; r < R; ++r)
    for (int i = 0; i < M; ++i) acc[r][i] = _mm256_setzero_ps();
  const int64_t k8 = k & ~int64_t{7};
  for (int64_t t = 0; t < k8; t += 8) {
    __m256 xv[M];
    for (int i = 0; i < M; ++i) xv[i] = _mm256_loadu_ps(x + i * k + t);
    for (int r = 0; r < R; ++r) {
      const __m256 wv = _mm256_loadu_ps(w + (j + r) * k + t);
      for (int i = 0; i < M; ++i) acc[r][i] = _mm256_fmadd_ps(wv, xv[i], acc[r][i]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int i = 0; i < M; ++i) {
      float s = hsum(acc[r][i]);
      for (int64_t t = k8; t < k; ++t) s += w[(j + r) * k + t] * x[i * k + t];
      y[i * n + j + r] = bias ? s + bias[j + r] : s;
    }
}

template <int M>
void rows_for(const float* x, const float* w, int64_t k, const float* bias, float* y, int64_t n, int64_t begin,
              int64_t end) {
  constexpr int R = M <= 2 ? 4 : 2;  // R * M accumulators + M inputs within 16 registers
  int64_t j = begin;
  for (; j + R <= end; j += R) block<R, M>(x, w, k, bias, y, n, j);
  for (; j < end; ++j) block<1, M>(x, w, k, bias, y, n, j);
}

}  // namespace

void gemv_rows_avx2(const float* x, int64_t m, const float* w, int64_t k, const float* bias, float* y, int64_t n,
                    int64_t n_begin, int64_t n_end) {
  // Input rows four at a time (each weight row is still read once per group).
  for (int64_t r0 = 0; r0 < m; r0 += 4) {
    const float* xr = x + r0 * k;
    float* yr = y + r0 * n;
    switch (std::min<int64_t>(4, m - r0)) {
      case 1: rows_for<1>(xr, w, k, bias, yr, n, n_begin, n_end); break;
      case 2: rows_for<2>(xr, w, k, bias, yr, n, n_begin, n_end); break;
      case 3: rows_for<3>(xr, w, k, bias, yr, n, n_begin, n_end); break;
      default: rows_for<4>(xr, w, k, bias, yr, n, n_begin, n_end); break;
    }
  }
}

}  // namespace octet::runtime
