// Group-wise RTN quantization of weight matrices and its dequantization.
#include "quant/group_quant.h"

#include <cmath>
#include <string>
#include <vector>

#include "octet/thread_pool.h"

namespace octet {

namespace group_quant_detail {

int64_t group_size_for(const QuantSpec& spec, const Shape& weight_shape) {
  check(weight_shape.size() == 2, kTag, "weights must be [out, in], got shape {}", shape_str(weight_shape));
  const int64_t in = weight_shape[1];
  switch (spec.dtype) {
    case DType::I8:
    case DType::U8:
    case DType::I4:
    case DType::U4: break;
    default: fail(kTag, "{}: weight solvers need an integer grid (int8, uint8, int4, uint4)", to_string(spec));
  }
  if (spec.granularity == Granularity::PerChannel) {
    check(spec.axis == 0 || spec.axis == -2, kTag, "{}: per-channel weights need axis 0 (output channels)",
          to_string(spec));
    return in;
  }
  check(spec.granularity == Granularity::PerGroup, kTag,
        "{}: weights need per_channel(0) or group(k) along the input axis", to_string(spec));
  check(spec.axis == -1 || spec.axis == 1, kTag, "{}: groups must run along the input axis (the last)",
        to_string(spec));
  check(spec.group_size > 0 && in % spec.group_size == 0, kTag, "{}: group size {} does not divide in = {}",
        to_string(spec), spec.group_size, in);
  return spec.group_size;
}

Grid grid_for(const QuantSpec& spec) {
  const QuantLimits lim = quant_limits(spec);
  return {lim.qmin, lim.qmax, spec.rounding};
}

bool all_finite(std::span<const float> values) {
  // v * 0 is NaN exactly when v is NaN or Inf, and NaN sticks in the sum.
  float poison = 0.0f;
  for (const float v : values) poison += v * 0.0f;
  return poison == 0.0f;
}

Tensor require_weight(const Tensor& w, std::string_view what) {
  check(w.defined(), kTag, "{}: undefined tensor", what);
  check(w.dtype() == DType::F32 && w.rank() == 2, kTag, "{} must be f32 [out, in], got {}", what, w);
  check(w.dim(0) > 0 && w.dim(1) > 0, kTag, "{} {} is empty", what, w);
  Tensor c = w.contiguous();
  if (!all_finite(c.span<float>())) fail(kTag, "{} {} contains NaN or Inf", what, w.describe());
  return c;
}

GroupQuantizedWeight make_group_weight(const QuantSpec& spec, int64_t group, int64_t out, int64_t in) {
  GroupQuantizedWeight q;
  q.spec = spec;
  q.group = group;
  q.codes = Tensor::empty({out, in}, spec.dtype == DType::U8 ? DType::U8 : DType::I8);
  q.scales = Tensor::empty({out, in / group}, DType::F32);
  q.zero_points = Tensor::empty({out, in / group}, DType::I32);
  return q;
}

}  // namespace group_quant_detail

using namespace group_quant_detail;

GroupQuantizedWeight quantize_weight_rtn(const Tensor& w_in, const QuantSpec& spec, const Tensor* clip_max) {
  const Tensor w = require_weight(w_in, "quantize_weight_rtn: weight");
  const int64_t out = w.dim(0), in = w.dim(1);
  const int64_t group = group_size_for(spec, w.shape());
  const int64_t groups = in / group;
  Tensor clip;
  if (clip_max) {
    check(clip_max->defined() && clip_max->dtype() == DType::F32 && clip_max->shape() == Shape{out, groups}, kTag,
          "quantize_weight_rtn: clip_max must be f32 [{}, {}], got {}", out, groups,
          clip_max->defined() ? clip_max->describe() : std::string("undefined"));
    clip = clip_max->contiguous();
    for (const float c : clip.span<float>())
      check(std::isfinite(c) && c >= 0, kTag, "quantize_weight_rtn: clip_max {} must be finite and >= 0", c);
  }
  GroupQuantizedWeight q = make_group_weight(spec, group, out, in);
  const Grid grid = grid_for(spec);
  const float* wd = w.data<float>();
  const float* cd = clip.defined() ? clip.data<float>() : nullptr;
  float* scales = q.scales.data<float>();
  int32_t* zps = q.zero_points.data<int32_t>();
  const CodeWriter codes(q.codes);
  parallel_for(out, [&](int64_t r0, int64_t r1) {
    std::vector<float> values(static_cast<size_t>(group));
    for (int64_t r = r0; r < r1; ++r) {
      for (int64_t g = 0; g < groups; ++g) {
        const float* src = wd + r * in + g * group;
        const float c = cd ? cd[r * groups + g] : 0.0f;
        float lo = INFINITY, hi = -INFINITY;
        for (int64_t k = 0; k < group; ++k) {
          const float v = cd ? std::min(std::max(src[k], -c), c) : src[k];
          values[k] = v;
          lo = std::min(lo, v);
          hi = std::max(hi, v);
        }
        const GroupParams p = params_for_range(lo, hi, spec);
        scales[r * groups + g] = p.scale;
        zps[r * groups + g] = p.zero_point;
        for (int64_t k = 0; k < group; ++k)
          codes.put(r * in + g * group + k, grid.code(values[k], p.inv_scale, p.zero_point));
      }
    }
  });
  return q;
}

Tensor dequantize_group_weight(const GroupQuantizedWeight& q) {
  check(q.codes.defined() && q.scales.defined() && q.zero_points.defined(), kTag,
        "dequantize_group_weight: undefined tensors");
  check(q.codes.rank() == 2 && (q.codes.dtype() == DType::I8 || q.codes.dtype() == DType::U8), kTag,
        "dequantize_group_weight: codes must be i8 / u8 [out, in], got {}", q.codes);
  const int64_t out = q.codes.dim(0), in = q.codes.dim(1);
  check(q.group > 0 && in % q.group == 0, kTag, "dequantize_group_weight: group {} does not divide in = {}", q.group,
        in);
  const int64_t groups = in / q.group;
  check(q.scales.dtype() == DType::F32 && q.scales.shape() == Shape{out, groups}, kTag,
        "dequantize_group_weight: scales must be f32 [{}, {}], got {}", out, groups, q.scales);
  check(q.zero_points.dtype() == DType::I32 && q.zero_points.shape() == Shape{out, groups}, kTag,
        "dequantize_group_weight: zero_points must be i32 [{}, {}], got {}", out, groups, q.zero_points);
  const Tensor codes = q.codes.contiguous(), scales = q.scales.contiguous(), zps = q.zero_points.contiguous();
  const bool is_u8 = codes.dtype() == DType::U8;
  const auto* raw = static_cast<const uint8_t*>(codes.raw_data());
  const float* sd = scales.data<float>();
  const int32_t* zd = zps.data<int32_t>();
  Tensor result = Tensor::empty({out, in}, DType::F32);
  float* dst = result.data<float>();
  parallel_for(out, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t c = 0; c < in; ++c) {
        const int64_t i = r * in + c;
        const int code = is_u8 ? static_cast<int>(raw[i]) : static_cast<int>(static_cast<int8_t>(raw[i]));
        const int64_t slot = r * groups + c / q.group;
        dst[i] = static_cast<float>(code - zd[slot]) * sd[slot];
      }
  });
  return result;
}

}  // namespace octet
