// Helpers for the ONNX tests: running the python onnx checker and the ONNX
// Runtime peer (bench/peers/ort_run.js) on saved models, and a minimal
// safetensors reader/writer to pass tensors to and from ORT.
// Missing tools (python3-onnx, node, onnxruntime-node) throw with a message
// naming scripts/setup.sh: the tests fail, they never skip.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "octet/tensor.h"
#include "support/run_command.h"

namespace octet::testing {

// Runs `command` through /bin/sh, stdout and stderr together in `output`.
inline CommandResult run_command(const std::string& command) { return run_shell_combined(command); }

// Runs onnx.checker.check_model(path, full_check=True) with /usr/bin/python3 and
// returns the model's listing (tests/onnx/onnx_inspect.py: nodes, attributes,
// initializers with their bytes, inputs/outputs). Throws with the checker's
// message when the model is invalid.
nlohmann::json check_and_list_onnx(const std::filesystem::path& model);
// Runs `onnx_inspect.py <args>` and returns its output (throws on failure).
std::string run_onnx_inspect(const std::string& args);

// Runs the model once in ONNX Runtime (1 thread) through ort_run.js.
std::map<std::string, Tensor> run_in_onnxruntime(const std::filesystem::path& model,
                                                 const std::map<std::string, Tensor>& inputs);

void write_safetensors(const std::filesystem::path& path, const std::map<std::string, Tensor>& tensors);
std::map<std::string, Tensor> read_safetensors(const std::filesystem::path& path);

// The bytes of a tensor as lowercase hex (for comparing with the listing).
std::string tensor_hex(const Tensor& t);

}  // namespace octet::testing
