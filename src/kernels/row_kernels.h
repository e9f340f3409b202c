// Row kernels: the per-row / per-run loops behind the row and elementwise ops,
// one table per ISA variant. Callers (src/kernels/*.cc) check shapes and split
// rows across the thread pool; a kernel sees raw contiguous f32 memory only.
//
// Kept free of octet headers on purpose: it is included by *_avx2.cc files,
// where any inline function emitted from a shared header would be compiled
// with AVX2 and could be picked by the linker for non-AVX2 callers.
#pragma once

#include <cstdint>

namespace octet::kernels {

using UnaryRunFn = void (*)(const float* x, float* y, int64_t n);
using BinaryRunFn = void (*)(const float* a, const float* b, float* y, int64_t n);

struct RowKernels {
  const char* name;
  // y = (x - mean) * rstd * gamma + beta over one row of n.
  void (*layer_norm)(const float* x, const float* gamma, const float* beta, float eps, float* y, int64_t n);
  // sum = x + residual (stored), then y = layer_norm(sum). sum may alias y or x.
  void (*add_layer_norm)(const float* x, const float* residual, const float* gamma, const float* beta, float eps,
                         float* sum, float* y, int64_t n);
  // y = x * rsqrt(mean(x^2) + eps) * (unit_offset ? 1 + w : w).
  void (*rms_norm)(const float* x, const float* weight, float eps, bool unit_offset, float* y, int64_t n);
  // y = softmax(scale * x + mask) (mask may be null); -inf everywhere -> zeros.
  void (*softmax)(const float* x, const float* mask, float scale, float* y, int64_t n);
  // Elementwise activations over a run of n values.
  UnaryRunFn gelu;
  UnaryRunFn gelu_tanh;
  UnaryRunFn quick_gelu;
  UnaryRunFn relu;
  UnaryRunFn silu;
  BinaryRunFn add;
  BinaryRunFn mul;
};

// Scalar reference (kernels/ref): plain loops, double accumulation.
extern const RowKernels kRefRowKernels;
// AVX2 + FMA (kernels/cpu/*_avx2.cc). Only call through it when avx2_supported().
extern const RowKernels kAvx2RowKernels;
// AVX-512 (kernels/cpu/*_avx512.cc): 16 lanes, masked tails, the AVX2
// kernels' arithmetic. Only call through it when avx512_rows_supported().
extern const RowKernels kAvx512RowKernels;

namespace avx2 {
// The vector exp / erf the AVX2 kernels are built on, exposed so tests can
// sweep their accuracy. AVX2 + FMA CPUs only.
void exp_run(const float* x, float* y, int64_t n);
void erf_run(const float* x, float* y, int64_t n);
}  // namespace avx2

namespace avx512 {
// The AVX-512 exp / erf, for the same sweeps. AVX-512 F/BW/VL CPUs only.
void exp_run(const float* x, float* y, int64_t n);
void erf_run(const float* x, float* y, int64_t n);
}  // namespace avx512

}  // namespace octet::kernels
