// `octet bench MODEL`: latency (and accuracy) of octet and its peers, one run.
//
//   octet bench MODEL [--batch 8] [--seq 128] [--threads 2] [--warmup 5] [--iters 20] [--rounds 4]
//                     [--precision fp32,int8[,bf16,int8-sim]] [--peers torch,torch-int8,ort,ort-int8]
//                     [--data dev.tsv [--limit N]] [--calib train.tsv [--calib-samples 128]]
//                     [--recipe int8|int8-dynamic] [--calibrator NAME] [--quantize-attention] [--json]
//
// octet runs in process; PyTorch (bench/peers/torch_bert.py) and ONNX Runtime
// (bench/peers/ort_run.js, on octet's own fp32 / QDQ export) run as subprocesses
// that keep their model loaded, and all take turns in rounds (octet/bench.h).
// octet int8 is octet's quantized model (octet/quantize_model.h) run natively;
// ORT int8-qdq runs the QDQ export of the very same quantization; octet bf16
// runs the fp32 weights on the bf16 GEMM and octet fp32 packs them once for
// its AVX-512 GEMM (octet/precision.h). MODEL is an
// fp32 Hugging Face folder (quantized here: --calib texts, else random token
// ids) or a folder written by `octet quantize` (its fp32 row and the PyTorch
// peers then run its dequantized weights).
//
// --device cuda[:N]: octet runs on the GPU (CudaEncoder, octet/cuda_encoder.h)
// in --precision fp16,int8,fp8 (int8: the quantized folder's codes and
// scales, or the recipe calibrated here on the CPU), each pass synchronised;
// the peers are PyTorch on the same GPU in fp16, eager ("torch") and
// torch.compile ("torch-compile"), run by --python (default python3 there).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "command.h"
#include "cuda_device.h"
#include "octet/cuda_encoder.h"
#include "octet/device.h"
#include "octet/bench.h"
#include "octet/error.h"
#include "octet/eval.h"
#include "octet/export_onnx.h"
#include "octet/log.h"
#include "octet/model.h"
#include "octet/precision.h"
#include "octet/quantize_model.h"
#include "octet/quantized_model.h"
#include "octet/safetensors.h"
#include "octet/thread_pool.h"
#include "octet/tokenizer.h"
#include "output.h"

namespace octet::cli::bench_command {
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
  std::string recipe = "int8";
  std::string calibrator;  // empty: the recipe's
  bool quantize_attention = false;  // int8: attention q, k, v and probabilities too (recipe attention sites)
  std::string work_dir;
  std::string peers_dir;
  std::string device = "cpu";
  std::string python;  // empty: /usr/bin/python3 on the CPU, python3 with --device cuda
  bool precisions_given = false, peers_given = false;
  bool json = false;
  bool profile = false;  // CUDA: per-op time split of each octet runner
};

const std::set<std::string> kOctetPrecisions{"fp32", "bf16", "int8", "int8-sim"};
const std::set<std::string> kPeers{"torch", "torch-int8", "ort", "ort-int8"};
const std::set<std::string> kCudaPrecisions{"fp16", "int8", "fp8"};
const std::set<std::string> kCudaPeers{"torch", "torch-compile"};

