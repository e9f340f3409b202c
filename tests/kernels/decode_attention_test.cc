// The decode-step attention kernel (kernels/decode_attention.h): the AVX-512
// variant against kernels/ref's reference_attention within a derived bound, masks, and the
// head sizes it takes; on an F16 / INT8 / FP8 cache, bit for bit the f32 kernel on the
// widened or dequantized rows. (The attention module's cached decode steps, which run it,
// are compared with the uncached forward in tests/nn and tests/runtime.)
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "kernel_test_util.h"
#include "kernels/attention_internal.h"
#include "kernels/decode_attention.h"
#include "octet/cpu_features.h"
#include "octet/error.h"
#include "octet/number_formats.h"
#include "row_ops_bounds.h"

namespace octet::kernels::decode_attention_test {
namespace {

using testing::gamma_n;
using testing::kU;
using testing::random_values;

struct Case {
  int64_t heads, d, total, ld;
  bool mask_some;      // every third key not kept
  int64_t first, last;  // window; last < 0: total - 1
};

struct Problem {
  std::vector<float> q, k, v;
  std::vector<uint8_t> keep;
  DecodeAttentionGroup g;
};

Problem make_problem(const Case& c, uint32_t seed) {
  Problem p;
  p.q = random_values(c.heads * c.d, seed, -1.0f, 1.0f);
  p.k = random_values(c.total * c.ld, seed + 1, -1.5f, 1.5f);
  p.v = random_values(c.total * c.ld, seed + 2, -2.0f, 2.0f);
  if (c.mask_some) {
    p.keep.assign(static_cast<size_t>(c.total), 1);
    for (int64_t j = 0; j < c.total; j += 3) p.keep[size_t(j)] = 0;
  }
  DecodeAttentionGroup& g = p.g;
  g.q = p.q.data(), g.heads = c.heads, g.d = c.d, g.ld = c.ld, g.total = c.total;
  g.k.data = p.k.data(), g.v.data = p.v.data();
  g.scale = 1.0f / std::sqrt(float(c.d));
  g.keep = p.keep.empty() ? nullptr : p.keep.data();
  g.first = c.first, g.last = c.last < 0 ? c.total - 1 : c.last;
  return p;
}

// The bound of tests/kernels/attention_test.cc (attention_tolerance) for one query row per head:
// logits off by at most E = gamma_(d+1) |scale| sum_t |q_t k_jt| (a dot product then the scale), which
// testing::softmax_relative_bound turns into relative bounds rho_j of the probabilities, and
// |out^ - out| <= sum_j p_j |v_jt| (rho_j + gamma_total (1 + rho_j)) + u |out| (+ FLT_MIN per flushed term).
void expect_within_bound(const Problem& p, const std::vector<float>& probs_ref, const std::vector<float>& out_ref,
                         const std::vector<float>& probs, const std::vector<float>& out) {
  const DecodeAttentionGroup& g = p.g;
  std::vector<double> z(static_cast<size_t>(g.total));
  for (int64_t h = 0; h < g.heads; ++h) {
    double e_logit = 0.0;
    for (int64_t j = 0; j < g.total; ++j) {
      const bool visible = j >= g.first && j <= g.last && (!g.keep || g.keep[j]);
      double dot = 0.0, abs_dot = 0.0;
      for (int64_t t = 0; t < g.d; ++t) {
        dot += double(g.q[h * g.d + t]) * p.k[size_t(j * g.ld + t)];
        abs_dot += std::fabs(double(g.q[h * g.d + t]) * p.k[size_t(j * g.ld + t)]);
      }
      z[size_t(j)] = visible ? g.scale * dot : -std::numeric_limits<double>::infinity();
      if (visible) e_logit = std::max(e_logit, gamma_n(double(g.d + 1)) * g.scale * abs_dot);
    }
    const float* pr = probs_ref.data() + h * g.total;
    const std::vector<double> rho = testing::softmax_relative_bound(z, pr, e_logit);
    for (int64_t j = 0; j < g.total; ++j) {
      const double tol = testing::kSecondOrder * pr[j] * rho[size_t(j)] + kU * pr[j] + testing::kFltMin;
      ASSERT_LE(std::fabs(double(probs[size_t(h * g.total + j)]) - pr[j]), tol) << "head " << h << " key " << j;
    }
    for (int64_t t = 0; t < g.d; ++t) {
      double bound = 0.0, abs_v = 0.0;
      for (int64_t j = 0; j < g.total; ++j) {
        const double v = std::fabs(double(p.v[size_t(j * g.ld + t)]));
        bound += pr[j] * v * (rho[size_t(j)] + gamma_n(double(g.total)) * (1 + rho[size_t(j)]));
        abs_v += v;
      }
      const double o = out_ref[size_t(h * g.d + t)];
      const double tol = testing::kSecondOrder * bound + kU * std::fabs(o) + testing::kFltMin * abs_v;
      ASSERT_LE(std::fabs(double(out[size_t(h * g.d + t)]) - o), tol) << "head " << h << " dim " << t;
    }
  }
}

class DecodeAttentionVariants : public ::testing::TestWithParam<Case> {};

// The group as one attention problem for kernels/ref's reference_attention (double loops): one batch,
// one kv head, one query per head, the keys' rows made contiguous, the window folded into the key mask.
void reference_of(const Problem& p, std::vector<float>& probs, std::vector<float>& out) {
  const DecodeAttentionGroup& g = p.g;
  std::vector<float> k(size_t(g.total * g.d)), v(k.size());
  for (int64_t j = 0; j < g.total; ++j)
    for (int64_t t = 0; t < g.d; ++t) {
      k[size_t(j * g.d + t)] = p.k[size_t(j * g.ld + t)];
      v[size_t(j * g.d + t)] = p.v[size_t(j * g.ld + t)];
    }
  AttentionProblem r;
  r.batch = 1, r.heads = g.heads, r.kv_heads = 1, r.seq_q = 1, r.seq_k = g.total, r.head_dim = g.d;
  r.scale = g.scale;
  r.use_contiguous_layouts();
  r.q = g.q, r.k = k.data(), r.v = v.data(), r.out = out.data(), r.probabilities = probs.data();
  r.key_keep.resize(size_t(g.total));
  for (int64_t j = 0; j < g.total; ++j) r.key_keep[size_t(j)] = j >= g.first && j <= g.last && (!g.keep || g.keep[j]);
  reference_attention(r);
}

TEST_P(DecodeAttentionVariants, Avx512WithinTheDerivedBoundOfTheReference) {
  if (!cpu_features_detected().avx512f || !avx512_rows_supported()) GTEST_SKIP() << "no AVX-512 on this CPU";
  const Case& c = GetParam();
  Problem p = make_problem(c, 11);
  std::vector<float> probs_ref(size_t(c.heads * c.total)), out_ref(size_t(c.heads * c.d));
  std::vector<float> probs(probs_ref.size(), -7.0f), out(out_ref.size(), -7.0f);
  reference_of(p, probs_ref, out_ref);
  DecodeAttentionGroup g = p.g;
  g.scores = probs.data(), g.out = out.data();
  decode_attention_avx512(g);
  expect_within_bound(p, probs_ref, out_ref, probs, out);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, DecodeAttentionVariants,
    ::testing::Values(Case{8, 64, 300, 64, false, 0, -1},    // TinyLlama's group: 8 query heads, d 64
                      Case{8, 64, 300, 64, true, 0, -1},     // a padding mask
                      Case{3, 64, 1, 64, false, 0, -1},      // the first decode step: one key
                      Case{10, 32, 40, 32, true, 0, -1},     // eight heads at once, then two alone
                      Case{8, 64, 301, 72, true, 5, 290},    // keys in pairs and an odd last one, wide rows
                      Case{16, 128, 7, 128, false, 0, -1},   // two groups of eight heads, d 128
                      Case{5, 128, 77, 136, false, 20, 60},  // rows wider than d, a window
                      Case{1, 16, 33, 16, false, 0, -1}, Case{2, 256, 50, 256, true, 0, -1}),
    [](const ::testing::TestParamInfo<Case>& info) {
      const Case& c = info.param;
      std::ostringstream name;  // (string + string chains trip GCC 12's -Wrestrict false positive)
      name << "h" << c.heads << "_d" << c.d << "_n" << c.total << "_ld" << c.ld << (c.mask_some ? "_masked" : "")
           << (c.last >= 0 ? "_window" : "");
      return name.str();
    });

// An INT8 / FP8 cache: random codes (every e4m3 code but NaN's among the first keys, subnormals included)
// with a scale per row (dynamic) or one (static).
struct QuantizedCase {
  const char* name;
  DType dtype;
  bool dynamic;
  Case shape;
};

struct QuantizedProblem {
  std::vector<uint8_t> k_codes, v_codes;
  std::vector<float> k_scales, v_scales;  // dynamic: one per row; static: one
  Problem dequantized;                    // the same rows as f32: decode(code) * scale, rounded once
};

float decoded(DType dtype, uint8_t code) {
  return dtype == DType::I8 ? float(int8_t(code)) : fp8_e4m3_to_float(code);
}

QuantizedProblem make_quantized(const QuantizedCase& qc, uint32_t seed) {
  const Case& c = qc.shape;
  QuantizedProblem qp;
  qp.dequantized = make_problem(c, seed);
  std::mt19937 rng(seed);
  auto codes = [&](std::vector<uint8_t>& out) {
    out.resize(size_t(c.total * c.ld));
    for (size_t i = 0; i < out.size(); ++i) {
      uint8_t b = i < 256 ? uint8_t(i) : uint8_t(rng());
      if (qc.dtype == DType::F8_E4M3 && (b & 0x7F) == 0x7F) b ^= 1;  // not NaN: it would make every sum NaN
      out[i] = b;
    }
  };
  codes(qp.k_codes);
  codes(qp.v_codes);
  std::uniform_real_distribution<float> scale(0.004f, 0.05f);
  for (auto* scales : {&qp.k_scales, &qp.v_scales}) {
    scales->resize(size_t(qc.dynamic ? c.total : 1));
    for (float& x : *scales) x = scale(rng);
  }
  Problem& p = qp.dequantized;
  for (int64_t j = 0; j < c.total; ++j) {
    const size_t at = size_t(j * c.ld), si = qc.dynamic ? size_t(j) : 0;
    for (int64_t t = 0; t < c.ld; ++t) {
      p.k[at + size_t(t)] = decoded(qc.dtype, qp.k_codes[at + size_t(t)]) * qp.k_scales[si];
      p.v[at + size_t(t)] = decoded(qc.dtype, qp.v_codes[at + size_t(t)]) * qp.v_scales[si];
    }
  }
  return qp;
}

CachedRows cached_codes(const QuantizedCase& qc, const std::vector<uint8_t>& codes, const std::vector<float>& scales) {
  CachedRows rows;
  rows.data = codes.data();
  rows.element = qc.dtype == DType::I8 ? CachedElement::I8 : CachedElement::F8E4M3;
  if (qc.dynamic)
    rows.row_scales = scales.data();
  else
    rows.scale = scales[0];
  return rows;
}

void PrintTo(const QuantizedCase& c, std::ostream* os) { *os << c.name; }

class DecodeAttentionOnCodes : public ::testing::TestWithParam<QuantizedCase> {};

TEST_P(DecodeAttentionOnCodes, EqualsTheF32KernelOnDequantizedRowsAndTheBound) {
  if (!cpu_features_detected().avx512f || !avx512_rows_supported()) GTEST_SKIP() << "no AVX-512 on this CPU";
  const QuantizedCase& qc = GetParam();
  const Case& c = qc.shape;
  const QuantizedProblem qp = make_quantized(qc, 5);
  std::vector<float> probs_f32(size_t(c.heads * c.total), -7.0f), out_f32(size_t(c.heads * c.d), -7.0f);
  DecodeAttentionGroup g = qp.dequantized.g;
  g.scores = probs_f32.data(), g.out = out_f32.data();
  decode_attention_avx512(g);
  std::vector<float> probs(probs_f32.size(), -9.0f), out(out_f32.size(), -9.0f);
  g.k = cached_codes(qc, qp.k_codes, qp.k_scales);
  g.v = cached_codes(qc, qp.v_codes, qp.v_scales);
  g.scores = probs.data(), g.out = out.data();
  decode_attention_avx512(g);
  for (size_t i = 0; i < probs.size(); ++i) ASSERT_EQ(probs[i], probs_f32[i]) << "probability " << i;
  for (size_t i = 0; i < out.size(); ++i) ASSERT_EQ(out[i], out_f32[i]) << "output " << i;
  std::vector<float> probs_ref(probs.size()), out_ref(out.size());
  reference_of(qp.dequantized, probs_ref, out_ref);
  expect_within_bound(qp.dequantized, probs_ref, out_ref, probs, out);
}

INSTANTIATE_TEST_SUITE_P(
    Codes, DecodeAttentionOnCodes,
    ::testing::Values(QuantizedCase{"int8_dynamic", DType::I8, true, Case{8, 64, 300, 64, true, 0, -1}},
                      QuantizedCase{"int8_static", DType::I8, false, Case{10, 32, 40, 32, false, 0, -1}},
                      QuantizedCase{"fp8_dynamic", DType::F8_E4M3, true, Case{8, 64, 300, 64, false, 0, -1}},
                      QuantizedCase{"fp8_static_window", DType::F8_E4M3, false, Case{5, 128, 77, 136, false, 20, 60}},
                      QuantizedCase{"fp8_one_key", DType::F8_E4M3, true, Case{3, 16, 1, 16, false, 0, -1}}),
    [](const ::testing::TestParamInfo<QuantizedCase>& info) { return std::string(info.param.name); });

// An F16 cache: the rows rounded to f16 (NaN-free, some subnormal, some at f16's largest finite value) are read
// as their exact f32 widening, so the kernel equals the f32 kernel on the widened rows bit for bit.
class DecodeAttentionOnHalves : public ::testing::TestWithParam<Case> {};

TEST_P(DecodeAttentionOnHalves, EqualsTheF32KernelOnWidenedRowsAndTheBound) {
  if (!cpu_features_detected().avx512f || !avx512_rows_supported()) GTEST_SKIP() << "no AVX-512 on this CPU";
  const Case& c = GetParam();
  Problem p = make_problem(c, 7);
  std::vector<uint16_t> k_half(p.k.size()), v_half(p.v.size());
  for (size_t i = 0; i < p.k.size(); ++i) {
    if (i % 97 == 5) p.k[i] = 3e-6f;  // an f16 subnormal
    if (i % 89 == 7) p.v[i] = -65504.0f;
    k_half[i] = float_to_f16(p.k[i]), v_half[i] = float_to_f16(p.v[i]);
    p.k[i] = f16_to_float(k_half[i]), p.v[i] = f16_to_float(v_half[i]);  // the rows the kernel must see
  }
  std::vector<float> probs_f32(size_t(c.heads * c.total), -7.0f), out_f32(size_t(c.heads * c.d), -7.0f);
  DecodeAttentionGroup g = p.g;
  g.scores = probs_f32.data(), g.out = out_f32.data();
  decode_attention_avx512(g);
  std::vector<float> probs(probs_f32.size(), -9.0f), out(out_f32.size(), -9.0f);
  g.k = CachedRows{k_half.data(), CachedElement::F16};
  g.v = CachedRows{v_half.data(), CachedElement::F16};
  g.scores = probs.data(), g.out = out.data();
  decode_attention_avx512(g);
  for (size_t i = 0; i < probs.size(); ++i) ASSERT_EQ(probs[i], probs_f32[i]) << "probability " << i;
  for (size_t i = 0; i < out.size(); ++i) ASSERT_EQ(out[i], out_f32[i]) << "output " << i;
  std::vector<float> probs_ref(probs.size()), out_ref(out.size());
  reference_of(p, probs_ref, out_ref);
  expect_within_bound(p, probs_ref, out_ref, probs, out);
}

INSTANTIATE_TEST_SUITE_P(Shapes, DecodeAttentionOnHalves,
                         ::testing::Values(Case{8, 64, 300, 64, true, 0, -1},     // eight heads, keys in pairs
                                           Case{8, 64, 301, 72, false, 5, 290},   // an odd last key, wide rows
                                           Case{5, 128, 77, 136, false, 20, 60},  // heads one by one, a window
                                           Case{3, 16, 1, 16, false, 0, -1}),     // one key
                         [](const ::testing::TestParamInfo<Case>& info) {
                           const Case& c = info.param;
                           std::ostringstream name;
                           name << "h" << c.heads << "_d" << c.d << "_n" << c.total << "_ld" << c.ld;
                           return name.str();
                         });

TEST(DecodeAttention, KeysAndValuesOfDifferentElementTypesAreRefused) {
  if (!cpu_features_detected().avx512f || !avx512_rows_supported()) GTEST_SKIP() << "no AVX-512 on this CPU";
  Problem p = make_problem(Case{2, 16, 4, 16, false, 0, -1}, 3);
  std::vector<float> probs(8), out(32);
  std::vector<uint8_t> codes(64);
  p.g.scores = probs.data(), p.g.out = out.data();
  p.g.v.data = codes.data(), p.g.v.element = CachedElement::I8;
  EXPECT_THROW(decode_attention_avx512(p.g), Error);
}

TEST(DecodeAttention, EveryKeyMaskedGivesZeros) {
  if (!cpu_features_detected().avx512f || !avx512_rows_supported()) GTEST_SKIP() << "no AVX-512 on this CPU";
  Problem p = make_problem(Case{2, 64, 10, 64, false, 5, 4}, 3);  // first > last: nothing visible
  std::vector<float> probs(20, -1.0f), out(128, -1.0f);
  p.g.scores = probs.data(), p.g.out = out.data();
  decode_attention_avx512(p.g);
  for (float v : probs) EXPECT_EQ(v, 0.0f);
  for (float v : out) EXPECT_EQ(v, 0.0f);
}

TEST(DecodeAttention, KernelOnlyForHeadSizesItTakes) {
  const bool avx512 = cpu_features().avx512f && avx512_rows_supported();
  EXPECT_EQ(decode_attention_kernel(64) != nullptr, avx512);
  EXPECT_EQ(decode_attention_kernel(256) != nullptr, avx512);
  EXPECT_EQ(decode_attention_kernel(72), nullptr);   // not a multiple of 16
  EXPECT_EQ(decode_attention_kernel(80) != nullptr, avx512);
  EXPECT_EQ(decode_attention_kernel(272), nullptr);  // more than 16 vectors
  EXPECT_EQ(decode_attention_kernel(0), nullptr);
}

}  // namespace
}  // namespace octet::kernels::decode_attention_test
