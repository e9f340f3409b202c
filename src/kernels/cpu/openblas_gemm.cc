// fp32 GEMM on OpenBLAS (Debian's pthread build). One thread count governs
// both pools: OpenBLAS is resized to octet::num_threads() whenever that changes.
#include <cblas.h>

#include <algorithm>
#include <atomic>

#include "kernels/gemm_backend.h"
#include "octet/thread_pool.h"

namespace octet::kernels {
namespace {

// OpenBLAS 0.3.21 runs a GEMM on one thread when M*N*K <= 65536 *
// GEMM_MULTITHREAD_THRESHOLD (interface/gemm.c); batches of such small GEMMs
// are spread over octet's pool instead, one whole GEMM per task.
constexpr double kOpenBlasSerialMnk = 65536.0 * OPENBLAS_GEMM_MULTITHREAD_THRESHOLD;

void sync_thread_count() {
  static std::atomic<int> configured{0};
  const int n = num_threads();
  if (configured.load(std::memory_order_relaxed) != n) {
    openblas_set_num_threads(n);
    configured.store(n, std::memory_order_relaxed);
  }
}

// C = beta * C + bias (rows of n), so the GEMM itself can run with beta = 1.
void prefill_bias(float* c, int64_t m, int64_t n, int64_t ldc, float beta, const float* bias) {
  for (int64_t r = 0; r < m; ++r) {
    float* row = c + r * ldc;
    if (beta == 0.0f) {
      std::copy(bias, bias + n, row);
    } else {
      for (int64_t j = 0; j < n; ++j) row[j] = beta * row[j] + bias[j];
    }
  }
}

// k == 0: the product is empty; BLAS would reject lda = 0, so do C = beta C (+ bias) here.
void scale_only(float* c, int64_t m, int64_t n, int64_t ldc, float beta, const float* bias) {
  for (int64_t r = 0; r < m; ++r)
    for (int64_t j = 0; j < n; ++j) {
      const float prior = beta == 0.0f ? 0.0f : beta * c[r * ldc + j];
      c[r * ldc + j] = prior + (bias ? bias[j] : 0.0f);
    }
}

void one_gemm(const GemmProblem& p, int64_t i) {
  const float* a = p.a + i * p.stride_a;
  const float* b = p.b + i * p.stride_b;
  float* c = p.c + i * p.stride_c;
  if (p.k == 0) {
    scale_only(c, p.m, p.n, p.ldc, p.beta, p.bias);
    return;
  }
  float beta = p.beta;
  if (p.bias) {
    prefill_bias(c, p.m, p.n, p.ldc, p.beta, p.bias);
    beta = 1.0f;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, p.trans_b ? CblasTrans : CblasNoTrans, static_cast<blasint>(p.m),
              static_cast<blasint>(p.n), static_cast<blasint>(p.k), p.alpha, a, static_cast<blasint>(p.lda), b,
              static_cast<blasint>(p.ldb), beta, c, static_cast<blasint>(p.ldc));
}

void openblas_gemm(const GemmProblem& p) {
  if (p.batch == 0 || p.m == 0 || p.n == 0) return;
  sync_thread_count();
  const double mnk = static_cast<double>(p.m) * static_cast<double>(p.n) * static_cast<double>(p.k);
  if (p.batch > 1 && mnk <= kOpenBlasSerialMnk && num_threads() > 1) {
    parallel_for(p.batch, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) one_gemm(p, i);
    });
    return;
  }
  for (int64_t i = 0; i < p.batch; ++i) one_gemm(p, i);
}

}  // namespace

const GemmBackend kOpenBlasGemm = {"openblas", &openblas_gemm};

}  // namespace octet::kernels
