// `octet quantize MODEL -o OUT --budget B --eval-data FILE`: the cheapest
// precision per layer within a measured loss budget (quantize_budget.h).
// Encoders: B in accuracy points on a labelled TSV ("0.5pt"); decoder LLMs: B
// in % of perplexity on a text file ("1%"). The eval data must be a
// validation split: calibrate on train, choose on validation, report on test.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error_tags.h"
#include "octet/error.h"
#include "octet/eval.h"
#include "octet/generate.h"
#include "octet/perplexity.h"
#include "octet/quantize_budget.h"
#include "octet/tokenizer.h"
#include "output.h"
#include "quantize_options.h"

namespace octet::cli {
namespace {

namespace fs = std::filesystem;

// "0.5pt" / "0.5" (encoders) or "1%" / "1" (LLMs).
double parse_budget(const std::string& text, bool llm) {
  std::string number = text;
  const std::string unit = llm ? "%" : "pt";
  const std::string other = llm ? "pt" : "%";
  check(!text.ends_with(other), kQuantizeTag, "--budget for {} is in {} ('{}'), got '{}'",
        llm ? "decoder LLMs" : "encoders", llm ? "% of perplexity" : "accuracy points", llm ? "1%" : "0.5pt", text);
  if (number.ends_with(unit)) number.resize(number.size() - unit.size());
  double v = 0;
  try {
    size_t used = 0;
    v = std::stod(number, &used);
    check(used == number.size(), kQuantizeTag, "");
  } catch (const std::exception&) {
    fail(kQuantizeTag, "--budget must be a number{} , got '{}'", llm ? " of % (1%)" : " of accuracy points (0.5pt)",
         text);
  }
  check(std::isfinite(v) && v >= 0, kQuantizeTag, "--budget {} cannot be met, not even by fp32 (it must be >= 0)",
        text);
  return v;
}

std::string read_eval_data(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  check(in.good(), kQuantizeTag, "cannot read --eval-data '{}'", path);
  std::stringstream ss;
  ss << in.rdbuf();
  check(!ss.str().empty(), kQuantizeTag, "--eval-data '{}' is empty", path);
  return ss.str();
}

void print_budget(const QuantizeCommandOptions& o, const BudgetResult& r, const std::string& unit, double base,
                  const std::string& base_label, uint64_t bytes) {
  if (o.json) {
    nlohmann::json units = nlohmann::json::array();
    for (const BudgetUnit& u : r.units)
      units.push_back({{"name", u.name},
                       {"precision", u.precision},
                       {"sensitivity", std::isnan(u.sensitivity) ? nlohmann::json() : nlohmann::json(u.sensitivity)}});
    print_json({{"output", o.output}, {"recipe", r.config.recipe}, {"budget", r.budget}, {"unit", unit},
                {"loss", r.loss}, {base_label, base}, {"evaluations", r.evaluations}, {"weights_file_bytes", bytes},
                {"units", units}, {"steps", r.steps}});
    return;
  }
  std::vector<TableRow> rows;
  for (const BudgetUnit& u : r.units)
    rows.push_back({u.name, u.precision,
                     u.precision == "fp32" || std::isnan(u.sensitivity) ? "-"
                                                                         : fmt::format("{:.4g} {}", u.sensitivity, unit)});
  print_table({"layer", "precision", "loss alone on it"}, rows);
  fmt::print("\n");
  print_table({"field", "value"},
              {{"output", o.output},
               {"budget", fmt::format("{:g} {} on {}", r.budget, unit, o.eval_data)},
               {base_label, fmt::format("{:.4f}", base)},
               {"loss of the mix", fmt::format("{:.4g} {}", r.loss, unit)},
               {"evaluations", std::to_string(r.evaluations)},
               {"model.safetensors", format_bytes(bytes)},
               {"steps", fmt::format("{}", fmt::join(r.steps, "; "))}});
}

}  // namespace

void check_budget_options(const QuantizeCommandOptions& o, bool llm) {
  parse_budget(o.budget, llm);
  check(!o.eval_data.empty(), kQuantizeTag, "--budget needs --eval-data {} ({})", llm ? "FILE.txt" : "FILE.tsv",
        llm ? "validation text, not the test split" : "a labelled validation split");
  check(fs::is_regular_file(o.eval_data), kQuantizeTag, "cannot read --eval-data '{}'", o.eval_data);
  check(fs::file_size(o.eval_data) > 0, kQuantizeTag, "--eval-data '{}' is empty", o.eval_data);
}

void quantize_encoder_budget_command(const QuantizeCommandOptions& o, Model& model) {
  const double budget = parse_budget(o.budget, false);
  check(!o.calib.empty(), kQuantizeTag, "--budget calibrates the static rung: give --calib FILE.tsv (training data)");
  TsvColumns columns;
  columns.text = o.text_column;
  const ClassificationDataset data = load_tsv_dataset(o.eval_data, columns);
  check(data.size() > 0, kQuantizeTag, "--eval-data '{}' has no examples", o.eval_data);
  const Tokenizer tok = Tokenizer::load(o.model);
  EvalOptions eo;
  eo.progress = false;
  if (o.eval_limit) eo.limit = *o.eval_limit;
  const double fp32 = 100.0 * evaluate_classification(model, tok, data, eo).accuracy;

  CalibrationTextOptions to;
  to.column = o.text_column;
  to.samples = o.samples.value_or(256);
  to.seed = o.seed;
  const auto batches = make_calibration_batches(model, tok, read_calibration_texts(o.calib, to).texts, o.batch_size);
  QuantizeOptions qo;
  qo.recipe = recipe_preset("int8");
  qo.recipe.calibrator = o.calibrator;
  qo.recipe.percentile = o.percentile;
  qo.recipe.exclude = o.exclude;
  qo.calibration_source = o.calib;
  const BudgetResult r = quantize_encoder_budget(model, batches, qo, budget, [&](const Model& q) {
    return fp32 - 100.0 * evaluate_classification(q, tok, data, eo).accuracy;
  });
  save_quantized_model(model, r.config, o.model, o.output, o.force);
  print_budget(o, r, "pt", fp32, "fp32 accuracy (%)", fs::file_size(fs::path(o.output) / "model.safetensors"));
}

void quantize_llm_budget_command(const QuantizeCommandOptions& o, const LlmRecipe& base,
                                 const std::vector<std::vector<int64_t>>& windows) {
  const double budget = parse_budget(o.budget, true);
  const Tokenizer tok = load_model_tokenizer(o.model);
  std::vector<int64_t> tokens = tok.encode(read_eval_data(o.eval_data)).ids;
  if (o.eval_limit && int64_t(tokens.size()) > *o.eval_limit) tokens.resize(size_t(*o.eval_limit));
  PerplexityOptions po;
  po.context = o.eval_ctx;
  po.progress = false;
  auto load = [&] { return load_model(o.model, {.head = ModelHead::CausalLM, .float_weights = true}); };
  const double fp32 = perplexity(*load(), tokens, po).perplexity;
  std::vector<LlmRecipe> ladder;
  for (const std::string& name : o.ladder) ladder.push_back(llm_recipe(name));
  LlmQuantizeOptions lo;
  lo.recipe = base;
  lo.calibration_source = o.calib;
  LlmBudgetResult r = quantize_llm_budget(load, windows, lo, ladder, budget, [&](const Model& q) {
    return 100.0 * (perplexity(q, tokens, po).perplexity / fp32 - 1.0);
  });
  save_quantized_model(*r.model, r.result.config, o.model, o.output, o.force);
  print_budget(o, r.result, "%", fp32, "fp32 perplexity", fs::file_size(fs::path(o.output) / "model.safetensors"));
}

}  // namespace octet::cli
