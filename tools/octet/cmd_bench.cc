// `octet bench MODEL`: latency (and accuracy) of octet and its peers, one run.
//
//   octet bench MODEL [--batch 8] [--seq 128] [--threads 2] [--warmup 5] [--iters 20] [--rounds 4]
//                     [--precision fp32,int8] [--peers torch,torch-int8,ort,ort-int8]
//                     [--data dev.tsv [--limit N]] [--calib train.tsv [--calib-samples 128]] [--json]
//
// octet runs in process; PyTorch (bench/peers/torch_bert.py) and ONNX Runtime
// (bench/peers/ort_run.js, on octet's own fp32 / QDQ export) run as subprocesses
// that keep their model loaded, and all take turns in rounds (octet/bench.h).
// INT8 everywhere but PyTorch's dynamic quantization uses one QdqPlan: int8
// per-channel weights, int8 per-tensor activations calibrated by min / max over
// --calib texts (or random token ids when none is given).
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "command.h"
#include "octet/bench.h"
#include "octet/error.h"
#include "octet/eval.h"
#include "octet/export_onnx.h"
#include "octet/log.h"
#include "octet/model.h"
#include "octet/thread_pool.h"
#include "octet/tokenizer.h"
#include "output.h"

namespace octet::cli {
namespace {

struct BenchCommandOptions {
  std::string model;
  int64_t batch = 8, seq = 128;
  int threads = 2;
  int64_t warmup = 5, iters = 20, rounds = 4;
  std::vector<std::string> precisions{"fp32", "int8"};
  std::vector<std::string> peers{"torch", "torch-int8", "ort", "ort-int8"};
  std::string data;
  int64_t limit = 0;
  int64_t eval_batch = 32;
  std::string calib;
  int64_t calib_samples = 128;
  std::string work_dir;
  std::string peers_dir;
  bool json = false;
};

const std::set<std::string> kOctetPrecisions{"fp32", "int8", "int8-sim"};
const std::set<std::string> kPeers{"torch", "torch-int8", "ort", "ort-int8"};

std::string fmt_ms(double ms) { return fmt::format("{:.1f} ms", ms); }

struct Row {
  BenchResult result;
  std::optional<double> speedup;
};

class BenchCommand {
 public:
  explicit BenchCommand(BenchCommandOptions opt) : opt_(std::move(opt)) {}

  void run() {
    validate();
    set_num_threads(opt_.threads);
    std::unique_ptr<Model> loaded = load_model(opt_.model);
    info_ = loaded->info();
    fp32_ = std::shared_ptr<Model>(std::move(loaded));
    const ModelInputs inputs = random_bench_inputs(info_, opt_.batch, opt_.seq);
    if (!opt_.data.empty()) load_data();
    make_plan_if_needed();
    make_runners();
    BenchOptions bo;
    bo.warmup = opt_.warmup;
    bo.iters = opt_.iters;
    bo.rounds = opt_.rounds;
    std::vector<BenchRunner*> runners;
    for (auto& r : runners_) runners.push_back(r.get());
    std::vector<BenchResult> results = run_benchmark(runners, inputs, bo);
    for (auto& e : setup_errors_) results.push_back(e);
    if (data_) score(results);
    report(results);
  }

 private:
  void validate() {
    // "--peers ''" or "--peers none" runs octet alone.
    std::erase_if(opt_.peers, [](const std::string& p) { return p.empty() || p == "none"; });
    check(opt_.batch > 0 && opt_.seq > 0, "bench", "--batch and --seq must be > 0");
    check(opt_.threads > 0, "bench", "--threads must be > 0");
    for (const auto& p : opt_.precisions)
      check(kOctetPrecisions.contains(p), "bench", "unknown --precision '{}' (fp32, int8, int8-sim)", p);
    for (const auto& p : opt_.peers)
      check(kPeers.contains(p), "bench", "unknown peer '{}' (torch, torch-int8, ort, ort-int8)", p);
    check(opt_.limit >= 0 && opt_.calib_samples > 0 && opt_.eval_batch > 0, "bench",
          "--limit must be >= 0, --calib-samples and --eval-batch > 0");
  }

  bool wants(const std::vector<std::string>& list, const std::string& x) const {
    return std::find(list.begin(), list.end(), x) != list.end();
  }
  bool needs_plan() const {
    return wants(opt_.precisions, "int8") || wants(opt_.precisions, "int8-sim") || wants(opt_.peers, "ort-int8");
  }
  std::filesystem::path tokenizer_folder() const {
    const std::filesystem::path m(opt_.model);
    return std::filesystem::is_directory(m) ? m : m.parent_path();
  }
  std::filesystem::path work_dir() {
    if (work_dir_.empty()) {
      work_dir_ = opt_.work_dir.empty()
                      ? std::filesystem::temp_directory_path() / fmt::format("octet-bench-{}", ::getpid())
                      : std::filesystem::path(opt_.work_dir);
      std::filesystem::create_directories(work_dir_);
    }
    return work_dir_;
  }

