// QDQ plans made by octet itself: min / max calibration of every Linear input
// with per-channel weights, and simulated execution of a plan (the reference
// the exported QDQ graph is compared with).
#include <map>
#include <memory>

#include "core/error_tags.h"
#include "octet/error.h"
#include "octet/export_onnx.h"
#include "octet/quant_calibration.h"

namespace octet {
namespace {

// '*' matches any run of characters; everything else matches itself.
bool glob_match(std::string_view pattern, std::string_view text) {
  size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (p < pattern.size() && pattern[p] == text[t]) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

bool excluded(const std::vector<std::string>& patterns, const std::string& name) {
  for (const auto& p : patterns)
    if (glob_match(p, name)) return true;
  return false;
}

// x dequantize(codes)^T + bias: the fp32 GEMM on the dequantized weight, as the
// QDQ graph's DequantizeLinear -> MatMul -> Add computes it.
class SimulatedLinearKernel final : public nn::LinearKernel {
 public:
  SimulatedLinearKernel(Tensor weight, Tensor bias) : linear_(std::move(weight), std::move(bias)) {}
  Tensor forward(const Tensor& x) const override { return linear_.forward(x); }
  std::string describe() const override { return "qdq-simulated"; }

 private:
  nn::Linear linear_;  // a fresh Linear: no site, no kernel
};

QdqWeight quantize_weight(const nn::Linear& linear, const QuantSpec& spec) {
  validate_quant_spec(spec, linear.weight().shape());
  QdqWeight w;
  w.spec = spec;
  w.params = compute_qparams(linear.weight(), spec);
  w.codes = quantize(linear.weight(), spec, w.params);
  return w;
}

}  // namespace

QdqPlan calibrate_minmax_plan(Model& model, const std::vector<ModelInputs>& batches, const MinMaxPlanOptions& options) {
  check(!batches.empty(), kExportTag, "min/max calibration needs at least one batch");
  check(options.activation_spec.granularity == Granularity::PerTensor, kExportTag,
        "static activation quantization is per tensor, got {}", to_string(options.activation_spec));
  std::map<std::string, std::shared_ptr<MinMaxObserver>> observers;
  QdqPlan plan;
  model.visit_linears([&](nn::Linear& linear) {
    if (excluded(options.exclude, linear.name())) return;
    plan.weights.emplace(linear.name(), quantize_weight(linear, options.weight_spec));
    auto observer = std::make_shared<MinMaxObserver>(options.activation_spec);
    observers[linear.name()] = observer;
    linear.input_site().set_observer([observer](const nn::ActivationSite&, const Tensor& x) { observer->observe(x); });
  });
  check(!plan.weights.empty(), kExportTag, "every Linear is excluded: nothing to quantize");
  try {
    for (const ModelInputs& batch : batches) model.forward(batch);
  } catch (...) {
    model.visit_linears([](nn::Linear& linear) { linear.input_site().set_observer({}); });
    throw;
  }
  model.visit_linears([](nn::Linear& linear) { linear.input_site().set_observer({}); });
  for (const auto& [name, observer] : observers) {
    check(observer->batches() > 0, kExportTag, "Linear '{}' saw no input during calibration", name);
    const QuantParams p = observer->compute_qparams();
    plan.activations[name] = QdqActivation{options.activation_spec, {p.scale.data<float>()[0], p.zero_point.data<int32_t>()[0]}};
  }
  return plan;
}

void remove_installed_quantization(Model& model) {
  model.visit_linears([](nn::Linear& linear) {
    linear.set_kernel(nullptr);
    linear.input_site().set_transform({});
  });
  model.visit_sites([](nn::ActivationSite& site) { site.set_transform({}); });
}

void install_simulated_plan(Model& model, const QdqPlan& plan) {
  remove_installed_quantization(model);
  size_t weights = 0, sites = 0;
  auto install_site = [&](nn::ActivationSite& site) {
    const auto it = plan.activations.find(site.name());
    if (it == plan.activations.end()) return;
    const QdqActivation& q = it->second;
    check(q.spec.granularity == Granularity::PerTensor, kExportTag,
          "site '{}': static activations are per tensor, got {}", site.name(), to_string(q.spec));
    const QuantParams params = per_tensor_params(q.params);
    site.set_transform([spec = q.spec, params](const Tensor& x) { return fake_quantize(x, spec, params); });
    ++sites;
  };
  model.visit_linears([&](nn::Linear& linear) {
    install_site(linear.input_site());
    const auto it = plan.weights.find(linear.name());
    if (it == plan.weights.end()) return;
    const QdqWeight& w = it->second;
    check(w.codes.shape() == linear.weight().shape(), kExportTag, "Linear '{}': codes {} for a weight {}",
          linear.name(), w.codes, linear.weight().describe());
    linear.set_kernel(std::make_shared<SimulatedLinearKernel>(dequantize(w.codes, w.spec, w.params), linear.bias()));
    ++weights;
  });
  model.visit_sites(install_site);
  if (weights != plan.weights.size() || sites != plan.activations.size()) {
    remove_installed_quantization(model);
    fail(kExportTag, "the QDQ plan names {} weights and {} sites; the model has {} and {} of them", plan.weights.size(),
         plan.activations.size(), weights, sites);
  }
}

}  // namespace octet
