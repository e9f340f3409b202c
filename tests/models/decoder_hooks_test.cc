// Quantization hooks of the decoders: every Linear named by its checkpoint
// module path, in execution order; residual and norm-input sites named
// "<module>:residual" / "<norm>:input"; installed observers see the tensors,
// installed transforms change the result, and nothing installed changes nothing.
#include <gtest/gtest.h>

#include <cstring>
#include <set>

#include "octet/generate.h"
#include "octet/safetensors.h"
#include "support/shared_data.h"

namespace octet {
namespace {

class DecoderHooks : public ::testing::TestWithParam<std::string> {};

TEST_P(DecoderHooks, LinearNamesAreCheckpointModulePaths) {
  const auto dir = testing::shared_path("fixtures/hf/" + GetParam());
  auto model = load_causal_lm(dir);
  const Checkpoint ckpt = Checkpoint::open(dir);
  std::vector<std::string> names;
  model->visit_linears([&](nn::Linear& l) { names.push_back(l.name()); });
  ASSERT_FALSE(names.empty());
  for (const auto& n : names) {
    const bool tied_head = (n == "lm_head" || n == "embed_out") && !ckpt.contains(n + ".weight");
    EXPECT_TRUE(tied_head || ckpt.contains(n + ".weight")) << n;
  }
  EXPECT_TRUE(names.back() == "lm_head" || names.back() == "embed_out") << names.back();
  // Every stored tensor is a parameter, under its stored name.
  std::set<std::string> params;
  for (const auto& [n, t] : model->parameters()) params.insert(n);
  for (const auto& n : ckpt.names()) EXPECT_TRUE(params.count(n)) << n;
  // Sites: unique names, attention q/k/v, a residual per branch, a norm input per norm.
  std::set<std::string> sites;
  int residuals = 0, norms = 0;
  model->visit_sites([&](nn::ActivationSite& s) {
    EXPECT_TRUE(sites.insert(s.name()).second) << "duplicate site " << s.name();
    residuals += s.kind() == nn::SiteKind::ResidualAdd;
    norms += s.kind() == nn::SiteKind::NormInput;
  });
  EXPECT_EQ(residuals, 2 * model->info().num_layers);
  EXPECT_GE(norms, model->info().num_layers + 1);
}

INSTANTIATE_TEST_SUITE_P(HfFixtures, DecoderHooks,
                         ::testing::Values("gpt2", "llama", "qwen2", "gptj", "gpt_neox", "opt", "falcon", "falcon_mqa",
                                           "phi"),
                         [](const auto& info) { return info.param; });

TEST(DecoderHooksLlama, ExecutionOrderAndSiteBehaviour) {
  auto model = load_causal_lm(testing::shared_path("fixtures/hf/llama"));
  std::vector<std::string> names;
  model->visit_linears([&](nn::Linear& l) { names.push_back(l.name()); });
  const std::vector<std::string> layer0 = {
      "model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.k_proj", "model.layers.0.self_attn.v_proj",
      "model.layers.0.self_attn.o_proj", "model.layers.0.mlp.gate_proj",    "model.layers.0.mlp.up_proj",
      "model.layers.0.mlp.down_proj"};
  ASSERT_EQ(names.size(), 15u);
  EXPECT_EQ(std::vector<std::string>(names.begin(), names.begin() + 7), layer0);
  const Tensor ids = Tensor::from_vector<int64_t>({5, 9, 100, 7}, {1, 4});
  const Tensor before = model->forward({ids, {}, {}, {}}).at("logits").clone();
  nn::ActivationSite* residual = nullptr;
  nn::ActivationSite* norm_in = nullptr;
  model->visit_sites([&](nn::ActivationSite& s) {
    if (s.name() == "model.layers.1.mlp:residual") residual = &s;
    if (s.name() == "model.norm:input") norm_in = &s;
  });
  ASSERT_TRUE(residual && norm_in);
  Shape seen;
  norm_in->set_observer([&](const nn::ActivationSite&, const Tensor& x) { seen = x.shape(); });
  EXPECT_EQ(0, std::memcmp(model->forward({ids, {}, {}, {}}).at("logits").data<float>(), before.data<float>(), before.nbytes()));
  EXPECT_EQ(seen, Shape({1, 4, 64}));
  residual->set_transform([](const Tensor& x) { return Tensor::zeros(x.shape(), DType::F32); });
  const Tensor changed = model->forward({ids, {}, {}, {}}).at("logits");
  EXPECT_NE(0, std::memcmp(changed.data<float>(), before.data<float>(), before.nbytes()));
  residual->clear();
  norm_in->clear();
}

}  // namespace
}  // namespace octet
