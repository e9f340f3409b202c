// Weight-only kernels (kernels/wo_gemv.h): the reference against an
// independent computation from the raw codes, every SIMD variant against the
// reference bit for bit (decode row counts and prefill ones, with tail rows
// and partial tiles), and the panel dequantization against quant.h's dequantize.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/wo_gemv.h"
#include "octet/error.h"
#include "octet/number_formats.h"

namespace octet::kernels::wo_gemv_test {
namespace {

// Uint4Min: the k-quant scale-min form (GGUF Q4_K), value scale * u - min.
enum class Fmt { Int4Sym, Uint4Affine, Uint4Min, Int8 };

struct Case {
  Fmt fmt;
  int64_t n, k, group, m;
  bool bias;
};

std::string fmt_name(Fmt f) {
  return f == Fmt::Int4Sym ? "int4" : f == Fmt::Uint4Affine ? "uint4" : f == Fmt::Uint4Min ? "uint4min" : "int8";
}

struct Problem {
  std::vector<int8_t> q;
  std::vector<float> scales, mins;  // per group (Uint4Min: fl(d * sc), fl(dmin * m))
  std::vector<uint8_t> sc, mc;       // Uint4Min: 6-bit scale and min codes per group
  std::vector<float> d, dmin;        // Uint4Min: per 256 inputs
  std::vector<int32_t> zps;
  std::vector<float> x, bias;
  PackedWoWeights packed;
};

Problem make_problem(const Case& c, uint32_t seed) {
  std::mt19937 rng(seed);
  Problem p;
  const int64_t groups = c.k / c.group;
  const bool unsigned4 = c.fmt == Fmt::Uint4Affine || c.fmt == Fmt::Uint4Min;
  const int lo = c.fmt == Fmt::Int8 ? -128 : unsigned4 ? 0 : -8;
  const int hi = c.fmt == Fmt::Int8 ? 127 : unsigned4 ? 15 : 7;
  std::uniform_int_distribution<int> code(lo, hi), zp(0, 15);
  std::uniform_real_distribution<float> sc(0.001f, 0.05f), xv(-3.0f, 3.0f);
  p.q.resize(size_t(c.n * c.k));
  for (auto& v : p.q) v = static_cast<int8_t>(code(rng));
  p.scales.resize(size_t(c.n * groups));
  for (auto& v : p.scales) v = sc(rng);
  if (c.fmt == Fmt::Uint4Affine) {
    p.zps.resize(p.scales.size());
    for (auto& v : p.zps) v = zp(rng);
  }
  if (c.fmt == Fmt::Uint4Min) {
    std::uniform_int_distribution<int> six(0, 63);
    const int64_t supers = c.k / 256;
    p.d.resize(size_t(c.n * supers));
    p.dmin.resize(p.d.size());
    for (auto& v : p.d) v = sc(rng) / 16.0f;
    for (auto& v : p.dmin) v = sc(rng) / 8.0f;
    p.sc.resize(p.scales.size());
    p.mc.resize(p.scales.size());
    p.mins.resize(p.scales.size());
    for (size_t i = 0; i < p.sc.size(); ++i) {
      p.sc[i] = static_cast<uint8_t>(i < 2 ? 63 * i : six(rng));  // 0 and 63 included
      p.mc[i] = static_cast<uint8_t>(six(rng));
      const size_t s = i / size_t(groups) * size_t(supers) + (i % size_t(groups)) * 32 / 256;
      p.scales[i] = p.d[s] * float(p.sc[i]);
      p.mins[i] = p.dmin[s] * float(p.mc[i]);
    }
  }
  p.x.resize(size_t(c.m * c.k));
  for (auto& v : p.x) v = xv(rng);
  if (c.m > 0 && c.k >= 64) {  // an all-zero block, an outlier, a NaN-free extreme block
    for (int64_t j = 0; j < 32; ++j) p.x[size_t(j)] = 0.0f;
    p.x[size_t(40)] = 100.0f;
  }
  if (c.bias) {
    p.bias.resize(size_t(c.n));
    for (auto& v : p.bias) v = xv(rng);
  }
  if (c.fmt == Fmt::Uint4Min) {
    const std::vector<uint8_t> u(p.q.begin(), p.q.end());
    p.packed = pack_wo_weights_scale_min(u.data(), c.n, c.k, p.sc.data(), p.mc.data(), p.d.data(), p.dmin.data());
    return p;
  }
  p.packed = pack_wo_weights(p.q.data(), c.n, c.k, c.group, c.fmt == Fmt::Int8 ? 8 : 4, c.fmt == Fmt::Uint4Affine,
                             p.scales.data(), p.zps.empty() ? nullptr : p.zps.data());
  return p;
}

// The definition of wo_gemv.h computed from the raw codes (no packed layout).
std::vector<float> naive(const Case& c, const Problem& p) {
  const int64_t blocks = c.k / 32, groups = c.k / c.group;
  std::vector<int8_t> a(size_t(c.m * c.k));
  std::vector<float> as(size_t(c.m * blocks));
  std::vector<int32_t> sums(as.size());
  quantize_q8_blocks(p.x.data(), c.m, c.k, a.data(), as.data(), sums.data());
  const int64_t sub = std::min<int64_t>(c.group, 32);  // inputs per integer dot
  // The grouped form (groups of 64 or more): the offset once per group in f32, dots of the stored u = q + o.
  const bool grouped = c.fmt != Fmt::Uint4Min && c.group >= 64;
  const int32_t sym_offset = c.fmt == Fmt::Int8 ? 128 : c.fmt == Fmt::Int4Sym ? 8 : 0;
  std::vector<float> y(size_t(c.m * c.n));
  for (int64_t i = 0; i < c.m; ++i)
    for (int64_t n = 0; n < c.n; ++n) {
      float acc = 0.0f;
      for (int64_t g = 0; grouped && g < groups; ++g) {
        const int32_t o = p.zps.empty() ? sym_offset : p.zps[size_t(n * groups + g)];
        float csum = 0.0f;
        for (int64_t b = g * c.group / 32; b < (g + 1) * c.group / 32; ++b) {
          int32_t sum = 0;
          for (int64_t j = b * 32; j < (b + 1) * 32; ++j) sum += a[size_t(i * c.k + j)];
          csum = std::fma(as[size_t(i * blocks + b)], float(sum), csum);
        }
        float gacc = float(o) * -csum;
        for (int64_t b = g * c.group / 32; b < (g + 1) * c.group / 32; ++b) {
          int32_t dot = 0;
          for (int64_t j = b * 32; j < (b + 1) * 32; ++j)
            dot += (int32_t(p.q[size_t(n * c.k + j)]) + sym_offset) * int32_t(a[size_t(i * c.k + j)]);
          gacc = std::fma(as[size_t(i * blocks + b)], float(dot), gacc);
        }
        acc = std::fma(p.scales[size_t(n * groups + g)], gacc, acc);
      }
      for (int64_t s0 = 0; !grouped && s0 < c.k; s0 += sub) {
        const int64_t g = s0 / c.group, b = s0 / 32;
        const int32_t zp = p.zps.empty() ? 0 : p.zps[size_t(n * groups + g)];
        int32_t dot = 0, sum = 0;
        for (int64_t j = s0; j < s0 + sub; ++j) {
          dot += (int32_t(p.q[size_t(n * c.k + j)]) - zp) * int32_t(a[size_t(i * c.k + j)]);
          sum += a[size_t(i * c.k + j)];
        }
        const float a_scale = as[size_t(i * blocks + b)];
        acc = std::fma(p.scales[size_t(n * groups + g)] * a_scale, float(dot), acc);
        if (c.fmt == Fmt::Uint4Min) acc = std::fma(p.mins[size_t(n * groups + g)], -(a_scale * float(sum)), acc);
      }
      y[size_t(i * c.n + n)] = c.bias ? acc + p.bias[size_t(n)] : acc;
    }
  return y;
}

std::vector<float> run(const Case& c, const Problem& p, WoIsa isa) {
  std::vector<float> y(size_t(c.m * c.n), -7.0f);
  wo_gemv(p.packed, p.x.data(), c.m, c.bias ? p.bias.data() : nullptr, y.data(), isa);
  return y;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

class WoGemv : public ::testing::TestWithParam<Case> {};

TEST_P(WoGemv, ReferenceMatchesTheDefinition) {
  const Case c = GetParam();
  const Problem p = make_problem(c, 11);
  EXPECT_TRUE(same_bits(run(c, p, WoIsa::Reference), naive(c, p)));
}

TEST_P(WoGemv, Avx2EqualsReferenceExactly) {
  if (!wo_isa_supported(WoIsa::Avx2)) GTEST_SKIP() << "no AVX2";
  const Case c = GetParam();
  const Problem p = make_problem(c, 12);
  EXPECT_TRUE(same_bits(run(c, p, WoIsa::Avx2), run(c, p, WoIsa::Reference)));
}

TEST_P(WoGemv, Avx512VnniEqualsReferenceExactly) {
  if (!wo_isa_supported(WoIsa::Avx512)) GTEST_SKIP() << "no AVX-512 VNNI";
  const Case c = GetParam();
  const Problem p = make_problem(c, 13);
  EXPECT_TRUE(same_bits(run(c, p, WoIsa::Avx512), run(c, p, WoIsa::Reference)));
}

TEST_P(WoGemv, PanelDequantizationIsFloatOfCodeMinusZeroTimesScale) {
  const Case c = GetParam();
  const Problem p = make_problem(c, 14);
  const int64_t n0 = c.n / 3, n1 = c.n;
  std::vector<float> out(size_t((n1 - n0) * c.k));
  dequantize_wo_panel(p.packed, n0, n1, out.data());
  const int64_t groups = c.k / c.group;
  for (int64_t n = n0; n < n1; ++n)
    for (int64_t k = 0; k < c.k; ++k) {
      const int64_t g = k / c.group;
      const int32_t zp = p.zps.empty() ? 0 : p.zps[size_t(n * groups + g)];
      const float s = p.scales[size_t(n * groups + g)];
      const float want = c.fmt == Fmt::Uint4Min ? float(p.q[size_t(n * c.k + k)]) * s - p.mins[size_t(n * groups + g)]
                                                 : float(int32_t(p.q[size_t(n * c.k + k)]) - zp) * s;
      ASSERT_EQ(out[size_t((n - n0) * c.k + k)], want) << "n " << n << " k " << k;
    }
}

std::vector<Case> cases() {
  std::vector<Case> v;
  for (int64_t m : {1, 3, 8, 11, 16, 37}) {  // the scale-min form: group 32, k a multiple of 256
    v.push_back({Fmt::Uint4Min, 37, 256, 32, m, m % 2 == 1});
    v.push_back({Fmt::Uint4Min, 64, 768, 32, m, true});
    if (m >= 16) v.push_back({Fmt::Uint4Min, 200, 512, 32, m, true});
  }
  for (Fmt f : {Fmt::Int4Sym, Fmt::Uint4Affine, Fmt::Int8})
    for (int64_t m : {1, 3, 8, 11, 16, 37}) {  // 37: 4 row blocks of 8 (or 9 of 4) and a tail
      v.push_back({f, 37, 256, f == Fmt::Int8 ? 256 : 32, m, m % 2 == 1});
      v.push_back({f, 64, 384, f == Fmt::Int8 ? 384 : 128, m, true});
      v.push_back({f, 8, 128, 64, m, false});
      if (m >= 16) v.push_back({f, 200, 256, 64, m, true});  // several tile groups, the last tile half padded
      if (f == Fmt::Int8) v.push_back({f, 40, 256, 16, m, m % 2 == 0});  // group 16 (GGUF Q6_K)
    }
  return v;
}

INSTANTIATE_TEST_SUITE_P(Formats, WoGemv, ::testing::ValuesIn(cases()), [](const auto& info) {
  const Case& c = info.param;
  return fmt_name(c.fmt) + "_n" + std::to_string(c.n) + "_k" + std::to_string(c.k) + "_g" + std::to_string(c.group) +
         "_m" + std::to_string(c.m) + (c.bias ? "_bias" : "");
});

// Several weights sharing one input run as one job (a decode step's q, k, v): every output equals its own
// wo_gemv bit for bit, with formats that need different code sums (group 16) and tiles that end mid-job.
TEST(WoGemvShared, EachOutputEqualsItsOwnProductBitForBit) {
  for (WoIsa isa : {WoIsa::Reference, WoIsa::Avx2, WoIsa::Avx512}) {
    if (!wo_isa_supported(isa)) continue;
    for (int64_t m : {1, 5, 8, 20}) {
      // Outputs of one format share the terms wo_gemv_shared prepares (products 1 and 4; 5 and 6 are both
      // grouped, but groups of 128 and 64 take different start values).
      const std::vector<Case> products = {
          {Fmt::Uint4Min, 37, 512, 32, m, true}, {Fmt::Int4Sym, 64, 512, 32, m, false},
          {Fmt::Int8, 40, 512, 16, m, true},     {Fmt::Uint4Affine, 200, 512, 128, m, true},
          {Fmt::Int4Sym, 48, 512, 32, m, true},  {Fmt::Int4Sym, 24, 512, 128, m, false},
          {Fmt::Int4Sym, 16, 512, 64, m, false}, {Fmt::Int8, 32, 512, 512, m, false}};
      std::vector<Problem> problems;
      for (size_t i = 0; i < products.size(); ++i) {
        problems.push_back(make_problem(products[i], uint32_t(20 + i)));
        problems.back().x = problems.front().x;
      }
      std::vector<std::vector<float>> got;
      std::vector<WoGemvOutput> outputs;
      for (size_t i = 0; i < products.size(); ++i) got.emplace_back(size_t(m * products[i].n), -7.0f);
      for (size_t i = 0; i < products.size(); ++i)
        outputs.push_back({&problems[i].packed, products[i].bias ? problems[i].bias.data() : nullptr, got[i].data()});
      wo_gemv_shared(outputs, problems.front().x.data(), m, isa);
      for (size_t i = 0; i < products.size(); ++i)
        EXPECT_TRUE(same_bits(got[i], run(products[i], problems[i], isa)))
            << "isa " << int(isa) << " m " << m << " product " << i << " (" << fmt_name(products[i].fmt) << ")";
    }
  }
}

// A variant called without prepared terms makes its own (per call), with the same result bit for bit; and
// weights of different formats never count as sharing terms.
TEST(WoGemv, VariantsMakeTheirOwnTermsWhenGivenNone) {
  for (WoIsa isa : {WoIsa::Avx2, WoIsa::Avx512}) {
    if (!wo_isa_supported(isa)) continue;
    for (const Case& c : {Case{Fmt::Int4Sym, 48, 256, 32, 9, true}, Case{Fmt::Uint4Affine, 40, 256, 32, 8, false},
                          Case{Fmt::Int8, 33, 256, 32, 3, true}, Case{Fmt::Int4Sym, 40, 256, 128, 8, false}}) {
      const Problem p = make_problem(c, 31);
      const int64_t blocks = c.k / 32;
      std::vector<int8_t> a(size_t(c.m * c.k));
      std::vector<float> as(size_t(c.m * blocks));
      std::vector<int32_t> sums(as.size());
      quantize_q8_blocks(p.x.data(), c.m, c.k, a.data(), as.data(), sums.data());
      WoTerms terms;
      prepare_wo_terms(p.packed, as.data(), sums.data(), c.m, terms);
      EXPECT_TRUE(terms.scales.empty() == (c.group > 32) && terms.group_bases.empty() == (c.group == 32));
      std::vector<float> with(size_t(c.m * c.n), -7.0f), without(with.size(), -9.0f);
      const float* bias = c.bias ? p.bias.data() : nullptr;
      const WoGemvFn fn = wo_gemv_variant(isa);
      fn(p.packed, a.data(), as.data(), sums.data(), c.m, &terms, bias, with.data(), c.n, 0, p.packed.tiles());
      fn(p.packed, a.data(), as.data(), sums.data(), c.m, nullptr, bias, without.data(), c.n, 0, p.packed.tiles());
      EXPECT_TRUE(same_bits(with, without)) << fmt_name(c.fmt) << " isa " << int(isa);
      EXPECT_TRUE(same_bits(with, run(c, p, WoIsa::Reference))) << fmt_name(c.fmt) << " isa " << int(isa);
    }
  }
  const Problem sym = make_problem({Fmt::Int4Sym, 16, 256, 32, 1, false}, 1);
  const Problem affine = make_problem({Fmt::Uint4Affine, 16, 256, 32, 1, false}, 1);
  const Problem int8 = make_problem({Fmt::Int8, 16, 256, 32, 1, false}, 1);
  const Problem g128 = make_problem({Fmt::Int4Sym, 16, 256, 128, 1, false}, 1);
  const Problem g64 = make_problem({Fmt::Int4Sym, 16, 256, 64, 1, false}, 1);
  EXPECT_TRUE(same_wo_terms(sym.packed, make_problem({Fmt::Int4Sym, 32, 256, 32, 1, true}, 2).packed));
  for (const Problem* other : {&affine, &int8, &g128}) EXPECT_FALSE(same_wo_terms(sym.packed, other->packed));
  EXPECT_FALSE(same_wo_terms(g128.packed, g64.packed));
}

// The grouped form subtracts the offset in f32 from a sum of unsigned dots (kernels/wo_gemv.h). Against the
// exact value of the same codes and scales (double), each output stays within gamma_n * T, n the roundings
// on a path (2 * blocks + groups + 2) and T = sum over groups and blocks of |w_scale| a_scale (|dot(u, a)| +
// o |sum(a)|), the terms' magnitudes. Activations all positive make sum(a) large, so the unsigned dots and
// the offset term nearly cancel: the case where this form rounds worst.
TEST(WoGemv, GroupedFormStaysWithinItsRoundingBound) {
  for (const Case& c : {Case{Fmt::Int4Sym, 48, 2048, 128, 3, false}, Case{Fmt::Uint4Affine, 32, 1024, 64, 2, false},
                        Case{Fmt::Int8, 32, 2048, 2048, 2, false}}) {
    Problem p = make_problem(c, 31);
    for (auto& v : p.x) v = std::fabs(v) + 0.5f;
    const std::vector<float> y = run(c, p, WoIsa::Reference);
    const int64_t blocks = c.k / 32, groups = c.k / c.group;
    std::vector<int8_t> a(size_t(c.m * c.k));
    std::vector<float> as(size_t(c.m * blocks));
    std::vector<int32_t> sums(as.size());
    quantize_q8_blocks(p.x.data(), c.m, c.k, a.data(), as.data(), sums.data());
    const int32_t sym_offset = c.fmt == Fmt::Int8 ? 128 : c.fmt == Fmt::Int4Sym ? 8 : 0;
    const double u = std::ldexp(1.0, -24), roundings = double(2 * blocks + groups + 2);
    const double gamma = roundings * u / (1.0 - roundings * u);
    double worst = 0.0;
    for (int64_t i = 0; i < c.m; ++i)
      for (int64_t n = 0; n < c.n; ++n) {
        double exact = 0.0, terms = 0.0;
        for (int64_t b = 0; b < blocks; ++b) {
          const int64_t g = b * 32 / c.group;
          const int32_t o = p.zps.empty() ? sym_offset : p.zps[size_t(n * groups + g)];
          int64_t dot_u = 0, sum = 0;
          for (int64_t j = b * 32; j < (b + 1) * 32; ++j) {
            dot_u += (int64_t(p.q[size_t(n * c.k + j)]) + sym_offset) * a[size_t(i * c.k + j)];
            sum += a[size_t(i * c.k + j)];
          }
          const double ws = p.scales[size_t(n * groups + g)], asc = as[size_t(i * blocks + b)];
          exact += ws * asc * double(dot_u - int64_t(o) * sum);
          terms += std::fabs(ws) * asc * (std::fabs(double(dot_u)) + double(o) * std::fabs(double(sum)));
        }
        const double err = std::fabs(double(y[size_t(i * c.n + n)]) - exact);
        ASSERT_LE(err, gamma * terms) << fmt_name(c.fmt) << " row " << i << " output " << n;
        worst = std::max(worst, err / terms);
      }
    // The bound is not vacuous: the cancellation does cost roundings (a sum of order 32 * 127 per block).
    EXPECT_GT(worst, 0.0) << fmt_name(c.fmt);
  }
}

TEST(WoGemvShared, RefusesWeightsOfAnotherInputSize) {
  const Problem a = make_problem({Fmt::Int4Sym, 16, 256, 32, 1, false}, 1);
  const Problem b = make_problem({Fmt::Int4Sym, 16, 512, 32, 1, false}, 2);
  std::vector<float> ya(16), yb(16);
  const std::vector<WoGemvOutput> outputs = {{&a.packed, nullptr, ya.data()}, {&b.packed, nullptr, yb.data()}};
  EXPECT_THROW(wo_gemv_shared(outputs, a.x.data(), 1, WoIsa::Reference), Error);
  EXPECT_THROW(wo_gemv_shared({}, a.x.data(), 1, WoIsa::Reference), Error);
}

TEST(WoGemvQuantize, BlocksFollowAmaxOver127AndRoundHalfEven) {
  std::vector<float> x(64, 0.0f);
  x[0] = 127.0f;  // scale 1 for block 0
  x[1] = 2.5f;    // ties go to even
  x[2] = -3.5f;
  x[3] = std::nanf("");
  std::vector<int8_t> codes(64);
  std::vector<float> scales(2);
  std::vector<int32_t> sums(2);
  quantize_q8_blocks(x.data(), 1, 64, codes.data(), scales.data(), sums.data());
  EXPECT_EQ(scales[0], 1.0f);
  EXPECT_EQ(codes[1], 2);
  EXPECT_EQ(codes[2], -4);
  EXPECT_EQ(codes[3], 0);
  EXPECT_EQ(sums[0], 127 + 2 - 4);
  EXPECT_EQ(scales[1], 0.0f);  // all-zero block
  EXPECT_EQ(sums[1], 0);
}

// Every SIMD quantizer gives the scalar codes, scales and sums, including for
// NaN, infinities, all-zero blocks, denormal-only blocks and exact ties.
TEST(WoGemvQuantize, SimdVariantsEqualTheScalarQuantizer) {
  const int64_t m = 5, k = 256;
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> xv(-4.0f, 4.0f);
  std::vector<float> x(size_t(m * k));
  for (auto& v : x) v = xv(rng);
  for (int64_t j = 0; j < 32; ++j) x[size_t(32 + j)] = 0.0f;                  // row 0, block 1: zeros
  for (int64_t j = 0; j < 32; ++j) x[size_t(64 + j)] = 1e-42f * float(j % 5);  // denormals: 1 / scale overflows
  x[size_t(100)] = std::nanf("");
  x[size_t(k + 7)] = INFINITY;
  x[size_t(k + 40)] = -INFINITY;
  x[size_t(2 * k + 3)] = std::nanf("");
  x[size_t(2 * k + 4)] = INFINITY;
  for (int64_t j = 0; j < 32; ++j) x[size_t(3 * k + j)] = float(j) - 15.5f;  // amax 15.5: many exact halves
  for (int64_t j = 0; j < 32; ++j) x[size_t(3 * k + 32 + j)] = std::nanf("");  // an all-NaN block
  auto quantized = [&](WoQuantizeFn fn) {
    std::vector<int8_t> codes(x.size());
    std::vector<float> scales(size_t(m * k / 32));
    std::vector<int32_t> sums(scales.size());
    fn(x.data(), m, k, codes.data(), scales.data(), sums.data());
    return std::make_tuple(codes, scales, sums);
  };
  const auto want = quantized(&quantize_q8_blocks);
  for (WoIsa isa : {WoIsa::Avx2, WoIsa::Avx512}) {
    if (!wo_isa_supported(isa)) continue;
    const auto got = quantized(wo_quantize_variant(isa));
    EXPECT_EQ(std::get<0>(got), std::get<0>(want)) << int(isa);
    EXPECT_TRUE(same_bits(std::get<1>(got), std::get<1>(want))) << int(isa);
    EXPECT_EQ(std::get<2>(got), std::get<2>(want)) << int(isa);
  }
}

TEST(WoGemvPack, RejectsCodesOutsideTheFormat) {
  std::vector<int8_t> q(32 * 8, 9);  // 9 is not an int4
  std::vector<float> s(8, 1.0f);
  EXPECT_THROW(pack_wo_weights(q.data(), 8, 32, 32, 4, false, s.data(), nullptr), Error);
  EXPECT_THROW(pack_wo_weights(q.data(), 8, 32, 16, 4, false, s.data(), nullptr), Error);  // group not a multiple of 32
}

// What a decode step reads is codes + scales: the symmetric formats keep no per-group offsets (they used to be
// stored as an i32 per output and group, a quarter more bytes per token for int4 group 32).
TEST(WoGemvPack, SymmetricFormatsStoreNoOffsets) {
  const int64_t n = 40, k = 256, group = 32;
  std::vector<int8_t> q(size_t(n * k), 3);
  std::vector<float> s(size_t(n * (k / group)), 0.5f);
  std::vector<int32_t> zp(s.size(), 7);
  for (int bits : {4, 8}) {
    const PackedWoWeights w = pack_wo_weights(q.data(), n, k, group, bits, false, s.data(), nullptr);
    EXPECT_FALSE(w.offsets.defined()) << bits;
    EXPECT_EQ(w.bytes(), w.codes.nbytes() + w.scales.nbytes()) << bits;
    EXPECT_EQ(w.codes.nbytes(), size_t(w.tiles() * k * bits / 8 * kWoTile)) << bits;
  }
  const PackedWoWeights affine = pack_wo_weights(q.data(), n, k, group, 4, true, s.data(), zp.data());
  ASSERT_TRUE(affine.offsets.defined());
  EXPECT_EQ(affine.offsets.nbytes(), affine.scales.nbytes());
}

}  // namespace
}  // namespace octet::kernels::wo_gemv_test
