// Incremental decoding over the KV cache computes what a full forward pass
// computes: per step, the cached logits of the new token against the
// uncached forward of the whole sequence; batches of prompts of different
// lengths against each prompt alone; the sliding window on both paths.
//
// Error bound. Both paths evaluate the same function of the same tokens and
// differ only in the order their f32 reductions are summed (GEMV vs GEMM,
// attention over the cache per kv-head group vs batched). One k-term
// reduction summed in two orders differs by at most 2 gamma_k sum|terms|
// (Higham). A logit depends on a chain of N = 9 reductions per layer (norm
// statistics, q/k/v projection, scores, softmax sum, P.V, output projection,
// second norm, MLP up, MLP down) plus 2 (final norm, lm_head). To first order
// their relative perturbations add, each carried through later stages with a
// relative gain of at most kappa = 4 (norms are scale invariant, softmax and
// the activations are 1-Lipschitz; 4 covers the norms' own statistics). With
// S = max_v sum_i |h_i W_vi|, the scale of a logit's dot product:
//   |delta logit| <= 2 gamma_K N kappa S,   K = the longest reduction.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "kernels/kernel_test_util.h"
#include "octet/generate.h"
#include "octet/safetensors.h"
#include "support/shared_data.h"

namespace octet::kv_cache_test {
namespace {

using kernels::testing::gamma_n;

std::unique_ptr<CausalLM> fixture(const std::string& name) {
  auto m = load_causal_lm(testing::shared_path("fixtures/hf/" + name));
  use_decode_kernels(*m);
  return m;
}

std::vector<int64_t> prompt_of(const std::string& name) {
  const auto ref = SafetensorsFile::open(testing::shared_path("fixtures/hf/" + name + "/reference.safetensors"));
  const Tensor p = ref.get("prompt_ids");
  return {p.data<int64_t>(), p.data<int64_t>() + p.numel()};
}

Tensor ids_tensor(const std::vector<int64_t>& ids) {
  return Tensor::from_vector(ids, {1, int64_t(ids.size())});
}

// The bound above for the logits of `model` at hidden states `hidden` [.., H].
double logit_bound(CausalLM& model, const Tensor& hidden, int64_t longest_reduction) {
  const nn::Linear* head = nullptr;
  model.visit_linears([&](nn::Linear& l) { head = &l; });  // lm_head comes last
  const Tensor& w = head->weight();
  const int64_t v = w.dim(0), h = w.dim(1), rows = hidden.numel() / h;
  double s = 0.0;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < v; ++j) {
      double a = head->has_bias() ? std::fabs(head->bias().data<float>()[j]) : 0.0;
      for (int64_t i = 0; i < h; ++i) a += std::fabs(double(hidden.data<float>()[r * h + i]) * w.data<float>()[j * h + i]);
      s = std::max(s, a);
    }
  const double n = 9.0 * double(model.info().num_layers) + 2.0, kappa = 4.0;
  return 2.0 * gamma_n(double(longest_reduction)) * n * kappa * s;
}

class CachedDecode : public ::testing::TestWithParam<std::string> {};

TEST_P(CachedDecode, EveryStepMatchesFullForward) {
  const std::string name = GetParam();
  auto model = fixture(name);
  std::vector<int64_t> seq = prompt_of(name);
  const int64_t steps = 12, vocab = model->info().vocab_size;
  KVCache cache = model->make_cache(1, int64_t(seq.size()) + steps);
  Tensor logits = model->forward_cached({ids_tensor(seq), {}, {}, {}}, cache, true);
  for (int64_t step = 0; step < steps; ++step) {
    const NamedTensors full = model->forward({ids_tensor(seq), {}, {}, {}});
    const int64_t last = int64_t(seq.size()) - 1;
    const float* want = full.at("logits").data<float>() + last * vocab;
    const float* got = logits.data<float>();
    const Tensor hidden = full.at("last_hidden_state").slice(1, last, last + 1).contiguous();
    const int64_t k = std::max({model->info().hidden_size, 4 * model->info().hidden_size, int64_t(seq.size())});
    const double bound = logit_bound(*model, hidden, k);
    double worst = 0.0;
    for (int64_t j = 0; j < vocab; ++j) worst = std::max(worst, std::fabs(double(got[j]) - want[j]));
    EXPECT_LE(worst, bound) << name << " step " << step;
    if (std::getenv("OCTET_TEST_VERBOSE")) std::printf("%s step %lld: diff %.3g bound %.3g\n", name.c_str(), (long long)step, worst, bound);
    // Greedy choice as transformers' self-check: the argmax of the full forward.
    const int64_t next = std::max_element(want, want + vocab) - want;
    EXPECT_EQ(std::max_element(got, got + vocab) - got, next) << name << " step " << step;
    seq.push_back(next);
    const int64_t past = cache.length();
    logits = model->forward_cached({ids_tensor({next}), {}, {}, Tensor::from_vector<int64_t>({past}, {1, 1})}, cache, true);
  }
}

INSTANTIATE_TEST_SUITE_P(HfFixtures, CachedDecode,
                         ::testing::Values("gpt2", "llama", "mistral", "qwen2", "gptj", "gpt_neox", "opt", "falcon",
                                           "falcon_mqa", "phi"),
                         [](const auto& info) { return info.param; });

TEST(CachedDecode, LeftPaddedBatchEqualsEachPromptAlone) {
  for (const char* name : {"llama", "gpt2", "opt", "falcon"}) {
    auto model = fixture(name);
    const std::vector<int64_t> base = prompt_of(name);
    const std::vector<std::vector<int64_t>> prompts = {base, {base[0], base[1]}, {base[4], base[2], base[3], base[1]}};
    GenerationOptions opt;
    opt.max_new_tokens = 8;
    opt.eos_ids = std::vector<int64_t>{};
    const GenerationResult batch = generate(*model, prompts, opt);
    for (size_t i = 0; i < prompts.size(); ++i) {
      const GenerationResult alone = generate(*model, {prompts[i]}, opt);
      EXPECT_EQ(batch.new_tokens[i], alone.new_tokens[0]) << name << " prompt " << i;
    }
    EXPECT_EQ(batch.generated_tokens, 24);
    EXPECT_EQ(batch.prompt_tokens, 11);
  }
}

TEST(CachedDecode, CacheOverflowAndMaskShapeAreErrors) {
  auto model = fixture("llama");
  KVCache cache = model->make_cache(1, 4);
  EXPECT_THROW(model->forward_cached({ids_tensor({5, 6, 7, 8, 9}), {}, {}, {}}, cache, true), Error);
  model->forward_cached({ids_tensor({5, 6, 7}), {}, {}, {}}, cache, true);
  EXPECT_EQ(cache.length(), 3);
  // The mask must cover the 3 cached tokens and the new one.
  EXPECT_THROW(model->forward_cached({ids_tensor({5}), Tensor::from_vector<int64_t>({1}, {1, 1}), {}, {}}, cache, true),
               Error);
}

}  // namespace
}  // namespace octet::kv_cache_test
