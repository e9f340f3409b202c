// The per-channel folding SmoothQuant and AWQ rely on: for every decoder
// family, dividing each foldable group's input channels by s at the producer
// and multiplying the consumers' columns by s leaves the logits unchanged in
// fp32 (to 1e-5 relative), with factors spread over [1/8, 8]; the SmoothQuant
// factors themselves against the formula; the groups each family exposes.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "octet/generate.h"
#include "octet/llm_quantize.h"
#include "octet/safetensors.h"
#include "quant/smoothquant.h"
#include "support/shared_data.h"

namespace octet {
namespace {

Tensor logits_of(const Model& m, const Tensor& ids) { return m.forward({ids, {}, {}, {}}).at("logits").contiguous(); }

// max |a - b| / max |b|
double relative_max_diff(const Tensor& a, const Tensor& b) {
  double diff = 0, top = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    diff = std::max(diff, std::fabs(double(a.data<float>()[i]) - b.data<float>()[i]));
    top = std::max(top, std::fabs(double(b.data<float>()[i])));
  }
  return diff / top;
}

Tensor some_ids(int64_t vocab, int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<int64_t> ids(static_cast<size_t>(n));
  for (auto& id : ids) id = int64_t(rng() % uint64_t(vocab));
  return Tensor::from_vector(ids, {1, n});
}

class FoldEveryFamily : public ::testing::TestWithParam<std::string> {};

TEST_P(FoldEveryFamily, RandomFactorsPreserveTheLogits) {
  const auto model = load_causal_lm(testing::shared_path("fixtures/hf/" + GetParam()));
  const Tensor ids = some_ids(model->info().vocab_size, 24, 7);
  const Tensor before = logits_of(*model, ids);
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<float> log2_factor(-3.0f, 3.0f);
  int folded = 0;
  model->visit_linear_groups([&](nn::LinearInputGroup& g) {
    if (!g.producer) return;
    std::vector<float> s(static_cast<size_t>(g.producer->channels));
    for (float& v : s) v = std::exp2(log2_factor(rng));
    fold_channel_factors(g, s);
    ++folded;
  });
  EXPECT_GT(folded, 0) << "no foldable group in " << GetParam();
  const Tensor after = logits_of(*model, ids);
  EXPECT_LT(relative_max_diff(after, before), 1e-5) << GetParam();
}

INSTANTIATE_TEST_SUITE_P(HfFixtures, FoldEveryFamily,
                         ::testing::Values("gpt2", "llama", "mistral", "qwen2", "gptj", "gpt_neox", "opt", "falcon",
                                           "falcon_mqa", "phi"),
                         [](const auto& info) { return info.param; });

// Which groups LLaMA exposes: q/k/v after input_layernorm, o_proj after v_proj
// (GQA: o_proj column h*d+i maps to v row (h / group)*d+i), gate/up after
// post_attention_layernorm, down after up; lm_head alone, never foldable.
TEST(LinearGroups, LlamaLayout) {
  const auto model = load_causal_lm(testing::shared_path("fixtures/hf/llama"));
  std::vector<nn::LinearInputGroup> groups;
  model->visit_linear_groups([&](nn::LinearInputGroup& g) { groups.push_back(g); });
  ASSERT_EQ(groups.size(), 2u * 4 + 1);
  EXPECT_EQ(groups[0].name, "model.layers.0.self_attn.q_proj+k_proj+v_proj");
  ASSERT_TRUE(groups[0].producer);
  EXPECT_EQ(groups[0].producer->name, "model.layers.0.input_layernorm");
  EXPECT_EQ(groups[1].name, "model.layers.0.self_attn.o_proj");
  ASSERT_TRUE(groups[1].producer);
  EXPECT_EQ(groups[1].producer->name, "model.layers.0.self_attn.v_proj");
  // hidden 64, 4 heads of 16, 2 kv heads: head 3 (group of 2) reads kv head 1.
  EXPECT_EQ(groups[1].producer->channels, 32);
  EXPECT_EQ(groups[1].producer->channel_of.at(3 * 16 + 5), 1 * 16 + 5);
  EXPECT_EQ(groups[2].name, "model.layers.0.mlp.gate_proj+up_proj");
  EXPECT_EQ(groups[2].producer->name, "model.layers.0.post_attention_layernorm");
  EXPECT_EQ(groups[3].name, "model.layers.0.mlp.down_proj");
  EXPECT_EQ(groups[3].producer->name, "model.layers.0.mlp.up_proj");
  EXPECT_EQ(groups[4].layer, 1);
  EXPECT_TRUE(groups.back().output_head);
  EXPECT_FALSE(groups.back().producer);
}

// s_j = max|X_j|^alpha / max|W_:,j|^(1 - alpha), over the group's weights; GQA
// columns sharing a v row share the largest statistic.
TEST(SmoothQuantFactors, FollowTheFormula) {
  const auto model = load_causal_lm(testing::shared_path("fixtures/hf/llama"));
  std::vector<nn::LinearInputGroup> groups;
  model->visit_linear_groups([&](nn::LinearInputGroup& g) { groups.push_back(g); });
  for (const int index : {0, 1}) {
    const nn::LinearInputGroup& g = groups[size_t(index)];
    const int64_t in = g.linears.front()->in_features();
    std::vector<float> act(static_cast<size_t>(in));
    for (int64_t c = 0; c < in; ++c) act[size_t(c)] = 0.1f + 0.37f * float(c % 11);
    const double alpha = 0.65;
    const std::vector<float> s = smoothquant_factors(g, act, alpha);
    ASSERT_EQ(int64_t(s.size()), g.producer->channels);
    for (int64_t j = 0; j < g.producer->channels; ++j) {
      double a = 0, w = 0;
      for (int64_t c = 0; c < in; ++c) {
        const int64_t p = g.producer->channel_of.empty() ? c : g.producer->channel_of[size_t(c)];
        if (p != j) continue;
        a = std::max(a, double(act[size_t(c)]));
        for (const nn::Linear* l : g.linears)
          for (int64_t n = 0; n < l->out_features(); ++n)
            w = std::max(w, std::fabs(double(l->weight().data<float>()[n * in + c])));
      }
      EXPECT_NEAR(s[size_t(j)], std::pow(a, alpha) / std::pow(w, 1 - alpha), 1e-5 * s[size_t(j)]) << index << "/" << j;
    }
  }
}

// kjv-llama (the real model): SmoothQuant's own factors at alpha 0.5 and 0.85
// preserve the logits too.
TEST(SmoothQuantFold, KjvLlamaLogitsUnchanged) {
  const auto model = load_causal_lm(testing::shared_path("models/kjv-llama"));
  const Tensor ids = some_ids(4096, 64, 3);
  const Tensor before = logits_of(*model, ids);
  for (const double alpha : {0.5, 0.85}) {
    model->visit_linear_groups([&](nn::LinearInputGroup& g) {
      if (!g.producer) return;
      std::vector<float> act(size_t(g.linears.front()->in_features()));
      for (size_t c = 0; c < act.size(); ++c) act[c] = 0.5f + float((c * 37) % 29);
      fold_channel_factors(g, smoothquant_factors(g, act, alpha));
    });
  }
  EXPECT_LT(relative_max_diff(logits_of(*model, ids), before), 1e-5);
}

}  // namespace
}  // namespace octet
