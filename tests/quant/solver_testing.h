// Shared pieces of the weight-solver tests (RTN, GPTQ, AWQ): synthetic layers
// and double-precision references written independently of the library.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "octet/quant.h"
#include "quant/group_quant.h"
#include "quant/test_data.h"

namespace octet::solver_testing {

using quant_testing::Rng;

inline Tensor gaussian_matrix(int64_t rows, int64_t cols, uint64_t seed, double sigma = 1.0) {
  return quant_testing::tensor_of(quant_testing::gaussian_values(static_cast<size_t>(rows * cols), seed, sigma),
                                  {rows, cols});
}

// x = z A: rows of independent N(0, 1) z mixed by a random A (so the input
// channels are correlated, the case GPTQ is for), with per-channel gains
// between 0.3 and 3.
inline Tensor correlated_inputs(int64_t n, int64_t in, uint64_t seed) {
  const std::vector<float> z = quant_testing::gaussian_values(static_cast<size_t>(n * in), seed);
  std::vector<double> a(static_cast<size_t>(in * in));
  Rng rng(seed + 1);
  for (int64_t i = 0; i < in; ++i)
    for (int64_t j = 0; j < in; ++j)
      a[i * in + j] = (i == j ? 1.0 : 0.0) + 0.8 * rng.gaussian() / std::sqrt(double(in));
  std::vector<double> gain(static_cast<size_t>(in));
  for (double& g : gain) g = rng.uniform(0.3, 3.0);
  std::vector<float> x(static_cast<size_t>(n * in));
  std::vector<double> row(static_cast<size_t>(in));
  for (int64_t r = 0; r < n; ++r) {
    std::fill(row.begin(), row.end(), 0.0);
    for (int64_t k = 0; k < in; ++k) {
      const double zk = z[r * in + k];
      for (int64_t j = 0; j < in; ++j) row[j] += zk * a[k * in + j];
    }
    for (int64_t j = 0; j < in; ++j) x[r * in + j] = static_cast<float>(row[j] * gain[j]);
  }
  return Tensor::from_floats(x, {n, in});
}

// G = X^T X in double, straight from the definition.
inline std::vector<double> gram_reference(const Tensor& x) {
  const int64_t n = x.dim(0), in = x.dim(1);
  const float* xd = x.data<float>();
  std::vector<double> g(static_cast<size_t>(in * in), 0.0);
  for (int64_t r = 0; r < n; ++r) {
    const float* row = xd + r * in;
    for (int64_t i = 0; i < in; ++i) {
      const double xi = row[i];
      double* gi = g.data() + i * in;
      for (int64_t j = 0; j <= i; ++j) gi[j] += xi * double(row[j]);
    }
  }
  for (int64_t i = 0; i < in; ++i)
    for (int64_t j = 0; j < i; ++j) g[j * in + i] = g[i * in + j];
  return g;
}

// The double Hessian tensor (2 / n) G.
inline Tensor hessian_of(const std::vector<double>& gram, int64_t in, int64_t n) {
  std::vector<double> h(gram.size());
  for (size_t k = 0; k < h.size(); ++k) h[k] = 2.0 * gram[k] / double(n);
  return Tensor::from_vector(h, {in, in});
}

// ||X W^T - X Q^T||_F^2 = sum over rows r of d_r^T G d_r, d = W - Q, in double.
inline double output_error(const std::vector<double>& gram, const Tensor& w, const Tensor& q) {
  const int64_t out = w.dim(0), in = w.dim(1);
  const float* wd = w.data<float>();
  const float* qd = q.data<float>();
  double total = 0;
  std::vector<double> d(static_cast<size_t>(in));
  for (int64_t r = 0; r < out; ++r) {
    for (int64_t i = 0; i < in; ++i) d[i] = double(wd[r * in + i]) - double(qd[r * in + i]);
    for (int64_t i = 0; i < in; ++i) {
      double s = 0;
      for (int64_t j = 0; j < in; ++j) s += gram[i * in + j] * d[j];
      total += d[i] * s;
    }
  }
  return total;
}

// Every code of q lies on its spec's grid.
inline void expect_codes_on_grid(const GroupQuantizedWeight& q) {
  const QuantLimits lim = quant_limits(q.spec);
  const bool is_u8 = q.codes.dtype() == DType::U8;
  ASSERT_EQ(q.codes.dtype(), q.spec.dtype == DType::U8 ? DType::U8 : DType::I8);
  const auto* raw = static_cast<const uint8_t*>(q.codes.raw_data());
  int64_t off_grid = 0;
  for (int64_t i = 0; i < q.codes.numel(); ++i) {
    const int c = is_u8 ? int(raw[i]) : int(int8_t(raw[i]));
    off_grid += c < lim.qmin || c > lim.qmax;
  }
  EXPECT_EQ(off_grid, 0) << to_string(q.spec);
  const float* s = q.scales.data<float>();
  for (int64_t i = 0; i < q.scales.numel(); ++i) ASSERT_TRUE(std::isfinite(s[i]) && s[i] > 0) << i;
}

template <typename Fn>
void expect_quantize_error(Fn&& fn, const std::string& what, const std::string& needle = "") {
  try {
    fn();
    ADD_FAILURE() << what << ": no error thrown";
  } catch (const Error& e) {
    EXPECT_EQ(e.tag(), "quantize") << what << ": " << e.what();
    if (!needle.empty()) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  }
}

}  // namespace octet::solver_testing
