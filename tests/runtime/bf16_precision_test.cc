// The bf16 CPU precision (octet/precision.h) on the real trained models:
// accuracy against fp32 within the budgets, row invariance for
// batched decode, and the errors a user meets.
//
// Budgets: SST-2 dev accuracy within 0.2 point of fp32 (sst2-bert-mini, all
// 872 sentences); kjv-llama perplexity within 0.5 % of fp32 and top-1
// agreement >= 99 % on 8k validation tokens. bf16 rounds every Linear input
// and weight with relative error <= 2^-9, so a Linear's output moves by at
// most ~2^-8 of sum |x w| (tests/kernels/gemm_bf16_test.cc proves that bound);
// these checks are what that costs end to end.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "octet/error.h"
#include "octet/eval.h"
#include "octet/gemm_bf16.h"
#include "octet/generate.h"
#include "octet/perplexity.h"
#include "octet/precision.h"
#include "octet/quantize_model.h"
#include "octet/tokenizer.h"
#include "support/shared_data.h"

namespace octet {
namespace {

class Bf16Precision : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!bf16_gemm_supported()) {
      const auto model = load_model(testing::shared_path("models/sst2-bert-mini"));
      EXPECT_THROW(use_bf16_kernels(*model), Error);  // a clear error, never an illegal instruction
      GTEST_SKIP() << "this CPU lacks AVX-512 BF16";
    }
  }
};

TEST_F(Bf16Precision, Sst2AccuracyWithinAFifthOfAPoint) {
  const auto dir = testing::shared_path("models/sst2-bert-mini");
  const auto tok = Tokenizer::load(dir);
  const auto dev = load_tsv_dataset(testing::shared_path("data/sst2/dev.tsv"));
  ASSERT_EQ(dev.size(), 872u);
  EvalOptions eo;
  eo.progress = false;
  const auto model = load_model(dir);
  const double fp32 = evaluate_classification(*model, tok, dev, eo).accuracy;
  use_bf16_kernels(*model);
  int64_t bf16_linears = 0;
  model->visit_linears([&](nn::Linear& l) { bf16_linears += l.kernel() && l.kernel()->describe() == "bf16"; });
  EXPECT_GT(bf16_linears, 0);
  EXPECT_GT(bf16_weight_bytes(*model), 0u);
  const double bf16 = evaluate_classification(*model, tok, dev, eo).accuracy;
  RecordProperty("fp32", std::to_string(fp32));
  RecordProperty("bf16", std::to_string(bf16));
  EXPECT_NEAR(bf16, fp32, 0.002) << "bf16 " << bf16 << " vs fp32 " << fp32;
  use_bf16_kernels(*model);  // a second call keeps the kernels it installed
}

TEST_F(Bf16Precision, KjvLlamaPerplexityAndAgreement) {
  const auto dir = testing::shared_path("models/kjv-llama");
  std::ifstream in(dir / "kjv.valid.txt");
  std::stringstream text;
  text << in.rdbuf();
  std::vector<int64_t> ids = load_model_tokenizer(dir).encode(text.str().substr(0, 60000)).ids;
  ASSERT_GT(ids.size(), 8192u);
  ids.resize(8192);
  const auto fp32 = load_causal_lm(dir);
  const auto bf16 = load_causal_lm(dir);
  use_bf16_kernels(*bf16);
  const ModelComparison c = compare_models(*bf16, *fp32, ids);
  RecordProperty("ppl_fp32", std::to_string(c.b.perplexity));
  RecordProperty("ppl_bf16", std::to_string(c.a.perplexity));
  EXPECT_NEAR(c.a.perplexity, c.b.perplexity, 0.005 * c.b.perplexity);
  EXPECT_GE(c.top1_agreement, 0.99);
  EXPECT_LT(c.mean_kl, 1e-3);
}

// The bf16 kernel computes each row alone, so a batch of ragged sequences
// decodes exactly as each sequence on its own (what octet serve batches on).
TEST_F(Bf16Precision, BatchedGreedyDecodeEqualsOneSequenceAtATime) {
  const auto model = load_causal_lm(testing::shared_path("models/kjv-llama"));
  use_bf16_kernels(*model);
  int64_t invariant = 0;
  model->visit_linears([&](nn::Linear& l) { invariant = std::max(invariant, l.row_invariant_rows()); });
  EXPECT_GE(invariant, 64);
  const std::vector<std::vector<int64_t>> prompts = {{1, 450, 3303, 310}, {1, 1126}, {1, 2987, 13, 450, 1701, 338}};
  GenerationOptions go;
  go.max_new_tokens = 12;
  const auto batched = generate(*model, prompts, go).new_tokens;
  ASSERT_EQ(batched.size(), prompts.size());
  for (size_t i = 0; i < prompts.size(); ++i)
    EXPECT_EQ(generate(*model, {prompts[i]}, go).new_tokens[0], batched[i]) << i;
}

// fp32 with the weights packed once: the same logits as the plain model, bit
// for bit (the same tiles and blocks read the panels in place); the
// quantization passes and bf16 replace the packed kernels like any other.
TEST(PackedFp32Precision, SameLogitsAsPlainFp32AndReplaceable) {
  if (!packed_fp32_supported()) GTEST_SKIP() << "octet's AVX-512 GEMM does not run here";
  const auto dir = testing::shared_path("models/sst2-bert-mini");
  const auto model = load_model(dir);
  const auto tok = Tokenizer::load(dir);
  const auto dev = load_tsv_dataset(testing::shared_path("data/sst2/dev.tsv"));
  EvalOptions eo;
  eo.limit = 64;
  eo.progress = false;
  const Tensor plain = classification_logits(*model, tok, dev, eo);
  apply_cpu_precision(*model, "fp32");
  int64_t packed = 0;
  model->visit_linears([&](nn::Linear& l) { packed += l.kernel() && l.kernel()->describe() == "f32-packed"; });
  EXPECT_GT(packed, 0);
  EXPECT_GT(packed_fp32_weight_bytes(*model), 0u);
  const Tensor with_packed = classification_logits(*model, tok, dev, eo);
  ASSERT_EQ(with_packed.shape(), plain.shape());
  EXPECT_EQ(std::memcmp(with_packed.data<float>(), plain.data<float>(), sizeof(float) * plain.numel()), 0);
  if (bf16_gemm_supported()) {
    use_bf16_kernels(*model);
    model->visit_linears([](nn::Linear& l) { EXPECT_EQ(l.kernel()->describe(), "bf16") << l.name(); });
    clear_quantization(*model);
  }
  apply_cpu_precision(*model, "fp32");
  QuantizeOptions o;
  o.recipe = recipe_preset("int8-dynamic");
  o.progress = false;
  apply_quantization(*model, quantize_model(*model, {}, o), QuantExecution::Native);
  model->visit_linears([](nn::Linear& l) { EXPECT_NE(l.kernel()->describe(), "f32-packed") << l.name(); });
}

TEST_F(Bf16Precision, RefusesQuantizedModelsAndUnknownPrecisions) {
  const auto dir = testing::shared_path("models/sst2-bert-mini");
  const auto model = load_model(dir);
  EXPECT_THROW(apply_cpu_precision(*model, "fp16"), Error);
  EXPECT_THROW(apply_cpu_precision(*model, "int8"), Error);
  QuantizeOptions o;
  o.recipe = recipe_preset("int8-dynamic");
  o.progress = false;
  apply_quantization(*model, quantize_model(*model, {}, o), QuantExecution::Native);
  try {
    use_bf16_kernels(*model);
    FAIL() << "bf16 on an int8 model did not throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not quantized ones"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace octet
