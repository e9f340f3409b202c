// AVX2 + FMA row kernels. Chosen at run time (kernels/dispatch.cc) and tested
// against the reference in kernels/ref with tolerances from the error bounds
// derived in tests/kernels/row_ops_test.cc.
//
// Only octet headers free of inline functions may be included here (see
// kernels/row_kernels.h); everything else has internal linkage.
#include <immintrin.h>

#include <cstdint>

#include "kernels/cpu/vec_math_avx2.h"
#include "kernels/row_kernels.h"

namespace octet::kernels {
namespace {

using namespace avx2;

inline __m256 tail_mask_ps(int64_t count) { return _mm256_castsi256_ps(tail_mask(count)); }

// y[i] = f(x[i]) for a run of n values; the ragged tail is loaded/stored masked.
template <typename F>
inline void map_run(const float* x, float* y, int64_t n, F f) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, f(_mm256_loadu_ps(x + i)));
  if (i < n) store_tail(y + i, n - i, f(load_tail(x + i, n - i)));
}

template <typename F>
inline void map_run2(const float* a, const float* b, float* y, int64_t n, F f) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, f(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
  if (i < n) store_tail(y + i, n - i, f(load_tail(a + i, n - i), load_tail(b + i, n - i)));
}

inline float sum_run(const float* x, int64_t n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    s0 = _mm256_add_ps(s0, _mm256_loadu_ps(x + i));
    s1 = _mm256_add_ps(s1, _mm256_loadu_ps(x + i + 8));
  }
  for (; i + 8 <= n; i += 8) s0 = _mm256_add_ps(s0, _mm256_loadu_ps(x + i));
  if (i < n) s1 = _mm256_add_ps(s1, load_tail(x + i, n - i));
  return hsum(_mm256_add_ps(s0, s1));
}

inline float reciprocal_sqrt(float v) {  // correctly rounded sqrt, then a correctly rounded divide
  return 1.0f / _mm_cvtss_f32(_mm_sqrt_ss(_mm_set_ss(v)));
}

// Two passes over x for mean and variance (no E[x^2] - E[x]^2 cancellation),
// a third to normalise.
void avx2_layer_norm_from(const float* x, const float* gamma, const float* beta, float eps, float* y, int64_t n) {
  const float mean = sum_run(x, n) / static_cast<float>(n);
  const __m256 vmean = _mm256_set1_ps(mean);
  __m256 q0 = _mm256_setzero_ps(), q1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(x + i), vmean);
    const __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(x + i + 8), vmean);
    q0 = _mm256_fmadd_ps(d0, d0, q0);
    q1 = _mm256_fmadd_ps(d1, d1, q1);
  }
  for (; i + 8 <= n; i += 8) {
    const __m256 d = _mm256_sub_ps(_mm256_loadu_ps(x + i), vmean);
    q0 = _mm256_fmadd_ps(d, d, q0);
  }
  if (i < n) {
    const __m256 d = _mm256_and_ps(_mm256_sub_ps(load_tail(x + i, n - i), vmean), tail_mask_ps(n - i));
    q1 = _mm256_fmadd_ps(d, d, q1);
  }
  const float var = hsum(_mm256_add_ps(q0, q1)) / static_cast<float>(n);
  const __m256 vrstd = _mm256_set1_ps(reciprocal_sqrt(var + eps));
  i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 t = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), vmean), vrstd);
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(t, _mm256_loadu_ps(gamma + i), _mm256_loadu_ps(beta + i)));
  }
  if (i < n) {
    const int64_t r = n - i;
    const __m256 t = _mm256_mul_ps(_mm256_sub_ps(load_tail(x + i, r), vmean), vrstd);
    store_tail(y + i, r, _mm256_fmadd_ps(t, load_tail(gamma + i, r), load_tail(beta + i, r)));
  }
}

void avx2_layer_norm(const float* x, const float* gamma, const float* beta, float eps, float* y, int64_t n) {
  avx2_layer_norm_from(x, gamma, beta, eps, y, n);
}

void avx2_add_layer_norm(const float* x, const float* residual, const float* gamma, const float* beta, float eps,
                         float* sum, float* y, int64_t n) {
  map_run2(x, residual, sum, n, [](__m256 a, __m256 b) { return _mm256_add_ps(a, b); });
  avx2_layer_norm_from(sum, gamma, beta, eps, y, n);
}

void avx2_rms_norm(const float* x, const float* weight, float eps, bool unit_offset, float* y, int64_t n) {
  __m256 q0 = _mm256_setzero_ps(), q1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256 a = _mm256_loadu_ps(x + i), b = _mm256_loadu_ps(x + i + 8);
    q0 = _mm256_fmadd_ps(a, a, q0);
    q1 = _mm256_fmadd_ps(b, b, q1);
  }
  for (; i + 8 <= n; i += 8) {
    const __m256 a = _mm256_loadu_ps(x + i);
    q0 = _mm256_fmadd_ps(a, a, q0);
  }
  if (i < n) {
    const __m256 a = load_tail(x + i, n - i);
    q1 = _mm256_fmadd_ps(a, a, q1);
  }
  const float mean_square = hsum(_mm256_add_ps(q0, q1)) / static_cast<float>(n);
  const __m256 vrstd = _mm256_set1_ps(reciprocal_sqrt(mean_square + eps));
  const __m256 one = _mm256_set1_ps(1.0f);
  if (unit_offset) {
    map_run2(x, weight, y, n,
             [&](__m256 v, __m256 w) { return _mm256_mul_ps(_mm256_mul_ps(v, vrstd), _mm256_add_ps(one, w)); });
  } else {
    map_run2(x, weight, y, n, [&](__m256 v, __m256 w) { return _mm256_mul_ps(_mm256_mul_ps(v, vrstd), w); });
  }
}

