// ONNX export of models: the fp32 graph, or the QDQ graph of a quantized model.
//
//   auto model = octet::load_model("models/sst2-bert-mini");
//   octet::export_onnx(*model, "model.onnx");                 // fp32
//   octet::export_onnx(*model, "model-int8.onnx", {}, &plan); // QDQ (see QdqPlan)
//
// The graph is built from the model's own blocks (src/export/), so it computes
// what octet computes, in the same order of operations where ONNX allows:
// inputs input_ids / attention_mask (/ token_type_ids when the model has more
// than one token type), all int64 [batch, seq] (symbolic "batch" / "seq" unless
// fixed); outputs "logits" for a classifier, else "last_hidden_state" (+
// "pooler_output" when the family reports one). Supported: the BERT family
// (BERT, RoBERTa, XLM-R, ELECTRA), DistilBERT and ALBERT; other models throw
// Error("export") saying so. The QDQ conventions are docs/onnx.md's.
// Errors are octet::Error tagged "export".
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "octet/model.h"
#include "octet/onnx.h"
#include "octet/quant.h"

namespace octet {

// Static quantization of one activation: QuantizeLinear -> DequantizeLinear
// with a per-tensor scale and zero point (int8 or uint8, any scheme).
struct QdqActivation {
  QuantSpec spec;  // per tensor
  ScaleZeroPoint params;
};

// A Linear's quantized weight in the checkpoint layout [out, in]: integer
// codes and their scale / zero point, per output channel (per_channel(0)) or
// per tensor. Exported as the integer initializer (transposed to [in, out]) +
// DequantizeLinear along axis 1.
struct QdqWeight {
  QuantSpec spec;
  Tensor codes;        // spec.dtype (I8 / U8) [out, in]
  QuantParams params;  // shaped by quant_param_shape(spec, codes.shape())
};

// What is quantized, by name: weights by nn::Linear::name(); activations by
// nn::ActivationSite::name() (a Linear's input site carries the Linear's name;
// other sites are "<module>:residual", "<module>:input", "<prefix>:query", ...).
// Anything not named stays fp32.
struct QdqPlan {
  std::map<std::string, QdqWeight> weights;
  std::map<std::string, QdqActivation> activations;
  bool empty() const { return weights.empty() && activations.empty(); }
};

struct OnnxExportOptions {
  int opset = 17;                // 13..21; LayerNormalization from 17, decomposed below
  std::optional<int64_t> batch;  // a fixed batch size instead of the symbolic "batch"
  std::optional<int64_t> seq;    // a fixed sequence length instead of "seq"
  OnnxExternalData external_data = OnnxExternalData::Auto;  // external above 2 GB
};

// Empty when `model` can be exported, else the reason it cannot.
std::string onnx_export_unsupported(const Model& model);

// The graph of `model` (fp32, or with `plan` the QDQ graph). Throws
// Error("export") for an unsupported model, a plan naming no Linear / site of
// the model, or a quantization ONNX cannot express here (per-token or
// per-group activations, int4 / fp8).
OnnxGraph build_onnx_graph(const Model& model, const OnnxExportOptions& options = {}, const QdqPlan* plan = nullptr);

// build_onnx_graph + save_onnx.
OnnxSaveResult export_onnx(const Model& model, const std::filesystem::path& path,
                           const OnnxExportOptions& options = {}, const QdqPlan* plan = nullptr);

// ---- QDQ plans from octet itself ------------------------------------------------

struct QuantizationConfig;  // octet/quantized_model.h

// The plan of a quantized model (octet quantize / a quantized folder): its
// int8 weights and scales, and each static activation's scale / zero point.
// Dynamic (per-token) activations have no QDQ form: Error("export").
// ONNX's QuantizeLinear saturates at -128 where octet's symmetric activation
// grid stops at -127, so values below the calibrated range can differ by one
// step (see tests/export/qdq_export_test.cc).
QdqPlan qdq_plan_from_quantization(const QuantizationConfig& config);

struct MinMaxPlanOptions {
  QuantSpec weight_spec{DType::I8, QuantScheme::Symmetric, Granularity::PerChannel, 0};
  QuantSpec activation_spec{DType::I8, QuantScheme::Symmetric, Granularity::PerTensor};
  std::vector<std::string> exclude;  // Linear names kept fp32 (exact names or globs with '*')
};

// Every Linear quantized: weights with `weight_spec` (per channel or per tensor),
// inputs static per tensor from the min / max seen over `batches` (one forward
// pass each). The model is left as it was (observers removed).
QdqPlan calibrate_minmax_plan(Model& model, const std::vector<ModelInputs>& batches,
                              const MinMaxPlanOptions& options = {});

// Simulated execution of `plan` on `model` (fp32 math with QDQ applied): each
// quantized site gets fake_quantize with the plan's parameters and each
// quantized Linear a kernel computing x dequantize(codes)^T + bias, which is
// what the QDQ graph computes. Replaces what was installed before.
void install_simulated_plan(Model& model, const QdqPlan& plan);
// Removes site transforms and Linear kernels (back to fp32).
void remove_installed_quantization(Model& model);

}  // namespace octet
