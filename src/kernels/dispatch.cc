#include "kernels/dispatch.h"

#include <string_view>

#include "octet/cpu_features.h"
#include "octet/error.h"
#include "octet/thread_pool.h"

namespace octet::kernels {
namespace {

thread_local const RowKernels* t_rows_override = nullptr;
thread_local const GemmBackend* t_gemm_override = nullptr;

bool has_avx2(const CpuFeatures& f) { return f.avx2 && f.fma; }

// F for the 512-bit ops; BW/VL because the *_avx512.cc flags let the compiler
// use their encodings. (CpuFeatures has no DQ bit; every CPU with F+BW+VL has it.)
bool has_avx512_rows(const CpuFeatures& f) { return f.avx512f && f.avx512bw && f.avx512vl && has_avx2(f); }

// The best variant allowed by cpu_features(), which honours OCTET_ISA.
const RowKernels& best_row_kernels() {
  static const RowKernels* best = has_avx512_rows(cpu_features()) ? &kAvx512RowKernels
                                  : has_avx2(cpu_features())      ? &kAvx2RowKernels
                                                                  : &kRefRowKernels;
  return *best;
}

}  // namespace

bool avx2_supported() { return has_avx2(cpu_features_detected()); }

bool avx512_rows_supported() { return has_avx512_rows(cpu_features_detected()); }

const RowKernels& row_kernels() { return t_rows_override ? *t_rows_override : best_row_kernels(); }

// OpenBLAS picks its own kernels from CPUID; OCTET_ISA does not reach it.
// Inside a parallel_for chunk, OpenBLAS would start its own threads above a
// size (65536 x 4 multiply-adds) and they would spin against the pool's on the
// same cores: a 1.1B model's decode attention (one small GEMM pair per
// sequence and kv head, on the pool) fell from 31 to 6.5 tokens/s past 512
// cached tokens. There the attention backend (octet's small-GEMM kernel,
// serial on the calling thread) runs instead.
//
// Elsewhere: octet's kernels where they have AVX-512 (blocked for large
// products: 1.9-2.0x OpenBLAS's AVX2 kernels on BERT-base Linears here, and
// faster down to one row, bench/bench_gemm_fp32.cc), OpenBLAS otherwise (its
// AVX2 kernels beat octet's 6 x 16 ones on large products: 188 vs 167 GFLOP/s).
const GemmBackend& gemm_backend() {
  if (t_gemm_override) return *t_gemm_override;
  if (in_parallel_for()) return attention_gemm_backend();
  static const GemmBackend* best = std::string_view(small_gemm_variant()) == "avx512" ? &kSmallGemm : &kOpenBlasGemm;
  return *best;
}

const GemmBackend& attention_gemm_backend() {
  if (t_gemm_override) return *t_gemm_override;
  static const GemmBackend* best = cpu_features().avx2 && cpu_features().fma ? &kSmallGemm : &kOpenBlasGemm;
  return *best;
}

ScopedKernels::ScopedKernels(const RowKernels* rows, const GemmBackend* gemm)
    : saved_rows_(t_rows_override), saved_gemm_(t_gemm_override) {
  check(rows != &kAvx2RowKernels || avx2_supported(), "kernels", "AVX2 kernels requested on a CPU without AVX2+FMA");
  check(rows != &kAvx512RowKernels || avx512_rows_supported(), "kernels",
        "AVX-512 row kernels requested on a CPU without AVX-512 F/BW/VL");
  if (rows) t_rows_override = rows;
  if (gemm) t_gemm_override = gemm;
}

ScopedKernels::~ScopedKernels() {
  t_rows_override = saved_rows_;
  t_gemm_override = saved_gemm_;
}

}  // namespace octet::kernels
