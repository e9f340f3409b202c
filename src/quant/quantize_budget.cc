// Accuracy-budget quantization (see quantize_budget.h): the greedy search and
// its two users, encoders (per Linear) and LLMs (per group of Linears).
#include "octet/quantize_budget.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <optional>

#include "core/error_tags.h"
#include "octet/error.h"
#include "octet/log.h"
#include "octet/progress.h"

namespace octet {

BudgetChoice search_budget(const BudgetSearch& s, double budget) {
  check(std::isfinite(budget) && budget >= 0, kQuantizeTag,
        "the budget must be >= 0 (a negative loss budget cannot be met, not even by fp32), got {}", budget);
  check(!s.units.empty() && s.rungs.size() >= 2, kQuantizeTag, "the budget search needs layers and at least two rungs");
  const int top = int(s.rungs.size()) - 1, n = int(s.units.size());
  BudgetChoice c;
  std::optional<ProgressBar> bar;
  if (s.progress) {
    ProgressOptions po;
    po.unit = "eval";
    bar.emplace(n + 1, "budget: sensitivities", po);
  }
  auto evaluate = [&](const std::vector<int>& rungs) {
    ++c.evaluations;
    const double loss = s.evaluate(rungs);
    check(std::isfinite(loss), kQuantizeTag, "the loss evaluation gave {}", loss);
    if (bar) bar->advance();
    return loss;
  };
  // The loss with `unit` alone on `rung`, every other unit on the top rung.
  auto alone = [&](int unit, int rung) {
    std::vector<int> rungs(static_cast<size_t>(n), top);
    rungs[size_t(unit)] = rung;
    return evaluate(rungs);
  };
  // The all-cheapest mix first: when it meets the budget, no sensitivity is needed.
  c.rung_of_unit.assign(size_t(n), 0);
  c.sensitivity.assign(size_t(n), std::numeric_limits<double>::quiet_NaN());
  c.loss = evaluate(c.rung_of_unit);
  c.steps.push_back(fmt::format("all on {}: loss {:.4g} (budget {:g})", s.rungs[0], c.loss, budget));
  if (c.loss > budget)
    for (int u = 0; u < n; ++u) c.sensitivity[size_t(u)] = alone(u, 0);
  if (bar) bar->finish();
  while (c.loss > budget) {
    int worst = -1;
    for (int u = 0; u < n; ++u)
      if (c.rung_of_unit[size_t(u)] < top && (worst < 0 || c.sensitivity[size_t(u)] > c.sensitivity[size_t(worst)]))
        worst = u;
    check(worst >= 0, kQuantizeTag, "the budget {:g} is not met even with every layer at {} (loss {:.4g})", budget,
          s.rungs[size_t(top)], c.loss);
    const int rung = ++c.rung_of_unit[size_t(worst)];
    c.sensitivity[size_t(worst)] = rung < top ? alone(worst, rung) : 0.0;
    c.loss = evaluate(c.rung_of_unit);
    c.steps.push_back(fmt::format("{} -> {}: loss {:.4g}", s.units[size_t(worst)], s.rungs[size_t(rung)], c.loss));
  }
  return c;
}

// ---- encoders ------------------------------------------------------------------------

BudgetResult quantize_encoder_budget(Model& model, const std::vector<ModelInputs>& calibration,
                                     const QuantizeOptions& options, double budget, const BudgetLoss& loss) {
  QuantizeOptions o = options;
  o.recipe = options.recipe;
  o.sensitivity = false;
  o.recipe.fallback_budget.reset();
  QuantRecipe static_recipe = o.recipe, dynamic_recipe = recipe_preset("int8-dynamic");
  static_recipe.name = "int8", static_recipe.dynamic = false;
  dynamic_recipe.exclude = static_recipe.exclude;
  dynamic_recipe.per_channel_weights = static_recipe.per_channel_weights;
  o.recipe = static_recipe;
  const QuantizationConfig static_config = quantize_model(model, calibration, o);
  o.recipe = dynamic_recipe;
  const QuantizationConfig dynamic_config = quantize_model(model, calibration, o);

  std::map<std::string, const QuantizedLinear*> dynamic_of;
  for (const QuantizedLinear& q : dynamic_config.linears) dynamic_of[q.name] = &q;
  std::vector<const QuantizedLinear*> statics;
  for (const QuantizedLinear& q : static_config.linears)
    if (dynamic_of.count(q.name)) statics.push_back(&q);
  check(!statics.empty(), kQuantizeTag, "no Linear to quantize");

  // A mix: each Linear's entry from the static or the dynamic config, or none (fp32).
  auto mix = [&](const std::vector<int>& rungs) {
    QuantizationConfig c = static_config;
    c.linears.clear();
    for (size_t i = 0; i < statics.size(); ++i) {
      if (rungs[i] == 0) c.linears.push_back(*statics[i]);
      if (rungs[i] == 1) c.linears.push_back(*dynamic_of.at(statics[i]->name));
      if (rungs[i] == 2) c.excluded.push_back({statics[i]->name, "accuracy budget: fp32"});
    }
    return c;
  };
  BudgetSearch s;
  s.rungs = {"int8", "int8-dynamic", "fp32"};
  for (const QuantizedLinear* q : statics) s.units.push_back(q->name);
  s.progress = options.progress;
  s.evaluate = [&](const std::vector<int>& rungs) {
    apply_quantization(model, mix(rungs), QuantExecution::Native);
    const double l = loss(model);
    clear_quantization(model);
    return l;
  };
  const BudgetChoice choice = search_budget(s, budget);

  BudgetResult r;
  r.config = mix(choice.rung_of_unit);
  r.config.recipe = "int8-budget";
  r.config.recipe_options = {{"budget", fmt::format("{:g}", budget)}, {"ladder", "int8, int8-dynamic, fp32"}};
  for (size_t i = 0; i < statics.size(); ++i)
    r.units.push_back({statics[i]->name, s.rungs[size_t(choice.rung_of_unit[i])], choice.sensitivity[i]});
  r.loss = choice.loss;
  r.budget = budget;
  r.evaluations = choice.evaluations;
  r.steps = choice.steps;
  return r;
}

// ---- LLMs ------------------------------------------------------------------------------

LlmBudgetResult quantize_llm_budget(const std::function<std::unique_ptr<Model>()>& load,
                                    const std::vector<std::vector<int64_t>>& windows, const LlmQuantizeOptions& options,
                                    std::vector<LlmRecipe> ladder, double budget, const BudgetLoss& loss) {
  if (ladder.empty())
    for (const char* name : {"w4a16-awq", "w8a8-sq", "w8a16", "fp32"}) ladder.push_back(llm_recipe(name));
  check(ladder.size() >= 2 && !ladder.back().quantize_weights, kQuantizeTag,
        "the ladder must hold at least two recipes and end with fp32");
  const LlmRecipe& base = options.recipe;
  for (LlmRecipe& rung : ladder) {
    // The run's group size and zero-point choice apply to every INT4 rung.
    if (rung.weight.granularity == Granularity::PerGroup && base.weight.granularity == Granularity::PerGroup)
      rung.weight = base.weight;
    rung.group_fallback = base.group_fallback;
    validate_llm_recipe(rung);
  }
  // The units: every group with a Linear the run quantizes (not lm_head, not fully excluded).
  std::vector<std::string> groups;
  {
    const auto model = load();
    check(model->info().is_decoder, kQuantizeTag, "the LLM budget search needs a decoder; '{}' is an encoder",
          model->info().model_type);
    model->visit_linear_groups([&](nn::LinearInputGroup& g) {
      if (g.output_head) return;
      const bool all_excluded = std::all_of(g.linears.begin(), g.linears.end(), [&](const nn::Linear* l) {
        return std::any_of(base.exclude.begin(), base.exclude.end(),
                           [&](const std::string& p) { return glob_match(p, l->name()); });
      });
      if (!all_excluded) groups.push_back(g.name);
    });
  }
  check(!groups.empty(), kQuantizeTag, "no group of Linears to quantize");

  LlmQuantizeOptions o = options;
  o.recipe = ladder.back();  // fp32 where no group recipe says otherwise
  o.recipe.kv_cache = base.kv_cache, o.recipe.kv_dynamic = base.kv_dynamic;
  o.recipe.exclude = base.exclude, o.recipe.quantize_lm_head = false;
  o.progress = false;
  auto configure = [&](const std::vector<int>& rungs) {
    LlmQuantizeOptions c = o;
    for (size_t i = 0; i < groups.size(); ++i)
      if (rungs[i] + 1 < int(ladder.size())) c.group_recipes[groups[i]] = ladder[size_t(rungs[i])];
    return c;
  };
  LlmBudgetResult out;
  BudgetSearch s;
  s.units = groups;
  for (const LlmRecipe& r : ladder) s.rungs.push_back(r.name);
  s.progress = options.progress;
  s.evaluate = [&](const std::vector<int>& rungs) {
    auto model = load();
    const QuantizationConfig c = quantize_llm(*model, windows, configure(rungs));
    apply_quantization(*model, c, QuantExecution::Native);
    return loss(*model);
  };
  const BudgetChoice choice = search_budget(s, budget);

  out.model = load();
  QuantizeReport report;
  BudgetResult& r = out.result;
  r.config = quantize_llm(*out.model, windows, configure(choice.rung_of_unit), &report);
  std::vector<std::string> names;
  for (const LlmRecipe& l : ladder) names.push_back(l.name);
  r.config.recipe = "llm-budget";
  r.config.recipe_options = {{"budget", fmt::format("{:g}", budget)}, {"ladder", fmt::format("{}", fmt::join(names, ", "))}};
  for (size_t i = 0; i < groups.size(); ++i)
    r.units.push_back({groups[i], s.rungs[size_t(choice.rung_of_unit[i])], choice.sensitivity[i]});
  r.loss = choice.loss;
  r.budget = budget;
  r.evaluations = choice.evaluations;
  r.steps = choice.steps;
  return out;
}

}  // namespace octet
