// Peer runners: PyTorch and ONNX Runtime in subprocesses speaking the JSON-line
// protocol of bench/peers/*'s "serve" mode. Tensors travel as safetensors files
// in a scratch directory.
#include <unistd.h>

#include <atomic>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "bench/subprocess.h"
#include "core/error_tags.h"
#include "octet/bench.h"
#include "octet/error.h"
#include "octet/safetensors.h"

namespace octet {
namespace {
// Loading BERT-base and quantizing it takes seconds; a pass at large batch can take
// many seconds on 2 shared cores: generous limits, errors still come in time.
constexpr std::chrono::seconds kStartTimeout{300};
constexpr std::chrono::seconds kRequestTimeout{900};

std::filesystem::path fresh_work_dir(const std::filesystem::path& requested) {
  if (!requested.empty()) {
    std::filesystem::create_directories(requested);
    return requested;
  }
  static std::atomic<int> counter{0};
  const auto dir = std::filesystem::temp_directory_path() /
                   fmt::format("octet-bench-{}-{}", ::getpid(), counter.fetch_add(1));
  std::filesystem::create_directories(dir);
  return dir;
}

std::vector<std::pair<std::string, Tensor>> input_tensors(const ModelInputs& in) {
  std::vector<std::pair<std::string, Tensor>> t{{"input_ids", in.input_ids}};
  const Shape shape = in.input_ids.shape();
  t.emplace_back("attention_mask", in.attention_mask.defined() ? in.attention_mask : [&] {
    Tensor m = Tensor::empty(shape, DType::I64);
    for (auto& v : m.span<int64_t>()) v = 1;
    return m;
  }());
  t.emplace_back("token_type_ids", in.token_type_ids.defined() ? in.token_type_ids : Tensor::zeros(shape, DType::I64));
  return t;
}

class PeerRunner final : public BenchRunner {
 public:
  PeerRunner(std::string framework, std::string precision, std::vector<std::string> argv,
             std::map<std::string, std::string> env, const std::filesystem::path& work_dir)
      : framework_(std::move(framework)),
        precision_(std::move(precision)),
        dir_(fresh_work_dir(work_dir)),
        owns_dir_(work_dir.empty()) {
    const std::string stem = framework_ + "-" + precision_;
    process_ = std::make_unique<bench_detail::Subprocess>(std::move(argv), env, dir_ / (stem + ".stderr.log"));
    const nlohmann::json ready = reply(kStartTimeout);
    for (const auto& [k, v] : ready.items())
      if (k != "ok" && k != "ready") details_[k] = v.is_string() ? v.get<std::string>() : v.dump();
    inputs_path_ = dir_ / (stem + ".inputs.safetensors");
    batch_path_ = dir_ / (stem + ".batch.safetensors");
    outputs_path_ = dir_ / (stem + ".outputs.safetensors");
  }
  ~PeerRunner() override {
    process_.reset();
    std::error_code ec;
    for (const auto& p : {inputs_path_, batch_path_, outputs_path_}) std::filesystem::remove(p, ec);
    if (owns_dir_) std::filesystem::remove_all(dir_, ec);  // a temp dir of its own (no work_dir given)
  }

  std::string framework() const override { return framework_; }
  std::string precision() const override { return precision_; }
  std::map<std::string, std::string> details() const override { return details_; }

  void set_inputs(const ModelInputs& inputs) override {
    save_safetensors(inputs_path_, input_tensors(inputs));
    request({{"op", "inputs"}, {"path", inputs_path_.string()}});
  }

  std::vector<double> time(int64_t iters) override {
    const nlohmann::json r = request({{"op", "time"}, {"iters", iters}});
    check(r.contains("ms") && r["ms"].is_array() && int64_t(r["ms"].size()) == iters, kBenchTag,
          "{} {}: a 'time' reply without {} timings: {}", framework_, precision_, iters, r.dump());
    return r["ms"].get<std::vector<double>>();
  }

