// A quantized model: what each Linear (and optional extra site) runs with,
// how it executes (simulated or native), and the folder it is saved in.
//
//   QuantizationConfig q = quantize_model(*model, batches, options);  // quantize_model.h
//   apply_quantization(*model, q, QuantExecution::Native);             // int8 kernels
//   save_quantized_model(*model, q, "models/sst2-bert-mini", "out/sst2-int8");
//   auto reloaded = load_model("out/sst2-int8");                        // native by default
//
// Execution. For int8 weights with int8 activations both paths quantize
// activations with the same function (octet::quantize_int8_per_tensor /
// _per_token of gemm_int8.h, then the symmetric grid's clamp to [-127, 127]),
// so they see identical int8 codes for identical inputs; weights are the
// stored int8 codes in both:
//   simulated: x^ = (q - zp) * s_x,  W^ = q_w * s_w (f32),  y = x^ W^T + b  (fp32 GEMM)
//   native:    y = float(sum_k (q - zp) q_w) * s_x * s_w + b               (exact int32 GEMM)
// They differ only by the fp32 rounding of the simulated GEMM (see
// tests/quant_model/native_vs_simulated_test.cc for the bound). Weight-only
// int8 / int4 / uint4 Linears (has_native_weight_only_kernel) run natively
// with packed resident weights and int8 per-block-32 activations (a bounded
// difference from simulated, which keeps activations f32). Every other
// format (fp8, int4 with fp8 activations, GPTQ act-order group_index) has no
// CPU kernel yet: both executions run it simulated (dequantized f32 weights,
// fake-quantized activations), and describe() says so. An attention block whose query, key,
// value and probabilities sites are all static int8 (symmetric keys and values) runs natively
// as int8 Q K^T and P V (kernels/attention_int8.h; it differs from the sites' fake quantization
// by f32 rounding, and by one probability code where that rounding crosses a code boundary);
// other extra sites (residual adds, norm inputs) are fake-quantized in both executions. A quantized KV
// cache (KvCacheConfig) really stores int8 / fp8 codes in both.
//
// Folder layout (docs/quantized_format.md): config.json and the tokenizer
// files copied from the source model (or written from a GGUF file),
// model.safetensors (the weight codes: int8, packed int4 as u8 [out, in / 2],
// fp8 e4m3; f32 scales, i32 zero points, every other parameter f32) and
// quantization_config.json (recipe and its options, calibrator, specs,
// per-layer entries, excluded layers, KV cache, octet version). Never an f32
// copy of a quantized weight. Errors are octet::Error tagged "quantized".
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "octet/model.h"
#include "octet/nn_sites.h"
#include "octet/quant.h"

