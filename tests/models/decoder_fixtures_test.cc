// Every decoder fixture of ../shared/fixtures/hf (saved by transformers
// v4.40.2) against its reference outputs: logits and last_hidden_state of a
// left-padded batch with the stored position_ids, compared where
// attention_mask == 1, and greedy generate() with the KV cache reproducing
// generated_ids exactly.
//
// Tolerance 1e-4 (absolute, logits of magnitude <= ~1): the brief's bar for
// "reproduces"; f32 re-association differences between torch's and octet's
// kernels are ~1e-7 here (2 layers, hidden 64).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "octet/generate.h"
#include "octet/json_config.h"
#include "octet/safetensors.h"
#include "support/shared_data.h"

namespace octet {
namespace {

struct Reference {
  SafetensorsFile file;
  Tensor get(const char* name) const { return file.get(name); }
  bool has(const char* name) const { return file.contains(name); }
};

Reference open_reference(const std::string& name) {
  return {SafetensorsFile::open(testing::shared_path("fixtures/hf/" + name + "/reference.safetensors"))};
}

// Max |a - b| over positions [b, s] with mask 1 (rows of the last dimension).
double masked_max_diff(const Tensor& a, const Tensor& b, const Tensor& mask) {
  EXPECT_EQ(a.shape(), b.shape());
  const int64_t rows = mask.numel(), width = a.numel() / rows;
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  double worst = 0.0;
  for (int64_t r = 0; r < rows; ++r) {
    if (mask.data<int64_t>()[r] == 0) continue;
    for (int64_t j = 0; j < width; ++j) worst = std::max(worst, std::fabs(double(pa[r * width + j]) - pb[r * width + j]));
  }
  return worst;
}

std::vector<int64_t> row_ids(const Tensor& t, int64_t row) {
  const int64_t n = t.dim(1);
  return {t.data<int64_t>() + row * n, t.data<int64_t>() + (row + 1) * n};
}

class DecoderFixture : public ::testing::TestWithParam<std::string> {};

TEST_P(DecoderFixture, LogitsAndHiddenStatesOfLeftPaddedBatch) {
  const std::string name = GetParam();
  const auto model = load_causal_lm(testing::shared_path("fixtures/hf/" + name));
  const Reference ref = open_reference(name);
  const Tensor mask = ref.get("attention_mask");
  const NamedTensors out = model->forward({ref.get("input_ids"), mask, {}, ref.get("position_ids")});
  ASSERT_TRUE(out.count("logits"));
  const double logits_err = masked_max_diff(out.at("logits"), ref.get("logits"), mask);
  const double hidden_err = masked_max_diff(out.at("last_hidden_state"), ref.get("last_hidden_state"), mask);
  EXPECT_LE(logits_err, 1e-4) << name;
  std::printf("%s logits %.3g hidden %.3g\n", name.c_str(), logits_err, hidden_err);
  EXPECT_LE(hidden_err, 1e-4) << name;
  // Without explicit position_ids the model derives the same ones from the mask.
  const NamedTensors derived = model->forward({ref.get("input_ids"), mask, {}, {}});
  EXPECT_LE(masked_max_diff(derived.at("logits"), ref.get("logits"), mask), 1e-4) << name;
}

TEST_P(DecoderFixture, GreedyGenerationWithCacheMatchesTransformers) {
  const std::string name = GetParam();
  const auto dir = testing::shared_path("fixtures/hf/" + name);
  const auto model = load_causal_lm(dir);
  use_decode_kernels(*model);
  const Reference ref = open_reference(name);
  const Tensor prompt = ref.get("prompt_ids"), expected = ref.get("generated_ids");
  const JsonConfig meta = JsonConfig::load(dir / "meta.json").section("generation");
  GenerationOptions opt;
  opt.max_new_tokens = expected.dim(1) - prompt.dim(1);  // meta: max_new_tokens=10, no early EOS
  ASSERT_FALSE(meta.get<bool>("stopped_early_on_eos"));
  opt.eos_ids = meta.has("eos_token_id") ? std::vector<int64_t>{meta.get<int64_t>("eos_token_id")} : std::vector<int64_t>{};
  const GenerationResult r = generate(*model, {row_ids(prompt, 0)}, opt);
  std::vector<int64_t> got = row_ids(prompt, 0);
  got.insert(got.end(), r.new_tokens[0].begin(), r.new_tokens[0].end());
  EXPECT_EQ(got, row_ids(expected, 0)) << name;
}

INSTANTIATE_TEST_SUITE_P(HfFixtures, DecoderFixture,
                         ::testing::Values("gpt2", "llama", "mistral", "qwen2", "gptj", "gpt_neox", "opt", "falcon",
                                           "falcon_mqa", "phi"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace octet
