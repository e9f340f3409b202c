// The batched small fp32 GEMM (octet-small) against the reference GEMM, per
// ISA variant the CPU has (AVX-512 and AVX2 separately, so an AVX2-only
// machine still checks the AVX2 kernels), plus the auto-selecting backend.
//
// Tolerance (small_gemm_tolerance): each C element is one f32 accumulator of
// k products in order (one rounding per FMA), then t = alpha * acc, t = beta
// * C0 + t by FMA, t + bias: k + 2 terms with at most k + 3 roundings, so by
// Higham's dot-product bound
//   |C^ - C| <= gamma_{k+3} (|alpha| sum_t |a_t||b_t| + |beta C0| + |bias|),
// plus u |C| for the reference's own final rounding to f32. The blocked path
// of large products restarts the accumulator every 384 steps of k and adds
// alpha * acc to C (2 roundings) per slice: gamma_{k+3+2 ceil(k/384)}, which
// the bound below over-counts as 2 ceil(k/256).
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <limits>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "kernel_test_util.h"
#include "kernels/dispatch.h"
#include "kernels/gemm_backend.h"
#include "octet/cpu_features.h"
#include "octet/error.h"
#include "octet/thread_pool.h"

namespace octet::kernels {
namespace {

using testing::gamma_n;
using testing::kU;
using testing::random_values;

struct Isa {
  const char* name;
  const GemmBackend* gemm;
  bool (*supported)();
};

void PrintTo(const Isa& isa, std::ostream* os) { *os << isa.name; }

bool always() { return true; }

const Isa kIsas[] = {{"avx512", &kSmallGemmAvx512, &small_gemm_avx512_supported},
                     {"avx2", &kSmallGemmAvx2, &small_gemm_avx2_supported},
                     {"auto", &kSmallGemm, &always}};

// Owns the buffers of a batched problem with padded leading dimensions
// (lda > k etc., so strides are exercised) and sentinels in the padding.
struct Batched {
  GemmProblem p;
  std::vector<float> a, b, c, bias;

  Batched(int64_t batch, int64_t m, int64_t n, int64_t k, bool trans_b, bool shared_b, uint32_t seed,
          bool integers = false) {
    p.batch = batch, p.m = m, p.n = n, p.k = k, p.trans_b = trans_b;
    p.lda = k + 3, p.stride_a = m * p.lda + 5;
    const int64_t b_rows = trans_b ? n : k, b_cols = trans_b ? k : n;
    p.ldb = b_cols + 2, p.stride_b = shared_b ? 0 : b_rows * p.ldb + 1;
    p.ldc = n + 4, p.stride_c = m * p.ldc + 7;
    const float lo = integers ? -8.0f : -2.0f, hi = integers ? 8.0f : 2.0f;
    a = random_values(batch * p.stride_a, seed, lo, hi, integers);
    b = random_values((shared_b ? 1 : batch) * std::max<int64_t>(b_rows * p.ldb + 1, 1), seed + 1, lo, hi, integers);
    c = random_values(batch * p.stride_c, seed + 2, lo, hi, integers);
    bias = random_values(n, seed + 3, lo, hi, integers);
    p.a = a.data(), p.b = b.data(), p.c = c.data();
  }

