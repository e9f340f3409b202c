// Int8 attention (kernels/attention_int8.h): every ISA gives the same bits,
// and the result is the definition (codes, exact integer sums, f32 softmax)
// within a bound derived from f32 rounding, where a probability whose code
// that rounding can change (it lies that close to a rounding boundary) may be
// off by one code.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "kernel_test_util.h"
#include "kernels/attention_int8.h"
#include "octet/error.h"

namespace octet::kernels::attention_int8_test {
namespace {

using testing::gamma_n;
using testing::kU;
using testing::random_tensor;

struct Int8Case {
  const char* name;
  int64_t batch, heads, kv_heads, seq_q, seq_k, head_dim;
  bool causal = false;
  std::vector<int64_t> key_lengths = {};  // keys [0, len) of each batch attend
  bool bias = false;                      // a [batch, heads, seq_q, seq_k] bias
  bool affine = false;                    // queries and probabilities on affine grids
  bool head_views = false;                // q, k, v and out as views of fused [B, S, cols] tensors
};

std::vector<Int8Case> int8_cases() {
  return {
      {"mha", 2, 3, 3, 17, 17, 8},
      {"bert_like_padding", 2, 12, 12, 128, 128, 64, false, {128, 77}},
      {"bert_like_views", 2, 4, 4, 33, 33, 64, false, {33, 20}, false, false, true},
      {"gqa_causal_affine", 2, 8, 2, 11, 11, 16, true, {11, 6}, false, true},
      {"mqa_bias_odd_dims", 1, 4, 1, 7, 19, 5, false, {}, true},
      {"one_query_many_keys", 1, 2, 2, 1, 300, 32},
      {"every_key_masked", 2, 2, 2, 5, 5, 8, false, {5, 0}},
  };
}

struct Operands {
  Tensor q, k, v;
  Tensor storage_q, storage_out;  // the fused tensors the views look into (head_views)
  AttentionParams params;
  Int8AttentionQuant quant;
};

// q, k, v as contiguous [B, H, S, d], or as head views of fused [B, S, H * d] tensors.
Operands make_operands(const Int8Case& c) {
  Operands o;
  const int64_t b = c.batch, h = c.heads, g = c.kv_heads, d = c.head_dim;
  if (c.head_views) {
    // One fused [B, S, (H + 2 G) d] projection output, as a BERT block leaves it.
    check(c.seq_q == c.seq_k, "test", "views need seq_q == seq_k");
    const int64_t cols = (h + 2 * g) * d;
    o.storage_q = random_tensor({b, c.seq_q, cols}, 11, -1.5f, 1.5f);
    const auto view = [&](int64_t first_head, int64_t heads) {
      return o.storage_q.reshape({b, c.seq_q, h + 2 * g, d}).slice(2, first_head, first_head + heads).transpose(1, 2);
    };
    o.q = view(0, h), o.k = view(h, g), o.v = view(h + g, g);
    o.storage_out = Tensor::empty({b, c.seq_q, h * d}, DType::F32);  // the merged context the out projection reads
  } else {
    o.q = random_tensor({b, h, c.seq_q, d}, 1, -1.5f, 1.5f);
    o.k = random_tensor({b, g, c.seq_k, d}, 2, -1.5f, 1.5f);
    o.v = random_tensor({b, g, c.seq_k, d}, 3, -2.0f, 2.0f);
  }
  o.params.causal = c.causal;
  if (!c.key_lengths.empty()) {
    std::vector<int64_t> mask(static_cast<size_t>(b * c.seq_k), 0);
    for (int64_t bi = 0; bi < b; ++bi)
      for (int64_t j = 0; j < c.key_lengths[size_t(bi)]; ++j) mask[size_t(bi * c.seq_k + j)] = 1;
    o.params.key_mask = Tensor::from_vector(mask, {b, c.seq_k});
  }
  if (c.bias) o.params.bias = random_tensor({b, h, c.seq_q, c.seq_k}, 4, -2.0f, 2.0f);
  // q and k in [-1.5, 1.5] span ~110-120 codes; |v| up to 2 clips past 1.5 at 127.
  o.quant.query = {1.5f / 110, c.affine ? 7 : 0, c.affine ? -128 : -127};
  o.quant.key = {1.5f / 120, 0, -127};
  o.quant.value = {1.5f / 127, 0, -127};
  o.quant.probabilities = c.affine ? Int8Grid{1.0f / 255, -128, -128} : Int8Grid{1.0f / 127, 0, -127};
  return o;
}

// The output as a contiguous [B, H, S, d] tensor (written through a head view of a merged context when
// the case has views).
Tensor run(const Operands& o, Int8Isa isa = int8_default_isa()) {
  if (!o.storage_out.defined()) {
    Tensor out;
    attention_int8(o.q, o.k, o.v, out, o.params, o.quant, isa);
    return out;
  }
  const Tensor& m = o.storage_out;
  Tensor out = m.reshape({m.dim(0), m.dim(1), o.q.dim(1), o.q.dim(3)}).transpose(1, 2);
  attention_int8(o.q, o.k, o.v, out, o.params, o.quant, isa);
  return out.contiguous();
}

std::vector<Int8Isa> available_isas() {
  std::vector<Int8Isa> out;
  for (Int8Isa isa : {Int8Isa::Scalar, Int8Isa::Avx2, Int8Isa::Avx512Vnni})
    if (int8_isa_available(isa)) out.push_back(isa);
  return out;
}

class Int8AttentionCases : public ::testing::TestWithParam<Int8Case> {};

TEST_P(Int8AttentionCases, EveryIsaGivesTheSameBits) {
  const Int8Case& c = GetParam();
  const Operands o = make_operands(c);
  Tensor first;
  for (Int8Isa isa : available_isas()) {
    SCOPED_TRACE(std::string(int8_isa_name(isa)));
    const Tensor out = run(o, isa);
    if (!first.defined()) {
      first = out;
      continue;
    }
    testing::expect_within(out, first, [](int64_t) { return 0.0; }, c.name);
  }
}

// q, k and v codes as the kernel makes them from f32 inputs: an f32 division, then round half to even.
int64_t code(float x, const Int8Grid& g) {
  const double c = std::nearbyint(double(x / g.scale)) + g.zero_point;
  return int64_t(std::clamp<double>(c, g.qmin, 127));
}

// A probability's code from its exact value (the kernel's f32 p may take the neighbouring one; see below).
int64_t probability_code(double p, const Int8Grid& g) {
  return int64_t(std::clamp<double>(std::nearbyint(p / g.scale) + g.zero_point, g.qmin, 127));
}

// The definition in double, with the bound per output element:
//  - scores: float(acc) is exact (|acc| < 2^24), then two f32 products and the
//    product of scales: |error| <= 4u |score| (first order);
//  - softmax in f32 from scores off by at most E = 4u max|score| gives each p a
//    relative error of at most rho = 2E + gamma_{seq_k} + 8u (exp, sum, division);
//  - a probability's code is then exact unless p / sp lies within rho p / sp
//    (+ 1e-6 absolute) of a half-integer: such keys may be one code off,
//    adding sp sv |cv| each;
//  - out: float(acc) * sp * sv, with |acc| < 2^24 exact: 3u |out|.
TEST_P(Int8AttentionCases, DefinitionWithinRoundingAndOneCodePerAmbiguousKey) {
  const Int8Case& c = GetParam();
  const Operands o = make_operands(c);
  const Tensor out = run(o);
  const Tensor q = o.q.contiguous(), k = o.k.contiguous(), v = o.v.contiguous();
  const int64_t d = c.head_dim, sq = c.seq_q, sk = c.seq_k, group = c.heads / c.kv_heads;
  const float scale = 1.0f / std::sqrt(float(d));
  const Int8AttentionQuant& g = o.quant;
  int64_t ambiguous = 0, checked = 0;
  for (int64_t b = 0; b < c.batch; ++b)
    for (int64_t h = 0; h < c.heads; ++h) {
      const float* kh = k.data<float>() + (b * c.kv_heads + h / group) * sk * d;
      const float* vh = v.data<float>() + (b * c.kv_heads + h / group) * sk * d;
      for (int64_t i = 0; i < sq; ++i) {
        const float* qi = q.data<float>() + ((b * c.heads + h) * sq + i) * d;
        std::vector<double> z(size_t(sk), -std::numeric_limits<double>::infinity());
        double max_abs_score = 0;
        for (int64_t j = 0; j < sk; ++j) {
          const bool causal_ok = !c.causal || j <= i + (sk - sq);
          const bool kept = c.key_lengths.empty() || j < c.key_lengths[size_t(b)];
          int64_t acc = 0;
          for (int64_t t = 0; t < d; ++t)
            acc += (code(qi[t], g.query) - g.query.zero_point) * code(kh[j * d + t], g.key);
          const double score = double(acc) * g.query.scale * double(g.key.scale * scale);
          max_abs_score = std::max(max_abs_score, std::fabs(score));
          if (causal_ok && kept)
            z[size_t(j)] = score + (c.bias ? o.params.bias.data<float>()[((b * c.heads + h) * sq + i) * sk + j] : 0.0);
        }
        double zmax = -std::numeric_limits<double>::infinity(), sum = 0;
        for (double x : z) zmax = std::max(zmax, x);
        std::vector<double> p(size_t(sk), 0.0);
        if (zmax > -std::numeric_limits<double>::infinity()) {
          for (int64_t j = 0; j < sk; ++j) sum += p[size_t(j)] = std::exp(z[size_t(j)] - zmax);
          for (double& x : p) x /= sum;
        }
        const double rho = 2 * 4 * kU * max_abs_score + gamma_n(double(sk)) + 8 * kU;
        for (int64_t t = 0; t < d; ++t) {
          double exact = 0, slack = 0;
          for (int64_t j = 0; j < sk; ++j) {
            const int64_t cv = code(vh[j * d + t], g.value);
            const double r = p[size_t(j)] / g.probabilities.scale;
            const bool near_boundary = std::fabs(r - std::floor(r) - 0.5) <= rho * r + 1e-6;
            if (near_boundary && t == 0) ++ambiguous;
            if (near_boundary) slack += double(g.probabilities.scale) * g.value.scale * std::fabs(double(cv));
            exact += double(probability_code(p[size_t(j)], g.probabilities) - g.probabilities.zero_point) * cv;
          }
          exact *= double(g.probabilities.scale) * g.value.scale;
          const double got = out.data<float>()[((b * c.heads + h) * sq + i) * d + t];
          const double bound = slack + 4 * kU * std::fabs(exact) + 1e-30;
          ++checked;
          if (std::fabs(got - exact) > bound) {
            ADD_FAILURE() << c.name << " b" << b << " h" << h << " i" << i << " t" << t << ": " << got << " vs "
                          << exact << " (bound " << bound << ")";
            return;
          }
        }
      }
    }
  RecordProperty("ambiguous_probabilities", std::to_string(ambiguous));
  EXPECT_GT(checked, 0);
}

INSTANTIATE_TEST_SUITE_P(Cases, Int8AttentionCases, ::testing::ValuesIn(int8_cases()),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(Int8Attention, EveryKeyMaskedGivesZeros) {
  const Operands o = make_operands(int8_cases().back());
  const Tensor out = run(o);
  const float* batch1 = out.data<float>() + out.numel() / 2;  // batch 1 has no visible key
  for (int64_t i = 0; i < out.numel() / 2; ++i) ASSERT_EQ(batch1[i], 0.0f) << i;
}

TEST(Int8Attention, RejectsWhatItCannotRun) {
  Operands o = make_operands(int8_cases().front());
  Tensor out;
  const auto message = [&](const Int8AttentionQuant& quant, const AttentionParams& params) -> std::string {
    try {
      Tensor r;
      attention_int8(o.q, o.k, o.v, r, params, quant);
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  };
  Int8AttentionQuant affine_keys = o.quant;
  affine_keys.key.zero_point = 3;
  EXPECT_NE(message(affine_keys, o.params).find("key must be symmetric"), std::string::npos);
  Int8AttentionQuant full_range_values = o.quant;
  full_range_values.value.qmin = -128;
  EXPECT_NE(message(full_range_values, o.params).find("value must be symmetric"), std::string::npos);
  Int8AttentionQuant zero_scale = o.quant;
  zero_scale.probabilities.scale = 0;
  EXPECT_NE(message(zero_scale, o.params).find("probabilities scale must be positive"), std::string::npos);
  AttentionParams with_probs = o.params;
  Tensor probs;
  with_probs.probabilities = &probs;
  EXPECT_NE(message(o.quant, with_probs).find("only as int8 codes"), std::string::npos);
  AttentionParams with_transform = o.params;
  with_transform.transform_probabilities = [](Tensor&) {};
  EXPECT_NE(message(o.quant, with_transform).find("only as int8 codes"), std::string::npos);
  EXPECT_EQ(int8_attention_unsupported(o.quant), "");
  // Past 65,000 keys the int32 sums of P V could overflow.
  const Tensor q = Tensor::zeros({1, 1, 1, 1}, DType::F32), kv = Tensor::zeros({1, 1, 65001, 1}, DType::F32);
  EXPECT_THROW(attention_int8(q, kv, kv, out, {}, o.quant), Error);
}

}  // namespace
}  // namespace octet::kernels::attention_int8_test
