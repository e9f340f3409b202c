// MultiHeadAttention against (1) the same kernels called by hand, bit for bit,
// with heads split by plain index loops, and (2) an independent double
// computation with error bounds carried through projection, attention and
// output projection. Covers MHA, fused QKV, GQA, MQA and both hooks.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "kernels/kernel_test_util.h"
#include "nn/nn_test_util.h"
#include "kernels/parity_fixture.h"
#include "kernels/row_ops_bounds.h"
#include "octet/nn.h"

namespace octet::nn {
namespace {

using testing::heads_first;

using kernels::testing::gamma_n;
using kernels::testing::kU;
using kernels::testing::random_tensor;

struct Block {
  AttentionConfig config;
  Linear q, k, v, out;  // the separate projections (fused ones are built from them)
};

Block make_block(int64_t hidden, int64_t heads, int64_t kv_heads, int64_t head_dim, bool causal, uint32_t seed) {
  Block b;
  b.config = {hidden, heads, kv_heads, head_dim, causal, std::nullopt};
  auto lin = [&](int64_t out, int64_t in, uint32_t s) {
    return Linear(random_tensor({out, in}, s, -0.3f, 0.3f), random_tensor({out}, s + 500, -0.2f, 0.2f));
  };
  b.q = lin(heads * head_dim, hidden, seed);
  b.k = lin(kv_heads * head_dim, hidden, seed + 1);
  b.v = lin(kv_heads * head_dim, hidden, seed + 2);
  b.out = lin(hidden, heads * head_dim, seed + 3);
  return b;
}

// One [(H + 2 Hkv) D, hidden] projection with rows q, k, v.
Linear fuse(const Block& b) {
  const int64_t hidden = b.config.hidden_size;
  const int64_t rows = b.q.out_features() + b.k.out_features() + b.v.out_features();
  Tensor w = Tensor::empty({rows, hidden}, DType::F32), bias = Tensor::empty({rows}, DType::F32);
  int64_t r = 0;
  for (const Linear* l : {&b.q, &b.k, &b.v}) {
    std::copy_n(l->weight().data<float>(), l->weight().numel(), w.data<float>() + r * hidden);
    std::copy_n(l->bias().data<float>(), l->out_features(), bias.data<float>() + r);
    r += l->out_features();
  }
  return Linear(w, bias);
}

Tensor heads_last(const Tensor& x) {
  const int64_t batch = x.dim(0), heads = x.dim(1), seq = x.dim(2), d = x.dim(3);
  Tensor out = Tensor::empty({batch, seq, heads * d}, DType::F32);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t s = 0; s < seq; ++s)
        for (int64_t t = 0; t < d; ++t)
          out.data<float>()[(b * seq + s) * heads * d + h * d + t] = x.data<float>()[((b * heads + h) * seq + s) * d + t];
  return out;
}

// Double-precision attention block with a propagated error bound per output.
// Stages: projections (f32 GEMM bound gamma_{in+3} sum |x||w| + |b|), then
// per query row: logits z_j = scale q.k_j + bias with an absolute error E from
// the score GEMM (gamma_{d+1} scale sum |q||k|) and from q, k's own errors;
// softmax relative bounds rho_j (tests/kernels/row_ops_bounds.h); the P V GEMM
// (sum_j p_j |v| (rho_j + gamma_{seq}(1 + rho_j)) + p_j err_v); the output
// projection carries that error through |W_o| and adds its own GEMM bound.
struct Expected {
  std::vector<double> value, error;
};

Expected block_exact(const Block& blk, const Tensor& x, const Tensor& mask, const Tensor& bias, float q_factor) {
  const auto& c = blk.config;
  const int64_t batch = x.dim(0), seq = x.dim(1), hidden = c.hidden_size;
  const int64_t h_n = c.num_heads, kv_n = c.num_kv_heads == 0 ? h_n : c.num_kv_heads, d = c.head_dim;
  auto project = [&](const Linear& l, std::vector<double>& val, std::vector<double>& err, double factor) {
    const int64_t out = l.out_features();
    val.assign(batch * seq * out, 0.0);
    err.assign(batch * seq * out, 0.0);
    for (int64_t r = 0; r < batch * seq; ++r)
      for (int64_t o = 0; o < out; ++o) {
        double acc = l.bias().data<float>()[o], abs = std::fabs(acc);
        for (int64_t i = 0; i < hidden; ++i) {
          const double p = static_cast<double>(x.data<float>()[r * hidden + i]) * l.weight().data<float>()[o * hidden + i];
          acc += p, abs += std::fabs(p);
        }
        val[r * out + o] = acc * factor;
        err[r * out + o] = (gamma_n(hidden + 3) * abs + kU * std::fabs(acc)) * std::fabs(factor);
      }
  };
  std::vector<double> q, qe, k, ke, v, ve;
  project(blk.q, q, qe, q_factor);
  project(blk.k, k, ke, 1.0);
  project(blk.v, v, ve, 1.0);
  const double scale = 1.0 / std::sqrt(static_cast<double>(static_cast<float>(d)));
  std::vector<double> ctx(batch * seq * h_n * d), ctx_err(batch * seq * h_n * d);
  std::vector<double> z(seq);
  std::vector<float> p(seq);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t h = 0; h < h_n; ++h) {
      const int64_t g = h / (h_n / kv_n);
      for (int64_t i = 0; i < seq; ++i) {
        const double* qi = &q[(b * seq + i) * h_n * d + h * d];
        const double* qie = &qe[(b * seq + i) * h_n * d + h * d];
        double e_logit = 0.0, max = -std::numeric_limits<double>::infinity();
        for (int64_t j = 0; j < seq; ++j) {
          const bool visible = (!c.causal || j <= i) && (!mask.defined() || mask.data<int64_t>()[b * seq + j] != 0);
          const double* kj = &k[(b * seq + j) * kv_n * d + g * d];
          const double* kje = &ke[(b * seq + j) * kv_n * d + g * d];
          double dot = 0, abs = 0, carried = 0;
          for (int64_t t = 0; t < d; ++t) {
            dot += qi[t] * kj[t];
            abs += std::fabs(qi[t] * kj[t]);
            carried += qie[t] * std::fabs(kj[t]) + std::fabs(qi[t]) * kje[t] + qie[t] * kje[t];
          }
          z[j] = visible ? scale * dot : -std::numeric_limits<double>::infinity();
          if (visible && bias.defined()) z[j] += bias.data<float>()[(h * seq + i) * seq + j];
          if (visible) {
            // scale is rounded to f32 in the kernel: u relative on the logit.
            e_logit = std::max(e_logit, (gamma_n(d + 1) * (abs + carried) + carried) * scale + kU * std::fabs(scale * dot));
            max = std::max(max, z[j]);
          }
        }
        double sum = 0;
        for (int64_t j = 0; j < seq; ++j) sum += std::isinf(z[j]) ? 0.0 : std::exp(z[j] - max);
        for (int64_t j = 0; j < seq; ++j) p[j] = std::isinf(z[j]) ? 0.0f : static_cast<float>(std::exp(z[j] - max) / sum);
        const std::vector<double> rho = kernels::testing::softmax_relative_bound(z, p.data(), e_logit);
        for (int64_t t = 0; t < d; ++t) {
          double acc = 0, err = 0;
          for (int64_t j = 0; j < seq; ++j) {
            if (std::isinf(z[j])) continue;
            const double pj = std::exp(z[j] - max) / sum;
            const double vj = v[(b * seq + j) * kv_n * d + g * d + t], vje = ve[(b * seq + j) * kv_n * d + g * d + t];
            acc += pj * vj;
            err += pj * std::fabs(vj) * (rho[j] + gamma_n(seq) * (1 + rho[j])) + pj * vje * (1 + rho[j]) +
                   kernels::testing::kFltMin * std::fabs(vj);
          }
          ctx[(b * seq + i) * h_n * d + h * d + t] = acc;
          ctx_err[(b * seq + i) * h_n * d + h * d + t] = err + kU * std::fabs(acc);
        }
      }
    }
  Expected y;
  const Linear& o = blk.out;
  const int64_t in = h_n * d;
  y.value.assign(batch * seq * hidden, 0.0);
  y.error.assign(batch * seq * hidden, 0.0);
  for (int64_t r = 0; r < batch * seq; ++r)
    for (int64_t n = 0; n < hidden; ++n) {
      double acc = o.bias().data<float>()[n], abs = std::fabs(acc), carried = 0;
      for (int64_t i = 0; i < in; ++i) {
        const double w = o.weight().data<float>()[n * in + i];
        acc += ctx[r * in + i] * w;
        abs += std::fabs(ctx[r * in + i] * w);
        carried += ctx_err[r * in + i] * std::fabs(w);
      }
      y.value[r * hidden + n] = acc;
      y.error[r * hidden + n] = gamma_n(in + 3) * (abs + carried) + carried;
    }
  return y;
}

