// apply_quantization / clear_quantization: install quantized kernels and site
// transforms on a built model.
#include <map>

#include "octet/error.h"
#include "octet/quantized_model.h"

namespace octet {
namespace {

constexpr std::string_view kTag = "quantized";

}  // namespace

void apply_quantization(Model& model, const QuantizationConfig& config, QuantExecution exec) {
  std::map<std::string, nn::Linear*> linears;
  model.visit_linears([&](nn::Linear& l) { linears.emplace(l.name(), &l); });
  std::map<std::string, nn::ActivationSite*> sites;
  model.visit_sites([&](nn::ActivationSite& s) { sites.emplace(s.name(), &s); });

  // Every kernel is built (and every check made) before the model changes.
  std::vector<std::pair<nn::Linear*, std::shared_ptr<const nn::LinearKernel>>> kernels;
  for (const QuantizedLinear& q : config.linears) {
    const auto it = linears.find(q.name);
    check(it != linears.end(), kTag, "the model has no Linear named '{}'", q.name);
    const nn::Linear& l = *it->second;
    check(q.weight.defined() && q.weight.shape() == l.weight().shape(), kTag,
          "{}: quantized weight {} does not match the model's {}", q.name,
          q.weight.defined() ? q.weight.describe() : "undefined", l.weight().describe());
    kernels.emplace_back(it->second, make_quantized_linear_kernel(q, l.bias(), exec));
  }
  std::vector<std::pair<nn::ActivationSite*, ActivationQuant>> transforms;
  for (const QuantizedSite& s : config.sites) {
    const auto it = sites.find(s.name);
    check(it != sites.end(), kTag, "the model has no activation site named '{}'", s.name);
    check(it->second->kind() == s.kind, kTag, "site '{}' is a {} site, the config says {}", s.name,
          nn::site_kind_name(it->second->kind()), nn::site_kind_name(s.kind));
    quantize_activation(Tensor::zeros({1}, DType::F32), s.quant);  // validates the parameters
    transforms.emplace_back(it->second, s.quant);
  }

  clear_quantization(model);
  for (auto& [linear, kernel] : kernels) linear->set_kernel(std::move(kernel));
  for (auto& [site, quant] : transforms)
    site->set_transform([q = quant](const Tensor& x) { return fake_quantize_activation(x, q); });
}

void clear_quantization(Model& model) {
  model.visit_linears([](nn::Linear& l) {
    l.set_kernel(nullptr);
    l.input_site().set_transform(nullptr);
  });
  model.visit_sites([](nn::ActivationSite& s) { s.set_transform(nullptr); });
}

}  // namespace octet
