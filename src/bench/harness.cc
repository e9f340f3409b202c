// The latency harness (warmup, interleaved rounds), octet's in-process runner,
// and the environment a result is reported with.
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "core/error_tags.h"
#include "octet/bench.h"
#include "octet/cpu_features.h"
#include "octet/error.h"
#include "octet/thread_pool.h"

namespace octet {
namespace {

class OctetRunner final : public BenchRunner {
 public:
  OctetRunner(std::shared_ptr<const Model> model, std::string precision)
      : model_(std::move(model)), precision_(std::move(precision)) {
    check(model_ != nullptr, kBenchTag, "no model");
  }
  std::string framework() const override { return "octet"; }
  std::string precision() const override { return precision_; }
  void set_inputs(const ModelInputs& inputs) override { inputs_ = inputs; }
  std::vector<double> time(int64_t iters) override {
    check(inputs_.input_ids.defined(), kBenchTag, "octet {}: no inputs set", precision_);
    std::vector<double> ms;
    ms.reserve(size_t(iters));
    for (int64_t i = 0; i < iters; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      const NamedTensors out = model_->forward(inputs_);
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    return ms;
  }
  Tensor logits(const ModelInputs& batch) override {
    const NamedTensors out = model_->forward(batch);
    const auto it = out.find("logits");
    check(it != out.end(), kBenchTag, "octet {}: the model gives no logits", precision_);
    return it->second;
  }
  std::map<std::string, std::string> details() const override {
    return {{"threads", std::to_string(num_threads())}};
  }

 private:
  std::shared_ptr<const Model> model_;
  std::string precision_;
  ModelInputs inputs_;
};

std::string env_or(const char* name, const char* fallback = "(unset)") {
  const char* v = std::getenv(name);
  return v ? v : fallback;
}

}  // namespace

std::unique_ptr<BenchRunner> make_octet_runner(std::shared_ptr<const Model> model, std::string precision) {
  return std::make_unique<OctetRunner>(std::move(model), std::move(precision));
}

std::vector<Tensor> runner_logits(BenchRunner& runner, const TokenizedBatches& data) {
  std::vector<Tensor> out;
  out.reserve(data.batches.size());
  for (const ModelInputs& b : data.batches) out.push_back(runner.logits(b));
  return out;
}

std::vector<BenchResult> run_benchmark(const std::vector<BenchRunner*>& runners, const ModelInputs& inputs,
                                       const BenchOptions& options) {
  check(options.iters > 0 && options.rounds > 0 && options.warmup >= 0, kBenchTag,
        "iters ({}) and rounds ({}) must be > 0, warmup ({}) >= 0", options.iters, options.rounds, options.warmup);
  const int64_t rounds = std::min(options.rounds, options.iters);
  std::vector<BenchResult> results(runners.size());
  std::vector<std::vector<double>> samples(runners.size());
  std::vector<bool> alive(runners.size(), true);
  auto attempt = [&](size_t i, auto&& fn) {
    try {
      fn();
    } catch (const std::exception& e) {
      results[i].error = e.what();
      alive[i] = false;
    }
  };
  auto pause = [&] {
    if (options.pause_ms > 0) std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(options.pause_ms));
  };
  for (size_t i = 0; i < runners.size(); ++i) {
    results[i].framework = runners[i]->framework();
    results[i].precision = runners[i]->precision();
    results[i].details = runners[i]->details();
    pause();
    attempt(i, [&] {
      runners[i]->set_inputs(inputs);
      if (options.warmup > 0) runners[i]->time(options.warmup);
    });
  }
  for (int64_t r = 0; r < rounds; ++r) {
    // This round's share of the iterations; the first rounds take the remainder.
    const int64_t share = options.iters / rounds + (r < options.iters % rounds ? 1 : 0);
    for (size_t k = 0; k < runners.size(); ++k) {
      const size_t i = (k + size_t(r)) % runners.size();  // rotate who goes first
      if (!alive[i]) continue;
      pause();
      attempt(i, [&] {
        // One untimed pass: the caches and the peer's threads were the previous runner's.
        if (rounds > 1) runners[i]->time(1);
        const auto ms = runners[i]->time(share);
        samples[i].insert(samples[i].end(), ms.begin(), ms.end());
      });
    }
  }
  for (size_t i = 0; i < runners.size(); ++i) {
    if (!results[i].error.empty()) continue;
    results[i].latency = latency_stats(samples[i]);
    // Details a runner can only give after running (a profile of its passes) join the early ones.
    for (auto& [key, value] : runners[i]->details()) results[i].details[key] = value;
  }
  return results;
}

std::map<std::string, std::string> bench_environment() {
  const CpuFeatures& cpu = cpu_features();
  std::string isa = cpu.avx512_vnni ? "avx512-vnni" : cpu.avx512f ? "avx512" : cpu.avx2 ? "avx2" : "scalar";
  std::map<std::string, std::string> env{
      {"cpu", cpu.brand.empty() ? cpu.vendor : cpu.brand},
      {"isa", isa},
      {"hardware_threads", std::to_string(std::thread::hardware_concurrency())},
      {"octet_threads", std::to_string(num_threads())},
      {"OPENBLAS_CORETYPE", env_or("OPENBLAS_CORETYPE")},
      {"OMP_WAIT_POLICY", env_or("OMP_WAIT_POLICY")},
      {"OPENBLAS_NUM_THREADS", env_or("OPENBLAS_NUM_THREADS")},
      {"OCTET_ISA", env_or("OCTET_ISA")},
  };
  std::ifstream load("/proc/loadavg");
  std::string l1, l5, l15;
  if (load >> l1 >> l5 >> l15) env["loadavg"] = l1 + " " + l5 + " " + l15;
  return env;
}

}  // namespace octet
