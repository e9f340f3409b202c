// A quantized model: what each Linear (and optional extra site) runs with,
// how it executes (simulated or native), and the folder it is saved in.
//
//   QuantizationConfig q = quantize_model(*model, batches, options);  // quantize_model.h
//   apply_quantization(*model, q, QuantExecution::Native);             // int8 kernels
//   save_quantized_model(*model, q, "models/sst2-bert-mini", "out/sst2-int8");
//   auto reloaded = load_model("out/sst2-int8");                        // native by default
//
// Execution. Both paths quantize activations with the same function
// (octet::quantize_int8_per_tensor / _per_token of gemm_int8.h, then the
// symmetric grid's clamp to [-127, 127]), so they see identical int8 codes
// for identical inputs; weights are the stored int8 codes in both:
//   simulated: x^ = (q - zp) * s_x,  W^ = q_w * s_w (f32),  y = x^ W^T + b  (fp32 GEMM)
//   native:    y = float(sum_k (q - zp) q_w) * s_x * s_w + b               (exact int32 GEMM)
// They differ only by the fp32 rounding of the simulated GEMM (see
// tests/quant_model/native_vs_simulated_test.cc for the bound). Extra sites
// (attention q/k/v, residual adds, norm inputs) have no integer kernel yet:
// both executions fake-quantize them with the same function.
//
// Folder layout (docs/quantized_format.md): config.json and the tokenizer
// files copied from the source model, model.safetensors (int8 weights, f32
// scales, i32 zero points, every other parameter f32) and
// quantization_config.json (recipe, calibrator, specs, per-layer entries,
// excluded layers, octet version). Errors are octet::Error tagged "quantized".
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "octet/model.h"
#include "octet/nn_sites.h"
#include "octet/quant.h"

namespace octet {

enum class QuantExecution : uint8_t {
  Simulated,  // fp32 math with QDQ applied (the reference)
  Native,     // int8 GEMM with weights packed at load
};
std::string_view execution_name(QuantExecution exec);  // "simulated" | "native"
QuantExecution parse_execution(std::string_view name);  // throws Error("quantized") otherwise

// int8:sym:per_channel(0): one scale per output row of a [out, in] weight.
inline constexpr QuantSpec kInt8PerChannelWeights{DType::I8, QuantScheme::Symmetric, Granularity::PerChannel, 0};

// How one activation tensor is quantized to int8.
struct ActivationQuant {
  bool dynamic = false;  // per token (rows of the last dim), symmetric, scales computed at run time
  QuantSpec spec{};  // static: int8, per tensor, symmetric or affine
  float scale = 1.0f;      // static only
  int32_t zero_point = 0;  // static only; 0 when symmetric
};

// Codes of `x` (f32, any shape, last dim = row) as the kernels quantize them,
// and the per-row scales when dynamic (one per row, else empty).
struct QuantizedActivation {
  Tensor codes;  // i8, x's shape
  std::vector<float> row_scales;
};
QuantizedActivation quantize_activation(const Tensor& x, const ActivationQuant& q);
// dequantize(quantize_activation(x)): what the simulated path (and every extra site) sees.
Tensor fake_quantize_activation(const Tensor& x, const ActivationQuant& q);

// One quantized Linear.
struct QuantizedLinear {
  std::string name;  // Linear::name()
  QuantSpec weight_spec = kInt8PerChannelWeights;  // or int8:sym:per_tensor
  Tensor weight;        // i8 [out, in], codes in [-127, 127]
  Tensor weight_scale;  // f32 [out] (per tensor: the one scale repeated)
  ActivationQuant input;
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

struct QuantizationConfig {
  static constexpr int kFormatVersion = 1;
  std::string octet_version = OCTET_VERSION;
  std::string recipe = "int8";  // int8 | int8-dynamic
  std::string calibrator;       // "percentile(99.99)", ...; empty for int8-dynamic
  std::string calibration_source;  // file the calibration texts came from (empty: given batches)
  int64_t calibration_samples = 0;
  QuantSpec weight_spec = kInt8PerChannelWeights;
  QuantSpec activation_spec{};  // int8:sym:per_tensor; int8:sym:per_token for int8-dynamic
  std::vector<QuantizedLinear> linears;
  std::vector<QuantizedSite> sites;
  std::vector<ExcludedLayer> excluded;
};

// W^ = q_w * s_w (f32 [out, in]): the weight the simulated path multiplies
// and the loader gives the model's Linear.
Tensor dequantized_weight(const QuantizedLinear& q);

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
// tokenizer files to copy. Everything goes to a temporary sibling folder that
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
// load_model(path) for any model; a quantized folder runs with `exec`.
std::unique_ptr<Model> load_model_for_execution(const std::filesystem::path& path, QuantExecution exec,
                                                const LoadOptions& options = {});

}  // namespace octet
