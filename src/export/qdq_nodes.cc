// QDQ nodes and weight initializers of ONNX export.
#include "export/qdq_nodes.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error_tags.h"
#include "octet/error.h"

namespace octet::export_detail {
namespace {

bool exportable_integer(DType d) { return d == DType::I8 || d == DType::U8; }

// A zero point (i32) as the quantized type, shaped like `shape`.
Tensor zero_points_as(const Tensor& zp, DType dtype, Shape shape) {
  const Tensor src = zp.contiguous();
  Tensor out = Tensor::empty(std::move(shape), dtype);
  check(out.numel() == src.numel(), kExportTag, "zero point {} does not fit {}", src, out);
  const int32_t* z = src.data<int32_t>();
  for (int64_t i = 0; i < src.numel(); ++i) {
    const int32_t v = z[i];
    if (dtype == DType::I8) {
      check(v >= -128 && v <= 127, kExportTag, "int8 zero point {} out of range", v);
      out.data<int8_t>()[i] = static_cast<int8_t>(v);
    } else {
      check(v >= 0 && v <= 255, kExportTag, "uint8 zero point {} out of range", v);
      out.data<uint8_t>()[i] = static_cast<uint8_t>(v);
    }
  }
  return out;
}

Tensor scalar_zero_point(int32_t zp, DType dtype) {
  return zero_points_as(Tensor::from_vector(std::vector<int32_t>{zp}, {}), dtype, {});
}

}  // namespace

Tensor transpose_2d(const Tensor& t) {
  check(t.rank() == 2, kExportTag, "transpose_2d of {}", t);
  const Tensor src = t.contiguous();
  const int64_t rows = src.dim(0), cols = src.dim(1);
  Tensor out = Tensor::empty({cols, rows}, src.dtype());
  const size_t esize = src.nbytes() / size_t(std::max<int64_t>(1, src.numel()));
  const auto* s = static_cast<const uint8_t*>(src.raw_data());
  auto* d = static_cast<uint8_t*>(out.raw_data());
  // Blocks of 32 x 32 keep both sides in cache.
  constexpr int64_t kBlock = 32;
  for (int64_t r0 = 0; r0 < rows; r0 += kBlock)
    for (int64_t c0 = 0; c0 < cols; c0 += kBlock)
      for (int64_t r = r0; r < std::min(rows, r0 + kBlock); ++r)
        for (int64_t c = c0; c < std::min(cols, c0 + kBlock); ++c)
          std::memcpy(d + size_t(c * rows + r) * esize, s + size_t(r * cols + c) * esize, esize);
  return out;
}

QdqNodes::QdqNodes(OnnxGraph& graph, const QdqPlan* plan) : g_(graph), plan_(plan) {}

std::string QdqNodes::activation(const std::string& x, const std::string& site, const std::string& scope) {
  if (!plan_) return x;
  const auto it = plan_->activations.find(site);
  if (it == plan_->activations.end()) return x;
  const QdqActivation& q = it->second;
  check(q.spec.granularity == Granularity::PerTensor, kExportTag,
        "site '{}': {} activations have no static QDQ form (export static per-tensor quantization)", site,
        to_string(q.spec));
  check(exportable_integer(q.spec.dtype), kExportTag,
        "site '{}': {} activations are not exported yet (int8 / uint8 only)", site, to_string(q.spec));
  check(std::isfinite(q.params.scale) && q.params.scale > 0, kExportTag, "site '{}': scale {} must be finite and > 0",
        site, q.params.scale);
  used_sites_.insert(site);
  auto p = params_.find(site);
  if (p == params_.end()) {
    const std::string scale = g_.add_initializer(site + ".scale", Tensor::from_vector(std::vector<float>{q.params.scale}, {}));
    const std::string zp = g_.add_initializer(site + ".zero_point", scalar_zero_point(q.params.zero_point, q.spec.dtype));
    p = params_.emplace(site, std::make_pair(scale, zp)).first;
  }
  return g_.add_qdq(x, p->second.first, p->second.second, std::nullopt, scope);
}

std::string QdqNodes::weight(const nn::Linear& linear, const std::string& scope) {
  const std::string& name = linear.name();
  if (const auto it = weights_.find(name); it != weights_.end()) return it->second;
  const QdqWeight* wq = nullptr;
  if (plan_)
    if (const auto it = plan_->weights.find(name); it != plan_->weights.end()) wq = &it->second;
  std::string value;
  if (!wq) {
    value = g_.add_initializer(name + ".weight_t", transpose_2d(linear.weight()));
  } else {
    const QuantSpec& spec = wq->spec;
    const Shape shape{linear.out_features(), linear.in_features()};
    check(exportable_integer(spec.dtype) && wq->codes.dtype() == spec.dtype, kExportTag,
          "Linear '{}': weight codes {} with spec {}: only int8 / uint8 weights are exported yet", name, wq->codes,
          to_string(spec));
    check(wq->codes.shape() == shape, kExportTag, "Linear '{}': codes {} but the weight is {}", name, wq->codes,
          shape_str(shape));
    const bool per_channel = spec.granularity == Granularity::PerChannel && (spec.axis == 0 || spec.axis == -2);
    check(per_channel || spec.granularity == Granularity::PerTensor, kExportTag,
          "Linear '{}': weights quantized {} have no DequantizeLinear form here (per tensor or per output channel)",
          name, to_string(spec));
    const Shape pshape = quant_param_shape(spec, shape);
    check(wq->params.scale.shape() == pshape && wq->params.zero_point.shape() == pshape, kExportTag,
          "Linear '{}': scale {} / zero point {} for {}, expected {}", name, wq->params.scale, wq->params.zero_point,
          to_string(spec), shape_str(pshape));
    const Shape flat = per_channel ? Shape{linear.out_features()} : Shape{};
    const std::string codes = g_.add_initializer(name + ".weight_t_quantized", transpose_2d(wq->codes));
    const std::string scale = g_.add_initializer(name + ".weight_scale", wq->params.scale.contiguous().reshape(flat));
    const std::string zp =
        g_.add_initializer(name + ".weight_zero_point", zero_points_as(wq->params.zero_point, spec.dtype, flat));
    value = g_.add_dequantize(codes, scale, zp, per_channel ? std::optional<int64_t>(1) : std::nullopt,
                              scope + "/weight");
  }
  weights_[name] = value;
  return value;
}

void QdqNodes::check_all_used() const {
  if (!plan_) return;
  for (const auto& [name, _] : plan_->weights)
    check(weights_.contains(name), kExportTag,
          "the QDQ plan quantizes Linear '{}', which the exported graph does not have", name);
  for (const auto& [name, _] : plan_->activations)
    check(used_sites_.contains(name), kExportTag,
          "the QDQ plan quantizes activation site '{}', which the exported graph does not have", name);
}

}  // namespace octet::export_detail
