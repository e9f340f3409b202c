// The latency harness: statistics, interleaving, failures; dataset batching.
#include <gtest/gtest.h>

#include <numeric>

#include "octet/bench.h"
#include "octet/error.h"
#include "octet/eval.h"
#include "octet/tokenizer.h"
#include "support/shared_data.h"

namespace octet::testing {
namespace {

TEST(LatencyStats, PercentilesInterpolateLikeNumpy) {
  // numpy.percentile([1..100], q) = 1 + 0.99 q: 50.5, 90.1, 99.01.
  std::vector<double> ms(100);
  std::iota(ms.begin(), ms.end(), 1.0);
  std::reverse(ms.begin(), ms.end());  // order does not matter
  const LatencyStats s = latency_stats(ms);
  EXPECT_EQ(s.samples, 100);
  EXPECT_DOUBLE_EQ(s.p50_ms, 50.5);
  EXPECT_NEAR(s.p90_ms, 90.1, 1e-12);
  EXPECT_NEAR(s.p99_ms, 99.01, 1e-12);
  EXPECT_DOUBLE_EQ(s.mean_ms, 50.5);
  EXPECT_DOUBLE_EQ(s.min_ms, 1);
  EXPECT_DOUBLE_EQ(s.max_ms, 100);
  const LatencyStats one = latency_stats({7});
  EXPECT_EQ(one.p50_ms, 7);
  EXPECT_EQ(one.p99_ms, 7);
  EXPECT_THROW(latency_stats({}), Error);
}

// A runner whose "passes" are log entries and whose timings are given.
class FakeRunner : public BenchRunner {
 public:
  FakeRunner(std::string name, std::vector<std::string>* log, double ms, int fail_after = -1)
      : name_(std::move(name)), log_(log), ms_(ms), fail_after_(fail_after) {}
  std::string framework() const override { return name_; }
  std::string precision() const override { return "fp32"; }
  void set_inputs(const ModelInputs& in) override { log_->push_back(name_ + ":inputs" + std::to_string(in.input_ids.dim(1))); }
  std::vector<double> time(int64_t iters) override {
    if (fail_after_ >= 0 && calls_++ >= fail_after_) throw Error("bench", "fake failure");
    log_->push_back(name_ + ":" + std::to_string(iters));
    return std::vector<double>(size_t(iters), ms_ + double(iters));  // the value says which call it came from
  }
  Tensor logits(const ModelInputs&) override { return {}; }

