// Weight matrices quantized per group of input columns: the common output of
// round-to-nearest (RTN), GPTQ and AWQ (private to src/quant; the LLM
// quantization pass turns these into nn/ quantized Linears and checkpoints).
//
// A weight W [out, in] (the Hugging Face Linear layout) is cut along its input
// axis into groups of `group` consecutive columns; each (row, group) has its
// own scale and zero point from octet's grid rules (quant.h:
// qparams_for_range) and its codes follow octet's arithmetic exactly, so
// dequantize_group_weight(quantize_weight_rtn(w, spec)) is bit-identical to
// dequantize(quantize(w, spec, compute_qparams(w, spec)), spec, ...).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <string_view>

#include "octet/quant.h"
#include "octet/tensor.h"
#include "quant/quant_kernels.h"

namespace octet {

// Integer weights W [out, in] quantized per group of `group` consecutive input
// columns (spec.granularity PerGroup along the last axis; PerChannel(0) means
// one group spanning `in`).
struct GroupQuantizedWeight {
  QuantSpec spec;      // int8 / int4 symmetric or uint8 / uint4 affine (any integer dtype x scheme works)
  int64_t group = 0;   // columns per group
  Tensor codes;        // [out, in] unpacked grid values: I8, except U8 for a uint8 spec (0..255 do not fit
                       // in int8); uint4's 0..15 are stored in I8
  Tensor scales;       // F32 [out, in / group]
  Tensor zero_points;  // I32 [out, in / group] (the grid's symmetric zero point for symmetric specs: 0, or
                       // 128 / 8 for uint8 / uint4 symmetric)
};

// Round to nearest with octet's grid rules and arithmetic:
//   q = clamp(round(x * (1 / scale)) + zp, qmin, qmax)  (round per spec.rounding)
// `clip_max` (optional, F32 [out, in / group], finite, >= 0): each group is
// first clamped to [-clip_max, clip_max] and its params computed from the
// clamped values (AWQ's clipping). Throws Error("quantize") on bad shapes,
// non-integer specs, granularities other than PerGroup(last axis) /
// PerChannel(0), or NaN / Inf weights.
GroupQuantizedWeight quantize_weight_rtn(const Tensor& w, const QuantSpec& spec, const Tensor* clip_max = nullptr);

// (q - zp) * scale as F32 [out, in].
Tensor dequantize_group_weight(const GroupQuantizedWeight& q);

namespace group_quant_detail {

inline constexpr std::string_view kTag = "quantize";

// The grid of an integer spec and the one-value quantizer every solver uses
// (the scalar reference of quant_kernels.h, inlined).
struct Grid {
  int qmin = 0;
  int qmax = 0;
  Rounding rounding = Rounding::NearestEven;

  int code(float x, float inv_scale, int zp) const {
    float v = x * inv_scale;
    if (std::isnan(v)) v = 0.0f;  // NaN -> the zero point, as octet's kernels do
    const float r = rounding == Rounding::NearestEven ? quant_detail::round_half_even(v)
                                                      : quant_detail::round_half_away(v);
    const float level = std::min(std::max(r, static_cast<float>(qmin - zp)), static_cast<float>(qmax - zp));
    return static_cast<int>(level) + zp;
  }
};

// Scale, 1 / scale and zero point of one (row, group).
struct GroupParams {
  float scale = 1;
  float inv_scale = 1;
  int zero_point = 0;
};

inline GroupParams params_for_range(float lo, float hi, const QuantSpec& spec) {
  const ScaleZeroPoint sz = qparams_for_range(lo, hi, spec);
  return {sz.scale, 1.0f / sz.scale, sz.zero_point};
}

inline float dequantize_code(int q, const GroupParams& p) { return static_cast<float>(q - p.zero_point) * p.scale; }

// Stores codes into GroupQuantizedWeight::codes (U8 for uint8 specs, I8 otherwise).
class CodeWriter {
 public:
  explicit CodeWriter(Tensor& codes)
      : i8_(codes.dtype() == DType::I8 ? codes.data<int8_t>() : nullptr),
        u8_(codes.dtype() == DType::U8 ? codes.data<uint8_t>() : nullptr) {}
  void put(int64_t index, int q) const {
    if (u8_) {
      u8_[index] = static_cast<uint8_t>(q);
    } else {
      i8_[index] = static_cast<int8_t>(q);
    }
  }

 private:
  int8_t* i8_;
  uint8_t* u8_;
};

// Checks `spec` (an integer dtype, PerGroup along the last axis or
// PerChannel(0)) against a weight shape [out, in] and returns the group size.
int64_t group_size_for(const QuantSpec& spec, const Shape& weight_shape);
Grid grid_for(const QuantSpec& spec);
// Whether every value is finite (one pass, no branch per value).
bool all_finite(std::span<const float> values);
// Checks that `w` is a nonempty F32 [out, in] matrix of finite values; returns it contiguous.
Tensor require_weight(const Tensor& w, std::string_view what);
// An empty result for [out, in] (codes in the dtype the spec needs).
GroupQuantizedWeight make_group_weight(const QuantSpec& spec, int64_t group, int64_t out, int64_t in);

}  // namespace group_quant_detail
}  // namespace octet
