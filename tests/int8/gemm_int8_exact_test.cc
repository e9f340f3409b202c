// INT8 GEMM int32 results: every SIMD variant equals the scalar reference bit
// for bit, the reference equals an int64 computation done here, and extreme
// inputs (where a careless vpmaddubsw would saturate) stay exact.
#include <gtest/gtest.h>

#include <functional>
#include <iostream>
#include <limits>

#include "int8_test_util.h"
#include "octet/cpu_features.h"
#include "octet/thread_pool.h"

namespace octet {
namespace {

using testing::all_isas;
using testing::random_int8;
using testing::reference_gemm;
using testing::simd_isas;

constexpr int32_t kSentinel = 0x5A5A5A5A;

// Runs gemm_int8_s32 for `isa` with a padded C (ldc = n + 3) and checks the
// padding is untouched. Returns C as [m, n].
std::vector<int32_t> run_s32(Int8Isa isa, const std::vector<int8_t>& a, int64_t m, int64_t lda, int32_t zp,
                             const std::vector<int8_t>& w, int64_t n, int64_t k) {
  const PackedInt8Weights packed = pack_int8_weights(w.data(), n, k, nullptr, isa);
  EXPECT_EQ(packed.isa(), isa);
  const int64_t ldc = n + 3;
  std::vector<int32_t> c(static_cast<size_t>(std::max<int64_t>(1, m) * ldc), kSentinel);
  gemm_int8_s32(a.data(), m, lda, zp, packed, c.data(), ldc);
  std::vector<int32_t> out(static_cast<size_t>(m * n));
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) out[i * n + j] = c[i * ldc + j];
    for (int64_t j = n; j < ldc; ++j) EXPECT_EQ(c[i * ldc + j], kSentinel) << "wrote past column n at row " << i;
  }
  return out;
}

TEST(GemmInt8Exact, SimdVariantsAreTestedWhenTheCpuHasThem) {
  const CpuFeatures& f = cpu_features();  // as capped by OCTET_ISA
  EXPECT_EQ(int8_isa_available(Int8Isa::Avx2), f.avx2 && f.fma);
  EXPECT_EQ(int8_isa_available(Int8Isa::Avx512Vnni), f.avx2 && f.fma && f.avx512f && f.avx512bw && f.avx512vl && f.avx512_vnni);
  std::cout << "[ int8 ] SIMD variants under test:";
  for (Int8Isa isa : simd_isas()) std::cout << ' ' << int8_isa_name(isa);
  std::cout << " (default " << int8_isa_name(int8_default_isa()) << ")\n";
}

TEST(GemmInt8Exact, ScalarMatchesInt64Reference) {
  uint32_t seed = 1;
  for (int64_t m : {1, 3, 9}) {
    for (int64_t k : {1, 3, 33, 768}) {
      for (int64_t n : {1, 5, 17}) {
        const int64_t lda = k + 2;
        const auto a = random_int8(static_cast<size_t>(m * lda), -128, 127, seed++);
        const auto w = random_int8(static_cast<size_t>(n * k), -127, 127, seed++);
        for (int32_t zp : {0, -7}) {
          const auto got = run_s32(Int8Isa::Scalar, a, m, lda, zp, w, n, k);
          const auto want = reference_gemm(a, m, lda, zp, w, n, k);
          for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], want[i]) << "m=" << m << " k=" << k << " n=" << n;
        }
      }
    }
  }
}

