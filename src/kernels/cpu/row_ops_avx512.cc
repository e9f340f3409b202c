// AVX-512 row kernels: the AVX2 ones (row_ops_avx2.cc) on 16-lane vectors with
// masked tails. Each output is computed with the same sequence of correctly
// rounded operations as the AVX2 kernel (only the order of the row sums
// differs), so the error bounds derived in tests/kernels/row_ops_bounds.h
// apply unchanged; tests/kernels/row_ops_test.cc checks them against the
// reference. Chosen at run time by kernels/dispatch.cc (AVX-512 F/BW/VL).
//
// Only octet headers free of inline functions may be included here (see
// kernels/row_kernels.h); everything else has internal linkage.
#include <immintrin.h>

#include <cstdint>

#include "kernels/cpu/vec_math_avx512.h"
#include "kernels/row_kernels.h"

// GCC 12's 512-bit intrinsics pass _mm512_undefined_ps() (a self-initialised
// variable) as the unused pass-through operand, which -W(maybe-)uninitialized
// reports at every inlined use: a known false positive (as in small_gemm_avx512.cc).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

namespace octet::kernels {
namespace {

using namespace avx512;

// y[i] = f(x[i]) for a run of n values; the ragged tail is loaded/stored masked.
template <typename F>
inline void map_run(const float* x, float* y, int64_t n, F f) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, f(_mm512_loadu_ps(x + i)));
  if (i < n) {
    const __mmask16 k = tail_mask(n - i);
    store_tail(y + i, k, f(load_tail(x + i, k)));
  }
}

template <typename F>
inline void map_run2(const float* a, const float* b, float* y, int64_t n, F f) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, f(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i)));
  if (i < n) {
    const __mmask16 k = tail_mask(n - i);
    store_tail(y + i, k, f(load_tail(a + i, k), load_tail(b + i, k)));
  }
}

inline float sum_run(const float* x, int64_t n) {
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    s0 = _mm512_add_ps(s0, _mm512_loadu_ps(x + i));
    s1 = _mm512_add_ps(s1, _mm512_loadu_ps(x + i + 16));
  }
  for (; i + 16 <= n; i += 16) s0 = _mm512_add_ps(s0, _mm512_loadu_ps(x + i));
  if (i < n) s1 = _mm512_add_ps(s1, load_tail(x + i, tail_mask(n - i)));
  return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

inline float reciprocal_sqrt(float v) {  // correctly rounded sqrt, then a correctly rounded divide
  return 1.0f / _mm_cvtss_f32(_mm_sqrt_ss(_mm_set_ss(v)));
}

// Given the row's mean: a second pass for the variance (no E[x^2] - E[x]^2
// cancellation), a third to normalise. Rows of a transformer (768..8192
// floats) stay in L1/L2 between passes.
void normalize_with_mean(const float* x, float mean, const float* gamma, const float* beta, float eps, float* y,
                         int64_t n) {
  const __m512 vmean = _mm512_set1_ps(mean);
  __m512 q0 = _mm512_setzero_ps(), q1 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(x + i), vmean);
    const __m512 d1 = _mm512_sub_ps(_mm512_loadu_ps(x + i + 16), vmean);
    q0 = _mm512_fmadd_ps(d0, d0, q0);
    q1 = _mm512_fmadd_ps(d1, d1, q1);
  }
  for (; i + 16 <= n; i += 16) {
    const __m512 d = _mm512_sub_ps(_mm512_loadu_ps(x + i), vmean);
    q0 = _mm512_fmadd_ps(d, d, q0);
  }
  if (i < n) {
    const __mmask16 k = tail_mask(n - i);
    const __m512 d = _mm512_maskz_sub_ps(k, load_tail(x + i, k), vmean);  // masked lanes add 0
    q1 = _mm512_fmadd_ps(d, d, q1);
  }
  const float var = _mm512_reduce_add_ps(_mm512_add_ps(q0, q1)) / static_cast<float>(n);
  const __m512 vrstd = _mm512_set1_ps(reciprocal_sqrt(var + eps));
  // y = fma((x - mean) * rstd, gamma, beta): one rounding for the affine step, as in AVX2.
  i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 t = _mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(x + i), vmean), vrstd);
    _mm512_storeu_ps(y + i, _mm512_fmadd_ps(t, _mm512_loadu_ps(gamma + i), _mm512_loadu_ps(beta + i)));
  }
  if (i < n) {
    const __mmask16 k = tail_mask(n - i);
    const __m512 t = _mm512_mul_ps(_mm512_sub_ps(load_tail(x + i, k), vmean), vrstd);
    store_tail(y + i, k, _mm512_fmadd_ps(t, load_tail(gamma + i, k), load_tail(beta + i, k)));
  }
}