  Tensor logits(const ModelInputs& batch) override {
    save_safetensors(batch_path_, input_tensors(batch));
    request({{"op", "run"}, {"inputs", batch_path_.string()}, {"outputs", outputs_path_.string()}});
    const SafetensorsFile out = SafetensorsFile::open(outputs_path_);
    check(out.contains("logits"), kBenchTag, "{} {}: the model gave no logits (outputs: {})", framework_, precision_,
          fmt::join(out.names(), ", "));
    return out.get("logits").clone();  // the file is overwritten by the next batch
  }

 private:
  nlohmann::json reply(std::chrono::seconds timeout) {
    for (;;) {
      const std::string line = process_->read_line(timeout);
      // Anything that is not a JSON object is a stray print of a library: skip it.
      if (line.empty() || line.front() != '{') continue;
      nlohmann::json r;
      try {
        r = nlohmann::json::parse(line);
      } catch (const nlohmann::json::exception&) {
        continue;
      }
      check(r.value("ok", false), kBenchTag, "{} {}: {}", framework_, precision_, r.value("error", r.dump()));
      return r;
    }
  }
  nlohmann::json request(const nlohmann::json& req) {
    process_->write_line(req.dump());
    return reply(kRequestTimeout);
  }

  std::string framework_, precision_;
  std::filesystem::path dir_, inputs_path_, batch_path_, outputs_path_;
  bool owns_dir_ = false;  // dir_ was made here (no work_dir given): removed with the runner
  std::unique_ptr<bench_detail::Subprocess> process_;
  std::map<std::string, std::string> details_;
};

std::filesystem::path peers_dir_or_find(const PeerOptions& options) {
  return options.peers_dir.empty() ? find_peers_dir() : options.peers_dir;
}

}  // namespace

std::filesystem::path find_peers_dir() {
  auto has_peers = [](const std::filesystem::path& dir) {
    return std::filesystem::exists(dir / "ort_run.js") && std::filesystem::exists(dir / "torch_bert.py");
  };
  if (const char* env = std::getenv("OCTET_PEERS_DIR"); env && *env) {
    check(has_peers(env), kBenchTag, "OCTET_PEERS_DIR={} holds no ort_run.js / torch_bert.py", env);
    return env;
  }
  std::vector<std::filesystem::path> starts;
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) starts.push_back(exe.parent_path());
  starts.push_back(std::filesystem::current_path());
  for (auto dir : starts) {
    for (;;) {
      if (has_peers(dir / "bench" / "peers")) return dir / "bench" / "peers";
      if (!dir.has_parent_path() || dir.parent_path() == dir) break;
      dir = dir.parent_path();
    }
  }
  fail(kBenchTag, "bench/peers not found above {} or the current directory: set OCTET_PEERS_DIR",
       starts.front().string());
}

std::unique_ptr<BenchRunner> make_torch_runner(const std::filesystem::path& model_dir, const std::string& precision,
                                               const PeerOptions& options) {
  check(precision == "fp32" || precision == "int8-dynamic" || precision.starts_with("fp16-cuda"), kBenchTag,
        "PyTorch precision '{}' (fp32, int8-dynamic, fp16-cuda or fp16-cuda-compile)", precision);
  check(options.threads > 0, kBenchTag, "threads must be > 0");
  const std::string t = std::to_string(options.threads);
  return std::make_unique<PeerRunner>(
      "pytorch", precision,
      std::vector<std::string>{options.python, (peers_dir_or_find(options) / "torch_bert.py").string(), "serve",
                               "--model", model_dir.string(), "--threads", t, "--precision", precision},
      std::map<std::string, std::string>{
          {"OMP_WAIT_POLICY", "PASSIVE"}, {"OPENBLAS_NUM_THREADS", t}, {"OMP_NUM_THREADS", t}},
      options.work_dir);
}

std::unique_ptr<BenchRunner> make_ort_runner(const std::filesystem::path& onnx_model, const std::string& precision,
                                             const PeerOptions& options) {
  check(options.threads > 0, kBenchTag, "threads must be > 0");
  return std::make_unique<PeerRunner>(
      "onnxruntime", precision,
      std::vector<std::string>{options.node, (peers_dir_or_find(options) / "ort_run.js").string(), "serve",
                               onnx_model.string(), "--threads", std::to_string(options.threads)},
      std::map<std::string, std::string>{}, options.work_dir);
}

}  // namespace octet
