// Calibration data: TSV reading and its errors, sampling, unpadded batches,
// glob patterns, and the fixed-range histogram of two-pass calibration.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <set>

#include "octet/quant_calibration.h"
#include "quant_model/quant_model_test_util.h"

namespace octet {
namespace {

std::filesystem::path write_file(const std::string& name, const std::string& text) {
  const auto path = testing::temp_dir() / name;
  std::ofstream(path) << text;
  return path;
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(CalibrationTexts, BadFilesAreClearErrors) {
  EXPECT_NE(error_of([] { read_calibration_texts("/nonexistent/train.tsv"); }).find("does not exist"),
            std::string::npos);
  const auto empty = write_file("empty.tsv", "");
  EXPECT_NE(error_of([&] { read_calibration_texts(empty); }).find("is empty"), std::string::npos);
  const auto header_only = write_file("header.tsv", "sentence\tlabel\n");
  EXPECT_NE(error_of([&] { read_calibration_texts(header_only); }).find("no text rows"), std::string::npos);
  const auto other = write_file("other.tsv", "text\tlabel\nhello\t1\n");
  const std::string missing = error_of([&] { read_calibration_texts(other); });
  EXPECT_NE(missing.find("no column 'sentence'"), std::string::npos) << missing;
  EXPECT_NE(missing.find("text, label"), std::string::npos) << missing;
  EXPECT_NE(error_of([&] { read_calibration_texts(other, {.samples = 0}); }).find("> 0"), std::string::npos);
  // A column given by index, and a short row.
  CalibrationTextOptions by_index;
  by_index.column = "0";
  EXPECT_EQ(read_calibration_texts(other, by_index).texts, std::vector<std::string>{"hello"});
  // More digits than an integer holds (it was std::out_of_range, "octet: error: stoul").
  by_index.column = "99999999999999999999999";
  EXPECT_NE(error_of([&] {
              read_calibration_texts(other, by_index);
            }).find("column index 99999999999999999999999 is past the 2 columns"),
            std::string::npos);
  const auto short_row = write_file("short.tsv", "label\tsentence\n1\tok\n0\n");
  by_index.column = "sentence";
  EXPECT_NE(error_of([&] { read_calibration_texts(short_row, by_index); }).find(":3:"), std::string::npos);
}

TEST(CalibrationTexts, FewerRowsThanAskedWarnsAndUsesAll) {
  const auto small = write_file("small.tsv", "sentence\tlabel\r\na b\t1\r\n\r\nc d\t0\r\n  e  \t1\r\n");
  const CalibrationTexts t = read_calibration_texts(small, {.samples = 256});
  EXPECT_EQ(t.rows, 3);
  EXPECT_EQ(t.texts, (std::vector<std::string>{"a b", "c d", "e"}));
  ASSERT_TRUE(t.warning.has_value());
  EXPECT_NE(t.warning->find("fewer than the 256 samples"), std::string::npos);
  EXPECT_FALSE(read_calibration_texts(small, {.samples = 3}).warning.has_value());
}

TEST(CalibrationTexts, FirstAndSeededRandomSampling) {
  std::string text = "sentence\tlabel\n";
  for (int i = 0; i < 100; ++i) text += fmt::format("s{}\t0\n", i);
  const auto file = write_file("hundred.tsv", text);
  CalibrationTextOptions first{.samples = 5, .sampling = CalibrationSampling::First};
  EXPECT_EQ(read_calibration_texts(file, first).texts, (std::vector<std::string>{"s0", "s1", "s2", "s3", "s4"}));
  CalibrationTextOptions random{.samples = 10, .sampling = CalibrationSampling::Random, .seed = 4};
  const auto a = read_calibration_texts(file, random).texts, b = read_calibration_texts(file, random).texts;
  EXPECT_EQ(a, b);  // deterministic
  EXPECT_EQ(a.size(), 10u);
  std::set<std::string> distinct(a.begin(), a.end());
  EXPECT_EQ(distinct.size(), 10u);
  random.seed = 5;
  EXPECT_NE(read_calibration_texts(file, random).texts, a);
  // File order is kept.
  std::vector<int> numbers;
  for (const auto& s : a) numbers.push_back(std::stoi(s.substr(1)));
  EXPECT_TRUE(std::is_sorted(numbers.begin(), numbers.end()));
}

TEST(CalibrationBatches, Sst2SentencesGroupedByLengthWithoutPadding) {
  const auto model = load_model(testing::sst2_model());
  const auto tok = Tokenizer::load(testing::sst2_model());
  const auto texts = read_calibration_texts(testing::sst2_train(), {.samples = 64}).texts;
  const auto batches = make_calibration_batches(*model, tok, texts, 4);
  int64_t rows = 0;
  for (const ModelInputs& b : batches) {
    EXPECT_LE(b.input_ids.dim(0), 4);
    rows += b.input_ids.dim(0);
    for (const int64_t m : b.attention_mask.span<int64_t>()) ASSERT_EQ(m, 1);
  }
  EXPECT_EQ(rows, 64);
  // Each sequence equals its own encoding.
  const Encoding e = tok.encode(texts[0], {.max_length = model->info().max_positions,
                                           .truncation = Truncation::LongestFirst});
  bool found = false;
  for (const ModelInputs& b : batches) {
    if (b.input_ids.dim(1) != int64_t(e.size())) continue;
    for (int64_t r = 0; r < b.input_ids.dim(0) && !found; ++r)
      found = std::equal(e.ids.begin(), e.ids.end(), b.input_ids.data<int64_t>() + r * b.input_ids.dim(1));
  }
  EXPECT_TRUE(found);
}

TEST(GlobMatch, StarsAndQuestionMarks) {
  EXPECT_TRUE(glob_match("*.classifier", "bert.classifier"));
  EXPECT_FALSE(glob_match("*.classifier", "classifier"));
  EXPECT_TRUE(glob_match("classifier", "classifier"));
  EXPECT_TRUE(glob_match("*layer.?.output.dense", "bert.encoder.layer.3.output.dense"));
  EXPECT_FALSE(glob_match("*layer.?.output.dense", "bert.encoder.layer.13.output.dense"));
  EXPECT_TRUE(glob_match("*", ""));
  EXPECT_TRUE(glob_match("a*b*c", "aXbYbZc"));
  EXPECT_FALSE(glob_match("a*b*c", "aXbYbZ"));
  EXPECT_FALSE(glob_match("", "x"));
}

TEST(FixedRangeHistogram, SameCountsAsOnePassOverAllData) {
  // Batch 1 spans [-1, 1], batch 2 reaches 3.7: a growing histogram merges
  // bins (factor 4), the fixed-range one (R = 3.7 from a min/max pass) does not.
  const auto small = testing::random_floats(5000, 1, 1.0f);
  auto large = testing::random_floats(5000, 2, 3.0f);
  large[17] = 3.7f;
  Histogram fixed(512, double(3.7f));
  fixed.add(small);
  fixed.add(large);
  std::vector<float> all(small);
  all.insert(all.end(), large.begin(), large.end());
  Histogram one_pass(512);
  one_pass.add(all);  // R = max |x| = 3.7 from its first (only) batch
  EXPECT_EQ(fixed.range(), one_pass.range());
  EXPECT_EQ(fixed.magnitude_counts(), one_pass.magnitude_counts());
  Histogram growing(512);
  growing.add(small);
  growing.add(large);
  EXPECT_GT(growing.range(), double(3.7f));  // 4 * max|batch 1|
  EXPECT_THROW(Histogram(512, 0.0), Error);
  EXPECT_THROW(Histogram(512, std::nan("")), Error);
  CalibratorOptions o;
  o.histogram_range = double(3.7f);
  auto cal = make_calibrator("entropy", o);
  cal->observe(Tensor::from_floats(small, {5000}));
  EXPECT_EQ(static_cast<const HistogramCalibrator&>(*cal).histogram().range(), double(3.7f));
  o.histogram_range = -1;
  EXPECT_THROW(make_calibrator("mse", o), Error);
}

}  // namespace
}  // namespace octet
