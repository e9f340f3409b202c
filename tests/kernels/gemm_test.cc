// GEMM: the reference against exact integer products, OpenBLAS (and whatever
// dispatch picks) against the reference with the f32 dot-product bound.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "kernel_test_util.h"
#include "octet/kernels.h"
#include "octet/thread_pool.h"

namespace octet::kernels {
namespace {

using testing::expect_within;
using testing::gamma_n;
using testing::kU;
using testing::random_tensor;

// Integer-valued matrices in [-8, 8]: products are at most 64, so for k below
// 2^18 every partial sum is an integer below 2^24 and any correct f32 GEMM is exact.
Tensor small_integers(Shape shape, uint32_t seed) {
  Tensor t = random_tensor(std::move(shape), seed, -8.0f, 8.0f);
  for (float& v : t.span<float>()) v = std::round(v);
  return t;
}

// Tolerance of C = alpha A op(B) + beta C0 + bias computed in f32. Each C
// element is a sum of k + 2 terms (k products scaled by alpha, beta C0, bias),
// with one more rounding for the alpha and beta products: by Higham's bound
//   |C^ - C| <= gamma_{k+3} (|alpha| sum_k |a||b| + |beta C0| + |bias|),
// plus u |C| for the reference's own final rounding.
std::vector<double> gemm_tolerance(const Tensor& a, const Tensor& b, bool trans_b, float alpha, float beta,
                                   const Tensor& c0, const Tensor& bias, const Tensor& ref) {
  const int64_t m = a.dim(0), k = a.dim(1), n = trans_b ? b.dim(0) : b.dim(1);
  std::vector<double> tol(static_cast<size_t>(m * n));
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double abs_sum = 0.0;
      for (int64_t t = 0; t < k; ++t)
        abs_sum += std::fabs(pa[i * k + t]) * std::fabs(trans_b ? pb[j * k + t] : pb[t * n + j]);
      double terms = std::fabs(alpha) * abs_sum;
      if (beta != 0.0f) terms += std::fabs(beta * c0.data<float>()[i * n + j]);
      if (bias.defined()) terms += std::fabs(bias.data<float>()[j]);
      tol[i * n + j] = gamma_n(k + 3) * terms + kU * std::fabs(ref.data<float>()[i * n + j]);
    }
  return tol;
}

struct GemmCase {
  testing::Variant variant;
  int64_t m, n, k;
};

std::vector<GemmCase> gemm_cases() {
  const int64_t shapes[][3] = {{1, 1, 1},  {1, 7, 3},    {5, 1, 9},     {7, 9, 13},   {16, 16, 16}, {17, 31, 33},
                               {64, 96, 48}, {128, 768, 64}, {33, 257, 255}, {3, 5, 1000}, {200, 3, 7},  {4, 6, 0}};
  std::vector<GemmCase> cases;
  for (const auto& v : testing::fast_variants())
    for (const auto& s : shapes) cases.push_back({v, s[0], s[1], s[2]});
  return cases;
}

std::string gemm_case_name(const ::testing::TestParamInfo<GemmCase>& info) {
  const auto& p = info.param;
  return std::string(p.variant.name) + "_" + std::to_string(p.m) + "x" + std::to_string(p.n) + "x" +
         std::to_string(p.k);
}

class GemmVsReference : public ::testing::TestWithParam<GemmCase> {};

TEST_P(GemmVsReference, AllTransposesScalingsAndBias) {
  const auto& p = GetParam();
  const Tensor a = random_tensor({p.m, p.k}, 21, -2.0f, 2.0f);
  const Tensor bias = random_tensor({p.n}, 22);
  const Tensor c0 = random_tensor({p.m, p.n}, 23);
  struct Setting {
    bool trans_b;
    float alpha, beta;
    bool with_bias;
  };
  for (const Setting s : {Setting{false, 1.0f, 0.0f, false}, Setting{true, 1.0f, 0.0f, false},
                          Setting{true, 0.5f, 0.0f, true}, Setting{false, -1.5f, 0.75f, true},
                          Setting{true, 2.0f, 1.0f, false}}) {
    const Tensor b = s.trans_b ? random_tensor({p.n, p.k}, 24) : random_tensor({p.k, p.n}, 24);
    const Tensor bias_used = s.with_bias ? bias : Tensor();
    const GemmParams params{s.trans_b, s.alpha, s.beta};
    Tensor expected = c0.clone(), actual = c0.clone();
    testing::with_reference([&] { gemm(a, b, expected, params, bias_used); });
    testing::with_variant(p.variant, [&] { gemm(a, b, actual, params, bias_used); });
    const auto tol = gemm_tolerance(a, b, s.trans_b, s.alpha, s.beta, c0, bias_used, expected);
    expect_within(actual, expected, [&](int64_t i) { return tol[i]; },
                  "gemm trans_b=" + std::to_string(s.trans_b) + " alpha=" + std::to_string(s.alpha) +
                      " beta=" + std::to_string(s.beta) + " bias=" + std::to_string(s.with_bias));
  }
}

TEST_P(GemmVsReference, IntegerMatricesAreExact) {
  const auto& p = GetParam();
  const Tensor a = small_integers({p.m, p.k}, 25);
  const Tensor b = small_integers({p.n, p.k}, 26);
  Tensor expected, actual;
  testing::with_reference([&] { gemm(a, b, expected, {.transpose_b = true}); });
  testing::with_variant(p.variant, [&] { gemm(a, b, actual, {.transpose_b = true}); });
  expect_within(actual, expected, [](int64_t) { return 0.0; }, "integer gemm");
}

INSTANTIATE_TEST_SUITE_P(Shapes, GemmVsReference, ::testing::ValuesIn(gemm_cases()), gemm_case_name);

TEST(GemmReference, KnownProduct) {
  // [1 2 3; 4 5 6] * [7 8; 9 10; 11 12] = [58 64; 139 154]
  const Tensor a = Tensor::from_floats(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3});
  const Tensor b = Tensor::from_floats(std::vector<float>{7, 8, 9, 10, 11, 12}, {3, 2});
  const Tensor bias = Tensor::from_floats(std::vector<float>{0.5f, -1}, {2});
  Tensor c = Tensor::full({2, 2}, 1.0f);
  testing::with_reference([&] { gemm(a, b, c, {.alpha = 2.0f, .beta = 3.0f}, bias); });
  const std::vector<float> expected = {2 * 58 + 3 + 0.5f, 2 * 64 + 3 - 1, 2 * 139 + 3 + 0.5f, 2 * 154 + 3 - 1};
  for (int i = 0; i < 4; ++i) EXPECT_EQ(c.data<float>()[i], expected[i]) << i;
}

