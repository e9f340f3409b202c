// octet's kernels against PyTorch's definitions (evaluated by torch in float64,
// see tests/data/gen_kernels_parity.py), within the same derived f32 bounds as
// the reference tests: same conventions (biased variance, eps placement, HF
// activation names and formulas, mask broadcasting).
#include <gtest/gtest.h>

#include "kernel_test_util.h"
#include "octet/kernels.h"
#include "parity_fixture.h"
#include "row_ops_bounds.h"

namespace octet::kernels::torch_parity_test {
namespace {

using namespace testing;

std::function<double(int64_t)> from(const std::vector<double>& tol) {
  return [&tol](int64_t i) { return tol[static_cast<size_t>(i)]; };
}

TEST(TorchParity, LayerNorm) {
  const auto& c = parity_case("layer_norm");
  const Tensor x = parity_tensor(c, "x"), g = parity_tensor(c, "gamma"), b = parity_tensor(c, "beta");
  const Tensor expected = parity_tensor(c, "y");
  const Tensor y = layer_norm(x, g, b, 1e-5f);
  const auto tol = layer_norm_tolerance(x.data<float>(), g.data<float>(), expected.data<float>(), 1e-5f, x.dim(0),
                                        x.dim(1));
  expect_within(y, expected, from(tol), "layer_norm vs torch");
}

TEST(TorchParity, RmsNormLlamaAndGemma) {
  const auto& c = parity_case("rms_norm");
  const Tensor x = parity_tensor(c, "x"), w = parity_tensor(c, "weight");
  for (bool unit_offset : {false, true}) {
    const Tensor expected = parity_tensor(c, unit_offset ? "y_unit_offset" : "y");
    const Tensor y = rms_norm(x, w, 1e-6f, unit_offset);
    const auto tol = rms_norm_tolerance(x.data<float>(), w.data<float>(), unit_offset, expected.data<float>(), 1e-6f,
                                        x.dim(0), x.dim(1));
    expect_within(y, expected, from(tol), unit_offset ? "gemma rms_norm vs torch" : "llama rms_norm vs torch");
  }
}

TEST(TorchParity, ActivationsByHuggingFaceName) {
  const auto& c = parity_case("activations");
  const Tensor x = parity_tensor(c, "x");
  for (const char* name : {"gelu", "gelu_new", "gelu_pytorch_tanh", "quick_gelu", "silu", "relu"}) {
    const Activation act = parse_activation(name);
    const Tensor expected = parity_tensor(c, name);
    const Tensor y = activation(act, x);
    const auto tol = activation_tolerance(act, x.data<float>(), expected.data<float>(), x.numel());
    expect_within(y, expected, from(tol), std::string(name) + " vs torch");
  }
}

TEST(TorchParity, SoftmaxWithBroadcastMask) {
  const auto& c = parity_case("softmax");
  const Tensor x = parity_tensor(c, "x"), mask = parity_tensor(c, "mask"), expected = parity_tensor(c, "y");
  const Tensor y = softmax(x, 0.5f, mask);  // x [4, 3, 19], mask [4, 1, 19]
  const int64_t n = x.dim(2);
  std::vector<const float*> mask_rows;
  for (int64_t b = 0; b < x.dim(0); ++b)
    for (int64_t h = 0; h < x.dim(1); ++h) mask_rows.push_back(mask.data<float>() + b * n);
  const auto tol = softmax_tolerance(x.data<float>(), mask_rows, 0.5f, expected.data<float>(), x.numel() / n, n);
  expect_within(y, expected, from(tol), "softmax vs torch");
}

}  // namespace
}  // namespace octet::kernels::torch_parity_test
