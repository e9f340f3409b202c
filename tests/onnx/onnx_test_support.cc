#include "onnx/onnx_test_support.h"

#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "support/shared_data.h"

namespace octet::testing {
namespace {

constexpr const char* kPython = "/usr/bin/python3";

std::filesystem::path inspect_script() { return source_root() / "tests" / "onnx" / "onnx_inspect.py"; }

void require_python_onnx() {
  static const bool ok = run_command(std::string(kPython) + " -c 'import onnx' 2>&1").exit_code == 0;
  if (!ok)
    throw std::runtime_error(std::string(kPython) +
                             " cannot import onnx: install python3-onnx (scripts/setup.sh) to validate exports");
}

void require_onnxruntime_node() {
  const auto module = source_root() / "bench" / "peers" / "node" / "node_modules" / "onnxruntime-node";
  if (run_command("command -v node").exit_code != 0)
    throw std::runtime_error("node is not installed: run scripts/setup.sh (ONNX Runtime tests need node + npm)");
  if (!std::filesystem::exists(module))
    throw std::runtime_error("onnxruntime-node is missing at " + module.string() + ": run scripts/setup.sh");
}

}  // namespace

std::string run_onnx_inspect(const std::string& args) {
  require_python_onnx();
  const auto r = run_command(std::string(kPython) + " " + shell_quote(inspect_script().string()) + " " + args);
  if (r.exit_code != 0) throw std::runtime_error("onnx_inspect.py " + args + " failed:\n" + r.output);
  return r.output;
}

nlohmann::json check_and_list_onnx(const std::filesystem::path& model) {
  return nlohmann::json::parse(run_onnx_inspect("inspect " + shell_quote(model.string())));
}

std::map<std::string, Tensor> run_in_onnxruntime(const std::filesystem::path& model,
                                                 const std::map<std::string, Tensor>& inputs) {
  require_onnxruntime_node();
  const auto dir = model.parent_path();
  const auto in = dir / (model.stem().string() + ".inputs.safetensors");
  const auto out = dir / (model.stem().string() + ".outputs.safetensors");
  write_safetensors(in, inputs);
  const auto runner = source_root() / "bench" / "peers" / "ort_run.js";
  const auto r = run_command("node " + shell_quote(runner.string()) + " run " + shell_quote(model.string()) +
                             " --inputs " + shell_quote(in.string()) + " --outputs " + shell_quote(out.string()) +
                             " --threads 1");
  if (r.exit_code != 0) throw std::runtime_error("ort_run.js failed on " + model.string() + ":\n" + r.output);
  return read_safetensors(out);
}

void write_safetensors(const std::filesystem::path& path, const std::map<std::string, Tensor>& tensors) {
  nlohmann::json header = nlohmann::json::object();
  std::string data;
  for (const auto& [name, tensor] : tensors) {
    const Tensor t = tensor.contiguous();
    const auto& info = dtype_info(t.dtype());
    if (info.safetensors_name.empty()) throw std::runtime_error("no safetensors dtype for " + t.describe());
    header[name] = {{"dtype", std::string(info.safetensors_name)},
                    {"shape", t.shape()},
                    {"data_offsets", {data.size(), data.size() + t.nbytes()}}};
    data.append(static_cast<const char*>(t.raw_data()), t.nbytes());
  }
  std::string json = header.dump();
  json.append((8 - json.size() % 8) % 8, ' ');
  std::ofstream f(path, std::ios::binary);
  const uint64_t n = json.size();
  f.write(reinterpret_cast<const char*>(&n), 8);
  f << json << data;
  if (!f) throw std::runtime_error("cannot write " + path.string());
}

std::map<std::string, Tensor> read_safetensors(const std::filesystem::path& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string bytes = ss.str();
  if (bytes.size() < 8) throw std::runtime_error(path.string() + ": not a safetensors file");
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  if (8 + n > bytes.size()) throw std::runtime_error(path.string() + ": header past end of file");
  const auto header = nlohmann::json::parse(bytes.substr(8, n));
  std::map<std::string, Tensor> out;
  for (const auto& [name, info] : header.items()) {
    if (name == "__metadata__") continue;
    Tensor t = Tensor::empty(info["shape"].get<Shape>(), parse_dtype(info["dtype"].get<std::string>()));
    const auto begin = info["data_offsets"][0].get<size_t>();
    const auto end = info["data_offsets"][1].get<size_t>();
    if (end - begin != t.nbytes() || 8 + n + end > bytes.size())
      throw std::runtime_error(path.string() + ": bad data_offsets for " + name);
    std::memcpy(t.raw_data(), bytes.data() + 8 + n + begin, t.nbytes());
    out.emplace(name, std::move(t));
  }
  return out;
}

std::string tensor_hex(const Tensor& tensor) {
  const Tensor t = tensor.contiguous();
  const auto* p = static_cast<const uint8_t*>(t.raw_data());
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(t.nbytes() * 2);
  for (size_t i = 0; i < t.nbytes(); ++i) {
    out += digits[p[i] >> 4];
    out += digits[p[i] & 15];
  }
  return out;
}

}  // namespace octet::testing
