// Helpers for the CUDA tests: the visible "skipped: no GPU" rule, a fixture
// with a stream, seeded inputs, rounding-error constants and an element-wise
// comparison that reports the worst element.
//
// Every test that needs a GPU starts with OCTET_REQUIRE_GPU() (or derives
// from CudaTest), so without one ctest lists it as Skipped and the log shows
// "skipped: no GPU (<the CUDA runtime's reason>)".
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "octet/cuda.h"
#include "octet/device.h"
#include "octet/tensor.h"

namespace octet::cuda::testing {

// "skipped: no GPU (CUDA driver version is insufficient ...)".
std::string no_gpu_message();

#define OCTET_REQUIRE_GPU()                                                                       \
  do {                                                                                            \
    if (!::octet::cuda::gpu_available()) GTEST_SKIP() << ::octet::cuda::testing::no_gpu_message(); \
  } while (0)

class CudaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    OCTET_REQUIRE_GPU();
    stream_ = std::make_unique<Stream>();
  }
  const Stream& stream() const { return *stream_; }

 private:
  std::unique_ptr<Stream> stream_;
};

// Unit roundoffs (round to nearest): |fl(x) - x| <= u |x|.
inline constexpr double kU32 = 0x1p-24;
inline constexpr double kU16 = 0x1p-11;   // fp16: 10 stored mantissa bits
inline constexpr double kUBf16 = 0x1p-8;  // bf16: 7 stored mantissa bits

// Unit roundoff of storing a result as `dtype` (0 for f32 results, whose
// rounding the f32 terms of each bound already count).
inline double output_roundoff(DType dtype) {
  return dtype == DType::F16 ? kU16 : dtype == DType::BF16 ? kUBf16 : 0.0;
}

// Higham's gamma_n = n u / (1 - n u): a sum of n terms in precision u, in any
// order, with or without FMA, is within gamma_n * sum |terms| of the exact sum.
inline double gamma_n(double n, double u = kU32) { return n * u / (1.0 - n * u); }

// Uniform values in [lo, hi), fixed seed, rounded to `dtype` and back, so the
// f32 copy is exactly what the GPU reads.
inline Tensor random_values(Shape shape, uint32_t seed, DType dtype = DType::F32, float lo = -1.0f, float hi = 1.0f) {
  Tensor t = Tensor::empty(std::move(shape), DType::F32);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  for (float& v : t.span<float>()) v = dist(rng);
  return dtype == DType::F32 ? t : t.to(dtype).to(DType::F32);
}

// A host f32 copy of any float device tensor.
inline Tensor download_f32(const DeviceTensor& t, const Stream& stream) {
  const Tensor host = t.download(stream);
  return host.dtype() == DType::F32 ? host : host.to(DType::F32);
}

// Expects |actual[i] - expected[i]| <= tolerance(i) for every i; reports the
// element with the largest error relative to its tolerance.
void expect_within(const Tensor& actual, const Tensor& expected, const std::function<double(int64_t)>& tolerance,
                   const std::string& what);

// A reference result in double with, per element, a bound on how far the
// GPU's f32 computation of it may be (before the output is stored).
struct Reference {
  Shape shape;
  std::vector<double> value, tol;
  int64_t cols() const { return shape.back(); }
  int64_t rows() const { return int64_t(value.size()) / cols(); }
};

// A float output: |gpu - value| <= tol + u_out (|value| + tol), u_out the
// roundoff of storing as `dtype`.
void expect_float_output(const DeviceTensor& y, const Reference& ref, const Stream& stream, const std::string& what);

// Per-token scales: amax / levels is monotonic in amax, so each row's scale
// lies between the scales of max(|value| - tol) and max(|value| + tol).
void expect_row_scales(const Tensor& scales, DType dtype, const Reference& ref, const std::string& what);

// Quantized codes: quantization (x * (1/scale), round, clamp or saturate) is
// monotonic in x, so each code lies between the codes of value - tol and
// value + tol under the scale the GPU used (row_scales: one per row, or one).
void expect_codes(const Tensor& codes, const Tensor& row_scales, const Reference& ref, const std::string& what);

}  // namespace octet::cuda::testing