// The shape sweep of the issue: every SIMD variant equals the scalar reference.
TEST(GemmInt8Exact, SimdEqualsScalarOnManyShapes) {
  OCTET_REQUIRE_SIMD_INT8();
  uint32_t seed = 100;
  for (int64_t m : {1, 2, 3, 7, 8, 9, 64, 127}) {
    for (int64_t k : {1, 3, 31, 32, 33, 64, 768, 3072}) {
      for (int64_t n : {1, 5, 16, 17, 768}) {
        const int64_t lda = k + (m % 3);  // also exercise lda > k
        const auto a = random_int8(static_cast<size_t>(m * lda), -128, 127, seed++);
        const auto w = random_int8(static_cast<size_t>(n * k), -127, 127, seed++);
        const int32_t zp = (m + k + n) % 2 ? 0 : -3;
        const auto want = run_s32(Int8Isa::Scalar, a, m, lda, zp, w, n, k);
        for (Int8Isa isa : simd_isas()) {
          const auto got = run_s32(isa, a, m, lda, zp, w, n, k);
          ASSERT_EQ(got, want) << int8_isa_name(isa) << " m=" << m << " k=" << k << " n=" << n;
        }
      }
    }
  }
}

// "No silent saturation": the inputs that maximise |products| and pair sums.
// A naive vpmaddubsw on (a + 128) as u8 would saturate pair sums of
// 255 * 127 * 2 = 64770 here; the sign trick keeps them <= 32512.
TEST(GemmInt8Exact, AllExtremeInputsAreExact) {
  const int64_t m = 9, n = 17;
  const int64_t k = 3072 + 3;
  const std::vector<std::pair<const char*, std::function<int8_t(int64_t, int64_t)>>> a_patterns = {
      {"all -128", [](int64_t, int64_t) -> int8_t { return -128; }},
      {"all 127", [](int64_t, int64_t) -> int8_t { return 127; }},
      {"alternating", [](int64_t, int64_t t) -> int8_t { return t % 2 ? 127 : -128; }},
      {"row-dependent", [](int64_t i, int64_t t) -> int8_t { return (i + t / 2) % 2 ? 127 : -128; }},
  };
  const std::vector<std::pair<const char*, std::function<int8_t(int64_t, int64_t)>>> w_patterns = {
      {"all 127", [](int64_t, int64_t) -> int8_t { return 127; }},
      {"all -127", [](int64_t, int64_t) -> int8_t { return -127; }},
      {"alternating", [](int64_t, int64_t t) -> int8_t { return t % 2 ? -127 : 127; }},
      {"column-dependent", [](int64_t j, int64_t t) -> int8_t { return (j + t) % 3 ? -127 : 127; }},
  };
  for (const auto& [a_name, a_fn] : a_patterns) {
    std::vector<int8_t> a(static_cast<size_t>(m * k));
    for (int64_t i = 0; i < m; ++i)
      for (int64_t t = 0; t < k; ++t) a[i * k + t] = a_fn(i, t);
    for (const auto& [w_name, w_fn] : w_patterns) {
      std::vector<int8_t> w(static_cast<size_t>(n * k));
      for (int64_t j = 0; j < n; ++j)
        for (int64_t t = 0; t < k; ++t) w[j * k + t] = w_fn(j, t);
      for (int32_t zp : {0, 127, -128}) {
        const auto want = reference_gemm(a, m, k, zp, w, n, k);
        for (Int8Isa isa : all_isas()) {
          const auto got = run_s32(isa, a, m, k, zp, w, n, k);
          for (size_t i = 0; i < got.size(); ++i)
            ASSERT_EQ(got[i], want[i]) << int8_isa_name(isa) << " A " << a_name << ", W " << w_name << ", zp " << zp;
        }
      }
    }
  }
}

// The largest k the int32 accumulator allows, with the largest products:
// 132104 * 128 * 127 = 2147482624, just under 2^31 - 1.
TEST(GemmInt8Exact, LargestKWithExtremeInputsIsExact) {
  const int64_t k = std::numeric_limits<int32_t>::max() / (127 * 128);
  ASSERT_EQ(k, 132104);
  const int64_t m = 3, n = 17;
  std::vector<int8_t> a(static_cast<size_t>(m * k), -128);
  std::vector<int8_t> w(static_cast<size_t>(n * k), -127);
  for (int64_t t = 0; t < k; ++t) w[1 * k + t] = 127;  // column 1: the most negative sum
  const auto want = reference_gemm(a, m, k, 0, w, n, k);
  ASSERT_EQ(want[0], 2147482624);
  ASSERT_EQ(want[1], -2147482624);
  for (Int8Isa isa : all_isas()) {
    const auto got = run_s32(isa, a, m, k, 0, w, n, k);
    for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], want[i]) << int8_isa_name(isa) << " at " << i;
  }
}

