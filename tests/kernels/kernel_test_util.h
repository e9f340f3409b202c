// Helpers shared by the kernel tests: seeded random tensors, f32 rounding
// error bounds, and an element-wise comparison that reports the worst element.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "kernels/dispatch.h"
#include "octet/tensor.h"

namespace octet::kernels::testing {

// Unit roundoff of f32: |fl(x) - x| <= kU |x| for every correctly rounded operation.
inline constexpr double kU = 0x1p-24;

// Higham's gamma_n = n u / (1 - n u): a sum or dot product of n terms computed
// in f32, in any order and with or without FMA, is within gamma_n * sum |terms|.
inline double gamma_n(double n) { return n * kU / (1.0 - n * kU); }

// Seeded values in [lo, hi], rounded to integers when `integers`.
inline std::vector<float> random_values(int64_t count, uint32_t seed, float lo, float hi, bool integers = false) {
  std::vector<float> v(static_cast<size_t>(count));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  for (float& x : v) x = integers ? std::round(dist(rng)) : dist(rng);
  return v;
}

inline Tensor random_tensor(Shape shape, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  Tensor t = Tensor::empty(std::move(shape), DType::F32);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  for (float& v : t.span<float>()) v = dist(rng);
  return t;
}

// Expects |actual[i] - expected[i]| <= tolerance(i) for every i, reporting the
// element with the largest error relative to its tolerance.
inline void expect_within(const Tensor& actual, const Tensor& expected, const std::function<double(int64_t)>& tolerance,
                          const std::string& what) {
  ASSERT_EQ(actual.shape(), expected.shape()) << what;
  const auto a = actual.span<float>();
  const auto e = expected.span<float>();
  int64_t worst = -1, failures = 0;
  double worst_ratio = 0.0;
  for (int64_t i = 0; i < static_cast<int64_t>(a.size()); ++i) {
    const double err = std::fabs(static_cast<double>(a[i]) - e[i]);
    const double tol = tolerance(i);
    const bool ok = err <= tol || (std::isnan(a[i]) && std::isnan(e[i])) || (a[i] == e[i]);
    if (!ok) ++failures;
    const double ratio = ok ? (tol > 0 ? err / tol : 0.0) : std::numeric_limits<double>::infinity();
    if (worst < 0 || ratio > worst_ratio) {
      worst = i;
      worst_ratio = ratio;
    }
  }
  // OCTET_TEST_VERBOSE=1 prints how close each comparison came to its bound.
  if (std::getenv("OCTET_TEST_VERBOSE") && worst >= 0)
    std::printf("  %s: worst error / bound = %.3g\n", what.c_str(), worst_ratio);
  if (failures > 0) {
    ADD_FAILURE() << what << ": " << failures << " of " << a.size() << " elements out of bound; first worst at " << worst
                  << ": got " << a[worst] << ", expected " << e[worst] << ", bound " << tolerance(worst);
  }
}

// The variants a test compares against the reference.
struct Variant {
  const char* name;
  const RowKernels* rows;
  const GemmBackend* gemm;
};

// avx2 (AVX2 row kernels + OpenBLAS) and auto (whatever dispatch picks: the
// same here, except octet-small for attention's GEMMs; the scalar reference +
// OpenBLAS under OCTET_ISA=scalar).
inline std::vector<Variant> fast_variants() {
  return {{"avx2", &kAvx2RowKernels, &kOpenBlasGemm}, {"auto", nullptr, nullptr}};
}

// The row-kernel variants row tests compare against the reference: the
// fast_variants() plus AVX-512, which tests skip (GTEST_SKIP, visibly) on CPUs
// without it; see row_variant_unsupported().
inline std::vector<Variant> row_variants() {
  return {{"avx2", &kAvx2RowKernels, &kOpenBlasGemm},
          {"avx512", &kAvx512RowKernels, &kOpenBlasGemm},
          {"auto", nullptr, nullptr}};
}

// Why this CPU cannot run the variant (a skip message), or null when it can.
// Only AVX-512 is optional: every CPU octet targets has AVX2.
inline const char* row_variant_unsupported(const Variant& v) {
  if (v.rows == &kAvx512RowKernels && !avx512_rows_supported())
    return "this CPU lacks AVX-512 F/BW/VL: AVX-512 row kernels not tested";
  return nullptr;
}

// Runs fn with the variant's kernels on this thread. AVX2 on a CPU without it
// fails the test (loudly) rather than skipping; AVX-512 must be checked with
// row_variant_unsupported() first.
template <typename Fn>
void with_variant(const Variant& v, Fn&& fn) {
  if (v.rows == &kAvx2RowKernels) {
    ASSERT_TRUE(avx2_supported()) << "this CPU lacks AVX2+FMA";
  }
  if (v.rows == &kAvx512RowKernels) {
    ASSERT_TRUE(avx512_rows_supported()) << "this CPU lacks AVX-512 F/BW/VL";
  }
  ScopedKernels scope(v.rows, v.gemm);
  fn();
}

template <typename Fn>
void with_reference(Fn&& fn) {
  ScopedKernels scope(&kRefRowKernels, &kRefGemm);
  fn();
}

}  // namespace octet::kernels::testing
