// Sliding-window attention (Mistral): the block's window on the uncached path
// equals an explicit additive mask written from the definition (key j visible
// from query i iff i - W <= j <= i), bit for bit; over the KV cache, one token
// at a time, each output row matches within the reduction-order bound.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/kernel_test_util.h"
#include "octet/nn.h"

namespace octet::nn {
namespace {

using kernels::testing::gamma_n;
using kernels::testing::random_tensor;

MultiHeadAttention block(int64_t window) {
  AttentionConfig c;
  c.hidden_size = 16, c.num_heads = 4, c.num_kv_heads = 2, c.causal = true, c.sliding_window = window;
  auto lin = [](int64_t out, int64_t in, uint32_t s) { return Linear(random_tensor({out, in}, s, -0.5f, 0.5f)); };
  return MultiHeadAttention(c, lin(16, 16, 1), lin(8, 16, 2), lin(8, 16, 3), lin(16, 16, 4));
}

TEST(SlidingWindow, MatchesExplicitMaskFromDefinition) {
  const int64_t seq = 9, window = 3;
  const Tensor x = random_tensor({2, seq, 16}, 9);
  Tensor bias = Tensor::zeros({1, 1, seq, seq}, DType::F32);
  for (int64_t i = 0; i < seq; ++i)
    for (int64_t j = 0; j < seq; ++j)
      if (j < i - window) bias.data<float>()[i * seq + j] = -std::numeric_limits<float>::infinity();
  const Tensor windowed = block(window).forward(x);
  AttentionInputs explicit_mask;
  explicit_mask.position_bias = bias;
  const Tensor reference = block(0).forward(x, explicit_mask);
  ASSERT_EQ(windowed.shape(), reference.shape());
  EXPECT_EQ(0, std::memcmp(windowed.data<float>(), reference.data<float>(), windowed.nbytes()));
  // And the window changes the result (the test can fail).
  const Tensor full = block(0).forward(x);
  EXPECT_NE(0, std::memcmp(windowed.data<float>(), full.data<float>(), full.nbytes()));
}

TEST(SlidingWindow, CachedDecodeMatchesUncached) {
  const int64_t seq = 9, window = 3, prefill = 2;
  const MultiHeadAttention attn = block(window);
  const Tensor x = random_tensor({1, seq, 16}, 5);
  const Tensor want = attn.forward(x);
  AttentionCache cache = attn.make_cache(1, seq);
  AttentionInputs in;
  in.cache = &cache;
  attn.forward(x.slice(1, 0, prefill).contiguous(), in);
  // Output row = W_o . context, context a convex combination of v rows: the
  // chain is 5 reductions (v projection, scores, softmax, P.V, output) of at
  // most 16 terms; each output's dot product has absolute scale
  // sum_i |W_oi| max|v| with max|v| <= max_j sum_i |x_i W_vji|, gain kappa = 4.
  double vmax = 0.0, wrow = 0.0;
  const Tensor& wv = attn.v_proj()->weight();
  const Tensor& wo = attn.out_proj().weight();
  for (int64_t t = 0; t < seq; ++t)
    for (int64_t j = 0; j < 8; ++j) {
      double a = 0.0;
      for (int64_t i = 0; i < 16; ++i) a += std::fabs(double(x.data<float>()[t * 16 + i]) * wv.data<float>()[j * 16 + i]);
      vmax = std::max(vmax, a);
    }
  for (int64_t r = 0; r < 16; ++r) {
    double a = 0.0;
    for (int64_t i = 0; i < 16; ++i) a += std::fabs(wo.data<float>()[r * 16 + i]);
    wrow = std::max(wrow, a);
  }
  const double bound = 2.0 * gamma_n(16) * 5.0 * 4.0 * wrow * vmax;
  for (int64_t t = prefill; t < seq; ++t) {
    Tensor mask = Tensor::full({1, t + 1}, 1.0f);
    in.attention_mask = mask;
    const Tensor got = attn.forward(x.slice(1, t, t + 1).contiguous(), in);
    for (int64_t i = 0; i < 16; ++i)
      EXPECT_NEAR(got.data<float>()[i], want.data<float>()[t * 16 + i], bound) << "token " << t;
  }
  EXPECT_EQ(cache.length, seq);
}

}  // namespace
}  // namespace octet::nn
