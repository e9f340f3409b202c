// Quantization formats and the QDQ ops: QuantSpec, scale / zero point,
// quantize, dequantize, fake_quantize, per-slice ranges.
//
// Integer grids. A quantized value q stands for (q - zero_point) * scale.
//   symmetric: the grid is symmetric around 0 (zero point at its centre):
//     int8 [-127,127] zp 0   uint8 [1,255] zp 128   int4 [-7,7] zp 0   uint4 [1,15] zp 8
//     scale = amax / 127 (or / 7), amax = max(|min|, |max|).
//   affine: the full range, [-128,127], [0,255], [-8,7], [0,15]; the range is
//     first extended to include 0, scale = (max - min) / (qmax - qmin) and the
//     integer zero point qmin - round(min / scale) makes 0.0 exactly representable.
//   fp8 (e4m3 / e5m2): symmetric only, scale = amax / 448 (or / 57344), values
//     stored with octet's fp8 conversions (round to nearest even, saturating).
// Degenerate ranges: an all-zero range gives scale 1 (every value is 0, so any
// scale is exact); a nonzero range never gives a scale below FLT_MIN, so
// 1/scale stays finite.
//
// Arithmetic (the scalar reference; SIMD variants match it bit for bit):
//   q = clamp(round(x * (1/scale)) + zp, qmin, qmax)    (PyTorch's convention)
//   dequantize(q) = float(q - zp) * scale
// NaN quantizes to the zero point (the code of 0.0); +-Inf clamp to the
// ends of the grid. fp8 keeps NaN (e4m3) as its conversions do.
//
// int4 / uint4 results are packed two per byte (octet::pack_int4): element i of
// the row-major tensor goes to the low nibble of byte i/2 when i is even, the
// high nibble when odd. With an even last dimension this is packing along the
// last axis, two neighbours per byte.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "octet/tensor.h"

namespace octet {

enum class QuantScheme : uint8_t { Symmetric, Affine };

enum class Granularity : uint8_t {
  PerTensor,   // one scale
  PerChannel,  // one scale per index of `axis`
  PerGroup,    // one scale per `group_size` consecutive values along `axis` (the reduction axis)
  PerToken,    // one scale per row (all axes but the last); dynamic: computed from the data at run time
};

enum class Rounding : uint8_t {
  NearestEven,  // ties to even (default; IEEE, ONNX, PyTorch)
  NearestAway,  // ties away from zero (C's round())
};

struct QuantSpec {
  DType dtype = DType::I8;  // I8, U8, I4, U4, F8_E4M3 or F8_E5M2
  QuantScheme scheme = QuantScheme::Symmetric;
  Granularity granularity = Granularity::PerTensor;
  int axis = -1;           // PerChannel / PerGroup; negative counts from the end
  int64_t group_size = 0;  // PerGroup
  Rounding rounding = Rounding::NearestEven;

  bool operator==(const QuantSpec&) const = default;
};

// Parses "<dtype>[:<scheme>[:<granularity>[:<rounding>]]]", e.g.
// "int8:sym:per_channel(0)", "int4:affine:group(128)", "uint8:affine:per_token",
// "fp8_e4m3:sym:per_tensor", "int8:sym:per_tensor:rna".
//   scheme: sym | symmetric | affine | asym          (default sym)
//   granularity: per_tensor | per_channel(<axis>) | group(<k>[,<axis>]) | per_token
//                (group's axis defaults to -1, the last)   (default per_tensor)
//   rounding: rne (nearest even, default) | rna (nearest, ties away)
// Throws Error("quant") for anything else, including combinations that are
// never valid (fp8 affine, fp8 with rna, group size <= 0).
QuantSpec parse_quant_spec(std::string_view text);
// The canonical short string: parse_quant_spec(to_string(s)) == s.
std::string to_string(const QuantSpec& spec);

// The quantized grid of a spec.
struct QuantLimits {
  int qmin = 0;               // smallest code (integer types)
  int qmax = 0;               // largest code
  int symmetric_zero_point = 0;  // the zero point of the symmetric grid (0, 128 or 8)
  float fp_max = 0;           // fp8: largest finite value (448 or 57344); 0 for integers
  bool is_float = false;      // fp8
};
QuantLimits quant_limits(const QuantSpec& spec);

// Checks a spec against a tensor shape (axis in range, group size divides the
// axis, rank >= 1 where needed). Throws Error("quant").
void validate_quant_spec(const QuantSpec& spec, const Shape& shape);

// Shape of the scale / zero point / range tensors for `spec` on `shape`:
//   per tensor: {} (a scalar)          per channel(a): 1 everywhere but dim a
//   per group(k, a): `shape` with dim a divided by k
//   per token: `shape` with the last dim set to 1
Shape quant_param_shape(const QuantSpec& spec, const Shape& shape);

// Scale (f32) and zero point (i32), both shaped by quant_param_shape().
struct QuantParams {
  Tensor scale;
  Tensor zero_point;
};

// Per-slice minimum and maximum (f32), shaped by quant_param_shape().
struct QuantRanges {
  Tensor min;
  Tensor max;
};

struct ScaleZeroPoint {
  float scale = 1;
  int32_t zero_point = 0;
};

// Scale and zero point for one range [lo, hi] (see the rules at the top).
// Throws Error("quant") for NaN/Inf bounds or lo > hi.
ScaleZeroPoint qparams_for_range(float lo, float hi, const QuantSpec& spec);
// The same for every slice of `ranges`.
QuantParams qparams_from_ranges(const QuantRanges& ranges, const QuantSpec& spec);
// Params for a per-tensor spec from one scale and zero point.
QuantParams per_tensor_params(ScaleZeroPoint sz);

// Per-slice min/max of `x` for the spec's granularity. Throws Error("quant")
// on an empty tensor or NaN/Inf values.
QuantRanges compute_ranges(const Tensor& x, const QuantSpec& spec);
// qparams_from_ranges(compute_ranges(x, spec), spec): dynamic quantization.
QuantParams compute_qparams(const Tensor& x, const QuantSpec& spec);

// f32 -> spec.dtype (int4 packed). `params` must have quant_param_shape().
// An empty `x` gives an empty result.
Tensor quantize(const Tensor& x, const QuantSpec& spec, const QuantParams& params);
// spec.dtype -> f32.
Tensor dequantize(const Tensor& q, const QuantSpec& spec, const QuantParams& params);
// dequantize(quantize(x)) in one pass, f32 -> f32 (bit-identical to the two-step form).
Tensor fake_quantize(const Tensor& x, const QuantSpec& spec, const QuantParams& params);
// Dynamic forms: params from the data itself (compute_qparams).
Tensor fake_quantize(const Tensor& x, const QuantSpec& spec);

}  // namespace octet
