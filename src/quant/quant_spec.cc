// QuantSpec: parsing, printing, validation, grids, and range -> scale / zero point.
#include <algorithm>
#include <cctype>
#include <cfloat>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "core/error_tags.h"
#include "core/parse_int.h"
#include "octet/quant.h"
#include "quant/quant_kernels.h"

namespace octet {
namespace {

bool is_supported_dtype(DType d) {
  switch (d) {
    case DType::I8:
    case DType::U8:
    case DType::I4:
    case DType::U4:
    case DType::F8_E4M3:
    case DType::F8_E5M2: return true;
    default: return false;
  }
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

int64_t parse_int(std::string_view s, std::string_view what, std::string_view text) {
  s = trim(s);
  const std::optional<int64_t> v = parse_decimal<int64_t>(s);
  check(v.has_value(), kQuantTag, "spec '{}': {} '{}' is not an integer", text, what, s);
  return *v;
}

// "name(args)" -> args split at commas; "name" -> no args. Returns false when
// the name does not match.
bool match_call(std::string_view field, std::string_view name, std::vector<std::string_view>& args,
                std::string_view text) {
  args.clear();
  if (field == name) return true;
  if (field.size() <= name.size() + 1 || field.substr(0, name.size()) != name || field[name.size()] != '(')
    return false;
  if (field.back() != ')') fail(kQuantTag, "spec '{}': missing ')' in '{}'", text, field);
  std::string_view inner = field.substr(name.size() + 1, field.size() - name.size() - 2);
  while (true) {
    const size_t comma = inner.find(',');
    args.push_back(inner.substr(0, comma));
    if (comma == std::string_view::npos) break;
    inner.remove_prefix(comma + 1);
  }
  return true;
}

void check_spec_alone(const QuantSpec& s) {
  check(is_supported_dtype(s.dtype), kQuantTag,
        "dtype {} cannot be a quantization target (int8, uint8, int4, uint4, "
        "fp8_e4m3, fp8_e5m2)",
        dtype_name(s.dtype));
  const bool fp8 = dtype_info(s.dtype).is_float;
  check(!(fp8 && s.scheme == QuantScheme::Affine), kQuantTag, "{} is symmetric only (no integer zero point)",
        dtype_name(s.dtype));
  check(!(fp8 && s.rounding != Rounding::NearestEven), kQuantTag, "{} conversions round to nearest even only",
        dtype_name(s.dtype));
  if (s.granularity == Granularity::PerGroup)
    check(s.group_size > 0, kQuantTag, "group size must be positive, got {}", s.group_size);
}

}  // namespace

QuantSpec parse_quant_spec(std::string_view text) {
  std::vector<std::string_view> fields;
  {
    std::string_view rest = text;
    while (true) {
      const size_t colon = rest.find(':');
      fields.push_back(trim(rest.substr(0, colon)));
      if (colon == std::string_view::npos) break;
      rest.remove_prefix(colon + 1);
    }
  }
  check(!fields[0].empty(), kQuantTag, "empty quantization spec '{}'", text);
  check(fields.size() <= 4, kQuantTag, "spec '{}': expected dtype[:scheme[:granularity[:rounding]]]", text);
  QuantSpec spec;
  try {
    spec.dtype = parse_dtype(fields[0]);
  } catch (const Error&) {
    fail(kQuantTag, "spec '{}': unknown dtype '{}'", text, fields[0]);
  }
  if (fields.size() > 1) {
    const std::string_view s = fields[1];
    if (s == "sym" || s == "symmetric") {
      spec.scheme = QuantScheme::Symmetric;
    } else if (s == "affine" || s == "asym" || s == "asymmetric") {
      spec.scheme = QuantScheme::Affine;
    } else {
      fail(kQuantTag, "spec '{}': unknown scheme '{}' (sym or affine)", text, s);
    }
  }
  if (fields.size() > 2) {
    const std::string_view g = fields[2];
    std::vector<std::string_view> args;
    if (g == "per_tensor" || g == "tensor") {
      spec.granularity = Granularity::PerTensor;
    } else if (g == "per_token" || g == "token") {
      spec.granularity = Granularity::PerToken;
    } else if (match_call(g, "per_channel", args, text) || match_call(g, "channel", args, text)) {
      check(args.size() == 1, kQuantTag, "spec '{}': per_channel takes one axis, e.g. per_channel(0)", text);
      spec.granularity = Granularity::PerChannel;
      spec.axis = static_cast<int>(parse_int(args[0], "axis", text));
    } else if (match_call(g, "group", args, text) || match_call(g, "per_group", args, text)) {
      check(args.size() == 1 || args.size() == 2, kQuantTag,
            "spec '{}': group takes a size and an optional axis, "
            "e.g. group(128) or group(128,-1)",
            text);
      spec.granularity = Granularity::PerGroup;
      spec.group_size = parse_int(args[0], "group size", text);
      spec.axis = args.size() == 2 ? static_cast<int>(parse_int(args[1], "axis", text)) : -1;
    } else {
      fail(kQuantTag, "spec '{}': unknown granularity '{}' (per_tensor, per_channel(axis), group(k), per_token)", text,
           g);
    }
  }
  if (fields.size() > 3) {
    const std::string_view r = fields[3];
    if (r == "rne" || r == "nearest_even") {
      spec.rounding = Rounding::NearestEven;
    } else if (r == "rna" || r == "nearest_away") {
      spec.rounding = Rounding::NearestAway;
    } else {
      fail(kQuantTag, "spec '{}': unknown rounding '{}' (rne or rna)", text, r);
    }
  }
  check_spec_alone(spec);
  return spec;
}

std::string to_string(const QuantSpec& spec) {
  std::string out = fmt::format("{}:{}:", dtype_name(spec.dtype), spec.scheme == QuantScheme::Symmetric ? "sym" : "affine");
  switch (spec.granularity) {
    case Granularity::PerTensor: out += "per_tensor"; break;
    case Granularity::PerChannel: out += fmt::format("per_channel({})", spec.axis); break;
    case Granularity::PerGroup:
      out += spec.axis == -1 ? fmt::format("group({})", spec.group_size)
                             : fmt::format("group({},{})", spec.group_size, spec.axis);
      break;
    case Granularity::PerToken: out += "per_token"; break;
  }
  if (spec.rounding == Rounding::NearestAway) out += ":rna";
  return out;
}

QuantLimits quant_limits(const QuantSpec& spec) {
  check_spec_alone(spec);
  QuantLimits l;
  const bool sym = spec.scheme == QuantScheme::Symmetric;
  switch (spec.dtype) {
    case DType::I8: l = {sym ? -127 : -128, 127, 0, 0, false}; break;
    case DType::U8: l = {sym ? 1 : 0, 255, 128, 0, false}; break;
    case DType::I4: l = {sym ? -7 : -8, 7, 0, 0, false}; break;
    case DType::U4: l = {sym ? 1 : 0, 15, 8, 0, false}; break;
    case DType::F8_E4M3: l = {0, 0, 0, 448.0f, true}; break;
    case DType::F8_E5M2: l = {0, 0, 0, 57344.0f, true}; break;
    default:
      fail(kQuantTag, "unsupported dtype {}", dtype_name(spec.dtype));
  }
  return l;
}

void validate_quant_spec(const QuantSpec& spec, const Shape& shape) {
  check_spec_alone(spec);
  // Plain ifs: this runs on every op, and check() would format its message eagerly.
  const int rank = static_cast<int>(shape.size());
  if (spec.granularity == Granularity::PerTensor) return;
  if (rank < 1) fail(kQuantTag, "{} needs a tensor of rank >= 1, got a scalar", to_string(spec));
  if (spec.granularity == Granularity::PerToken) return;
  const int axis = spec.axis < 0 ? spec.axis + rank : spec.axis;
  if (axis < 0 || axis >= rank)
    fail(kQuantTag, "{}: axis {} out of range for shape {}", to_string(spec), spec.axis, shape_str(shape));
  if (spec.granularity == Granularity::PerGroup && shape[axis] % spec.group_size != 0)
    fail(kQuantTag, "{}: group size {} does not divide dim {} (size {}) of {}", to_string(spec), spec.group_size, axis,
         shape[axis], shape_str(shape));
}

Shape quant_param_shape(const QuantSpec& spec, const Shape& shape) {
  validate_quant_spec(spec, shape);
  const int rank = static_cast<int>(shape.size());
  const int axis = spec.axis < 0 ? spec.axis + rank : spec.axis;
  switch (spec.granularity) {
    case Granularity::PerTensor: return {};
    case Granularity::PerChannel: {
      Shape s(shape.size(), 1);
      s[axis] = shape[axis];
      return s;
    }
    case Granularity::PerGroup: {
      Shape s = shape;
      s[axis] /= spec.group_size;
      return s;
    }
    case Granularity::PerToken: {
      Shape s = shape;
      s.back() = 1;
      return s;
    }
  }
  fail(kQuantTag, "invalid granularity");
}

ScaleZeroPoint qparams_for_range(float lo, float hi, const QuantSpec& spec) {
  check(std::isfinite(lo) && std::isfinite(hi), kQuantTag, "range [{}, {}] is not finite", lo, hi);
  check(lo <= hi, kQuantTag, "range [{}, {}] has min > max", lo, hi);
  const QuantLimits l = quant_limits(spec);
  // Scales are computed in double and rounded once to float.
  const double amax = std::max(std::fabs(double(lo)), std::fabs(double(hi)));
  ScaleZeroPoint out;
  if (l.is_float || spec.scheme == QuantScheme::Symmetric) {
    out.zero_point = l.symmetric_zero_point;
    const double levels = l.is_float ? double(l.fp_max) : double(l.qmax - l.symmetric_zero_point);
    out.scale = amax == 0 ? 1.0f : static_cast<float>(amax / levels);
  } else {
    // Extend to include 0 so that 0.0 lands exactly on a code.
    const double lo0 = std::min(double(lo), 0.0), hi0 = std::max(double(hi), 0.0);
    if (hi0 == lo0) {
      out.scale = 1.0f;
      out.zero_point = l.symmetric_zero_point;
    } else {
      out.scale = std::max(static_cast<float>((hi0 - lo0) / double(l.qmax - l.qmin)), FLT_MIN);
      // lo0 / scale lies in [-(qmax - qmin), 0] up to rounding; the clamp only guards that rounding.
      const double shifted = double(l.qmin) - double(quant_detail::round_half_even(float(lo0 / double(out.scale))));
      out.zero_point = static_cast<int32_t>(std::clamp(shifted, double(l.qmin), double(l.qmax)));
    }
  }
  out.scale = std::max(out.scale, FLT_MIN);
  return out;
}

QuantParams qparams_from_ranges(const QuantRanges& ranges, const QuantSpec& spec) {
  check(ranges.min.defined() && ranges.max.defined(), kQuantTag, "qparams_from_ranges: undefined range tensors");
  check(ranges.min.shape() == ranges.max.shape(), kQuantTag, "qparams_from_ranges: min {} and max {} differ in shape",
        shape_str(ranges.min.shape()), shape_str(ranges.max.shape()));
  const Tensor lo = ranges.min.contiguous(), hi = ranges.max.contiguous();
  const float* plo = lo.data<float>();
  const float* phi = hi.data<float>();
  QuantParams p{Tensor::empty(lo.shape(), DType::F32), Tensor::empty(lo.shape(), DType::I32)};
  float* scale = p.scale.data<float>();
  int32_t* zp = p.zero_point.data<int32_t>();
  for (int64_t i = 0; i < lo.numel(); ++i) {
    const ScaleZeroPoint sz = qparams_for_range(plo[i], phi[i], spec);
    scale[i] = sz.scale;
    zp[i] = sz.zero_point;
  }
  return p;
}

QuantParams per_tensor_params(ScaleZeroPoint sz) {
  QuantParams p{Tensor::empty({}, DType::F32), Tensor::empty({}, DType::I32)};
  p.scale.data<float>()[0] = sz.scale;
  p.zero_point.data<int32_t>()[0] = sz.zero_point;
  return p;
}

}  // namespace octet
