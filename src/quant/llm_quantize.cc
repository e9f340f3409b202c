// quantize_llm: one generic pass for every LLM recipe (see llm_quantize.h).
//
//   select     which Linears are quantized, with which weight spec (exclusions,
//              lm_head, group sizes that must divide K)
//   transform  SmoothQuant / AWQ: per-channel factors folded into producers;
//              AWQ's clipping thresholds
//   weights    round to nearest (with AWQ's clipping) or GPTQ layer by layer
//   calibrate  static activation scales and static KV-cache scales, in one pass
//   report     per-Linear weight and output error on a few calibration windows
#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <set>

#include "core/error_tags.h"
#include "octet/error.h"
#include "octet/llm_quantize.h"
#include "octet/log.h"
#include "octet/number_formats.h"
#include "octet/progress.h"
#include "quant/awq.h"
#include "quant/gptq.h"
#include "quant/group_quant.h"
#include "quant/llm_calibration.h"
#include "quant/model_sensitivity.h"
#include "quant/smoothquant.h"

namespace octet {
namespace {

// Rows of one group's input the --alpha auto search sees.
constexpr int64_t kAlphaSearchRows = 1024;

std::optional<QuantSpec> activation_spec(ActivationFormat f) {
  switch (f) {
    case ActivationFormat::Float: return std::nullopt;
    case ActivationFormat::Int8PerToken: return parse_quant_spec("int8:sym:per_token");
    case ActivationFormat::Int8Static: return parse_quant_spec("int8:sym:per_tensor");
    case ActivationFormat::Fp8Static: return parse_quant_spec("fp8_e4m3:sym:per_tensor");
  }
  return std::nullopt;
}

bool is_static(ActivationFormat f) { return f == ActivationFormat::Int8Static || f == ActivationFormat::Fp8Static; }

// amax / 127 (int8) or amax / 448 (e4m3); an all-zero range gets 1 (quant.h's rule).
float scale_for_amax(float amax, bool fp8) {
  if (!(amax > 0)) return 1.0f;
  return std::max(amax / (fp8 ? 448.0f : 127.0f), std::numeric_limits<float>::min());
}

// Packs unpacked int4 / uint4 grid values [out, in] (i8) into an I4 / U4 tensor.
Tensor pack_codes(const Tensor& values, DType dtype) {
  const Tensor v = values.contiguous();
  Tensor packed = Tensor::empty(v.shape(), dtype);
  const auto src = v.span<int8_t>();
  auto* dst = static_cast<uint8_t*>(packed.raw_data());
  for (size_t i = 0; i < src.size(); i += 2)
    dst[i / 2] = pack_int4(src[i], i + 1 < src.size() ? src[i + 1] : 0);
  return packed;
}

// A QuantizedLinear from the per-group integer weights RTN / GPTQ produce.
QuantizedLinear from_group_weight(const std::string& name, const GroupQuantizedWeight& g) {
  QuantizedLinear q;
  q.name = name;
  q.weight_spec = g.spec;
  const bool packed = dtype_info(g.spec.dtype).is_packed;
  q.weight = packed ? pack_codes(g.codes, g.spec.dtype) : g.codes.contiguous();
  const bool per_row = g.spec.granularity != Granularity::PerGroup;
  q.weight_scale = per_row ? g.scales.contiguous().reshape({g.scales.dim(0)}) : g.scales.contiguous();
  if (g.spec.scheme == QuantScheme::Affine) q.weight_zero_point = g.zero_points.contiguous();
  return q;
}

// Round to nearest with octet's grids; fp8 and int8 per channel through quant.h,
// group formats through quantize_weight_rtn (which also applies AWQ's clipping).
QuantizedLinear quantize_rtn(const nn::Linear& l, const QuantSpec& spec, const Tensor* clip_max) {
  if (spec.granularity == Granularity::PerGroup) return from_group_weight(l.name(), quantize_weight_rtn(l.weight(), spec, clip_max));
  QuantizedLinear q;
  q.name = l.name();
  q.weight_spec = spec;
  const QuantParams p = compute_qparams(l.weight(), spec);
  q.weight = quantize(l.weight(), spec, p);
  const int64_t out = l.out_features();
  q.weight_scale = Tensor::empty({out}, DType::F32);
  const Tensor s = p.scale.contiguous();
  for (int64_t n = 0; n < out; ++n)
    q.weight_scale.data<float>()[n] = spec.granularity == Granularity::PerTensor ? s.data<float>()[0] : s.data<float>()[n];
  return q;
}

// The largest even group size <= `group` that divides `in` (0 if none).
int64_t fallback_group(int64_t group, int64_t in) {
  for (int64_t g = group; g >= 2; --g)
    if (g % 2 == 0 && in % g == 0) return g;
  return 0;
}

struct Member {
  nn::Linear* linear = nullptr;
  size_t report = 0;  // index into QuantizeReport::layers
  bool selected = false;
  QuantSpec spec;
  Tensor clip_max;  // AWQ
  std::optional<QuantizedLinear> quantized;
};

struct Group {
  nn::LinearInputGroup info;
  const LlmRecipe* recipe = nullptr;  // the run's recipe, or the group's own (LlmQuantizeOptions::group_recipes)
  std::vector<Member> members;
  ActivationStats input;  // statistics of the shared input
  bool any_selected() const {
    return std::any_of(members.begin(), members.end(), [](const Member& m) { return m.selected; });
  }
  bool all_selected() const {
    return std::all_of(members.begin(), members.end(), [](const Member& m) { return m.selected; });
  }
  // The input site (every member reads the same activation; the first selected one's site is observed).
  nn::ActivationSite site() const {
    for (const Member& m : members)
      if (m.selected) return m.linear->input_site();
    return members.front().linear->input_site();
  }
};

class LlmQuantizationPass {
 public:
  LlmQuantizationPass(Model& model, const LlmQuantizeOptions& options, const std::vector<ModelInputs>& batches,
                      QuantizeReport& report, QuantizationConfig& config)
      : model_(model), r_(options.recipe), o_(options), batches_(batches), report_(report), config_(config) {}

