// quantize_model: recipe checks, calibration passes over the activation
// sites, weight quantization and the per-layer report.
#include <cmath>
#include <map>
#include <span>
#include <set>

#include "core/error_tags.h"
#include "octet/error.h"
#include "octet/kernels.h"
#include "octet/log.h"
#include "octet/progress.h"
#include "octet/quant_calibration.h"
#include "octet/quantize_model.h"
#include "quant/model_sensitivity.h"

namespace octet {
namespace {

bool is_histogram_calibrator(std::string_view name) {
  return name == "percentile" || name == "entropy" || name == "mse";
}

void validate_recipe(const QuantRecipe& r) {
  check(r.name == "int8" || r.name == "int8-dynamic", kQuantizeTag, "unknown recipe '{}' (int8, int8-dynamic)", r.name);
  check(r.dynamic == (r.name == "int8-dynamic"), kQuantizeTag, "recipe '{}' has dynamic = {}", r.name, r.dynamic);
  if (!r.dynamic) {
    const auto names = calibrator_names();
    check(std::find(names.begin(), names.end(), r.calibrator) != names.end(), kQuantizeTag,
          "unknown calibrator '{}' ({})", r.calibrator, fmt::join(names, ", "));
  }
  check(r.percentile > 0 && r.percentile <= 100, kQuantizeTag, "percentile must be in (0, 100], got {}", r.percentile);
  check(r.momentum >= 0 && r.momentum < 1, kQuantizeTag, "ema momentum must be in [0, 1), got {}", r.momentum);
  check(!r.fallback_budget || (*r.fallback_budget >= 0 && *r.fallback_budget < 1), kQuantizeTag,
        "the fallback budget must be in [0, 1), got {}", r.fallback_budget.value_or(0));
  check(
      !r.dynamic || !(r.attention_sites || r.residual_sites || r.norm_sites), kQuantizeTag,
      "attention / residual / norm sites are calibrated statically; recipe int8-dynamic quantizes Linear inputs only");
}

// A site being calibrated: a handle sharing the model's site state, and its observers.
struct Slot {
  nn::ActivationSite site;
  std::unique_ptr<Observer> range;       // min/max (pass 1, and the report)
  std::unique_ptr<Observer> calibrator;  // the recipe's (pass 2 for histogram methods)
};

// Runs every batch with `observe(slot, x)` on every slot; observers are removed afterwards, also on errors.
class CalibrationPass {
 public:
  CalibrationPass(std::vector<Slot>& slots, const std::vector<ModelInputs>& batches)
      : slots_(slots), batches_(batches) {}
  ~CalibrationPass() {
    for (Slot& s : slots_) s.site.set_observer(nullptr);
  }

  void run(const Model& model, std::string_view label, bool progress,
           const std::function<void(Slot&, const Tensor&)>& observe) {
    int64_t batch = 0;
    for (Slot& s : slots_)
      s.site.set_observer([&, slot = &s](const nn::ActivationSite& site, const Tensor& x) {
        check_finite(site, x, batch);
        observe(*slot, x);
      });
    std::optional<ProgressBar> bar;
    if (progress) {
      ProgressOptions po;
      po.unit = "batch";
      bar.emplace(int64_t(batches_.size()), std::string(label), po);
    }
    for (; batch < int64_t(batches_.size()); ++batch) {
      model.forward(batches_[size_t(batch)]);
      if (bar) bar->advance();
    }
    for (Slot& s : slots_) s.site.set_observer(nullptr);
  }

 private:
  void check_finite(const nn::ActivationSite& site, const Tensor& x, int64_t batch) const {
    const Tensor c = x.contiguous();
    int64_t nan = 0, inf = 0;
    for (const float v : c.span<float>()) {
      nan += std::isnan(v);
      inf += std::isinf(v);
    }
    check(nan + inf == 0, kCalibrateTag,
          "activation at site '{}' ({}) has {} NaN and {} Inf values (of {}) in calibration batch {} of {}",
          site.name(), nn::site_kind_name(site.kind()), nan, inf, c.numel(), batch + 1, batches_.size());
  }

