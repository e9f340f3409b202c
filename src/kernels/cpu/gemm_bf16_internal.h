// Internal interface between the BF16 GEMM driver (kernels/gemm_bf16.cc) and
// its AVX-512 BF16 microkernels (cpu/gemm_bf16_avx512bf16.cc, compiled with
// -mavx512bf16 and called only when the CPU has it).
#pragma once

#include <cstdint>

#include "octet/gemm_bf16.h"

namespace octet::kernels::bf16 {

// The argument checks gemm_bf16 and gemm_bf16_ref share (Error "gemm_bf16").
void check_gemm_args(const float* x, int64_t m, int64_t ldx, const PackedBf16Weights& w, const float* y, int64_t ldy);

// Rows [0, m) x columns [0, n) of C from k_pairs pairs of k:
//   a: bf16 activations, row r at a + r * lda (lda even), read as pairs (k, k+1);
//   panels: PackedBf16Weights panels starting at this slice's first pair,
//     panel p at panels + p * panel_stride (uint16 elements);
//   C = acc + bias (bias null: + 0) when !accumulate, else C += acc.
void compute_rows_avx512bf16(int64_t m, int64_t n, int64_t k_pairs, const uint16_t* a, int64_t lda,
                             const uint16_t* panels, int64_t panel_stride, float* c, int64_t ldc, const float* bias,
                             bool accumulate);

}  // namespace octet::kernels::bf16
