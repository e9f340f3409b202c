// `octet quantize` on a decoder LLM (HF folder or .gguf): the recipe and its
// options, calibration windows from a plain-text file, quantize_llm, the
// folder, and the per-Linear table (or --json).
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error_tags.h"
#include "octet/error.h"
#include "octet/generate.h"
#include "octet/gguf.h"
#include "octet/llm_quantize.h"
#include "octet/log.h"
#include "octet/tokenizer.h"
#include "output.h"
#include "quantize_options.h"

namespace octet::cli {
namespace {

namespace fs = std::filesystem;

bool given(const QuantizeCommandOptions& o, const char* name) { return o.given.count(name) > 0; }

// The recipe by name, adjusted by the options that apply to it; an option that does not apply is an error.
LlmRecipe make_llm_recipe(const QuantizeCommandOptions& o, const std::string& name) {
  LlmRecipe r = llm_recipe(name);
  const bool group = r.weight.granularity == Granularity::PerGroup && r.quantize_weights;
  auto only = [&](const char* option, bool applies, std::string_view which) {
    check(!given(o, option) || applies, kQuantizeTag, "{} applies to {}, not to recipe '{}'", option, which, r.name);
  };
  only("--group", group, "the INT4 recipes (w4a16-*, w4a8-awq)");
  only("--asym", group, "the INT4 recipes (w4a16-*, w4a8-awq)");
  only("--group-fallback", group, "the INT4 recipes (w4a16-*, w4a8-awq)");
  only("--act-order", r.algorithm == WeightAlgorithm::Gptq, "w4a16-gptq");
  only("--damp", r.algorithm == WeightAlgorithm::Gptq, "w4a16-gptq");
  only("--block-size", r.algorithm == WeightAlgorithm::Gptq, "w4a16-gptq");
  only("--alpha", r.algorithm == WeightAlgorithm::SmoothQuant, "w8a8-sq");
  only("--awq-grid", r.algorithm == WeightAlgorithm::Awq, "the AWQ recipes (w4a16-awq, w4a8-awq)");
  only("--no-awq-clip", r.algorithm == WeightAlgorithm::Awq, "the AWQ recipes (w4a16-awq, w4a8-awq)");
  only("--act-scale", r.activations == ActivationFormat::Int8PerToken && r.weight.dtype == DType::I8,
       "w8a8 and w8a8-sq");
  only("--act", r.name == "w4a8-awq", "w4a8-awq");
  only("--per-channel", r.quantize_weights && r.weight.granularity != Granularity::PerGroup,
       "the per-channel / per-tensor recipes (w8a16, w8a8, w8a8-sq, fp8)");
  only("--quantize-lm-head", r.quantize_weights, "recipes that quantize weights");

  if (o.group) {
    check(*o.group == 32 || *o.group == 64 || *o.group == 128, kQuantizeTag, "--group must be 32, 64 or 128, got {}",
          *o.group);
    r.weight.group_size = *o.group;
  }
  if (o.asym) r.weight = parse_quant_spec(fmt::format("uint4:affine:group({})", r.weight.group_size));
  r.group_fallback = o.group_fallback;
  r.act_order = o.act_order;
  if (o.damp) r.gptq_damp = *o.damp;
  if (o.gptq_block) r.gptq_block = *o.gptq_block;
  if (o.awq_grid) r.awq_grid = int(*o.awq_grid);
  r.awq_clip = !o.no_awq_clip;
  if (!o.alpha.empty()) {
    if (o.alpha == "auto") {
      r.alpha_search = true;
    } else {
      try {
        size_t used = 0;
        r.alpha = std::stod(o.alpha, &used);
        check(used == o.alpha.size(), kQuantizeTag, "");
      } catch (const std::exception&) {
        fail(kQuantizeTag, "--alpha must be a number in [0, 1] or 'auto', got '{}'", o.alpha);
      }
    }
  }
  if (!o.act_scale.empty()) {
    check(o.act_scale == "dynamic" || o.act_scale == "static", kQuantizeTag,
          "--act-scale must be dynamic or static, got '{}'", o.act_scale);
    r.activations = o.act_scale == "static" ? ActivationFormat::Int8Static : ActivationFormat::Int8PerToken;
  }
  if (!o.act.empty()) {
    check(o.act == "fp8" || o.act == "int8", kQuantizeTag, "--act must be fp8 or int8, got '{}'", o.act);
    r.activations = o.act == "fp8" ? ActivationFormat::Fp8Static : ActivationFormat::Int8PerToken;
  }
  if (o.per_channel && r.weight.dtype == DType::F8_E4M3) r.weight = parse_quant_spec("fp8_e4m3:sym:per_channel(0)");
  if (!o.kv_cache.empty()) {
    check(o.kv_cache == "int8" || o.kv_cache == "fp8", kQuantizeTag, "--kv-cache must be int8 or fp8, got '{}'",
          o.kv_cache);
    r.kv_cache = o.kv_cache == "int8" ? DType::I8 : DType::F8_E4M3;
  }
  check(o.kv_scale == "static" || o.kv_scale == "dynamic", kQuantizeTag,
        "--kv-scale must be static or dynamic, got '{}'", o.kv_scale);
  check(!given(o, "--kv-scale") || !o.kv_cache.empty(), kQuantizeTag, "--kv-scale needs --kv-cache int8 or fp8");
  r.kv_dynamic = o.kv_scale == "dynamic";
  r.quantize_lm_head = o.quantize_lm_head;
  r.exclude = o.exclude;
  validate_llm_recipe(r);
  return r;
}

std::string read_calibration_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  check(in.good(), "calibrate", "cannot read --calib '{}'", path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool is_gguf(const fs::path& path) {
  if (!fs::is_regular_file(path)) return false;
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  return in.read(magic, 4) && std::string_view(magic, 4) == "GGUF";
}

// GGUF weights in block formats are dequantized to f32 before the recipe runs: say so once.
void warn_quantized_gguf(const fs::path& path, std::vector<std::string>& warnings) {
  if (!is_gguf(path)) return;
  const GgufFile file = GgufFile::open(path);
  std::set<std::string> types;
  for (const GgufTensorInfo& t : file.tensors()) {
    const auto type = static_cast<GgmlType>(t.type);
    if (type != GgmlType::F32 && type != GgmlType::F16 && type != GgmlType::BF16) types.insert(ggml_type_name(t.type));
  }
  if (types.empty()) return;
  warnings.push_back(fmt::format(
      "{} holds tensors in quantized GGUF types ({}): they are dequantized to f32 first, so the recipe's error adds "
      "to theirs",
      path.filename().string(), fmt::join(types, ", ")));
  log_warn("{}", warnings.back());
}

std::string sci(double v) { return fmt::format("{:.3g}", v); }

std::string activation_label(const LlmRecipe& r) {
  return r.quantize_weights ? std::string(activation_format_name(r.activations)) : "f32";
}

std::string kv_label(const LlmRecipe& r) {
  if (r.kv_cache == DType::F32) return "f32";
  return fmt::format("{} ({} scales)", r.kv_cache == DType::I8 ? "int8" : "fp8_e4m3",
                     r.kv_dynamic ? "per token, dynamic" : "per kv head, static");
}

void print_llm_report(const QuantizeCommandOptions& o, const LlmRecipe& r, const QuantizationConfig& config,
                      const QuantizeReport& report, const CalibrationWindows* windows, uint64_t folder_bytes) {
  const bool measured = report.calibration_sequences > 0;
  if (o.json) {
    nlohmann::json layers = nlohmann::json::array();
    for (const LayerReport& l : report.layers) {
      nlohmann::json j = {{"name", l.name}, {"quantized", l.quantized}, {"weights", l.quantized ? l.weight_format : "f32"},
                          {"reason", l.reason}, {"note", l.note}};
      if (l.quantized) {
        j["weight_error"] = l.weight_error;
        if (measured) j["output_error"] = l.output_error;
        if (l.input_scale > 0) j["input"] = {{"min", l.input_min}, {"max", l.input_max}, {"scale", l.input_scale}};
      }
      layers.push_back(std::move(j));
    }
    nlohmann::json calib = nullptr;
    if (windows)
      calib = {{"source", o.calib}, {"windows", windows->windows.size()}, {"seq_len", windows->seq_len},
               {"text_tokens", windows->text_tokens}, {"seed", o.seed}};
    print_json({{"output", o.output},
                {"model", o.model},
                {"recipe", config.recipe},
                {"algorithm", weight_algorithm_name(r.algorithm)},
                {"weights", r.quantize_weights ? to_string(r.weight) : "f32"},
                {"activations", activation_label(r)},
                {"kv_cache", kv_label(r)},
                {"calibration", calib},
                {"quantized_linears", config.linears.size()},
                {"f32_linears", report.layers.size() - config.linears.size()},
                {"weights_file_bytes", folder_bytes},
                {"seconds", report.seconds},
                {"warnings", report.warnings},
                {"layers", layers}});
    return;
  }
  std::vector<TableRow> rows;
  for (const LayerReport& l : report.layers) {
    TableRow row{l.name, l.quantized ? l.weight_format : "f32"};
    row.push_back(l.quantized ? sci(l.weight_error) : "-");
    row.push_back(l.quantized && measured ? sci(l.output_error) : "-");
    row.push_back(l.reason.empty() ? l.note : l.reason);
    rows.push_back(std::move(row));
  }
  print_table({"layer", "weights", "weight err", "output err", "note"}, rows);
  fmt::print("\n");
  std::vector<TableRow> summary{
      {"output", o.output},
      {"recipe", fmt::format("{} ({})", config.recipe, weight_algorithm_name(r.algorithm))},
      {"weights", r.quantize_weights ? to_string(r.weight) : "f32"},
      {"activations", activation_label(r)},
      {"KV cache", kv_label(r)},
      {"calibration", windows ? fmt::format("{}: {} windows x {} tokens (seed {}) of {} tokens", o.calib,
                                            windows->windows.size(), windows->seq_len, o.seed, windows->text_tokens)
                              : "-"},
      {"quantized Linears", std::to_string(config.linears.size())},
      {"f32 Linears", std::to_string(report.layers.size() - config.linears.size())},
      {"model.safetensors", format_bytes(folder_bytes)},
      {"time", format_duration(report.seconds)}};
  if (measured)
    summary.push_back({"output err", "||y_q - y|| / ||y|| of each Linear on its own inputs, first calibration windows"});
  print_table({"field", "value"}, summary);
}

}  // namespace

void quantize_llm_command(const QuantizeCommandOptions& o, Model& model) {
  for (const std::string& option : encoder_only_options())
    check(!o.given.count(option), kQuantizeTag,
          "{} applies to encoder recipes (int8, int8-dynamic), not to decoder LLMs", option);
  const std::string name = o.recipe.empty() ? "w8a8-sq" : o.recipe;
  const LlmRecipe recipe = make_llm_recipe(o, name);
  if (!o.budget.empty()) check_budget_options(o, true);
  check(!recipe.needs_calibration() || !o.calib.empty() || !o.budget.empty(), kQuantizeTag,
        "recipe '{}'{} calibrates on text: give --calib FILE.txt (training text, e.g. kjv.train.txt; never the text "
        "you evaluate on)",
        recipe.name, recipe.kv_cache != DType::F32 && !recipe.kv_dynamic ? " with a static KV cache" : "");

  LlmQuantizeOptions lo;
  lo.recipe = recipe;
  lo.calibration_source = o.calib;
  QuantizeReport report;
  std::vector<std::string> warnings;
  warn_quantized_gguf(o.model, warnings);
  std::optional<CalibrationWindows> windows;
  if (!o.calib.empty()) {
    const std::string text = read_calibration_text(o.calib);
    const Tokenizer tok = load_model_tokenizer(o.model);
    CalibrationWindowOptions wo;
    wo.samples = o.samples.value_or(128);
    wo.seq_len = o.seq_len;
    wo.seed = o.seed;
    windows = make_calibration_windows(tok.encode(text).ids, model.info().max_positions, wo);
    warnings.insert(warnings.end(), windows->warnings.begin(), windows->warnings.end());
  }
  if (!o.budget.empty()) {
    check(windows.has_value(), kQuantizeTag,
          "--budget calibrates its AWQ and SmoothQuant rungs: give --calib FILE.txt");
    return quantize_llm_budget_command(o, recipe, windows->windows);
  }
  check(o.eval_data.empty() && !o.eval_limit, kQuantizeTag, "--eval-data and --eval-limit go with --budget");
  const QuantizationConfig config =
      quantize_llm(model, windows ? windows->windows : std::vector<std::vector<int64_t>>{}, lo, &report);
  report.warnings.insert(report.warnings.begin(), warnings.begin(), warnings.end());
  save_quantized_model(model, config, o.model, o.output, o.force);
  const uint64_t bytes = fs::file_size(fs::path(o.output) / "model.safetensors");
  print_llm_report(o, recipe, config, report, windows ? &*windows : nullptr, bytes);
}

}  // namespace octet::cli