void expect_bounded(const Tensor& actual, const Expected& e, const std::string& what) {
  for (int64_t i = 0; i < actual.numel(); ++i)
    ASSERT_LE(std::fabs(actual.data<float>()[i] - e.value[i]), kernels::testing::kSecondOrder * e.error[i])
        << what << " element " << i;
}

struct BlockCase {
  const char* name;
  int64_t hidden, heads, kv_heads, head_dim;
  bool causal, padding, bias;
};

class AttentionBlock : public ::testing::TestWithParam<BlockCase> {};

TEST_P(AttentionBlock, SeparateAndFusedMatchKernelsAndDouble) {
  const BlockCase& bc = GetParam();
  const int64_t batch = 2, seq = 9;
  const Block blk = make_block(bc.hidden, bc.heads, bc.kv_heads, bc.head_dim, bc.causal, 7);
  const Tensor x = random_tensor({batch, seq, bc.hidden}, 8, -1.0f, 1.0f);
  AttentionInputs in;
  if (bc.padding) in.attention_mask = Tensor::from_vector<int64_t>({1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0},
                                                                   {batch, seq});
  Tensor bias;
  if (bc.bias) bias = random_tensor({1, bc.heads, seq, seq}, 9, -1.0f, 1.0f);

  MultiHeadAttention separate(blk.config, blk.q, blk.k, blk.v, blk.out);
  MultiHeadAttention fused(blk.config, fuse(blk), blk.out);
  EXPECT_FALSE(separate.fused_qkv());
  EXPECT_TRUE(fused.fused_qkv());
  // Exercise both hooks: a bias from the hook, and a q transform (scaling by 2).
  for (MultiHeadAttention* m : {&separate, &fused}) {
    if (bc.bias) m->set_position_bias([&](int64_t sq, int64_t sk) {
      EXPECT_EQ(sq, seq);
      EXPECT_EQ(sk, seq);
      return bias;
    });
    m->set_query_key_transform([](Tensor& q, Tensor&, const AttentionInputs&) {
      for (float& v : q.span<float>()) v *= 2.0f;
    });
  }
  const Tensor y_sep = separate.forward(x, in), y_fused = fused.forward(x, in);

  // (1) The same kernels by hand.
  const int64_t d = bc.head_dim, kvh = bc.kv_heads;
  Tensor q = heads_first(blk.q.forward(x), bc.heads, d);
  for (float& v : q.span<float>()) v *= 2.0f;
  kernels::AttentionParams params;
  params.causal = bc.causal;
  params.key_mask = in.attention_mask;
  params.bias = bias;
  const Tensor ctx = kernels::attention(q, heads_first(blk.k.forward(x), kvh, d), heads_first(blk.v.forward(x), kvh, d),
                                        params);
  const Tensor manual = blk.out.forward(heads_last(ctx));
  for (int64_t i = 0; i < manual.numel(); ++i) ASSERT_EQ(y_sep.data<float>()[i], manual.data<float>()[i]) << i;

  // (2) Both against double with the propagated bound.
  const Expected e = block_exact(blk, x, in.attention_mask, bias, 2.0);
  expect_bounded(y_sep, e, std::string(bc.name) + " separate");
  expect_bounded(y_fused, e, std::string(bc.name) + " fused");
}