  void load_data() {
    const ClassificationDataset data = load_tsv_dataset(opt_.data);
    const Tokenizer tokenizer = Tokenizer::load(tokenizer_folder());
    data_ = tokenize_batches(*fp32_, tokenizer, data, opt_.eval_batch,
                             opt_.limit > 0 ? std::optional<int64_t>(opt_.limit) : std::nullopt);
  }

  void make_plan_if_needed() {
    if (!needs_plan()) return;
    std::vector<ModelInputs> batches;
    if (!opt_.calib.empty()) {
      TsvColumns columns;
      columns.label = columns.text;
      ClassificationDataset texts = load_tsv_dataset(opt_.calib, columns);
      texts.labels.clear();
      const Tokenizer tokenizer = Tokenizer::load(tokenizer_folder());
      batches = tokenize_batches(*fp32_, tokenizer, texts, 16, opt_.calib_samples).batches;
      calibration_ = fmt::format("min/max over {} texts of {}", std::min<int64_t>(opt_.calib_samples,
                                                                                 int64_t(texts.size())), opt_.calib);
    } else {
      for (int64_t done = 0, i = 0; done < opt_.calib_samples; done += opt_.batch, ++i)
        batches.push_back(random_bench_inputs(info_, std::min(opt_.batch, opt_.calib_samples - done), opt_.seq,
                                              uint64_t(1000 + i)));
      calibration_ = fmt::format("min/max over {} random-id rows of length {}", opt_.calib_samples, opt_.seq);
    }
    plan_ = calibrate_minmax_plan(*fp32_, batches);
  }

  void add(const std::string& framework, const std::string& precision, const std::function<std::unique_ptr<BenchRunner>()>& make) {
    try {
      runners_.push_back(make());
    } catch (const std::exception& e) {
      BenchResult r;
      r.framework = framework;
      r.precision = precision;
      r.error = e.what();
      setup_errors_.push_back(r);
    }
  }

  std::shared_ptr<Model> quantized_copy(bool native) {
    std::shared_ptr<Model> m(load_model(opt_.model).release());
    if (native)
      install_native_int8(*m, plan_);
    else
      install_simulated_plan(*m, plan_);
    return m;
  }

  void make_runners() {
    PeerOptions peer;
    peer.threads = opt_.threads;
    peer.work_dir = work_dir();
    if (!opt_.peers_dir.empty()) peer.peers_dir = opt_.peers_dir;
    for (const auto& p : opt_.precisions) {
      if (p == "fp32") add("octet", p, [&] { return make_octet_runner(fp32_, "fp32"); });
      if (p == "int8") add("octet", p, [&] { return make_octet_runner(quantized_copy(true), "int8"); });
      if (p == "int8-sim") add("octet", p, [&] { return make_octet_runner(quantized_copy(false), "int8-sim"); });
    }
    if (wants(opt_.peers, "torch")) add("pytorch", "fp32", [&] { return make_torch_runner(opt_.model, "fp32", peer); });
    if (wants(opt_.peers, "torch-int8"))
      add("pytorch", "int8-dynamic", [&] { return make_torch_runner(opt_.model, "int8-dynamic", peer); });
    OnnxExportOptions onnx;
    if (wants(opt_.peers, "ort"))
      add("onnxruntime", "fp32", [&] {
        const auto path = work_dir() / "model-fp32.onnx";
        export_onnx(*fp32_, path, onnx);
        return make_ort_runner(path, "fp32", peer);
      });
    if (wants(opt_.peers, "ort-int8"))
      add("onnxruntime", "int8-qdq", [&] {
        const auto path = work_dir() / "model-int8-qdq.onnx";
        export_onnx(*fp32_, path, onnx, &plan_);
        return make_ort_runner(path, "int8-qdq", peer);
      });
  }

  void score(std::vector<BenchResult>& results) {
    for (size_t i = 0; i < runners_.size(); ++i) {
      BenchResult& r = results[i];
      if (!r.error.empty()) continue;
      try {
        r.accuracy = accuracy(batch_predictions(*data_, runner_logits(*runners_[i], *data_)), data_->labels);
      } catch (const std::exception& e) {
        r.details["accuracy_error"] = e.what();
      }
    }
  }

