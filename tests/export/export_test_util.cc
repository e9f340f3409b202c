#include "export/export_test_util.h"

#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "octet/safetensors.h"
#include "support/shared_data.h"

namespace octet::testing {

std::string quote(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

CommandOutput run_shell(const std::string& command) {
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (!pipe) throw std::runtime_error("popen failed: " + command);
  CommandOutput r;
  char buffer[4096];
  size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) r.output.append(buffer, n);
  const int status = ::pclose(pipe);
  r.exit_code = (status != -1 && WIFEXITED(status)) ? WEXITSTATUS(status) : -1;
  return r;
}

nlohmann::json check_onnx(const std::filesystem::path& model) {
  if (run_shell("/usr/bin/python3 -c 'import onnx'").exit_code != 0)
    throw std::runtime_error("/usr/bin/python3 cannot import onnx: install python3-onnx (scripts/setup.sh)");
  const auto script = source_root() / "tests" / "export" / "onnx_summary.py";
  const auto r = run_shell("/usr/bin/python3 " + quote(script.string()) + " " + quote(model.string()));
  if (r.exit_code != 0) throw std::runtime_error("onnx checker rejected " + model.string() + ":\n" + r.output);
  return nlohmann::json::parse(r.output);
}

std::map<std::string, Tensor> run_onnxruntime(const std::filesystem::path& model,
                                              const std::map<std::string, Tensor>& inputs) {
  const auto module = source_root() / "bench" / "peers" / "node" / "node_modules" / "onnxruntime-node";
  if (!std::filesystem::exists(module))
    throw std::runtime_error("onnxruntime-node is missing at " + module.string() + ": run scripts/setup.sh");
  // Scratch files beside the model (temp_dir() would empty the test's directory).
  const auto dir = model.parent_path();
  const auto in = dir / (model.stem().string() + ".inputs.safetensors");
  const auto out = dir / (model.stem().string() + ".outputs.safetensors");
  save_safetensors(in, std::vector<std::pair<std::string, Tensor>>(inputs.begin(), inputs.end()));
  const auto runner = source_root() / "bench" / "peers" / "ort_run.js";
  const auto r = run_shell("node " + quote(runner.string()) + " run " + quote(model.string()) + " --inputs " +
                           quote(in.string()) + " --outputs " + quote(out.string()) + " --threads 1");
  if (r.exit_code != 0) throw std::runtime_error("ort_run.js failed on " + model.string() + ":\n" + r.output);
  const SafetensorsFile file = SafetensorsFile::open(out);
  std::map<std::string, Tensor> result;
  for (const auto& name : file.names()) result[name] = file.get(name).clone();
  return result;
}

std::map<std::string, Tensor> feeds(const ModelInputs& in) {
  std::map<std::string, Tensor> f{{"input_ids", in.input_ids}};
  if (in.attention_mask.defined()) f["attention_mask"] = in.attention_mask;
  f["token_type_ids"] = in.token_type_ids.defined() ? in.token_type_ids : Tensor::zeros(in.input_ids.shape(), DType::I64);
  return f;
}

double max_abs_diff(const Tensor& a, const Tensor& b, const Tensor& mask) {
  if (a.shape() != b.shape()) return INFINITY;
  const Tensor ac = a.contiguous(), bc = b.contiguous();
  const auto x = ac.span<float>(), y = bc.span<float>();
  const Tensor m = mask.defined() ? mask.contiguous() : Tensor();
  const int64_t positions = m.defined() ? m.numel() : 1;
  const int64_t width = a.numel() / positions;
  double worst = 0;
  for (int64_t p = 0; p < positions; ++p) {
    if (m.defined() && m.span<int64_t>()[size_t(p)] == 0) continue;
    for (int64_t i = p * width; i < (p + 1) * width; ++i)
      worst = std::max(worst, std::fabs(double(x[size_t(i)]) - double(y[size_t(i)])));
  }
  return worst;
}

double max_abs(const Tensor& a) {
  double m = 0;
  for (const float v : a.contiguous().span<float>()) m = std::max(m, std::fabs(double(v)));
  return m;
}

}  // namespace octet::testing
