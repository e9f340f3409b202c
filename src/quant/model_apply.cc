// apply_quantization / clear_quantization: install quantized kernels and site
// transforms on a built model.
#include <algorithm>
#include <map>

#include "core/error_tags.h"
#include "octet/error.h"
#include "octet/quantized_model.h"
#include "quant/int8_attention_kernel.h"

namespace octet {

void apply_quantization(Model& model, const QuantizationConfig& config, QuantExecution exec) {
  std::map<std::string, nn::Linear*> linears;
  model.visit_linears([&](nn::Linear& l) { linears.emplace(l.name(), &l); });
  std::map<std::string, nn::ActivationSite*> sites;
  model.visit_sites([&](nn::ActivationSite& s) { sites.emplace(s.name(), &s); });

  // Every kernel is built (and every check made) before the model changes.
  std::vector<std::pair<nn::Linear*, std::shared_ptr<const nn::LinearKernel>>> kernels;
  for (const QuantizedLinear& q : config.linears) {
    const auto it = linears.find(q.name);
    check(it != linears.end(), kQuantizedTag, "the model has no Linear named '{}'", q.name);
    const nn::Linear& l = *it->second;
    const Shape model_shape{l.out_features(), l.in_features()};
    check(q.weight.defined() && q.weight.shape() == model_shape, kQuantizedTag,
          "{}: quantized weight {} does not match the model's {}", q.name,
          q.weight.defined() ? q.weight.describe() : "undefined", shape_str(model_shape));
    kernels.emplace_back(it->second, make_quantized_linear_kernel(q, l.bias(), exec));
  }
  std::vector<std::pair<nn::ActivationSite*, ActivationQuant>> transforms;
  for (const QuantizedSite& s : config.sites) {
    const auto it = sites.find(s.name);
    check(it != sites.end(), kQuantizedTag, "the model has no activation site named '{}'", s.name);
    check(it->second->kind() == s.kind, kQuantizedTag, "site '{}' is a {} site, the config says {}", s.name,
          nn::site_kind_name(it->second->kind()), nn::site_kind_name(s.kind));
    quantize_activation(Tensor::zeros({1}, DType::F32), s.quant);  // validates the parameters
    transforms.emplace_back(it->second, s.quant);
  }

  // The KV cache: every attention block gets the format; static scales by module name.
  std::vector<std::pair<nn::MultiHeadAttention*, nn::KvCacheQuant>> kv;
  if (config.kv_cache.enabled()) {
    std::map<std::string, const KvCacheConfig::Layer*> layers;
    for (const KvCacheConfig::Layer& l : config.kv_cache.layers) layers.emplace(l.name, &l);
    model.visit_attention([&](nn::MultiHeadAttention& a) {
      nn::KvCacheQuant q;
      q.dtype = config.kv_cache.dtype;
      q.dynamic = config.kv_cache.dynamic;
      if (!q.dynamic) {
        const auto it = layers.find(a.name());
        check(it != layers.end(), kQuantizedTag, "the KV cache config has no scales for attention '{}'", a.name());
        q.k_scale = it->second->k_scale;
        q.v_scale = it->second->v_scale;
      }
      kv.emplace_back(&a, std::move(q));
    });
    check(!kv.empty(), kQuantizedTag,
          "the config quantizes the KV cache, but the model has no attention blocks with one");
    for (const auto& named : layers) {
      const auto& name = named.first;  // not a structured binding: clang < 16 cannot capture one
      const bool found = std::any_of(kv.begin(), kv.end(), [&](const auto& e) { return e.first->name() == name; });
      check(found, kQuantizedTag, "the model has no attention block named '{}'", name);
    }
    for (auto& [attention, q] : kv) {
      nn::MultiHeadAttention probe = *attention;  // validates the scales against the block before anything changes
      probe.set_kv_quant(q);
    }
  }

  // Natively, an attention block whose four sites are static int8 runs them as int8 Q K^T and P V.
  std::vector<std::pair<nn::MultiHeadAttention*, std::shared_ptr<const nn::AttentionKernel>>> attention_kernels;
  if (exec == QuantExecution::Native) {
    std::map<std::string, const ActivationQuant*> quant_of;
    for (const auto& [site, quant] : transforms) quant_of.emplace(site->name(), &quant);
    model.visit_attention([&](nn::MultiHeadAttention& a) {
      const ActivationQuant* grids[4] = {};
      const char* suffixes[4] = {":query", ":key", ":value", ":probs"};
      for (int i = 0; i < 4; ++i) {
        const auto it = quant_of.find(a.name() + suffixes[i]);
        if (it == quant_of.end()) return;
        grids[i] = it->second;
      }
      if (auto kernel = make_int8_attention_kernel(*grids[0], *grids[1], *grids[2], *grids[3]))
        attention_kernels.emplace_back(&a, std::move(kernel));
    });
  }

  clear_quantization(model);
  for (auto& [attention, kernel] : attention_kernels) attention->set_attention_kernel(std::move(kernel));
  for (auto& [attention, q] : kv) attention->set_kv_quant(std::move(q));
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
  model.visit_attention([](nn::MultiHeadAttention& a) {
    a.set_kv_quant({});
    a.set_attention_kernel(nullptr);
  });
}

}  // namespace octet
