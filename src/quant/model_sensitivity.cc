// Per-layer output error, one-layer-at-a-time sensitivity and the fp32
// fallback of sensitive layers (see model_sensitivity.h).
#include "quant/model_sensitivity.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <span>
#include <utility>

#include "octet/error.h"
#include "octet/kernels.h"
#include "octet/log.h"
#include "octet/progress.h"

namespace octet {
namespace {

std::map<std::string, nn::Linear*> linears_by_name(Model& model) {
  std::map<std::string, nn::Linear*> out;
  model.visit_linears([&](nn::Linear& l) { out.emplace(l.name(), &l); });
  return out;
}

LayerReport* layer_report(QuantizeReport& report, const std::string& name) {
  for (LayerReport& l : report.layers)
    if (l.name == name) return &l;
  return nullptr;
}

// The output quantization is judged by: logits, else last_hidden_state.
const Tensor& primary_output(const NamedTensors& out) {
  for (const char* name : {"logits", "last_hidden_state"}) {
    const auto it = out.find(name);
    if (it != out.end()) return it->second;
  }
  fail("quantize", "the model gives neither logits nor last_hidden_state");
}

int64_t argmax_row(const float* row, int64_t n) { return std::max_element(row, row + n) - row; }

// fp32 reference outputs of the calibration batches, and the comparison of a quantized run against them.
class OutputComparison {
 public:
  OutputComparison(Model& model, const std::vector<ModelInputs>& batches) : model_(model), batches_(batches) {
    clear_quantization(model_);
    for (const ModelInputs& b : batches_) reference_.push_back(primary_output(model_.forward(b)).contiguous());
    classify_ = model_.info().head == ModelHead::SequenceClassification;
  }

  struct Result {
    double error = 0;      // relative L2 over all batches
    double max_abs = 0;
    int64_t changes = 0;   // argmax changes (classification)
    int64_t rows = 0;
    double disagreement() const { return rows ? double(changes) / double(rows) : 0.0; }
  };

  Result run(const QuantizationConfig& config, QuantExecution exec = QuantExecution::Simulated) {
    apply_quantization(model_, config, exec);
    Result r;
    double num = 0, den = 0;
    for (size_t i = 0; i < batches_.size(); ++i) {
      const Tensor out = primary_output(model_.forward(batches_[i])).contiguous();
      const std::span<const float> a = out.span<float>(), e = std::as_const(reference_[i]).span<float>();
      for (size_t k = 0; k < a.size(); ++k) {
        num += (double(a[k]) - e[k]) * (double(a[k]) - e[k]);
        den += double(e[k]) * e[k];
        r.max_abs = std::max(r.max_abs, std::fabs(double(a[k]) - e[k]));
      }
      if (classify_) {
        const int64_t classes = out.dim(-1), rows = out.numel() / classes;
        for (int64_t row = 0; row < rows; ++row)
          r.changes += argmax_row(a.data() + row * classes, classes) != argmax_row(e.data() + row * classes, classes);
        r.rows += rows;
      }
    }
    clear_quantization(model_);
    r.error = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
    return r;
  }

  bool classify() const { return classify_; }

