// The weight-only recipes (w8a16, w4a16-rtn) natively on kjv-llama: the
// integer path (activations in int8 blocks of 32, every row count) against
// the simulated execution (f32 activations) in perplexity, the dequantize
// path (integer path capped at 0 rows: f32 panels) equal to simulated, and a
// folder loaded natively holding no f32 copy of those weights.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <set>

#include "llm_quant/kjv.h"
#include "quant/weight_only_kernel.h"
#include "support/shared_data.h"

namespace octet::testing {
namespace {

class NativeWeightOnly : public ::testing::TestWithParam<std::string> {};

TEST_P(NativeWeightOnly, PerplexityWithinATenthOfAPercentOfSimulated) {
  QuantizedKjv q = quantize_kjv(llm_recipe(GetParam()), QuantExecution::Simulated);
  const PerplexityResult sim = perplexity(*q.model, kjv_data().eval, eval_options());
  apply_quantization(*q.model, q.config, QuantExecution::Native);
  int64_t native = 0;
  q.model->visit_linears([&](nn::Linear& l) {
    if (l.kernel() && l.kernel()->describe().find("(native)") != std::string::npos) ++native;
  });
  EXPECT_EQ(native, int64_t(q.config.linears.size()));
  // The default: every row (256-token windows too) through the integer path, W4A8 / W8A8 numerics.
  const PerplexityResult integer = perplexity(*q.model, kjv_data().eval, eval_options());
  // Capped at 0 rows: the dequantize path, the simulated weights in f32.
  const int64_t saved = set_weight_only_gemv_max_rows(0);
  const PerplexityResult dequantized = perplexity(*q.model, kjv_data().eval, eval_options());
  set_weight_only_gemv_max_rows(saved);
  std::printf("  %s: perplexity simulated %.6f, native dequantize path %.6f, native integer path %.6f (%+.4f %%)\n",
              GetParam().c_str(), sim.perplexity, dequantized.perplexity, integer.perplexity,
              100.0 * (integer.perplexity / sim.perplexity - 1.0));
  EXPECT_NEAR(dequantized.perplexity, sim.perplexity, 1e-5 * sim.perplexity);
  EXPECT_NEAR(integer.perplexity, sim.perplexity, 1e-3 * sim.perplexity);
}

INSTANTIATE_TEST_SUITE_P(Kjv, NativeWeightOnly, ::testing::Values("w8a16", "w4a16-rtn"),
                         [](const auto& info) { return info.param == "w8a16" ? "w8a16" : "w4a16_rtn"; });

TEST(NativeWeightOnlyFolder, LoadsWithoutFloatWeightsAndDecodesAsSimulated) {
  const auto dir = temp_dir();
  {
    QuantizedKjv q = quantize_kjv(llm_recipe("w4a16-rtn"));
    save_quantized_model(*q.model, q.config, kjv_path(), dir / "w4");
  }
  const auto native = load_causal_lm(dir / "w4");  // load_model: native
  const auto simulated = as_causal_lm(load_quantized_model(dir / "w4", QuantExecution::Simulated), dir / "w4");
  const auto with_floats = load_causal_lm(dir / "w4", {.head = std::nullopt, .float_weights = true});
  int64_t resident = 0;
  std::set<std::string> names;
  for (const auto& [name, t] : native->parameters()) names.insert(name);
  native->visit_linears([&](nn::Linear& l) {
    if (!l.kernel_resident()) return;
    ++resident;
    EXPECT_FALSE(l.weight().defined()) << l.name();
    EXPECT_EQ(names.count(l.name() + ".weight"), 0u) << l.name();
    EXPECT_NE(l.kernel()->describe().find("(native)"), std::string::npos) << l.name();
    // What it holds, as the regions a decode step reads: int4 codes two per byte for outputs padded to tiles of
    // 16, then an f32 scale per output and group of 128 (symmetric: no zero points).
    const auto regions = l.kernel()->resident_regions();
    const int64_t padded = (l.out_features() + 15) / 16 * 16, in = l.in_features();
    ASSERT_EQ(regions.size(), 2u) << l.name();
    EXPECT_EQ(int64_t(regions[0].size()), padded * in / 2) << l.name();
    EXPECT_EQ(int64_t(regions[1].size()), padded * (in / 128) * int64_t(sizeof(float))) << l.name();
    EXPECT_EQ(l.kernel()->resident_bytes(), int64_t(regions[0].size() + regions[1].size()));
  });
  EXPECT_EQ(resident, int64_t(read_quantization_config(dir / "w4").linears.size()));
  EXPECT_GE(resident, 6 * 7);  // q, k, v, o, gate, up, down of 6 layers
  with_floats->visit_linears([&](nn::Linear& l) {
    EXPECT_FALSE(l.kernel_resident());
    EXPECT_TRUE(l.weight().defined()) << l.name();
  });
  // Greedy decoding (prefill path, then one-row integer steps) agrees with simulated on the first tokens.
  GenerationOptions g;
  g.max_new_tokens = 8;
  g.eos_ids = std::vector<int64_t>{};
  const std::vector<std::vector<int64_t>> prompt{
      std::vector<int64_t>(kjv_data().eval.begin(), kjv_data().eval.begin() + 16)};
  const auto a = generate(*native, prompt, g), b = generate(*simulated, prompt, g);
  ASSERT_EQ(a.new_tokens.size(), 1u);
  int64_t same = 0;
  for (size_t i = 0; i < a.new_tokens[0].size() && i < b.new_tokens[0].size() && a.new_tokens[0][i] == b.new_tokens[0][i]; ++i) ++same;
  EXPECT_GE(same, 4) << "native and simulated greedy decoding diverge early";
  // Without its kernel a kernel-resident Linear has no weight to run: an error, not a crash.
  clear_quantization(*native);
  const Tensor ids = Tensor::from_vector(std::vector<int64_t>{1, 2, 3}, {1, 3});
  EXPECT_THROW(native->forward({ids, {}, {}, {}}), Error);
}

// The int8 W8A8 kernel (w8a8-sq) packs the codes too: a natively loaded
// folder holds no f32 copy of those weights (it used to hold both, a 1.1B
// model taking more memory than in fp32), and computes exactly what the same
// kernel computes next to an f32 copy.
TEST(NativeInt8Folder, LoadsWithoutFloatWeightsAndComputesTheSameLogits) {
  const auto dir = temp_dir();
  {
    QuantizedKjv q = quantize_kjv(llm_recipe("w8a8-sq"));
    save_quantized_model(*q.model, q.config, kjv_path(), dir / "sq");
  }
  const auto native = load_causal_lm(dir / "sq");
  const auto with_floats = load_causal_lm(dir / "sq", {.head = std::nullopt, .float_weights = true});
  int64_t resident = 0;
  native->visit_linears([&](nn::Linear& l) {
    if (!l.kernel_resident()) return;
    ++resident;
    EXPECT_FALSE(l.weight().defined()) << l.name();
    EXPECT_NE(l.kernel()->describe().find("int8"), std::string::npos) << l.name() << ": " << l.kernel()->describe();
  });
  EXPECT_EQ(resident, int64_t(read_quantization_config(dir / "sq").linears.size()));
  EXPECT_GE(resident, 6 * 7);
  const Tensor ids = Tensor::from_vector(
      std::vector<int64_t>(kjv_data().eval.begin(), kjv_data().eval.begin() + 24), {1, 24});
  const Tensor a = native->forward({ids, {}, {}, {}}).at("logits"), b = with_floats->forward({ids, {}, {}, {}}).at("logits");
  ASSERT_EQ(a.shape(), b.shape());
  EXPECT_EQ(0, std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()));
}

}  // namespace
}  // namespace octet::testing
