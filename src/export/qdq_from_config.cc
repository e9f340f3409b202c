// QdqPlan from a quantized model's QuantizationConfig (octet/quantized_model.h).
#include "core/error_tags.h"
#include "octet/error.h"
#include "octet/export_onnx.h"
#include "octet/quantized_model.h"

namespace octet {
namespace {

QdqActivation static_activation(const ActivationQuant& q, const std::string& name) {
  check(!q.dynamic, kExportTag,
        "'{}' quantizes its activations per token at run time (int8-dynamic), which has no QDQ form: export a "
        "static recipe (octet quantize --recipe int8)",
        name);
  return QdqActivation{q.spec, {q.scale, q.zero_point}};
}

}  // namespace

QdqPlan qdq_plan_from_quantization(const QuantizationConfig& config) {
  QdqPlan plan;
  check(!config.kv_cache.enabled(), kExportTag,
        "the config quantizes the KV cache ({}), which the QDQ ONNX export does not express; quantize without "
        "--kv-cache to export",
        dtype_name(config.kv_cache.dtype));
  for (const QuantizedLinear& l : config.linears) {
    const bool int8_rows =
        l.weight_spec.dtype == DType::I8 && l.weight_spec.granularity != Granularity::PerGroup;
    check(int8_rows && l.input && (l.input->dynamic || l.input->spec.dtype == DType::I8), kExportTag,
          "Linear '{}' of recipe '{}' has {} weights and {} activations; the QDQ ONNX export takes int8 weights per "
          "channel or per tensor with int8 activations (recipes int8, w8a8 with --act-scale static, w8a8-sq with "
          "--act-scale static)",
          l.name, config.recipe, to_string(l.weight_spec), l.input ? to_string(l.input->spec) : "f32");
    QdqWeight w;
    w.spec = l.weight_spec;
    w.codes = l.weight;
    check(l.weight.defined() && l.weight.rank() == 2 && l.weight_scale.defined(), kExportTag,
          "Linear '{}': the quantization config holds no weights (read it with read_quantization_config)", l.name);
    const int64_t out = l.weight.dim(0);
    check(l.weight_scale.numel() == out, kExportTag, "Linear '{}': {} weight scales for {} output channels", l.name,
          l.weight_scale.numel(), out);
    const Tensor scale = l.weight_scale.contiguous();
    const Shape shape = quant_param_shape(l.weight_spec, l.weight.shape());
    if (l.weight_spec.granularity == Granularity::PerTensor) {
      // Stored as the one scale repeated per channel.
      w.params.scale = Tensor::from_vector(std::vector<float>{scale.data<float>()[0]}, shape);
    } else {
      w.params.scale = scale.clone().reshape(shape);
    }
    w.params.zero_point = Tensor::zeros(shape, DType::I32);
    plan.weights.emplace(l.name, std::move(w));
    plan.activations.emplace(l.name, static_activation(*l.input, l.name));
  }
  for (const QuantizedSite& s : config.sites) plan.activations.emplace(s.name, static_activation(s.quant, s.name));
  return plan;
}

}  // namespace octet
