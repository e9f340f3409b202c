// Peer runners (PyTorch, ONNX Runtime in serve mode) and `octet bench` end to end.
//
// Bounds: the PyTorch peer and ORT run fp32 on the same tokenized inputs as
// octet; tests/export/fp32_export_test.cc derives <= 1e-3 for sst2-bert-mini
// (measured ~1e-6), which holds for PyTorch as well (same f32 ops, different
// GEMM order; tests/onnx/torch_peer_test.cc checks it against HF at 1e-4).
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdio>

#include <nlohmann/json.hpp>

#include "octet/bench.h"
#include "octet/error.h"
#include "octet/export_onnx.h"
#include "octet/tokenizer.h"
#include "support/shared_data.h"

namespace octet::testing {
namespace {

constexpr double kFp32PeerBound = 1e-3;

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

struct Shell {
  int code;
  std::string out;
};
Shell shell(const std::string& cmd) {
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  Shell r{-1, ""};
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int st = ::pclose(p);
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  double m = 0;
  for (int64_t i = 0; i < a.numel(); ++i)
    m = std::max(m, double(std::fabs(a.data<float>()[i] - b.data<float>()[i])));
  return m;
}

PeerOptions peer_options(const std::filesystem::path& dir) {
  PeerOptions p;
  p.threads = 1;
  p.peers_dir = source_root() / "bench" / "peers";
  p.work_dir = dir;
  return p;
}

TEST(PeerRunners, TorchAndOrtGiveOctetsLogitsAndTimings) {
  const auto dir = temp_dir();
  const auto model_dir = source_root() / "models" / "sst2-bert-mini";
  std::shared_ptr<Model> model(load_model(model_dir).release());
  const Tokenizer tokenizer = Tokenizer::load(model_dir);
  const TokenizedBatches data =
      tokenize_batches(*model, tokenizer, load_tsv_dataset(source_root() / "data" / "sst2" / "dev.tsv"), 16, 48);
  export_onnx(*model, dir / "sst2.onnx");
  auto octet = make_octet_runner(model, "fp32");
  auto torch = make_torch_runner(model_dir, "fp32", peer_options(dir));
  auto ort = make_ort_runner(dir / "sst2.onnx", "fp32", peer_options(dir));
  EXPECT_EQ(torch->framework(), "pytorch");
  EXPECT_EQ(ort->framework(), "onnxruntime");
  EXPECT_EQ(torch->details().at("omp_wait_policy"), "PASSIVE");
  EXPECT_EQ(torch->details().at("openblas_num_threads"), "1");
  const auto expected = runner_logits(*octet, data);
  for (BenchRunner* peer : {torch.get(), ort.get()}) {
    const auto got = runner_logits(*peer, data);
    ASSERT_EQ(got.size(), expected.size());
    for (size_t b = 0; b < got.size(); ++b) EXPECT_LE(max_abs_diff(got[b], expected[b]), kFp32PeerBound) << peer->framework();
    peer->set_inputs(data.batches[0]);
    const auto ms = peer->time(3);
    ASSERT_EQ(ms.size(), 3u);
    for (double t : ms) EXPECT_GT(t, 0);
  }
  // The int8-dynamic peer runs and stays close to fp32 in predictions.
  auto torch_int8 = make_torch_runner(model_dir, "int8-dynamic", peer_options(dir));
  const auto q = batch_predictions(data, runner_logits(*torch_int8, data));
  const auto f = batch_predictions(data, expected);
  int64_t same = 0;
  for (size_t i = 0; i < q.size(); ++i) same += q[i] == f[i];
  EXPECT_GE(same, int64_t(q.size()) - 3);
}

TEST(PeerRunners, FailuresAreErrorsWithTheirCause) {
  const auto dir = temp_dir();
  try {
    make_torch_runner(dir / "no-such-model", "fp32", peer_options(dir));
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no-such-model"), std::string::npos) << e.what();
  }
  {
    std::FILE* f = std::fopen((dir / "garbage.onnx").c_str(), "w");
    std::fputs("not a model", f);
    std::fclose(f);
  }
  EXPECT_THROW(make_ort_runner(dir / "garbage.onnx", "fp32", peer_options(dir)), Error);
  PeerOptions bad_python = peer_options(dir);
  bad_python.python = "/no/such/python3";
  EXPECT_THROW(make_torch_runner(source_root() / "models" / "sst2-bert-mini", "fp32", bad_python), Error);
  EXPECT_THROW(make_torch_runner(source_root() / "models" / "sst2-bert-mini", "fp16", peer_options(dir)), Error);
  // A runner asked to time before it has inputs answers with an error, and stays usable.
  auto ort_ok = [&] {
    const auto model = load_model(shared_path("fixtures/hf/bert"));
    export_onnx(*model, dir / "bert.onnx");
    return make_ort_runner(dir / "bert.onnx", "fp32", peer_options(dir));
  }();
  try {
    ort_ok->time(1);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no inputs loaded"), std::string::npos) << e.what();
  }
  ModelInfo info;
  info.vocab_size = 512;
  ort_ok->set_inputs(random_bench_inputs(info, 1, 4));
  EXPECT_EQ(ort_ok->time(2).size(), 2u);
}

TEST(PeerRunners, FindsThePeersDirectory) {
  const auto found = find_peers_dir();
  EXPECT_TRUE(std::filesystem::exists(found / "ort_run.js"));
  EXPECT_TRUE(std::filesystem::exists(found / "torch_bert.py"));
}

// `octet bench` with every runner on the small model: JSON fields, accuracy, speedups.
TEST(BenchCli, JsonRunWithPeersAndAccuracy) {
  const auto dir = temp_dir();
  const auto model_dir = source_root() / "models" / "sst2-bert-mini";
  const std::string cmd =
      std::string(OCTET_CLI_PATH) + " bench " + quote(model_dir.string()) +
      " --batch 2 --seq 16 --threads 1 --warmup 1 --iters 4 --rounds 2 --precision fp32,int8-sim,int8"
      " --peers torch,torch-int8,ort,ort-int8 --data " + quote((source_root() / "data/sst2/dev.tsv").string()) +
      " --limit 64 --calib " + quote((source_root() / "data/sst2/train.tsv").string()) +
      " --calib-samples 32 --work-dir " + quote(dir.string()) + " --json";
  const Shell r = shell(cmd);
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out.substr(r.out.find('{')));
  EXPECT_EQ(j["batch"], 2);
  EXPECT_EQ(j["seq"], 16);
  EXPECT_EQ(j["threads"], 1);
  EXPECT_EQ(j["data"]["examples"], 64);
  EXPECT_TRUE(j["environment"].contains("OPENBLAS_CORETYPE"));
  EXPECT_NE(std::string(j["int8_quantization"]).find("32 texts of"), std::string::npos) << j.dump();
  std::map<std::string, nlohmann::json> rows;
  for (const auto& row : j["results"]) rows[std::string(row["framework"]) + "/" + std::string(row["precision"])] = row;
  for (const char* key : {"octet/fp32", "octet/int8-sim", "pytorch/fp32", "pytorch/int8-dynamic", "onnxruntime/fp32",
                          "onnxruntime/int8-qdq"}) {
    ASSERT_TRUE(rows.contains(key)) << key << "\n" << r.out;
    const auto& row = rows[key];
    ASSERT_FALSE(row.contains("error")) << row.dump();
    EXPECT_EQ(row["samples"], 4) << key;
    EXPECT_LE(row["min_ms"].get<double>(), row["p50_ms"].get<double>());
    EXPECT_LE(row["p50_ms"].get<double>(), row["p99_ms"].get<double>());
    EXPECT_NEAR(row["speedup_vs_pytorch_fp32"].get<double>(),
                rows["pytorch/fp32"]["p50_ms"].get<double>() / row["p50_ms"].get<double>(), 1e-9);
    ASSERT_TRUE(row.contains("accuracy")) << row.dump();
  }
  EXPECT_DOUBLE_EQ(rows["pytorch/fp32"]["speedup_vs_pytorch_fp32"].get<double>(), 1.0);
  // fp32 everywhere: the same predictions on the same inputs, so the same accuracy.
  EXPECT_EQ(rows["octet/fp32"]["accuracy"], rows["pytorch/fp32"]["accuracy"]);
  EXPECT_EQ(rows["octet/fp32"]["accuracy"], rows["onnxruntime/fp32"]["accuracy"]);
  // The same QDQ plan in octet's simulation and ORT.
  EXPECT_NEAR(rows["octet/int8-sim"]["accuracy"].get<double>(), rows["onnxruntime/int8-qdq"]["accuracy"].get<double>(),
              2.0 / 64);
  // Native int8 (octet's quantized model) runs the plan ORT runs: the same predictions up to a flip or two.
  ASSERT_TRUE(rows.contains("octet/int8"));
  ASSERT_FALSE(rows["octet/int8"].contains("error")) << rows["octet/int8"].dump();
  EXPECT_NEAR(rows["octet/int8"]["accuracy"].get<double>(), rows["onnxruntime/int8-qdq"]["accuracy"].get<double>(),
              2.0 / 64);
}

// A folder written by `octet quantize` benchmarks like any model: int8 from its
// own quantization, fp32 and the PyTorch peer on its dequantized weights.
TEST(BenchCli, QuantizedFolderAsModel) {
  const auto dir = temp_dir();
  const auto model_dir = source_root() / "models" / "sst2-bert-mini";
  const auto quantized = dir / "sst2-int8";
  const Shell q = shell(std::string(OCTET_CLI_PATH) + " quantize " + quote(model_dir.string()) + " -o " +
                        quote(quantized.string()) + " --calib " +
                        quote((source_root() / "data/sst2/train.tsv").string()) + " --samples 32");
  ASSERT_EQ(q.code, 0) << q.out;
  const Shell r = shell(std::string(OCTET_CLI_PATH) + " bench " + quote(quantized.string()) +
                        " --batch 2 --seq 16 --threads 1 --warmup 0 --iters 2 --rounds 1 --precision fp32,int8"
                        " --peers torch,ort-int8 --work-dir " + quote((dir / "work").string()) + " --json");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out.substr(r.out.find('{')));
  EXPECT_NE(std::string(j["int8_quantization"]).find(quantized.string()), std::string::npos) << j.dump();
  ASSERT_EQ(j["results"].size(), 4u);
  for (const auto& row : j["results"]) EXPECT_FALSE(row.contains("error")) << row.dump();
  EXPECT_TRUE(std::filesystem::exists(dir / "work" / "fp32-dequantized" / "model.safetensors"));
  // The folder's recipe is fixed: attention sites are chosen when quantizing, not here.
  const Shell refused = shell(std::string(OCTET_CLI_PATH) + " bench " + quote(quantized.string()) +
                              " --peers '' --iters 1 --quantize-attention");
  EXPECT_NE(refused.code, 0);
  EXPECT_NE(refused.out.find("--quantize-attention applies to the recipe bench calibrates"), std::string::npos)
      << refused.out;
}