TEST(GemmInt8Exact, AffineZeroPointsMatchReference) {
  uint32_t seed = 7000;
  for (int32_t zp : {-128, -1, 1, 5, 127, 300, -5000}) {
    for (int64_t m : {1, 8, 13}) {
      const int64_t n = 37, k = 129;
      const auto a = random_int8(static_cast<size_t>(m * k), -128, 127, seed++);
      const auto w = random_int8(static_cast<size_t>(n * k), -127, 127, seed++);
      const auto want = reference_gemm(a, m, k, zp, w, n, k);
      for (Int8Isa isa : all_isas()) {
        const auto got = run_s32(isa, a, m, k, zp, w, n, k);
        for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], want[i]) << int8_isa_name(isa) << " zp " << zp;
      }
    }
  }
}

TEST(GemmInt8Exact, ResultDoesNotDependOnThreadCount) {
  const int64_t m = 70, n = 300, k = 200;
  const auto a = random_int8(static_cast<size_t>(m * k), -128, 127, 11);
  const auto w = random_int8(static_cast<size_t>(n * k), -127, 127, 12);
  const auto want = reference_gemm(a, m, k, 2, w, n, k);
  for (int threads : {1, 2, 3, 5}) {
    set_num_threads(threads);
    for (Int8Isa isa : all_isas()) {
      for (int64_t rows : {int64_t{1}, int64_t{6}, m}) {  // small-M (decode) and blocked paths
        const auto got = run_s32(isa, a, rows, k, 2, w, n, k);
        for (size_t i = 0; i < got.size(); ++i)
          ASSERT_EQ(got[i], want[i]) << int8_isa_name(isa) << " threads " << threads << " rows " << rows;
      }
    }
  }
  set_num_threads(0);
}

TEST(GemmInt8Exact, ZeroRowsIsANoOp) {
  const auto w = random_int8(8 * 4, -127, 127, 3);
  for (Int8Isa isa : all_isas()) {
    const PackedInt8Weights packed = pack_int8_weights(w.data(), 8, 4, nullptr, isa);
    gemm_int8_s32(nullptr, 0, 4, 0, packed, nullptr, 8);
  }
}

TEST(GemmInt8Exact, PackingRecordsLayout) {
  const auto w = random_int8(17 * 33, -127, 127, 5);
  for (Int8Isa isa : all_isas()) {
    const PackedInt8Weights p = pack_int8_weights(w.data(), 17, 33, nullptr, isa);
    EXPECT_EQ(p.n(), 17);
    EXPECT_EQ(p.k(), 33);
    EXPECT_EQ(p.n_padded() % p.panel_width(), 0);
    EXPECT_GE(p.k_padded(), 33);
    // The documented layout formula finds every weight; padding holds zeros.
    for (int64_t j = 0; j < p.n_padded(); ++j) {
      int64_t sum = 0;
      for (int64_t t = 0; t < p.k_padded(); ++t) {
        const int64_t pw = p.panel_width();
        const int8_t v = p.data()[(j / pw) * (p.k_padded() * pw) + (t / 4) * (4 * pw) + (j % pw) * 4 + t % 4];
        ASSERT_EQ(v, j < 17 && t < 33 ? w[j * 33 + t] : 0) << int8_isa_name(isa) << " n " << j << " k " << t;
        sum += v;
      }
      EXPECT_EQ(p.row_sums()[j], sum);
    }
  }
}

}  // namespace
}  // namespace octet
