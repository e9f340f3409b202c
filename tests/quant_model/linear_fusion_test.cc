// Fusions of quantized Linears (octet/nn_sites.h LinearKernel hooks, used by
// nn::MLP and nn::MultiHeadAttention): activation in the int8 epilogue, the
// epilogue requantizing straight into the next Linear's input codes, and one
// quantized input shared by Linears of the same input format. Each fused path
// is checked bit for bit against the unfused steps it replaces.
#include <gtest/gtest.h>

#include <cmath>

#include "octet/nn.h"
#include "quant_model/quant_model_test_util.h"

namespace octet {
namespace {

nn::Linear random_linear(int64_t out, int64_t in, uint64_t seed) {
  return nn::Linear(Tensor::from_floats(testing::random_floats(size_t(out * in), seed, 0.2f), {out, in}),
                    Tensor::from_floats(testing::random_floats(size_t(out), seed + 1, 0.3f), {out}));
}

QuantizedLinear quantize_linear(const nn::Linear& l, const ActivationQuant& input) {
  QuantizedLinear q;
  q.name = "test";
  q.weight_spec = kInt8PerChannelWeights;
  const QuantParams p = compute_qparams(l.weight(), q.weight_spec);
  q.weight = quantize(l.weight(), q.weight_spec, p);
  q.weight_scale = p.scale.contiguous().reshape({l.out_features()});
  q.input = input;
  return q;
}

ActivationQuant static_input(float scale, bool affine = false, int32_t zero_point = 0) {
  ActivationQuant a;
  a.scale = scale;
  if (affine) {
    a.spec = parse_quant_spec("int8:affine:per_tensor");
    a.zero_point = zero_point;
  }
  return a;
}

void install(nn::Linear& l, const ActivationQuant& input, QuantExecution exec = QuantExecution::Native) {
  l.set_kernel(make_quantized_linear_kernel(quantize_linear(l, input), l.bias(), exec));
}

void expect_identical(const Tensor& a, const Tensor& b, const std::string& what) {
  ASSERT_EQ(a.shape(), b.shape()) << what;
  for (int64_t i = 0; i < a.numel(); ++i) ASSERT_EQ(a.data<float>()[i], b.data<float>()[i]) << what << " at " << i;
}

const Tensor kInput = Tensor::from_floats(testing::random_floats(2 * 9 * 48, 5, 2.0f), {2, 9, 48});

// fc1's epilogue applying GELU equals GELU applied after the GEMM within the
// accuracy of the two GELU implementations (a few ulps of |y| plus the
// epilogue's own approximation error, ~1e-6 absolute), and the requantizing
// pair fc1 -> GELU -> fc2 equals fc2 run on fc1's fused-GELU output exactly:
// the requantizer applies the same rule to the same f32 values.
TEST(LinearFusion, GeluEpilogueAndRequantizedPairMatchTheUnfusedSteps) {
  // fc2's input: symmetric; symmetric with a scale so small that GELU's
  // minimum (-0.17) clamps (at -127, not -128); affine.
  const std::vector<std::pair<std::string, ActivationQuant>> next_inputs = {
      {"symmetric", static_input(1.0f / 127)},
      {"symmetric clamping", static_input(0.001f)},
      {"affine", static_input(1.2f / 255, true, -100)}};
  for (const auto& [label, next_input] : next_inputs) {
    nn::Linear fc1 = random_linear(64, 48, 1), fc2 = random_linear(48, 64, 3);
    install(fc1, static_input(2.0f / 127));
    install(fc2, next_input);
    for (const auto act : {kernels::Activation::Gelu, kernels::Activation::GeluTanh, kernels::Activation::Relu}) {
      const Tensor fused_act = fc1.forward_activated(kInput, act);
      Tensor separate = fc1.forward(kInput);
      kernels::activation(act, separate, separate);
      for (int64_t i = 0; i < separate.numel(); ++i)
        ASSERT_NEAR(fused_act.data<float>()[i], separate.data<float>()[i],
                    4e-6 + 8 * 0x1p-24 * std::fabs(separate.data<float>()[i]))
            << i;
      const Tensor pair = nn::Linear::forward_pair(fc1, act, fc2, kInput);
      expect_identical(pair, fc2.forward(fused_act), label);
    }
    // SiLU has no int8 epilogue: the unfused steps run.
    const Tensor silu = nn::Linear::forward_pair(fc1, kernels::Activation::Silu, fc2, kInput);
    Tensor h = fc1.forward(kInput);
    kernels::activation(kernels::Activation::Silu, h, h);
    expect_identical(silu, fc2.forward(h), "silu");
  }
}

// The fused pair honours what is installed on fc2's input site (calibration
// observers, simulated QDQ), and pairs of simulated or fp32 Linears run unfused.
TEST(LinearFusion, PairFallsBackWhenTheNextInputSiteIsActiveOrKernelsDiffer) {
  nn::Linear fc1 = random_linear(64, 48, 7), fc2 = random_linear(48, 64, 9);
  const Tensor fp32 = fc2.forward(fc1.forward_activated(kInput, kernels::Activation::Gelu));
  expect_identical(nn::Linear::forward_pair(fc1, kernels::Activation::Gelu, fc2, kInput), fp32, "fp32");

  install(fc1, static_input(2.0f / 127));
  install(fc2, static_input(1.0f / 127));
  int64_t observed = 0;
  fc2.input_site().set_observer([&](const nn::ActivationSite&, const Tensor& x) { observed += x.numel(); });
  const Tensor with_observer = nn::Linear::forward_pair(fc1, kernels::Activation::Gelu, fc2, kInput);
  EXPECT_EQ(observed, 2 * 9 * 64);
  fc2.input_site().clear();
  expect_identical(with_observer, nn::Linear::forward_pair(fc1, kernels::Activation::Gelu, fc2, kInput),
                   "observer changes nothing");

  install(fc2, static_input(1.0f / 127), QuantExecution::Simulated);
  const Tensor mixed = nn::Linear::forward_pair(fc1, kernels::Activation::Gelu, fc2, kInput);
  expect_identical(mixed, fc2.forward(fc1.forward_activated(kInput, kernels::Activation::Gelu)), "simulated next");
}

// q, k, v with the same input quantization share one quantized input; a
// Linear with other parameters (or a dynamic one) quantizes its own.
TEST(LinearFusion, SharedInputGivesEachLinearsOwnResult) {
  nn::Linear q = random_linear(32, 48, 11), k = random_linear(16, 48, 13), v = random_linear(24, 48, 15);
  install(q, static_input(2.0f / 127));
  install(k, static_input(2.0f / 127));
  install(v, static_input(2.0f / 127));
  EXPECT_EQ(q.kernel()->input_format(), v.kernel()->input_format());
  auto check_all = [&](const std::string& what) {
    const std::vector<Tensor> shared = nn::Linear::forward_shared({&q, &k, &v}, kInput);
    ASSERT_EQ(shared.size(), 3u);
    expect_identical(shared[0], q.forward(kInput), what + " q");
    expect_identical(shared[1], k.forward(kInput), what + " k");
    expect_identical(shared[2], v.forward(kInput), what + " v");
  };
  check_all("same format");
  install(k, static_input(1.5f / 127));
  EXPECT_NE(q.kernel()->input_format(), k.kernel()->input_format());
  check_all("k differs");
  ActivationQuant dynamic;
  dynamic.dynamic = true;
  install(q, dynamic);
  install(k, dynamic);
  install(v, dynamic);
  check_all("dynamic");
  // A prepared input in another format is refused, not misread.
  install(v, static_input(2.0f / 127));
  const auto prepared = q.kernel()->prepare_input(kInput);
  EXPECT_THROW(v.kernel()->forward_prepared(*prepared), Error);
}

}  // namespace
}  // namespace octet
