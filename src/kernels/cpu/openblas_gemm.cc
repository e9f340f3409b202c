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
// GEMM_MULTITHREAD_THRESHOLD (interface/gemm.c). Batches of small GEMMs (the
// attention heads) are cut into row blocks under that size and spread over
// octet's pool, so OpenBLAS never starts its own threads for them: no two
// pools contend, and many tiny GEMMs don't each pay a thread hand-off.
constexpr double kOpenBlasSerialMnk = 65536.0 * OPENBLAS_GEMM_MULTITHREAD_THRESHOLD;
// Row blocks thinner than this waste time re-packing B; such GEMMs stay whole.
constexpr int64_t kMinBlockRows = 16;

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

// Rows [r0, r1) of item i.
void gemm_rows(const GemmProblem& p, int64_t i, int64_t r0, int64_t r1) {
  const float* a = p.a + i * p.stride_a + r0 * p.lda;
  const float* b = p.b + i * p.stride_b;
  float* c = p.c + i * p.stride_c + r0 * p.ldc;
  const int64_t m = r1 - r0;
  if (p.k == 0) {
    scale_only(c, m, p.n, p.ldc, p.beta, p.bias);
    return;
  }
  float beta = p.beta;
  if (p.bias) {
    prefill_bias(c, m, p.n, p.ldc, p.beta, p.bias);
    beta = 1.0f;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, p.trans_b ? CblasTrans : CblasNoTrans, static_cast<blasint>(m),
              static_cast<blasint>(p.n), static_cast<blasint>(p.k), p.alpha, a, static_cast<blasint>(p.lda), b,
              static_cast<blasint>(p.ldb), beta, c, static_cast<blasint>(p.ldc));
}

void openblas_gemm(const GemmProblem& p) {
  if (p.batch == 0 || p.m == 0 || p.n == 0) return;
  sync_thread_count();
  const double nk = static_cast<double>(p.n) * static_cast<double>(std::max<int64_t>(p.k, 1));
  const int64_t block = std::min<int64_t>(p.m, static_cast<int64_t>(kOpenBlasSerialMnk / nk));
  const int64_t blocks_per_item = block > 0 ? (p.m + block - 1) / block : 0;
  const int64_t tasks = p.batch * blocks_per_item;
  if (num_threads() > 1 && tasks > 1 && (block >= kMinBlockRows || block == p.m)) {
    parallel_for(tasks, [&](int64_t begin, int64_t end) {
      for (int64_t t = begin; t < end; ++t) {
        const int64_t i = t / blocks_per_item, r0 = (t % blocks_per_item) * block;
        gemm_rows(p, i, r0, std::min(p.m, r0 + block));
      }
    });
    return;
  }
  // One large GEMM at a time, threaded inside OpenBLAS.
  for (int64_t i = 0; i < p.batch; ++i) gemm_rows(p, i, 0, p.m);
}

}  // namespace

const GemmBackend kOpenBlasGemm = {"openblas", &openblas_gemm};

}  // namespace octet::kernels
