// Shared by the report's measuring files (report.cc, report_encoder.cc,
// report_llm.cc): the two measuring flows, weight bytes, progress lines and
// the small text helpers the recorded commands need.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "octet/model.h"
#include "octet/quantized_model.h"
#include "octet/report.h"

namespace octet {
class CausalLM;
}

namespace octet::report {

inline constexpr std::string_view kTag = "report";

// Bytes of the tensors `octet quantize` would write to model.safetensors
// (its JSON header excluded): every parameter as f32, except the quantized
// Linears' weights, which are their codes (int8 / fp8: 1 byte, int4: half)
// plus scales and zero points; static input scales and KV-cache scales too.
// `config` null: the fp32 model.
uint64_t quantized_weight_bytes(const Model& model, const QuantizationConfig* config);

// Progress lines on stderr ("report: [3/10] w4a16-awq: perplexity"), through
// the logger so they never tear a progress bar.
class StageLog {
 public:
  StageLog(bool enabled, size_t recipes) : enabled_(enabled), recipes_(recipes) {}
  void stage(size_t index, std::string_view recipe, std::string_view what) const;
  void note(std::string_view what) const;

 private:
  bool enabled_;
  size_t recipes_;
};

// `word` as a POSIX shell reads it back (single quotes when needed).
std::string shell_quote(std::string_view word);
// The stem recorded commands use for a model's outputs: "kjv-llama", "stories260K".
std::string model_stem(const std::filesystem::path& model);
// " --threads N" for recorded commands.
std::string threads_flag();
double median(std::vector<double> values);

// The section keys both flows share (model, task, environment, date, command).
nlohmann::json section_header(const ReportOptions& options, const Model& model, ReportTask task);

// One recipe's failure: recorded in its row and logged; the report goes on.
nlohmann::json failed_row(std::string_view recipe, std::string_view description, const std::exception& error);

// The two flows; `recipes` are checked names with fp32 first, `model` the
// loaded fp32 model (the reference every other recipe is compared against).
nlohmann::json measure_encoder_report(const ReportOptions& options, std::unique_ptr<Model> model,
                                      const std::vector<std::string>& recipes);
nlohmann::json measure_llm_report(const ReportOptions& options, std::unique_ptr<CausalLM> model,
                                  const std::vector<std::string>& recipes);

// Whether an encoder / LLM recipe name calibrates on data (so needs --calib).
bool encoder_recipe_needs_calibration(std::string_view name);
bool llm_recipe_needs_calibration(std::string_view name);

}  // namespace octet::report
