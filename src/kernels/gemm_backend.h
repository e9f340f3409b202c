// GEMM backends: the scalar reference, OpenBLAS and octet's batched small-GEMM
// kernels (CUDA comes later).
// src/kernels/gemm.cc and attention.cc check shapes, then describe the work as
// one GemmProblem: a batch of equally shaped row-major GEMMs at constant strides.
#pragma once

#include <cstdint>
#include <vector>

namespace octet::kernels {

// C_i = alpha * A_i * op(B_i) + beta * C_i + bias, for i < batch, where
// X_i = x + i * stride_x (strides in elements; stride_b 0 shares one B).
// A_i is [m, k] (row stride lda); B_i is [k, n], or [n, k] when trans_b (ldb);
// C_i is [m, n] (ldc). bias (optional) is [n], added to every row.
// beta == 0 means C is not read.
struct GemmProblem {
  int64_t batch = 1, m = 0, n = 0, k = 0;
  bool trans_b = false;
  float alpha = 1.0f, beta = 0.0f;
  const float* a = nullptr;
  int64_t lda = 0, stride_a = 0;
  const float* b = nullptr;
  int64_t ldb = 0, stride_b = 0;
  float* c = nullptr;
  int64_t ldc = 0, stride_c = 0;
  const float* bias = nullptr;
};

struct GemmBackend {
  const char* name;
  void (*run)(const GemmProblem& problem);
};

// Triple loop with double accumulation (kernels/ref).
extern const GemmBackend kRefGemm;
// cblas_sgemm (kernels/cpu), threads sized to octet::num_threads().
extern const GemmBackend kOpenBlasGemm;

// Batched small fp32 GEMMs (kernels/cpu/small_gemm*.cc), made for attention's
// many [~128 x 64] x [64 x ~128] products: op(B) packed once per item into
// column panels, register-tiled microkernels, (item, row tile) tasks split
// over octet's pool (no OpenBLAS threads). Accumulates in f32 in k order.
// Large products (k x n past 64 Ki floats: a Linear's weights) run in cache
// blocks instead: op(B) packed per slice of 384 k steps x a column block,
// C updated once per slice (so each element takes 2 more roundings per slice).
// "octet-small" picks AVX-512F, else AVX2+FMA, from cpu_features() (so
// OCTET_ISA caps it), and runs kOpenBlasGemm on CPUs with neither.
extern const GemmBackend kSmallGemm;
// One ISA each, for tests and benchmarks; they throw octet::Error when the
// hardware (cpu_features_detected()) lacks the ISA.
extern const GemmBackend kSmallGemmAvx512;
extern const GemmBackend kSmallGemmAvx2;
// A Linear's op(B) (W [n, k], used transposed) packed once for the AVX-512
// blocked GEMM: panels of 32 columns, k steps each (zero past n). It holds
// as many floats as W (rounded up to 32 rows).
struct PackedLinearB {
  int64_t n = 0, k = 0;
  std::vector<float> data;
};
// Throws unless kSmallGemm runs AVX-512 here (cpu_features(): OCTET_ISA caps it).
PackedLinearB pack_linear_b(const float* w, int64_t n, int64_t k);
// y [m, n] (row stride ldy) = x [m, k] (ldx) W^T + bias (null or n), the
// tiles reading the packed panels in place: the same values kSmallGemm
// computes from W, bit for bit, without packing W on every call.
void linear_prepacked(const float* x, int64_t m, int64_t ldx, const PackedLinearB& w, const float* bias, float* y,
                      int64_t ldy);

// Whether the hardware can run kSmallGemmAvx512 / kSmallGemmAvx2.
bool small_gemm_avx512_supported();
bool small_gemm_avx2_supported();
// The variant kSmallGemm runs here: "avx512", "avx2" or "openblas".
const char* small_gemm_variant();

}  // namespace octet::kernels
