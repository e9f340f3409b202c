// Attention (batched GEMMs + fused mask/softmax) against the naive reference:
// padding, causal (incl. seq_q != seq_k), GQA/MQA, additive bias, fully
// masked rows, chunking of long sequences. Tolerances follow from the GEMM and
// softmax bounds (see attention_tolerance).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "kernel_test_util.h"
#include "kernels/attention_internal.h"
#include "octet/kernels_attention.h"
#include "parity_fixture.h"
#include "row_ops_bounds.h"

namespace octet::kernels {
namespace {

using testing::gamma_n;
using testing::kU;
using testing::random_tensor;
using testing::Variant;

struct AttnCase {
  const char* name;
  int64_t batch, heads, kv_heads, seq_q, seq_k, head_dim;
  bool causal = false;
  std::vector<int64_t> key_lengths = {};  // padding: keys [0, len) of each batch attend
  Shape bias_shape = {};                  // empty: no bias
  std::optional<float> scale = std::nullopt;
};

std::vector<AttnCase> attention_cases() {
  return {
      {"mha", 2, 3, 3, 17, 17, 8},
      {"padding_with_empty_sequence", 3, 2, 2, 9, 9, 16, false, {9, 5, 0}},
      {"causal", 2, 2, 2, 13, 13, 8, true},
      {"causal_kv_cache", 1, 4, 4, 3, 10, 8, true},
      {"causal_more_queries_than_keys", 1, 2, 2, 6, 4, 8, true},
      {"gqa_padding", 2, 8, 2, 11, 11, 16, false, {11, 6}},
      {"mqa_causal", 2, 4, 1, 7, 12, 5, true},
      {"bias_per_head", 2, 3, 3, 6, 6, 8, false, {}, {1, 3, 6, 6}},
      {"bias_per_batch_with_inf", 2, 3, 3, 6, 6, 8, false, {}, {2, 1, 6, 6}},
      {"bias_full_gqa_causal_padding", 2, 4, 2, 9, 9, 8, true, {9, 4}, {2, 4, 9, 9}},
      {"odd_dims_explicit_scale", 1, 3, 3, 5, 33, 7, false, {}, {}, 0.3f},
      {"bert_like", 2, 12, 12, 128, 128, 64, false, {128, 77}},
      {"long_chunked", 2, 2, 2, 600, 600, 64, false, {600, 431}},
  };
}

struct Inputs {
  Tensor q, k, v;
  AttentionParams params;
};

Inputs make_inputs(const AttnCase& c) {
  Inputs in;
  in.q = random_tensor({c.batch, c.heads, c.seq_q, c.head_dim}, 1, -1.5f, 1.5f);
  in.k = random_tensor({c.batch, c.kv_heads, c.seq_k, c.head_dim}, 2, -1.5f, 1.5f);
  in.v = random_tensor({c.batch, c.kv_heads, c.seq_k, c.head_dim}, 3, -2.0f, 2.0f);
  in.params.causal = c.causal;
  in.params.scale = c.scale;
  if (!c.key_lengths.empty()) {
    std::vector<int64_t> mask(static_cast<size_t>(c.batch * c.seq_k), 0);
    for (int64_t b = 0; b < c.batch; ++b)
      for (int64_t j = 0; j < c.key_lengths[b]; ++j) mask[b * c.seq_k + j] = 1;
    in.params.key_mask = Tensor::from_vector(mask, {c.batch, c.seq_k});
  }
  if (!c.bias_shape.empty()) {
    in.params.bias = random_tensor(c.bias_shape, 4, -2.0f, 2.0f);
    float* b = in.params.bias.data<float>();
    for (int64_t i = 0; i < in.params.bias.numel(); i += 11) b[i] = -std::numeric_limits<float>::infinity();
  }
  return in;
}

// Tolerance for out[b, h, i, :] and probs[b, h, i, :], with p the reference
// probabilities and z the exact logits (-inf where masked):
//  - scores: the Q K^T GEMM with alpha = scale is off by at most
//    E = gamma_{d+1} |scale| sum_t |q_t||k_jt| (max over j), an absolute
//    logit error fed into the softmax bound (testing::softmax_relative_bound),
//    which gives each p_j a relative bound rho_j;
//  - out_t = sum_j p_j v_jt by GEMM over seq_k terms:
//    |out^ - out| <= sum_j p_j |v_jt| (rho_j + gamma_{seq_k} (1 + rho_j)) + u |out|,
//    plus kFltMin sum_j |v_jt| for probabilities flushed below FLT_MIN.
struct AttnTolerance {
  std::vector<double> out, probs;
};

AttnTolerance attention_tolerance(const Inputs& in, const Tensor& ref_out, const Tensor& ref_probs) {
  AttentionProblem p;
  {
    Tensor scratch_out;
    Tensor scratch_probs;
    AttentionParams params = in.params;
    params.probabilities = &scratch_probs;
    p = prepare_attention(in.q, in.k, in.v, scratch_out, params);
  }
  const int64_t group = p.heads / p.kv_heads, d = p.head_dim, sk = p.seq_k;
  AttnTolerance tol;
  tol.out.resize(static_cast<size_t>(ref_out.numel()));
  tol.probs.resize(static_cast<size_t>(ref_probs.numel()));
  std::vector<double> z(static_cast<size_t>(sk));
  for (int64_t b = 0; b < p.batch; ++b)
    for (int64_t h = 0; h < p.heads; ++h) {
      const float* k = p.k + (b * p.kv_heads + h / group) * sk * d;
      const float* v = p.v + (b * p.kv_heads + h / group) * sk * d;
      for (int64_t i = 0; i < p.seq_q; ++i) {
        const float* q = p.q + ((b * p.heads + h) * p.seq_q + i) * d;
        const int64_t row = (b * p.heads + h) * p.seq_q + i;
        double e_logit = 0.0;
        for (int64_t j = 0; j < sk; ++j) {
          const bool visible = j < p.visible_keys(i) && (p.key_keep.empty() || p.key_keep[b * sk + j]);
          double dot = 0.0, abs_dot = 0.0;
          for (int64_t t = 0; t < d; ++t) {
            dot += static_cast<double>(q[t]) * k[j * d + t];
            abs_dot += std::fabs(static_cast<double>(q[t]) * k[j * d + t]);
          }
          z[j] = visible ? p.scale * dot : -std::numeric_limits<double>::infinity();
          if (visible && p.bias) z[j] += p.bias[b * p.bias_stride_b + h * p.bias_stride_h + i * sk + j];
          if (visible) e_logit = std::max(e_logit, gamma_n(d + 1) * std::fabs(p.scale) * abs_dot);
        }
        const float* probs = ref_probs.data<float>() + row * sk;
        const std::vector<double> rho = testing::softmax_relative_bound(z, probs, e_logit);
        for (int64_t j = 0; j < sk; ++j)
          tol.probs[row * sk + j] = testing::kSecondOrder * probs[j] * rho[j] + kU * probs[j] + testing::kFltMin;
        for (int64_t t = 0; t < d; ++t) {
          double bound = 0.0, abs_v = 0.0;
          for (int64_t j = 0; j < sk; ++j) {
            bound += probs[j] * std::fabs(v[j * d + t]) * (rho[j] + gamma_n(sk) * (1 + rho[j]));
            abs_v += std::fabs(v[j * d + t]);
          }
          const double o = std::fabs(ref_out.data<float>()[row * d + t]);
          tol.out[row * d + t] = testing::kSecondOrder * bound + kU * o + testing::kFltMin * abs_v;
        }
      }
    }
  return tol;
}

struct AttnParam {
  Variant variant;
  AttnCase c;
};

const RowKernels* avx512_rows() { return avx512_rows_supported() ? &kAvx512RowKernels : &kAvx2RowKernels; }

std::vector<AttnParam> attention_params() {
  std::vector<Variant> variants = testing::fast_variants();
  // The batched algorithm on the scalar kernels: separates algorithm bugs from SIMD ones.
  variants.push_back({"scalar", &kRefRowKernels, &kRefGemm});
  // Each octet-small ISA by name ("auto" runs the best one, "avx2" OpenBLAS).
  // AVX-512 only where the CPU has it; AVX2 fails loudly where it lacks it.
  variants.push_back({"small_avx2", &kAvx2RowKernels, &kSmallGemmAvx2});
  // With the AVX-512 row kernels (softmax) too, where the CPU has them.
  if (small_gemm_avx512_supported()) variants.push_back({"small_avx512", avx512_rows(), &kSmallGemmAvx512});
  std::vector<AttnParam> out;
  for (const auto& v : variants)
    for (const auto& c : attention_cases()) out.push_back({v, c});
  return out;
}

class AttentionVsReference : public ::testing::TestWithParam<AttnParam> {};

TEST_P(AttentionVsReference, OutputsAndProbabilitiesWithinBound) {
  const auto& [variant, c] = GetParam();
  Inputs in = make_inputs(c);
  Tensor ref_out, ref_probs;
  {
    AttentionParams params = in.params;
    params.probabilities = &ref_probs;
    attention_reference(in.q, in.k, in.v, ref_out, params);
  }
  Tensor out, out_with_probs, probs;
  testing::with_variant(variant, [&] {
    attention(in.q, in.k, in.v, out, in.params);
    AttentionParams params = in.params;
    params.probabilities = &probs;
    attention(in.q, in.k, in.v, out_with_probs, params);
  });
  const AttnTolerance tol = attention_tolerance(in, ref_out, ref_probs);
  testing::expect_within(out, ref_out, [&](int64_t i) { return tol.out[i]; }, std::string(c.name) + " output");
  testing::expect_within(probs, ref_probs, [&](int64_t i) { return tol.probs[i]; },
                         std::string(c.name) + " probabilities");
  // Scores in the caller's buffer or in chunked scratch: the same numbers.
  testing::expect_within(out_with_probs, out, [](int64_t) { return 0.0; }, std::string(c.name) + " chunking");
  // Masked keys have probability exactly 0 (the reference writes exact zeros there).
  const float* pr = probs.data<float>();
  const float* rr = ref_probs.data<float>();
  for (int64_t i = 0; i < probs.numel(); ++i)
    if (rr[i] == 0.0f && (pr[i] != 0.0f)) {
      ADD_FAILURE() << c.name << ": probability " << i << " is " << pr[i] << " where the key is masked";
      break;
    }
}

std::string attn_name(const ::testing::TestParamInfo<AttnParam>& info) {
  return std::string(info.param.variant.name) + "_" + info.param.c.name;
}

INSTANTIATE_TEST_SUITE_P(Cases, AttentionVsReference, ::testing::ValuesIn(attention_params()), attn_name);

TEST(Attention, FullyMaskedRowsGiveZerosNotNaN) {
  for (const auto& c : attention_cases()) {
    if (c.key_lengths.empty() && !c.causal) continue;
    Inputs in = make_inputs(c);
    Tensor probs;
    in.params.probabilities = &probs;
    const Tensor out = attention(in.q, in.k, in.v, in.params);
    for (int64_t i = 0; i < out.numel(); ++i) ASSERT_FALSE(std::isnan(out.data<float>()[i])) << c.name << " " << i;
  }
  // Batch 2 of "padding_with_empty_sequence" has no keys at all.
  const AttnCase c = attention_cases()[1];
  const Inputs in = make_inputs(c);
  const Tensor out = attention(in.q, in.k, in.v, in.params);
  const Tensor empty = out.select(2).contiguous();
  for (float v : empty.span<float>()) ASSERT_EQ(v, 0.0f);
}

TEST(Attention, MaskedKeysDoNotInfluenceTheOutput) {
  // Changing values and keys at padded and future positions changes nothing, bit for bit.
  const AttnCase c = {"gqa_causal_padding", 2, 4, 2, 10, 10, 8, true, {10, 6}};
  const Inputs in = make_inputs(c);
  const Tensor base = attention(in.q, in.k, in.v, in.params);
  Tensor k2 = in.k.clone(), v2 = in.v.clone();
  for (int64_t g = 0; g < 2; ++g)
    for (int64_t j = 6; j < 10; ++j)
      for (int64_t t = 0; t < 8; ++t) {
        k2.data<float>()[((1 * 2 + g) * 10 + j) * 8 + t] = 50.0f;
        v2.data<float>()[((1 * 2 + g) * 10 + j) * 8 + t] = 1e3f;
      }
  const Tensor perturbed = attention(in.q, k2, v2, in.params);
  for (int64_t i = 0; i < base.numel(); ++i) ASSERT_EQ(base.data<float>()[i], perturbed.data<float>()[i]) << i;
  // Causal: the last key is visible only to the last query; changing it leaves queries 0..8 alone.
  Tensor v3 = in.v.clone();
  for (int64_t t = 0; t < 8; ++t) v3.data<float>()[9 * 8 + t] += 5.0f;  // batch 0, kv head 0, key 9
  const Tensor changed = attention(in.q, in.k, v3, in.params);
  const Tensor a = base.select(0).select(0), b = changed.select(0).select(0);  // head 0 uses kv head 0
  for (int64_t i = 0; i < 9; ++i)
    for (int64_t t = 0; t < 8; ++t)
      ASSERT_EQ(a.contiguous().data<float>()[i * 8 + t], b.contiguous().data<float>()[i * 8 + t]);
  EXPECT_NE(a.contiguous().data<float>()[9 * 8], b.contiguous().data<float>()[9 * 8]);
}

// The quantization hook sees every probability row once, after the softmax
// (rows sum to 1 or, fully masked, 0), and what it writes is what multiplies v.
TEST(Attention, TransformProbabilitiesSeesSoftmaxRowsBeforeTheValues) {
  for (const AttnCase& c : attention_cases()) {
    if (c.name != std::string("gqa_padding") && c.name != std::string("long_chunked")) continue;
    Inputs in = make_inputs(c);
    const Tensor plain = attention(in.q, in.k, in.v, in.params);
    int64_t rows_seen = 0;
    in.params.transform_probabilities = [&](Tensor& p) {
      ASSERT_EQ(p.rank(), 3);
      ASSERT_EQ(p.dim(1), (c.heads / c.kv_heads) * c.seq_q);
      ASSERT_EQ(p.dim(2), c.seq_k);
      for (int64_t r = 0; r < p.dim(0) * p.dim(1); ++r) {
        double sum = 0;
        for (int64_t j = 0; j < c.seq_k; ++j) sum += p.data<float>()[r * c.seq_k + j];
        ASSERT_TRUE(std::fabs(sum - 1) < 1e-5 || sum == 0) << c.name << " row " << r << " sums to " << sum;
      }
      rows_seen += p.dim(0) * p.dim(1);
    };
    const Tensor observed = attention(in.q, in.k, in.v, in.params);
    EXPECT_EQ(rows_seen, c.batch * c.heads * c.seq_q) << c.name;
    for (int64_t i = 0; i < plain.numel(); ++i) ASSERT_EQ(plain.data<float>()[i], observed.data<float>()[i]) << i;

    // Uniform probabilities over all keys: every output row is the mean of its
    // kv head's values, within the f32 dot product bound gamma_(seq_k + 1) * sum |p v| (|v| <= 2).
    const double tol = gamma_n(double(c.seq_k + 1)) * 2.0;
    in.params.transform_probabilities = [&](Tensor& p) {
      for (float& x : p.span<float>()) x = 1.0f / float(c.seq_k);
    };
    const Tensor uniform = attention(in.q, in.k, in.v, in.params);
    const int64_t group = c.heads / c.kv_heads;
    for (int64_t b = 0; b < c.batch; ++b)
      for (int64_t h = 0; h < c.heads; ++h)
        for (int64_t t = 0; t < c.head_dim; ++t) {
          double mean = 0;
          for (int64_t j = 0; j < c.seq_k; ++j)
            mean += in.v.data<float>()[((b * c.kv_heads + h / group) * c.seq_k + j) * c.head_dim + t];
          mean /= double(c.seq_k);
          for (int64_t i = 0; i < c.seq_q; ++i)
            ASSERT_NEAR(uniform.data<float>()[((b * c.heads + h) * c.seq_q + i) * c.head_dim + t], mean, tol)
                << c.name;
        }
  }
}

// Many small groups run per group on one thread (scores kept in L2); a
// transform hook (here the identity) forces the chunked path. octet-small
// computes every element the same way in both, so the results are equal bits.
TEST(Attention, PerGroupAndChunkedPathsGiveTheSameBits) {
  std::vector<Variant> variants = {{"small_avx2", &kAvx2RowKernels, &kSmallGemmAvx2}};
  if (small_gemm_avx512_supported()) variants.push_back({"small_avx512", avx512_rows(), &kSmallGemmAvx512});
  for (const AttnCase& c : attention_cases()) {
    if (c.name != std::string("bert_like") && c.name != std::string("bias_full_gqa_causal_padding")) continue;
    Inputs in = make_inputs(c);
    for (const Variant& v : variants) {
      Tensor per_group, chunked;
      testing::with_variant(v, [&] {
        per_group = attention(in.q, in.k, in.v, in.params);
        AttentionParams hooked = in.params;
        hooked.transform_probabilities = [](Tensor&) {};
        chunked = attention(in.q, in.k, in.v, hooked);
      });
      testing::expect_within(per_group, chunked, [](int64_t) { return 0.0; }, std::string(c.name) + " " + v.name);
    }
  }
}

// q, k, v read in place from projection outputs [B, S, cols] (heads as views,
// as nn::MultiHeadAttention passes them) and the context written straight into
// a merged [B, S, H * d] tensor: the same bits as on contiguous copies, for the
// fast path and for the reference. Views do not stack a group's query heads,
// so GQA cases run one GEMM per head there; octet-small computes every
// element the same way whatever the row count.
TEST(Attention, HeadViewsOfProjectionOutputsGiveTheSameBits) {
  std::vector<Variant> variants = {{"small_avx2", &kAvx2RowKernels, &kSmallGemmAvx2}};
  if (small_gemm_avx512_supported()) variants.push_back({"small_avx512", avx512_rows(), &kSmallGemmAvx512});
  for (const AttnCase& c : attention_cases()) {
    Inputs in = make_inputs(c);
    const int64_t d = c.head_dim, h = c.heads, kvh = c.kv_heads;
    // q in columns [2 d, 2 d + h d) of a wider [B, Sq, cols] row (a slice, as in a fused qkv);
    // k and v interleaved head by head in one [B, Sk, 2 kvh d] tensor, so their head stride is 2 d.
    const int64_t q_cols = (h + 3) * d;
    Tensor q_rows = random_tensor({c.batch, c.seq_q, q_cols}, 7);
    Tensor kv_rows = random_tensor({c.batch, c.seq_k, 2 * kvh * d}, 8);
    const Tensor q_view =
        q_rows.reshape({c.batch, c.seq_q, h + 3, d}).slice(2, 2, 2 + h).transpose(1, 2);
    const Tensor kv4 = kv_rows.reshape({c.batch, c.seq_k, kvh, 2 * d});
    const Tensor k_view = kv4.slice(3, 0, d).transpose(1, 2);
    const Tensor v_view = kv4.slice(3, d, 2 * d).transpose(1, 2);
    ASSERT_FALSE(q_view.is_contiguous());
    const Tensor q = q_view.contiguous(), k = k_view.contiguous(), v = v_view.contiguous();
    for (const Variant& variant : variants) {
      Tensor want, merged = Tensor::empty({c.batch, c.seq_q, h * d}, DType::F32);
      Tensor out_view = merged.reshape({c.batch, c.seq_q, h, d}).transpose(1, 2);
      testing::with_variant(variant, [&] {
        want = attention(q, k, v, in.params);
        attention(q_view, k_view, v_view, out_view, in.params);
      });
      testing::expect_within(out_view.contiguous(), want, [](int64_t) { return 0.0; },
                             fmt::format("{} {} views", c.name, variant.name));
    }
    Tensor ref_want, ref_merged = Tensor::empty({c.batch, c.seq_q, h * d}, DType::F32);
    Tensor ref_view = ref_merged.reshape({c.batch, c.seq_q, h, d}).transpose(1, 2);
    attention_reference(q, k, v, ref_want, in.params);
    attention_reference(q_view, k_view, v_view, ref_view, in.params);
    testing::expect_within(ref_view.contiguous(), ref_want, [](int64_t) { return 0.0; },
                           fmt::format("{} reference views", c.name));
  }
}

TEST(Attention, ReferenceKnownAnswer) {
  // One query [1, 0] against keys [1, 0] and [0, 1], scale 1: scores [1, 0],
  // probabilities [e, 1] / (e + 1); values [2, 0] and [0, 4].
  const Tensor q = Tensor::from_floats(std::vector<float>{1, 0}, {1, 1, 1, 2});
  const Tensor k = Tensor::from_floats(std::vector<float>{1, 0, 0, 1}, {1, 1, 2, 2});
  const Tensor v = Tensor::from_floats(std::vector<float>{2, 0, 0, 4}, {1, 1, 2, 2});
  AttentionParams params;
  params.scale = 1.0f;
  const double e = std::exp(1.0), p0 = e / (e + 1), p1 = 1 / (e + 1);
  for (bool reference : {true, false}) {
    Tensor out;
    if (reference)
      attention_reference(q, k, v, out, params);
    else
      attention(q, k, v, out, params);
    EXPECT_NEAR(out.data<float>()[0], 2 * p0, 4 * kU) << reference;
    EXPECT_NEAR(out.data<float>()[1], 4 * p1, 4 * kU) << reference;
  }
}

TEST(Attention, CausalAlignsTheLastQueryWithTheLastKey) {
  // seq_q 3 after a cache of 2: query i sees keys 0 .. i + 2. Key 1 of batch 1 is padding.
  const Tensor q = random_tensor({2, 2, 3, 4}, 5), k = random_tensor({2, 1, 5, 4}, 6);
  AttentionParams params;
  params.causal = true;
  params.key_mask = Tensor::from_vector<int32_t>({1, 1, 1, 1, 1, 1, 0, 1, 1, 1}, {2, 5});
  Tensor probs;
  params.probabilities = &probs;
  for (bool reference : {true, false}) {
    Tensor out;
    if (reference)
      attention_reference(q, k, k, out, params);
    else
      attention(q, k, k, out, params);
    for (int64_t b = 0; b < 2; ++b)
      for (int64_t h = 0; h < 2; ++h)
        for (int64_t i = 0; i < 3; ++i)
          for (int64_t j = 0; j < 5; ++j) {
            const bool visible = j <= i + 2 && !(b == 1 && j == 1);
            const float p = probs.data<float>()[((b * 2 + h) * 3 + i) * 5 + j];
            EXPECT_EQ(p > 0.0f, visible) << "reference " << reference << " b" << b << " h" << h << " i" << i << " j" << j;
          }
  }
}

TEST(Attention, TorchParityGqaCausalPadding) {
  // HF-style attention in torch float64: repeat_interleave of kv heads, -inf
  // masks, softmax (tests/data/gen_kernels_parity.py).
  const auto& c = testing::parity_case("attention");
  Inputs in;
  in.q = testing::parity_tensor(c, "q");
  in.k = testing::parity_tensor(c, "k");
  in.v = testing::parity_tensor(c, "v");
  in.params.causal = true;
  in.params.key_mask = testing::parity_tensor(c, "key_mask");  // f32 0/1
  const Tensor expected = testing::parity_tensor(c, "out"), expected_probs = testing::parity_tensor(c, "probs");
  Tensor out, probs;
  AttentionParams params = in.params;
  params.probabilities = &probs;
  attention(in.q, in.k, in.v, out, params);
  const AttnTolerance tol = attention_tolerance(in, expected, expected_probs);
  testing::expect_within(out, expected, [&](int64_t i) { return tol.out[i]; }, "attention vs torch");
  testing::expect_within(probs, expected_probs, [&](int64_t i) { return tol.probs[i]; }, "probabilities vs torch");
}

TEST(Attention, ArgumentErrors) {
  const Tensor q = random_tensor({2, 6, 5, 8}, 1), k = random_tensor({2, 4, 5, 8}, 2);
  try {
    attention(q, k, k);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "[attention] kv heads (4) must divide heads (6)");
  }
  const Tensor k3 = random_tensor({2, 3, 5, 8}, 3);
  AttentionParams bad_mask;
  bad_mask.key_mask = Tensor::zeros({2, 4}, DType::I64);
  EXPECT_THROW(attention(q, k3, k3, bad_mask), Error);
  AttentionParams bad_bias;
  bad_bias.bias = random_tensor({2, 2, 5, 5}, 4);  // heads 2 is neither 6 nor 1
  EXPECT_THROW(attention(q, k3, k3, bad_bias), Error);
  EXPECT_THROW(attention(q, k3, random_tensor({2, 3, 5, 7}, 5)), Error);
  EXPECT_THROW(attention(q.reshape({12, 5, 8}), k3, k3), Error);
  AttentionParams bad_dtype;
  bad_dtype.key_mask = Tensor::zeros({2, 5}, DType::F16);
  EXPECT_THROW(attention(q, k3, k3, bad_dtype), Error);
  // A view whose rows of head_dim values are not contiguous (head_dim strided) is refused by name.
  try {
    attention(q, k3, random_tensor({2, 3, 8, 5}, 6).transpose(2, 3));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("v f32"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("each row of head_dim values must be contiguous"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace octet::kernels