// octet's CUDA runner: prepare() uploads the inputs once; each timed pass
// runs the network (a CUDA graph replay after the first passes) and waits.
class CudaBenchRunner final : public BenchRunner {
 public:
  CudaBenchRunner(std::unique_ptr<CudaEncoder> encoder, std::string device_name, bool profile)
      : encoder_(std::move(encoder)), device_name_(std::move(device_name)), profile_(profile) {}
  std::string framework() const override { return "octet"; }
  std::string precision() const override { return encoder_->precision(); }
  void set_inputs(const ModelInputs& inputs) override { encoder_->prepare(inputs); }
  std::vector<double> time(int64_t iters) override {
    std::vector<double> ms;
    for (int64_t i = 0; i < iters; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      encoder_->run_prepared();  // returns after the GPU has finished
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    return ms;
  }
  Tensor logits(const ModelInputs& batch) override {
    const NamedTensors out = encoder_->forward(batch);
    check(out.count("logits"), "bench", "octet cuda {}: the model gives no logits", precision());
    return out.at("logits");
  }
  std::map<std::string, std::string> details() const override {
    std::map<std::string, std::string> d{{"device", device_name_}};
    for (size_t i = 0; i < encoder_->notes().size(); ++i) d[fmt::format("note{}", i)] = encoder_->notes()[i];
    // --profile: where an eager pass's time goes, per op kind (ms per pass),
    // on the inputs the timed passes used.
    if (profile_ && ops_.empty()) {
      try {
        ops_ = encoder_->profile(3);
      } catch (const Error& e) {
        d["profile_error"] = e.what();
      }
    }
    for (size_t i = 0; i < ops_.size(); ++i)
      d[fmt::format("profile{:02d}.{}_ms", i, ops_[i].first)] = fmt::format("{:.3f}", ops_[i].second);
    return d;
  }

 private:
  std::unique_ptr<CudaEncoder> encoder_;
  std::string device_name_;
  bool profile_ = false;
  mutable std::vector<std::pair<std::string, double>> ops_;
};

std::string fmt_ms(double ms) { return fmt::format("{:.1f} ms", ms); }

struct Row {
  BenchResult result;
  std::optional<double> speedup;
};

class BenchCommand {
 public:
  explicit BenchCommand(BenchCommandOptions opt) : opt_(std::move(opt)) {}
  BenchCommand(const BenchCommand&) = delete;
  BenchCommand& operator=(const BenchCommand&) = delete;
  // The default work dir (ONNX exports, a dequantized copy: hundreds of MB for BERT-base) is
  // this run's alone: removed at the end, after the peers that read it have stopped. A
  // --work-dir the user named stays.
  ~BenchCommand() {
    runners_.clear();
    if (opt_.work_dir.empty() && !work_dir_.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(work_dir_, ignored);
    }
  }

  void run() {
    validate();
    if (cuda()) require_device(device_);  // before any file is read
    set_num_threads(opt_.threads);
    quantized_input_ = is_quantized_model(opt_.model);
    // fp32: the model itself, or a quantized folder's dequantized weights with the quantization removed.
    std::unique_ptr<Model> loaded = quantized_input_ ? load_model_for_execution(opt_.model, QuantExecution::Simulated)
                                                     : load_model(opt_.model, kLoadFloatWeights);
    if (quantized_input_) clear_quantization(*loaded);
    info_ = loaded->info();
    fp32_ = std::shared_ptr<Model>(std::move(loaded));
    const ModelInputs inputs = random_bench_inputs(info_, opt_.batch, opt_.seq);
    if (!opt_.data.empty()) load_data();
    if (needs_quantization()) make_quantization();
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
    device_ = parse_device(opt_.device);
    check(!opt_.profile || cuda(), "bench", "--profile splits a CUDA pass by op: it needs --device cuda");
    if (cuda()) {
      if (!opt_.precisions_given) opt_.precisions = {"fp16", "int8"};
      if (!opt_.peers_given) opt_.peers = {"torch"};
      for (const auto& p : opt_.precisions)
        check(kCudaPrecisions.contains(p), "bench", "unknown --precision '{}' with --device cuda (fp16, int8, fp8)", p);
      for (const auto& p : opt_.peers)
        check(kCudaPeers.contains(p), "bench", "peer '{}' with --device cuda: the GPU peers are torch, torch-compile",
              p);
    } else {
      for (const auto& p : opt_.precisions)
        check(kOctetPrecisions.contains(p), "bench", "unknown --precision '{}' (fp32, bf16, int8, int8-sim)", p);
      for (const auto& p : opt_.peers)
        check(kPeers.contains(p), "bench", "unknown peer '{}' (torch, torch-int8, ort, ort-int8)", p);
    }
    check(opt_.limit >= 0 && opt_.calib_samples > 0 && opt_.eval_batch > 0, "bench",
          "--limit must be >= 0, --calib-samples and --eval-batch > 0");
  }

  bool cuda() const { return device_.kind == DeviceKind::CUDA; }

