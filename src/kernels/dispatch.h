// Which kernel variant runs: chosen once from octet::cpu_features() (so
// OCTET_ISA=scalar selects the reference), overridable per thread for tests
// and benchmarks that compare variants through the public API.
#pragma once

#include "kernels/gemm_backend.h"
#include "kernels/row_kernels.h"

namespace octet::kernels {

// Whether the hardware can run kAvx2RowKernels (AVX2 and FMA). OCTET_ISA does
// not change this, only what row_kernels() picks by default.
bool avx2_supported();
// Whether the hardware can run kAvx512RowKernels (AVX-512 F, BW, VL, plus
// AVX2 and FMA). Like avx2_supported(), OCTET_ISA does not change it.
bool avx512_rows_supported();
// The row kernels public ops use on the calling thread: a ScopedKernels
// override when set, else the best cpu_features() allows (AVX-512, AVX2, reference).
const RowKernels& row_kernels();
// The GEMM backend public ops use on the calling thread: a ScopedKernels
// override when set; inside a parallel_for chunk attention_gemm_backend()
// (never OpenBLAS's own threads inside the pool's); else kSmallGemm where
// it runs AVX-512 (cpu_features(), so OCTET_ISA=avx2 gives OpenBLAS), else OpenBLAS.
const GemmBackend& gemm_backend();
// The GEMM backend attention's batched Q K^T and P V use on the calling
// thread: a ScopedKernels override when set, else kSmallGemm when
// cpu_features() has AVX2+FMA (so OCTET_ISA=scalar keeps OpenBLAS), else OpenBLAS.
const GemmBackend& attention_gemm_backend();

// Makes the calling thread's public ops use the given variants while alive
// (nullptr keeps the current choice), whatever OCTET_ISA says. Throws if asked
// for AVX2 or AVX-512 kernels on a CPU without them.
class ScopedKernels {
 public:
  ScopedKernels(const RowKernels* rows, const GemmBackend* gemm);
  ~ScopedKernels();
  ScopedKernels(const ScopedKernels&) = delete;
  ScopedKernels& operator=(const ScopedKernels&) = delete;

 private:
  const RowKernels* saved_rows_;
  const GemmBackend* saved_gemm_;
};

}  // namespace octet::kernels
