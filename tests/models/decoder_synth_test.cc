// octet synth: the files load (llama) or match a real transformers checkpoint's
// tensor names and shapes (bert, whose loader lives on another branch), the
// weights have the promised distribution, and a seed fixes them.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>

#include "octet/generate.h"
#include "octet/json_config.h"
#include "octet/safetensors.h"
#include "octet/synth.h"
#include "octet/tokenizer.h"
#include "support/shared_data.h"

namespace octet {
namespace {

std::map<std::string, Shape> shapes_of(const std::filesystem::path& file) {
  const SafetensorsFile f = SafetensorsFile::open(file);
  std::map<std::string, Shape> out;
  for (const auto& name : f.names()) out[name] = f.info(name).shape;
  return out;
}

std::map<std::string, Shape> shapes_of(const SynthPlan& plan) {
  std::map<std::string, Shape> out;
  for (const auto& t : plan.tensors) out[t.name] = t.shape;
  return out;
}

TEST(Synth, TinyLlamaLoadsAndMatchesFixtureLayout) {
  const auto dir = testing::temp_dir() / "llama";
  const SynthResult r = synthesize({.arch = "llama", .size = "tiny", .seed = 1}, dir);
  EXPECT_EQ(shapes_of(dir / "model.safetensors"), shapes_of(testing::shared_path("fixtures/hf/llama/model.safetensors")));
  const auto model = load_causal_lm(dir);
  EXPECT_EQ(model->info().architecture, "LlamaForCausalLM");
  EXPECT_EQ(model->info().num_kv_heads, 2);
  int64_t params = 0;
  for (const auto& [name, t] : model->parameters()) params += t.numel();
  EXPECT_EQ(params, r.parameters);
  const Tensor logits = model->forward({Tensor::from_vector<int64_t>({1, 7, 300, 42}, {1, 4}), {}, {}, {}}).at("logits");
  for (float v : logits.span<float>()) ASSERT_TRUE(std::isfinite(v));
  // tokenizer.gguf: one piece per embedding row, and text round-trips (letters as pieces, the rest as bytes).
  const Tokenizer tok = load_model_tokenizer(dir);
  EXPECT_EQ(tok.vocab_size(), size_t{512});
  const Encoding e = tok.encode("in the beginning, 42");
  ASSERT_FALSE(e.ids.empty());
  EXPECT_EQ(e.ids.front(), 1);  // <s>
  for (int64_t id : e.ids) EXPECT_LT(id, 512);
  EXPECT_EQ(tok.decode(e.ids, /*skip_special_tokens=*/true), "in the beginning, 42");
}

TEST(Synth, BertMatchesTransformersNamesAndShapes) {
  // tiny has the fixture's dimensions: names and shapes must be identical.
  const auto dir = testing::temp_dir() / "bert";
  synthesize({.arch = "bert", .size = "tiny"}, dir);
  const auto fixture = shapes_of(testing::shared_path("fixtures/hf/bert/model.safetensors"));
  EXPECT_EQ(shapes_of(dir / "model.safetensors"), fixture);
  // And the encoders' builder (merged from main) loads it as a classifier.
  const auto bert = load_model(dir);
  const Tensor logits = bert->forward({Tensor::from_vector<int64_t>({2, 40, 41, 3}, {1, 4}), {}, {}, {}}).at("logits");
  EXPECT_EQ(logits.shape(), Shape({1, 2}));
  const JsonConfig cfg = JsonConfig::load(dir / "config.json");
  EXPECT_EQ(cfg.get_string_list("architectures"), std::vector<std::string>{"BertForSequenceClassification"});
  EXPECT_EQ(cfg.get<std::string>("model_type"), "bert");
  // base and large: the fixture's tensors with each dimension scaled to the config.
  for (const auto& [size, dims] : std::map<std::string, std::map<int64_t, int64_t>>{
           {"base", {{64, 768}, {128, 3072}, {512, 30522}, {2, 2}}},
           {"large", {{64, 1024}, {128, 4096}, {512, 30522}, {2, 2}}}}) {
    const SynthPlan plan = synth_plan({.arch = "bert", .size = size});
    const auto got = shapes_of(plan);
    const int64_t layers = size == "base" ? 12 : 24;
    EXPECT_EQ(int64_t(got.size()), int64_t(fixture.size()) + (layers - 2) * 16) << size;
    for (const auto& [name, shape] : fixture) {
      Shape want = shape;
      for (auto& d : want) d = dims.at(d);
      if (name == "bert.embeddings.position_embeddings.weight") want[0] = 512;  // max_position_embeddings 512
      ASSERT_TRUE(got.count(name)) << size << " lacks " << name;
      EXPECT_EQ(got.at(name), want) << size << " " << name;
    }
  }
}

TEST(Synth, OneBillionPlanHasTinyLlamaShapes) {
  const SynthPlan plan = synth_plan({.arch = "llama", .size = "1b"});
  // TinyLlama-1.1B: 1,100,048,384 parameters.
  EXPECT_EQ(plan.parameters(), 1100048384);
  const auto shapes = shapes_of(plan);
  EXPECT_EQ(shapes.at("model.layers.21.self_attn.k_proj.weight"), Shape({256, 2048}));
  EXPECT_EQ(shapes.at("model.layers.0.mlp.gate_proj.weight"), Shape({5632, 2048}));
}

TEST(Synth, WeightsAreNormalWithHfStdAndSeeded) {
  const auto dir = testing::temp_dir();
  synthesize({.arch = "llama", .size = "tiny", .seed = 5}, dir / "a");
  synthesize({.arch = "llama", .size = "tiny", .seed = 5}, dir / "b");
  synthesize({.arch = "llama", .size = "tiny", .seed = 6}, dir / "c");
  auto bytes = [](const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  EXPECT_EQ(bytes(dir / "a/model.safetensors"), bytes(dir / "b/model.safetensors"));
  EXPECT_NE(bytes(dir / "a/model.safetensors"), bytes(dir / "c/model.safetensors"));
  const SafetensorsFile f = SafetensorsFile::open(dir / "a/model.safetensors");
  const Tensor w = f.get("model.embed_tokens.weight");  // 32768 values
  double sum = 0, sq = 0;
  for (float v : w.span<float>()) sum += v, sq += double(v) * v;
  const double n = double(w.numel()), mean = sum / n, sd = std::sqrt(sq / n - mean * mean);
  // 5 standard errors: mean ~ N(0, 0.02^2 / n), sample sd ~ 0.02 (1 +- 1/sqrt(2n)).
  EXPECT_NEAR(mean, 0.0, 5 * 0.02 / std::sqrt(n));
  EXPECT_NEAR(sd, 0.02, 5 * 0.02 / std::sqrt(2 * n));
  for (float v : f.get("model.norm.weight").span<float>()) EXPECT_EQ(v, 1.0f);
}

TEST(Synth, UnknownArchOrSizeIsAnError) {
  EXPECT_THROW(synth_plan({.arch = "gpt2"}), Error);
  EXPECT_THROW(synth_plan({.arch = "llama", .size = "7b"}), Error);
  EXPECT_THROW(synth_plan({.arch = "bert", .size = "1b"}), Error);
}

}  // namespace
}  // namespace octet
