// Post-training quantization of decoder LLMs: the recipes of TensorRT-LLM /
// Model Optimizer as data, calibration windows cut from plain text, and one
// generic pass that applies any recipe to any decoder octet runs.
//
//   auto model = load_model("kjv-llama");
//   Tokenizer tok = load_model_tokenizer("kjv-llama");
//   LlmRecipe recipe = llm_recipe("w4a16-awq");      // then adjust: recipe.weight.group_size = 64, ...
//   CalibrationWindows w = make_calibration_windows(tok.encode(text).ids, model->info().max_positions, {});
//   QuantizationConfig q = quantize_llm(*model, w.windows, {.recipe = recipe});
//   save_quantized_model(*model, q, "kjv-llama", "out/kjv-w4a16-awq");   // quantized_model.h
//
// A recipe names the weight format, the activation format, the algorithm that
// chooses the weights (round to nearest, SmoothQuant, AWQ, GPTQ) and the KV
// cache format. quantize_llm() leaves the model in fp32 but transformed:
// SmoothQuant and AWQ fold their per-channel factors into the preceding norm
// or Linear (function-preserving), so the saved folder needs nothing at run
// time beyond the quantized weights. Errors are octet::Error tagged "quantize"
// (recipe, options, model) or "calibrate" (data).
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "octet/model.h"
#include "octet/quantize_model.h"
#include "octet/quantized_model.h"

namespace octet {

// How a recipe chooses its quantized weights.
enum class WeightAlgorithm : uint8_t {
  RoundToNearest,
  SmoothQuant,  // per-channel smoothing s = max|X|^alpha / max|W|^(1 - alpha) folded into the producer, then RTN
  Awq,          // activation-aware scale search + clipping search (Lin et al. 2023), then RTN
  Gptq,         // Hessian-based error feedback, layer by layer (Frantar et al. 2022)
};
std::string_view weight_algorithm_name(WeightAlgorithm a);  // "rtn" | "smoothquant" | "awq" | "gptq"

// How the input of a quantized Linear is quantized at run time.
enum class ActivationFormat : uint8_t {
  Float,         // weight-only: activations stay f32
  Int8PerToken,  // int8 symmetric, one scale per token computed at run time
  Int8Static,    // int8 symmetric, one calibrated scale per tensor (amax / 127)
  Fp8Static,     // fp8 e4m3, one calibrated scale per tensor (amax / 448)
};
std::string_view activation_format_name(ActivationFormat f);

struct LlmRecipe {
  std::string name;     // as `octet quantize --recipe` takes it
  std::string summary;  // one line for --list-recipes
  bool quantize_weights = true;  // false for "fp32": only the KV cache (if any) is quantized
  // int8:sym:per_channel(0), int4:sym:group(G), uint4:affine:group(G) (--asym), fp8_e4m3:sym:per_tensor / per_channel(0)
  QuantSpec weight{};
  ActivationFormat activations = ActivationFormat::Float;
  WeightAlgorithm algorithm = WeightAlgorithm::RoundToNearest;

  double alpha = 0.5;       // SmoothQuant migration strength
  bool alpha_search = false;  // SmoothQuant: per group, the alpha in 0.3..0.9 with the least calibration error
  int awq_grid = 20;        // AWQ: alpha = i / grid, i < grid
  bool awq_clip = true;     // AWQ: the clipping search after the scales
  int64_t awq_rows = 4096;  // AWQ: input rows per group the searches see (evenly spaced over the calibration data)
  double gptq_damp = 0.01;  // GPTQ: damp * mean(diag H) added to the diagonal
  int64_t gptq_block = 128; // GPTQ: lazy-batch block of columns
  bool act_order = false;   // GPTQ: columns in descending diag(H) order (static groups)

  DType kv_cache = DType::F32;  // I8 or F8_E4M3: keys and values stored quantized
  bool kv_dynamic = false;      // per (token, kv head) scales at run time instead of static per kv head
  bool quantize_lm_head = false;  // lm_head stays f32 unless set (embeddings always stay f32)
  std::vector<std::string> exclude;  // glob patterns over Linear names that stay f32
  // A group size that does not divide a Linear's input features: false = an
  // error naming the Linear; true = the largest even group dividing it (listed in the report).
  bool group_fallback = false;

  bool needs_calibration() const;  // whether the recipe cannot run without calibration data
};

// Every LLM recipe with its defaults, in the order --list-recipes prints them:
// w8a16, w4a16-rtn, w4a16-awq, w4a16-gptq, w8a8, w8a8-sq, fp8, w4a8-awq, fp32.
const std::vector<LlmRecipe>& llm_recipes();
bool is_llm_recipe(std::string_view name);
// The recipe `name`; Error("quantize") listing the names otherwise.
LlmRecipe llm_recipe(std::string_view name);
// Checks a (possibly adjusted) recipe: formats that go together, values in range.
void validate_llm_recipe(const LlmRecipe& recipe);

// ---- calibration windows ------------------------------------------------------------

struct CalibrationWindowOptions {
  int64_t samples = 128;  // windows
  int64_t seq_len = 512;  // tokens per window
  uint64_t seed = 0;      // which windows (std::mt19937_64)
};

struct CalibrationWindows {
  std::vector<std::vector<int64_t>> windows;  // in text order
  int64_t text_tokens = 0;
  int64_t seq_len = 0;                 // after clamping to the model's context
  std::vector<std::string> warnings;   // clamping notes (also logged)
};

// Cuts `tokens` (the calibration text tokenized as one stream) into
// non-overlapping windows of seq_len tokens and picks `samples` of them with
// the seed. seq_len is clamped to `context` (the model's positions, when > 0)
// and samples to the windows the text holds; both clampings are warnings. A
// text shorter than one window is an Error("calibrate") saying how many
// tokens it needs.
CalibrationWindows make_calibration_windows(std::span<const int64_t> tokens, int64_t context,
                                            const CalibrationWindowOptions& options);

// ---- quantizing --------------------------------------------------------------------------

struct LlmQuantizeOptions {
  LlmRecipe recipe;
  // Per group of Linears reading one activation (nn::LinearInputGroup::name),
  // a recipe replacing `recipe` for that group's weights, activations and
  // algorithm: precisions mixed per group (the accuracy-budget search). The
  // KV cache, --exclude and the lm_head rule stay `recipe`'s. Each group's
  // factors (SmoothQuant, AWQ) fold independently of the others'.
  std::map<std::string, LlmRecipe> group_recipes;
  bool progress = true;            // progress bars on stderr (drawn only on a terminal)
  std::string calibration_source;  // recorded in the config
  int64_t batch_windows = 4;       // windows per forward pass
  int64_t report_windows = 8;      // windows the per-Linear output errors are measured on
};

// Quantizes a decoder with `recipe` on the calibration windows (may be empty
// when !recipe.needs_calibration(); the report then has no output errors).
// Any installed quantization is cleared first. On return the model is f32,
// transformed by the recipe's folding (function-preserving) and ready for
// save_quantized_model. Errors: the model is not a decoder, the recipe does
// not apply, a group size that does not divide a Linear (without
// group_fallback), NaN / Inf activations.
QuantizationConfig quantize_llm(Model& model, const std::vector<std::vector<int64_t>>& windows,
                                const LlmQuantizeOptions& options, QuantizeReport* report = nullptr);

}  // namespace octet
