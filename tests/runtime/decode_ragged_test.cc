// CausalLM::decode_ragged: n sequences, each with its own batch-1 KV cache of
// its own length, decoded in one step. Every row must equal, bit for bit,
// forward_cached of that sequence alone on a copy of its cache, for every
// decoder fixture and for kjv-llama in f32 and quantized (native int8 W8A8
// SmoothQuant static and dynamic, native W4A16 / W8A16 weight-only, fp8,
// int8 / fp8 KV caches), over steps where sequences join and leave.
//
// How many rows run together depends on the kernels (generate.h): the f32
// GEMV batches up to 64 rows, the int8 and weight-only kernels any number
// (larger steps are split into groups), the simulated kernels (fp8) and
// plain sgemm Linears run one sequence at a time; the test prints the group
// size it exercised. A negative control (a wrong position on the reference
// side) shows that the comparison notices a row computed at the wrong place.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>

#include "llm_quant/kjv.h"
#include "octet/error.h"
#include "octet/generate.h"
#include "support/shared_data.h"

namespace octet::testing {
namespace {

// A cache that shares nothing with `c` (Tensor copies share memory).
KVCache deep_copy(const KVCache& c) {
  std::vector<nn::AttentionCache> layers;
  for (const nn::AttentionCache& l : c.layers()) {
    nn::AttentionCache copy = l;
    for (Tensor* t : {&copy.k, &copy.v, &copy.k_codes, &copy.v_codes, &copy.k_scales, &copy.v_scales})
      if (t->defined()) *t = t->clone();
    layers.push_back(std::move(copy));
  }
  return KVCache(std::move(layers));
}

bool same_bytes(const Tensor& a, const Tensor& b) {
  if (a.defined() != b.defined()) return false;
  if (!a.defined()) return true;
  return a.shape() == b.shape() && a.dtype() == b.dtype() &&
         std::memcmp(a.contiguous().raw_data(), b.contiguous().raw_data(), a.nbytes()) == 0;
}

bool same_cache(const KVCache& a, const KVCache& b) {
  if (a.length() != b.length() || a.layers().size() != b.layers().size()) return false;
  for (size_t i = 0; i < a.layers().size(); ++i) {
    const nn::AttentionCache &x = a.layers()[i], &y = b.layers()[i];
    if (!same_bytes(x.k, y.k) || !same_bytes(x.v, y.v) || !same_bytes(x.k_codes, y.k_codes) ||
        !same_bytes(x.v_codes, y.v_codes) || !same_bytes(x.k_scales, y.k_scales) ||
        !same_bytes(x.v_scales, y.v_scales))
      return false;
  }
  return true;
}

Tensor ids_of(const std::vector<int64_t>& ids) { return Tensor::from_vector(ids, {1, int64_t(ids.size())}); }

// The smallest row_invariant_rows() over the model's Linears (what one batched step may hold).
int64_t batch_rows(CausalLM& model) {
  int64_t rows = std::numeric_limits<int64_t>::max();
  model.visit_linears([&](nn::Linear& l) { rows = std::min(rows, l.row_invariant_rows()); });
  return rows;
}

// Deterministic token of sequence `s` at step `t`.
int64_t token_at(int64_t s, int64_t t, int64_t vocab) { return ((s * 131 + t * 71 + 7) % vocab + vocab) % vocab; }

// Prefills 22 sequences with prompts of 1..13 tokens (sequence 21 stays
// empty and joins later with its first token), then runs decode_ragged steps
// over changing active sets against forward_cached on copies of the caches.
void expect_ragged_matches(CausalLM& model, const std::string& label) {
  const int64_t vocab = model.info().vocab_size, sequences = 22, capacity = 32;
  ASSERT_GT(vocab, 1) << label;
  std::vector<KVCache> ragged, single;
  for (int64_t s = 0; s < sequences; ++s) {
    ragged.push_back(model.make_cache(1, capacity));
    if (s != sequences - 1) {
      std::vector<int64_t> prompt(size_t(1 + (s * 5) % 13));
      for (size_t j = 0; j < prompt.size(); ++j) prompt[j] = token_at(s, -int64_t(j) - 1, vocab);
      model.forward_cached({ids_of(prompt), {}, {}, {}}, ragged.back(), true);
    }
    single.push_back(deep_copy(ragged.back()));
  }
  // Active sets per step: n = 1, 3, 5, 9, 20 (> 16), then sequences leave,
  // 20 and the empty 21 join, and a shuffled order.
  const std::vector<std::vector<int64_t>> steps = {
      {0},
      {0, 1, 2},
      {2, 1, 0, 3, 4},
      {0, 1, 2, 3, 4, 5, 6, 7, 8},
      {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19},
      {1, 3, 5, 7, 9, 11, 20, 21, 2},
      {21, 0, 9},
      {4, 21, 20, 6, 8, 10, 12, 14, 16, 18, 19, 17, 15, 13, 11, 3, 1},
  };
  bool negative_checked = false;
  for (size_t t = 0; t < steps.size(); ++t) {
    const std::vector<int64_t>& active = steps[t];
    const int64_t n = int64_t(active.size());
    std::vector<int64_t> tokens;
    std::vector<KVCache*> caches;
    for (const int64_t s : active) {
      tokens.push_back(token_at(s, int64_t(t), vocab));
      caches.push_back(&ragged[size_t(s)]);
    }
    // The negative control: sequence active[0] one position too far on a copy.
    Tensor shifted;
    if (!negative_checked && ragged[size_t(active[0])].length() > 0) {
      KVCache copy = deep_copy(single[size_t(active[0])]);
      ModelInputs in{ids_of({tokens[0]}), {}, {}, {}};
      in.position_ids = Tensor::from_vector(std::vector<int64_t>{copy.length() + 1}, {1, 1});
      shifted = model.forward_cached(in, copy, true);
    }
    const Tensor rows = model.decode_ragged(tokens, caches);
    ASSERT_EQ(rows.shape(), Shape({n, vocab})) << label << " step " << t;
    for (int64_t i = 0; i < n; ++i) {
      const int64_t s = active[size_t(i)];
      const Tensor alone = model.forward_cached({ids_of({tokens[size_t(i)]}), {}, {}, {}}, single[size_t(s)], true);
      ASSERT_EQ(alone.numel(), vocab);
      const float* a = rows.data<float>() + i * vocab;
      const float* b = alone.data<float>();
      int64_t differ = 0;
      for (int64_t j = 0; j < vocab; ++j) differ += std::memcmp(&a[j], &b[j], sizeof(float)) != 0;
      EXPECT_EQ(differ, 0) << label << " step " << t << " (n = " << n << ") row " << i << " (sequence " << s
                           << "): " << differ << " of " << vocab << " logits differ, e.g. " << a[0] << " vs " << b[0];
      EXPECT_TRUE(same_cache(ragged[size_t(s)], single[size_t(s)])) << label << " step " << t << " sequence " << s;
      if (i == 0 && shifted.defined()) {
        EXPECT_NE(0, std::memcmp(a, shifted.data<float>(), size_t(vocab) * sizeof(float)))
            << label << ": a wrong position went unnoticed";
        negative_checked = true;
      }
    }
  }
  EXPECT_TRUE(negative_checked) << label;
}

const char* const kFixtures[] = {"llama", "mistral", "qwen2", "gpt2",  "opt",       "gpt_neox",
                                 "falcon", "falcon_mqa", "phi", "gptj"};

TEST(DecodeRagged, EveryDecoderFixtureF32) {
  for (const char* name : kFixtures) {
    SCOPED_TRACE(name);
    auto model = load_causal_lm(shared_path(std::string("fixtures/hf/") + name));
    use_decode_kernels(*model);
    std::printf("  %s: batched up to %lld rows\n", name, (long long)batch_rows(*model));
    EXPECT_GE(batch_rows(*model), 16);
    expect_ragged_matches(*model, name);
  }
}

TEST(DecodeRagged, SlidingWindowShorterThanTheCaches) {
  // The mistral fixture with a window of 5 tokens: prompts of up to 13 tokens
  // plus the steps put most caches past it.
  const std::filesystem::path src = shared_path("fixtures/hf/mistral"), dir = temp_dir();
  for (const auto& entry : std::filesystem::directory_iterator(src))
    std::filesystem::copy(entry.path(), dir / entry.path().filename());
  std::ifstream in(dir / "config.json");
  std::string config((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  in.close();
  const size_t at = config.find("\"sliding_window\": 4096");
  ASSERT_NE(at, std::string::npos);
  config.replace(at, std::string("\"sliding_window\": 4096").size(), "\"sliding_window\": 5");
  std::ofstream(dir / "config.json", std::ios::trunc) << config;
  auto model = load_causal_lm(dir);
  int64_t windows = 0;
  model->visit_attention([&](nn::MultiHeadAttention& a) { windows += a.config().sliding_window == 5; });
  ASSERT_GT(windows, 0);
  use_decode_kernels(*model);
  expect_ragged_matches(*model, "mistral window 5");
}

TEST(DecodeRagged, GgufModel) {
  // GGUF tensors load as f32 Linears (dequantized), here with the GEMV.
  auto model = load_causal_lm(source_root() / "models" / "stories260K.gguf");
  use_decode_kernels(*model);
  EXPECT_EQ(batch_rows(*model), 64);
  expect_ragged_matches(*model, "stories260K.gguf");
}

TEST(DecodeRagged, FixtureWithoutDecodeKernelsRunsOneByOne) {
  // Plain sgemm Linears promise nothing across row counts: still bit exact.
  auto model = load_causal_lm(shared_path("fixtures/hf/llama"));
  EXPECT_EQ(batch_rows(*model), 1);
  expect_ragged_matches(*model, "llama (sgemm)");
}

TEST(DecodeRagged, KjvF32) {
  auto model = load_kjv();
  use_decode_kernels(*model);
  EXPECT_EQ(batch_rows(*model), 64);
  expect_ragged_matches(*model, "kjv f32");
}

struct QuantCase {
  const char* name;
  const char* recipe;
  std::optional<ActivationFormat> activations;  // overrides the recipe's
  DType kv_cache = DType::F32;
  bool kv_dynamic = false;
  const char* kernel = "";  // a substring of some Linear's kernel describe() ("": any)
  int64_t rows = 0;          // the expected batch_rows()
};

class DecodeRaggedKjv : public ::testing::TestWithParam<QuantCase> {};

TEST_P(DecodeRaggedKjv, RowsMatchSingleSequences) {
  const QuantCase& c = GetParam();
  LlmRecipe r = llm_recipe(c.recipe);
  if (c.activations) r.activations = *c.activations;
  r.kv_cache = c.kv_cache;
  r.kv_dynamic = c.kv_dynamic;
  QuantizedKjv q = quantize_kjv(r, QuantExecution::Native);
  use_decode_kernels(*q.model);  // the f32 Linears a recipe leaves (and the fp32 recipe's)
  std::set<std::string> kernels;
  q.model->visit_linears([&](nn::Linear& l) { kernels.insert(l.kernel() ? l.kernel()->describe() : "none"); });
  bool found = false;
  for (const std::string& k : kernels) found |= k.find(c.kernel) != std::string::npos;
  EXPECT_TRUE(found) << c.name << ": no kernel '" << c.kernel << "' among " << fmt::format("{}", fmt::join(kernels, "; "));
  // int8 everywhere (lm_head too) promises any count; else the smallest limit.
  if (c.rows < 64) {
    EXPECT_EQ(batch_rows(*q.model), c.rows) << c.name;
  }
  EXPECT_GE(batch_rows(*q.model), c.rows) << c.name;
  std::printf("  %s: batched up to %lld rows (%s)\n", c.name, (long long)batch_rows(*q.model),
              fmt::format("{}", fmt::join(kernels, "; ")).c_str());
  expect_ragged_matches(*q.model, c.name);
}

INSTANTIATE_TEST_SUITE_P(
    Recipes, DecodeRaggedKjv,
    ::testing::Values(QuantCase{"w8a8_sq_dynamic", "w8a8-sq", std::nullopt, DType::F32, false, "int8-dynamic", 64},
                      QuantCase{"w8a8_sq_static", "w8a8-sq", ActivationFormat::Int8Static, DType::F32, false, "int8", 64},
                      QuantCase{"w4a16", "w4a16-rtn", std::nullopt, DType::F32, false, "(native)", 64},
                      QuantCase{"w8a16", "w8a16", std::nullopt, DType::F32, false, "(native)", 64},
                      QuantCase{"fp8", "fp8", std::nullopt, DType::F32, false, "(native, bf16 dot products)", 64},
                      QuantCase{"kv_int8_static", "fp32", std::nullopt, DType::I8, false, "f32", 64},
                      QuantCase{"kv_int8_dynamic", "fp32", std::nullopt, DType::I8, true, "f32", 64},
                      QuantCase{"kv_fp8_static_w8a8", "w8a8-sq", std::nullopt, DType::F8_E4M3, false, "int8", 64}),
    [](const ::testing::TestParamInfo<QuantCase>& info) { return std::string(info.param.name); });

// The point of batching (run with --gtest_also_run_disabled_tests
// --gtest_filter='*RaggedThroughput*'): kjv-llama f32, n sequences of 24
// cached tokens, decode_ragged against forward_cached per sequence.
TEST(DecodeRagged, DISABLED_RaggedThroughput) {
  auto model = load_kjv();
  use_decode_kernels(*model);
  const int64_t vocab = model->info().vocab_size;
  for (const int64_t n : {1, 4, 8, 16, 32, 64}) {
    std::vector<KVCache> caches;
    std::vector<KVCache*> ptrs;
    std::vector<int64_t> tokens;
    for (int64_t s = 0; s < n; ++s) {
      caches.push_back(model->make_cache(1, 64));
      std::vector<int64_t> prompt(24);
      for (size_t j = 0; j < prompt.size(); ++j) prompt[j] = token_at(s, int64_t(j), vocab);
      model->forward_cached({ids_of(prompt), {}, {}, {}}, caches.back(), true);
      tokens.push_back(token_at(s, 99, vocab));
    }
    for (KVCache& c : caches) ptrs.push_back(&c);
    constexpr int kSteps = 8;
    const auto t0 = std::chrono::steady_clock::now();
    for (int step = 0; step < kSteps; ++step) model->decode_ragged(tokens, ptrs);
    const auto t1 = std::chrono::steady_clock::now();
    for (int step = 0; step < kSteps; ++step)
      for (int64_t s = 0; s < n; ++s) model->forward_cached({ids_of({tokens[size_t(s)]}), {}, {}, {}}, caches[size_t(s)], true);
    const auto t2 = std::chrono::steady_clock::now();
    const double ragged = std::chrono::duration<double>(t1 - t0).count() / kSteps;
    const double loop = std::chrono::duration<double>(t2 - t1).count() / kSteps;
    std::printf("  n = %2lld: decode_ragged %7.2f ms/step (%6.0f tokens/s), one by one %7.2f ms (%6.0f tokens/s)\n",
                (long long)n, ragged * 1e3, double(n) / ragged, loop * 1e3, double(n) / loop);
  }
}

TEST(DecodeRagged, BadInputsThrowAndLeaveCachesAlone) {
  auto model = load_causal_lm(shared_path("fixtures/hf/llama"));
  use_decode_kernels(*model);
  KVCache a = model->make_cache(1, 4), b = model->make_cache(1, 4), wide = model->make_cache(2, 4);
  model->forward_cached({ids_of({1, 2, 3}), {}, {}, {}}, a, true);
  KVCache* ab[] = {&a, &b};
  const std::vector<int64_t> one{5}, two{5, 6};
  EXPECT_THROW(model->decode_ragged(one, ab), Error);                                     // size mismatch
  EXPECT_THROW(model->decode_ragged({}, std::span<KVCache* const>()), Error);             // empty
  KVCache* with_wide[] = {&a, &wide};
  EXPECT_THROW(model->decode_ragged(two, with_wide), Error);                              // batch 2
  KVCache* twice[] = {&a, &a};
  EXPECT_THROW(model->decode_ragged(two, twice), Error);                                  // the same cache twice
  KVCache* null_cache[] = {&a, nullptr};
  EXPECT_THROW(model->decode_ragged(two, null_cache), Error);
  const std::vector<int64_t> bad_token{5, model->info().vocab_size};
  EXPECT_THROW(model->decode_ragged(bad_token, ab), Error);                               // token id
  const std::vector<int64_t> negative{-1, 5};
  EXPECT_THROW(model->decode_ragged(negative, ab), Error);
  std::vector<nn::AttentionCache> fewer = b.layers();
  fewer.pop_back();
  KVCache short_cache(std::move(fewer));
  KVCache* with_short[] = {&a, &short_cache};
  EXPECT_THROW(model->decode_ragged(two, with_short), Error);                             // layers
  EXPECT_EQ(a.length(), 3);
  EXPECT_EQ(b.length(), 0);
  // One more token fills a; then it is full and refused, b untouched.
  model->decode_ragged(two, ab);
  EXPECT_EQ(a.length(), 4);
  EXPECT_EQ(b.length(), 1);
  EXPECT_THROW(model->decode_ragged(two, ab), Error);                                     // full cache
  EXPECT_EQ(b.length(), 1);
}

}  // namespace
}  // namespace octet::testing
