// FP8 GEMM: variant choice and the threaded driver (kernels/fp8_gemm.h).
#include "kernels/fp8_gemm.h"
#include "octet/cpu_features.h"
#include "octet/error.h"
#include "octet/thread_pool.h"

namespace octet::kernels {

bool fp8_isa_supported(Fp8Isa isa) {
  const CpuFeatures& f = cpu_features_detected();
  switch (isa) {
    case Fp8Isa::Reference: return true;
    case Fp8Isa::Avx2: return f.avx2 && f.fma;
    case Fp8Isa::Avx512:
      return f.avx2 && f.fma && f.avx512f && f.avx512bw && f.avx512vl && f.avx512_bf16 && f.avx512_vbmi;
  }
  return false;
}

Fp8GemmFn fp8_gemm_variant(Fp8Isa isa) {
  check(fp8_isa_supported(isa), "fp8_gemm", "this CPU cannot run the requested FP8 GEMM variant");
  switch (isa) {
    case Fp8Isa::Avx512: return &fp8_gemm_avx512;
    case Fp8Isa::Avx2: return &fp8_gemm_avx2;
    case Fp8Isa::Reference: break;
  }
  return &fp8_gemm_ref;
}

Fp8Isa fp8_gemm_default_isa() {
  static const Fp8Isa isa = [] {
    const CpuFeatures& f = cpu_features();  // OCTET_ISA caps it
    if (f.avx2 && f.fma && f.avx512f && f.avx512bw && f.avx512vl && f.avx512_bf16 && f.avx512_vbmi)
      return Fp8Isa::Avx512;
    if (f.avx2 && f.fma) return Fp8Isa::Avx2;
    return Fp8Isa::Reference;
  }();
  return isa;
}

void fp8_gemm(const PackedFp8Weights& w, const uint16_t* a, int64_t lda, int64_t m, const float* out_scale,
              const float* bias, float* y, Fp8Isa isa) {
  check(lda >= 2 * w.k_pairs() && m >= 0, "fp8_gemm", "activation rows of {} values for k = {} (m = {})", lda, w.k, m);
  if (m == 0) return;
  const Fp8GemmFn fn = fp8_gemm_variant(isa);
  const auto panels = [&](int64_t begin, int64_t end) { fn(w, a, lda, m, out_scale, bias, y, w.n, begin, end); };
  // Decode streams the weights once: contiguous shares with balanced tails (thread_pool.h); prefill takes a
  // panel per task (each converts its panel once and runs every row on it).
  if (m < 16)
    parallel_for_balanced(w.panels(), panels, 1);
  else
    parallel_for(w.panels(), panels, 1);
}

}  // namespace octet::kernels
