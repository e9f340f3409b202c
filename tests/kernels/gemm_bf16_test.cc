// The BF16 GEMM (octet/gemm_bf16.h): packing against the documented layout,
// the AVX-512 BF16 kernel against the scalar reference, and what the
// conversion costs against the f32 product.
//
// Kernel vs reference: both sum the same exact f32 products p_t =
// bf16(x_t) bf16(w_t) (a product of two 8-bit significands fits in f32's
// 24). The kernel adds them with one rounding per product plus, per slice of
// 384 k, one for adding the slice to C (the first slice adds the bias), so
//   |y^ - y| <= gamma_{k + 1 + k/384 + 1} (sum_t |p_t| + |bias|) + u |y|,
// the last term for the reference's own rounding to f32. Denormal products
// (vdpbf16ps flushes them) cannot occur with these inputs.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernel_test_util.h"
#include "octet/error.h"
#include "octet/gemm_bf16.h"
#include "octet/number_formats.h"
#include "octet/thread_pool.h"

namespace octet {
namespace {

using kernels::testing::gamma_n;
using kernels::testing::kU;
using kernels::testing::random_values;

float bf16(float v) { return bf16_to_float(float_to_bf16(v)); }

// x [m, ldx] and W [n, k] with a bias, output buffers with sentinels in the padding.
struct Problem {
  int64_t m, n, k, ldx, ldy;
  std::vector<float> x, w, bias;
  PackedBf16Weights packed;

  Problem(int64_t m_, int64_t n_, int64_t k_, uint32_t seed, bool integers = false)
      : m(m_), n(n_), k(k_), ldx(k_ + 3), ldy(n_ + 5) {
    const float range = integers ? 16.0f : 2.0f;
    x = random_values(m * ldx, seed, -range, range, integers);
    w = random_values(n * k, seed + 1, -range, range, integers);
    bias = random_values(n, seed + 2, -range, range, integers);
    packed = pack_bf16_weights(w.data(), n, k);
  }
  std::vector<float> output() const { return std::vector<float>(static_cast<size_t>(m * ldy), -7.25f); }

  double abs_products(int64_t r, int64_t j) const {
    double sum = 0.0;
    for (int64_t t = 0; t < k; ++t) sum += std::fabs(static_cast<double>(bf16(x[r * ldx + t])) * bf16(w[j * k + t]));
    return sum;
  }
};

class GemmBf16 : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!bf16_gemm_supported()) GTEST_SKIP() << "this CPU lacks AVX-512 BF16 (or OCTET_ISA caps it)";
  }

  // Runs the kernel and the reference; every output within the bound, the padding untouched.
  static void expect_matches_reference(const Problem& p, bool with_bias, const std::string& what) {
    const float* bias = with_bias ? p.bias.data() : nullptr;
    std::vector<float> got = p.output(), ref = p.output();
    gemm_bf16(p.x.data(), p.m, p.ldx, p.packed, bias, got.data(), p.ldy);
    gemm_bf16_ref(p.x.data(), p.m, p.ldx, p.packed, bias, ref.data(), p.ldy);
    const double roundings = static_cast<double>(p.k) + 2 + std::ceil(static_cast<double>(p.k) / 384.0);
    int failures = 0;
    for (int64_t r = 0; r < p.m; ++r)
      for (int64_t j = 0; j < p.ldy; ++j) {
        const size_t e = static_cast<size_t>(r * p.ldy + j);
        if (j >= p.n) {
          if (got[e] != -7.25f && failures++ < 3) ADD_FAILURE() << what << ": padding written at " << r << "," << j;
          continue;
        }
        const double terms = p.abs_products(r, j) + (bias ? std::fabs(bias[j]) : 0.0);
        const double tol = gamma_n(roundings) * terms + kU * std::fabs(ref[e]);
        if (!(std::fabs(static_cast<double>(got[e]) - ref[e]) <= tol) && failures++ < 3)
          ADD_FAILURE() << what << ": [" << r << "," << j << "] = " << got[e] << ", reference " << ref[e]
                        << ", bound " << tol;
      }
    EXPECT_EQ(failures, 0) << what;
  }
};

TEST(GemmBf16Pack, LayoutHoldsRoundedWeightsAndZeroPadding) {
  const int64_t n = 37, k = 9;
  const std::vector<float> w = random_values(n * k, 5, -3.0f, 3.0f);
  const PackedBf16Weights p = pack_bf16_weights(w.data(), n, k);
  ASSERT_EQ(p.n_padded(), 64);
  ASSERT_EQ(p.k_padded(), 10);
  for (int64_t j = 0; j < p.n_padded(); ++j)
    for (int64_t t = 0; t < p.k_padded(); ++t) {
      const uint16_t code = p.data()[(j / 32) * (p.k_padded() * 32) + (t / 2) * 64 + (j % 32) * 2 + t % 2];
      const uint16_t expected = j < n && t < k ? float_to_bf16(w[j * k + t]) : 0;
      ASSERT_EQ(code, expected) << j << "," << t;
    }
}

