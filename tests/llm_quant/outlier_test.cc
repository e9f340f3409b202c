// SmoothQuant's reason to exist, built in the test: kjv-llama rescaled so
// that a few channels of every norm output carry LLM.int8()-style outliers
// (norm weight channel c multiplied by s, the matching input columns of the
// Linears it feeds divided by s: the fp32 function is unchanged). Naive
// w8a8 (per-token int8 activations) loses the small channels under the
// outliers' scale and degrades by >= 10 %; w8a8-sq migrates the outliers
// into the weights and stays within 1 %.
#include <gtest/gtest.h>

#include <cstdio>

#include "llm_quant/kjv.h"
#include "quant/smoothquant.h"

namespace octet::testing {
namespace {

constexpr float kOutlierScale = 256.0f;
constexpr int64_t kOutlierChannels[] = {3, 77, 150, 201};

// Multiplies the outlier channels of every norm-fed group's input by s (norm
// weight * s, consumer columns / s): the same fold SmoothQuant uses, inverted.
void plant_outliers(Model& model) {
  model.visit_linear_groups([](nn::LinearInputGroup& g) {
    if (!g.producer || !g.producer->channel_of.empty() || g.producer->name.find("layernorm") == std::string::npos)
      return;
    std::vector<float> divisors(size_t(g.producer->channels), 1.0f);
    for (const int64_t c : kOutlierChannels) divisors[size_t(c)] = 1.0f / kOutlierScale;
    fold_channel_factors(g, divisors);
  });
}

QuantizedKjv quantize_outlier_model(const std::string& recipe) {
  QuantizedKjv q;
  q.model = load_kjv();
  plant_outliers(*q.model);
  LlmQuantizeOptions o;
  o.recipe = llm_recipe(recipe);
  o.progress = false;
  q.config = quantize_llm(*q.model, kjv_data().calibration, o, &q.report);
  apply_quantization(*q.model, q.config, QuantExecution::Simulated);
  return q;
}

double delta_percent(const ModelComparison& c) { return 100.0 * (c.b.perplexity / c.a.perplexity - 1.0); }

TEST(OutlierModel, FunctionPreservedInFp32) {
  auto model = load_kjv();
  plant_outliers(*model);
  const ModelComparison c = versus_fp32(*model);
  std::printf("  outlier model in fp32: ppl %.4f vs %.4f, KL %.2e\n", c.b.perplexity, c.a.perplexity, c.mean_kl);
  EXPECT_NEAR(c.b.perplexity, c.a.perplexity, 1e-4 * c.a.perplexity);
  EXPECT_LT(c.mean_kl, 1e-8);
}

TEST(OutlierModel, NaiveW8A8DegradesSmoothQuantRecovers) {
  const ModelComparison naive = versus_fp32(*quantize_outlier_model("w8a8").model);
  const ModelComparison smooth = versus_fp32(*quantize_outlier_model("w8a8-sq").model);
  std::printf("  outlier model w8a8:    ppl %.4f (%+.2f%%), KL %.4f\n", naive.b.perplexity, delta_percent(naive),
              naive.mean_kl);
  std::printf("  outlier model w8a8-sq: ppl %.4f (%+.2f%%), KL %.4f\n", smooth.b.perplexity, delta_percent(smooth),
              smooth.mean_kl);
  EXPECT_GE(delta_percent(naive), 10.0);
  EXPECT_LE(delta_percent(smooth), 1.0);
}

}  // namespace
}  // namespace octet::testing
