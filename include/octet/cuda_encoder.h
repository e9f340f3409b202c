// A CUDA runner for BERT-family encoders (model_type bert, roberta,
// xlm-roberta), built from a loaded CPU octet::Model.
//
//   auto model = load_model("models/sst2-bert-mini");
//   auto gpu = CudaEncoder::create(*model, nullptr, {.precision = "fp16"});
//   NamedTensors out = gpu->forward(inputs);   // f32 host tensors, as Model::forward
//
// Precisions:
//   fp16  every Linear in f16 (f32 accumulation), weights converted from the model's f32.
//   int8  the QuantizationConfig's own int8 codes and per-channel weight scales
//         with its activation quantization (static per-tensor symmetric, or
//         dynamic per token) on cuBLASLt IMMA. Linears it cannot run as the CPU
//         recipe does (excluded, affine or fp8 inputs, non-int8 weights,
//         weight-only) run in fp16 and are listed in notes().
//   fp8   e4m3 weights quantized per tensor from the model's f32 (for a
//         quantized folder: dequantized) weights; activations dynamic per
//         tensor, or the folder's static fp8 scales. Needs sm_89+.
// Activations between ops are f16; layer norms, softmax and epilogues compute
// in f32. Pooler / classifier run in f32 on the first token.
//
// This header needs no CUDA headers. Built without CUDA, create() throws
// Error "cuda" (the stand-in backend's "built without CUDA support").
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "octet/model.h"

namespace octet {

struct QuantizationConfig;

struct CudaEncoderOptions {
  std::string precision = "fp16";  // fp16 | int8 | fp8
  int device = 0;
  // Capture each (batch, seq) shape's forward as a CUDA graph after one eager
  // pass and replay it; worth it for repeated shapes (benchmarks, serving).
  bool graphs = true;
};

class CudaEncoder {
 public:
  // `quantization` is required for int8 (the recipe's codes and scales) and
  // optional for fp8 (static fp8 input scales); ignored for fp16.
  // Throws Error "cuda" (no CUDA, no GPU, unsupported family / head) or
  // Error "quantized" (int8 without a quantization config).
  static std::unique_ptr<CudaEncoder> create(const Model& model, const QuantizationConfig* quantization,
                                             const CudaEncoderOptions& options);
  virtual ~CudaEncoder() = default;

  // One forward pass; outputs as Model::forward names them, f32 host tensors:
  // "logits" [batch, labels] for classifiers; "last_hidden_state" [batch,
  // seq, hidden] (+ "pooler_output" when the model has a pooler) for base models.
  virtual NamedTensors forward(const ModelInputs& inputs) = 0;

  // The two halves of forward() for timing: prepare() checks the inputs and
  // uploads them; run_prepared() runs the network on them and waits for the
  // GPU; outputs() downloads what the last run produced.
  virtual void prepare(const ModelInputs& inputs) = 0;
  virtual void run_prepared() = 0;
  virtual NamedTensors outputs() = 0;

  // Where a pass's time goes: runs `passes` eager passes (no graph) on the
  // prepared inputs, waiting for the GPU around every op, and returns the
  // mean milliseconds per pass of each op kind ("gemm.qkv", "attention",
  // "quantize", "add_layer_norm", ...), in first-run order. The waits add a
  // few microseconds per op, so small shapes read high; the split is what
  // counts. Call prepare() first.
  virtual std::vector<std::pair<std::string, double>> profile(int passes) = 0;

  virtual const ModelInfo& info() const = 0;
  virtual const std::string& precision() const = 0;
  // What differs from the CPU recipe (Linears run in fp16 instead of int8,
  // ignored extra quantization sites, graph capture failures), one line each.
  virtual const std::vector<std::string>& notes() const = 0;
};

}  // namespace octet
