// Reading Hugging Face quantized checkpoints: what the layout readers share.
// hf_checkpoint_read.cc finds the layout and its config block; hf_read_packed.cc
// (awq, gptq) and hf_read_scaled.cc (compressed-tensors, fp8, modelopt) map the
// tensors onto QuantizedLinear; nothing is dequantized or re-quantized.
#pragma once

#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "octet/hf_checkpoint.h"
#include "octet/json_config.h"
#include "octet/safetensors.h"

namespace octet::hf {

inline constexpr std::string_view kTag = "hf_checkpoint";

class Reader {
 public:
  // `block`: the quantization config (config.json's quantization_config,
  // hf_quant_config.json's "quantization"); `config_file` names it in errors.
  Reader(const std::filesystem::path& folder, nlohmann::json block, std::string config_file);

  const std::filesystem::path& folder() const { return folder_; }
  const Checkpoint& weights() const { return weights_; }
  const JsonConfig& block() const { return block_; }
  const std::string& config_file() const { return config_file_; }
  const std::string& weights_file() const { return weights_file_; }

  // Module paths M with a tensor "M<suffix>", sorted.
  std::vector<std::string> modules_with(std::string_view suffix) const;
  bool has(const std::string& name) const { return weights_.contains(name); }
  // The tensor's header entry; Error naming it when missing (`why`: what needs it).
  const TensorInfo& info(const std::string& name, std::string_view why) const;
  // `name` checked for dtype (any of `dtypes`) and, when given, shape.
  Tensor tensor(const std::string& name, std::initializer_list<DType> dtypes, const std::optional<Shape>& shape,
                std::string_view why) const;
  // A float tensor (F32, F16 or BF16) as f32, shape checked when given.
  Tensor floats(const std::string& name, const std::optional<Shape>& shape, std::string_view why) const;
  // One f32 value from a float tensor of one element ([] or [1]).
  float scalar(const std::string& name, std::string_view why) const;
  // Every value positive and finite (scales), else Error naming the tensor.
  void check_scales(const Tensor& scales, const std::string& name) const;

  // The layout's own tensors: not offered to the model builder as parameters.
  void hide(const std::string& name) { hidden_.insert(name); }
  const std::set<std::string>& hidden() const { return hidden_; }
  // Once per distinct message: logged when the model loads, listed by inspect.
  void warn(std::string message);

  HfCheckpoint result;

 private:
  std::filesystem::path folder_;
  Checkpoint weights_;
  JsonConfig block_;
  std::string config_file_, weights_file_;
  std::set<std::string> hidden_;
};

void read_awq(Reader& r);
void read_gptq(Reader& r);
void read_compressed_tensors(Reader& r);
void read_fp8(Reader& r);  // vLLM's quant_method "fp8"
void read_modelopt(Reader& r);

// Static KV-cache scales: every "<A>.k_scale" (also "<A>.k_proj.k_scale",
// "<A>.k_proj.output_scale") and its v twin, one value or one per kv head.
KvCacheConfig read_kv_scales(Reader& r, DType dtype);

// Every I8 / U8 / fp8 tensor must be a quantized Linear's codes or a tensor
// the layout reader took (zero points): any other would be read as plain
// numbers. Error naming it.
void check_no_stray_codes(const Reader& r, const QuantizationConfig& config);

// Shared by the layout readers.
Tensor repeat_scale(float scale, int64_t out);  // f32 [out]
// e4m3 codes 0x7F / 0xFF (NaN) are refused.
void check_fp8_codes(const Reader& r, const Tensor& codes, const std::string& name);
// 'glob' with * and ? (modelopt's exclude_modules).
bool glob_match(std::string_view pattern, std::string_view name);

}  // namespace octet::hf
