// End-to-end latency benchmarks of a model, octet and its peers in one run.
//
// A BenchRunner is one (framework, precision) pair: octet in process, or a
// peer (PyTorch, ONNX Runtime) in a subprocess that keeps its model loaded
// and answers requests on a pipe (bench/peers/*, "serve" mode). The harness
// warms every runner up, then runs the timed iterations in rounds, each round
// visiting every runner in a rotated order, so slow phases of a shared
// machine's load fall on all sides alike. Errors are octet::Error tagged "bench".
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "octet/eval.h"
#include "octet/export_onnx.h"
#include "octet/model.h"
#include "octet/tensor.h"

namespace octet {

class Tokenizer;

// ---- inputs ------------------------------------------------------------------

// Random token ids (seeded; ids >= 1000 when the vocabulary is larger than
// 2000, so no special tokens), a full attention mask, zero token types.
ModelInputs random_bench_inputs(const ModelInfo& info, int64_t batch, int64_t seq, uint64_t seed = 0);

// A classification dataset tokenized as `octet eval` does (encode_inputs per
// text), sorted by length and right-padded into batches; what every runner
// gets for the accuracy column. `data.labels` may be empty (calibration texts).
struct TokenizedBatches {
  std::vector<ModelInputs> batches;
  std::vector<std::vector<int64_t>> rows;  // dataset index of each row of each batch
  std::vector<int64_t> labels;             // class ids, dataset order (-1 when the data has no labels)
  int64_t size() const { return int64_t(labels.size()); }
};
TokenizedBatches tokenize_batches(const Model& model, const Tokenizer& tokenizer, const ClassificationDataset& data,
                                  int64_t batch_size, std::optional<int64_t> limit = std::nullopt);

// Predictions (argmax, the first on ties) in dataset order from one logits
// tensor [rows, classes] per batch.
std::vector<int64_t> batch_predictions(const TokenizedBatches& data, const std::vector<Tensor>& logits);
double accuracy(const std::vector<int64_t>& predictions, const std::vector<int64_t>& labels);

// ---- latency -----------------------------------------------------------------

struct LatencyStats {
  int64_t samples = 0;
  double p50_ms = 0, p90_ms = 0, p99_ms = 0, mean_ms = 0, min_ms = 0, max_ms = 0;
};
// Percentiles interpolate linearly between order statistics (numpy's default).
LatencyStats latency_stats(std::vector<double> ms);

// ---- runners -----------------------------------------------------------------

class BenchRunner {
 public:
  virtual ~BenchRunner() = default;
  virtual std::string framework() const = 0;  // "octet", "pytorch", "onnxruntime"
  virtual std::string precision() const = 0;  // "fp32", "int8", "int8-dynamic", "int8-qdq", ...
  // Sets the inputs the timed passes use.
  virtual void set_inputs(const ModelInputs& inputs) = 0;
  // `iters` forward passes on those inputs; the wall time of each, in ms.
  virtual std::vector<double> time(int64_t iters) = 0;
  // Logits of one batch (accuracy).
  virtual Tensor logits(const ModelInputs& batch) = 0;
  // What the runner reports about itself (versions, thread settings).
  virtual std::map<std::string, std::string> details() const { return {}; }
};

// The runner's logits for every batch of `data` (one logits() call each).
std::vector<Tensor> runner_logits(BenchRunner& runner, const TokenizedBatches& data);

// octet in process; `model` runs as configured (fp32, or with quantized kernels installed).
std::unique_ptr<BenchRunner> make_octet_runner(std::shared_ptr<const Model> model, std::string precision);

struct PeerOptions {
  int threads = 1;
  std::filesystem::path peers_dir;      // bench/peers; empty: find_peers_dir()
  std::filesystem::path work_dir;       // scratch files (inputs, outputs); empty: a temp dir
  std::string python = "/usr/bin/python3";
  std::string node = "node";
};

// bench/peers next to the source tree: $OCTET_PEERS_DIR, else searched upward
// from the running executable and from the current directory.
std::filesystem::path find_peers_dir();

// PyTorch 1.13 (bench/peers/torch_bert.py serve) on a Hugging Face folder:
// fp32, or torch.quantization.quantize_dynamic int8 ("int8-dynamic").
// Started with OMP_WAIT_POLICY=PASSIVE, OPENBLAS_NUM_THREADS and OMP_NUM_THREADS = threads.
std::unique_ptr<BenchRunner> make_torch_runner(const std::filesystem::path& model_dir, const std::string& precision,
                                               const PeerOptions& options);
// ONNX Runtime CPU (bench/peers/ort_run.js serve) on an .onnx file; `precision` labels it.
std::unique_ptr<BenchRunner> make_ort_runner(const std::filesystem::path& onnx_model, const std::string& precision,
                                             const PeerOptions& options);

// ---- the harness -------------------------------------------------------------

struct BenchOptions {
  int64_t warmup = 5;     // untimed passes per runner before the first round
  int64_t iters = 20;     // timed passes per runner, split over the rounds
  int64_t rounds = 4;     // the runners take turns this many times
  double pause_ms = 50;   // idle time between turns, so a peer's spinning threads go to sleep
};

struct BenchResult {
  std::string framework, precision;
  LatencyStats latency;
  std::optional<double> accuracy;  // when a dataset was given and the runner could score it
  std::string error;               // why the runner failed (latency / accuracy then unset)
  std::map<std::string, std::string> details;
};

// Times every runner on `inputs` (warmup, then interleaved rounds). A runner
// that throws gets its error recorded and is dropped from later rounds.
std::vector<BenchResult> run_benchmark(const std::vector<BenchRunner*>& runners, const ModelInputs& inputs,
                                       const BenchOptions& options);

// The machine and settings a result belongs to: CPU brand and ISA, threads,
// OPENBLAS_CORETYPE / OMP_WAIT_POLICY / OPENBLAS_NUM_THREADS, load average.
std::map<std::string, std::string> bench_environment();

}  // namespace octet