// Three passes: z = scale * x + mask (kept in y) and its max; e = exp(z - max)
// and its sum; y = e * (1 / sum). y may alias x.
void avx2_softmax(const float* x, const float* mask, float scale, float* y, int64_t n) {
  const float neg_inf = -__builtin_inff();
  const __m256 vscale = _mm256_set1_ps(scale);
  const __m256 vneg_inf = _mm256_set1_ps(neg_inf);
  __m256 vmax = vneg_inf;
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    const __m256 z = mask ? _mm256_fmadd_ps(vscale, v, _mm256_loadu_ps(mask + i)) : _mm256_mul_ps(vscale, v);
    _mm256_storeu_ps(y + i, z);
    vmax = _mm256_max_ps(vmax, z);
  }
  if (i < n) {
    const int64_t r = n - i;
    const __m256 v = load_tail(x + i, r);
    const __m256 z = mask ? _mm256_fmadd_ps(vscale, v, load_tail(mask + i, r)) : _mm256_mul_ps(vscale, v);
    store_tail(y + i, r, z);
    vmax = _mm256_max_ps(vmax, _mm256_blendv_ps(vneg_inf, z, tail_mask_ps(r)));
  }
  const float max = hmax(vmax);
  if (max == neg_inf) {  // everything masked: zeros, not 0/0
    map_run(y, y, n, [](__m256) { return _mm256_setzero_ps(); });
    return;
  }
  const __m256 vmax_b = _mm256_set1_ps(max);
  __m256 vsum = _mm256_setzero_ps();
  i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 e = exp_ps(_mm256_sub_ps(_mm256_loadu_ps(y + i), vmax_b));
    _mm256_storeu_ps(y + i, e);
    vsum = _mm256_add_ps(vsum, e);
  }
  if (i < n) {
    const int64_t r = n - i;
    const __m256 e = _mm256_and_ps(exp_ps(_mm256_sub_ps(load_tail(y + i, r), vmax_b)), tail_mask_ps(r));
    store_tail(y + i, r, e);
    vsum = _mm256_add_ps(vsum, e);
  }
  const __m256 inv = _mm256_set1_ps(1.0f / hsum(vsum));
  map_run(y, y, n, [&](__m256 e) { return _mm256_mul_ps(e, inv); });
}

// 0.5 x (1 + erf(x / sqrt 2)) with one rounding for the final h + h * erf.
void avx2_gelu(const float* x, float* y, int64_t n) {
  const __m256 half = _mm256_set1_ps(0.5f), inv_sqrt2 = _mm256_set1_ps(0.70710678118654752f);
  map_run(x, y, n, [&](__m256 v) {
    const __m256 h = _mm256_mul_ps(half, v);
    return _mm256_fmadd_ps(h, erf_ps(_mm256_mul_ps(v, inv_sqrt2)), h);
  });
}

// 0.5 (1 + tanh(w)) = sigmoid(2w): x / (1 + exp(-2w)) avoids tanh's cancellation near 0.
void avx2_gelu_tanh(const float* x, float* y, int64_t n) {
  const __m256 c = _mm256_set1_ps(0.044715f), minus_2k = _mm256_set1_ps(-2.0f * 0.79788456080286536f);
  const __m256 one = _mm256_set1_ps(1.0f);
  map_run(x, y, n, [&](__m256 v) {
    const __m256 inner = _mm256_fmadd_ps(_mm256_mul_ps(c, _mm256_mul_ps(v, v)), v, v);  // x + c x^3
    return _mm256_div_ps(v, _mm256_add_ps(one, exp_ps(_mm256_mul_ps(minus_2k, inner))));
  });
}

void avx2_quick_gelu(const float* x, float* y, int64_t n) {
  const __m256 minus_k = _mm256_set1_ps(-1.702f), one = _mm256_set1_ps(1.0f);
  map_run(x, y, n, [&](__m256 v) {
    return _mm256_div_ps(v, _mm256_add_ps(one, exp_ps(_mm256_mul_ps(minus_k, v))));
  });
}

void avx2_relu(const float* x, float* y, int64_t n) {
  const __m256 zero = _mm256_setzero_ps();
  map_run(x, y, n, [&](__m256 v) { return _mm256_max_ps(zero, v); });  // NaN (second operand) passes
}

void avx2_silu(const float* x, float* y, int64_t n) {
  const __m256 one = _mm256_set1_ps(1.0f), sign = _mm256_set1_ps(-0.0f);
  map_run(x, y, n, [&](__m256 v) {
    return _mm256_div_ps(v, _mm256_add_ps(one, exp_ps(_mm256_xor_ps(v, sign))));
  });
}

void avx2_add(const float* a, const float* b, float* y, int64_t n) {
  map_run2(a, b, y, n, [](__m256 u, __m256 v) { return _mm256_add_ps(u, v); });
}

void avx2_mul(const float* a, const float* b, float* y, int64_t n) {
  map_run2(a, b, y, n, [](__m256 u, __m256 v) { return _mm256_mul_ps(u, v); });
}

}  // namespace

namespace avx2 {
void exp_run(const float* x, float* y, int64_t n) { map_run(x, y, n, [](__m256 v) { return exp_ps(v); }); }
void erf_run(const float* x, float* y, int64_t n) { map_run(x, y, n, [](__m256 v) { return erf_ps(v); }); }
}  // namespace avx2

const RowKernels kAvx2RowKernels = {
    "avx2",           &avx2_layer_norm, &avx2_add_layer_norm, &avx2_rms_norm, &avx2_softmax, &avx2_gelu,
    &avx2_gelu_tanh,  &avx2_quick_gelu, &avx2_relu,           &avx2_silu,     &avx2_add,     &avx2_mul,
};

}  // namespace octet::kernels
