// `octet report`: quantize one model with several recipes, measure each
// (accuracy or perplexity, latency or tokens/s, weight bytes, per-layer
// error) and write a self-contained HTML page with the same numbers as JSON.
//
//   ReportOptions o;
//   o.model = "models/kjv-llama";
//   o.task = ReportTask::Perplexity;
//   o.data = "kjv.valid.txt";
//   o.calib = "kjv.train.txt";
//   nlohmann::json section = measure_report(o);                     // minutes; progress on stderr
//   write_report("octet-report", section, ReportWriteMode::Append);  // report.json + index.html
//
// Each recipe runs on a freshly loaded model (LLM recipes fold factors into
// the f32 weights), installed with QuantExecution::Native (formats without a
// native kernel run simulated, as users get them). fp32 is always measured,
// first: every comparison column is against it. report.json holds
// {"format": "octet-report", "format_version": 1, "sections": [...]}, one
// section per model in the order added; index.html is rendered from exactly
// that document (docs/report.md lists the keys). Errors are octet::Error
// tagged "report".
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace octet {

enum class ReportTask : uint8_t {
  Glue,        // sentence classification (encoders with a classification head), TSV data
  Perplexity,  // decoder LLMs, plain-text data
};
std::string_view report_task_name(ReportTask task);  // "glue" | "perplexity"
ReportTask parse_report_task(std::string_view name);   // Error("report") otherwise

struct ReportOptions {
  std::filesystem::path model;  // a Hugging Face folder or a .gguf file (not an octet quantize folder)
  std::optional<ReportTask> task;  // unset: glue for classifiers, perplexity for decoders
  std::filesystem::path data;   // evaluation data (TSV for glue, text for perplexity)
  std::filesystem::path calib;  // calibration data; empty: only recipes that need none
  std::vector<std::string> recipes;  // empty: default_report_recipes(); fp32 is added first when absent
  int64_t iters = 0;  // 0: 20 timed latency passes (encoders), 3 generations (LLMs)
  bool progress = true;  // progress lines and bars on stderr
  std::string command_line;  // the command that made the report, recorded as given

  // glue
  int64_t limit = 0;           // first N examples of data (0: all)
  int64_t calib_samples = 256;  // calibration sentences (random rows, seed 0: what octet quantize uses)
  int64_t batch = 8, seq = 128;  // latency input shape (random token ids)
  int64_t warmup = 3;            // untimed latency passes per recipe

  // perplexity
  int64_t limit_tokens = 0;  // score the first N tokens of data (0: all)
  int64_t ctx = 256;         // perplexity window
  int64_t samples = 128, seq_len = 512;  // calibration windows (seed 0)
  int64_t prompt_tokens = 128;  // generation prompt: the first tokens of data
  int64_t new_tokens = 64;      // greedy tokens generated per run (EOS ignored)
};

// The recipe names octet report takes for a model kind, and its defaults.
// Encoders: fp32, int8 (static, percentile 99.99), int8-dynamic, and
// int8-minmax / -ema / -percentile / -entropy / -mse (int8 with that
// calibrator; int8-percentile equals int8, so the defaults leave it out).
// LLMs: fp32, every LLM recipe (octet quantize --list-recipes), kv-int8 and
// kv-fp8 (fp32 weights, KV cache quantized with static scales).
const std::vector<std::string>& report_recipe_names(bool decoder);
const std::vector<std::string>& default_report_recipes(bool decoder);

// Measures every recipe and returns one section of report.json. Checks come
// first, before any slow work: the data file (missing or empty), the model,
// the task against the model kind, the recipe names (unknown, or for the
// other kind), calibration for the recipes that need it, the numbers.
nlohmann::json measure_report(const ReportOptions& options);

enum class ReportWriteMode : uint8_t {
  Create,   // the folder must not exist
  Replace,  // --force: write over the report files of an existing folder
  Append,   // add the section after those of DIR/report.json (a new report when there is none)
};

// Whether writing to `dir` in `mode` will be allowed; Error("report") saying
// how to proceed otherwise. Call it before measuring.
void check_report_destination(const std::filesystem::path& dir, ReportWriteMode mode);

// Writes dir/report.json and dir/index.html (each to a temporary name, then
// renamed) and returns the whole report document.
nlohmann::json write_report(const std::filesystem::path& dir, const nlohmann::json& section, ReportWriteMode mode);

// The HTML page of a report document: one file, inline CSS and SVG, a few
// lines of plain JavaScript for sorting the tables.
std::string render_report_html(const nlohmann::json& report);

}  // namespace octet
