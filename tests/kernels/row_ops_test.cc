// Fast row kernels (AVX2, AVX-512, and whatever dispatch picks) against the
// scalar reference, over row lengths that are and are not multiples of 8 and
// 16 (every tail length of both vector widths occurs), with the
// tolerances derived in row_ops_bounds.cc.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "kernel_test_util.h"
#include "octet/kernels.h"
#include "row_ops_bounds.h"

namespace octet::kernels::row_ops_test {
namespace {

using testing::expect_within;
using testing::random_tensor;
using testing::Variant;

struct RowCase {
  Variant variant;
  int64_t cols;
};

std::string case_name(const ::testing::TestParamInfo<RowCase>& info) {
  return std::string(info.param.variant.name) + "_" + std::to_string(info.param.cols);
}

std::vector<RowCase> row_cases() {
  std::vector<RowCase> cases;
  for (const Variant& v : testing::row_variants())
    for (int64_t cols : {1, 3, 7, 8, 9, 15, 16, 17, 31, 64, 100, 127, 768, 1000, 3072}) cases.push_back({v, cols});
  return cases;
}

// Enough rows that large rows spread over several pool tasks.
int64_t rows_for(int64_t cols) { return std::clamp<int64_t>(60000 / cols, 3, 2000); }

std::function<double(int64_t)> from(const std::vector<double>& tol) {
  return [&tol](int64_t i) { return tol[static_cast<size_t>(i)]; };
}

class RowOps : public ::testing::TestWithParam<RowCase> {
 protected:
  void SetUp() override {
    if (const char* why = testing::row_variant_unsupported(variant())) GTEST_SKIP() << why;
  }
  const Variant& variant() const { return GetParam().variant; }
  int64_t cols() const { return GetParam().cols; }
  int64_t rows() const { return rows_for(cols()); }
};

TEST_P(RowOps, LayerNorm) {
  Tensor x = random_tensor({rows(), cols()}, 1, -2.0f, 2.0f);
  // Every other row sits on a large offset: the mean/variance cancellation case.
  for (int64_t r = 0; r < rows(); r += 2)
    for (int64_t i = 0; i < cols(); ++i) x.data<float>()[r * cols() + i] += 50.0f;
  const Tensor gamma = random_tensor({cols()}, 2, 0.5f, 1.5f);
  const Tensor beta = random_tensor({cols()}, 3, -0.5f, 0.5f);
  for (float eps : {1e-5f, 1e-12f}) {
    Tensor expected, actual;
    testing::with_reference([&] { layer_norm(x, gamma, beta, eps, expected); });
    testing::with_variant(variant(), [&] { layer_norm(x, gamma, beta, eps, actual); });
    const auto tol = testing::layer_norm_tolerance(x.data<float>(), gamma.data<float>(), expected.data<float>(), eps,
                                                   rows(), cols());
    expect_within(actual, expected, from(tol), "layer_norm eps " + std::to_string(eps));
  }
}

TEST_P(RowOps, AddLayerNormMatchesLayerNormOfSum) {
  const Tensor x = random_tensor({rows(), cols()}, 4, -3.0f, 3.0f);
  const Tensor residual = random_tensor({rows(), cols()}, 5, -3.0f, 3.0f);
  const Tensor gamma = random_tensor({cols()}, 6, 0.5f, 1.5f);
  const Tensor beta = random_tensor({cols()}, 7, -0.5f, 0.5f);
  Tensor sum_exact = Tensor::empty({rows(), cols()}, DType::F32);
  for (int64_t i = 0; i < x.numel(); ++i) sum_exact.data<float>()[i] = x.data<float>()[i] + residual.data<float>()[i];
  Tensor expected, actual, sum, actual_no_sum;
  testing::with_reference([&] { layer_norm(sum_exact, gamma, beta, 1e-5f, expected); });
  testing::with_variant(variant(), [&] {
    add_layer_norm(x, residual, gamma, beta, 1e-5f, actual, &sum);
    add_layer_norm(x, residual, gamma, beta, 1e-5f, actual_no_sum);
  });
  // The sum is one correctly rounded add either way: bit-exact.
  expect_within(sum, sum_exact, [](int64_t) { return 0.0; }, "add_layer_norm sum");
  const auto tol = testing::layer_norm_tolerance(sum_exact.data<float>(), gamma.data<float>(), expected.data<float>(),
                                                 1e-5f, rows(), cols());
  expect_within(actual, expected, from(tol), "add_layer_norm");
  expect_within(actual_no_sum, actual, [](int64_t) { return 0.0; }, "add_layer_norm without sum output");
}

TEST_P(RowOps, RmsNorm) {
  const Tensor x = random_tensor({rows(), cols()}, 8, -4.0f, 4.0f);
  const Tensor weight = random_tensor({cols()}, 9, -1.5f, 1.5f);
  for (bool unit_offset : {false, true}) {
    Tensor expected, actual;
    testing::with_reference([&] { rms_norm(x, weight, 1e-6f, unit_offset, expected); });
    testing::with_variant(variant(), [&] { rms_norm(x, weight, 1e-6f, unit_offset, actual); });
    const auto tol = testing::rms_norm_tolerance(x.data<float>(), weight.data<float>(), unit_offset,
                                                 expected.data<float>(), 1e-6f, rows(), cols());
    expect_within(actual, expected, from(tol), unit_offset ? "rms_norm (1 + w)" : "rms_norm");
  }
}

TEST_P(RowOps, SoftmaxWithMaskAndScale) {
  const int64_t rows = this->rows(), cols = this->cols();
  const Tensor x = random_tensor({rows, cols}, 10, -8.0f, 8.0f);
  // A mask per row: some -inf, some large finite negatives, some mild values;
  // row 1 masked entirely.
  Tensor mask = random_tensor({rows, cols}, 11, -2.0f, 2.0f);
  float* m = mask.data<float>();
  for (int64_t i = 0; i < mask.numel(); ++i) {
    if (i % 5 == 1) m[i] = -std::numeric_limits<float>::infinity();
    if (i % 7 == 3) m[i] = -1e4f;
  }
  for (int64_t i = 0; i < cols; ++i) m[cols + i] = -std::numeric_limits<float>::infinity();
  for (const bool with_mask : {false, true}) {
    const Tensor mk = with_mask ? mask : Tensor();
    Tensor expected, actual;
    testing::with_reference([&] { softmax(x, expected, 0.7f, mk); });
    testing::with_variant(variant(), [&] { softmax(x, actual, 0.7f, mk); });
    std::vector<const float*> mask_rows;
    if (with_mask)
      for (int64_t r = 0; r < rows; ++r) mask_rows.push_back(m + r * cols);
    const auto tol = testing::softmax_tolerance(x.data<float>(), mask_rows, 0.7f, expected.data<float>(), rows, cols);
    expect_within(actual, expected, from(tol), with_mask ? "softmax masked" : "softmax");
    // Masked entries are exactly 0; every row sums to 1 within gamma_{n+2}
    // (sum y^ = sum e^ (1+d_i) / (sum e^ (1+theta)), whatever exp's error).
    const float* y = actual.data<float>();
    for (int64_t r = 0; r < rows; ++r) {
      double sum = 0.0;
      bool all_masked = with_mask;
      for (int64_t i = 0; i < cols; ++i) {
        sum += y[r * cols + i];
        if (with_mask && std::isinf(m[r * cols + i])) {
          ASSERT_EQ(y[r * cols + i], 0.0f) << "row " << r << " col " << i;
        } else {
          all_masked = false;
        }
      }
      if (all_masked) {
        EXPECT_EQ(sum, 0.0) << "fully masked row " << r;
      } else {
        EXPECT_NEAR(sum, 1.0, testing::gamma_n(cols + 2)) << "row " << r;
      }
    }
  }
}

TEST_P(RowOps, Activations) {
  const int64_t n = rows() * cols();
  Tensor x = random_tensor({rows(), cols()}, 12, -10.0f, 10.0f);
  // Special points: zeros, tiny values, saturation of exp.
  const float specials[] = {0.0f, -0.0f, 1e-30f, -1e-30f, 1e-8f, 100.0f, -100.0f, 60.0f, -60.0f};
  for (size_t i = 0; i < std::size(specials) && static_cast<int64_t>(i) < n; ++i) x.data<float>()[i] = specials[i];
  for (Activation act :
       {Activation::Gelu, Activation::GeluTanh, Activation::QuickGelu, Activation::Relu, Activation::Silu}) {
    Tensor expected, actual;
    testing::with_reference([&] { activation(act, x, expected); });
    testing::with_variant(variant(), [&] { activation(act, x, actual); });
    const auto tol = testing::activation_tolerance(act, x.data<float>(), expected.data<float>(), n);
    expect_within(actual, expected, from(tol), std::string(activation_name(act)));
  }
}

TEST_P(RowOps, AddAndMulAreExact) {
  const Tensor a = random_tensor({rows(), cols()}, 13);
  const Tensor b = random_tensor({rows(), cols()}, 14);
  const Tensor row = random_tensor({cols()}, 15);
  for (const Tensor* rhs : {&b, &row}) {
    Tensor expected_add, expected_mul, actual_add, actual_mul;
    testing::with_reference([&] {
      add(a, *rhs, expected_add);
      mul(a, *rhs, expected_mul);
    });
    testing::with_variant(variant(), [&] {
      add(a, *rhs, actual_add);
      mul(a, *rhs, actual_mul);
    });
    expect_within(actual_add, expected_add, [](int64_t) { return 0.0; }, "add");
    expect_within(actual_mul, expected_mul, [](int64_t) { return 0.0; }, "mul");
  }
}

// A NaN logit makes its whole row NaN (exp(NaN) enters the sum), as in the
// reference; rows without NaN, and fully masked rows, are unaffected. (A row
// of NaN alone has no defined result: the max ignores NaN in some lanes.)
TEST_P(RowOps, SoftmaxNaNPoisonsOnlyItsRow) {
  const int64_t rows = 3, cols = this->cols();
  const bool poisoned = cols >= 2;  // needs a finite logit beside the NaN
  Tensor x = random_tensor({rows, cols}, 16, -4.0f, 4.0f);
  Tensor mask = Tensor::empty({rows, cols}, DType::F32);
  for (int64_t i = 0; i < mask.numel(); ++i)
    mask.data<float>()[i] = i / cols == 2 ? -std::numeric_limits<float>::infinity() : 0.0f;
  if (poisoned) x.data<float>()[cols - 1] = std::numeric_limits<float>::quiet_NaN();  // row 0, last (tail) element
  Tensor expected, actual;
  testing::with_reference([&] { softmax(x, expected, 1.0f, mask); });
  testing::with_variant(variant(), [&] { softmax(x, actual, 1.0f, mask); });
  const float* y = actual.data<float>();
  for (int64_t i = 0; i < cols; ++i) {
    ASSERT_EQ(std::isnan(expected.data<float>()[i]), poisoned) << "reference, col " << i;
    ASSERT_EQ(std::isnan(y[i]), poisoned) << "row 0 col " << i;
    ASSERT_FALSE(std::isnan(y[cols + i])) << "row 1 col " << i;
    ASSERT_EQ(y[2 * cols + i], 0.0f) << "fully masked row 2 col " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Variants, RowOps, ::testing::ValuesIn(row_cases()), case_name);

}  // namespace
}  // namespace octet::kernels::row_ops_test
