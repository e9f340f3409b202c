// TSV datasets, label resolution and scoring against hand-counted answers.
#include <gtest/gtest.h>

#include <fstream>

#include "octet/error.h"
#include "octet/eval.h"
#include "eval/eval_test_util.h"
#include "support/shared_data.h"

namespace octet {
namespace {

using testing::eval_error_message;

std::filesystem::path write_tsv(const std::string& text) {
  const auto path = testing::temp_dir() / "data.tsv";
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

TEST(TsvDataset, ReadsGlueSst2Dev) {
  // The repo copy of GLUE SST-2 dev: 872 sentences, 444 positive / 428 negative (model card).
  const auto data = load_tsv_dataset(testing::source_root() / "data/sst2/dev.tsv");
  ASSERT_EQ(data.size(), 872u);
  EXPECT_TRUE(data.pairs.empty());
  EXPECT_EQ(std::count(data.labels.begin(), data.labels.end(), "1"), 444);
  EXPECT_EQ(std::count(data.labels.begin(), data.labels.end(), "0"), 428);
  // Fields are trimmed: the file has "journey . \t1".
  EXPECT_EQ(data.texts.front(), "it 's a charming and often affecting journey .");
}

TEST(TsvDataset, ColumnsByNameOrIndexPairsAndCrlf) {
  const auto path = write_tsv("id\tq1\tq2\tgold\r\n7\tHow old?\t How young? \tyes\r\n8\ta\tb\tno\r\n\r\n");
  const auto by_name = load_tsv_dataset(path, {"q1", "q2", "gold"});
  ASSERT_EQ(by_name.size(), 2u);
  EXPECT_EQ(by_name.texts[0], "How old?");
  EXPECT_EQ(by_name.pairs[0], "How young?");
  EXPECT_EQ(by_name.labels[1], "no");
  const auto by_index = load_tsv_dataset(path, {"1", "2", "3"});
  EXPECT_EQ(by_index.texts, by_name.texts);
  EXPECT_EQ(by_index.pairs, by_name.pairs);
  EXPECT_EQ(by_index.labels, by_name.labels);
}

TEST(TsvDataset, ErrorsNameFileLineAndColumn) {
  const auto path = write_tsv("sentence\tlabel\ngood\t1\nshort-row\n");
  EXPECT_NE(eval_error_message([&] { load_tsv_dataset(path); }).find("data.tsv:3"), std::string::npos);
  const auto no_col = write_tsv("text\tlabel\nx\t1\n");
  const std::string m = eval_error_message([&] { load_tsv_dataset(no_col); });
  EXPECT_NE(m.find("'sentence'"), std::string::npos) << m;
  EXPECT_NE(m.find("text, label"), std::string::npos) << m;
  EXPECT_NE(eval_error_message([&] { load_tsv_dataset(no_col, {"text", "", "5"}); }).find("out of range"),
            std::string::npos);
  // More digits than an integer holds: the same error (it was std::out_of_range, "octet: error: stoul").
  EXPECT_NE(eval_error_message([&] {
              load_tsv_dataset(no_col, {"text", "", "99999999999999999999999"});
            }).find("column 99999999999999999999999 is out of range"),
            std::string::npos);
  EXPECT_NE(eval_error_message([&] { load_tsv_dataset(write_tsv("sentence\tlabel\n")); }).find("no examples"),
            std::string::npos);
  EXPECT_NE(eval_error_message([&] { load_tsv_dataset(write_tsv("sentence\tlabel\nx\t \n")); }).find("empty label"),
            std::string::npos);
  EXPECT_NE(eval_error_message([&] { load_tsv_dataset(testing::temp_dir() / "missing.tsv"); }).find("cannot open"),
            std::string::npos);
}

TEST(Scoring, CountsByHand) {
  ClassificationDataset data;
  data.source = "hand.tsv";
  data.texts = {"a", "b", "c", "d", "e"};
  data.labels = {"0", "1", "negative", "positive", "1"};
  // Predictions: 1, 1, 0, 0, 0 (row 4 ties: the first maximum wins, as torch.argmax).
  const Tensor logits =
      Tensor::from_floats(std::vector<float>{0, 1, -2, 3, 5, 4, 0.5f, 0.5f, 2, 1}, {5, 2});
  const auto r = score_classification(logits, data, {"negative", "positive"});
  EXPECT_EQ(r.total, 5);
  // Labels 0 1 0 1 1 vs predictions 1 1 0 0 0: rows 1 and 2 are right.
  EXPECT_EQ(r.correct, 2);
  EXPECT_EQ(r.predictions, (std::vector<int64_t>{1, 1, 0, 0, 0}));
  EXPECT_EQ(r.label_ids, (std::vector<int64_t>{0, 1, 0, 1, 1}));
  EXPECT_DOUBLE_EQ(r.accuracy, 0.4);
  ASSERT_EQ(r.per_class.size(), 2u);
  EXPECT_EQ(r.per_class[0].label, "negative");
  EXPECT_EQ(r.per_class[0].support, 2);
  EXPECT_EQ(r.per_class[0].predicted, 3);
  EXPECT_EQ(r.per_class[1].support, 3);
  EXPECT_EQ(r.per_class[1].predicted, 2);
  EXPECT_EQ(r.per_class[0].correct, 1);
  EXPECT_EQ(r.per_class[1].correct, 1);
}

TEST(Scoring, UnknownLabelsAndBadLogits) {
  ClassificationDataset data;
  data.source = "x.tsv";
  data.texts = {"a"};
  data.labels = {"neutral"};
  const Tensor logits = Tensor::from_floats(std::vector<float>{0, 1}, {1, 2});
  EXPECT_NE(eval_error_message([&] { score_classification(logits, data, {"negative", "positive"}); }).find("neutral"),
            std::string::npos);
  data.labels = {"2"};
  EXPECT_NE(eval_error_message([&] { score_classification(logits, data, {"negative", "positive"}); })
                .find("class id 2"),
            std::string::npos);
  data.labels = {"1"};
  EXPECT_NE(eval_error_message([&] { score_classification(logits, data, {"a", "b", "c"}); }).find("classes"),
            std::string::npos);
  // A class id of more digits than an integer holds (it was std::out_of_range, "octet: error: stoll").
  data.labels = {"99999999999999999999999"};
  EXPECT_NE(eval_error_message([&] {
              score_classification(logits, data, {"negative", "positive"});
            }).find("class id 99999999999999999999999 but the model has 2 classes"),
            std::string::npos);
}

}  // namespace
}  // namespace octet