  void report(const std::vector<BenchResult>& results) {
    std::optional<double> torch_p50;
    for (const auto& r : results)
      if (r.framework == "pytorch" && r.precision == "fp32" && r.error.empty()) torch_p50 = r.latency.p50_ms;
    const auto env = bench_environment();
    const std::string hardware = fmt::format("{}, {} thr", env.at("cpu"), opt_.threads);
    if (opt_.json) {
      nlohmann::json rows = nlohmann::json::array();
      for (const auto& r : results) {
        nlohmann::json j{{"framework", r.framework}, {"precision", r.precision}};
        if (r.error.empty()) {
          j["samples"] = r.latency.samples;
          j["p50_ms"] = r.latency.p50_ms;
          j["p90_ms"] = r.latency.p90_ms;
          j["p99_ms"] = r.latency.p99_ms;
          j["mean_ms"] = r.latency.mean_ms;
          j["min_ms"] = r.latency.min_ms;
          j["max_ms"] = r.latency.max_ms;
          if (torch_p50) j["speedup_vs_pytorch_fp32"] = *torch_p50 / r.latency.p50_ms;
        } else {
          j["error"] = r.error;
        }
        if (r.accuracy) j["accuracy"] = *r.accuracy;
        if (!r.details.empty()) j["details"] = r.details;
        rows.push_back(j);
      }
      nlohmann::json out{{"model", opt_.model},     {"batch", opt_.batch},   {"seq", opt_.seq},
                         {"threads", opt_.threads}, {"warmup", opt_.warmup}, {"iters", opt_.iters},
                         {"rounds", opt_.rounds},   {"environment", env},    {"results", rows}};
      if (!calibration_.empty()) out["int8_calibration"] = calibration_;
      if (data_) out["data"] = {{"file", opt_.data}, {"examples", data_->size()}};
      print_json(out);
      return;
    }
    std::vector<TableRow> rows;
    for (const auto& r : results) {
      if (!r.error.empty()) {
        rows.push_back({r.framework, r.precision, "-", "-", "-", "-", hardware});
        continue;
      }
      rows.push_back({r.framework, r.precision, fmt_ms(r.latency.p50_ms), fmt_ms(r.latency.p99_ms),
                      r.accuracy ? fmt::format("{:.2f}%", 100 * *r.accuracy) : "-",
                      torch_p50 ? fmt::format("{:.2f}x", *torch_p50 / r.latency.p50_ms) : "-", hardware});
    }
    fmt::print("{} | batch {} x seq {} | {} threads | {} warmup + {} timed passes in {} rounds\n", opt_.model,
               opt_.batch, opt_.seq, opt_.threads, opt_.warmup, opt_.iters, opt_.rounds);
    print_table({"framework", "precision", "p50", "p99", "accuracy", "vs PyTorch fp32", "hardware"}, rows);
    for (const auto& r : results)
      if (!r.error.empty()) fmt::print(stderr, "octet: {} {} failed: {}\n", r.framework, r.precision, r.error);
    fmt::print("environment: OPENBLAS_CORETYPE={} OMP_WAIT_POLICY={} (peers get PASSIVE) isa={} load {}\n",
               env.at("OPENBLAS_CORETYPE"), env.at("OMP_WAIT_POLICY"), env.at("isa"),
               env.count("loadavg") ? env.at("loadavg") : "?");
    if (!calibration_.empty()) fmt::print("int8 activations: {}\n", calibration_);
    if (data_) fmt::print("accuracy: {} examples of {}\n", data_->size(), opt_.data);
  }

  BenchCommandOptions opt_;
  ModelInfo info_;
  std::shared_ptr<Model> fp32_;
  std::optional<TokenizedBatches> data_;
  QdqPlan plan_;
  std::string calibration_;
  std::vector<std::unique_ptr<BenchRunner>> runners_;
  std::vector<BenchResult> setup_errors_;
  std::filesystem::path work_dir_;
};

const CommandRegistration registration({
    "bench",
    "Latency and accuracy of octet and its peers (PyTorch, ONNX Runtime), side by side",
    [](CLI::App& sub) {
      auto opt = std::make_shared<BenchCommandOptions>();
      sub.add_option("model", opt->model, "Hugging Face model folder")->required();
      sub.add_option("--batch", opt->batch, "Batch size of the timed passes")->capture_default_str();
      sub.add_option("--seq", opt->seq, "Sequence length of the timed passes")->capture_default_str();
      sub.add_option("--threads", opt->threads, "Threads for octet and every peer")->capture_default_str();
      sub.add_option("--warmup", opt->warmup, "Untimed passes per runner")->capture_default_str();
      sub.add_option("--iters", opt->iters, "Timed passes per runner")->capture_default_str();
      sub.add_option("--rounds", opt->rounds, "Turns the runners take (interleaving)")->capture_default_str();
      sub.add_option("--precision", opt->precisions, "octet precisions: fp32, int8, int8-sim")
          ->delimiter(',')
          ->capture_default_str();
      sub.add_option("--peers", opt->peers, "Peers: torch, torch-int8, ort, ort-int8 (none: --peers '')")
          ->delimiter(',')
          ->capture_default_str();
      sub.add_option("--data", opt->data, "TSV file for the accuracy column");
      sub.add_option("--limit", opt->limit, "Use the first N examples of --data");
      sub.add_option("--eval-batch", opt->eval_batch, "Batch size of the accuracy passes")->capture_default_str();
      sub.add_option("--calib", opt->calib, "TSV file whose texts calibrate int8 activations");
      sub.add_option("--calib-samples", opt->calib_samples, "Calibration texts (or random rows)")
          ->capture_default_str();
      sub.add_option("--work-dir", opt->work_dir, "Where ONNX exports and peer files go (default: a temp dir)");
      sub.add_option("--peers-dir", opt->peers_dir, "bench/peers (default: found from the executable)");
      sub.add_flag("--json", opt->json, "Print JSON");
      sub.add_option_function<std::string>(
          "--log-level", [](const std::string& level) { set_log_level(parse_log_level(level)); },
          "error, warn, info or debug");
      sub.callback([opt] { BenchCommand(*opt).run(); });
    },
});

}  // namespace
}  // namespace octet::cli