  bool wants(const std::vector<std::string>& list, const std::string& x) const {
    return std::find(list.begin(), list.end(), x) != list.end();
  }
  bool needs_quantization() const {
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

  // The quantization octet int8 runs and ORT's QDQ graph holds: a quantized
  // folder's own, or octet quantize's recipe calibrated here.
  void make_quantization() {
    if (quantized_input_) {
      check(!opt_.quantize_attention, "bench",
            "--quantize-attention applies to the recipe bench calibrates; {} is quantized already (octet quantize "
            "--quantize-attention makes such a folder)",
            opt_.model);
      config_ = read_quantization_config(opt_.model);
      quantization_ = fmt::format("{} ({}) from {}", config_.recipe, config_.calibrator, opt_.model);
      return;
    }
    QuantizeOptions qo;
    qo.recipe = recipe_preset(opt_.recipe);
    if (!opt_.calibrator.empty()) qo.recipe.calibrator = opt_.calibrator;
    qo.recipe.attention_sites = opt_.quantize_attention;
    qo.progress = false;
    std::vector<ModelInputs> batches;
    if (!qo.recipe.dynamic && !opt_.calib.empty()) {
      CalibrationTextOptions co;
      co.samples = opt_.calib_samples;
      const CalibrationTexts texts = read_calibration_texts(opt_.calib, co);
      batches = make_calibration_batches(*fp32_, Tokenizer::load(tokenizer_folder()), texts.texts, 16);
      qo.calibration_source = opt_.calib;
      quantization_ = fmt::format("{} ({}) calibrated on {} texts of {}", qo.recipe.name, calibrator_label(qo.recipe),
                                  texts.texts.size(), opt_.calib);
    } else if (!qo.recipe.dynamic) {
      for (int64_t done = 0, i = 0; done < opt_.calib_samples; done += opt_.batch, ++i)
        batches.push_back(random_bench_inputs(info_, std::min(opt_.batch, opt_.calib_samples - done), opt_.seq,
                                              uint64_t(1000 + i)));
      quantization_ = fmt::format("{} ({}) calibrated on {} random-id rows of length {}", qo.recipe.name,
                                  calibrator_label(qo.recipe), opt_.calib_samples, opt_.seq);
    } else {
      quantization_ = qo.recipe.name + " (activations per token at run time)";
    }
    if (opt_.quantize_attention) quantization_ += ", attention q, k, v and probabilities int8";
    config_ = quantize_model(*fp32_, batches, qo);
  }

  void add(const std::string& framework, const std::string& precision,
           const std::function<std::unique_ptr<BenchRunner>()>& make) {
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

  // The fp32 model again (a quantized folder: dequantized) as the CPU
  // precision runs it (octet/precision.h: fp32 weights packed once, or bf16),
  // apart from fp32_, which calibration and the exports use.
  std::shared_ptr<Model> precision_copy(const std::string& precision) {
    std::unique_ptr<Model> m =
        quantized_input_ ? load_model_for_execution(opt_.model, QuantExecution::Simulated) : load_model(opt_.model, kLoadFloatWeights);
    if (quantized_input_) clear_quantization(*m);
    apply_cpu_precision(*m, precision);
    return std::shared_ptr<Model>(m.release());
  }

  std::shared_ptr<Model> quantized_copy(QuantExecution exec) {
    if (quantized_input_) return std::shared_ptr<Model>(load_model_for_execution(opt_.model, exec).release());
    std::shared_ptr<Model> m(load_model(opt_.model, kLoadFloatWeights).release());
    apply_quantization(*m, config_, exec);
    return m;
  }

  // The Hugging Face folder the PyTorch peer reads: MODEL, or for a quantized
  // folder a copy of its config.json with the dequantized fp32 weights.
  std::filesystem::path fp32_folder() {
    if (!quantized_input_) return opt_.model;
    const auto dir = work_dir() / "fp32-dequantized";
    std::filesystem::create_directories(dir);
    std::filesystem::copy_file(std::filesystem::path(opt_.model) / "config.json", dir / "config.json",
                               std::filesystem::copy_options::overwrite_existing);
    save_safetensors(dir / "model.safetensors", fp32_->parameters());
    return dir;
  }

  void make_runners() {
    PeerOptions peer;
    peer.threads = opt_.threads;
    peer.python = !opt_.python.empty() ? opt_.python : cuda() ? "python3" : peer.python;
    peer.work_dir = work_dir();
    if (!opt_.peers_dir.empty()) peer.peers_dir = opt_.peers_dir;
    if (cuda()) return make_cuda_runners(peer);
    for (const auto& p : opt_.precisions) {
      if (p == "fp32" || p == "bf16") add("octet", p, [&] { return make_octet_runner(precision_copy(p), p); });
      if (p == "int8")
        add("octet", p, [&] { return make_octet_runner(quantized_copy(QuantExecution::Native), "int8"); });
      if (p == "int8-sim")
        add("octet", p, [&] { return make_octet_runner(quantized_copy(QuantExecution::Simulated), "int8-sim"); });
    }
    std::filesystem::path torch_model;
    auto torch_folder = [&] {
      if (torch_model.empty()) torch_model = fp32_folder();
      return torch_model;
    };
    if (wants(opt_.peers, "torch"))
      add("pytorch", "fp32", [&] { return make_torch_runner(torch_folder(), "fp32", peer); });
    if (wants(opt_.peers, "torch-int8"))
      add("pytorch", "int8-dynamic", [&] { return make_torch_runner(torch_folder(), "int8-dynamic", peer); });
    OnnxExportOptions onnx;
    if (wants(opt_.peers, "ort"))
      add("onnxruntime", "fp32", [&] {
        const auto path = work_dir() / "model-fp32.onnx";
        export_onnx(*fp32_, path, onnx);
        return make_ort_runner(path, "fp32", peer);
      });
    if (wants(opt_.peers, "ort-int8"))
      add("onnxruntime", "int8-qdq", [&] {
        const QdqPlan plan = qdq_plan_from_quantization(config_);
        const auto path = work_dir() / "model-int8-qdq.onnx";
        export_onnx(*fp32_, path, onnx, &plan);
        return make_ort_runner(path, "int8-qdq", peer);
      });
  }

  void make_cuda_runners(const PeerOptions& peer) {
    const CudaStatus status = cuda_status();
    const std::string name =
        size_t(device_.index) < status.devices.size() ? status.devices[size_t(device_.index)] : to_string(device_);
    for (const auto& p : opt_.precisions)
      add("octet", p, [&] {
        CudaEncoderOptions o;
        o.precision = p;
        o.device = device_.index;
        // int8 needs the recipe (a folder's, or calibrated here); fp8 uses a folder's static fp8 scales if any.
        const QuantizationConfig* q = needs_quantization() ? &config_ : nullptr;
        return std::make_unique<CudaBenchRunner>(CudaEncoder::create(*fp32_, q, o), name, opt_.profile);
      });
    std::filesystem::path torch_model;
    auto torch_folder = [&] {
      if (torch_model.empty()) torch_model = fp32_folder();
      return torch_model;
    };
    if (wants(opt_.peers, "torch"))
      add("pytorch", "fp16-cuda", [&] { return make_torch_runner(torch_folder(), "fp16-cuda", peer); });
    if (wants(opt_.peers, "torch-compile"))
      add("pytorch", "fp16-cuda-compile",
          [&] { return make_torch_runner(torch_folder(), "fp16-cuda-compile", peer); });
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
    // The baseline: PyTorch fp32 on the CPU, PyTorch fp16 eager on the GPU.
    const std::string baseline = cuda() ? "fp16-cuda" : "fp32";
    const std::string speedup_key = cuda() ? "speedup_vs_pytorch_fp16" : "speedup_vs_pytorch_fp32";
    std::optional<double> torch_p50;
    for (const auto& r : results)
      if (r.framework == "pytorch" && r.precision == baseline && r.error.empty()) torch_p50 = r.latency.p50_ms;
    auto env = bench_environment();
    std::string hardware = fmt::format("{}, {} thr", env.at("cpu"), opt_.threads);
    if (cuda()) {
      const CudaStatus status = cuda_status();
      hardware = size_t(device_.index) < status.devices.size() ? status.devices[size_t(device_.index)]
                                                               : to_string(device_);
      env["device"] = to_string(device_);
      env["gpu"] = hardware;
      env["cuda_driver"] = status.driver;
    }
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
          if (torch_p50) j[speedup_key] = *torch_p50 / r.latency.p50_ms;
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
      if (!quantization_.empty()) out["int8_quantization"] = quantization_;
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
    print_table({"framework", "precision", "p50", "p99", "accuracy", cuda() ? "vs PyTorch fp16" : "vs PyTorch fp32",
                 "hardware"},
                rows);
    for (const auto& r : results)
      if (!r.error.empty()) fmt::print(stderr, "octet: {} {} failed: {}\n", r.framework, r.precision, r.error);
    fmt::print("environment: OPENBLAS_CORETYPE={} OMP_WAIT_POLICY={} (peers get PASSIVE) isa={} load {}\n",
               env.at("OPENBLAS_CORETYPE"), env.at("OMP_WAIT_POLICY"), env.at("isa"),
               env.count("loadavg") ? env.at("loadavg") : "?");
    if (!quantization_.empty()) fmt::print("int8: {}\n", quantization_);
    if (data_) fmt::print("accuracy: {} examples of {}\n", data_->size(), opt_.data);
  }

  BenchCommandOptions opt_;
  Device device_;
  ModelInfo info_;
  std::shared_ptr<Model> fp32_;
  std::optional<TokenizedBatches> data_;
  bool quantized_input_ = false;
  QuantizationConfig config_;
  std::string quantization_;
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
      auto* precisions =
          sub.add_option("--precision", opt->precisions,
                         "octet precisions: fp32, bf16, int8, int8-sim (CPU); fp16, int8, fp8 (CUDA, default fp16,int8)")
              ->delimiter(',')
              ->capture_default_str();
      auto* peers = sub.add_option("--peers", opt->peers,
                                   "Peers: torch, torch-int8, ort, ort-int8 (CPU); torch, torch-compile (CUDA, "
                                   "default torch); none: --peers ''")
                        ->delimiter(',')
                        ->capture_default_str();
      sub.add_option("--device", opt->device, "Where octet and the peers run: cpu, cuda or cuda:N")
          ->capture_default_str();
      sub.add_option("--python", opt->python,
                     "Python for the PyTorch peers (default /usr/bin/python3 on the CPU, python3 with --device cuda)");
      sub.add_option("--data", opt->data, "TSV file for the accuracy column");
      sub.add_option("--limit", opt->limit, "Use the first N examples of --data");
      sub.add_option("--eval-batch", opt->eval_batch, "Batch size of the accuracy passes")->capture_default_str();
      sub.add_option("--calib", opt->calib, "TSV file whose texts calibrate int8 activations");
      sub.add_option("--calib-samples", opt->calib_samples, "Calibration texts (or random rows)")
          ->capture_default_str();
      sub.add_option("--recipe", opt->recipe, "octet quantize recipe for int8: int8 | int8-dynamic")
          ->capture_default_str();
      sub.add_option("--calibrator", opt->calibrator, "minmax | ema | percentile | entropy | mse (default: the recipe's)");
      sub.add_flag("--quantize-attention", opt->quantize_attention,
                   "int8: also quantize attention q, k, v and probabilities (int8 Q K^T and P V natively)");
      sub.add_option("--work-dir", opt->work_dir,
                     "Where ONNX exports and peer files go, kept after the run (default: a temp dir, removed)");
      sub.add_option("--peers-dir", opt->peers_dir, "bench/peers (default: found from the executable)");
      sub.add_flag("--json", opt->json, "Print JSON");
      sub.add_flag("--profile", opt->profile,
                   "With --device cuda: time each op kind of an eager pass (GEMMs, attention, norms, quantize) "
                   "and report the split in each octet runner's details");
      sub.add_option_function<std::string>(
          "--log-level", [](const std::string& level) { set_log_level(parse_log_level(level)); },
          "error, warn, info or debug");
      sub.callback([opt, precisions, peers] {
        opt->precisions_given = precisions->count() > 0;
        opt->peers_given = peers->count() > 0;
        BenchCommand(*opt).run();
      });
    },
});

}  // namespace
}  // namespace octet::cli::bench_command