TEST(GemmBf16Pack, BadArgumentsThrow) {
  const float w[4] = {1, 2, 3, 4};
  EXPECT_THROW(pack_bf16_weights(nullptr, 2, 2), Error);
  EXPECT_THROW(pack_bf16_weights(w, 0, 2), Error);
  EXPECT_THROW(pack_bf16_weights(w, 2, -1), Error);
  const PackedBf16Weights p = pack_bf16_weights(w, 2, 2);
  float y[4];
  EXPECT_THROW(gemm_bf16_ref(w, 2, 1, p, nullptr, y, 2), Error);  // ldx < k
  EXPECT_THROW(gemm_bf16_ref(w, 2, 2, p, nullptr, y, 1), Error);  // ldy < n
  EXPECT_THROW(gemm_bf16_ref(w, 2, 2, PackedBf16Weights{}, nullptr, y, 2), Error);
}

// Tile edges (12 rows, 32 columns), odd k (a zero-padded pair), several cache
// slices (k past 384, the last slice partial), column and row blocks.
TEST_F(GemmBf16, ShapesAroundTilesAndSlicesMatchReference) {
  uint32_t seed = 10;
  for (int64_t m : {1, 5, 12, 13, 37})
    for (int64_t n : {1, 31, 32, 33, 100})
      for (int64_t k : {1, 2, 3, 64, 385}) {
        Problem p(m, n, k, seed++);
        expect_matches_reference(p, seed % 2 == 0, std::to_string(m) + "x" + std::to_string(n) + "x" + std::to_string(k));
        if (HasFailure()) return;
      }
}

TEST_F(GemmBf16, LargerShapesOnTwoThreads) {
  set_num_threads(2);
  struct Shape3 {
    int64_t m, n, k;
  };
  uint32_t seed = 200;
  for (const Shape3& s : {Shape3{130, 70, 800}, Shape3{3, 1100, 96}, Shape3{64, 300, 1537}})
    expect_matches_reference(Problem(s.m, s.n, s.k, seed++), true,
                             std::to_string(s.m) + "x" + std::to_string(s.n) + "x" + std::to_string(s.k));
  set_num_threads(0);
}

// Small integers are exact in bf16, and every partial sum stays an integer
// below 2^24, so any correct kernel gives the exact result.
TEST_F(GemmBf16, IntegerMatricesAreExact) {
  Problem p(29, 70, 777, 300, /*integers=*/true);
  std::vector<float> got = p.output(), ref = p.output();
  gemm_bf16(p.x.data(), p.m, p.ldx, p.packed, p.bias.data(), got.data(), p.ldy);
  gemm_bf16_ref(p.x.data(), p.m, p.ldx, p.packed, p.bias.data(), ref.data(), p.ldy);
  EXPECT_EQ(got, ref);
}

// A row's result does not depend on how many rows run with it, nor on the
// thread count (what decode_ragged and serving rely on).
TEST_F(GemmBf16, RowsAreIndependentOfRowCountAndThreads) {
  Problem p(40, 96, 500, 400);
  std::vector<float> all = p.output();
  set_num_threads(2);
  gemm_bf16(p.x.data(), p.m, p.ldx, p.packed, p.bias.data(), all.data(), p.ldy);
  set_num_threads(1);
  for (int64_t r = 0; r < p.m; ++r) {
    std::vector<float> one(static_cast<size_t>(p.ldy), -7.25f);
    gemm_bf16(p.x.data() + r * p.ldx, 1, p.ldx, p.packed, p.bias.data(), one.data(), p.ldy);
    for (int64_t j = 0; j < p.n; ++j) ASSERT_EQ(one[j], all[r * p.ldy + j]) << r << "," << j;
  }
  set_num_threads(0);
}

// Against the f32 product: each input is rounded to bf16 (relative error <=
// 2^-9), so a product is within 2^-8 + 2^-18 of its f32 value, and
// |y_bf16 - y_f32| <= (2^-8 + 2^-18 + gamma_{k+4}) sum_t |x_t w_t|.
TEST_F(GemmBf16, WithinInputRoundingOfTheF32Product) {
  Problem p(17, 45, 300, 500);
  std::vector<float> got = p.output();
  gemm_bf16(p.x.data(), p.m, p.ldx, p.packed, nullptr, got.data(), p.ldy);
  for (int64_t r = 0; r < p.m; ++r)
    for (int64_t j = 0; j < p.n; ++j) {
      double exact = 0.0, abs_sum = 0.0;
      for (int64_t t = 0; t < p.k; ++t) {
        const double prod = static_cast<double>(p.x[r * p.ldx + t]) * p.w[j * p.k + t];
        exact += prod, abs_sum += std::fabs(prod);
      }
      const double bound = (0x1p-8 + 0x1p-18 + gamma_n(static_cast<double>(p.k) + 4)) * abs_sum;
      ASSERT_LE(std::fabs(got[r * p.ldy + j] - exact), bound) << r << "," << j;
    }
}

TEST_F(GemmBf16, NoRowsIsANoOp) {
  Problem p(1, 8, 8, 600);
  std::vector<float> y(8, 1.5f);
  gemm_bf16(nullptr, 0, 8, p.packed, nullptr, y.data(), 8);
  EXPECT_EQ(y, std::vector<float>(8, 1.5f));
}

}  // namespace
}  // namespace octet
