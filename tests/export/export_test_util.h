// Helpers of the export tests: the ONNX checker (tests/export/onnx_summary.py),
// ONNX Runtime runs through bench/peers/ort_run.js, and comparisons.
// Missing tools (python3-onnx, node, onnxruntime-node) fail the tests with a
// message naming scripts/setup.sh: they never skip.
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "octet/model.h"
#include "octet/tensor.h"

namespace octet::testing {

struct CommandOutput {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};
CommandOutput run_shell(const std::string& command);
std::string quote(const std::string& text);

// onnx.checker.check_model(full_check=True) and the summary of onnx_summary.py;
// throws with the checker's message when the model is invalid.
nlohmann::json check_onnx(const std::filesystem::path& model);

// One run in ONNX Runtime (1 thread): inputs by name -> every output.
std::map<std::string, Tensor> run_onnxruntime(const std::filesystem::path& model,
                                              const std::map<std::string, Tensor>& inputs);

// The model's inputs as ONNX feeds (input_ids, attention_mask, token_type_ids).
std::map<std::string, Tensor> feeds(const ModelInputs& in);

// max |a - b| (f32, same shape), over positions where mask != 0 when given.
double max_abs_diff(const Tensor& a, const Tensor& b, const Tensor& mask = {});
double max_abs(const Tensor& a);

}  // namespace octet::testing
