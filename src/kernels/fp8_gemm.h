// FP8 e4m3 Linear kernels on x86 CPUs (no FP8 arithmetic here): the weights
// stay e4m3 codes, one byte each, and are converted to bf16 in registers;
// the activations arrive as bf16 values of e4m3 codes (the fp8 recipe's
// static per-tensor quantization). Every e4m3 value (subnormals included) is
// a normal bf16, and the product of two such values is exact in f32, so the
// kernels only round where they add.
//
// Result (every variant computes exactly this; the products are exact, the
// additions correctly rounded f32 operations in this order):
//   acc = 0; for each pair p of inputs (2p, 2p + 1), p = 0 .. k/2 - 1:
//     acc = fma(w[n, 2p + 1], a[m, 2p + 1], acc); acc = fma(w[n, 2p], a[m, 2p], acc)
//   y[m, n] = bias ? fma(acc, out_scale[n], bias[n]) : acc * out_scale[n]
// which is the order vdpbf16ps defines for one pair (odd element first; its
// input-denormal and output-denormal flushing never applies: no e4m3 value is
// a bf16 denormal, and a nonzero partial sum of such products is at least
// 2^-18 in magnitude). k is padded to even with a zero weight and activation.
//
// Layout: outputs in panels of 32 (the last padded with zero codes); panel p,
// pair kk holds 64 codes at (p * k_pairs + kk) * 64. In pair order, code
// j = 2r + i is output r's code of input 2kk + i (the pairs vdpbf16ps
// consumes: codes 0-31 are outputs 0-15, 32-63 outputs 16-31); code j is
// stored at fp8_packed_position(j), the order in which the AVX-512 kernel's
// per-128-bit-lane byte interleave (vpunpcklbw / vpunpckhbw of the converted
// high and low bf16 bytes) yields codes 0-31 and 32-63 as two vectors.
#pragma once

#include <cstdint>

#include "octet/tensor.h"

namespace octet::kernels {

inline constexpr int64_t kFp8Panel = 32;  // outputs per panel

struct PackedFp8Weights {
  int64_t n = 0, k = 0;  // outputs, inputs
  int64_t panels() const { return (n + kFp8Panel - 1) / kFp8Panel; }
  int64_t k_pairs() const { return (k + 1) / 2; }
  Tensor codes;  // u8, panels * k_pairs * 64
  size_t bytes() const { return codes.nbytes(); }
};

// Where code j (0..63, pair order) of a pair's 64 codes is stored: j < 32 at 16 (j / 8) + j % 8, j >= 32 at
// 16 ((j - 32) / 8) + 8 + j % 8.
constexpr int64_t fp8_packed_position(int64_t j) {
  return j < 32 ? 16 * (j / 8) + j % 8 : 16 * ((j - 32) / 8) + 8 + j % 8;
}

// Packs e4m3 codes [n, k]; a NaN code (S.1111.111) is refused (octet's
// encoder saturates, so a weight never holds one).
PackedFp8Weights pack_fp8_weights(const uint8_t* codes, int64_t n, int64_t k);

// The bf16 bits of an e4m3 code's value (exact; NaN stays NaN).
uint16_t fp8_e4m3_to_bf16(uint8_t code);

// Output panels [panel_begin, panel_end) of y [m, ldy]; a: bf16 activations [m, lda] (lda >= 2 * k_pairs, zero
// past k); out_scale [n]; bias [n] or null.
using Fp8GemmFn = void (*)(const PackedFp8Weights& w, const uint16_t* a, int64_t lda, int64_t m,
                           const float* out_scale, const float* bias, float* y, int64_t ldy, int64_t panel_begin,
                           int64_t panel_end);
void fp8_gemm_ref(const PackedFp8Weights& w, const uint16_t* a, int64_t lda, int64_t m, const float* out_scale,
                  const float* bias, float* y, int64_t ldy, int64_t panel_begin, int64_t panel_end);
void fp8_gemm_avx2(const PackedFp8Weights& w, const uint16_t* a, int64_t lda, int64_t m, const float* out_scale,
                   const float* bias, float* y, int64_t ldy, int64_t panel_begin, int64_t panel_end);
void fp8_gemm_avx512(const PackedFp8Weights& w, const uint16_t* a, int64_t lda, int64_t m, const float* out_scale,
                     const float* bias, float* y, int64_t ldy, int64_t panel_begin, int64_t panel_end);

// Avx512: AVX-512 BF16 (vdpbf16ps) and VBMI (vpermi2b, the code -> bf16 byte tables).
enum class Fp8Isa { Reference, Avx2, Avx512 };
// Whether this CPU runs the variant (hardware, ignoring OCTET_ISA).
bool fp8_isa_supported(Fp8Isa isa);
Fp8GemmFn fp8_gemm_variant(Fp8Isa isa);
// The best variant cpu_features() allows (so OCTET_ISA caps it).
Fp8Isa fp8_gemm_default_isa();

// y [m, n] = the result above for every output, over the thread pool.
void fp8_gemm(const PackedFp8Weights& w, const uint16_t* a, int64_t lda, int64_t m, const float* out_scale,
              const float* bias, float* y, Fp8Isa isa);

}  // namespace octet::kernels
