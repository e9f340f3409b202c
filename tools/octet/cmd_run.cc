// `octet run MODEL`: one forward pass.
//
//   octet run MODEL --inputs IN.safetensors --save-outputs OUT.safetensors
//       runs on the tensors of IN (input_ids, attention_mask, token_type_ids,
//       position_ids when present) and writes every output the model gives.
#include <cmath>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "command.h"
#include "octet/error.h"
#include "octet/model.h"
#include "octet/safetensors.h"
#include "output.h"

namespace octet::cli {
namespace {

struct RunOptions {
  std::string model;
  std::string inputs;
  std::string save_outputs;
  bool json = false;
};

// i64 copy of an integer tensor (input files written by numpy may hold i32).
Tensor as_i64(const Tensor& t, const std::string& name, const std::string& file) {
  if (t.dtype() == DType::I64) return t.contiguous();
  check(t.dtype() == DType::I32, "run", "{}: '{}' must be i64 or i32, got {}", file, name, t.describe());
  Tensor out = Tensor::empty(t.shape(), DType::I64);
  const Tensor src = t.contiguous();
  const int32_t* s = src.data<int32_t>();
  int64_t* d = out.data<int64_t>();
  for (int64_t i = 0; i < t.numel(); ++i) d[i] = s[i];
  return out;
}

ModelInputs read_inputs(const std::filesystem::path& path) {
  const SafetensorsFile file = SafetensorsFile::open(path);
  check(file.contains("input_ids"), "run", "{}: no 'input_ids' tensor (has: {})", path.string(),
        fmt::join(file.names(), ", "));
  ModelInputs in;
  auto read = [&](const char* name, Tensor& dst) {
    if (file.contains(name)) dst = as_i64(file.get(name), name, path.string());
  };
  read("input_ids", in.input_ids);
  read("attention_mask", in.attention_mask);
  read("token_type_ids", in.token_type_ids);
  read("position_ids", in.position_ids);
  return in;
}

double l2_norm(const Tensor& t) {
  double sum = 0;
  for (const float v : t.contiguous().span<float>()) sum += double(v) * v;
  return std::sqrt(sum);
}

void print_outputs(const NamedTensors& outputs, const RunOptions& opt) {
  if (opt.json) {
    nlohmann::json j = nlohmann::json::object();
    for (const auto& [name, t] : outputs) j[name] = {{"shape", t.shape()}, {"l2_norm", l2_norm(t)}};
    nlohmann::json doc = {{"outputs", j}};
    if (!opt.save_outputs.empty()) doc["saved_to"] = opt.save_outputs;
    print_json(doc);
    return;
  }
  std::vector<TableRow> rows;
  for (const auto& [name, t] : outputs) rows.push_back({name, shape_str(t.shape()), fmt::format("{:.6g}", l2_norm(t))});
  print_table({"output", "shape", "l2 norm"}, rows);
  if (!opt.save_outputs.empty()) fmt::print("saved to {}\n", opt.save_outputs);
}

void run_command(const RunOptions& opt) {
  check(!opt.inputs.empty(), "run", "give --inputs FILE.safetensors");
  // Inputs are read before the model is built, so a bad input file fails fast.
  const ModelInputs inputs = read_inputs(opt.inputs);
  const auto model = load_model(opt.model);
  const NamedTensors outputs = model->forward(inputs);
  if (!opt.save_outputs.empty()) {
    std::vector<std::pair<std::string, Tensor>> tensors(outputs.begin(), outputs.end());
    save_safetensors(opt.save_outputs, tensors, {{"model", std::filesystem::path(opt.model).filename().string()}});
  }
  print_outputs(outputs, opt);
}

const CommandRegistration registration({
    "run",
    "Run a model once: on tensors from a file, saving its outputs",
    [](CLI::App& sub) {
      auto opt = std::make_shared<RunOptions>();
      sub.add_option("model", opt->model, "Hugging Face model folder or GGUF file")->required();
      sub.add_option("--inputs", opt->inputs,
                     "safetensors file with input_ids [batch, seq] (and attention_mask, token_type_ids, position_ids)");
      sub.add_option("--save-outputs", opt->save_outputs,
                     "Write the outputs (logits, last_hidden_state, pooler_output) to this safetensors file");
      sub.add_flag("--json", opt->json, "Print JSON");
      add_common_options(sub);
      sub.callback([opt] { run_command(*opt); });
    },
});

}  // namespace
}  // namespace octet::cli
