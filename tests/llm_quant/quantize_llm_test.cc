// quantize_llm end to end on kjv-llama (the real trained model), at CI size:
// every recipe quantizes, saves a folder holding only codes for its quantized
// weights, reloads to the same outputs, and keeps the perplexity of 2048
// held-out tokens within a bound per recipe (the targets, measured at
// full size by bench/llm_quant_table.sh, plus the noise of a small slice);
// AWQ and GPTQ beat round-to-nearest at groups 128 and 32.
#include <gtest/gtest.h>

#include <cstdio>

#include "llm_quant/kjv.h"
#include "octet/error.h"
#include "octet/safetensors.h"

namespace octet::testing {
namespace {

double delta_percent(const ModelComparison& c) { return 100.0 * (c.b.perplexity / c.a.perplexity - 1.0); }

void print(const std::string& what, const ModelComparison& c) {
  std::printf("  %-24s ppl %.4f -> %.4f (%+.3f%%), KL %.5f, top-1 %.2f%%\n", what.c_str(), c.a.perplexity,
              c.b.perplexity, delta_percent(c), c.mean_kl, 100 * c.top1_agreement);
}

struct RecipeCase {
  std::string recipe;
  double max_delta_percent;  // perplexity increase allowed on the 2048-token slice
};

class EveryRecipe : public ::testing::TestWithParam<RecipeCase> {};

TEST_P(EveryRecipe, QuantizesSavesReloadsAndKeepsPerplexity) {
  const RecipeCase& c = GetParam();
  QuantizedKjv q = quantize_kjv(llm_recipe(c.recipe));
  const ModelComparison cmp = versus_fp32(*q.model);
  print(c.recipe, cmp);
  EXPECT_LE(delta_percent(cmp), c.max_delta_percent) << c.recipe;
  EXPECT_GT(cmp.mean_kl, 0.0) << "a quantized model that equals fp32 exactly quantized nothing";

  // Every Linear but lm_head is quantized, with the recipe's weight format.
  int64_t linears = 0;
  q.model->visit_linears([&](nn::Linear&) { ++linears; });
  EXPECT_EQ(int64_t(q.config.linears.size()), linears - 1);
  for (const QuantizedLinear& l : q.config.linears) {
    EXPECT_EQ(to_string(l.weight_spec), to_string(llm_recipe(c.recipe).weight));
    EXPECT_NE(l.name, "lm_head");
  }
  for (const LayerReport& l : q.report.layers)
    if (l.quantized) {
      EXPECT_GT(l.output_error, 0.0) << l.name;
      EXPECT_LT(l.output_error, 0.5) << l.name;
    }

  // The folder: codes (never an f32 copy) for the quantized weights; reloading
  // gives the in-memory model's outputs bit for bit.
  const auto dir = temp_dir() / "out";
  save_quantized_model(*q.model, q.config, kjv_path(), dir);
  const SafetensorsFile file = SafetensorsFile::open(dir / "model.safetensors");
  const DType stored = dtype_info(q.config.weight_spec.dtype).is_packed ? DType::U8 : q.config.weight_spec.dtype;
  for (const QuantizedLinear& l : q.config.linears) EXPECT_EQ(file.info(l.name + ".weight").dtype, stored) << l.name;
  const auto fp32_bytes = std::filesystem::file_size(kjv_path() / "model.safetensors");
  EXPECT_LT(std::filesystem::file_size(dir / "model.safetensors"), fp32_bytes);
  const auto reloaded = load_quantized_model(dir, QuantExecution::Simulated, {.head = ModelHead::CausalLM});
  const Tensor ids = Tensor::from_vector(std::vector<int64_t>(kjv_data().eval.begin(), kjv_data().eval.begin() + 64), {1, 64});
  const Tensor a = q.model->forward({ids, {}, {}, {}}).at("logits"), b = reloaded->forward({ids, {}, {}, {}}).at("logits");
  for (int64_t i = 0; i < a.numel(); ++i) ASSERT_EQ(a.data<float>()[i], b.data<float>()[i]) << i;
  const QuantizationConfig read = read_quantization_config(dir);
  EXPECT_EQ(read.recipe, c.recipe);
  EXPECT_EQ(read.linears.size(), q.config.linears.size());
  EXPECT_EQ(read.activation_spec.has_value(), q.config.activation_spec.has_value());
}

// Bounds: the full-size targets (w8a16 0.3 %, w8a8-sq and fp8 1 %) with
// room for a 2048-token slice; 4-bit and naive recipes get loose sanity bounds.
INSTANTIATE_TEST_SUITE_P(Kjv, EveryRecipe,
                         ::testing::Values(RecipeCase{"w8a16", 0.5}, RecipeCase{"w8a8", 5.0},
                                           RecipeCase{"w8a8-sq", 1.5}, RecipeCase{"fp8", 1.5},
                                           RecipeCase{"w4a16-rtn", 20.0}, RecipeCase{"w4a16-awq", 15.0},
                                           RecipeCase{"w4a16-gptq", 15.0}, RecipeCase{"w4a8-awq", 20.0}),
                         [](const auto& info) {
                           std::string n = info.param.recipe;
                           for (char& ch : n)
                             if (ch == '-') ch = '_';
                           return n;
                         });

// The papers' ordering: AWQ and GPTQ strictly better than RTN in perplexity
// and mean KL, at group 128 and group 32 (on 32 calibration windows and 8192
// held-out tokens: at group 32 the three differ by ~0.1 % in perplexity).
TEST(Int4Algorithms, AwqAndGptqBeatRoundToNearest) {
  for (const int64_t group : {128, 32}) {
    std::map<std::string, ModelComparison> r;
    for (const char* name : {"w4a16-rtn", "w4a16-awq", "w4a16-gptq"}) {
      LlmRecipe recipe = llm_recipe(name);
      recipe.weight.group_size = group;
      r[name] = versus_fp32(*quantize_kjv(recipe, QuantExecution::Simulated, &kjv_data().calibration_large).model,
                            /*large=*/true);
      print(fmt::format("{} g{}", name, group), r[name]);
    }
    for (const char* better : {"w4a16-awq", "w4a16-gptq"}) {
      EXPECT_LT(r[better].mean_kl, r["w4a16-rtn"].mean_kl) << better << " g" << group;
      EXPECT_LT(r[better].b.perplexity, r["w4a16-rtn"].b.perplexity) << better << " g" << group;
    }
  }
}

TEST(LlmQuantize, LmHeadAndExclusions) {
  LlmRecipe r = llm_recipe("w8a16");
  r.quantize_lm_head = true;
  r.exclude = {"*.mlp.down_proj"};
  QuantizedKjv q = quantize_kjv(r);
  std::set<std::string> names;
  for (const QuantizedLinear& l : q.config.linears) names.insert(l.name);
  EXPECT_TRUE(names.count("lm_head"));
  EXPECT_FALSE(names.count("model.layers.0.mlp.down_proj"));
  EXPECT_EQ(q.config.excluded.size(), 6u);
  for (const ExcludedLayer& e : q.config.excluded) EXPECT_NE(e.reason.find("--exclude"), std::string::npos);
}

TEST(LlmQuantize, EncodersAreRefused) {
  auto encoder = load_model(shared_path("models/sst2-bert-mini"));
  LlmQuantizeOptions o;
  o.recipe = llm_recipe("w8a16");
  o.progress = false;
  EXPECT_THROW(quantize_llm(*encoder, {}, o), Error);
}

TEST(LlmQuantize, CalibratingRecipesNeedWindows) {
  auto model = load_kjv();
  LlmQuantizeOptions o;
  o.recipe = llm_recipe("w8a8-sq");
  o.progress = false;
  EXPECT_THROW(quantize_llm(*model, {}, o), Error);
}

// The fixture llama has hidden 64 and intermediate 128: group 128 does not
// divide q/k/v/gate/up's K = 64. Without --group-fallback that is an error
// naming the Linear; with it those Linears get group 64.
TEST(LlmQuantize, GroupThatDoesNotDivideK) {
  auto model = load_causal_lm(shared_path("fixtures/hf/llama"));
  LlmQuantizeOptions o;
  o.recipe = llm_recipe("w4a16-rtn");
  o.progress = false;
  try {
    quantize_llm(*model, {}, o);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.layers.0.self_attn.q_proj"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("--group-fallback"), std::string::npos) << e.what();
  }
  o.recipe.group_fallback = true;
  QuantizeReport report;
  const QuantizationConfig c = quantize_llm(*model, {}, o, &report);
  for (const QuantizedLinear& l : c.linears)
    EXPECT_EQ(l.weight_spec.group_size, l.weight.dim(1) % 128 == 0 ? 128 : 64) << l.name;
  EXPECT_FALSE(report.warnings.empty());
}

}  // namespace
}  // namespace octet::testing
