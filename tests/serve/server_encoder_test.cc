// `octet serve` with an encoder (sst2-bert-mini): /v1/classify and
// /v1/embeddings, dynamic batching equal to single requests, wrong endpoints.
#include <gtest/gtest.h>

#include <cmath>
#include <thread>

#include "octet/eval.h"
#include "octet/generate.h"
#include "serve/serve_test_support.h"
#include "support/shared_data.h"

namespace octet::testing {
namespace {

using nlohmann::json;

std::string sst2() { return (source_root() / "models" / "sst2-bert-mini").string(); }

class ServeEncoder : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ServeOptions o;
    o.model = sst2();
    o.max_batch = 16;
    o.batch_wait_ms = 20;
    server_ = new RunningServer(o);
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static int port() { return server_->port(); }
  static RunningServer* server_;
};
RunningServer* ServeEncoder::server_ = nullptr;

const std::vector<std::string> kSentences = {
    "a charming and funny movie .", "the worst film of the year .", "it 's a dull , lifeless affair .",
    "an exhilarating experience .", "flat , boring and too long .", "one of the best films i have seen .",
    "i would not recommend it .",   "a triumph of style and substance ."};

TEST_F(ServeEncoder, ClassifyMatchesTheModelRunInProcess) {
  const auto model = load_model(sst2());
  const Tokenizer tok = load_model_tokenizer(sst2());
  const HttpReply r = post_json(port(), "/v1/classify", {{"input", kSentences}});
  ASSERT_EQ(r.status, 200) << r.body;
  const json j = r.json();
  ASSERT_EQ(j["data"].size(), kSentences.size());
  const std::vector<std::string>& labels = model->info().labels;
  for (size_t i = 0; i < kSentences.size(); ++i) {
    const Tensor probs = softmax_rows(model->forward(encode_inputs(*model, tok, kSentences[i])).at("logits"));
    const json& d = j["data"][i];
    EXPECT_EQ(d["index"], i);
    int64_t best = probs.data<float>()[1] > probs.data<float>()[0] ? 1 : 0;
    EXPECT_EQ(d["label_id"], best);
    if (!labels.empty()) {
      EXPECT_EQ(d["label"], labels[size_t(best)]);
    }
    for (int64_t c = 0; c < probs.dim(1); ++c) {
      const std::string name = c < int64_t(labels.size()) ? labels[size_t(c)] : "LABEL_" + std::to_string(c);
      EXPECT_NEAR(d["probabilities"][name].get<double>(), probs.data<float>()[c], 1e-5) << kSentences[i];
    }
  }
}

// Concurrent single-sentence requests are batched together (padded, masked)
// and each answer is what that sentence gets alone.
TEST_F(ServeEncoder, DynamicBatchingGivesEachRequestItsOwnAnswer) {
  std::vector<json> alone;
  for (const auto& s : kSentences) {
    const HttpReply r = post_json(port(), "/v1/classify", {{"input", s}});
    ASSERT_EQ(r.status, 200);
    alone.push_back(r.json()["data"][0]);
  }
  const double steps0 = metric_value(http_request(port(), "GET", "/metrics").body, "octet_batch_size_count");
  // One slot per request: the two rounds' threads for sentence i used to write the same slot
  // (a data race ThreadSanitizer reported).
  const size_t n = kSentences.size();
  std::vector<json> together(2 * n);
  std::vector<std::thread> threads;
  for (size_t round = 0; round < 2; ++round)
    for (size_t i = 0; i < n; ++i)
      threads.emplace_back([&, round, i] {
        const HttpReply r = post_json(port(), "/v1/classify", {{"input", kSentences[i]}});
        if (r.status == 200) together[round * n + i] = r.json()["data"][0];
      });
  for (auto& t : threads) t.join();
  for (size_t k = 0; k < 2 * n; ++k) {
    const size_t i = k % n;
    ASSERT_TRUE(together[k].is_object()) << k;
    EXPECT_EQ(together[k]["label_id"], alone[i]["label_id"]);
    for (auto& [label, p] : alone[i]["probabilities"].items())
      EXPECT_NEAR(together[k]["probabilities"][label].get<double>(), p.get<double>(), 1e-4);
  }
  const double steps = metric_value(http_request(port(), "GET", "/metrics").body, "octet_batch_size_count") - steps0;
  EXPECT_LT(steps, 2.0 * kSentences.size()) << "16 requests should share forward passes";
}

TEST_F(ServeEncoder, EmbeddingsAreMeanPooledHiddenStates) {
  const auto model = load_model(sst2());
  const Tokenizer tok = load_model_tokenizer(sst2());
  const HttpReply r = post_json(port(), "/v1/embeddings", {{"input", {kSentences[0], kSentences[1]}}});
  ASSERT_EQ(r.status, 200) << r.body;
  const json j = r.json();
  EXPECT_EQ(j["object"], "list");
  ASSERT_EQ(j["data"].size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const ModelInputs in = encode_inputs(*model, tok, kSentences[i]);
    const Tensor want = pool_embeddings(model->forward(in).at("last_hidden_state"), in.attention_mask, Pooling::Mean);
    const json& e = j["data"][i]["embedding"];
    ASSERT_EQ(int64_t(e.size()), want.dim(1));
    for (int64_t k = 0; k < want.dim(1); ++k) EXPECT_NEAR(e[size_t(k)].get<double>(), want.data<float>()[k], 1e-4);
  }
  EXPECT_GT(j["usage"]["prompt_tokens"].get<int64_t>(), 0);
}

TEST_F(ServeEncoder, WrongEndpointsAndInputs) {
  const HttpReply c = post_json(port(), "/v1/completions", {{"prompt", "hi"}});
  EXPECT_EQ(c.status, 400);
  EXPECT_EQ(c.json()["error"]["param"], "model");
  EXPECT_EQ(post_json(port(), "/v1/classify", {{"input", json::array()}}).status, 400);
  EXPECT_EQ(post_json(port(), "/v1/classify", {{"input", 3}}).status, 400);
  EXPECT_EQ(post_json(port(), "/v1/embeddings", {{"input", {{1, 2, 999999}}}}).status, 400);
  EXPECT_EQ(http_request(port(), "GET", "/health").status, 200);
}

}  // namespace
}  // namespace octet::testing