TEST(GemmReference, LongIntegerSumsAreExact) {
  // sum_{t<k} (t % 7)(t % 5) computed independently.
  const int64_t k = 1001;
  Tensor a = Tensor::empty({1, k}, DType::F32), b = Tensor::empty({k, 1}, DType::F32);
  double expected = 0.0;
  for (int64_t t = 0; t < k; ++t) {
    a.data<float>()[t] = static_cast<float>(t % 7);
    b.data<float>()[t] = static_cast<float>(t % 5);
    expected += static_cast<double>(t % 7) * (t % 5);
  }
  for (const auto& v : testing::fast_variants()) {
    Tensor c;
    testing::with_variant(v, [&] { gemm(a, b, c); });
    EXPECT_EQ(c.data<float>()[0], expected) << v.name;
  }
}

TEST(GemmBatched, MatchesPerItemGemmIncludingSharedB) {
  const int64_t batch = 5, m = 9, n = 11, k = 13;
  const Tensor a = random_tensor({batch, m, k}, 31);
  for (bool shared : {false, true}) {
    for (bool trans : {false, true}) {
      const int64_t bb = shared ? 1 : batch;
      const Tensor b = trans ? random_tensor({bb, n, k}, 32) : random_tensor({bb, k, n}, 32);
      for (const auto& v : testing::fast_variants()) {
        Tensor c;
        testing::with_variant(v, [&] { gemm_batched(a, b, c, {.transpose_b = trans, .alpha = 0.25f}); });
        for (int64_t i = 0; i < batch; ++i) {
          Tensor expected;
          const Tensor ai = a.select(i).contiguous(), bi = b.select(shared ? 0 : i).contiguous();
          testing::with_reference([&] { gemm(ai, bi, expected, {.transpose_b = trans, .alpha = 0.25f}); });
          const auto tol = gemm_tolerance(ai, bi, trans, 0.25f, 0.0f, Tensor(), Tensor(), expected);
          expect_within(c.select(i).contiguous(), expected, [&](int64_t e) { return tol[e]; },
                        std::string(v.name) + " batch item " + std::to_string(i));
        }
      }
    }
  }
}

