// The options of `octet quantize`, shared by its encoder flow (cmd_quantize.cc)
// and its decoder-LLM flow (quantize_llm.cc).
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "octet/llm_quantize.h"

namespace octet::cli {

struct QuantizeCommandOptions {
  std::string model;
  std::string output;
  std::string recipe;  // empty: int8 for encoders, w8a8-sq for decoders
  bool list_recipes = false;
  std::string calib;
  std::optional<int64_t> samples;  // encoders 256 sentences, LLMs 128 windows
  uint64_t seed = 0;
  std::vector<std::string> exclude;
  bool per_channel = false;
  bool force = false;
  bool json = false;

  // Encoders (TSV calibration).
  std::string text_column = "sentence";
  std::string sampling = "random";
  std::string calibrator = "percentile";
  double percentile = 99.99;
  double momentum = 0.9;
  bool per_tensor = false;
  bool affine = false;
  bool symmetric = false;
  bool attention = false, residual = false, norm = false;
  std::optional<double> fallback_budget;  // percent
  bool sensitivity = false;
  int64_t batch_size = 32;
  std::string compare;
  int64_t compare_samples = 1000;

  // Decoder LLMs (plain-text calibration).
  int64_t seq_len = 512;
  std::optional<int64_t> group;
  bool asym = false;
  bool act_order = false;
  bool group_fallback = false;
  bool quantize_lm_head = false;
  std::string alpha;      // "0.5" or "auto"
  std::string act_scale;  // dynamic | static
  std::string act;        // fp8 | int8 (w4a8-awq)
  std::string kv_cache;   // int8 | fp8
  std::string kv_scale = "static";
  std::optional<double> damp;
  std::optional<int64_t> gptq_block;
  std::optional<int64_t> awq_grid;
  bool no_awq_clip = false;

  // Accuracy budget (both kinds).
  std::string budget;     // "0.5pt" (encoders) or "1%" (LLMs); empty: no budget search
  std::string eval_data;  // the validation split the loss is measured on
  std::optional<int64_t> eval_limit;  // examples (encoders) or tokens (LLMs) of it
  int64_t eval_ctx = 256;             // LLMs: perplexity window
  std::vector<std::string> ladder;    // LLMs: recipes cheapest first, ending in fp32

  std::set<std::string> given;  // the option names the user passed ("--group", ...)
};

// Options only one of the two flows takes (a user passing one to the other gets an error).
const std::set<std::string>& encoder_only_options();
const std::set<std::string>& llm_only_options();

// The decoder-LLM flow: calibration text, quantize_llm, the folder, the report.
void quantize_llm_command(const QuantizeCommandOptions& options, Model& model);

// --budget: the accuracy-budget search (quantize_budget.cc). The check runs
// before any file is read: the budget, its unit, and --eval-data present and non-empty.
void check_budget_options(const QuantizeCommandOptions& options, bool llm);
void quantize_encoder_budget_command(const QuantizeCommandOptions& options, Model& model);
void quantize_llm_budget_command(const QuantizeCommandOptions& options, const LlmRecipe& base,
                                 const std::vector<std::vector<int64_t>>& windows);

}  // namespace octet::cli
