// octet report: the checks before any slow work, the recipe names, the
// section every flow shares, and writing report.json + index.html.
#include "octet/report.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <ctime>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "io/atomic_file.h"
#include "octet/bench.h"
#include "octet/device.h"
#include "octet/error.h"
#include "octet/generate.h"
#include "octet/llm_quantize.h"
#include "octet/log.h"
#include "octet/thread_pool.h"
#include "report/report_internal.h"

namespace octet {

namespace fs = std::filesystem;
using report::kTag;

std::string_view report_task_name(ReportTask task) { return task == ReportTask::Glue ? "glue" : "perplexity"; }

ReportTask parse_report_task(std::string_view name) {
  if (name == "glue") return ReportTask::Glue;
  if (name == "perplexity") return ReportTask::Perplexity;
  fail(kTag, "unknown task '{}' (glue: encoder classifiers on a TSV file; perplexity: decoder LLMs on a text file)",
       name);
}

const std::vector<std::string>& report_recipe_names(bool decoder) {
  static const std::vector<std::string> encoder = {"fp32",     "int8",        "int8-dynamic",    "int8-minmax",
                                                   "int8-ema", "int8-entropy", "int8-percentile", "int8-mse"};
  static const std::vector<std::string> llm = [] {
    std::vector<std::string> names = {"fp32"};
    for (const LlmRecipe& r : llm_recipes())
      if (r.name != "fp32") names.push_back(r.name);
    names.push_back("kv-int8");
    names.push_back("kv-fp8");
    return names;
  }();
  return decoder ? llm : encoder;
}

const std::vector<std::string>& default_report_recipes(bool decoder) {
  static const std::vector<std::string> encoder = {"fp32",     "int8",         "int8-dynamic", "int8-minmax",
                                                   "int8-ema", "int8-entropy", "int8-mse"};
  static const std::vector<std::string> llm = {"fp32", "w8a16",      "w8a8",       "w8a8-sq",  "fp8",
                                               "w4a16-rtn", "w4a16-awq", "w4a16-gptq", "w4a8-awq", "kv-int8"};
  return decoder ? llm : encoder;
}

namespace {

bool contains(const std::vector<std::string>& names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

void check_input_file(const fs::path& path, std::string_view option) {
  check(fs::exists(path), kTag, "{} '{}' does not exist", option, path.string());
  check(fs::is_regular_file(path), kTag, "{} '{}' is not a file", option, path.string());
  check(fs::file_size(path) > 0, kTag, "{} '{}' is empty", option, path.string());
}

void check_numbers(const ReportOptions& o) {
  check(o.iters >= 0, kTag, "--iters must be >= 0, got {}", o.iters);
  check(o.limit >= 0, kTag, "--limit must be >= 0, got {}", o.limit);
  check(o.limit_tokens >= 0, kTag, "--limit-tokens must be >= 0, got {}", o.limit_tokens);
  check(o.calib_samples > 0, kTag, "--calib-samples must be > 0, got {}", o.calib_samples);
  check(o.batch > 0 && o.seq > 0, kTag, "--batch and --seq must be > 0, got {} and {}", o.batch, o.seq);
  check(o.warmup >= 0, kTag, "--warmup must be >= 0, got {}", o.warmup);
  check(o.samples > 0 && o.seq_len > 0, kTag, "--samples and --seq-len must be > 0, got {} and {}", o.samples,
        o.seq_len);
  check(o.ctx > 1, kTag, "--ctx must be > 1, got {}", o.ctx);
  check(o.prompt_tokens > 0 && o.new_tokens > 0, kTag, "--prompt-tokens and --new-tokens must be > 0, got {} and {}",
        o.prompt_tokens, o.new_tokens);
}

// The recipes to measure: checked names, duplicates dropped, fp32 first.
std::vector<std::string> checked_recipes(const ReportOptions& o, bool decoder, const Model& model) {
  const std::vector<std::string>& mine = report_recipe_names(decoder);
  const std::vector<std::string>& theirs = report_recipe_names(!decoder);
  std::vector<std::string> out = {"fp32"};
  for (const std::string& name : o.recipes.empty() ? default_report_recipes(decoder) : o.recipes) {
    if (contains(mine, name)) {
      if (!contains(out, name)) out.push_back(name);
      continue;
    }
    check(!contains(theirs, name), kTag, "recipe '{}' is for {}, and '{}' is {} ({}; its recipes: {})", name,
          decoder ? "encoders" : "decoder LLMs", o.model.string(), decoder ? "a decoder LLM" : "an encoder",
          model.info().model_type, fmt::join(mine, ", "));
    fail(kTag, "unknown recipe '{}' (encoders: {}; decoder LLMs: {})", name, fmt::join(report_recipe_names(false), ", "),
         fmt::join(report_recipe_names(true), ", "));
  }
  std::vector<std::string> calibrating;
  for (const std::string& name : out)
    if (decoder ? report::llm_recipe_needs_calibration(name) : report::encoder_recipe_needs_calibration(name))
      calibrating.push_back(name);
  if (!calibrating.empty()) {
    check(!o.calib.empty(), kTag, "recipe{} {} calibrate{} on data: give --calib FILE ({}; never the evaluation data)",
          calibrating.size() > 1 ? "s" : "", fmt::join(calibrating, ", "), calibrating.size() > 1 ? "" : "s",
          decoder ? "plain training text, e.g. kjv.train.txt" : "a training TSV, e.g. data/sst2/train.tsv");
  }
  if (!o.calib.empty()) check_input_file(o.calib, "--calib");
  return out;
}

ReportTask checked_task(const ReportOptions& o, const Model& model) {
  const ModelInfo& info = model.info();
  const bool classifier = !info.is_decoder && info.head == ModelHead::SequenceClassification;
  const ReportTask task = o.task.value_or(info.is_decoder ? ReportTask::Perplexity : ReportTask::Glue);
  if (task == ReportTask::Glue)
    check(classifier, kTag, "--task glue needs a sentence classifier, and '{}' is {} ({}){}", o.model.string(),
          info.is_decoder ? "a decoder LLM" : "an encoder without a classification head", info.architecture,
          info.is_decoder ? ": use --task perplexity" : "");
  else
    check(info.is_decoder, kTag, "--task perplexity needs a decoder LLM, and '{}' is an encoder ({}){}",
          o.model.string(), info.architecture, classifier ? ": use --task glue" : "");
  return task;
}

nlohmann::json read_report_json(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  check(in.good(), kTag, "cannot read '{}'", file.string());
  nlohmann::json doc = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  check(doc.is_object() && doc.value("format", "") == "octet-report" && doc.contains("sections") &&
            doc["sections"].is_array(),
        kTag, "'{}' is not an octet report (pass --force to replace it)", file.string());
  return doc;
}

std::string utc_now() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

// report.json and index.html replace the old pair together: both are written and synced (where a
// full disk fails) before either is renamed into place, so a failure leaves the old pair (or, for a
// new report, no folder: the one created here is removed again).
void write_report_files(const fs::path& dir, std::string_view json, std::string_view html) {
  const bool created = !fs::exists(dir);
  std::error_code error;
  fs::create_directories(dir, error);
  check(!error, kTag, "cannot create {}: {}", dir.string(), error.message());
  try {
    io::AtomicFileWriter json_file(dir / "report.json", std::string(kTag));
    io::AtomicFileWriter html_file(dir / "index.html", std::string(kTag));
    json_file.write(json);
    html_file.write(html);
    json_file.sync();
    html_file.sync();
    json_file.commit();
    html_file.commit();
  } catch (...) {
    std::error_code ignored;
    if (created) fs::remove(dir, ignored);  // empty again: the writers removed their temporaries
    throw;
  }
}

}  // namespace

namespace report {

void StageLog::stage(size_t index, std::string_view recipe, std::string_view what) const {
  if (enabled_) log_info("report: [{}/{}] {}: {}", index + 1, recipes_, recipe, what);
}

void StageLog::note(std::string_view what) const {
  if (enabled_) log_info("report: {}", what);
}

std::string shell_quote(std::string_view word) {
  const bool plain = !word.empty() && std::all_of(word.begin(), word.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("_./,:=+-%@").find(c) != std::string_view::npos;
  });
  if (plain) return std::string(word);
  std::string out = "'";
  for (char c : word) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string model_stem(const fs::path& model) {
  fs::path p = model;
  if (p.filename().empty()) p = p.parent_path();  // "models/x/"
  return p.stem().string();
}

std::string threads_flag() { return fmt::format(" --threads {}", num_threads()); }

double median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

uint64_t quantized_weight_bytes(const Model& model, const QuantizationConfig* config) {
  uint64_t bytes = 0;
  for (const auto& [name, tensor] : model.parameters()) bytes += uint64_t(tensor.numel()) * 4;
  if (!config) return bytes;
  for (const QuantizedLinear& q : config->linears) {
    bytes -= uint64_t(q.weight.numel()) * 4;  // the f32 weight the folder does not hold
    bytes += q.weight.nbytes() + q.weight_scale.nbytes();
    if (q.weight_zero_point.defined()) bytes += q.weight_zero_point.nbytes();
    if (q.input && !q.input->dynamic) bytes += q.input->spec.dtype == DType::I8 ? 8 : 4;  // scale (+ zero point)
  }
  for (const QuantizedSite& s : config->sites)
    if (!s.quant.dynamic) bytes += s.quant.spec.dtype == DType::I8 ? 8 : 4;
  for (const KvCacheConfig::Layer& l : config->kv_cache.layers) bytes += 4 * (l.k_scale.size() + l.v_scale.size());
  return bytes;
}

nlohmann::json section_header(const ReportOptions& o, const Model& model, ReportTask task) {
  nlohmann::json env = nlohmann::json::object();
  for (const auto& [key, value] : bench_environment()) env[key] = value;
  const BlasStatus blas = blas_status();
  env["kernel_variant"] = std::string(cpu_kernel_variant());
  env["blas"] = blas.config.empty() ? blas.library : blas.config;
  env["blas_threads"] = blas.threads;
  const ModelInfo& info = model.info();
  return {{"model", o.model.string()},
          {"name", model_stem(o.model)},
          {"kind", info.is_decoder ? "llm" : "encoder"},
          {"architecture", info.architecture},
          {"model_type", info.model_type},
          {"task", std::string(report_task_name(task))},
          {"octet_version", OCTET_VERSION},
          {"date", utc_now()},
          {"command", o.command_line},
          {"working_directory", fs::current_path().string()},
          {"environment", env}};
}

nlohmann::json failed_row(std::string_view recipe, std::string_view description, const std::exception& error) {
  log_warn("report: recipe {} failed: {}", recipe, error.what());
  return {{"recipe", recipe}, {"description", description}, {"error", error.what()},
          {"metrics", nlohmann::json::object()}, {"commands", nlohmann::json::array()}};
}

}  // namespace report

nlohmann::json measure_report(const ReportOptions& o) {
  check(!o.data.empty(), kTag, "give --data FILE (the evaluation data)");
  check_input_file(o.data, "--data");
  check(!o.model.empty(), kTag, "give MODEL (a Hugging Face folder or a .gguf file)");
  check(fs::exists(o.model), kTag, "'{}' does not exist", o.model.string());
  check(!is_quantized_model(o.model), kTag, "'{}' is already quantized; report on the original model",
        o.model.string());
  check_numbers(o);
  const auto start = std::chrono::steady_clock::now();
  std::unique_ptr<Model> model = load_model(o.model, kLoadFloatWeights);  // the f32 reference
  checked_task(o, *model);  // the task follows from the model kind once it fits
  const bool decoder = model->info().is_decoder;
  const std::vector<std::string> recipes = checked_recipes(o, decoder, *model);
  nlohmann::json section;
  if (decoder) {
    auto* lm = dynamic_cast<CausalLM*>(model.get());
    check(lm != nullptr, kTag, "'{}' is a decoder octet cannot generate with", o.model.string());
    model.release();
    section = report::measure_llm_report(o, std::unique_ptr<CausalLM>(lm), recipes);
  } else {
    section = report::measure_encoder_report(o, std::move(model), recipes);
  }
  section["wall_seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return section;
}

void check_report_destination(const fs::path& dir, ReportWriteMode mode) {
  check(!dir.empty(), kTag, "give -o DIR (the report folder)");
  if (!fs::exists(dir)) return;
  check(mode != ReportWriteMode::Create, kTag,
        "'{}' already exists (pass --force to replace its report, or --append to add this model to it)",
        dir.string());
  check(fs::is_directory(dir), kTag, "'{}' is not a folder", dir.string());
  if (mode == ReportWriteMode::Append && fs::exists(dir / "report.json")) read_report_json(dir / "report.json");
}

nlohmann::json write_report(const fs::path& dir, const nlohmann::json& section, ReportWriteMode mode) {
  check_report_destination(dir, mode);
  nlohmann::json doc = {{"format", "octet-report"}, {"format_version", 1}, {"sections", nlohmann::json::array()}};
  if (mode == ReportWriteMode::Append && fs::exists(dir / "report.json")) doc = read_report_json(dir / "report.json");
  doc["sections"].push_back(section);
  const std::string html = render_report_html(doc);  // before anything is written: a failure leaves DIR as it was
  write_report_files(dir, doc.dump(2) + "\n", html);
  return doc;
}

}  // namespace octet