  float at_a(int64_t i, int64_t r, int64_t t) const { return a[i * p.stride_a + r * p.lda + t]; }
  float at_b(int64_t i, int64_t t, int64_t j) const {  // op(B)[t, j]
    const float* bi = b.data() + i * p.stride_b;
    return p.trans_b ? bi[j * p.ldb + t] : bi[t * p.ldb + j];
  }
};

// Bound on |C^ - C_ref| for every element of c (see the header comment);
// `c0` holds C before the GEMM, `ref` after the reference GEMM.
std::vector<double> small_gemm_tolerance(const Batched& x, const std::vector<float>& c0,
                                         const std::vector<float>& ref) {
  const GemmProblem& p = x.p;
  std::vector<double> tol(c0.size(), 0.0);
  for (int64_t i = 0; i < p.batch; ++i)
    for (int64_t r = 0; r < p.m; ++r)
      for (int64_t j = 0; j < p.n; ++j) {
        double abs_sum = 0.0;
        for (int64_t t = 0; t < p.k; ++t) abs_sum += std::fabs(x.at_a(i, r, t)) * std::fabs(x.at_b(i, t, j));
        const size_t e = static_cast<size_t>(i * p.stride_c + r * p.ldc + j);
        double terms = std::fabs(p.alpha) * abs_sum;
        if (p.beta != 0.0f) terms += std::fabs(p.beta * c0[e]);
        if (p.bias) terms += std::fabs(p.bias[j]);
        const double slices = std::ceil(static_cast<double>(p.k) / 256.0);
        tol[e] = gamma_n(static_cast<double>(p.k) + 3 + 2 * slices) * terms + kU * std::fabs(ref[e]);
      }
  return tol;
}

// Runs `gemm` and kRefGemm on copies of x.c and compares every element of the
// buffer: inside the [m, n] blocks within `tol` (or exactly when tol is
// empty), outside them (padding) untouched.
void expect_matches_reference(const GemmBackend& gemm, Batched& x, const std::string& what, bool exact = false) {
  const std::vector<float> c0 = x.c;
  std::vector<float> ref = c0;
  GemmProblem rp = x.p;
  rp.c = ref.data();
  kRefGemm.run(rp);
  std::vector<float> got = c0;
  GemmProblem gp = x.p;
  gp.c = got.data();
  gemm.run(gp);
  const std::vector<double> tol = exact ? std::vector<double>(c0.size(), 0.0) : small_gemm_tolerance(x, c0, ref);
  int64_t failures = 0;
  for (size_t e = 0; e < got.size(); ++e) {
    const double err = std::fabs(static_cast<double>(got[e]) - ref[e]);
    if (!(err <= tol[e]) && !(std::isnan(got[e]) && std::isnan(ref[e])) && failures++ < 3)
      ADD_FAILURE() << what << ": element " << e << " is " << got[e] << ", reference " << ref[e] << ", bound "
                    << tol[e];
  }
  EXPECT_EQ(failures, 0) << what;
}

std::string shape_name(int64_t batch, int64_t m, int64_t n, int64_t k, bool trans_b) {
  return std::to_string(batch) + "x" + std::to_string(m) + "x" + std::to_string(n) + "x" + std::to_string(k) +
         (trans_b ? " trans_b" : "");
}

class SmallGemm : public ::testing::TestWithParam<Isa> {
 protected:
  void SetUp() override {
    if (!GetParam().supported()) {
      // Asking for it must fail cleanly, never run an illegal instruction.
      Batched x(1, 2, 2, 2, false, false, 1);
      EXPECT_THROW(GetParam().gemm->run(x.p), Error);
      GTEST_SKIP() << "this CPU lacks the ISA of " << GetParam().gemm->name;
    }
  }
  const GemmBackend& gemm() const { return *GetParam().gemm; }
};

// Every combination of edge sizes around the tile shapes (6 / 12 rows, 16 / 32
// columns), both layouts of B, alpha 1 / beta 0 / no bias.
TEST_P(SmallGemm, ShapesAroundTileEdgesMatchReference) {
  const int64_t ms[] = {1, 5, 6, 7, 12, 13, 25, 128, 129};
  const int64_t ns[] = {1, 7, 15, 16, 17, 31, 32, 33, 64, 128, 129};
  const int64_t ks[] = {1, 7, 8, 15, 16, 17, 64, 129};
  uint32_t seed = 100;
  for (bool trans_b : {false, true})
    for (int64_t m : ms)
      for (int64_t n : ns)
        for (int64_t k : ks) {
          Batched x(2, m, n, k, trans_b, false, seed++);
          expect_matches_reference(gemm(), x, shape_name(2, m, n, k, trans_b));
          if (HasFailure()) return;  // one broken shape is enough to report
        }
}

// The attention shapes and sizes up to ~300, with scaling, accumulation and bias.
TEST_P(SmallGemm, LargerShapesWithAlphaBetaAndBias) {
  struct Shape3 {
    int64_t m, n, k;
  };
  const Shape3 shapes[] = {{128, 128, 64}, {128, 64, 128},  {31, 33, 300}, {300, 17, 33},
                           {64, 300, 15},  {257, 129, 128}, {33, 31, 1}};
  struct Setting {
    float alpha, beta;
    bool bias;
  };
  const Setting settings[] = {{0.125f, 0.0f, false}, {0.3f, 0.0f, true}, {-1.5f, 0.75f, true}, {2.0f, 1.0f, false}};
  uint32_t seed = 500;
  for (const Shape3& s : shapes)
    for (bool trans_b : {false, true})
      for (const Setting& st : settings) {
        Batched x(3, s.m, s.n, s.k, trans_b, false, seed++);
        x.p.alpha = st.alpha, x.p.beta = st.beta;
        if (st.bias) x.p.bias = x.bias.data();
        expect_matches_reference(gemm(), x,
                                 shape_name(3, s.m, s.n, s.k, trans_b) + " alpha " + std::to_string(st.alpha) +
                                     " beta " + std::to_string(st.beta) + (st.bias ? " bias" : ""));
      }
}

// Products whose op(B) passes 64 Ki floats take the blocked path: several
// 384-step slices of k (the last one partial), column blocks that do not
// divide n, row blocks (a narrow n leaves too few column blocks for 2
// threads), one row, and B shared by the items.
TEST_P(SmallGemm, BlockedLargeShapes) {
  struct Shape3 {
    int64_t m, n, k;
  };
  const Shape3 shapes[] = {{37, 300, 600}, {5, 1000, 70}, {130, 33, 2100}, {1, 520, 300}, {25, 129, 513}};
  uint32_t seed = 700;
  set_num_threads(2);
  for (const Shape3& s : shapes)
    for (bool trans_b : {false, true})
      for (bool shared_b : {false, true}) {
        Batched x(2, s.m, s.n, s.k, trans_b, shared_b, seed++);
        x.p.alpha = shared_b ? 1.0f : 0.6f, x.p.beta = shared_b ? 0.0f : 0.5f;
        x.p.bias = x.bias.data();
        expect_matches_reference(gemm(), x,
                                 "blocked " + shape_name(2, s.m, s.n, s.k, trans_b) + (shared_b ? " shared B" : ""));
        if (HasFailure()) break;
      }
  set_num_threads(0);
}

// Integers in [-8, 8]: products are at most 64, so for k < 2^18 every partial
// sum is an integer below 2^24 and any correct f32 GEMM is exact.
TEST_P(SmallGemm, IntegerMatricesAreExact) {
  uint32_t seed = 900;
  for (bool trans_b : {false, true})
    for (int64_t m : {1, 13, 128})
      for (int64_t n : {7, 33, 128})
        for (int64_t k : {1, 64, 300}) {
          Batched x(2, m, n, k, trans_b, false, seed++, /*integers=*/true);
          x.p.beta = 1.0f, x.p.bias = x.bias.data();  // integer C0 and bias keep it exact
          expect_matches_reference(gemm(), x, "integers " + shape_name(2, m, n, k, trans_b), /*exact=*/true);
        }
}

// stride_b == 0: every item multiplies the same B (packed once per thread).
// Large enough (~9 MFLOP) to be split over the two threads.
TEST_P(SmallGemm, BatchWithSharedB) {
  set_num_threads(2);
  for (bool trans_b : {false, true}) {
    Batched x(7, 130, 50, 64, trans_b, /*shared_b=*/true, 1200 + trans_b);
    x.p.alpha = 0.5f, x.p.bias = x.bias.data();
    expect_matches_reference(gemm(), x, "shared B " + shape_name(7, 130, 50, 64, trans_b));
  }
  set_num_threads(0);
}

// beta == 0 must not read C: NaN there does not leak into the result.
TEST_P(SmallGemm, BetaZeroIgnoresC) {
  for (bool with_bias : {false, true}) {
    Batched x(2, 13, 35, 9, true, false, 1300);
    std::fill(x.c.begin(), x.c.end(), std::numeric_limits<float>::quiet_NaN());
    if (with_bias) x.p.bias = x.bias.data();
    std::vector<float> got = x.c;
    GemmProblem gp = x.p;
    gp.c = got.data();
    gemm().run(gp);
    for (int64_t i = 0; i < 2; ++i)
      for (int64_t r = 0; r < 13; ++r)
        for (int64_t j = 0; j < 35; ++j) ASSERT_FALSE(std::isnan(got[i * gp.stride_c + r * gp.ldc + j])) << i << r << j;
    expect_matches_reference(gemm(), x, "beta 0 over NaN");  // padding keeps its NaN too
  }
}

// k == 0: C = beta C + bias; lda/ldb may be 0 and A/B null.
TEST_P(SmallGemm, EmptyInnerDimension) {
  // Integers: beta C0 + bias is exact whether rounded once (reference) or twice.
  Batched x(2, 5, 9, 0, false, false, 1400, /*integers=*/true);
  x.p.a = nullptr, x.p.b = nullptr, x.p.lda = 0, x.p.ldb = 0;
  x.p.beta = 0.5f, x.p.bias = x.bias.data();
  expect_matches_reference(gemm(), x, "k = 0, beta 0.5, bias", /*exact=*/true);
  x.p.beta = 0.0f, x.p.bias = nullptr;
  expect_matches_reference(gemm(), x, "k = 0, beta 0", /*exact=*/true);
  // Empty m, n or batch: nothing is written (the buffers must stay as they are).
  for (int which = 0; which < 3; ++which) {
    Batched e(2, 4, 4, 4, false, false, 1410);
    (which == 0 ? e.p.m : which == 1 ? e.p.n : e.p.batch) = 0;
    const std::vector<float> before = e.c;
    gemm().run(e.p);
    EXPECT_EQ(e.c, before) << which;
  }
}

// The split over threads changes which thread computes a tile, never its
// arithmetic: 1 and 2 threads give the same bits.
TEST_P(SmallGemm, ResultsDoNotDependOnThreadCount) {
  if (&gemm() == &kSmallGemm && std::string(small_gemm_variant()) == "openblas")
    GTEST_SKIP() << "octet-small runs OpenBLAS here (no AVX2 allowed), whose blocking follows the thread count";
  // The second shape takes the blocked path, whose blocks follow the thread count.
  for (const auto& [m, n, k] : {std::array<int64_t, 3>{100, 70, 40}, std::array<int64_t, 3>{67, 700, 520}}) {
    Batched x(5, m, n, k, true, false, 1500);
    x.p.alpha = 0.7f;
    std::vector<float> one = x.c, two = x.c;
    GemmProblem p1 = x.p, p2 = x.p;
    p1.c = one.data(), p2.c = two.data();
    set_num_threads(1);
    gemm().run(p1);
    set_num_threads(2);
    gemm().run(p2);
    set_num_threads(0);
    EXPECT_EQ(one, two) << shape_name(5, m, n, k, true);
  }
}

INSTANTIATE_TEST_SUITE_P(Isas, SmallGemm, ::testing::ValuesIn(kIsas),
                         [](const ::testing::TestParamInfo<Isa>& info) { return std::string(info.param.name); });

TEST(SmallGemmSelection, FollowsCpuFeatures) {
  const CpuFeatures& f = cpu_features();
  const std::string expected = f.avx512f && f.avx2 && f.fma ? "avx512" : f.avx2 && f.fma ? "avx2" : "openblas";
  EXPECT_EQ(small_gemm_variant(), expected);
}

TEST(SmallGemmSelection, AttentionUsesItUnlessOverridden) {
  const CpuFeatures& f = cpu_features();
  EXPECT_EQ(&attention_gemm_backend(), f.avx2 && f.fma ? &kSmallGemm : &kOpenBlasGemm);
  {
    ScopedKernels scope(nullptr, &kRefGemm);
    EXPECT_EQ(&attention_gemm_backend(), &kRefGemm);
    EXPECT_EQ(&gemm_backend(), &kRefGemm);
  }
  // Linears run octet's kernels only where they are AVX-512 (OpenBLAS's AVX2 ones are faster).
  EXPECT_EQ(&gemm_backend(), std::string(small_gemm_variant()) == "avx512" ? &kSmallGemm : &kOpenBlasGemm);
}

}  // namespace
}  // namespace octet::kernels

