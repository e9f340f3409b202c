// Inner loops of quantize / dequantize / fake-quantize / min-max on contiguous
// runs of elements (private to src/quant; tests compare the variants).
//
// A run has either one scale / zero point for all its elements (params_stride
// 0) or one per element (params_stride 1, contiguous arrays). Codes are bytes:
// the low 8 bits of q, so the same loop serves int8 (read back signed) and
// uint8 (read back unsigned); int4 codes go through a byte buffer and are
// packed by the caller.
//
// Every variant computes exactly what the scalar reference computes:
//   v = x * inv_scale; NaN -> 0; r = round(v) (ties per Rounding);
//   q = clamp(r, qmin - zp, qmax - zp) + zp      (clamp in float: r may be huge)
//   fake = clamp(r, qmin - zp, qmax - zp) * scale
//   dequant = float(q - zp) * scale
// No multiply-add is fused (no FMA contraction), so results are bit-identical.
#pragma once

#include "octet/number_formats.h"

#include <cstdint>

#include "octet/quant.h"

namespace octet::quant_detail {

struct RunParams {
  const float* scale;        // scale[i * stride]
  const float* inv_scale;    // 1 / scale, precomputed once per call
  const int32_t* zero_point;
  int64_t stride;            // 0 or 1
};

struct QuantKernels {
  const char* name;
  // x[0..n) -> codes[0..n) (low byte of q).
  void (*quantize)(const float* x, int64_t n, RunParams p, int qmin, int qmax, Rounding rounding, uint8_t* codes);
  // codes (int8 when is_signed, else uint8) -> out.
  void (*dequantize)(const uint8_t* codes, bool is_signed, int64_t n, RunParams p, float* out);
  void (*fake_quantize)(const float* x, int64_t n, RunParams p, int qmin, int qmax, Rounding rounding, float* out);
  // Running min/max over x[0..n), folded into *lo / *hi; returns false when
  // some value is NaN or Inf.
  bool (*min_max)(const float* x, int64_t n, float* lo, float* hi);
};

const QuantKernels& scalar_quant_kernels();
// The AVX2+FMA variant, or nullptr when the CPU (or OCTET_ISA) lacks AVX2.
const QuantKernels* avx2_quant_kernels();
// The variant used by the ops: the best one the CPU supports.
const QuantKernels& best_quant_kernels();

// Scalar rounding used by the reference (exact, independent of the FP mode; number_formats.h).
using ::octet::round_half_away;
using ::octet::round_half_even;

}  // namespace octet::quant_detail
