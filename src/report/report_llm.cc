// octet report on a decoder LLM (--task perplexity): per recipe, perplexity
// on the text, mean KL and top-1 agreement against fp32 (compare_models),
// prefill and decode tokens/s of greedy generation, weight bytes; the
// per-Linear output errors of w8a8-sq and w4a16-awq.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <memory>
#include <sstream>

#include <fmt/format.h>

#include "octet/error.h"
#include "octet/generate.h"
#include "octet/llm_quantize.h"
#include "octet/perplexity.h"
#include "octet/tokenizer.h"
#include "report/report_internal.h"

namespace octet::report {
namespace {

namespace fs = std::filesystem;

// Recipes whose per-Linear output errors the sensitivity chart shows, when measured.
const std::vector<std::string> kSensitivityRecipes = {"w8a8-sq", "w4a16-awq"};

struct LlmReportRecipe {
  std::string name;
  bool reference = false;  // fp32: nothing to quantize
  LlmRecipe recipe;
  std::string description;
};

LlmReportRecipe llm_report_recipe(const std::string& name) {
  LlmReportRecipe r;
  r.name = name;
  if (name == "fp32") {
    r.reference = true;
    r.description = "f32 weights, activations and KV cache (the reference)";
    return r;
  }
  if (name == "kv-int8" || name == "kv-fp8") {
    r.recipe = llm_recipe("fp32");
    r.recipe.kv_cache = name == "kv-int8" ? DType::I8 : DType::F8_E4M3;
    r.description = fmt::format("f32 weights, KV cache {} (static scale per kv head)", name.substr(3));
    return r;
  }
  r.recipe = llm_recipe(name);
  r.description = r.recipe.summary;
  return r;
}

std::string read_text(const fs::path& path, std::string_view option) {
  std::ifstream in(path, std::ios::binary);
  check(in.good(), kTag, "cannot read {} '{}'", option, path.string());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Tokens/s of generation runs, per run.
struct SpeedSamples {
  std::vector<double> prefill, decode;
  void add(const GenerationResult& g) {
    if (g.prefill_seconds > 0) prefill.push_back(double(g.prompt_tokens) / g.prefill_seconds);
    if (g.decode_seconds > 0 && g.decode_steps > 0) decode.push_back(double(g.decode_steps) / g.decode_seconds);
  }
};

GenerationOptions generation_options(int64_t new_tokens) {
  GenerationOptions go;
  go.eos_ids = std::vector<int64_t>{};  // always new_tokens tokens: equal work for every recipe
  go.max_new_tokens = new_tokens;
  return go;
}

// `runs` generations of `model`, each right after one of the fp32 reference
// (when given), so both see the same load of a shared machine; a short
// untimed run first touches the weights. Returns the first run's new tokens.
std::vector<int64_t> measure_generation(const CausalLM& model, const CausalLM* reference,
                                        const std::vector<int64_t>& prompt, int64_t new_tokens, int64_t runs,
                                        SpeedSamples& samples, SpeedSamples& reference_samples) {
  generate(model, {prompt}, generation_options(2));
  const GenerationOptions go = generation_options(new_tokens);
  std::vector<int64_t> tokens;
  for (int64_t i = 0; i < runs; ++i) {
    if (reference) reference_samples.add(generate(*reference, {prompt}, go));
    const GenerationResult g = generate(model, {prompt}, go);
    if (i == 0) tokens = g.new_tokens.front();
    samples.add(g);
  }
  return tokens;
}

std::vector<std::string> llm_commands(const ReportOptions& o, const LlmReportRecipe& r,
                                      const std::vector<int64_t>& prompt, bool calibrated) {
  const std::string model = shell_quote(o.model.string());
  const std::string target = shell_quote(fmt::format("out/{}-{}", model_stem(o.model), r.name));
  std::vector<std::string> commands;
  const std::string limit = o.limit_tokens > 0 ? fmt::format(" --limit-tokens {}", o.limit_tokens) : "";
  const std::string data = shell_quote(o.data.string());
  if (r.reference) {
    commands.push_back(fmt::format("octet perplexity {} --data {} --ctx {}{}{}", model, data, o.ctx, limit,
                                   threads_flag()));
  } else {
    std::string q = fmt::format("octet quantize {} -o {} --recipe {}", model, target, r.recipe.name);
    if (r.recipe.kv_cache != DType::F32) q += r.recipe.kv_cache == DType::I8 ? " --kv-cache int8" : " --kv-cache fp8";
    if (calibrated)
      q += fmt::format(" --calib {} --samples {} --seq-len {}", shell_quote(o.calib.string()), o.samples, o.seq_len);
    commands.push_back(q + threads_flag());
    commands.push_back(fmt::format("octet perplexity {} --compare {} --data {} --ctx {}{}{}", model, target, data,
                                   o.ctx, limit, threads_flag()));
  }
  // octet generate stops at EOS; the report does not, so every recipe decodes the same count.
  commands.push_back(fmt::format("octet generate {} --prompt-ids {} --max-new-tokens {}{}",
                                 r.reference ? model : target, fmt::join(prompt, ","), o.new_tokens, threads_flag()));
  return commands;
}

}  // namespace

bool llm_recipe_needs_calibration(std::string_view name) {
  if (name == "fp32") return false;
  return llm_report_recipe(std::string(name)).recipe.needs_calibration();
}

nlohmann::json measure_llm_report(const ReportOptions& o, std::unique_ptr<CausalLM> fp32,
                                  const std::vector<std::string>& recipes) {
  const int64_t runs = o.iters > 0 ? o.iters : 3;
  const int64_t context = fp32->context_length();
  check(context <= 0 || o.prompt_tokens + o.new_tokens <= context, kTag,
        "--prompt-tokens {} + --new-tokens {} exceed the model's {} positions", o.prompt_tokens, o.new_tokens, context);
  const StageLog log(o.progress, recipes.size());
  const Tokenizer tokenizer = load_model_tokenizer(o.model);

  log.note(fmt::format("tokenizing {}", o.data.string()));
  std::string text = read_text(o.data, "--data");
  // With --limit-tokens only a prefix is needed: 16 bytes per token is far more
  // than any tokenizer needs (as octet perplexity does, so the tokens are equal).
  if (o.limit_tokens > 0 && int64_t(text.size()) > 16 * o.limit_tokens + 1024)
    text.resize(size_t(16 * o.limit_tokens + 1024));
  std::vector<int64_t> ids = tokenizer.encode(text).ids;
  if (o.limit_tokens > 0 && int64_t(ids.size()) > o.limit_tokens) ids.resize(size_t(o.limit_tokens));
  check(ids.size() >= 2, kTag, "--data '{}' gives {} tokens; perplexity needs at least 2", o.data.string(),
        ids.size());
  const std::vector<int64_t> prompt(ids.begin(), ids.begin() + std::min<int64_t>(o.prompt_tokens, int64_t(ids.size())));

  std::vector<std::vector<int64_t>> windows;
  nlohmann::json calib_json = nullptr;
  if (!o.calib.empty()) {
    log.note(fmt::format("tokenizing {} for calibration", o.calib.string()));
    CalibrationWindowOptions wo;
    wo.samples = o.samples;
    wo.seq_len = o.seq_len;
    CalibrationWindows w =
        make_calibration_windows(tokenizer.encode(read_text(o.calib, "--calib")).ids, fp32->info().max_positions, wo);
    calib_json = {{"file", o.calib.string()}, {"windows", w.windows.size()}, {"seq_len", w.seq_len},
                  {"text_tokens", w.text_tokens}, {"seed", 0}, {"warnings", w.warnings}};
    windows = std::move(w.windows);
  }

  PerplexityOptions po;
  po.context = o.ctx;
  po.progress = o.progress;
  use_decode_kernels(*fp32);
  nlohmann::json rows = nlohmann::json::array();
  std::vector<nlohmann::json> measured;  // per-Linear output errors of each weight-quantizing recipe
  double fp32_perplexity = 0;
  uint64_t fp32_bytes = 0;
  SpeedSamples fp32_speed;  // its own runs and one before each run of every other recipe
  for (size_t i = 0; i < recipes.size(); ++i) {
    const LlmReportRecipe r = llm_report_recipe(recipes[i]);
    try {
      nlohmann::json metrics = nlohmann::json::object();
      std::unique_ptr<CausalLM> quantized;
      std::optional<QuantizationConfig> config;
      if (!r.reference) {
        log.stage(i, r.name, "quantizing");
        quantized = load_causal_lm(o.model, kLoadFloatWeights);  // recipes fold factors into the f32 weights: a fresh copy each
        LlmQuantizeOptions lo;
        lo.recipe = r.recipe;
        lo.progress = o.progress;
        lo.calibration_source = o.calib.string();
        QuantizeReport qr;
        const auto t0 = std::chrono::steady_clock::now();
        config = quantize_llm(*quantized, windows, lo, &qr);
        apply_quantization(*quantized, *config, QuantExecution::Native);
        use_decode_kernels(*quantized);
        metrics["quantize_seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (qr.calibration_sequences > 0 && r.recipe.quantize_weights) {
          nlohmann::json layers = nlohmann::json::array();
          for (const LayerReport& l : qr.layers)
            if (l.quantized) layers.push_back({{"name", l.name}, {"value", l.output_error}});
          measured.push_back({{"recipe", r.name}, {"layers", layers}});
        }
      }
      const CausalLM& model = r.reference ? *fp32 : *quantized;
      log.stage(i, r.name, r.reference ? "perplexity" : "perplexity and KL against fp32");
      if (r.reference) {
        const PerplexityResult p = perplexity(*fp32, ids, po);
        fp32_perplexity = p.perplexity;
        metrics["perplexity"] = p.perplexity;
      } else {
        const ModelComparison c = compare_models(*fp32, model, ids, po);
        metrics["perplexity"] = c.b.perplexity;
        metrics["perplexity_delta_pct"] = 100.0 * (c.b.perplexity - fp32_perplexity) / fp32_perplexity;
        metrics["mean_kl"] = c.mean_kl;
        metrics["top1_agreement"] = c.top1_agreement;
      }
      log.stage(i, r.name, fmt::format("generating {} tokens x {}{}", o.new_tokens, runs,
                                       r.reference ? "" : ", alternating with fp32"));
      SpeedSamples speed;
      const std::vector<int64_t> generated = measure_generation(
          model, r.reference ? nullptr : fp32.get(), prompt, o.new_tokens, runs, r.reference ? fp32_speed : speed,
          fp32_speed);
      if (!r.reference) {
        metrics["prefill_tokens_per_s"] = median(speed.prefill);
        metrics["decode_tokens_per_s"] = median(speed.decode);
      }
      const uint64_t bytes = quantized_weight_bytes(model, config ? &*config : nullptr);
      if (r.reference) fp32_bytes = bytes;
      metrics["weight_bytes"] = bytes;
      metrics["compression"] = double(fp32_bytes) / double(bytes);
      rows.push_back({{"recipe", r.name},
                      {"description", r.description},
                      {"metrics", metrics},
                      {"generated", tokenizer.decode(generated)},
                      {"commands", llm_commands(o, r, prompt, !windows.empty())}});
    } catch (const Error& e) {
      if (r.reference) throw;
      rows.push_back(failed_row(r.name, r.description, e));
    }
  }

  rows[0]["metrics"]["prefill_tokens_per_s"] = median(fp32_speed.prefill);
  rows[0]["metrics"]["decode_tokens_per_s"] = median(fp32_speed.decode);

  nlohmann::json section = section_header(o, *fp32, ReportTask::Perplexity);
  section["data"] = {{"file", o.data.string()}, {"tokens", ids.size()}, {"ctx", o.ctx}};
  section["calibration"] = calib_json;
  section["generation"] = {{"prompt_tokens", prompt.size()}, {"new_tokens", o.new_tokens}, {"runs", runs},
                           {"fp32_runs", fp32_speed.decode.size()},
                           {"prompt", tokenizer.decode(prompt)}, {"sampling", "greedy, EOS ignored"},
                           {"execution", "native (formats without a native kernel run simulated)"}};
  section["recipes"] = rows;
  // The chart shows w8a8-sq and w4a16-awq (an int8 and an int4 recipe), else the first two measured.
  nlohmann::json series = nlohmann::json::array();
  for (const nlohmann::json& m : measured)
    if (std::find(kSensitivityRecipes.begin(), kSensitivityRecipes.end(), m["recipe"]) != kSensitivityRecipes.end())
      series.push_back(m);
  if (series.empty())
    for (size_t k = 0; k < std::min<size_t>(2, measured.size()); ++k) series.push_back(measured[k]);
  if (!series.empty()) {
    std::vector<std::string> names;
    for (const auto& s : series) names.push_back(s["recipe"]);
    section["sensitivity"] = {
        {"metric", "output_error"},
        {"caption", fmt::format("Relative output error ||y_q - y|| / ||y|| of each quantized Linear on its own fp32 "
                                "inputs (the first calibration windows), recipe{} {}.",
                                names.size() > 1 ? "s" : "", fmt::join(names, " and "))},
        {"value_label", "relative output error of the Linear"},
        {"series", series}};
  } else {
    section["sensitivity"] = nullptr;
  }
  return section;
}

}  // namespace octet::report