namespace octet {

enum class QuantExecution : uint8_t {
  Simulated,  // fp32 math with QDQ applied (the reference)
  Native,     // int8 GEMM with weights packed at load where a kernel exists (else as simulated)
};
std::string_view execution_name(QuantExecution exec);  // "simulated" | "native"
QuantExecution parse_execution(std::string_view name);  // throws Error("quantized") otherwise

// int8:sym:per_channel(0): one scale per output row of a [out, in] weight.
inline constexpr QuantSpec kInt8PerChannelWeights{DType::I8, QuantScheme::Symmetric, Granularity::PerChannel, 0};

// How one activation tensor is quantized.
struct ActivationQuant {
  bool dynamic = false;  // per token (rows of the last dim), symmetric int8, scales computed at run time
  // static: int8 per tensor (symmetric or affine), or fp8_e4m3 per tensor
  // (symmetric: code = e4m3(x / scale), x^ = e4m3_to_float(code) * scale)
  QuantSpec spec{};
  float scale = 1.0f;      // static only
  int32_t zero_point = 0;  // static only; 0 when symmetric
};

// Codes of `x` (f32, any shape, last dim = row) as the int8 kernels quantize
// them, and the per-row scales when dynamic (one per row, else empty). int8 only.
struct QuantizedActivation {
  Tensor codes;  // i8, x's shape
  std::vector<float> row_scales;
};
QuantizedActivation quantize_activation(const Tensor& x, const ActivationQuant& q);
// dequantize(quantize(x)): what the simulated path (and every extra site) sees; int8 or fp8.
Tensor fake_quantize_activation(const Tensor& x, const ActivationQuant& q);

// One quantized Linear. Weight formats (weight_spec):
//   int8:sym:per_channel(0) / int8:sym:per_tensor   weight i8 [out, in], weight_scale f32 [out]
//   int4:sym:group(G)          weight i4 [out, in] (packed), weight_scale f32 [out, in / G]
//   uint4:affine:group(G)      as int4, plus weight_zero_point i32 [out, in / G] in [0, 15]
//   int8:sym:group(G)          weight i8 [out, in], weight_scale f32 [out, in / G]
//   fp8_e4m3:sym:per_tensor / per_channel(0)   weight f8_e4m3 [out, in], weight_scale f32 [out]
// Per-tensor scales are stored as the one scale repeated per output channel.
// Group specs may carry a group_index (GPTQ's g_idx with act-order): input
// column k then uses group group_index[k] instead of k / G.
struct QuantizedLinear {
  std::string name;  // Linear::name()
  QuantSpec weight_spec = kInt8PerChannelWeights;
  Tensor weight;             // codes
  Tensor weight_scale;       // f32 [out] or [out, in / G]
  Tensor weight_zero_point;  // i32 [out, in / G] for affine group specs, else undefined
  Tensor group_index;        // i32 [in], each in [0, in / G): column k's group; undefined: k / G
  // How the input is quantized at run time; nullopt: weight-only (the
  // activations stay f32, the weights are dequantized).
  std::optional<ActivationQuant> input = ActivationQuant{};
};

// An activation site besides the Linear inputs, fake-quantized in both executions.
struct QuantizedSite {
  std::string name;  // ActivationSite::name()
  nn::SiteKind kind = nn::SiteKind::LinearInput;
  ActivationQuant quant;
};

struct ExcludedLayer {
  std::string name;
  std::string reason;  // "--exclude pattern '*.classifier'", "sensitivity fallback: ...", "no observer"
};

// Keys and values stored quantized in every attention layer's KV cache.
struct KvCacheConfig {
  DType dtype = DType::F32;  // F32 (off), I8 or F8_E4M3
  bool dynamic = false;      // per (token, kv head) scales at run time; else static per kv head
  struct Layer {
    std::string name;                     // the attention module path ("model.layers.0.self_attn")
    std::vector<float> k_scale, v_scale;  // static: one per kv head
  };
  std::vector<Layer> layers;  // static only
  bool enabled() const { return dtype != DType::F32; }
};

struct QuantizationConfig {
  // 3 when a Linear has a group_index (older readers must refuse it), else 2.
  static constexpr int kFormatVersion = 3;
  std::string octet_version = OCTET_VERSION;
  std::string recipe = "int8";  // a recipe name (octet quantize --list-recipes)
  std::string calibrator;       // "percentile(99.99)", ...; empty when nothing was calibrated by it
  std::string calibration_source;  // file the calibration texts came from (empty: given batches)
  int64_t calibration_samples = 0;
  QuantSpec weight_spec = kInt8PerChannelWeights;
  // int8:sym:per_tensor, int8:sym:per_token (dynamic), fp8_e4m3:sym:per_tensor; nullopt: weight-only
  std::optional<QuantSpec> activation_spec = QuantSpec{};
  // The recipe's settings as written in quantization_config.json ("alpha": "0.5", "group": "128", ...).
  std::vector<std::pair<std::string, std::string>> recipe_options;
  std::vector<QuantizedLinear> linears;
  std::vector<QuantizedSite> sites;
  std::vector<ExcludedLayer> excluded;
  KvCacheConfig kv_cache;
};

// Checks that `q` is one of the formats above with consistent tensors
// (dtypes, shapes, group size dividing K); Error("quantized") naming the Linear.
void validate_quantized_linear(const QuantizedLinear& q);

// W^ = (q_w - zp) * s_w (f32 [out, in]): the weight the simulated path
// multiplies and the loader gives the model's Linear.
Tensor dequantized_weight(const QuantizedLinear& q);

// Whether QuantExecution::Native runs `q` with the weight-only kernel, whose
// packed codes are the only copy of the weight (docs/llm_native_cpu.md):
// weight-only (no input quantization) int8:sym:per_channel(0) / per_tensor /
// group(G), int4:sym:group(G), uint4:affine:group(G), with G a multiple of 32,
// K a multiple of 32 and no group_index. Activations are quantized at run time
// to int8 per block of 32 (W4A8 / W8A8 integer dots, any number of rows).
bool has_native_weight_only_kernel(const QuantizedLinear& q);

// Whether QuantExecution::Native runs `q` with a kernel that keeps only the
// packed codes (the weight-only kernel above, or the int8 W8A8 GEMM of
// int8 / int8-dynamic / w8a8 / w8a8-sq Linears): such Linears load with no f32
// weight (nn::Linear::kernel_resident) unless LoadOptions::float_weights.
bool has_resident_native_kernel(const QuantizedLinear& q);

// The kernel a quantized Linear runs. `bias` is the Linear's (f32 [out] or undefined).
std::shared_ptr<const nn::LinearKernel> make_quantized_linear_kernel(const QuantizedLinear& q, const Tensor& bias,
                                                                      QuantExecution exec);

// Installs the kernels and site transforms of `config` on `model` (replacing
// any installed before). Every Linear and site the config names must exist
// with matching shapes, else Error("quantized") and the model is left as it was.
void apply_quantization(Model& model, const QuantizationConfig& config, QuantExecution exec);
// Back to fp32: removes every kernel and site transform.
void clear_quantization(Model& model);

// ---- the quantized folder ---------------------------------------------------------------

inline constexpr std::string_view kQuantizationConfigFile = "quantization_config.json";

// Writes the folder: `model` supplies every parameter (its Linears must be
// the fp32 ones `config` was made from), `source` the config.json and
// tokenizer files to copy (a Hugging Face folder), or the .gguf file whose
// metadata gives config.json and tokenizer.gguf. Everything goes to a temporary sibling folder that
// is renamed to `out` at the end; an existing `out` is an error unless
// `overwrite` (then it is replaced only after the new folder is complete).
void save_quantized_model(const Model& model, const QuantizationConfig& config, const std::filesystem::path& source,
                          const std::filesystem::path& out, bool overwrite = false);

// Whether `path` is a folder holding quantization_config.json.
bool is_quantized_model(const std::filesystem::path& path);

// Reads quantization_config.json and the tensors it names from the folder's
// model.safetensors, checking that they agree (every scale present, dtypes
// and shapes as the config says). Errors name the file and the tensor.
QuantizationConfig read_quantization_config(const std::filesystem::path& folder);

// Builds the model (quantized Linears get the dequantized weights q_w * s_w
// as their f32 weight) and applies the quantization. load_model() calls this
// with QuantExecution::Native for a quantized folder.
std::unique_ptr<Model> load_quantized_model(const std::filesystem::path& folder, QuantExecution exec,
                                            const LoadOptions& options = {});
// A GGUF file's model with its Q4_0 / Q8_0 / Q4_K / Q6_K Linears on the
// native weight-only kernels (the blocks' codes and scales as stored; no f32
// copy of those weights); other types (F32, F16) are dequantized to f32.
// LoadOptions::float_weights: every weight dequantized. load_model() of a
// .gguf calls this.
std::unique_ptr<Model> load_gguf_model_native(const std::filesystem::path& path, const LoadOptions& options = {});

// load_model(path) for any model; a quantized folder runs with `exec`
// (a GGUF file with Simulated: every weight dequantized to f32).
std::unique_ptr<Model> load_model_for_execution(const std::filesystem::path& path, QuantExecution exec,
                                                const LoadOptions& options = {});

}  // namespace octet
