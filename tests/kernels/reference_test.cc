// The scalar reference kernels against hand-computed answers and an
// independent long-double evaluation: they are what the fast kernels are
// measured against, so they are checked on their own first.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "kernel_test_util.h"
#include "octet/kernels.h"

namespace octet::kernels {
namespace {

using testing::random_tensor;

Tensor vec(std::vector<float> v) {
  const int64_t n = static_cast<int64_t>(v.size());
  return Tensor::from_floats(v, {n});
}

// Runs `fn` on the reference kernels and returns its output.
template <typename Fn>
Tensor ref(Fn&& fn) {
  Tensor out;
  testing::with_reference([&] { out = fn(); });
  return out;
}

TEST(Reference, LayerNormKnownValues) {
  // x = [1 2 3 4]: mean 2.5, biased variance 1.25, so x^ = (x - 2.5) / sqrt(1.25).
  const Tensor y = ref([] { return layer_norm(vec({1, 2, 3, 4}).reshape({1, 4}), vec({1, 1, 2, 1}),
                                             vec({0, 0, 0, 10}), 0.0f); });
  const double s = std::sqrt(1.25);
  EXPECT_FLOAT_EQ(y.data<float>()[0], static_cast<float>(-1.5 / s));
  EXPECT_FLOAT_EQ(y.data<float>()[1], static_cast<float>(-0.5 / s));
  EXPECT_FLOAT_EQ(y.data<float>()[2], static_cast<float>(2 * 0.5 / s));
  EXPECT_FLOAT_EQ(y.data<float>()[3], static_cast<float>(1.5 / s + 10));
  // eps inside the square root: a constant row maps to beta.
  const Tensor c = ref([] { return layer_norm(vec({3, 3, 3}), vec({2, 2, 2}), vec({1, 2, 3}), 1e-5f); });
  EXPECT_EQ(c.data<float>()[0], 1.0f);
  EXPECT_EQ(c.data<float>()[2], 3.0f);
}

TEST(Reference, LayerNormMatchesLongDouble) {
  const int64_t n = 97;
  const Tensor x = random_tensor({4, n}, 1, -3.0f, 5.0f), g = random_tensor({n}, 2), b = random_tensor({n}, 3);
  const Tensor y = ref([&] { return layer_norm(x, g, b, 1e-5f); });
  for (int64_t r = 0; r < 4; ++r) {
    long double sum = 0, sq = 0;
    for (int64_t i = 0; i < n; ++i) sum += x.data<float>()[r * n + i];
    const long double mean = sum / n;
    for (int64_t i = 0; i < n; ++i) sq += (x.data<float>()[r * n + i] - mean) * (x.data<float>()[r * n + i] - mean);
    const long double rstd = 1.0L / std::sqrt(sq / n + static_cast<long double>(1e-5f));
    for (int64_t i = 0; i < n; ++i) {
      const long double e = (x.data<float>()[r * n + i] - mean) * rstd * g.data<float>()[i] + b.data<float>()[i];
      // One f32 rounding of a double-accurate value.
      EXPECT_NEAR(y.data<float>()[r * n + i], static_cast<double>(e), 1.01 * testing::kU * std::fabs(double(e)) + 1e-12);
    }
  }
}

TEST(Reference, RmsNormKnownValues) {
  // x = [3 4]: mean square 12.5.
  const Tensor y = ref([] { return rms_norm(vec({3, 4}), vec({1, 2}), 0.0f); });
  EXPECT_FLOAT_EQ(y.data<float>()[0], static_cast<float>(3 / std::sqrt(12.5)));
  EXPECT_FLOAT_EQ(y.data<float>()[1], static_cast<float>(8 / std::sqrt(12.5)));
  // unit_offset: weight 0 means scale 1.
  const Tensor z = ref([] { return rms_norm(vec({3, 4}), vec({0, 1}), 0.0f, true); });
  EXPECT_FLOAT_EQ(z.data<float>()[0], static_cast<float>(3 / std::sqrt(12.5)));
  EXPECT_FLOAT_EQ(z.data<float>()[1], static_cast<float>(8 / std::sqrt(12.5)));
}

TEST(Reference, SoftmaxKnownValues) {
  const float inf = std::numeric_limits<float>::infinity();
  // exp of [0, ln 2, ln 3] is [1, 2, 3]: probabilities 1/6, 1/3, 1/2.
  const Tensor y = ref([] { return softmax(vec({0, std::log(2.0f), std::log(3.0f)})); });
  EXPECT_FLOAT_EQ(y.data<float>()[0], 1.0f / 6);
  EXPECT_FLOAT_EQ(y.data<float>()[1], 1.0f / 3);
  EXPECT_FLOAT_EQ(y.data<float>()[2], 0.5f);
  // scale and mask: softmax(2 * [1, 1, 5] + [0, 0, -inf]) = [1/2, 1/2, 0].
  const Tensor m = ref([&] { return softmax(vec({1, 1, 5}), 2.0f, vec({0, 0, -inf})); });
  EXPECT_EQ(m.data<float>()[0], 0.5f);
  EXPECT_EQ(m.data<float>()[2], 0.0f);
  // Every entry masked: zeros.
  const Tensor z = ref([&] { return softmax(vec({1, 2}), 1.0f, vec({-inf, -inf})); });
  EXPECT_EQ(z.data<float>()[0], 0.0f);
  EXPECT_EQ(z.data<float>()[1], 0.0f);
}

TEST(Reference, ActivationKnownValues) {
  const Tensor x = vec({-1, 0, 1, 2});
  auto run = [&](Activation a) { return ref([&] { return activation(a, x); }); };
  // Phi(1) = 0.841344746068543, Phi(2) = 0.977249868051821.
  const Tensor gelu = run(Activation::Gelu);
  EXPECT_FLOAT_EQ(gelu.data<float>()[0], -0.158655253931457f);
  EXPECT_EQ(gelu.data<float>()[1], 0.0f);
  EXPECT_FLOAT_EQ(gelu.data<float>()[2], 0.841344746068543f);
  EXPECT_FLOAT_EQ(gelu.data<float>()[3], 2 * 0.977249868051821f);
  // tanh form at 1: 0.5 (1 + tanh(0.7978845608 * 1.044715)) = 0.841191990607...
  EXPECT_FLOAT_EQ(run(Activation::GeluTanh).data<float>()[2], 0.8411919906082768f);
  // x sigmoid(1.702 x) at 1: 1 / (1 + e^-1.702) = 0.845796...
  EXPECT_FLOAT_EQ(run(Activation::QuickGelu).data<float>()[2], static_cast<float>(1 / (1 + std::exp(-1.702))));
  const Tensor silu = run(Activation::Silu);
  EXPECT_FLOAT_EQ(silu.data<float>()[2], 0.731058578630005f);
  EXPECT_FLOAT_EQ(silu.data<float>()[0], -0.268941421369995f);
  const Tensor relu = run(Activation::Relu);
  EXPECT_EQ(relu.data<float>()[0], 0.0f);
  EXPECT_EQ(relu.data<float>()[3], 2.0f);
}

TEST(Reference, ActivationNamesFollowHuggingFace) {
  EXPECT_EQ(parse_activation("gelu"), Activation::Gelu);
  EXPECT_EQ(parse_activation("gelu_new"), Activation::GeluTanh);
  EXPECT_EQ(parse_activation("gelu_pytorch_tanh"), Activation::GeluTanh);
  EXPECT_EQ(parse_activation("gelu_fast"), Activation::GeluTanh);
  EXPECT_EQ(parse_activation("quick_gelu"), Activation::QuickGelu);
  EXPECT_EQ(parse_activation("relu"), Activation::Relu);
  EXPECT_EQ(parse_activation("silu"), Activation::Silu);
  EXPECT_EQ(parse_activation("swish"), Activation::Silu);
  for (auto a : {Activation::Gelu, Activation::GeluTanh, Activation::QuickGelu, Activation::Relu, Activation::Silu})
    EXPECT_EQ(parse_activation(activation_name(a)), a);
  try {
    parse_activation("gelu_10");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.tag(), "activation");
    EXPECT_NE(std::string(e.what()).find("gelu_10"), std::string::npos);
  }
}

}  // namespace
}  // namespace octet::kernels