// --quantize-attention adds the recipe's attention sites to the int8 bench calibrates (natively int8 Q K^T, P V).
TEST(BenchCli, QuantizeAttentionCalibratesAttentionSites) {
  const auto model_dir = source_root() / "models" / "sst2-bert-mini";
  const Shell r = shell(std::string(OCTET_CLI_PATH) + " bench " + quote(model_dir.string()) +
                        " --batch 1 --seq 8 --threads 1 --warmup 0 --iters 1 --rounds 1 --precision int8"
                        " --peers '' --calib-samples 8 --quantize-attention --json");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out.substr(r.out.find('{')));
  EXPECT_NE(std::string(j["int8_quantization"]).find("attention q, k, v and probabilities int8"), std::string::npos)
      << j.dump();
  ASSERT_EQ(j["results"].size(), 1u);
  EXPECT_FALSE(j["results"][0].contains("error")) << j.dump();
}

// Without --work-dir, the ONNX exports and peer files go to a temp dir of the run's own, removed at
// the end (it used to stay: /tmp/octet-bench-<pid> with the fp32 and int8 ONNX models, every run).
TEST(BenchCli, DefaultWorkDirIsRemoved) {
  const auto tmp = temp_dir() / "tmp";
  std::filesystem::create_directories(tmp);
  const auto model_dir = source_root() / "models" / "sst2-bert-mini";
  const Shell r = shell("TMPDIR=" + quote(tmp.string()) + " " + std::string(OCTET_CLI_PATH) + " bench " +
                        quote(model_dir.string()) +
                        " --batch 1 --seq 8 --threads 1 --warmup 0 --iters 1 --rounds 1 --precision fp32,int8"
                        " --peers ort,ort-int8 --calib-samples 8 --json");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out.substr(r.out.find('{')));
  for (const auto& row : j["results"]) EXPECT_FALSE(row.contains("error")) << row.dump();
  // ONNX Runtime itself writes a session-id file, ".ses", into TMPDIR (not octet's to remove).
  std::vector<std::string> left;
  for (const auto& e : std::filesystem::recursive_directory_iterator(tmp))
    if (e.path().filename() != ".ses") left.push_back(e.path().string());
  EXPECT_TRUE(left.empty()) << "left in TMPDIR: " << ::testing::PrintToString(left);
}

