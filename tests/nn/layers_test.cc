// nn blocks against manual computation: Linear and MLP in double with error
// bounds propagated through each stage; norms and embedding against the kernel
// calls they wrap; constructor checks.
#include <gtest/gtest.h>

#include <cmath>

#include "kernels/kernel_test_util.h"
#include "kernels/parity_fixture.h"
#include "kernels/row_ops_bounds.h"
#include "octet/nn.h"

namespace octet::nn {
namespace {

using kernels::Activation;
using kernels::testing::gamma_n;
using kernels::testing::kU;
using kernels::testing::random_tensor;

// A value computed in double together with a bound on how far the f32
// pipeline's result may be from it.
struct Bounded {
  std::vector<double> value, error;
  Shape shape;
};

Bounded exact(const Tensor& t) {
  Bounded b{std::vector<double>(t.span<float>().begin(), t.span<float>().end()), std::vector<double>(t.numel(), 0.0),
            t.shape()};
  return b;
}

// y = x W^T + bias in double. The f32 GEMM adds gamma_{in+3} (sum |x||w| + |b|)
// (Higham, as in tests/kernels/gemm_test.cc) and carries x's error through |W|.
Bounded linear_exact(const Bounded& x, const Linear& lin) {
  const int64_t in = lin.in_features(), out = lin.out_features(), rows = static_cast<int64_t>(x.value.size()) / in;
  const float* w = lin.weight().data<float>();
  const float* bias = lin.has_bias() ? lin.bias().data<float>() : nullptr;
  Bounded y{std::vector<double>(rows * out), std::vector<double>(rows * out), x.shape};
  y.shape.back() = out;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < out; ++o) {
      double acc = bias ? bias[o] : 0.0, abs = bias ? std::fabs(bias[o]) : 0.0, carried = 0.0;
      for (int64_t i = 0; i < in; ++i) {
        acc += x.value[r * in + i] * w[o * in + i];
        abs += std::fabs(x.value[r * in + i] * w[o * in + i]);
        carried += x.error[r * in + i] * std::fabs(w[o * in + i]);
      }
      y.value[r * out + o] = acc;
      y.error[r * out + o] = gamma_n(in + 3) * (abs + carried) + carried;
    }
  return y;
}

double act_exact(Activation a, double x) {
  switch (a) {
    case Activation::Gelu: return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
    case Activation::GeluTanh: return 0.5 * x * (1 + std::tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
    case Activation::QuickGelu: return x / (1 + std::exp(-1.702 * x));
    case Activation::Relu: return x < 0 ? 0 : x;
    case Activation::Silu: return x / (1 + std::exp(-x));
  }
  return 0;
}

// act(h): the input's error times the activation's Lipschitz constant (|act'|
// <= 1.13 for all five: gelu's peak slope is 1.129), plus the kernel's own
// bound from tests/kernels/row_ops_bounds.h.
Bounded activation_exact(const Bounded& h, Activation a) {
  Bounded y = h;
  for (size_t i = 0; i < h.value.size(); ++i) {
    y.value[i] = act_exact(a, h.value[i]);
    const float hf = static_cast<float>(h.value[i]), yf = static_cast<float>(y.value[i]);
    const double own = kernels::testing::activation_tolerance(a, &hf, &yf, 1)[0];
    y.error[i] = 1.13 * h.error[i] + own + kU * std::fabs(y.value[i]);
  }
  return y;
}

Bounded mul_exact(const Bounded& a, const Bounded& b) {
  Bounded y = a;
  for (size_t i = 0; i < a.value.size(); ++i) {
    y.value[i] = a.value[i] * b.value[i];
    y.error[i] = std::fabs(a.value[i]) * b.error[i] + std::fabs(b.value[i]) * a.error[i] + a.error[i] * b.error[i] +
                 kU * std::fabs(y.value[i]);
  }
  return y;
}

void expect_bounded(const Tensor& actual, const Bounded& expected, const std::string& what) {
  ASSERT_EQ(actual.shape(), expected.shape) << what;
  for (int64_t i = 0; i < actual.numel(); ++i) {
    const double err = std::fabs(actual.data<float>()[i] - expected.value[i]);
    ASSERT_LE(err, kernels::testing::kSecondOrder * expected.error[i]) << what << " element " << i;
  }
}

Linear make_linear(int64_t out, int64_t in, uint32_t seed, bool bias = true) {
  return Linear(random_tensor({out, in}, seed, -0.5f, 0.5f), bias ? random_tensor({out}, seed + 1000) : Tensor());
}

TEST(Linear, ForwardMatchesDoubleWithinBound) {
  const Tensor x = random_tensor({2, 5, 33}, 1, -2.0f, 2.0f);
  for (bool bias : {false, true}) {
    const Linear lin = make_linear(17, 33, 2, bias);
    EXPECT_EQ(lin.in_features(), 33);
    EXPECT_EQ(lin.out_features(), 17);
    expect_bounded(lin.forward(x), linear_exact(exact(x), lin), bias ? "linear with bias" : "linear");
  }
}

TEST(Linear, RejectsBadWeights) {
  EXPECT_THROW(Linear(random_tensor({4}, 1)), Error);
  EXPECT_THROW(Linear(random_tensor({4, 3}, 1), random_tensor({3}, 2)), Error);
  EXPECT_THROW(Linear(random_tensor({4, 3}, 1).to(DType::F16)), Error);
  EXPECT_THROW(make_linear(4, 3, 1).forward(random_tensor({2, 4}, 3)), Error);
}

TEST(Norms, WrapTheKernels) {
  const Tensor x = random_tensor({3, 4, 40}, 4), r = random_tensor({3, 4, 40}, 5);
  const Tensor g = random_tensor({40}, 6), b = random_tensor({40}, 7);
  const LayerNorm ln(g, b, 1e-12f);
  const Tensor y = ln.forward(x);
  const Tensor expected = kernels::layer_norm(x, g, b, 1e-12f);
  for (int64_t i = 0; i < y.numel(); ++i) ASSERT_EQ(y.data<float>()[i], expected.data<float>()[i]);
  Tensor sum;
  const Tensor y2 = ln.forward(x, r, &sum);
  const Tensor expected2 = kernels::layer_norm(kernels::add(x, r), g, b, 1e-12f);
  for (int64_t i = 0; i < y2.numel(); ++i) ASSERT_EQ(y2.data<float>()[i], expected2.data<float>()[i]);
  const RMSNorm rms(g, 1e-6f, true);
  const Tensor z = rms.forward(x);
  const Tensor expected3 = kernels::rms_norm(x, g, 1e-6f, true);
  for (int64_t i = 0; i < z.numel(); ++i) ASSERT_EQ(z.data<float>()[i], expected3.data<float>()[i]);
  EXPECT_THROW(LayerNorm(g, random_tensor({39}, 8)), Error);
  EXPECT_THROW(RMSNorm(random_tensor({2, 20}, 9)), Error);
  EXPECT_THROW(ln.forward(random_tensor({2, 41}, 10)), Error);
}

TEST(Embedding, LooksUpRows) {
  const Tensor table = random_tensor({11, 8}, 11);
  const Embedding emb(table);
  EXPECT_EQ(emb.vocab_size(), 11);
  EXPECT_EQ(emb.hidden_size(), 8);
  const Tensor out = emb.forward(Tensor::from_vector<int64_t>({10, 0, 4}, {1, 3}));
  ASSERT_EQ(out.shape(), (Shape{1, 3, 8}));
  for (int64_t t = 0; t < 8; ++t) EXPECT_EQ(out.data<float>()[t], table.data<float>()[80 + t]);
  EXPECT_THROW(emb.forward(Tensor::from_vector<int64_t>({11}, {1})), Error);
}

TEST(MLP, PlainAndGatedMatchDoubleWithinBound) {
  const Tensor x = random_tensor({2, 3, 24}, 12, -2.0f, 2.0f);
  for (Activation act :
       {Activation::Gelu, Activation::GeluTanh, Activation::QuickGelu, Activation::Relu, Activation::Silu}) {
    const MLP plain(make_linear(40, 24, 13), make_linear(24, 40, 14), act);
    EXPECT_FALSE(plain.is_gated());
    const Bounded h = activation_exact(linear_exact(exact(x), plain.fc1()), act);
    expect_bounded(plain.forward(x), linear_exact(h, plain.fc2()),
                   "mlp " + std::string(kernels::activation_name(act)));

    const MLP gated = MLP::gated(make_linear(40, 24, 15, false), make_linear(40, 24, 16, false),
                                 make_linear(24, 40, 17, false), act);
    ASSERT_TRUE(gated.is_gated());
    const Bounded g = activation_exact(linear_exact(exact(x), gated.fc1()), act);
    const Bounded m = mul_exact(g, linear_exact(exact(x), *gated.up()));
    expect_bounded(gated.forward(x), linear_exact(m, gated.fc2()),
                   "gated mlp " + std::string(kernels::activation_name(act)));
  }
}

TEST(MLP, TorchParityGatedSilu) {
  // LLaMA's down(silu(gate(x)) * up(x)) in torch float64 (tests/data/gen_kernels_parity.py).
  const auto& c = kernels::testing::parity_case("gated_mlp");
  auto t = [&](const char* name) { return kernels::testing::parity_tensor(c, name); };
  const Tensor x = t("x");
  const MLP mlp = MLP::gated(Linear(t("gate")), Linear(t("up")), Linear(t("down")), kernels::parse_activation("silu"));
  const Bounded g = activation_exact(linear_exact(exact(x), mlp.fc1()), Activation::Silu);
  const Bounded e = linear_exact(mul_exact(g, linear_exact(exact(x), *mlp.up())), mlp.fc2());
  const Tensor y = mlp.forward(x);
  const std::vector<double> torch_values = kernels::testing::parity_values(c, "y");
  for (int64_t i = 0; i < y.numel(); ++i) {
    const double torch = torch_values[i];
    ASSERT_NEAR(e.value[i], torch, 1e-11 * std::fabs(torch) + 1e-14) << i;  // independent double evaluations agree
    ASSERT_LE(std::fabs(y.data<float>()[i] - torch), kernels::testing::kSecondOrder * e.error[i]) << i;
  }
}

TEST(MLP, RejectsMismatchedProjections) {
  EXPECT_THROW(MLP(make_linear(40, 24, 1), make_linear(24, 41, 2), Activation::Gelu), Error);
  EXPECT_THROW(MLP(make_linear(40, 24, 1), make_linear(23, 40, 2), Activation::Gelu), Error);
  EXPECT_THROW(MLP::gated(make_linear(40, 24, 1), make_linear(40, 23, 2), make_linear(24, 40, 3), Activation::Silu),
               Error);
}

}  // namespace
}  // namespace octet::nn
