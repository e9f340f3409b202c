// Helpers shared by the INT8 GEMM / quantizer tests.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "octet/error.h"
#include "octet/gemm_int8.h"

namespace octet::testing {

// The SIMD variants this CPU can run (each is compared with Int8Isa::Scalar).
inline std::vector<Int8Isa> simd_isas() {
  std::vector<Int8Isa> out;
  for (Int8Isa isa : {Int8Isa::Avx2, Int8Isa::Avx512Vnni})
    if (int8_isa_available(isa)) out.push_back(isa);
  return out;
}

// In a test body: skips (loudly) when OCTET_ISA deliberately disables every
// SIMD variant, fails when the CPU has none.
#define OCTET_REQUIRE_SIMD_INT8()                                                                  \
  do {                                                                                             \
    if (::octet::testing::simd_isas().empty()) {                                                   \
      const char* isa_env = std::getenv("OCTET_ISA");                                              \
      if (isa_env && *isa_env) GTEST_SKIP() << "OCTET_ISA=" << isa_env << " disables SIMD variants"; \
      FAIL() << "no SIMD INT8 variant available on this CPU";                                      \
    }                                                                                              \
  } while (0)

inline std::vector<Int8Isa> all_isas() {
  std::vector<Int8Isa> out{Int8Isa::Scalar};
  for (Int8Isa isa : simd_isas()) out.push_back(isa);
  return out;
}

inline std::vector<int8_t> random_int8(size_t count, int lo, int hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> dist(lo, hi);
  std::vector<int8_t> v(count);
  for (auto& x : v) x = static_cast<int8_t>(dist(rng));
  return v;
}

inline std::vector<float> random_float(size_t count, float lo, float hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(count);
  for (auto& x : v) x = dist(rng);
  return v;
}

// The definition in int64: C[m,n] = sum_k (A[m,k] - zp) * W[n,k].
inline std::vector<int64_t> reference_gemm(const std::vector<int8_t>& a, int64_t m, int64_t lda, int32_t zp,
                                           const std::vector<int8_t>& w, int64_t n, int64_t k) {
  std::vector<int64_t> c(static_cast<size_t>(m * n));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      int64_t s = 0;
      for (int64_t t = 0; t < k; ++t) s += (static_cast<int64_t>(a[i * lda + t]) - zp) * w[j * k + t];
      c[i * n + j] = s;
    }
  return c;
}

// Runs fn and checks it throws octet::Error with `tag` and a message containing `fragment`.
template <typename Fn>
void expect_error(Fn&& fn, std::string_view tag, std::string_view fragment) {
  try {
    fn();
    ADD_FAILURE() << "expected Error [" << tag << "] containing '" << fragment << "'";
  } catch (const Error& e) {
    EXPECT_EQ(e.tag(), tag) << e.what();
    EXPECT_NE(std::string(e.detail()).find(fragment), std::string::npos) << e.what();
  }
}

}  // namespace octet::testing
