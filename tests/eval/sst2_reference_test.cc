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

#include "octet/model.h"
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

}  // namespace
}  // namespace octet
