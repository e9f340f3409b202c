// The LLM recipe table (data, one row per recipe) and its checks.
#include <algorithm>
#include <cmath>

#include "core/error_tags.h"
#include "octet/error.h"
#include "octet/llm_quantize.h"

namespace octet {
namespace {

QuantSpec spec(std::string_view text) { return parse_quant_spec(text); }

LlmRecipe row(std::string name, std::string summary, std::string_view weight, ActivationFormat act,
              WeightAlgorithm algorithm) {
  LlmRecipe r;
  r.name = std::move(name);
  r.summary = std::move(summary);
  r.weight = spec(weight);
  r.activations = act;
  r.algorithm = algorithm;
  return r;
}

std::vector<LlmRecipe> make_table() {
  using A = ActivationFormat;
  using W = WeightAlgorithm;
  std::vector<LlmRecipe> t;
  t.push_back(row("w8a16", "INT8 weights per output channel (symmetric, round to nearest); activations stay float",
                  "int8:sym:per_channel(0)", A::Float, W::RoundToNearest));
  t.push_back(row("w4a16-rtn", "INT4 weights per group of 128 along K (round to nearest); activations stay float",
                  "int4:sym:group(128)", A::Float, W::RoundToNearest));
  t.push_back(row("w4a16-awq",
                  "INT4 group-128 weights chosen by AWQ (activation-aware scale search + clipping, folded into the "
                  "preceding norm / Linear)",
                  "int4:sym:group(128)", A::Float, W::Awq));
  t.push_back(row("w4a16-gptq",
                  "INT4 group-128 weights chosen by GPTQ (Hessian error feedback, layer by layer on the partly "
                  "quantized model's inputs)",
                  "int4:sym:group(128)", A::Float, W::Gptq));
  t.push_back(row("w8a8", "INT8 weights per channel, INT8 activations per token (dynamic): the naive baseline",
                  "int8:sym:per_channel(0)", A::Int8PerToken, W::RoundToNearest));
  t.push_back(row("w8a8-sq",
                  "SmoothQuant: activation outliers migrated into the weights (alpha 0.5), INT8 weights per channel, "
                  "INT8 activations per token",
                  "int8:sym:per_channel(0)", A::Int8PerToken, W::SmoothQuant));
  t.push_back(row("fp8", "FP8 e4m3 weights (per tensor) and activations (static per-tensor scale amax / 448)",
                  "fp8_e4m3:sym:per_tensor", A::Fp8Static, W::RoundToNearest));
  t.push_back(row("w4a8-awq", "INT4 group-128 AWQ weights with FP8 e4m3 activations (TensorRT-LLM's W4A8 AWQ)",
                  "int4:sym:group(128)", A::Fp8Static, W::Awq));
  LlmRecipe fp32 = row("fp32", "weights and activations stay f32; with --kv-cache only the KV cache is quantized",
                       "int8:sym:per_channel(0)", A::Float, W::RoundToNearest);
  fp32.quantize_weights = false;
  t.push_back(std::move(fp32));
  return t;
}

bool integer_weights(const QuantSpec& s) { return s.dtype == DType::I8 || s.dtype == DType::I4 || s.dtype == DType::U4; }

}  // namespace

std::string_view weight_algorithm_name(WeightAlgorithm a) {
  switch (a) {
    case WeightAlgorithm::RoundToNearest: return "rtn";
    case WeightAlgorithm::SmoothQuant: return "smoothquant";
    case WeightAlgorithm::Awq: return "awq";
    case WeightAlgorithm::Gptq: return "gptq";
  }
  return "?";
}

std::string_view activation_format_name(ActivationFormat f) {
  switch (f) {
    case ActivationFormat::Float: return "f32";
    case ActivationFormat::Int8PerToken: return "int8 per token (dynamic)";
    case ActivationFormat::Int8Static: return "int8 per tensor (static)";
    case ActivationFormat::Fp8Static: return "fp8_e4m3 per tensor (static)";
  }
  return "?";
}

bool LlmRecipe::needs_calibration() const {
  const bool static_activations = quantize_weights && (activations == ActivationFormat::Int8Static ||
                                                       activations == ActivationFormat::Fp8Static);
  const bool data_algorithm = quantize_weights && algorithm != WeightAlgorithm::RoundToNearest;
  const bool static_kv = kv_cache != DType::F32 && !kv_dynamic;
  return static_activations || data_algorithm || static_kv;
}

const std::vector<LlmRecipe>& llm_recipes() {
  static const std::vector<LlmRecipe> table = make_table();
  return table;
}

bool is_llm_recipe(std::string_view name) {
  const auto& t = llm_recipes();
  return std::any_of(t.begin(), t.end(), [&](const LlmRecipe& r) { return r.name == name; });
}

LlmRecipe llm_recipe(std::string_view name) {
  std::vector<std::string> names;
  for (const LlmRecipe& r : llm_recipes()) {
    if (r.name == name) return r;
    names.push_back(r.name);
  }
  fail(kQuantizeTag, "unknown LLM recipe '{}' ({})", name, fmt::join(names, ", "));
}

void validate_llm_recipe(const LlmRecipe& r) {
  const QuantSpec& w = r.weight;
  const bool group = w.granularity == Granularity::PerGroup;
  if (r.quantize_weights) {
    const bool int8_rows = w.dtype == DType::I8 && w.scheme == QuantScheme::Symmetric && !group &&
                           w.granularity != Granularity::PerToken;
    const bool int4 = (w.dtype == DType::I4 && w.scheme == QuantScheme::Symmetric) ||
                      (w.dtype == DType::U4 && w.scheme == QuantScheme::Affine);
    const bool fp8 = w.dtype == DType::F8_E4M3 &&
                     (w.granularity == Granularity::PerTensor || w.granularity == Granularity::PerChannel);
    check(int8_rows || (int4 && group) || (w.dtype == DType::I8 && group) || fp8, kQuantizeTag,
          "recipe '{}': weights {} are not a supported format (int8 per channel / tensor / group, int4 or uint4 "
          "affine per group, fp8_e4m3 per tensor / channel)",
          r.name, to_string(w));
    check(!group || (w.group_size >= 2 && w.group_size % 2 == 0), kQuantizeTag,
          "recipe '{}': the group size must be an even number >= 2, got {}", r.name, w.group_size);
    check(w.granularity != Granularity::PerChannel || w.axis == 0, kQuantizeTag,
          "recipe '{}': per-channel weights are per output row, channel(0)", r.name);
    check(r.algorithm == WeightAlgorithm::RoundToNearest || integer_weights(w), kQuantizeTag,
          "recipe '{}': {} needs integer weights, got {}", r.name, weight_algorithm_name(r.algorithm), to_string(w));
  }
  check(r.alpha >= 0 && r.alpha <= 1, kQuantizeTag, "--alpha must be in [0, 1] (or auto), got {}", r.alpha);
  check(r.awq_grid >= 2 && r.awq_grid <= 1000, kQuantizeTag, "the AWQ grid must have 2..1000 points, got {}",
        r.awq_grid);
  check(r.awq_rows >= 16, kQuantizeTag, "AWQ needs at least 16 input rows per group, got {}", r.awq_rows);
  check(std::isfinite(r.gptq_damp) && r.gptq_damp > 0 && r.gptq_damp < 1, kQuantizeTag,
        "the GPTQ damping must be in (0, 1), got {}", r.gptq_damp);
  check(r.gptq_block >= 1, kQuantizeTag, "the GPTQ block must be >= 1 column, got {}", r.gptq_block);
  check(r.kv_cache == DType::F32 || r.kv_cache == DType::I8 || r.kv_cache == DType::F8_E4M3, kQuantizeTag,
        "the KV cache is int8 or fp8_e4m3, got {}", dtype_name(r.kv_cache));
  check(!r.kv_dynamic || r.kv_cache != DType::F32, kQuantizeTag, "--kv-scale dynamic needs --kv-cache int8 or fp8");
}

}  // namespace octet