TEST(BenchCli, TableAndBadArguments) {
  const auto model_dir = source_root() / "models" / "sst2-bert-mini";
  const std::string base = std::string(OCTET_CLI_PATH) + " bench " + quote(model_dir.string());
  const Shell table = shell(base + " --batch 1 --seq 8 --iters 2 --warmup 0 --rounds 1 --peers none --precision fp32");
  ASSERT_EQ(table.code, 0) << table.out;
  for (const char* word : {"framework", "precision", "p50", "p99", "accuracy", "vs PyTorch fp32", "hardware", "octet",
                           "OPENBLAS_CORETYPE"})
    EXPECT_NE(table.out.find(word), std::string::npos) << word << "\n" << table.out;
  for (const auto& [args, expect] : std::vector<std::pair<std::string, std::string>>{
           {" --precision fp16", "unknown --precision 'fp16'"},
           {" --peers tensorrt", "unknown peer 'tensorrt'"},
           {" --batch 0", "must be > 0"},
           {" --seq 4096 --peers none --precision fp32", "exceeds"},
           {" --data /no/such.tsv --peers none", "no/such.tsv"},
       }) {
    const Shell r = shell(base + args);
    EXPECT_NE(r.code, 0) << args;
    EXPECT_NE(r.out.find(expect), std::string::npos) << args << ": " << r.out;
  }
}

}  // namespace
}  // namespace octet::testing
