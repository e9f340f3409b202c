// Building a model whose quantized Linears come from stored codes (octet's
// folder, Hugging Face quantized checkpoints): the shared part of the loaders.
#pragma once

#include <filesystem>
#include <memory>
#include <set>
#include <string>

#include "octet/model.h"
#include "octet/quantized_model.h"
#include "octet/safetensors.h"

namespace octet {

// `checkpoint` as a WeightSource where "<L>.weight" of every Linear in
// `config` reads as its dequantized weight (transposed when the builder asks
// for [in, out], GPT-2's Conv1D) and every other tensor as f32. `hidden`
// names (a layout's own tensors: qweight, scales, ...) are not listed.
// `native_resident`: the weights of Linears has_resident_native_kernel()
// accepts are kernel_resident() (no f32 value is made for them).
std::shared_ptr<const WeightSource> make_quantized_weight_source(Checkpoint checkpoint,
                                                                 const QuantizationConfig& config,
                                                                 std::set<std::string> hidden = {},
                                                                 bool native_resident = false);

// The model `folder`/config.json describes, built from `weights` by the
// registry entry load_model would pick; no quantization applied yet.
std::unique_ptr<Model> build_model_from_weights(const std::filesystem::path& folder,
                                                std::shared_ptr<const WeightSource> weights,
                                                const LoadOptions& options);

}  // namespace octet
