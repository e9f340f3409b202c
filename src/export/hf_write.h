// Writing Hugging Face quantized checkpoints: what the driver
// (hf_checkpoint_write.cc) and the per-layout tensor writers
// (hf_layout_tensors.cc) share.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "octet/hf_checkpoint.h"
#include "octet/safetensors.h"

namespace octet::hf {

inline constexpr std::string_view kWriteTag = "export";

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

// What the layout writers need besides the Linears.
struct WriteContext {
  WriteContext(const QuantizationConfig& c, const Checkpoint& w, const HfExportOptions& o)
      : config(c), folder_weights(w), options(o) {}

  const QuantizationConfig& config;
  const Checkpoint& folder_weights;  // the octet folder's model.safetensors
  const HfExportOptions& options;
  DType scale_dtype = DType::F32;    // of weight scales (f16 for awq / gptq by default)
  NamedTensors tensors;              // the output, in addition order
  std::vector<std::string> notes;
  double scale_rounding = 0;         // max relative change of a scale cast to scale_dtype

  // `scales` (f32) in scale_dtype, recording the rounding; Error naming the
  // Linear when a scale does not survive the cast (0 or infinite).
  Tensor cast_scales(const Tensor& scales, const std::string& linear);
};

// The quantization_config block (config.json) and the layout's extra files
// (name -> JSON: quantize_config.json, hf_quant_config.json).
struct LayoutConfig {
  nlohmann::ordered_json block;
  std::vector<std::pair<std::string, nlohmann::ordered_json>> files;
  std::string description;
};

// Appends the layout's tensors for every quantized Linear and the KV cache to
// ctx.tensors, and returns its config. The config must have passed
// hf_layout_refusal() for the layout.
LayoutConfig write_awq(WriteContext& ctx);
LayoutConfig write_gptq(WriteContext& ctx);
LayoutConfig write_compressed_tensors(WriteContext& ctx);
LayoutConfig write_fp8(WriteContext& ctx);
LayoutConfig write_modelopt(WriteContext& ctx);

// The Model Optimizer quant_algo of one Linear ("" when it has none).
std::string modelopt_algo(const QuantizedLinear& q);

// The largest KV scale of each attention block (the layouts hold one per tensor).
std::vector<std::pair<std::string, std::pair<float, float>>> kv_tensor_scales(WriteContext& ctx);

// Tensor helpers.
Tensor scalar_tensor(float v);                  // f32 []
Tensor one_value_tensor(float v);               // f32 [1]
std::string regex_escape(const std::string& s);  // for GPTQModel's dynamic keys

}  // namespace octet::hf