 private:
  std::string name_;
  std::vector<std::string>* log_;
  double ms_;
  int fail_after_;
  int calls_ = 0;
};

TEST(RunBenchmark, WarmsUpThenInterleavesRoundsInRotatedOrder) {
  std::vector<std::string> log;
  FakeRunner a("a", &log, 100), b("b", &log, 200), c("c", &log, 300);
  BenchOptions o;
  o.warmup = 4;
  o.iters = 10;
  o.rounds = 4;
  o.pause_ms = 0;
  ModelInfo info;
  info.vocab_size = 100;
  const auto results = run_benchmark({&a, &b, &c}, random_bench_inputs(info, 2, 5), o);
  // Warmup in order; then rounds of 3, 3, 2, 2 passes (each after one untimed pass), starting a, b, c, a.
  const std::vector<std::string> expected{
      "a:inputs5", "a:4", "b:inputs5", "b:4", "c:inputs5", "c:4",  //
      "a:1", "a:3", "b:1", "b:3", "c:1", "c:3",                   // round 0: a b c
      "b:1", "b:3", "c:1", "c:3", "a:1", "a:3",                   // round 1: b c a
      "c:1", "c:2", "a:1", "a:2", "b:1", "b:2",                   // round 2: c a b
      "a:1", "a:2", "b:1", "b:2", "c:1", "c:2",                   // round 3: a b c
  };
  EXPECT_EQ(log, expected);
  ASSERT_EQ(results.size(), 3u);
  for (const auto& r : results) {
    EXPECT_TRUE(r.error.empty());
    EXPECT_EQ(r.latency.samples, 10);
  }
  // Six passes timed 103 and four 102 (the fake's timing encodes the chunk size).
  EXPECT_DOUBLE_EQ(results[0].latency.min_ms, 102);
  EXPECT_DOUBLE_EQ(results[0].latency.max_ms, 103);
  EXPECT_DOUBLE_EQ(results[0].latency.mean_ms, (6 * 103 + 4 * 102) / 10.0);
  EXPECT_DOUBLE_EQ(results[2].latency.p50_ms, 303);
}

TEST(RunBenchmark, AFailingRunnerIsReportedAndDropped) {
  std::vector<std::string> log;
  FakeRunner good("good", &log, 1), bad("bad", &log, 1, /*fail_after=*/2);
  BenchOptions o;
  o.warmup = 1;
  o.iters = 6;
  o.rounds = 3;
  o.pause_ms = 0;
  ModelInfo info;
  info.vocab_size = 10;
  const auto results = run_benchmark({&good, &bad}, random_bench_inputs(info, 1, 3), o);
  EXPECT_TRUE(results[0].error.empty());
  EXPECT_EQ(results[0].latency.samples, 6);
  EXPECT_NE(results[1].error.find("fake failure"), std::string::npos);
  // bad: warmup, then one untimed pass, then the failing call; never called again.
  EXPECT_EQ(std::count(log.begin(), log.end(), "bad:1"), 2);
  EXPECT_EQ(std::count(log.begin(), log.end(), "bad:2"), 0);
  BenchOptions zero = o;
  zero.iters = 0;
  EXPECT_THROW(run_benchmark({&good}, random_bench_inputs(info, 1, 3), zero), Error);
}

TEST(BenchInputs, RandomIdsAreSeededAndAvoidSpecialTokens) {
  ModelInfo info;
  info.vocab_size = 30522;
  info.max_positions = 512;
  const ModelInputs a = random_bench_inputs(info, 8, 128, 7), b = random_bench_inputs(info, 8, 128, 7);
  const ModelInputs c = random_bench_inputs(info, 8, 128, 8);
  EXPECT_EQ(a.input_ids.shape(), (Shape{8, 128}));
  bool differs = false;
  for (int64_t i = 0; i < a.input_ids.numel(); ++i) {
    const int64_t id = a.input_ids.data<int64_t>()[i];
    EXPECT_TRUE(id >= 1000 && id < 30522);
    EXPECT_EQ(id, b.input_ids.data<int64_t>()[i]);
    differs |= id != c.input_ids.data<int64_t>()[i];
    EXPECT_EQ(a.attention_mask.data<int64_t>()[i], 1);
    EXPECT_EQ(a.token_type_ids.data<int64_t>()[i], 0);
  }
  EXPECT_TRUE(differs);
  EXPECT_THROW(random_bench_inputs(info, 1, 513), Error);
  EXPECT_THROW(random_bench_inputs(info, 0, 8), Error);
}

// tokenize_batches gives the batches `octet eval` runs: the same logits, bit for bit.
TEST(BenchInputs, TokenizedBatchesMatchEval) {
  const auto dir = source_root() / "models" / "sst2-bert-mini";
  std::shared_ptr<Model> model(load_model(dir).release());
  const Tokenizer tokenizer = Tokenizer::load(dir);
  const ClassificationDataset data = load_tsv_dataset(source_root() / "data" / "sst2" / "dev.tsv");
  EvalOptions eo;
  eo.limit = 100;
  eo.progress = false;
  const Tensor expected = classification_logits(*model, tokenizer, data, eo);
  const TokenizedBatches batches = tokenize_batches(*model, tokenizer, data, 32, 100);
  ASSERT_EQ(batches.size(), 100);
  ASSERT_EQ(batches.batches.size(), 4u);
  // Sorted by length: each batch is no longer than the next, padding is the pad id with mask 0.
  for (size_t b = 0; b + 1 < batches.batches.size(); ++b)
    EXPECT_LE(batches.batches[b].input_ids.dim(1), batches.batches[b + 1].input_ids.dim(1));
  const auto logits = runner_logits(*make_octet_runner(model, "fp32"), batches);
  for (size_t b = 0; b < logits.size(); ++b)
    for (size_t r = 0; r < batches.rows[b].size(); ++r)
      for (int c = 0; c < 2; ++c)
        EXPECT_EQ(logits[b].data<float>()[r * 2 + c], expected.data<float>()[batches.rows[b][r] * 2 + c]);
  const auto pred = batch_predictions(batches, logits);
  const ClassificationResult scored = score_classification(expected, [&] {
    ClassificationDataset d = data;
    d.texts.resize(100);
    d.labels.resize(100);
    return d;
  }(), model->info().labels);
  EXPECT_EQ(pred, scored.predictions);
  EXPECT_DOUBLE_EQ(accuracy(pred, batches.labels), scored.accuracy);
  EXPECT_THROW(accuracy({}, {}), Error);
  EXPECT_THROW(batch_predictions(batches, {}), Error);
}

TEST(BenchEnvironment, NamesTheMachineAndSettings) {
  const auto env = bench_environment();
  for (const char* key : {"cpu", "isa", "hardware_threads", "octet_threads", "OPENBLAS_CORETYPE", "OMP_WAIT_POLICY"})
    EXPECT_TRUE(env.contains(key)) << key;
  EXPECT_FALSE(env.at("cpu").empty());
}

}  // namespace
}  // namespace octet::testing