  void select();
  void transform();
  void quantize_weights();
  void calibrate();
  void finish();

 private:
  LayerReport& report_of(const Member& m) { return report_.layers[m.report]; }
  void add_note(Member& m, const std::string& note) {
    std::string& n = report_of(m).note;
    n += (n.empty() ? "" : "; ") + note;
  }
  // One pass observing the input of every group for which `want(group)` holds.
  void collect_inputs(const std::function<bool(const Group&)>& want, int64_t sample_stride, int64_t max_samples,
                      const std::string& label);
  void smoothquant();
  void awq();
  void gptq();
  int64_t calibration_rows() const {
    int64_t rows = 0;
    for (const ModelInputs& b : batches_) rows += b.input_ids.numel();
    return rows;
  }

  Model& model_;
  const LlmRecipe& r_;
  const LlmQuantizeOptions& o_;
  const std::vector<ModelInputs>& batches_;
  QuantizeReport& report_;
  QuantizationConfig& config_;
  std::vector<Group> groups_;
};

void LlmQuantizationPass::select() {
  std::vector<size_t> pattern_hits(r_.exclude.size(), 0);
  std::set<std::string> unused_group_recipes;
  for (const auto& [name, recipe] : o_.group_recipes) unused_group_recipes.insert(name);
  model_.visit_linear_groups([&](nn::LinearInputGroup& info) {
    Group g;
    g.info = info;
    const auto own = o_.group_recipes.find(info.name);
    g.recipe = own == o_.group_recipes.end() ? &r_ : &own->second;
    unused_group_recipes.erase(info.name);
    const LlmRecipe& recipe = *g.recipe;
    for (nn::Linear* l : info.linears) {
      Member m;
      m.linear = l;
      m.report = report_.layers.size();
      LayerReport lr;
      lr.name = l->name();
      for (size_t p = 0; p < r_.exclude.size(); ++p)
        if (glob_match(r_.exclude[p], l->name())) {
          ++pattern_hits[p];
          if (lr.reason.empty()) lr.reason = fmt::format("--exclude pattern '{}'", r_.exclude[p]);
        }
      if (!recipe.quantize_weights) lr.reason = fmt::format("recipe '{}' keeps the weights f32", recipe.name);
      if (lr.reason.empty() && info.output_head && !r_.quantize_lm_head)
        lr.reason = "the LM head stays f32 (--quantize-lm-head quantizes it)";
      m.spec = recipe.weight;
      if (lr.reason.empty() && m.spec.granularity == Granularity::PerGroup && l->in_features() % m.spec.group_size) {
        const int64_t g2 = fallback_group(m.spec.group_size, l->in_features());
        check(r_.group_fallback && g2 > 0, kQuantizeTag, "--group {} does not divide the {} input features of '{}'{}",
              m.spec.group_size, l->in_features(), l->name(),
              r_.group_fallback ? " (and no even group size does)"
                                : " (pass --group-fallback to use the largest group size that divides it)");
        lr.note = fmt::format("group {} (--group-fallback: {} does not divide {})", g2, m.spec.group_size,
                              l->in_features());
        report_.warnings.push_back(fmt::format("'{}': {}", l->name(), lr.note));
        m.spec.group_size = g2;
      }
      m.selected = lr.reason.empty();
      if (m.selected) {
        lr.weight_format = to_string(m.spec);
      } else if (recipe.quantize_weights || g.recipe != &r_) {
        config_.excluded.push_back({lr.name, lr.reason});
      }
      report_.layers.push_back(std::move(lr));
      g.members.push_back(std::move(m));
    }
    groups_.push_back(std::move(g));
  });
  check(unused_group_recipes.empty(), kQuantizeTag, "the model has no group of Linears named '{}'",
        unused_group_recipes.empty() ? "" : *unused_group_recipes.begin());
  for (size_t p = 0; p < r_.exclude.size(); ++p)
    if (pattern_hits[p] == 0) {
      report_.warnings.push_back(fmt::format("--exclude pattern '{}' matches no Linear layer", r_.exclude[p]));
      log_warn("{}", report_.warnings.back());
    }
}

void LlmQuantizationPass::collect_inputs(const std::function<bool(const Group&)>& want, int64_t sample_stride,
                                         int64_t max_samples, const std::string& label) {
  std::vector<nn::ActivationSite> sites;
  std::map<std::string, Group*> by_site;
  for (Group& g : groups_)
    if (want(g)) {
      g.input = ActivationStats{};
      sites.push_back(g.site());
      by_site[sites.back().name()] = &g;
    }
  if (sites.empty()) return;
  run_calibration_pass(
      model_, batches_, sites,
      [&](const nn::ActivationSite& site, const Tensor& x) {
        by_site.at(site.name())->input.add(x, sample_stride, max_samples, false);
      },
      "", label, o_.progress);
}

// Groups whose producer can absorb factors and whose Linears are all quantized
// (an excluded Linear must stay exactly as the source model has it).
bool foldable(const Group& g) { return g.info.producer.has_value() && g.all_selected(); }

// Groups whose (quantized) weights the algorithm `a` chooses.
bool uses(const Group& g, WeightAlgorithm a) {
  return g.recipe->quantize_weights && g.recipe->algorithm == a && g.any_selected();
}

void LlmQuantizationPass::transform() {
  // Each group's factors only touch its own consumers' columns and its
  // producer's rows, so groups of different recipes fold independently.
  smoothquant();
  awq();
}

void LlmQuantizationPass::smoothquant() {
  auto wanted = [](const Group& g) { return uses(g, WeightAlgorithm::SmoothQuant); };
  if (std::none_of(groups_.begin(), groups_.end(), wanted)) return;
  const bool search = std::any_of(groups_.begin(), groups_.end(),
                                  [&](const Group& g) { return wanted(g) && g.recipe->alpha_search; });
  const int64_t stride = search ? std::max<int64_t>(1, calibration_rows() / kAlphaSearchRows) : 0;
  collect_inputs([&](const Group& g) { return wanted(g) && foldable(g); }, stride, kAlphaSearchRows,
                 "smoothquant: activation ranges");
  for (Group& g : groups_) {
    if (!wanted(g)) continue;
    const LlmRecipe& recipe = *g.recipe;
    if (!foldable(g)) {
      if (g.any_selected() && !g.info.output_head)
        for (Member& m : g.members)
          add_note(m, g.info.producer ? "not smoothed (a Linear of its group stays f32)"
                                      : "not smoothed (nothing before it can absorb the factors)");
      continue;
    }
    const Tensor rows = stride > 0 ? g.input.sampled_rows.slice(0, 0, g.input.sampled) : Tensor();
    const double alpha =
        recipe.alpha_search ? search_smoothquant_alpha(g.info, g.input.channel_amax, rows, recipe) : recipe.alpha;
    const std::vector<float> s = smoothquant_factors(g.info, g.input.channel_amax, alpha);
    fold_channel_factors(g.info, s);
    const float top = *std::max_element(s.begin(), s.end()), low = *std::min_element(s.begin(), s.end());
    for (Member& m : g.members) {
      add_note(m, fmt::format("smoothquant alpha {:g} (factors {:.3g}..{:.3g}, into {})", alpha, low, top,
                              g.info.producer->name));
    }
  }
}

void LlmQuantizationPass::awq() {
  auto wanted = [](const Group& g) { return uses(g, WeightAlgorithm::Awq); };
  if (std::none_of(groups_.begin(), groups_.end(), wanted)) return;
  int64_t rows = 0;
  for (const Group& g : groups_)
    if (wanted(g)) rows = std::max(rows, g.recipe->awq_rows);
  const int64_t stride = std::max<int64_t>(1, calibration_rows() / rows);
  collect_inputs(wanted, stride, rows, "awq: layer inputs");
  std::optional<ProgressBar> bar;
  if (o_.progress) {
    ProgressOptions po;
    po.unit = "group";
    bar.emplace(int64_t(std::count_if(groups_.begin(), groups_.end(), wanted)), "awq: scale + clip search", po);
  }
  for (Group& g : groups_) {
    if (!wanted(g)) continue;
    const LlmRecipe& recipe = *g.recipe;
    Tensor x = g.input.sampled_rows.slice(0, 0, g.input.sampled).contiguous();
    const QuantSpec& spec = g.members.front().spec;
    // AWQ's factors are per input column, so a producer whose channels feed
    // several columns (GQA's v -> o_proj) is skipped, as AutoAWQ does.
    if (foldable(g) && g.info.producer->channel_of.empty()) {
      std::vector<Tensor> weights;
      for (const Member& m : g.members) weights.push_back(m.linear->weight());
      const AwqScaleResult res = awq_search_scales(x, weights, spec, recipe.awq_grid);
      fold_channel_factors(g.info, res.scales);
      x = x.clone();
      float* xs = x.data<float>();
      const int64_t in = x.dim(1);
      for (int64_t row = 0; row < x.dim(0); ++row)
        for (int64_t c = 0; c < in; ++c) xs[row * in + c] /= res.scales[size_t(c)];
      const double gain =
          res.rtn_error > 0 ? res.errors[size_t(std::lround(res.alpha * recipe.awq_grid))] / res.rtn_error : 1;
      for (Member& m : g.members) {
        add_note(m, fmt::format("awq alpha {:g} (output MSE x{:.3f} of plain RTN, into {})", res.alpha, gain,
                                g.info.producer->name));
      }
    } else {
      for (Member& m : g.members)
        if (m.selected) add_note(m, "awq: no factors (nothing before it can absorb per-column factors)");
    }
    if (recipe.awq_clip)
      for (Member& m : g.members)
        if (m.selected) {
          m.clip_max = awq_search_clip(x, m.linear->weight(), m.spec);
          add_note(m, "clipped");
        }
    if (bar) bar->advance();
  }
  if (bar) bar->finish();
}

void LlmQuantizationPass::gptq() {
  std::optional<ProgressBar> bar;
  auto wanted = [](const Group& g) { return uses(g, WeightAlgorithm::Gptq); };
  const int64_t todo = std::count_if(groups_.begin(), groups_.end(), wanted);
  if (todo == 0) return;
  if (o_.progress) {
    ProgressOptions po;
    po.unit = "group";
    bar.emplace(todo, "gptq: layer by layer", po);
  }
  for (Group& g : groups_) {
    if (!wanted(g)) continue;
    GptqOptions go;
    go.damp = g.recipe->gptq_damp;
    go.block = g.recipe->gptq_block;
    go.act_order = g.recipe->act_order;
    // The input of this group on the model whose earlier Linears are already
    // quantized (their simulated kernels are installed); the forward stops here.
    const nn::ActivationSite site = g.site();
    HessianAccumulator h(g.members.front().linear->in_features());
    run_calibration_pass(
        model_, batches_, {site}, [&](const nn::ActivationSite&, const Tensor& x) { h.add(x); }, site.name(), "",
        false);
    const Tensor hessian = h.hessian();
    for (Member& m : g.members) {
      if (!m.selected) continue;
      GptqStats stats;
      m.quantized = from_group_weight(m.linear->name(), gptq_quantize(m.linear->weight(), hessian, m.spec, go, &stats));
      add_note(m, fmt::format("gptq on {} rows{}{}", h.rows(), go.act_order ? ", act-order" : "",
                              stats.dead_columns ? fmt::format(", {} dead columns", stats.dead_columns) : ""));
    }
    for (Member& m : g.members)
      if (m.quantized) {
        QuantizedLinear q = *m.quantized;
        q.input = std::nullopt;  // GPTQ's later layers see the earlier ones' quantized weights only
        m.linear->set_kernel(make_quantized_linear_kernel(q, m.linear->bias(), QuantExecution::Simulated));
      }
    if (bar) bar->advance();
  }
  if (bar) bar->finish();
  clear_quantization(model_);
}

void LlmQuantizationPass::quantize_weights() {
  gptq();
  for (Group& g : groups_)
    for (Member& m : g.members)
      if (m.selected && !m.quantized)
        m.quantized = quantize_rtn(*m.linear, m.spec, m.clip_max.defined() ? &m.clip_max : nullptr);
}

void LlmQuantizationPass::calibrate() {
  auto static_act = [](const Group& g) {
    return g.recipe->quantize_weights && is_static(g.recipe->activations) && g.any_selected();
  };
  const bool any_static_act = std::any_of(groups_.begin(), groups_.end(), static_act);
  const bool static_kv = r_.kv_cache != DType::F32 && !r_.kv_dynamic;
  // Sites: each quantized group's input (static activations), every key and value site (static KV cache).
  std::vector<nn::ActivationSite> sites;
  std::map<std::string, ActivationStats> stats;
  std::vector<std::string> attention;  // module paths, in model order
  for (const Group& g : groups_)
    if (static_act(g)) sites.push_back(g.site());
  if (r_.kv_cache != DType::F32)
    model_.visit_sites([&](nn::ActivationSite& s) {
      if (s.kind() == nn::SiteKind::AttentionKey) attention.push_back(s.name().substr(0, s.name().rfind(':')));
      if (static_kv && (s.kind() == nn::SiteKind::AttentionKey || s.kind() == nn::SiteKind::AttentionValue))
        sites.push_back(s);
    });
  if (!sites.empty()) {
    std::set<std::string> kv_sites;
    for (const auto& s : sites)
      if (s.kind() != nn::SiteKind::LinearInput) kv_sites.insert(s.name());
    run_calibration_pass(
        model_, batches_, sites,
        [&](const nn::ActivationSite& site, const Tensor& x) {
          stats[site.name()].add(x, 0, 0, kv_sites.count(site.name()) > 0);
        },
        "",
        static_kv && any_static_act ? "calibrating activations and KV cache"
                                    : (static_kv ? "calibrating KV cache" : "calibrating activations"),
        o_.progress);
  }
  for (Group& g : groups_) {
    const ActivationStats* s = static_act(g) ? &stats.at(g.site().name()) : nullptr;
    const ActivationFormat format = g.recipe->activations;
    for (Member& m : g.members) {
      if (!m.quantized) continue;
      LayerReport& lr = report_of(m);
      if (format == ActivationFormat::Float) {
        m.quantized->input = std::nullopt;
      } else if (format == ActivationFormat::Int8PerToken) {
        m.quantized->input = ActivationQuant{.dynamic = true};
      } else {
        ActivationQuant a;
        a.spec = *activation_spec(format);
        a.scale = scale_for_amax(s->amax, format == ActivationFormat::Fp8Static);
        m.quantized->input = a;
        lr.input_min = s->min, lr.input_max = s->max, lr.input_scale = a.scale;
      }
    }
  }
  if (r_.kv_cache != DType::F32) {
    KvCacheConfig& kv = config_.kv_cache;
    kv.dtype = r_.kv_cache;
    kv.dynamic = r_.kv_dynamic;
    const bool fp8 = r_.kv_cache == DType::F8_E4M3;
    for (const std::string& name : attention) {
      KvCacheConfig::Layer layer;
      layer.name = name;
      if (static_kv) {
        for (const auto& [site, scales] : {std::pair{name + ":key", &layer.k_scale}, {name + ":value", &layer.v_scale}}) {
          const auto it = stats.find(site);
          check(it != stats.end() && !it->second.head_amax.empty(), kCalibrateTag,
                "attention '{}' never ran during calibration (no key / value statistics)", name);
          for (const float a : it->second.head_amax) scales->push_back(scale_for_amax(a, fp8));
        }
      }
      kv.layers.push_back(std::move(layer));
    }
  }
}

void LlmQuantizationPass::finish() {
  for (Group& g : groups_)
    for (Member& m : g.members)
      if (m.quantized) {
        LayerReport& lr = report_of(m);
        lr.quantized = true;
        lr.weight_error = relative_l2(dequantized_weight(*m.quantized), m.linear->weight());
        config_.linears.push_back(std::move(*m.quantized));
      }
}

std::vector<std::pair<std::string, std::string>> recipe_options(const LlmRecipe& r) {
  std::vector<std::pair<std::string, std::string>> o;
  o.emplace_back("algorithm", std::string(weight_algorithm_name(r.algorithm)));
  if (r.quantize_weights) {
    o.emplace_back("weights", to_string(r.weight));
    o.emplace_back("activations", std::string(activation_format_name(r.activations)));
  }
  if (r.algorithm == WeightAlgorithm::SmoothQuant) o.emplace_back("alpha", r.alpha_search ? "auto" : fmt::format("{:g}", r.alpha));
  if (r.algorithm == WeightAlgorithm::Awq) {
    o.emplace_back("awq_grid", std::to_string(r.awq_grid));
    o.emplace_back("awq_clip", r.awq_clip ? "true" : "false");
    o.emplace_back("awq_rows", std::to_string(r.awq_rows));
  }
  if (r.algorithm == WeightAlgorithm::Gptq) {
    o.emplace_back("gptq_damp", fmt::format("{:g}", r.gptq_damp));
    o.emplace_back("gptq_block", std::to_string(r.gptq_block));
    o.emplace_back("act_order", r.act_order ? "true" : "false");
  }
  if (r.kv_cache != DType::F32) {
    o.emplace_back("kv_cache", std::string(dtype_name(r.kv_cache)));
    o.emplace_back("kv_scale", r.kv_dynamic ? "dynamic" : "static");
  }
  o.emplace_back("quantize_lm_head", r.quantize_lm_head ? "true" : "false");
  if (!r.exclude.empty()) o.emplace_back("exclude", fmt::format("{}", fmt::join(r.exclude, ",")));
  return o;
}

}  // namespace

QuantizationConfig quantize_llm(Model& model, const std::vector<std::vector<int64_t>>& windows,
                                const LlmQuantizeOptions& options, QuantizeReport* report_out) {
  const auto t0 = std::chrono::steady_clock::now();
  const LlmRecipe& r = options.recipe;
  validate_llm_recipe(r);
  for (const auto& [group, recipe] : options.group_recipes) validate_llm_recipe(recipe);
  check(model.info().is_decoder, kQuantizeTag,
        "recipe '{}' is for decoder LLMs, and this is a '{}' encoder (its recipes: int8, int8-dynamic)", r.name,
        model.info().model_type);
  const bool mixed_needs_data = std::any_of(options.group_recipes.begin(), options.group_recipes.end(),
                                           [](const auto& e) { return e.second.needs_calibration(); });
  check((!r.needs_calibration() && !mixed_needs_data) || !windows.empty(), kCalibrateTag,
        "recipe '{}' calibrates on text: give --calib FILE.txt (training text, never the text you evaluate on)",
        r.name);
  check(options.batch_windows > 0 && options.report_windows >= 0, kQuantizeTag,
        "batch and report windows must be >= 1 / >= 0");
  clear_quantization(model);
  const std::vector<ModelInputs> batches = window_batches(windows, options.batch_windows);

  QuantizeReport report;
  report.calibration_batches = int64_t(batches.size());
  report.calibration_sequences = int64_t(windows.size());
  QuantizationConfig config;
  config.recipe = r.name;
  config.calibrator = r.needs_calibration() ? "minmax" : "";
  config.calibration_source = options.calibration_source;
  config.calibration_samples = int64_t(windows.size());
  config.weight_spec = r.weight;
  config.activation_spec = r.quantize_weights ? activation_spec(r.activations) : std::nullopt;
  config.recipe_options = recipe_options(r);

  LlmQuantizationPass pass(model, options, batches, report, config);
  try {
    pass.select();
    pass.transform();
    pass.quantize_weights();
    pass.calibrate();
    pass.finish();
    if (!windows.empty() && options.report_windows > 0 && !config.linears.empty()) {
      const std::vector<std::vector<int64_t>> some(
          windows.begin(), windows.begin() + std::min<size_t>(windows.size(), size_t(options.report_windows)));
      measure_output_errors(model, config, window_batches(some, options.batch_windows), report);
    }
  } catch (...) {
    clear_quantization(model);
    throw;
  }
  clear_quantization(model);
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (report_out) *report_out = std::move(report);
  return config;
}

}  // namespace octet
