// The PyTorch peer (bench/peers/torch_bert.py) against Hugging Face's own
// outputs: the fixtures' reference.safetensors (padded batch of 2, compared
// where attention_mask == 1) and sst2-bert-mini's reference_dev.jsonl logits
// (HF batch 1; here a right-padded batch of 8). 1e-4 is the peer's accuracy
// budget against HF, not a derived bound: the peer runs the same torch ops as
// HF and measures bit-identical on the fixtures; padding only changes GEMM
// shapes and so summation order (~1e-6 here). Needs python3-torch
// (scripts/setup.sh --peers).
#include <gtest/gtest.h>

#include <fstream>

#include "onnx/onnx_test_support.h"
#include "support/shared_data.h"

namespace octet::testing {
namespace {

constexpr double kTolerance = 1e-4;

std::string torch_bert_command() {
  static const bool has_torch = run_command("/usr/bin/python3 -c 'import torch'").exit_code == 0;
  if (!has_torch)
    throw std::runtime_error("/usr/bin/python3 cannot import torch: install python3-torch (scripts/setup.sh --peers)");
  return "/usr/bin/python3 " + shell_quote((source_root() / "bench" / "peers" / "torch_bert.py").string());
}

std::map<std::string, Tensor> run_torch_bert(const std::filesystem::path& model, const std::filesystem::path& inputs,
                                             const std::filesystem::path& outputs) {
  const auto r = run_command(torch_bert_command() + " --model " + shell_quote(model.string()) + " --inputs " +
                             shell_quote(inputs.string()) + " --outputs " + shell_quote(outputs.string()));
  if (r.exit_code != 0) throw std::runtime_error("torch_bert.py failed:\n" + r.output);
  return read_safetensors(outputs);
}

// max |a - b| over rows r (of `row_size` values) where keep(r).
template <typename Keep>
double max_abs_diff(const Tensor& a, const Tensor& b, int64_t row_size, Keep keep) {
  EXPECT_EQ(a.shape(), b.shape());
  const auto x = a.span<float>(), y = b.span<float>();
  double worst = 0;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i)
    if (keep(static_cast<int64_t>(i) / row_size)) worst = std::max(worst, std::abs(double(x[i]) - y[i]));
  return worst;
}

void check_fixture(const std::string& name) {
  const auto dir = shared_path("fixtures/hf/" + name);
  const auto ref = read_safetensors(dir / "reference.safetensors");
  const auto out = run_torch_bert(dir, dir / "reference.safetensors", temp_dir() / "out.safetensors");
  const auto mask = ref.at("attention_mask").span<int64_t>();
  int compared = 0;
  for (const char* key : {"logits", "pooler_output", "last_hidden_state"}) {
    if (!ref.contains(key)) continue;
    ASSERT_TRUE(out.contains(key)) << name << ": no " << key;
    ++compared;
    const Tensor& want = ref.at(key);
    if (std::string(key) == "last_hidden_state") {
      // Rows are (batch, position) pairs; only unmasked positions are defined.
      EXPECT_LE(max_abs_diff(out.at(key), want, want.dim(-1), [&](int64_t row) { return mask[row] == 1; }),
                kTolerance)
          << name << " " << key;
    } else {
      EXPECT_LE(max_abs_diff(out.at(key), want, want.dim(-1), [](int64_t) { return true; }), kTolerance)
          << name << " " << key;
    }
  }
  EXPECT_GE(compared, 2) << name;
}

TEST(TorchPeer, BertSequenceClassificationFixture) { check_fixture("bert"); }
TEST(TorchPeer, BertBaseModelFixture) { check_fixture("bert_base_model"); }
TEST(TorchPeer, RobertaPositionIdsFixture) { check_fixture("roberta"); }
TEST(TorchPeer, XlmRobertaFixture) { check_fixture("xlm_roberta"); }

TEST(TorchPeer, Sst2BertMiniLogitsMatchHfDevReference) {
  const auto model = shared_path("models/sst2-bert-mini");
  std::ifstream jsonl(model / "reference_dev.jsonl");
  std::vector<nlohmann::json> rows;
  for (std::string line; rows.size() < 8 && std::getline(jsonl, line);) rows.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(rows.size(), 8u);
  size_t longest = 0;
  for (const auto& r : rows) longest = std::max(longest, r["input_ids"].size());
  const auto n = static_cast<int64_t>(rows.size()), len = static_cast<int64_t>(longest);
  Tensor ids = Tensor::zeros({n, len}, DType::I64), mask = Tensor::zeros({n, len}, DType::I64);
  for (int64_t i = 0; i < n; ++i)
    for (size_t j = 0; j < rows[i]["input_ids"].size(); ++j) {
      ids.data<int64_t>()[i * len + j] = rows[i]["input_ids"][j].get<int64_t>();
      mask.data<int64_t>()[i * len + j] = 1;
    }
  const auto dir = temp_dir();
  write_safetensors(dir / "in.safetensors", {{"input_ids", ids}, {"attention_mask", mask}});
  const auto out = run_torch_bert(model, dir / "in.safetensors", dir / "out.safetensors");
  const Tensor& logits = out.at("logits");
  ASSERT_EQ(logits.shape(), (Shape{n, 2}));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < 2; ++c) {
      // reference_dev.jsonl holds the exact decimal of each float32 logit.
      const float want = static_cast<float>(rows[i]["logits"][c].get<double>());
      EXPECT_NEAR(logits.data<float>()[i * 2 + c], want, kTolerance) << "sentence " << i;
    }
}

TEST(TorchPeer, BenchPrintsLatencyJson) {
  const auto model = shared_path("models/sst2-bert-mini");
  for (const char* precision : {"fp32", "int8-dynamic"}) {
    const auto r = run_command(torch_bert_command() + " bench --model " + shell_quote(model.string()) +
                               " --batch 2 --seq 16 --threads 1 --warmup 1 --iters 3 --precision " + precision +
                               " --json");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const auto stats = nlohmann::json::parse(r.output);
    EXPECT_EQ(stats["precision"], precision);
    EXPECT_EQ(stats["iters"], 3);
    EXPECT_EQ(stats["omp_wait_policy"], "PASSIVE");
    EXPECT_GT(stats["p50_ms"].get<double>(), 0);
    EXPECT_LE(stats["min_ms"].get<double>(), stats["p50_ms"].get<double>());
    EXPECT_LE(stats["p50_ms"].get<double>(), stats["p90_ms"].get<double>());
    EXPECT_LE(stats["p90_ms"].get<double>(), stats["p99_ms"].get<double>());
    EXPECT_LE(stats["p99_ms"].get<double>(), stats["max_ms"].get<double>());
  }
}

}  // namespace
}  // namespace octet::testing
