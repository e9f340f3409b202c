// --kv-cache int8 / fp8 on kjv-llama: static scales calibrated per kv head
// (or per token, dynamic), the cost in perplexity, the cache really 4x
// smaller, cached decoding equal to the cache-free forward (both read the
// same quantized keys and values), and the scales surviving the folder; an
// F16 cache's cost and size.
#include <gtest/gtest.h>

#include <cstdio>

#include "llm_quant/kjv.h"

namespace octet::testing {
namespace {

struct KvCase {
  const char* recipe;
  DType dtype;
  bool dynamic;
  std::string label() const {
    return std::string(recipe) + "_" + (dtype == DType::I8 ? "int8" : "fp8") + (dynamic ? "_dynamic" : "_static");
  }
};

LlmRecipe kv_recipe(const KvCase& c) {
  LlmRecipe r = llm_recipe(c.recipe);
  r.kv_cache = c.dtype;
  r.kv_dynamic = c.dynamic;
  return r;
}

class KvCacheLlm : public ::testing::TestWithParam<KvCase> {};

TEST_P(KvCacheLlm, PerplexityCachedDecodingAndFolder) {
  const KvCase& c = GetParam();
  QuantizedKjv q = quantize_kjv(kv_recipe(c));
  ASSERT_TRUE(q.config.kv_cache.enabled());
  EXPECT_EQ(q.config.kv_cache.layers.size(), 6u);
  for (const auto& l : q.config.kv_cache.layers) {
    EXPECT_EQ(l.k_scale.size(), c.dynamic ? 0u : 4u) << l.name;
    for (const float s : l.k_scale) EXPECT_GT(s, 0.0f);
  }

  // The cost in perplexity over the same recipe without a quantized cache.
  QuantizedKjv plain = quantize_kjv(llm_recipe(c.recipe));
  const ModelComparison with = versus_fp32(*q.model), without = versus_fp32(*plain.model);
  const double added = 100.0 * (with.b.perplexity / without.b.perplexity - 1.0);
  std::printf("  %s: ppl %.4f vs %.4f without (%+.3f%%), KL %.5f\n", c.label().c_str(), with.b.perplexity,
              without.b.perplexity, added, with.mean_kl);
  EXPECT_LE(added, 1.0);  // the full-size target is 0.5 %; a 2048-token slice is noisier
  EXPECT_GT(with.mean_kl, without.mean_kl);

  // Cached decoding: a quarter of the f32 cache's bytes, and prefill +
  // one-token steps agree with the cache-free forward. Both quantize the same
  // keys and values, but a one-token projection rounds differently from the
  // whole-sequence GEMM in the last bit, and a key that sits on a rounding
  // boundary of its grid then lands one code (one scale step) away: a logit
  // moves by about |q| * scale / sqrt(d). So: the same greedy tokens, and
  // logits within 1 % of their largest magnitude (a misread cache, a wrong
  // scale or position, moves them by O(1)).
  const std::vector<int64_t> prompt(kjv_data().eval.begin(), kjv_data().eval.begin() + 40);
  Generator gen(*q.model, 1, 64, 0);
  const Tensor first = gen.prefill({prompt});
  const size_t f32_bytes = size_t(6) * 2 * 4 * 64 * 32 * sizeof(float);  // layers x {k, v} x kv heads x capacity x d
  EXPECT_LE(gen.cache().bytes(), f32_bytes / 4 + (c.dynamic ? size_t(6) * 2 * 4 * 64 * sizeof(float) : 0));
  std::vector<int64_t> seq = prompt;
  std::vector<Tensor> step_logits{first};
  for (int i = 0; i < 12; ++i) {
    const Tensor& last = step_logits.back();
    const int64_t next = std::max_element(last.data<float>(), last.data<float>() + last.numel()) - last.data<float>();
    seq.push_back(next);
    step_logits.push_back(gen.decode_step(std::vector<int64_t>{next}));
  }
  const Tensor full = q.model->forward({Tensor::from_vector(seq, {1, int64_t(seq.size())}), {}, {}, {}}).at("logits");
  const int64_t vocab = full.dim(2);
  double worst = 0, top = 0;
  for (size_t i = 0; i < step_logits.size(); ++i) {
    const float* a = step_logits[i].data<float>();
    const float* b = full.data<float>() + (int64_t(prompt.size()) - 1 + int64_t(i)) * vocab;
    for (int64_t j = 0; j < vocab; ++j) {
      worst = std::max(worst, std::fabs(double(a[j]) - b[j]));
      top = std::max(top, std::fabs(double(b[j])));
    }
    if (i + 1 < step_logits.size()) {
      EXPECT_EQ(std::max_element(b, b + vocab) - b, seq[prompt.size() + i]) << "step " << i;
    }
  }
  std::printf("  cached vs cache-free logits: max |diff| %.3g (largest logit %.3g)\n", worst, top);
  EXPECT_LT(worst, 0.01 * top);

  // The folder keeps the format and the scales.
  const auto dir = temp_dir() / "out";
  save_quantized_model(*q.model, q.config, kjv_path(), dir);
  const QuantizationConfig back = read_quantization_config(dir);
  EXPECT_EQ(back.kv_cache.dtype, c.dtype);
  EXPECT_EQ(back.kv_cache.dynamic, c.dynamic);
  ASSERT_EQ(back.kv_cache.layers.size(), q.config.kv_cache.layers.size());
  for (size_t i = 0; i < back.kv_cache.layers.size(); ++i) {
    EXPECT_EQ(back.kv_cache.layers[i].name, q.config.kv_cache.layers[i].name);
    EXPECT_EQ(back.kv_cache.layers[i].k_scale, q.config.kv_cache.layers[i].k_scale);
    EXPECT_EQ(back.kv_cache.layers[i].v_scale, q.config.kv_cache.layers[i].v_scale);
  }
  const auto reloaded = load_quantized_model(dir, QuantExecution::Simulated, {.head = ModelHead::CausalLM});
  int blocks = 0;
  reloaded->visit_attention([&](nn::MultiHeadAttention& a) {
    EXPECT_EQ(a.kv_quant().dtype, c.dtype);
    ++blocks;
  });
  EXPECT_EQ(blocks, 6);
}

// An F16 cache (llama.cpp's default; no scales, nothing to calibrate): half the f32 cache's bytes, a
// perplexity within 0.05 % of the f32 cache's, and cached decoding choosing the cache-free forward's tokens.
TEST(KvCacheLlmF16, PerplexityBytesAndCachedDecoding) {
  std::unique_ptr<CausalLM> model = load_kjv();
  model->visit_attention([](nn::MultiHeadAttention& a) { a.set_kv_quant({DType::F16, false, {}, {}}); });
  const ModelComparison c = versus_fp32(*model);
  const double added = 100.0 * (c.b.perplexity / c.a.perplexity - 1.0);
  std::printf("  f16 KV cache: ppl %.5f vs %.5f with f32 (%+.4f%%), KL %.3g\n", c.b.perplexity, c.a.perplexity, added,
              c.mean_kl);
  EXPECT_LE(std::fabs(added), 0.05);
  EXPECT_GT(c.mean_kl, 0.0);  // the halves are really used

  const std::vector<int64_t> prompt(kjv_data().eval.begin(), kjv_data().eval.begin() + 40);
  Generator gen(*model, 1, 64, 0);
  std::vector<Tensor> step_logits{gen.prefill({prompt})};
  EXPECT_EQ(gen.cache().bytes(), size_t(6) * 2 * 4 * 64 * 32 * 2);  // layers x {k, v} x kv heads x capacity x d x 2 B
  std::vector<int64_t> seq = prompt;
  for (int i = 0; i < 12; ++i) {
    const Tensor& last = step_logits.back();
    seq.push_back(std::max_element(last.data<float>(), last.data<float>() + last.numel()) - last.data<float>());
    step_logits.push_back(gen.decode_step(std::vector<int64_t>{seq.back()}));
  }
  const Tensor full = model->forward({Tensor::from_vector(seq, {1, int64_t(seq.size())}), {}, {}, {}}).at("logits");
  const int64_t vocab = full.dim(2);
  for (size_t i = 0; i + 1 < step_logits.size(); ++i) {
    const float* b = full.data<float>() + (int64_t(prompt.size()) - 1 + int64_t(i)) * vocab;
    EXPECT_EQ(std::max_element(b, b + vocab) - b, seq[prompt.size() + i]) << "step " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Kjv, KvCacheLlm,
                         ::testing::Values(KvCase{"fp32", DType::I8, false}, KvCase{"fp32", DType::F8_E4M3, false},
                                           KvCase{"fp32", DType::I8, true}, KvCase{"w8a8-sq", DType::I8, false},
                                           KvCase{"w8a8-sq", DType::F8_E4M3, false}),
                         [](const auto& info) {
                           std::string n = info.param.label();
                           for (char& ch : n)
                             if (ch == '-') ch = '_';
                           return n;
                         });

}  // namespace
}  // namespace octet::testing
