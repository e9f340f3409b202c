// Hugging Face quantized checkpoints in and out (docs/hf_checkpoints.md).
//
//   // Reading: any folder below loads like a model; octet maps it onto its own
//   // QuantizationConfig (codes and scales kept, nothing re-quantized).
//   auto model = load_model("Llama-3-8B-AWQ");          // via load_model's dispatch
//   HfCheckpoint c = read_hf_checkpoint("Llama-3-8B-AWQ");  // c.description: what was recognised
//
//   // Writing: an `octet quantize` folder in a layout another runtime loads.
//   export_hf_checkpoint("out/kjv-w4a16-awq", "out/kjv-awq", {.layout = HfLayout::Awq});
//
// Layouts:
//   awq                 AutoAWQ "gemm": qweight i32 [in, out / 8] (nibble order 0 2 4 6 1 3 5 7),
//                       qzeros i32 [in / G, out / 8], scales f16 [in / G, out];
//                       config.json quantization_config {quant_method: awq, version: gemm, ...}
//   gptq                AutoGPTQ / GPTQModel "gptq" (v1: qzeros stored minus one; "gptq_v2" read too):
//                       qweight i32 [in * bits / 32, out], qzeros i32 [groups, out * bits / 32],
//                       scales f16 [groups, out], g_idx i32 [in]; quantization_config and quantize_config.json
//   compressed-tensors  llm-compressor's float-quantized (FP8) and int-quantized (INT8 W8A8):
//                       weight f8_e4m3 / i8 [out, in], weight_scale f32 [1] or [out, 1], input_scale f32 [1],
//                       k_scale / v_scale of attention blocks
//   fp8                 vLLM's quant_method "fp8": weight f8_e4m3, weight_scale f32 [], input_scale f32 []
//   modelopt            Model Optimizer's unified checkpoint: hf_quant_config.json {producer,
//                       quantization: {quant_algo, kv_cache_quant_algo, group_size, exclude_modules}}
//                       with FP8, W4A16_AWQ / W4A8_AWQ (int4 u8 [out / 2, in]), W8A16, W8A8_SQ_*
// Errors are octet::Error tagged "hf_checkpoint", naming the file and the tensor.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "octet/model.h"
#include "octet/quantized_model.h"

namespace octet {

enum class HfLayout : uint8_t { Awq, Gptq, CompressedTensors, Fp8, ModelOpt };
// "awq" | "gptq" | "compressed-tensors" | "fp8" | "modelopt"
std::string_view hf_layout_name(HfLayout layout);
HfLayout parse_hf_layout(std::string_view name);   // Error listing the names otherwise
const std::vector<HfLayout>& hf_layouts();

// ---- reading ----------------------------------------------------------------------------

// Whether `path` is a folder with config.json holding a "quantization_config"
// block, or with hf_quant_config.json (and not an `octet quantize` folder).
bool is_hf_quantized_checkpoint(const std::filesystem::path& path);

struct HfCheckpoint {
  HfLayout layout = HfLayout::Awq;
  // What was recognised, e.g. "AutoAWQ gemm: 4-bit, group 128, zero points (awq)".
  std::string description;
  std::vector<std::string> warnings;  // also logged (e.g. fp8 dynamic activations run weight-only)
  // The Linears' codes, scales and zero points as octet holds them. Static
  // KV scales given per tensor are one value per layer here;
  // load_hf_quantized_model repeats it per kv head.
  QuantizationConfig config;
  // The checkpoint tensors that carry the quantization (qweight, scales,
  // weight_scale, k_scale, ...), which no model parameter reads directly.
  std::vector<std::string> layout_tensors;
};

// Reads and checks the folder's quantization config and the tensors it
// implies (dtypes, shapes against the config and each other, group indices,
// zero points, static scales). Never builds the model.
HfCheckpoint read_hf_checkpoint(const std::filesystem::path& folder);

// Builds the model from config.json (quantized Linears get their dequantized
// weights) and applies the checkpoint's quantization. load_model() calls it
// with QuantExecution::Native for such a folder.
std::unique_ptr<Model> load_hf_quantized_model(const std::filesystem::path& folder, QuantExecution exec,
                                               const LoadOptions& options = {});

// ---- writing ----------------------------------------------------------------------------

struct HfExportOptions {
  HfLayout layout = HfLayout::Awq;
  // Dtype of the float tensors (unquantized parameters, scales, biases): F32,
  // F16 or BF16. nullopt: f32 everywhere except the awq / gptq scales, which
  // are f16 as AutoAWQ and AutoGPTQ write them (an f32 scale that f16 cannot
  // hold exactly is rounded: a note says by how much).
  std::optional<DType> float_dtype;
  // gptq: write qzeros without the v1 minus one ("checkpoint_format":
  // "gptq_v2", GPTQModel), which can hold a zero point of 0.
  bool gptq_v2 = false;
  bool overwrite = false;  // replace an existing output folder
};

struct HfExportResult {
  std::filesystem::path out;
  HfLayout layout = HfLayout::Awq;
  std::string description;          // e.g. "AutoAWQ gemm, 4-bit, group 128"
  int64_t quantized_linears = 0;
  int64_t tensors = 0;
  uint64_t bytes = 0;               // of the weight file
  std::string quantization_config;  // the block written into config.json (JSON text)
  std::vector<std::string> notes;   // values the layout changed (f16 scales, per-tensor KV scales)
};

// Writes the `octet quantize` folder `folder` to `out` in `options.layout`:
// the layout's tensors and config, every other parameter as stored,
// config.json (the source's keys plus the quantization block), tokenizer files
// and generation_config.json copied; atomically (a temporary sibling renamed
// at the end). A folder the layout cannot hold (e.g. asymmetric int4 to
// modelopt, fp8 to gptq) is an Error naming the layouts that can.
HfExportResult export_hf_checkpoint(const std::filesystem::path& folder, const std::filesystem::path& out,
                                    const HfExportOptions& options);

// The layouts that can hold `config`'s formats, and for one that cannot, why
// (empty when it can).
std::vector<HfLayout> hf_layouts_for(const QuantizationConfig& config);
std::string hf_layout_refusal(const QuantizationConfig& config, HfLayout layout);

}  // namespace octet
