// Few-row fp32 matrix products for decoding: y[m, n] = x[m, k] W[n, k]^T + b
// with m small (one row per sequence of the batch). Memory bound: every
// weight is read once per call, so the rows of W are split over the thread
// pool and each chunk streams its rows once, dotting them with all m inputs.
#pragma once

#include <cstdint>

#include "octet/tensor.h"

namespace octet::runtime {

// Up to this many input rows the decode kernel (use_decode_kernels) takes the
// GEMV path, more the GEMM. The GEMV's rows do not depend on the row count
// (what CausalLM::decode_ragged needs); measured against OpenBLAS sgemm on 2
// vCPUs it is 2-7x faster up to 8 rows, even at 16, and up to ~10% (32) and
// 6-29% (64 rows) slower beyond: docs/decoders.md has the table.
constexpr int64_t kGemvMaxRows = 64;

// Output columns [n_begin, n_end) of y = x W^T + b (x [m, k], W [n, k], y [m, n],
// all row-major; bias may be null). Summation order differs between variants.
using GemvRowsFn = void (*)(const float* x, int64_t m, const float* w, int64_t k, const float* bias, float* y,
                            int64_t n, int64_t n_begin, int64_t n_end);

// Plain loops, float accumulation in index order (the reference for tests).
void gemv_rows_scalar(const float* x, int64_t m, const float* w, int64_t k, const float* bias, float* y, int64_t n,
                      int64_t n_begin, int64_t n_end);
// AVX2 + FMA: 8-lane partial sums, 4 weight rows at a time (src/runtime/gemv_avx2.cc).
void gemv_rows_avx2(const float* x, int64_t m, const float* w, int64_t k, const float* bias, float* y, int64_t n,
                    int64_t n_begin, int64_t n_end);

// The variant this CPU runs (AVX2 when cpu_features() has AVX2 and FMA).
GemvRowsFn gemv_rows_kernel();

// y = x W^T + b over the thread pool; x [..., k] with any number of rows
// (each panel of weights stays in cache while all of them pass over it),
// W [n, k]; y allocated [..., n] when undefined.
void gemv(const Tensor& x, const Tensor& w, const Tensor& bias, Tensor& y, GemvRowsFn rows = nullptr);

}  // namespace octet::runtime
