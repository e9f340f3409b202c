// Encoder loading errors: each one a clear octet::Error naming what is wrong.
// Broken models are copies of a fixture with one thing changed.
#include <gtest/gtest.h>

#include <fstream>

#include "models/encoder_test_util.h"
#include "octet/model.h"
#include "octet/safetensors.h"

namespace octet {
namespace {

namespace fs = std::filesystem;
using testing::error_of;
using testing::fixture_dir;

// A copy of fixture `name` in a fresh folder; `edit_config` and `edit_tensors`
// change the config JSON and the tensor list on the way.
fs::path broken_copy(const std::string& name, const std::function<void(nlohmann::json&)>& edit_config,
                     const std::function<void(std::vector<std::pair<std::string, Tensor>>&)>& edit_tensors = {}) {
  const fs::path src = fixture_dir(name), dst = testing::temp_dir();
  nlohmann::json config = nlohmann::json::parse(std::ifstream(src / "config.json"));
  if (edit_config) edit_config(config);
  std::ofstream(dst / "config.json") << config.dump(2);
  const SafetensorsFile weights = SafetensorsFile::open(src / "model.safetensors");
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (const auto& n : weights.names()) tensors.emplace_back(n, weights.get(n));
  if (edit_tensors) edit_tensors(tensors);
  save_safetensors(dst / "model.safetensors", tensors);
  return dst;
}

std::string message(const Error& e) { return e.what(); }

TEST(EncoderErrors, UnchangedCopyLoads) {
  // The helper itself keeps a loadable model (so the failures below are the edits').
  EXPECT_NO_THROW(load_model(broken_copy("bert", {})));
}

TEST(EncoderErrors, MissingTensorNamesItAndTheConfig) {
  for (const std::string fixture : {"bert", "deberta_v2", "albert"}) {
    std::string dropped;
    const auto dir = broken_copy(fixture, {}, [&](auto& tensors) {
      // Drop an attention weight the config needs.
      for (auto it = tensors.begin(); it != tensors.end(); ++it)
        if (it->first.find("query") != std::string::npos && it->first.find("weight") != std::string::npos) {
          dropped = it->first;
          tensors.erase(it);
          break;
        }
    });
    ASSERT_FALSE(dropped.empty());
    const Error e = error_of([&] { load_model(dir); });
    EXPECT_EQ(e.tag(), "safetensors") << message(e);
    EXPECT_NE(message(e).find("'" + dropped + "'"), std::string::npos) << message(e);
    EXPECT_NE(message(e).find("config"), std::string::npos) << message(e);
    EXPECT_NE(message(e).find("model.safetensors"), std::string::npos) << message(e);
  }
}

TEST(EncoderErrors, ShapeMismatchNamesBothShapes) {
  const auto dir = broken_copy("distilbert", {}, [](auto& tensors) {
    for (auto& [name, t] : tensors)
      if (name == "distilbert.transformer.layer.1.ffn.lin1.weight") t = Tensor::zeros({96, 64}, DType::F32);
  });
  const Error e = error_of([&] { load_model(dir); });
  EXPECT_NE(message(e).find("distilbert.transformer.layer.1.ffn.lin1.weight"), std::string::npos) << message(e);
  EXPECT_NE(message(e).find("[96, 64]"), std::string::npos) << message(e);
  EXPECT_NE(message(e).find("[128, 64]"), std::string::npos) << message(e);
}

TEST(EncoderErrors, UnknownArchitectureListsSupportedTypes) {
  const auto dir = broken_copy("bert", [](auto& c) {
    c["model_type"] = "funnel";
    c["architectures"] = {"FunnelForSequenceClassification"};
  });
  const Error e = error_of([&] { load_model(dir); });
  EXPECT_EQ(e.tag(), "models");
  EXPECT_NE(message(e).find("funnel"), std::string::npos) << message(e);
  for (const char* known : {"bert", "roberta", "xlm-roberta", "electra", "distilbert", "albert", "deberta-v2"})
    EXPECT_NE(message(e).find(known), std::string::npos) << known << " not listed: " << message(e);
}

TEST(EncoderErrors, HiddenSizeNotDivisibleByHeads) {
  for (const auto& [fixture, heads_key] : std::vector<std::pair<std::string, std::string>>{
           {"bert", "num_attention_heads"}, {"distilbert", "n_heads"}, {"albert", "num_attention_heads"},
           {"deberta_v2", "num_attention_heads"}, {"electra", "num_attention_heads"}}) {
    const std::string key = heads_key;  // a copy: clang < 16 cannot capture structured bindings
    const auto dir = broken_copy(fixture, [&](auto& c) { c[key] = 5; });
    const Error e = error_of([&] { load_model(dir); });
    EXPECT_EQ(e.tag(), "config") << fixture;
    EXPECT_NE(message(e).find("not a multiple"), std::string::npos) << message(e);
    EXPECT_NE(message(e).find("config.json"), std::string::npos) << message(e);
  }
}

TEST(EncoderErrors, UnsupportedVariantsAreRejectedNotMisrun) {
  const auto relative_key = broken_copy("bert", [](auto& c) { c["position_embedding_type"] = "relative_key"; });
  EXPECT_NE(message(error_of([&] { load_model(relative_key); })).find("relative_key"), std::string::npos);
  const auto conv = broken_copy("deberta_v2", [](auto& c) { c["conv_kernel_size"] = 3; });
  EXPECT_NE(message(error_of([&] { load_model(conv); })).find("conv_kernel_size"), std::string::npos);
  const auto p2p = broken_copy("deberta_v2", [](auto& c) { c["pos_att_type"] = "c2p|p2p"; });
  EXPECT_NE(message(error_of([&] { load_model(p2p); })).find("p2p"), std::string::npos);
  const auto act = broken_copy("bert", [](auto& c) { c["hidden_act"] = "mish"; });
  EXPECT_NE(message(error_of([&] { load_model(act); })).find("mish"), std::string::npos);
}

TEST(EncoderErrors, BadInputs) {
  const auto model = load_model(fixture_dir("bert"));
  ModelInputs in;
  EXPECT_NE(message(error_of([&] { model->forward(in); })).find("input_ids"), std::string::npos);
  in.input_ids = Tensor::from_vector<int64_t>({5, 6, 7}, {1, 3});
  EXPECT_NO_THROW(model->forward(in));
  in.attention_mask = Tensor::from_vector<int64_t>({1, 1}, {1, 2});
  EXPECT_NE(message(error_of([&] { model->forward(in); })).find("attention_mask"), std::string::npos);
  in.attention_mask = {};
  in.input_ids = Tensor::from_vector<int64_t>({5, 512, 7}, {1, 3});  // vocab is 512
  EXPECT_NE(message(error_of([&] { model->forward(in); })).find("512"), std::string::npos);
  in.input_ids = Tensor::zeros({1, 129}, DType::I64);  // 128 positions
  EXPECT_NE(message(error_of([&] { model->forward(in); })).find("128 positions"), std::string::npos);
  in.input_ids = Tensor::from_vector<int64_t>({5, 6}, {1, 2});
  in.token_type_ids = Tensor::from_vector<int64_t>({0, 2}, {1, 2});  // type_vocab_size 2
  EXPECT_NE(message(error_of([&] { model->forward(in); })).find("token type"), std::string::npos);
}

// Sites cost nothing until installed; installed, they see and change the forward.
TEST(EncoderSites, ObserverAndTransformReachTheForward) {
  const auto model = load_model(fixture_dir("bert"));
  ModelInputs in;
  in.input_ids = Tensor::from_vector<int64_t>({5, 6, 7, 8}, {1, 4});
  const Tensor before = model->forward(in).at("logits");
  int observed = 0;
  nn::ActivationSite* residual = nullptr;
  model->visit_sites([&](nn::ActivationSite& s) {
    if (s.name() == "bert.encoder.layer.1.output.dense:residual") residual = &s;
    if (s.kind() == nn::SiteKind::NormInput)
      s.set_observer([&](const nn::ActivationSite&, const Tensor& x) {
        EXPECT_EQ(x.dim(-1), 64);
        ++observed;
      });
  });
  ASSERT_NE(residual, nullptr);
  // Observers only watch: same logits, one call per norm (embeddings + 2 per layer).
  EXPECT_EQ(testing::max_abs_diff(model->forward(in).at("logits"), before), 0.0);
  EXPECT_EQ(observed, 5);
  residual->set_transform([](const Tensor& x) { return Tensor::zeros(x.shape(), DType::F32); });
  EXPECT_GT(testing::max_abs_diff(model->forward(in).at("logits"), before), 1e-6);
  residual->clear();
  EXPECT_EQ(testing::max_abs_diff(model->forward(in).at("logits"), before), 0.0);
}

}  // namespace
}  // namespace octet
