// `octet quantize MODEL -o OUT --recipe int8 --calib FILE.tsv`: post-training
// INT8 quantization into a folder that `octet run` / `octet eval` load like any model.
//
//   octet quantize models/sst2-bert-mini -o out/sst2-int8 --calib data/sst2/train.tsv
//   octet quantize MODEL -o OUT --recipe int8-dynamic
//   octet quantize MODEL -o OUT --calib train.tsv --calibrator entropy --exclude '*.classifier,*.pooler.dense'
//   octet quantize MODEL -o OUT --calib train.tsv --fallback-budget 0.5 --sensitivity
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "command.h"
#include "octet/error.h"
#include "octet/model.h"
#include "octet/quantize_model.h"
#include "octet/tokenizer.h"
#include "output.h"

namespace octet::cli {
namespace {

struct QuantizeCommandOptions {
  std::string model;
  std::string output;
  std::string recipe = "int8";
  std::string calib;
  std::string text_column = "sentence";
  int64_t samples = 256;
  std::string sampling = "random";
  uint64_t seed = 0;
  std::string calibrator = "percentile";
  double percentile = 99.99;
  double momentum = 0.9;
  std::vector<std::string> exclude;
  bool per_tensor = false;
  bool per_channel = false;
  bool affine = false;
  bool symmetric = false;
  bool attention = false, residual = false, norm = false;
  std::optional<double> fallback_budget;  // percent
  bool sensitivity = false;
  int64_t batch_size = 32;
  std::string compare;            // TSV whose texts compare the quantized model with fp32
  int64_t compare_samples = 1000;
  bool force = false;
  bool json = false;
};

std::string sci(double v) { return fmt::format("{:.3g}", v); }

QuantRecipe make_recipe(const QuantizeCommandOptions& o) {
  QuantRecipe r = recipe_preset(o.recipe);
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

void quantize_command(const QuantizeCommandOptions& o) {
  const QuantRecipe recipe = make_recipe(o);  // option errors before any file is read
  check(o.batch_size > 0, "quantize", "--batch-size must be > 0, got {}", o.batch_size);
  check(recipe.dynamic || !o.calib.empty(), "quantize",
        "recipe '{}' calibrates activations: give --calib FILE.tsv (training text, e.g. data/sst2/train.tsv; never "
        "the data you evaluate on)",
        recipe.name);
  check(o.sampling == "first" || o.sampling == "random", "quantize", "--sampling must be first or random, got '{}'",
        o.sampling);
  check(std::filesystem::is_directory(o.model), "quantize", "'{}' is not a model folder", o.model);
  check(o.force || !std::filesystem::exists(o.output), "quantize", "'{}' already exists (pass --force to replace it)",
        o.output);

  CalibrationTextOptions to;
  to.column = o.text_column;
  to.samples = o.samples;
  to.sampling = o.sampling == "first" ? CalibrationSampling::First : CalibrationSampling::Random;
  to.seed = o.seed;
  // Text files are checked before the (slower) model load.
  std::optional<CalibrationTexts> texts, compare_texts;
  if (!o.calib.empty()) texts = read_calibration_texts(o.calib, to);
  if (!o.compare.empty()) {
    CalibrationTextOptions co = to;
    co.samples = o.compare_samples;
    co.sampling = CalibrationSampling::First;
    compare_texts = read_calibration_texts(o.compare, co);
  }
  const auto model = load_model(o.model);
  std::vector<ModelInputs> batches;
  if (texts) batches = make_calibration_batches(*model, Tokenizer::load(o.model), texts->texts, o.batch_size);

  QuantizeOptions qo;
  qo.recipe = recipe;
  qo.sensitivity = o.sensitivity;
  qo.calibration_source = o.calib;
  QuantizeReport report;
  const QuantizationConfig config = quantize_model(*model, batches, qo, &report);
  if (texts && texts->warning) report.warnings.insert(report.warnings.begin(), *texts->warning);
  std::optional<Comparison> cmp;
  if (compare_texts) {
    const auto compare_batches =
        make_calibration_batches(*model, Tokenizer::load(o.model), compare_texts->texts, o.batch_size);
    cmp = Comparison{o.compare, int64_t(compare_texts->texts.size()),
                     compare_to_fp32(*model, config, QuantExecution::Native, compare_batches),
                     compare_to_fp32(*model, config, QuantExecution::Simulated, compare_batches)};
  }
  save_quantized_model(*model, config, o.model, o.output, o.force);
  print_report(config, report, o, cmp);
}

const CommandRegistration registration({
    "quantize",
    "Quantize a model to INT8 (static calibration or dynamic) into a folder octet runs like any model",
    [](CLI::App& sub) {
      auto o = std::make_shared<QuantizeCommandOptions>();
      sub.add_option("model", o->model, "Hugging Face model folder (with its tokenizer files)")->required();
      sub.add_option("-o,--output", o->output, "Output folder (written to a temporary name, then renamed)")
          ->required();
      sub.add_option("--recipe", o->recipe, "int8 (static activations) or int8-dynamic (per token at run time)")
          ->capture_default_str();
      sub.add_option("--calib", o->calib, "Calibration TSV with a header row (training data, not the eval set)");
      sub.add_option("--text-column", o->text_column, "Calibration text column: header name or 0-based index")
          ->capture_default_str();
      sub.add_option("--samples", o->samples, "Calibration sentences")->capture_default_str();
      sub.add_option("--sampling", o->sampling, "first or random (seeded) rows of the calibration file")
          ->capture_default_str();
      sub.add_option("--seed", o->seed, "Seed of --sampling random")->capture_default_str();
      sub.add_option("--calibrator", o->calibrator, "minmax, ema, percentile, entropy or mse")->capture_default_str();
      sub.add_option("--percentile", o->percentile, "Percentile of the percentile calibrator")->capture_default_str();
      sub.add_option("--momentum", o->momentum, "Momentum of the ema calibrator")->capture_default_str();
      sub.add_option("--exclude", o->exclude, "Glob patterns of Linear names that stay fp32 (comma-separated)")
          ->delimiter(',');
      sub.add_flag("--per-channel", o->per_channel, "One weight scale per output channel (default)");
      sub.add_flag("--per-tensor", o->per_tensor, "One weight scale per weight tensor");
      sub.add_flag("--symmetric", o->symmetric, "Symmetric activations, zero point 0 (default)");
      sub.add_flag("--affine", o->affine, "Affine activations (scale and zero point)");
      sub.add_flag("--quantize-attention", o->attention, "Also quantize attention q, k, v and the softmax probabilities (simulated QDQ)");
      sub.add_flag("--quantize-residual", o->residual, "Also quantize the branch outputs of residual adds");
      sub.add_flag("--quantize-norm", o->norm, "Also quantize layer-norm inputs");
      sub.add_option("--fallback-budget", o->fallback_budget,
                     "Keep the most sensitive Linears in fp32 until at most this % of calibration predictions "
                     "change (relative output error in % for base models)");
      sub.add_flag("--sensitivity", o->sensitivity, "Measure each Linear quantized alone (model error, changes)");
      sub.add_option("--batch-size", o->batch_size, "Calibration sequences per forward pass")->capture_default_str();
      sub.add_option("--compare", o->compare,
                     "TSV (same text column) whose first --compare-samples texts compare both executions with fp32 "
                     "(prediction agreement and output error; no labels needed)");
      sub.add_option("--compare-samples", o->compare_samples, "Texts of --compare to use")->capture_default_str();
      sub.add_flag("--force", o->force, "Replace the output folder if it exists");
      sub.add_flag("--json", o->json, "Print JSON");
      add_common_options(sub);
      sub.callback([o] { quantize_command(*o); });
    },
});

}  // namespace
}  // namespace octet::cli
