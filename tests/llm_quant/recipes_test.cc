// The recipe table (names, formats, what needs calibration, checks) and the
// calibration windows cut from a token stream.
#include <gtest/gtest.h>

#include <numeric>

#include "octet/error.h"
#include "octet/llm_quantize.h"

namespace octet {
namespace {

TEST(LlmRecipes, TheNamesTheIssueGives) {
  std::vector<std::string> names;
  for (const LlmRecipe& r : llm_recipes()) names.push_back(r.name);
  EXPECT_EQ(names, (std::vector<std::string>{"w8a16", "w4a16-rtn", "w4a16-awq", "w4a16-gptq", "w8a8", "w8a8-sq", "fp8",
                                             "w4a8-awq", "fp32"}));
  for (const LlmRecipe& r : llm_recipes()) {
    EXPECT_FALSE(r.summary.empty()) << r.name;
    EXPECT_NO_THROW(validate_llm_recipe(r)) << r.name;
  }
}

TEST(LlmRecipes, Formats) {
  EXPECT_EQ(to_string(llm_recipe("w8a16").weight), "int8:sym:per_channel(0)");
  EXPECT_EQ(llm_recipe("w8a16").activations, ActivationFormat::Float);
  EXPECT_EQ(to_string(llm_recipe("w4a16-gptq").weight), "int4:sym:group(128)");
  EXPECT_EQ(llm_recipe("w4a16-gptq").algorithm, WeightAlgorithm::Gptq);
  EXPECT_EQ(llm_recipe("w8a8").activations, ActivationFormat::Int8PerToken);
  EXPECT_EQ(llm_recipe("w8a8-sq").algorithm, WeightAlgorithm::SmoothQuant);
  EXPECT_DOUBLE_EQ(llm_recipe("w8a8-sq").alpha, 0.5);
  EXPECT_EQ(to_string(llm_recipe("fp8").weight), "fp8_e4m3:sym:per_tensor");
  EXPECT_EQ(llm_recipe("fp8").activations, ActivationFormat::Fp8Static);
  EXPECT_EQ(llm_recipe("w4a8-awq").activations, ActivationFormat::Fp8Static);
  EXPECT_EQ(llm_recipe("w4a8-awq").algorithm, WeightAlgorithm::Awq);
  EXPECT_FALSE(llm_recipe("fp32").quantize_weights);
}

TEST(LlmRecipes, WhatNeedsCalibration) {
  EXPECT_FALSE(llm_recipe("w8a16").needs_calibration());
  EXPECT_FALSE(llm_recipe("w4a16-rtn").needs_calibration());
  EXPECT_FALSE(llm_recipe("w8a8").needs_calibration());
  EXPECT_TRUE(llm_recipe("w8a8-sq").needs_calibration());
  EXPECT_TRUE(llm_recipe("w4a16-awq").needs_calibration());
  EXPECT_TRUE(llm_recipe("w4a16-gptq").needs_calibration());
  EXPECT_TRUE(llm_recipe("fp8").needs_calibration());
  LlmRecipe fp32 = llm_recipe("fp32");
  EXPECT_FALSE(fp32.needs_calibration());
  fp32.kv_cache = DType::I8;
  EXPECT_TRUE(fp32.needs_calibration());
  fp32.kv_dynamic = true;
  EXPECT_FALSE(fp32.needs_calibration());
}

TEST(LlmRecipes, BadValuesAreErrors) {
  EXPECT_THROW(llm_recipe("w3a16"), Error);
  LlmRecipe r = llm_recipe("w8a8-sq");
  r.alpha = 1.5;
  EXPECT_THROW(validate_llm_recipe(r), Error);
  r = llm_recipe("w4a16-rtn");
  r.weight.group_size = 7;
  EXPECT_THROW(validate_llm_recipe(r), Error);
  r = llm_recipe("w4a16-gptq");
  r.gptq_damp = 0;
  EXPECT_THROW(validate_llm_recipe(r), Error);
  r = llm_recipe("w4a16-awq");
  r.weight = parse_quant_spec("fp8_e4m3:sym:per_tensor");
  EXPECT_THROW(validate_llm_recipe(r), Error);  // AWQ needs integer weights
  r = llm_recipe("w8a16");
  r.kv_dynamic = true;
  EXPECT_THROW(validate_llm_recipe(r), Error);  // dynamic scales of no KV cache
  r = llm_recipe("w8a16");
  r.kv_cache = DType::F16;
  EXPECT_THROW(validate_llm_recipe(r), Error);
}

std::vector<int64_t> stream(int64_t n) {
  std::vector<int64_t> t(static_cast<size_t>(n));
  std::iota(t.begin(), t.end(), 0);
  return t;
}

TEST(CalibrationWindows, DisjointSeededInTextOrder) {
  const auto tokens = stream(10000);
  const CalibrationWindows w = make_calibration_windows(tokens, 512, {.samples = 8, .seq_len = 256, .seed = 5});
  ASSERT_EQ(w.windows.size(), 8u);
  EXPECT_TRUE(w.warnings.empty());
  for (size_t i = 0; i < w.windows.size(); ++i) {
    ASSERT_EQ(w.windows[i].size(), 256u);
    EXPECT_EQ(w.windows[i].front() % 256, 0) << "windows start on a multiple of seq_len";
    for (size_t k = 1; k < 256; ++k) EXPECT_EQ(w.windows[i][k], w.windows[i][0] + int64_t(k));
    if (i > 0) {
      EXPECT_GT(w.windows[i].front(), w.windows[i - 1].front());
    }
  }
  const CalibrationWindows again = make_calibration_windows(tokens, 512, {.samples = 8, .seq_len = 256, .seed = 5});
  EXPECT_EQ(again.windows, w.windows);
  const CalibrationWindows other = make_calibration_windows(tokens, 512, {.samples = 8, .seq_len = 256, .seed = 6});
  EXPECT_NE(other.windows, w.windows);
}

TEST(CalibrationWindows, ClampedToContextAndText) {
  const auto tokens = stream(3000);
  const CalibrationWindows w = make_calibration_windows(tokens, 512, {.samples = 128, .seq_len = 1024, .seed = 0});
  EXPECT_EQ(w.seq_len, 512);
  EXPECT_EQ(w.windows.size(), 5u);  // 3000 / 512
  EXPECT_EQ(w.warnings.size(), 2u);
}

TEST(CalibrationWindows, TextShorterThanOneWindowSaysWhatItNeeds) {
  const auto tokens = stream(100);
  try {
    make_calibration_windows(tokens, 512, {.samples = 4, .seq_len = 256, .seed = 0});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("100 tokens"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("needs 256"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace octet