void avx512_layer_norm(const float* x, const float* gamma, const float* beta, float eps, float* y, int64_t n) {
  const float mean = sum_run(x, n) / static_cast<float>(n);
  normalize_with_mean(x, mean, gamma, beta, eps, y, n);
}

// The sum pass also accumulates the mean (same rounded sums the layer norm of
// the stored sum would see), saving one pass over the row.
void avx512_add_layer_norm(const float* x, const float* residual, const float* gamma, const float* beta, float eps,
                           float* sum, float* y, int64_t n) {
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512 a = _mm512_add_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(residual + i));
    const __m512 b = _mm512_add_ps(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(residual + i + 16));
    _mm512_storeu_ps(sum + i, a);
    _mm512_storeu_ps(sum + i + 16, b);
    s0 = _mm512_add_ps(s0, a);
    s1 = _mm512_add_ps(s1, b);
  }
  for (; i + 16 <= n; i += 16) {
    const __m512 a = _mm512_add_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(residual + i));
    _mm512_storeu_ps(sum + i, a);
    s0 = _mm512_add_ps(s0, a);
  }
  if (i < n) {
    const __mmask16 k = tail_mask(n - i);
    const __m512 a = _mm512_add_ps(load_tail(x + i, k), load_tail(residual + i, k));  // masked lanes: 0 + 0
    store_tail(sum + i, k, a);
    s1 = _mm512_add_ps(s1, a);
  }
  const float mean = _mm512_reduce_add_ps(_mm512_add_ps(s0, s1)) / static_cast<float>(n);
  normalize_with_mean(sum, mean, gamma, beta, eps, y, n);
}

void avx512_rms_norm(const float* x, const float* weight, float eps, bool unit_offset, float* y, int64_t n) {
  __m512 q0 = _mm512_setzero_ps(), q1 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512 a = _mm512_loadu_ps(x + i), b = _mm512_loadu_ps(x + i + 16);
    q0 = _mm512_fmadd_ps(a, a, q0);
    q1 = _mm512_fmadd_ps(b, b, q1);
  }
  for (; i + 16 <= n; i += 16) {
    const __m512 a = _mm512_loadu_ps(x + i);
    q0 = _mm512_fmadd_ps(a, a, q0);
  }
  if (i < n) {
    const __m512 a = load_tail(x + i, tail_mask(n - i));
    q1 = _mm512_fmadd_ps(a, a, q1);
  }
  const float mean_square = _mm512_reduce_add_ps(_mm512_add_ps(q0, q1)) / static_cast<float>(n);
  const __m512 vrstd = _mm512_set1_ps(reciprocal_sqrt(mean_square + eps));
  const __m512 one = _mm512_set1_ps(1.0f);
  if (unit_offset) {
    map_run2(x, weight, y, n,
             [&](__m512 v, __m512 w) { return _mm512_mul_ps(_mm512_mul_ps(v, vrstd), _mm512_add_ps(one, w)); });
  } else {
    map_run2(x, weight, y, n, [&](__m512 v, __m512 w) { return _mm512_mul_ps(_mm512_mul_ps(v, vrstd), w); });
  }
}

// Three passes: z = scale * x + mask (kept in y) and its max; e = exp(z - max)
// and its sum; y = e * (1 / sum). y may alias x.
void avx512_softmax(const float* x, const float* mask, float scale, float* y, int64_t n) {
  const float neg_inf = -__builtin_inff();
  const __m512 vscale = _mm512_set1_ps(scale);
  __m512 vmax = _mm512_set1_ps(neg_inf);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 v = _mm512_loadu_ps(x + i);
    const __m512 z = mask ? _mm512_fmadd_ps(vscale, v, _mm512_loadu_ps(mask + i)) : _mm512_mul_ps(vscale, v);
    _mm512_storeu_ps(y + i, z);
    vmax = _mm512_max_ps(vmax, z);
  }
  if (i < n) {
    const __mmask16 k = tail_mask(n - i);
    const __m512 v = load_tail(x + i, k);
    const __m512 z = mask ? _mm512_fmadd_ps(vscale, v, load_tail(mask + i, k)) : _mm512_mul_ps(vscale, v);
    store_tail(y + i, k, z);
    vmax = _mm512_mask_max_ps(vmax, k, vmax, z);  // lanes past the row keep -inf
  }
  const float max = _mm512_reduce_max_ps(vmax);
  if (max == neg_inf) {  // everything masked: zeros, not 0/0
    map_run(y, y, n, [](__m512) { return _mm512_setzero_ps(); });
    return;
  }
  const __m512 vmax_b = _mm512_set1_ps(max);
  __m512 vsum = _mm512_setzero_ps();
  i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 e = exp_ps(_mm512_sub_ps(_mm512_loadu_ps(y + i), vmax_b));
    _mm512_storeu_ps(y + i, e);
    vsum = _mm512_add_ps(vsum, e);
  }
  if (i < n) {
    const __mmask16 k = tail_mask(n - i);
    const __m512 e = exp_ps(_mm512_sub_ps(load_tail(y + i, k), vmax_b));
    store_tail(y + i, k, e);
    vsum = _mm512_mask_add_ps(vsum, k, vsum, e);  // lanes past the row add nothing
  }
  const __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(vsum));
  map_run(y, y, n, [&](__m512 e) { return _mm512_mul_ps(e, inv); });
}

