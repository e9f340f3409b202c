// Reference GEMM: the definition as a triple loop, accumulated in double so
// the result is the exact product rounded once to f32 (up to double error).
#include "kernels/gemm_backend.h"

namespace octet::kernels {
namespace {

void ref_gemm(const GemmProblem& p) {
  for (int64_t i = 0; i < p.batch; ++i) {
    // With k == 0, A and B may be null and are never read: no arithmetic on a null pointer
    // (undefined behaviour, which UBSan reported for this case).
    const float* a = p.k > 0 ? p.a + i * p.stride_a : nullptr;
    const float* b = p.k > 0 ? p.b + i * p.stride_b : nullptr;
    float* c = p.c + i * p.stride_c;
    for (int64_t r = 0; r < p.m; ++r) {
      for (int64_t col = 0; col < p.n; ++col) {
        double acc = 0.0;
        for (int64_t k = 0; k < p.k; ++k) {
          const float bv = p.trans_b ? b[col * p.ldb + k] : b[k * p.ldb + col];
          acc += static_cast<double>(a[r * p.lda + k]) * bv;
        }
        double value = static_cast<double>(p.alpha) * acc;
        if (p.beta != 0.0f) value += static_cast<double>(p.beta) * c[r * p.ldc + col];
        if (p.bias) value += p.bias[col];
        c[r * p.ldc + col] = static_cast<float>(value);
      }
    }
  }
}

}  // namespace

const GemmBackend kRefGemm = {"ref", &ref_gemm};

}  // namespace octet::kernels