 private:
  Model& model_;
  const std::vector<ModelInputs>& batches_;
  std::vector<Tensor> reference_;
  bool classify_ = false;
};

}  // namespace

OutputFidelity compare_to_fp32(Model& model, const QuantizationConfig& config, QuantExecution exec,
                               const std::vector<ModelInputs>& batches) {
  OutputComparison compare(model, batches);
  const auto r = compare.run(config, exec);
  return {r.error, r.max_abs, r.rows, r.changes};
}

void measure_output_errors(Model& model, const QuantizationConfig& config, const std::vector<ModelInputs>& batches,
                           QuantizeReport& report) {
  clear_quantization(model);
  const auto linears = linears_by_name(model);
  struct Sums {
    double num = 0, den = 0;
  };
  std::vector<Sums> sums(config.linears.size());
  for (size_t i = 0; i < config.linears.size(); ++i) {
    nn::Linear& l = *linears.at(config.linears[i].name);
    auto kernel = make_quantized_linear_kernel(config.linears[i], l.bias(), QuantExecution::Simulated);
    l.input_site().set_observer([&l, kernel, s = &sums[i]](const nn::ActivationSite&, const Tensor& x) {
      const Tensor exact = kernels::linear(x.contiguous(), l.weight(), l.bias());
      const Tensor approx = kernel->forward(x);
      const auto a = approx.span<float>(), e = exact.span<float>();
      for (size_t k = 0; k < a.size(); ++k) {
        s->num += (double(a[k]) - e[k]) * (double(a[k]) - e[k]);
        s->den += double(e[k]) * e[k];
      }
    });
  }
  try {
    for (const ModelInputs& b : batches) model.forward(b);
  } catch (...) {
    for (const QuantizedLinear& q : config.linears) linears.at(q.name)->input_site().set_observer(nullptr);
    throw;
  }
  for (size_t i = 0; i < config.linears.size(); ++i) {
    linears.at(config.linears[i].name)->input_site().set_observer(nullptr);
    if (LayerReport* lr = layer_report(report, config.linears[i].name))
      lr->output_error = sums[i].den > 0 ? std::sqrt(sums[i].num / sums[i].den) : std::sqrt(sums[i].num);
  }
}

void measure_sensitivity(Model& model, const QuantizationConfig& config, const std::vector<ModelInputs>& batches,
                         bool progress, QuantizeReport& report) {
  OutputComparison compare(model, batches);
  std::optional<ProgressBar> bar;
  if (progress) {
    ProgressOptions po;
    po.unit = "layer";
    bar.emplace(int64_t(config.linears.size()) + 1, "sensitivity", po);
  }
  for (const QuantizedLinear& q : config.linears) {
    QuantizationConfig one = config;
    one.linears = {q};
    one.sites.clear();
    const auto r = compare.run(one);
    if (LayerReport* lr = layer_report(report, q.name)) {
      lr->model_error = r.error;
      if (compare.classify()) lr->prediction_changes = r.changes;
    }
    if (bar) bar->advance();
  }
  const auto all = compare.run(config);
  report.model_error = all.error;
  if (compare.classify()) report.disagreement = all.disagreement();
  if (bar) bar->finish();
}

void apply_fallback(Model& model, QuantizationConfig& config, const std::vector<ModelInputs>& batches, double budget,
                    QuantizeReport& report) {
  OutputComparison compare(model, batches);
  auto metric = [&](const OutputComparison::Result& r) { return compare.classify() ? r.disagreement() : r.error; };
  auto sensitivity = [&](const QuantizedLinear& q) {
    const LayerReport* lr = layer_report(report, q.name);
    return lr && lr->model_error ? *lr->model_error : 0.0;
  };
  auto result = compare.run(config);
  while (metric(result) > budget && !config.linears.empty()) {
    const auto worst = std::max_element(config.linears.begin(), config.linears.end(),
                                        [&](const auto& a, const auto& b) { return sensitivity(a) < sensitivity(b); });
    const std::string reason =
        fmt::format("sensitivity fallback: {} {:.4g} > budget {:g} with it quantized (model output error {:.3g} when "
                    "quantized alone)",
                    compare.classify() ? "calibration disagreement" : "output error", metric(result), budget,
                    sensitivity(*worst));
    if (LayerReport* lr = layer_report(report, worst->name)) {
      lr->quantized = false;
      lr->reason = reason;
    }
    config.excluded.push_back({worst->name, reason});
    config.linears.erase(worst);
    result = compare.run(config);
  }
  if (metric(result) > budget) {
    report.warnings.push_back(fmt::format("the fallback budget {:g} is not met even with every Linear in fp32", budget));
    log_warn("{}", report.warnings.back());
  }
  report.model_error = result.error;
  if (compare.classify()) report.disagreement = result.disagreement();
}

double relative_l2(const Tensor& approx, const Tensor& exact) {
  const Tensor ac = approx.contiguous(), ec = exact.contiguous();
  const std::span<const float> a = ac.span<float>(), e = ec.span<float>();
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += (double(a[i]) - e[i]) * (double(a[i]) - e[i]);
    den += double(e[i]) * e[i];
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

}  // namespace octet
