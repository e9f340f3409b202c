// octet report on an encoder classifier (--task glue): per recipe, accuracy
// on the TSV data, latency of batch x seq through the bench harness (every
// recipe's octet runner in one interleaved run, native execution), weight
// bytes; the int8 recipe's per-Linear sensitivity.
#include <chrono>
#include <cmath>
#include <memory>

#include <fmt/format.h>

#include "octet/bench.h"
#include "octet/error.h"
#include "octet/eval.h"
#include "octet/precision.h"
#include "octet/quantize_model.h"
#include "octet/tokenizer.h"
#include "report/report_internal.h"

namespace octet::report {
namespace {

namespace fs = std::filesystem;

struct EncoderRecipe {
  std::string name;
  bool quantized = false;
  QuantRecipe recipe;
  std::string description;
};

EncoderRecipe encoder_recipe(const std::string& name) {
  EncoderRecipe r{name, name != "fp32", {}, ""};
  if (!r.quantized) {
    r.description = "f32 weights and activations";
  } else if (name == "int8-dynamic") {
    r.recipe = recipe_preset("int8-dynamic");
    r.description = "INT8 weights per channel, INT8 activations per token computed at run time";
  } else {
    r.recipe = recipe_preset("int8");
    if (name != "int8") r.recipe.calibrator = name.substr(5);  // "int8-entropy" -> "entropy"
    r.description = fmt::format("INT8 weights per channel, INT8 activations per tensor, static ({})",
                                calibrator_label(r.recipe));
  }
  return r;
}

fs::path tokenizer_folder(const fs::path& model) { return fs::is_directory(model) ? model : model.parent_path(); }

// The CLI commands that reproduce one row.
std::vector<std::string> encoder_commands(const ReportOptions& o, const EncoderRecipe& r, int64_t iters) {
  const std::string model = shell_quote(o.model.string());
  const std::string target =
      r.quantized ? shell_quote(fmt::format("out/{}-{}", model_stem(o.model), r.name)) : model;
  std::vector<std::string> commands;
  if (r.quantized) {
    std::string q = fmt::format("octet quantize {} -o {} --recipe {}", model, target, r.recipe.name);
    if (!r.recipe.dynamic)
      q += fmt::format(" --calibrator {} --calib {} --samples {}", r.recipe.calibrator, shell_quote(o.calib.string()),
                       o.calib_samples);
    commands.push_back(q + threads_flag());
  }
  commands.push_back(fmt::format("octet eval {} --task glue --data {}{}{}", target, shell_quote(o.data.string()),
                                 o.limit > 0 ? fmt::format(" --limit {}", o.limit) : "", threads_flag()));
  commands.push_back(fmt::format(
      "octet bench {} --precision {} --peers none --batch {} --seq {} --warmup {} --iters {} --rounds {}{}", target,
      r.quantized ? "int8" : "fp32", o.batch, o.seq, o.warmup, iters, std::min<int64_t>(4, iters), threads_flag()));
  return commands;
}

}  // namespace

bool encoder_recipe_needs_calibration(std::string_view name) { return name != "fp32" && name != "int8-dynamic"; }

nlohmann::json measure_encoder_report(const ReportOptions& o, std::unique_ptr<Model> fp32,
                                      const std::vector<std::string>& recipes) {
  const ModelInfo info = fp32->info();
  check(o.seq <= info.max_positions, kTag, "--seq {} is longer than the model's {} positions", o.seq,
        info.max_positions);
  const int64_t iters = o.iters > 0 ? o.iters : 20;
  const ClassificationDataset data = load_tsv_dataset(o.data);
  check(data.size() > 0, kTag, "--data '{}' holds no examples (a header row only)", o.data.string());
  const Tokenizer tokenizer = Tokenizer::load(tokenizer_folder(o.model));
  const StageLog log(o.progress, recipes.size());

  std::vector<ModelInputs> calibration;
  nlohmann::json calib_json = nullptr;
  const bool any_static = std::any_of(recipes.begin(), recipes.end(),
                                      [](const std::string& r) { return encoder_recipe_needs_calibration(r); });
  if (any_static) {
    log.note(fmt::format("reading calibration texts from {}", o.calib.string()));
    CalibrationTextOptions co;
    co.samples = o.calib_samples;
    const CalibrationTexts texts = read_calibration_texts(o.calib, co);
    calibration = make_calibration_batches(*fp32, tokenizer, texts.texts);
    calib_json = {{"file", o.calib.string()}, {"sentences", texts.texts.size()}, {"sampling", "random, seed 0"}};
  }
  // The per-Linear sensitivity comes from "int8", else the first static recipe.
  std::string sensitivity_recipe;
  for (const std::string& r : recipes)
    if (encoder_recipe_needs_calibration(r) && (sensitivity_recipe.empty() || r == "int8")) sensitivity_recipe = r;

  nlohmann::json rows = nlohmann::json::array(), sensitivity = nullptr;
  std::vector<std::shared_ptr<Model>> models;  // kept for the interleaved latency run
  std::vector<size_t> model_rows;
  std::optional<double> fp32_accuracy;
  std::optional<uint64_t> fp32_bytes;
  int64_t examples = 0;
  for (size_t i = 0; i < recipes.size(); ++i) {
    const EncoderRecipe r = encoder_recipe(recipes[i]);
    try {
      std::shared_ptr<Model> model = i == 0 ? std::shared_ptr<Model>(std::move(fp32)) : load_model(o.model);
      nlohmann::json metrics = nlohmann::json::object();
      std::optional<QuantizationConfig> config;
      if (!r.quantized) {
        use_packed_fp32_kernels(*model);  // as octet eval / bench run fp32 (octet/precision.h)
      } else {
        log.stage(i, r.name, "quantizing");
        QuantizeOptions qo;
        qo.recipe = r.recipe;
        qo.progress = o.progress;
        qo.sensitivity = r.name == sensitivity_recipe;
        qo.calibration_source = o.calib.string();
        QuantizeReport qr;
        const auto t0 = std::chrono::steady_clock::now();
        config = quantize_model(*model, r.recipe.dynamic ? std::vector<ModelInputs>{} : calibration, qo, &qr);
        apply_quantization(*model, *config, QuantExecution::Native);
        // Linears the recipe left in fp32 run as the fp32 row does (octet/precision.h).
        use_packed_fp32_kernels(*model);
        metrics["quantize_seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (qo.sensitivity) {
          nlohmann::json layers = nlohmann::json::array();
          for (const LayerReport& l : qr.layers)
            if (l.model_error) layers.push_back({{"name", l.name}, {"value", *l.model_error}});
          sensitivity = {{"metric", "model_error"},
                         {"caption", fmt::format("Model output error (relative L2 of the logits over the {} "
                                                 "calibration sentences, simulated execution) when only this Linear "
                                                 "is quantized, with recipe {} ({}).",
                                                 qr.calibration_sequences, r.name, calibrator_label(r.recipe))},
                         {"value_label", "relative output error of the model"},
                         {"series", nlohmann::json::array({{{"recipe", r.name}, {"layers", layers}}})}};
        }
      }
      log.stage(i, r.name, "accuracy");
      EvalOptions eo;
      eo.progress = o.progress;
      if (o.limit > 0) eo.limit = o.limit;
      const ClassificationResult result = evaluate_classification(*model, tokenizer, data, eo);
      examples = result.total;
      metrics["accuracy"] = result.accuracy;
      if (!fp32_accuracy) fp32_accuracy = result.accuracy;
      if (r.quantized) metrics["accuracy_delta"] = result.accuracy - *fp32_accuracy;
      const uint64_t bytes = quantized_weight_bytes(*model, config ? &*config : nullptr);
      metrics["weight_bytes"] = bytes;
      if (!fp32_bytes) fp32_bytes = bytes;
      metrics["compression"] = double(*fp32_bytes) / double(bytes);
      rows.push_back({{"recipe", r.name}, {"description", r.description}, {"metrics", metrics},
                      {"commands", encoder_commands(o, r, iters)}});
      models.push_back(std::move(model));
      model_rows.push_back(rows.size() - 1);
    } catch (const Error& e) {
      if (i == 0) throw;  // fp32 is the reference
      rows.push_back(failed_row(r.name, r.description, e));
    }
  }

  log.note(fmt::format("latency of batch {} x seq {}: {} recipes take turns, {} timed passes each", o.batch, o.seq,
                       models.size(), iters));
  std::vector<std::unique_ptr<BenchRunner>> runners;
  std::vector<BenchRunner*> pointers;
  for (size_t k = 0; k < models.size(); ++k) {
    runners.push_back(make_octet_runner(models[k], rows[model_rows[k]]["recipe"].get<std::string>()));
    pointers.push_back(runners.back().get());
  }
  BenchOptions bo;
  bo.warmup = o.warmup;
  bo.iters = iters;
  bo.rounds = std::min<int64_t>(4, iters);
  const std::vector<BenchResult> latency = run_benchmark(pointers, random_bench_inputs(info, o.batch, o.seq), bo);
  for (size_t k = 0; k < latency.size(); ++k) {
    nlohmann::json& row = rows[model_rows[k]];
    if (!latency[k].error.empty()) {
      row["error"] = "latency: " + latency[k].error;
      continue;
    }
    row["metrics"]["latency_p50_ms"] = latency[k].latency.p50_ms;
    row["metrics"]["latency_p90_ms"] = latency[k].latency.p90_ms;
  }

  nlohmann::json section = section_header(o, *models.front(), ReportTask::Glue);
  section["data"] = {{"file", o.data.string()}, {"examples", examples}, {"available", data.size()}};
  section["calibration"] = calib_json;
  section["latency"] = {{"batch", o.batch}, {"seq", o.seq}, {"warmup", o.warmup}, {"iters", iters},
                        {"rounds", bo.rounds}, {"inputs", "random token ids"}, {"execution", "native"}};
  section["recipes"] = rows;
  section["sensitivity"] = sensitivity;
  return section;
}

}  // namespace octet::report