INSTANTIATE_TEST_SUITE_P(Cases, AttentionBlock,
                         ::testing::Values(BlockCase{"mha_padding", 32, 4, 4, 8, false, true, false},
                                           BlockCase{"gqa_causal", 48, 6, 2, 8, true, false, false},
                                           BlockCase{"mqa_bias_padding", 40, 4, 1, 10, false, true, true},
                                           BlockCase{"head_dim_not_hidden_over_heads", 30, 4, 2, 6, true, true, true}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(AttentionBlockTorchParity, MultiheadAttentionWithPadding) {
  // torch.nn.MultiheadAttention in float64 (fused in_proj rows q, k, v), see
  // tests/data/gen_kernels_parity.py.
  const auto& c = kernels::testing::parity_case("mha_block");
  auto t = [&](const char* name) { return kernels::testing::parity_tensor(c, name); };
  const Tensor hidden = t("hidden"), in_w = t("in_proj_weight"), in_b = t("in_proj_bias");
  const int64_t e = hidden.dim(2);
  Block blk;
  blk.config = {e, 4, 4, e / 4, false, std::nullopt};
  auto rows = [&](int64_t part) {
    return Linear(in_w.slice(0, part * e, (part + 1) * e).contiguous(), in_b.slice(0, part * e, (part + 1) * e).contiguous());
  };
  blk.q = rows(0), blk.k = rows(1), blk.v = rows(2);
  blk.out = Linear(t("out_proj_weight"), t("out_proj_bias"));
  const MultiHeadAttention mha(blk.config, Linear(in_w, in_b), blk.out);
  AttentionInputs in;
  in.attention_mask = t("attention_mask");  // f32 0/1, as a caller may pass it
  const Tensor y = mha.forward(hidden, in);

  std::vector<int64_t> mask_i64;
  for (float v : in.attention_mask.span<float>()) mask_i64.push_back(v != 0.0f);
  const Expected ex = block_exact(blk, hidden, Tensor::from_vector(mask_i64, in.attention_mask.shape()), Tensor(), 1.0);
  // Two independent float64 evaluations agree (to the 12 digits stored)...
  const std::vector<double> torch = kernels::testing::parity_values(c, "out");
  for (size_t i = 0; i < torch.size(); ++i) ASSERT_NEAR(ex.value[i], torch[i], 1e-11 * std::fabs(torch[i]) + 1e-14) << i;
  // ...and octet's f32 block is within its propagated bound of torch's answer.
  ASSERT_EQ(y.numel(), static_cast<int64_t>(torch.size()));
  for (int64_t i = 0; i < y.numel(); ++i)
    ASSERT_LE(std::fabs(y.data<float>()[i] - torch[i]), kernels::testing::kSecondOrder * ex.error[i]) << i;
}

TEST(AttentionBlockConfig, RejectsInconsistentShapes) {
  const Block blk = make_block(32, 4, 2, 8, false, 1);
  AttentionConfig bad = blk.config;
  bad.num_kv_heads = 3;
  EXPECT_THROW(MultiHeadAttention(bad, blk.q, blk.k, blk.v, blk.out), Error);
  EXPECT_THROW(MultiHeadAttention(blk.config, blk.q, blk.q, blk.v, blk.out), Error);  // k has H heads, not Hkv
  EXPECT_THROW(MultiHeadAttention(blk.config, blk.q, blk.out), Error);                // qkv too small
  AttentionConfig odd;
  odd.hidden_size = 30;
  odd.num_heads = 4;
  EXPECT_THROW(MultiHeadAttention(odd, blk.q, blk.k, blk.v, blk.out), Error);  // 30 % 4, no head_dim
  MultiHeadAttention ok(blk.config, blk.q, blk.k, blk.v, blk.out);
  EXPECT_EQ(ok.config().head_dim, 8);
  EXPECT_THROW(ok.forward(random_tensor({2, 5, 31}, 2)), Error);
}

}  // namespace
}  // namespace octet::nn
