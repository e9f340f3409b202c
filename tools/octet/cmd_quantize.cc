// `octet quantize MODEL -o OUT --recipe R`: post-training quantization into a
// folder that `octet run` / `eval` / `generate` / `perplexity` load like any model.
// Encoders calibrate on a TSV (this file); decoder LLMs (HF folders and .gguf
// files) on plain text (quantize_llm.cc).
//
//   octet quantize models/sst2-bert-mini -o out/sst2-int8 --calib data/sst2/train.tsv
//   octet quantize MODEL -o OUT --recipe int8-dynamic
//   octet quantize MODEL -o OUT --calib train.tsv --calibrator entropy --exclude '*.classifier,*.pooler.dense'
//   octet quantize MODEL -o OUT --calib train.tsv --fallback-budget 0.5 --sensitivity
//   octet quantize kjv-llama -o out/kjv-w4 --recipe w4a16-awq --calib kjv.train.txt --group 64
//   octet quantize --list-recipes
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "command.h"
#include "octet/error.h"
#include "octet/hf_checkpoint.h"
#include "octet/llm_quantize.h"
#include "octet/log.h"
#include "octet/model.h"
#include "octet/quantize_model.h"
#include "octet/tokenizer.h"
#include "output.h"
#include "quantize_options.h"

namespace octet::cli {
namespace {

std::string sci(double v) { return fmt::format("{:.3g}", v); }

QuantRecipe make_recipe(const QuantizeCommandOptions& o) {
  QuantRecipe r = recipe_preset(o.recipe.empty() ? "int8" : o.recipe);
  check(!(o.per_tensor && o.per_channel), "quantize", "--per-tensor and --per-channel exclude each other");
  check(!(o.affine && o.symmetric), "quantize", "--affine and --symmetric exclude each other");
  r.calibrator = o.calibrator;
  r.percentile = o.percentile;
  r.momentum = o.momentum;
  r.per_channel_weights = !o.per_tensor;
  r.activation_scheme = o.affine ? QuantScheme::Affine : QuantScheme::Symmetric;
  check(!(r.dynamic && o.affine), "quantize", "--affine applies to static activations; int8-dynamic is per-token symmetric");
  r.exclude = o.exclude;
  r.attention_sites = o.attention;
  r.residual_sites = o.residual;
  r.norm_sites = o.norm;
  if (o.fallback_budget) {
    check(*o.fallback_budget >= 0 && *o.fallback_budget < 100, "quantize",
          "--fallback-budget is a percentage in [0, 100), got {}", *o.fallback_budget);
    r.fallback_budget = *o.fallback_budget / 100.0;
  }
  return r;
}

// Fidelity of both executions on the --compare texts.
struct Comparison {
  std::string source;
  int64_t sequences = 0;
  OutputFidelity native, simulated;
};

nlohmann::json fidelity_json(const OutputFidelity& f) {
  nlohmann::json j = {{"relative_error", f.relative_error}, {"max_abs_error", f.max_abs_error}};
  if (f.rows) {
    j["rows"] = f.rows;
    j["changed_predictions"] = f.changed;
    j["agreement"] = f.agreement();
  }
  return j;
}

void print_report(const QuantizationConfig& config, const QuantizeReport& report, const QuantizeCommandOptions& o,
                  const std::optional<Comparison>& cmp) {
  if (o.json) {
    nlohmann::json layers = nlohmann::json::array();
    for (const LayerReport& l : report.layers) {
      nlohmann::json j = {{"name", l.name},           {"quantized", l.quantized},        {"reason", l.reason},
                          {"input_min", l.input_min}, {"input_max", l.input_max},        {"input_scale", l.input_scale},
                          {"input_zero_point", l.input_zero_point}, {"weight_error", l.weight_error},
                          {"output_error", l.output_error}};
      if (l.model_error) j["model_error"] = *l.model_error;
      if (l.prediction_changes) j["prediction_changes"] = *l.prediction_changes;
      layers.push_back(std::move(j));
    }
    nlohmann::json doc = {{"output", o.output},
                          {"recipe", config.recipe},
                          {"calibrator", config.calibrator},
                          {"calibration_source", config.calibration_source},
                          {"calibration_sequences", report.calibration_sequences},
                          {"quantized_linears", config.linears.size()},
                          {"quantized_sites", config.sites.size()},
                          {"excluded", config.excluded.size()},
                          {"warnings", report.warnings},
                          {"layers", layers}};
    if (report.model_error) doc["model_error"] = *report.model_error;
    if (report.disagreement) doc["calibration_disagreement"] = *report.disagreement;
    if (cmp)
      doc["compare"] = {{"source", cmp->source},
                        {"sequences", cmp->sequences},
                        {"native", fidelity_json(cmp->native)},
                        {"simulated", fidelity_json(cmp->simulated)}};
    print_json(doc);
    return;
  }
  const bool sens = std::any_of(report.layers.begin(), report.layers.end(), [](const auto& l) { return l.model_error; });
  std::vector<TableRow> rows;
  for (const LayerReport& l : report.layers) {
    TableRow row{l.name, l.quantized ? "int8" : "fp32"};
    const bool has_range = l.quantized && !config.calibrator.empty();
    row.push_back(has_range ? fmt::format("[{:.3g}, {:.3g}]", l.input_min, l.input_max) : "-");
    row.push_back(has_range ? sci(l.input_scale) : "-");
    row.push_back(l.quantized ? sci(l.weight_error) : "-");
    row.push_back(l.quantized && report.calibration_batches ? sci(l.output_error) : "-");
    if (sens) {
      row.push_back(l.model_error ? sci(*l.model_error) : "-");
      row.push_back(l.prediction_changes ? std::to_string(*l.prediction_changes) : "-");
    }
    row.push_back(l.reason.empty() ? "" : l.reason);
    rows.push_back(std::move(row));
  }
  TableRow header{"layer", "dtype", "input range", "input scale", "weight err", "output err"};
  if (sens) {
    header.push_back("model err alone");
    header.push_back("changed preds");
  }
  header.push_back("note");
  print_table(header, rows);
  fmt::print("\n");
  std::vector<TableRow> summary{{"output", o.output},
                                {"recipe", config.recipe},
                                {"calibrator", config.calibrator.empty() ? "-" : config.calibrator},
                                {"calibration", config.calibration_source.empty()
                                                    ? "-"
                                                    : fmt::format("{} ({} sequences)", config.calibration_source,
                                                                  report.calibration_sequences)},
                                {"quantized Linears", std::to_string(config.linears.size())},
                                {"other quantized sites", std::to_string(config.sites.size())},
                                {"fp32 Linears", std::to_string(config.excluded.size())}};
  if (report.model_error) summary.push_back({"model output error (calibration)", sci(*report.model_error)});
  if (report.disagreement)
    summary.push_back({"prediction changes (calibration)", fmt::format("{:.2f}%", 100 * *report.disagreement)});
  if (cmp) {
    for (const auto& [name, f] : {std::pair{"native", cmp->native}, std::pair{"simulated", cmp->simulated}}) {
      std::string value = fmt::format("output error {} (max {})", sci(f.relative_error), sci(f.max_abs_error));
      if (f.rows) value += fmt::format(", {} of {} predictions changed", f.changed, f.rows);
      summary.push_back({fmt::format("vs fp32 on {} ({})", cmp->source, name), value});
    }
  }
  print_table({"field", "value"}, summary);
}

// The encoder flow: TSV calibration, quantize_model, the folder, the report.
void quantize_encoder(const QuantizeCommandOptions& o, Model& model) {
  for (const std::string& option : llm_only_options())
    check(!o.given.count(option), "quantize", "{} applies to decoder LLM recipes, not to encoders", option);
  if (!o.budget.empty()) {
    check_budget_options(o, false);
    return quantize_encoder_budget_command(o, model);
  }
  check(o.eval_data.empty() && !o.eval_limit, "quantize", "--eval-data and --eval-limit go with --budget");
  const QuantRecipe recipe = make_recipe(o);
  check(o.batch_size > 0, "quantize", "--batch-size must be > 0, got {}", o.batch_size);
  check(recipe.dynamic || !o.calib.empty(), "quantize",
        "recipe '{}' calibrates activations: give --calib FILE.tsv (training text, e.g. data/sst2/train.tsv; never "
        "the data you evaluate on)",
        recipe.name);
  check(o.sampling == "first" || o.sampling == "random", "quantize", "--sampling must be first or random, got '{}'",
        o.sampling);
  check(std::filesystem::is_directory(o.model), "quantize", "'{}' is not a model folder", o.model);

  CalibrationTextOptions to;
  to.column = o.text_column;
  to.samples = o.samples.value_or(256);
  to.sampling = o.sampling == "first" ? CalibrationSampling::First : CalibrationSampling::Random;
  to.seed = o.seed;
  std::optional<CalibrationTexts> texts, compare_texts;
  if (!o.calib.empty()) texts = read_calibration_texts(o.calib, to);
  if (!o.compare.empty()) {
    CalibrationTextOptions co = to;
    co.samples = o.compare_samples;
    co.sampling = CalibrationSampling::First;
    compare_texts = read_calibration_texts(o.compare, co);
  }
  std::vector<ModelInputs> batches;
  if (texts) batches = make_calibration_batches(model, Tokenizer::load(o.model), texts->texts, o.batch_size);

  QuantizeOptions qo;
  qo.recipe = recipe;
  qo.sensitivity = o.sensitivity;
  qo.calibration_source = o.calib;
  QuantizeReport report;
  const QuantizationConfig config = quantize_model(model, batches, qo, &report);
  if (texts && texts->warning) report.warnings.insert(report.warnings.begin(), *texts->warning);
  std::optional<Comparison> cmp;
  if (compare_texts) {
    const auto compare_batches =
        make_calibration_batches(model, Tokenizer::load(o.model), compare_texts->texts, o.batch_size);
    cmp = Comparison{o.compare, int64_t(compare_texts->texts.size()),
                     compare_to_fp32(model, config, QuantExecution::Native, compare_batches),
                     compare_to_fp32(model, config, QuantExecution::Simulated, compare_batches)};
  }
  save_quantized_model(model, config, o.model, o.output, o.force);
  print_report(config, report, o, cmp);
}

const std::vector<std::string> kEncoderRecipes = {"int8", "int8-dynamic"};

void list_recipes(bool json) {
  std::vector<TableRow> rows{
      {"int8", "encoders", "INT8 weights per channel, INT8 activations per tensor from TSV calibration (percentile 99.99)"},
      {"int8-dynamic", "encoders", "INT8 weights per channel, INT8 activations per token computed at run time"}};
  for (const LlmRecipe& r : llm_recipes()) rows.push_back({r.name, "decoder LLMs", r.summary});
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (const TableRow& r : rows) out.push_back({{"name", r[0]}, {"models", r[1]}, {"summary", r[2]}});
    print_json(out);
    return;
  }
  print_table({"recipe", "for", "what it does"}, rows);
}

void quantize_command(const QuantizeCommandOptions& o) {
  if (o.list_recipes) return list_recipes(o.json);
  check(!o.model.empty() && !o.output.empty(), "quantize", "give MODEL and -o OUT (or --list-recipes)");
  const bool encoder_recipe =
      std::find(kEncoderRecipes.begin(), kEncoderRecipes.end(), o.recipe) != kEncoderRecipes.end();
  if (!o.recipe.empty() && !encoder_recipe && !is_llm_recipe(o.recipe)) {
    std::vector<std::string> names = kEncoderRecipes;
    for (const LlmRecipe& r : llm_recipes()) names.push_back(r.name);
    fail("quantize", "unknown recipe '{}' ({})", o.recipe, fmt::join(names, ", "));
  }
  check(!is_quantized_model(o.model), "quantize", "'{}' is already quantized; quantize the original model", o.model);
  check(o.force || !std::filesystem::exists(o.output), "quantize", "'{}' already exists (pass --force to replace it)",
        o.output);
  check(std::filesystem::exists(o.model), "quantize", "'{}' does not exist", o.model);
  if (is_hf_quantized_checkpoint(o.model))
    log_warn("'{}' is a quantized checkpoint ({}): the recipe quantizes its dequantized weights, so both errors add up",
             o.model, read_hf_checkpoint(o.model).description);
  // Recipes read and rewrite f32 weights: a GGUF's Q4_0 / Q8_0 blocks are dequantized, not run natively.
  const auto model = load_model(o.model, kLoadFloatWeights);
  const bool decoder = model->info().is_decoder;
  check(o.recipe.empty() || encoder_recipe != decoder, "quantize",
        "recipe '{}' is for {}, and '{}' is a {} {} (its recipes: {})", o.recipe,
        encoder_recipe ? "encoders" : "decoder LLMs", o.model, model->info().model_type,
        decoder ? "decoder LLM" : "encoder", decoder ? "octet quantize --list-recipes" : "int8, int8-dynamic");
  if (decoder) return quantize_llm_command(o, *model);
  quantize_encoder(o, *model);
}

const CommandRegistration registration({
    "quantize",
    "Quantize a model (encoders: INT8; decoder LLMs: SmoothQuant, AWQ, GPTQ, FP8, INT4/INT8, KV cache) into a "
    "folder octet runs like any model",
    [](CLI::App& sub) {
      auto o = std::make_shared<QuantizeCommandOptions>();
      sub.add_option("model", o->model, "Hugging Face model folder (with its tokenizer files) or a .gguf file");
      sub.add_option("-o,--output", o->output, "Output folder (written to a temporary name, then renamed)");
      sub.add_option("--recipe", o->recipe,
                     "Recipe (octet quantize --list-recipes); default int8 for encoders, w8a8-sq for decoder LLMs");
      sub.add_flag("--list-recipes", o->list_recipes, "Print every recipe with one line and exit");
      sub.add_option("--calib", o->calib,
                     "Calibration data (training data, not the eval set): a TSV with a header row for encoders, a "
                     "plain text file for decoder LLMs");
      sub.add_option("--samples", o->samples, "Calibration sentences (encoders, default 256) or windows (LLMs, default 128)");
      sub.add_option("--seed", o->seed, "Seed of the calibration sample")->capture_default_str();
      sub.add_option("--exclude", o->exclude, "Glob patterns of Linear names that stay fp32 (comma-separated)")
          ->delimiter(',');
      sub.add_flag("--per-channel", o->per_channel,
                   "One weight scale per output channel (the default for int8; fp8: instead of per tensor)");
      sub.add_flag("--force", o->force, "Replace the output folder if it exists");
      sub.add_flag("--json", o->json, "Print JSON");

      auto* enc = "Encoders (TSV calibration)";
      sub.add_option("--text-column", o->text_column, "Calibration text column: header name or 0-based index")
          ->capture_default_str()->group(enc);
      sub.add_option("--sampling", o->sampling, "first or random (seeded) rows of the calibration file")
          ->capture_default_str()->group(enc);
      sub.add_option("--calibrator", o->calibrator, "minmax, ema, percentile, entropy or mse")->capture_default_str()->group(enc);
      sub.add_option("--percentile", o->percentile, "Percentile of the percentile calibrator")->capture_default_str()->group(enc);
      sub.add_option("--momentum", o->momentum, "Momentum of the ema calibrator")->capture_default_str()->group(enc);
      sub.add_flag("--per-tensor", o->per_tensor, "One weight scale per weight tensor")->group(enc);
      sub.add_flag("--symmetric", o->symmetric, "Symmetric activations, zero point 0 (default)")->group(enc);
      sub.add_flag("--affine", o->affine, "Affine activations (scale and zero point)")->group(enc);
      sub.add_flag("--quantize-attention", o->attention,
                   "Also quantize attention q, k, v and the softmax probabilities (natively int8 Q K^T and P V with symmetric activations; simulated QDQ with --affine)")->group(enc);
      sub.add_flag("--quantize-residual", o->residual, "Also quantize the branch outputs of residual adds")->group(enc);
      sub.add_flag("--quantize-norm", o->norm, "Also quantize layer-norm inputs")->group(enc);
      sub.add_option("--fallback-budget", o->fallback_budget,
                     "Keep the most sensitive Linears in fp32 until at most this % of calibration predictions "
                     "change (relative output error in % for base models)")->group(enc);
      sub.add_flag("--sensitivity", o->sensitivity, "Measure each Linear quantized alone (model error, changes)")->group(enc);
      sub.add_option("--batch-size", o->batch_size, "Calibration sequences per forward pass")->capture_default_str()->group(enc);
      sub.add_option("--compare", o->compare,
                     "TSV (same text column) whose first --compare-samples texts compare both executions with fp32 "
                     "(prediction agreement and output error; no labels needed)")->group(enc);
      sub.add_option("--compare-samples", o->compare_samples, "Texts of --compare to use")->capture_default_str()->group(enc);

      auto* llm = "Decoder LLMs (plain-text calibration)";
      sub.add_option("--seq-len", o->seq_len, "Tokens per calibration window (clamped to the model's context)")
          ->capture_default_str()->group(llm);
      sub.add_option("--group", o->group, "INT4 group size along K: 32, 64 or 128 (default 128)")->group(llm);
      sub.add_flag("--asym", o->asym, "INT4 with a zero point per group (uint4 affine) instead of symmetric")->group(llm);
      sub.add_flag("--group-fallback", o->group_fallback,
                   "Where --group does not divide a Linear's K, use the largest group that does (listed)")->group(llm);
      sub.add_flag("--act-order", o->act_order, "GPTQ: quantize columns in descending Hessian-diagonal order")->group(llm);
      sub.add_option("--damp", o->damp, "GPTQ: damping as a fraction of the mean Hessian diagonal (default 0.01)")->group(llm);
      sub.add_option("--block-size", o->gptq_block, "GPTQ: lazy-batch block of columns (default 128)")->group(llm);
      sub.add_option("--awq-grid", o->awq_grid, "AWQ: alpha grid points in [0, 1) (default 20)")->group(llm);
      sub.add_flag("--no-awq-clip", o->no_awq_clip, "AWQ: skip the clipping search")->group(llm);
      sub.add_option("--alpha", o->alpha, "SmoothQuant migration strength in [0, 1] (default 0.5), or auto (per group, 0.3..0.9)")
          ->group(llm);
      sub.add_option("--act-scale", o->act_scale, "w8a8 / w8a8-sq activations: dynamic (per token, default) or static (per tensor)")
          ->group(llm);
      sub.add_option("--act", o->act, "w4a8-awq activations: fp8 (default) or int8 (per token)")->group(llm);
      sub.add_option("--kv-cache", o->kv_cache, "Store the KV cache quantized: int8 or fp8")->group(llm);
      sub.add_option("--kv-scale", o->kv_scale, "KV-cache scales: static (per kv head, calibrated) or dynamic (per token)")
          ->capture_default_str()->group(llm);
      sub.add_flag("--quantize-lm-head", o->quantize_lm_head, "Also quantize lm_head (it stays f32 otherwise)")->group(llm);

      auto* bud = "Accuracy budget";
      sub.add_option("--budget", o->budget,
                     "The cheapest precision per layer whose measured loss stays within this budget: accuracy points "
                     "for encoders (0.5pt), % of perplexity for LLMs (1%)")->group(bud);
      sub.add_option("--eval-data", o->eval_data,
                     "Validation split the budget's loss is measured on (TSV with labels, or text); never the test split")
          ->group(bud);
      sub.add_option("--eval-limit", o->eval_limit, "Use the first N examples (encoders) or tokens (LLMs) of --eval-data")
          ->group(bud);
      sub.add_option("--eval-ctx", o->eval_ctx, "LLMs: perplexity window of the budget's loss")->capture_default_str()->group(bud);
      sub.add_option("--ladder", o->ladder,
                     "LLMs: recipes per group, cheapest first, ending in fp32 (default w4a16-awq,w8a8-sq,w8a16,fp32)")
          ->delimiter(',')->group(bud);
      add_common_options(sub);
      sub.callback([o, app = &sub] {
        for (const CLI::Option* opt : app->get_options())
          if (opt->count() > 0) o->given.insert(opt->get_name());
        quantize_command(*o);
      });
    },
});

}  // namespace

const std::set<std::string>& encoder_only_options() {
  static const std::set<std::string> names = {
      "--text-column", "--sampling",     "--calibrator", "--percentile",        "--momentum",
      "--per-tensor",  "--symmetric",    "--affine",     "--quantize-attention", "--quantize-residual",
      "--quantize-norm", "--fallback-budget", "--sensitivity", "--batch-size", "--compare", "--compare-samples"};
  return names;
}

const std::set<std::string>& llm_only_options() {
  static const std::set<std::string> names = {
      "--seq-len", "--group", "--asym", "--group-fallback", "--act-order", "--damp", "--block-size",
      "--awq-grid", "--no-awq-clip", "--alpha", "--act-scale", "--act", "--kv-cache", "--kv-scale",
      "--quantize-lm-head", "--eval-ctx", "--ladder"};
  return names;
}

}  // namespace octet::cli