TEST(GemmBatched, ManySmallProblemsSpreadOverThePool) {
  // 64 GEMMs of 16x16x16 (below OpenBLAS's own threading threshold) take the
  // pool path; results must not depend on it.
  set_num_threads(2);
  const Tensor a = random_tensor({64, 16, 16}, 33), b = random_tensor({64, 16, 16}, 34);
  Tensor fast, ref;
  testing::with_variant(testing::fast_variants()[0], [&] { gemm_batched(a, b, fast); });
  testing::with_reference([&] { gemm_batched(a, b, ref); });
  expect_within(fast, ref, [&](int64_t) { return gamma_n(16 + 3) * 16 * 1.0 + 1e-30; }, "batched small");
  set_num_threads(0);
}

TEST(GemmBatched, RowBlocksWithRaggedLastBlockAndBias) {
  // n * k = 4096: OpenBLAS stays single-threaded for 64-row blocks, so these
  // are cut into 64-row tasks (the last one shorter) over the pool.
  set_num_threads(2);
  const Tensor a = random_tensor({3, 300, 64}, 35), b = random_tensor({3, 64, 64}, 36);
  Tensor fast, ref;
  testing::with_variant(testing::fast_variants()[0], [&] { gemm_batched(a, b, fast, {.transpose_b = true}); });
  testing::with_reference([&] { gemm_batched(a, b, ref, {.transpose_b = true}); });
  expect_within(fast, ref, [&](int64_t) { return gamma_n(64 + 3) * 64; }, "row blocks");
  // A single tall GEMM with bias takes the same path.
  const Tensor x = random_tensor({1000, 64}, 37), w = random_tensor({64, 64}, 38), bias = random_tensor({64}, 39);
  Tensor y_fast, y_ref;
  testing::with_variant(testing::fast_variants()[0], [&] { linear(x, w, bias, y_fast); });
  testing::with_reference([&] { linear(x, w, bias, y_ref); });
  const auto tol = gemm_tolerance(x, w, true, 1.0f, 0.0f, Tensor(), bias, y_ref);
  expect_within(y_fast, y_ref, [&](int64_t i) { return tol[i]; }, "tall linear");
  set_num_threads(0);
}

TEST(Linear, MatchesGemmWithTransposedWeightOnRank3Input) {
  const Tensor x = random_tensor({2, 3, 10}, 41), w = random_tensor({7, 10}, 42), bias = random_tensor({7}, 43);
  const Tensor y = linear(x, w, bias);
  ASSERT_EQ(y.shape(), (Shape{2, 3, 7}));
  Tensor expected;
  testing::with_reference([&] { gemm(x.reshape({6, 10}), w, expected, {.transpose_b = true}, bias); });
  const auto tol = gemm_tolerance(x.reshape({6, 10}), w, true, 1.0f, 0.0f, Tensor(), bias, expected);
  expect_within(y.reshape({6, 7}), expected, [&](int64_t i) { return tol[i]; }, "linear");
}

TEST(GemmErrors, ShapesDtypesAndAliasing) {
  const Tensor a = random_tensor({4, 5}, 1), b = random_tensor({6, 7}, 2);
  Tensor c;
  try {
    gemm(a, b, c);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.tag(), "gemm");
    EXPECT_NE(std::string(e.what()).find("inner dimensions differ"), std::string::npos) << e.what();
  }
  const Tensor bt = random_tensor({3, 5}, 3);
  EXPECT_THROW(gemm(a, bt, c, {.transpose_b = true}, random_tensor({4}, 4)), Error);  // bias must have N = 3
  Tensor wrong = Tensor::zeros({4, 4}, DType::F32);
  EXPECT_THROW(gemm(a, bt, wrong, {.transpose_b = true}), Error);  // C must be [4, 3]
  Tensor undefined;
  EXPECT_THROW(gemm(a, bt, undefined, {.transpose_b = true, .beta = 1.0f}), Error);  // beta reads C
  EXPECT_THROW(gemm(a.to(DType::F16), bt, c, {.transpose_b = true}), Error);
  Tensor aliased = a.clone();
  Tensor sq = random_tensor({5, 5}, 5);
  Tensor out_view = aliased;  // C overlapping A
  EXPECT_THROW(gemm(aliased, sq, out_view), Error);
  EXPECT_THROW(linear(random_tensor({2, 9}, 6), random_tensor({3, 10}, 7)), Error);
  EXPECT_THROW(gemm_batched(random_tensor({2, 3, 4}, 8), random_tensor({3, 4, 5}, 9), c), Error);  // batch 3 vs 2
}

}  // namespace
}  // namespace octet::kernels
