// Post-training quantization of a loaded fp32 model: calibration data, the
// recipe, the calibration passes, weight quantization, per-layer error and
// the automatic fp32 fallback of sensitive layers.
//
//   auto model = load_model("models/sst2-bert-mini");
//   auto tok = Tokenizer::load("models/sst2-bert-mini");
//   auto texts = read_calibration_texts("data/sst2/train.tsv", {.samples = 256});
//   auto batches = make_calibration_batches(*model, tok, texts.texts);
//   QuantizeOptions opt{.recipe = recipe_preset("int8")};
//   QuantizationConfig q = quantize_model(*model, batches, opt);
//   save_quantized_model(*model, q, "models/sst2-bert-mini", "out/sst2-int8");  // quantized_model.h
//
// Static recipes observe the input of every quantized Linear (and, when the
// recipe asks, attention q/k/v, residual adds and norm inputs) over the
// calibration batches. Histogram calibrators run two passes, as TensorRT
// does: pass 1 finds each site's max |x|, pass 2 fills a histogram over that
// fixed range (so bins never merge as batches arrive). Errors are
// octet::Error tagged "calibrate" (data, activations) or "quantize" (options).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "octet/model.h"
#include "octet/quantized_model.h"

namespace octet {

class Tokenizer;  // octet/tokenizer.h

// ---- calibration data ---------------------------------------------------------------------

enum class CalibrationSampling : uint8_t {
  First,   // the first N rows of the file
  Random,  // N rows drawn without replacement with a seeded generator (kept in file order)
};

struct CalibrationTextOptions {
  std::string column = "sentence";  // header name, or a 0-based index written as digits
  int64_t samples = 256;
  CalibrationSampling sampling = CalibrationSampling::Random;
  uint64_t seed = 0;
};

struct CalibrationTexts {
  std::filesystem::path source;
  std::vector<std::string> texts;
  int64_t rows = 0;  // non-empty rows the file has
  // Set when the file has fewer rows than asked: calibration proceeds on all
  // of them (the warning is also logged).
  std::optional<std::string> warning;
};

// Reads a TSV file with a header row. A missing file, a missing column, or a
// file without any non-empty text row is an Error("calibrate").
CalibrationTexts read_calibration_texts(const std::filesystem::path& tsv, const CalibrationTextOptions& options = {});

// Tokenizes `texts` (truncated to max_length, default the model's max
// positions) into batches without padding: sequences of equal length are
// grouped, at most `batch_size` per batch, so observers never see pad tokens.
std::vector<ModelInputs> make_calibration_batches(const Model& model, const Tokenizer& tokenizer,
                                                  const std::vector<std::string>& texts, int64_t batch_size = 32,
                                                  std::optional<int64_t> max_length = std::nullopt);

// ---- recipe ------------------------------------------------------------------------------

struct QuantRecipe {
  std::string name = "int8";  // int8 (static activations) | int8-dynamic (per token at run time)
  bool dynamic = false;
  std::string calibrator = "percentile";  // minmax | ema | percentile | entropy | mse (static only)
  double percentile = 99.99;
  double momentum = 0.9;                  // ema
  bool per_channel_weights = true;        // else one scale per weight tensor
  QuantScheme activation_scheme = QuantScheme::Symmetric;  // static activations: symmetric or affine
  // Glob patterns ('*' any run, '?' one character) over Linear names; matches stay fp32.
  std::vector<std::string> exclude;
  bool attention_sites = false;  // also quantize attention q, k, v and softmax probabilities (static only)
  bool residual_sites = false;   // also quantize the branch outputs added to the residual stream
  bool norm_sites = false;       // also quantize layer-norm inputs
  // Automatic fallback: while the quantized model (simulated) disagrees with
  // fp32 on more than this fraction of the calibration predictions (relative
  // output error for models without a classification head), keep the most
  // sensitive remaining Linear in fp32.
  std::optional<double> fallback_budget;
};

// "int8" (static, percentile 99.99, per-channel symmetric weights, symmetric
// per-tensor activations; the default from docs/accuracy.md) or
// "int8-dynamic". Anything else is an Error("quantize").
QuantRecipe recipe_preset(std::string_view name);
// The calibrator as the config records it: "percentile(99.99)", "ema(0.9)", "entropy"; "" when dynamic.
std::string calibrator_label(const QuantRecipe& recipe);

// ---- quantizing ------------------------------------------------------------------------------

struct QuantizeOptions {
  QuantRecipe recipe;
  bool progress = true;      // progress bars on stderr (drawn only on a terminal)
  bool sensitivity = false;  // measure each layer quantized alone (always when fallback_budget is set)
  std::string calibration_source;  // recorded in the config
};

// What quantize_model found, per Linear in model order.
struct LayerReport {
  std::string name;
  bool quantized = false;
  std::string reason;            // why it stayed fp32
  std::string weight_format;     // the weight spec when quantized ("int4:sym:group(128)")
  std::string note;              // what the algorithm chose for it ("smoothquant alpha 0.5", "awq alpha 0.35, clipped")
  float input_min = 0, input_max = 0;  // observed (static recipes)
  float input_scale = 0;
  int32_t input_zero_point = 0;
  double weight_error = 0;  // ||W^ - W|| / ||W||
  // ||y_q - y|| / ||y|| of this Linear's output on its own fp32 inputs over
  // the calibration batches (static recipes: activation and weight error together).
  double output_error = 0;
  // With sensitivity: the model's output error when only this Linear is
  // quantized (relative L2 over the calibration batches), and how many
  // classification predictions change.
  std::optional<double> model_error;
  std::optional<int64_t> prediction_changes;
};

struct QuantizeReport {
  std::vector<LayerReport> layers;
  double seconds = 0;  // wall time of quantize_model / quantize_llm
  std::vector<std::string> warnings;  // also logged: unmatched --exclude patterns, ...
  int64_t calibration_batches = 0;
  int64_t calibration_sequences = 0;
  // Simulated quantized model vs fp32 on the calibration batches (sensitivity / fallback only).
  std::optional<double> model_error;
  std::optional<double> disagreement;  // fraction of predictions changed (classification)
};

// Quantizes `model` (any installed quantization is cleared first; the model
// is left in fp32). Static recipes need calibration batches; NaN or Inf in an
// observed activation is an Error("calibrate") naming the site and batch.
QuantizationConfig quantize_model(Model& model, const std::vector<ModelInputs>& calibration,
                                  const QuantizeOptions& options, QuantizeReport* report = nullptr);

// How close a quantized model stays to fp32 on some inputs (label free).
struct OutputFidelity {
  double relative_error = 0;  // ||y_q - y|| / ||y|| over all outputs (logits, else last_hidden_state)
  double max_abs_error = 0;   // max |y_q - y|
  int64_t rows = 0;           // classification rows compared (0 for base models)
  int64_t changed = 0;        // of those, predictions (argmax) that differ from fp32
  double agreement() const { return rows ? 1.0 - double(changed) / double(rows) : 1.0; }
};
// Runs `batches` in fp32 and with `config` applied in `exec`; leaves the model in fp32.
OutputFidelity compare_to_fp32(Model& model, const QuantizationConfig& config, QuantExecution exec,
                               const std::vector<ModelInputs>& batches);

// Whether `name` matches a glob pattern ('*' and '?').
bool glob_match(std::string_view pattern, std::string_view name);

}  // namespace octet