// 0.5 x (1 + erf(x / sqrt 2)) with one rounding for the final h + h * erf.
void avx512_gelu(const float* x, float* y, int64_t n) {
  const __m512 half = _mm512_set1_ps(0.5f), inv_sqrt2 = _mm512_set1_ps(0.70710678118654752f);
  map_run(x, y, n, [&](__m512 v) {
    const __m512 h = _mm512_mul_ps(half, v);
    return _mm512_fmadd_ps(h, erf_ps(_mm512_mul_ps(v, inv_sqrt2)), h);
  });
}

// 0.5 (1 + tanh(w)) = sigmoid(2w): x / (1 + exp(-2w)) avoids tanh's cancellation near 0.
void avx512_gelu_tanh(const float* x, float* y, int64_t n) {
  const __m512 c = _mm512_set1_ps(0.044715f), minus_2k = _mm512_set1_ps(-2.0f * 0.79788456080286536f);
  const __m512 one = _mm512_set1_ps(1.0f);
  map_run(x, y, n, [&](__m512 v) {
    const __m512 inner = _mm512_fmadd_ps(_mm512_mul_ps(c, _mm512_mul_ps(v, v)), v, v);  // x + c x^3
    return _mm512_div_ps(v, _mm512_add_ps(one, exp_ps(_mm512_mul_ps(minus_2k, inner))));
  });
}

void avx512_quick_gelu(const float* x, float* y, int64_t n) {
  const __m512 minus_k = _mm512_set1_ps(-1.702f), one = _mm512_set1_ps(1.0f);
  map_run(x, y, n, [&](__m512 v) {
    return _mm512_div_ps(v, _mm512_add_ps(one, exp_ps(_mm512_mul_ps(minus_k, v))));
  });
}

void avx512_relu(const float* x, float* y, int64_t n) {
  const __m512 zero = _mm512_setzero_ps();
  map_run(x, y, n, [&](__m512 v) { return _mm512_max_ps(zero, v); });  // NaN (second operand) passes
}

void avx512_silu(const float* x, float* y, int64_t n) {
  const __m512 one = _mm512_set1_ps(1.0f);
  const __m512i sign = _mm512_set1_epi32(static_cast<int32_t>(0x80000000u));
  map_run(x, y, n, [&](__m512 v) {
    const __m512 minus_v = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(v), sign));
    return _mm512_div_ps(v, _mm512_add_ps(one, exp_ps(minus_v)));
  });
}

void avx512_add(const float* a, const float* b, float* y, int64_t n) {
  map_run2(a, b, y, n, [](__m512 u, __m512 v) { return _mm512_add_ps(u, v); });
}

void avx512_mul(const float* a, const float* b, float* y, int64_t n) {
  map_run2(a, b, y, n, [](__m512 u, __m512 v) { return _mm512_mul_ps(u, v); });
}

}  // namespace

namespace avx512 {
void exp_run(const float* x, float* y, int64_t n) { map_run(x, y, n, [](__m512 v) { return exp_ps(v); }); }
void erf_run(const float* x, float* y, int64_t n) { map_run(x, y, n, [](__m512 v) { return erf_ps(v); }); }
}  // namespace avx512

const RowKernels kAvx512RowKernels = {
    "avx512",          &avx512_layer_norm, &avx512_add_layer_norm, &avx512_rms_norm, &avx512_softmax,
    &avx512_gelu,      &avx512_gelu_tanh,  &avx512_quick_gelu,     &avx512_relu,     &avx512_silu,
    &avx512_add,       &avx512_mul,
};

}  // namespace octet::kernels