  std::vector<Slot>& slots_;
  const std::vector<ModelInputs>& batches_;
};

QuantizedLinear quantize_weights(const nn::Linear& l, const QuantRecipe& r, LayerReport& report) {
  QuantizedLinear q;
  q.name = l.name();
  q.weight_spec = r.per_channel_weights ? kInt8PerChannelWeights : QuantSpec{};
  const Tensor& w = l.weight();
  QuantParams p;
  try {
    p = compute_qparams(w, q.weight_spec);
  } catch (const Error& e) {
    fail(kQuantizeTag, "weight of '{}': {}", l.name(), e.detail());
  }
  q.weight = quantize(w, q.weight_spec, p);
  const int64_t out = w.dim(0);
  q.weight_scale = Tensor::empty({out}, DType::F32);
  const float* s = p.scale.data<float>();
  for (int64_t n = 0; n < out; ++n) q.weight_scale.data<float>()[n] = r.per_channel_weights ? s[n] : s[0];
  report.weight_error = relative_l2(dequantized_weight(q), w);
  return q;
}

}  // namespace

QuantRecipe recipe_preset(std::string_view name) {
  QuantRecipe r;
  if (name == "int8") return r;
  if (name == "int8-dynamic") {
    r.name = "int8-dynamic";
    r.dynamic = true;
    return r;
  }
  fail(kQuantizeTag, "unknown recipe '{}' (int8, int8-dynamic)", name);
}

std::string calibrator_label(const QuantRecipe& r) {
  if (r.dynamic) return "";
  if (r.calibrator == "percentile") return fmt::format("percentile({:g})", r.percentile);
  if (r.calibrator == "ema") return fmt::format("ema({:g})", r.momentum);
  return r.calibrator;
}

QuantizationConfig quantize_model(Model& model, const std::vector<ModelInputs>& calibration,
                                  const QuantizeOptions& options, QuantizeReport* report_out) {
  const QuantRecipe& r = options.recipe;
  validate_recipe(r);
  check(r.dynamic || !calibration.empty(), kCalibrateTag, "static recipe '{}' needs calibration data (none given)",
        r.name);
  clear_quantization(model);
  QuantizeReport report;
  report.calibration_batches = int64_t(calibration.size());
  for (const ModelInputs& b : calibration) report.calibration_sequences += b.input_ids.dim(0);

  QuantizationConfig config;
  config.recipe = r.name;
  config.calibrator = calibrator_label(r);
  config.calibration_source = options.calibration_source;
  config.calibration_samples = r.dynamic ? 0 : report.calibration_sequences;
  config.weight_spec = r.per_channel_weights ? kInt8PerChannelWeights : QuantSpec{};
  QuantSpec act_spec;
  act_spec.scheme = r.dynamic ? QuantScheme::Symmetric : r.activation_scheme;
  if (r.dynamic) act_spec.granularity = Granularity::PerToken;
  config.activation_spec = act_spec;

  // Linears in model order (a shared Linear is visited once), minus --exclude matches.
  std::vector<nn::Linear*> linears;
  std::set<std::string> seen;
  model.visit_linears([&](nn::Linear& l) {
    if (seen.insert(l.name()).second) linears.push_back(&l);
  });
  std::map<std::string, size_t> layer_index;
  std::vector<nn::Linear*> selected;
  std::vector<size_t> pattern_hits(r.exclude.size(), 0);
  for (nn::Linear* l : linears) {
    LayerReport lr;
    lr.name = l->name();
    for (size_t p = 0; p < r.exclude.size(); ++p)
      if (glob_match(r.exclude[p], l->name())) {
        ++pattern_hits[p];
        if (lr.reason.empty()) lr.reason = fmt::format("--exclude pattern '{}'", r.exclude[p]);
      }
    layer_index[lr.name] = report.layers.size();
    if (lr.reason.empty())
      selected.push_back(l);
    else
      config.excluded.push_back({lr.name, lr.reason});
    report.layers.push_back(std::move(lr));
  }
  for (size_t p = 0; p < r.exclude.size(); ++p)
    if (pattern_hits[p] == 0) {
      report.warnings.push_back(fmt::format("--exclude pattern '{}' matches no Linear layer", r.exclude[p]));
      log_warn("{}", report.warnings.back());
    }

  // ---- calibration (static) ----
  std::vector<Slot> slots;
  if (!r.dynamic) {
    for (nn::Linear* l : selected) slots.push_back({l->input_site(), nullptr, nullptr});
    model.visit_sites([&](nn::ActivationSite& s) {
      const nn::SiteKind k = s.kind();
      const bool attention = k == nn::SiteKind::AttentionQuery || k == nn::SiteKind::AttentionKey ||
                             k == nn::SiteKind::AttentionValue || k == nn::SiteKind::AttentionProbs;
      if ((attention && r.attention_sites) || (k == nn::SiteKind::ResidualAdd && r.residual_sites) ||
          (k == nn::SiteKind::NormInput && r.norm_sites))
        slots.push_back({s, nullptr, nullptr});
    });
    CalibratorOptions co;
    co.spec = act_spec;
    co.percentile = r.percentile;
    co.momentum = r.momentum;
    CalibrationPass pass(slots, calibration);
    const bool two_pass = is_histogram_calibrator(r.calibrator);
    for (Slot& s : slots) {
      s.range = std::make_unique<MinMaxObserver>(act_spec);
      if (!two_pass) s.calibrator = make_calibrator(r.calibrator, co);
    }
    pass.run(model, two_pass ? "calibrating (pass 1/2: ranges)" : "calibrating", options.progress,
             [](Slot& s, const Tensor& x) {
               s.range->observe(x);
               if (s.calibrator) s.calibrator->observe(x);
             });
    if (two_pass) {
      for (Slot& s : slots) {
        if (s.range->batches() == 0) continue;
        const QuantRanges range = s.range->compute_range();
        co.histogram_range = std::max(std::fabs(double(range.min.data<float>()[0])),
                                      std::fabs(double(range.max.data<float>()[0])));
        s.calibrator = make_calibrator(r.calibrator, co);
      }
      pass.run(model, "calibrating (pass 2/2: histograms)", options.progress, [](Slot& s, const Tensor& x) {
        if (s.calibrator) s.calibrator->observe(x);
      });
    }
  }

  // ---- weights and activation parameters ----
  std::map<std::string, const Slot*> slot_of;
  for (const Slot& s : slots) slot_of[s.site.name()] = &s;
  auto activation_of = [&](const Slot& s) {
    ActivationQuant a;
    a.spec = act_spec;
    const QuantParams p = s.calibrator->compute_qparams(act_spec);
    a.scale = p.scale.data<float>()[0];
    a.zero_point = p.zero_point.data<int32_t>()[0];
    return a;
  };
  for (nn::Linear* l : selected) {
    LayerReport& lr = report.layers[layer_index.at(l->name())];
    ActivationQuant input;
    if (r.dynamic) {
      input.dynamic = true;
    } else {
      const Slot& s = *slot_of.at(l->input_site().name());
      if (s.range->batches() == 0) {
        lr.reason = "never ran during calibration (no activation statistics)";
        report.warnings.push_back(fmt::format("Linear '{}' {}; it stays fp32", l->name(), lr.reason));
        log_warn("{}", report.warnings.back());
        config.excluded.push_back({lr.name, lr.reason});
        continue;
      }
      const QuantRanges range = s.range->compute_range();
      lr.input_min = range.min.data<float>()[0];
      lr.input_max = range.max.data<float>()[0];
      input = activation_of(s);
      lr.input_scale = input.scale;
      lr.input_zero_point = input.zero_point;
    }
    QuantizedLinear q = quantize_weights(*l, r, lr);
    q.input = input;
    lr.quantized = true;
    config.linears.push_back(std::move(q));
  }
  for (const Slot& s : slots) {
    if (s.site.kind() == nn::SiteKind::LinearInput) continue;
    if (s.range->batches() == 0) {
      report.warnings.push_back(fmt::format("site '{}' never ran during calibration; it stays fp32", s.site.name()));
      log_warn("{}", report.warnings.back());
      continue;
    }
    config.sites.push_back({s.site.name(), s.site.kind(), activation_of(s)});
  }

  // ---- per-layer error, sensitivity and fallback (simulated execution) ----
  if (!calibration.empty()) {
    measure_output_errors(model, config, calibration, report);
    if (options.sensitivity || r.fallback_budget) {
      measure_sensitivity(model, config, calibration, options.progress, report);
      if (r.fallback_budget) apply_fallback(model, config, calibration, *r.fallback_budget, report);
    }
  }
  clear_quantization(model);
  if (report_out) *report_out = std::move(report);
  return config;
}

}  // namespace octet