namespace octet::kernels {
namespace {

// Weights packed once (pack_linear_b) give what octet-small-avx512 computes
// from the plain weights, bit for bit: few rows (whole k), many rows (slices
// of k), products under the blocked threshold, odd sizes, padded strides.
TEST(PackedLinear, EqualsTheGemmOnPlainWeightsBitForBit) {
  if (std::string(small_gemm_variant()) != "avx512") {
    const std::vector<float> w(64, 1.0f);
    EXPECT_THROW(pack_linear_b(w.data(), 8, 8), Error);
    GTEST_SKIP() << "octet's AVX-512 GEMM does not run here";
  }
  set_num_threads(2);
  uint32_t seed = 3000;
  for (int64_t m : {1, 13, 64, 65, 200})
    for (int64_t n : {31, 300})
      for (int64_t k : {70, 385, 800}) {
        const int64_t ldx = k + 3, ldy = n + 5;
        const std::vector<float> x = random_values(m * ldx, seed++, -2, 2), w = random_values(n * k, seed++, -2, 2),
                                 bias = random_values(n, seed++, -2, 2);
        const PackedLinearB packed = pack_linear_b(w.data(), n, k);
        std::vector<float> got(static_cast<size_t>(m * ldy), -3.5f), want = got;
        linear_prepacked(x.data(), m, ldx, packed, bias.data(), got.data(), ldy);
        GemmProblem p;
        p.m = m, p.n = n, p.k = k, p.trans_b = true;
        p.a = x.data(), p.lda = ldx, p.b = w.data(), p.ldb = k, p.c = want.data(), p.ldc = ldy, p.bias = bias.data();
        kSmallGemmAvx512.run(p);
        ASSERT_EQ(got, want) << m << "x" << n << "x" << k;
      }
  set_num_threads(0);
  const std::vector<float> w(64, 1.0f);
  EXPECT_THROW(pack_linear_b(nullptr, 8, 8), Error);
  EXPECT_THROW(pack_linear_b(w.data(), 0, 8), Error);
}

}  // namespace
}  // namespace octet::kernels
