// Few-row GEMV: the AVX2 kernel and the scalar one against a double
// reference, within Higham's bound for a k-term f32 dot product in any
// order: |fl(x.w) - x.w| <= gamma_k * sum |x_i w_i| (+ one rounding of the bias add).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstring>

#include "kernels/kernel_test_util.h"
#include "octet/cpu_features.h"
#include "octet/generate.h"
#include "octet/kernels.h"
#include "runtime/gemv.h"

namespace octet::runtime {
namespace {

using kernels::testing::gamma_n;
using kernels::testing::kU;
using kernels::testing::random_tensor;

struct Case {
  int64_t m, n, k;
};

void check_against_double(GemvRowsFn fn, const char* name, Case c, bool with_bias) {
  const Tensor x = random_tensor({c.m, c.k}, 11 + uint32_t(c.k)), w = random_tensor({c.n, c.k}, 7 + uint32_t(c.n));
  const Tensor bias = with_bias ? random_tensor({c.n}, 3) : Tensor();
  Tensor y;
  gemv(x, w, bias, y, fn);
  ASSERT_EQ(y.shape(), Shape({c.m, c.n}));
  Tensor expected = Tensor::empty({c.m, c.n}, DType::F32);
  std::vector<double> abs_sum(size_t(c.m * c.n));
  for (int64_t r = 0; r < c.m; ++r)
    for (int64_t j = 0; j < c.n; ++j) {
      double s = 0.0, a = 0.0;
      for (int64_t i = 0; i < c.k; ++i) {
        const double t = double(x.data<float>()[r * c.k + i]) * w.data<float>()[j * c.k + i];
        s += t, a += std::fabs(t);
      }
      if (with_bias) s += bias.data<float>()[j], a += std::fabs(bias.data<float>()[j]);
      expected.data<float>()[r * c.n + j] = float(s);
      abs_sum[size_t(r * c.n + j)] = a;
    }
  // gamma_(k+1) for the dot product plus bias, + u for rounding the double expectation to f32.
  kernels::testing::expect_within(
      y, expected, [&](int64_t i) { return gamma_n(double(c.k + 1)) * abs_sum[size_t(i)] + kU * std::fabs(expected.data<float>()[i]); },
      fmt::format("{} m={} n={} k={} bias={}", name, c.m, c.n, c.k, with_bias));
}

TEST(Gemv, KernelsMatchDoubleReference) {
  std::vector<std::pair<const char*, GemvRowsFn>> fns = {{"scalar", &gemv_rows_scalar}};
  const CpuFeatures& f = cpu_features();
  if (f.avx2 && f.fma) fns.push_back({"avx2", &gemv_rows_avx2});
  for (const auto& [name, fn] : fns)
    for (Case c : {Case{1, 1, 1}, Case{1, 67, 13}, Case{2, 130, 64}, Case{3, 64, 129}, Case{4, 257, 200}, Case{1, 1000, 512}})
      for (bool bias : {false, true}) check_against_double(fn, name, c, bias);
}

TEST(Gemv, ThreadedSplitEqualsOneChunk) {
  // The row split must not change any result: each output is one row's dot product.
  const Tensor x = random_tensor({2, 300}, 1), w = random_tensor({4099, 300}, 2), b = random_tensor({4099}, 3);
  Tensor threaded, single = Tensor::empty({2, 4099}, DType::F32);
  gemv(x, w, b, threaded);
  gemv_rows_kernel()(x.data<float>(), 2, w.data<float>(), 300, b.data<float>(), single.data<float>(), 4099, 0, 4099);
  EXPECT_EQ(0, std::memcmp(threaded.data<float>(), single.data<float>(), single.nbytes()));
}

TEST(Gemv, RowsDoNotDependOnTheRowCount) {
  // What batched decoding (CausalLM::decode_ragged) relies on: row r of an
  // m-row product equals the product of row r alone, bit for bit, up to the
  // Linear kernel's switch to the GEMM, for shapes with and without tails.
  for (const auto& [n, k] : {std::pair<int64_t, int64_t>{4099, 300}, {130, 2053}, {7, 8}}) {
    const Tensor x = random_tensor({kGemvMaxRows, k}, 5), w = random_tensor({n, k}, 6), b = random_tensor({n}, 7);
    Tensor all;
    gemv(x, w, b, all);
    for (int64_t r = 0; r < kGemvMaxRows; r += 7) {
      Tensor one;
      gemv(x.slice(0, r, r + 1).contiguous(), w, b, one);
      EXPECT_EQ(0, std::memcmp(one.data<float>(), all.data<float>() + r * n, size_t(n) * sizeof(float)))
          << "row " << r << " n=" << n << " k=" << k;
    }
  }
}

// Timings behind kGemvMaxRows (run with --gtest_also_run_disabled_tests
// --gtest_filter='*GemvVersusSgemm*'): the GEMV against the GEMM
// (kernels::linear, OpenBLAS sgemm) on kjv-llama's and a TinyLlama-like shape.
TEST(Gemv, DISABLED_GemvVersusSgemm) {
  struct Shape2 {
    const char* name;
    int64_t n, k;
  };
  const Shape2 shapes[] = {{"kjv qkvo 288x288", 288, 288}, {"kjv up 768x288", 768, 288},
                           {"kjv down 288x768", 288, 768}, {"kjv lm_head 8000x288", 8000, 288},
                           {"tiny 2048x2048", 2048, 2048}, {"tiny up 5632x2048", 5632, 2048},
                           {"tiny down 2048x5632", 2048, 5632}};
  for (const Shape2& s : shapes) {
    const Tensor w = random_tensor({s.n, s.k}, 2), b = random_tensor({s.n}, 3);
    for (const int64_t m : {1, 4, 8, 16, 32, 64}) {
      const Tensor x = random_tensor({m, s.k}, 1);
      auto time = [&](auto&& fn) {
        fn();  // warm
        double best = 1e30;
        for (int rep = 0; rep < 5; ++rep) {
          const int iters = std::max<int>(1, int(2e8 / double(s.n * s.k * std::max<int64_t>(m, 4))));
          const auto t0 = std::chrono::steady_clock::now();
          for (int i = 0; i < iters; ++i) fn();
          best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / iters);
        }
        return best * 1e6;
      };
      Tensor y1, y2;
      const double g = time([&] { gemv(x, w, b, y1); });
      const double s2 = time([&] { y2 = kernels::linear(x, w, b); });
      std::printf("%-22s m=%-3lld gemv %9.1f us  sgemm %9.1f us  gemv/sgemm %.2f\n", s.name, (long long)m, g, s2,
                  g / s2);
    }
  }
}

TEST(Gemv, RejectsBadShapes) {
  Tensor y;
  EXPECT_THROW(gemv(random_tensor({1, 5}, 1), random_tensor({3, 4}, 2), {}, y), Error);
  EXPECT_THROW(gemv(random_tensor({2, 4}, 1), random_tensor({3, 4}, 2), {}, y = Tensor::empty({2, 4}, DType::F32)),
               Error);
}

}  // namespace
}  // namespace octet::runtime
