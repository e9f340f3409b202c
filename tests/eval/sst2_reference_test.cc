// models/sst2-bert-mini against Hugging Face on all 872 GLUE SST-2 dev
// sentences (reference_dev.jsonl: token ids and logits of
// BertForSequenceClassification, batch 1, float32).
//
// Tolerance 1e-4 on logits (|logit| <= 2.28): a 4-layer width-256 BERT in
// fp32, where PyTorch and octet differ in summation order only; dot products
// of length <= 1024 carry relative errors below 1024 * 2^-24 ~ 6e-5 of the
// sum of |terms| in the worst case and ~sqrt(1024) * 2^-24 ~ 2e-6 typically,
// and LayerNorm renormalises after every block. Here batches are padded and
// length-sorted, unlike the reference: padding changes nothing at unpadded
// positions (keys are masked exactly), so the same budget holds.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include "octet/eval.h"
#include "octet/model.h"
#include "octet/tokenizer.h"
#include "support/shared_data.h"

namespace octet {
namespace {

struct ReferenceRow {
  std::string sentence;
  int64_t label = 0;
  std::vector<int64_t> input_ids;
  std::vector<float> logits;
};

std::vector<ReferenceRow> read_reference() {
  std::ifstream in(testing::shared_path("models/sst2-bert-mini/reference_dev.jsonl"));
  std::vector<ReferenceRow> rows;
  std::string line;
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line);
    ReferenceRow r;
    r.sentence = j.at("sentence").get<std::string>();
    r.label = j.at("label").get<int64_t>();
    r.input_ids = j.at("input_ids").get<std::vector<int64_t>>();
    // Logits are the exact decimals of float32 values: parse as double, cast to float.
    for (const double v : j.at("logits").get<std::vector<double>>()) r.logits.push_back(float(v));
    rows.push_back(std::move(r));
  }
  return rows;
}

std::filesystem::path repo_model() { return testing::source_root() / "models/sst2-bert-mini"; }

TEST(Sst2Reference, LogitsOfAllDevSentencesFromReferenceIds) {
  const auto rows = read_reference();
  ASSERT_EQ(rows.size(), 872u);
  const auto model = load_model(repo_model());
  // Right-padded batches of 32 in file order (mixed lengths: padding is exercised).
  constexpr size_t kBatch = 32;
  double worst = 0;
  for (size_t start = 0; start < rows.size(); start += kBatch) {
    const size_t end = std::min(rows.size(), start + kBatch);
    size_t longest = 0;
    for (size_t i = start; i < end; ++i) longest = std::max(longest, rows[i].input_ids.size());
    const int64_t b = int64_t(end - start), s = int64_t(longest);
    ModelInputs in;
    in.input_ids = Tensor::zeros({b, s}, DType::I64);
    in.attention_mask = Tensor::zeros({b, s}, DType::I64);
    for (size_t i = start; i < end; ++i)
      for (size_t t = 0; t < rows[i].input_ids.size(); ++t) {
        in.input_ids.data<int64_t>()[(i - start) * longest + t] = rows[i].input_ids[t];
        in.attention_mask.data<int64_t>()[(i - start) * longest + t] = 1;
      }
    const Tensor logits = model->forward(in).at("logits");
    ASSERT_EQ(logits.shape(), (Shape{b, 2}));
    for (size_t i = start; i < end; ++i)
      for (size_t c = 0; c < 2; ++c) {
        const double d = std::fabs(double(logits.data<float>()[(i - start) * 2 + c]) - rows[i].logits[c]);
        worst = std::max(worst, d);
        EXPECT_LE(d, 1e-4) << "sentence " << i << ": " << rows[i].sentence;
      }
  }
  RecordProperty("max_abs_logit_error", std::to_string(worst));
}

// The repo's tokenizer files give HF's token ids for every dev sentence.
TEST(Sst2Reference, TokenIdsOfAllDevSentences) {
  const auto rows = read_reference();
  const auto model = load_model(repo_model());
  const auto tokenizer = Tokenizer::load(repo_model());
  const auto data = load_tsv_dataset(testing::source_root() / "data/sst2/dev.tsv");
  ASSERT_EQ(data.size(), rows.size());
  int mismatches = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    ASSERT_EQ(data.texts[i], rows[i].sentence) << "line " << i + 2;
    ASSERT_EQ(data.labels[i], std::to_string(rows[i].label)) << "line " << i + 2;
    const ModelInputs in = encode_inputs(*model, tokenizer, data.texts[i]);
    const auto ids = in.input_ids.span<int64_t>();
    const bool same = std::vector<int64_t>(ids.begin(), ids.end()) == rows[i].input_ids;
    EXPECT_TRUE(same) << "sentence " << i << ": " << rows[i].sentence;
    mismatches += !same;
    // One sentence: no padding, token types all 0 (single sequence).
    for (const int64_t m : in.attention_mask.span<int64_t>()) EXPECT_EQ(m, 1);
    for (const int64_t t : in.token_type_ids.span<int64_t>()) EXPECT_EQ(t, 0);
  }
  EXPECT_EQ(mismatches, 0);
}

// evaluate_classification (tokenize, length-sorted padded batches, scatter back
// to dataset order) gives HF's logits for every dev sentence, and the card's accuracy.
TEST(Sst2Reference, EvaluateClassificationMatchesReferenceLogits) {
  const auto rows = read_reference();
  const auto model = load_model(repo_model());
  const auto tokenizer = Tokenizer::load(repo_model());
  const auto data = load_tsv_dataset(testing::source_root() / "data/sst2/dev.tsv");
  EvalOptions options;
  options.progress = false;
  const ClassificationResult r = evaluate_classification(*model, tokenizer, data, options);
  ASSERT_EQ(r.logits.shape(), (Shape{872, 2}));
  int64_t correct = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    for (size_t c = 0; c < 2; ++c)
      EXPECT_NEAR(r.logits.data<float>()[i * 2 + c], rows[i].logits[c], 1e-4) << "sentence " << i;
    const int64_t ref_pred = rows[i].logits[1] > rows[i].logits[0] ? 1 : 0;
    correct += ref_pred == rows[i].label;
  }
  // The reference's own predictions score what the model card states (710 / 872).
  EXPECT_EQ(r.correct, correct);
  EXPECT_EQ(r.total, 872);
  RecordProperty("seconds", std::to_string(r.seconds));

  // A limit evaluates a prefix; batch size changes nothing but rounding.
  options.limit = 100;
  options.batch_size = 5;
  const Tensor prefix = classification_logits(*model, tokenizer, data, options);
  ASSERT_EQ(prefix.shape(), (Shape{100, 2}));
  for (int64_t i = 0; i < 200; ++i) EXPECT_NEAR(prefix.data<float>()[i], r.logits.data<float>()[i], 1e-4);
}

TEST(Sst2Reference, ClassificationNeedsAClassifier) {
  LoadOptions base;
  base.head = ModelHead::Base;
  const auto model = load_model(repo_model(), base);
  const auto tokenizer = Tokenizer::load(repo_model());
  const auto data = load_tsv_dataset(testing::source_root() / "data/sst2/dev.tsv");
  try {
    classification_logits(*model, tokenizer, data);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.tag(), "eval");
    EXPECT_NE(std::string(e.what()).find("sequence-classification"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace octet
