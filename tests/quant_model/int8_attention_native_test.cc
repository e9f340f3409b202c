// A recipe with attention sites runs its attention natively (int8 Q K^T and
// P V, kernels/attention_int8.h) where the sites allow it, and simulated
// otherwise; native and simulated logits agree as closely as the Linears'.
#include <gtest/gtest.h>

#include "quant_model/quant_model_test_util.h"

namespace octet {
namespace {

QuantizationConfig quantize_with_attention_sites(Model& model, QuantScheme activations) {
  QuantizeOptions o;
  o.recipe = recipe_preset("int8");
  o.recipe.attention_sites = true;
  o.recipe.activation_scheme = activations;
  o.progress = false;
  return quantize_model(model, testing::sst2_calibration(model, 32), o);
}

// The attention blocks' kernels, by description ("" for none).
std::vector<std::string> attention_kernels(Model& model) {
  std::vector<std::string> out;
  model.visit_attention([&](nn::MultiHeadAttention& a) {
    out.push_back(a.attention_kernel() ? a.attention_kernel()->describe() : "");
  });
  return out;
}

TEST(Int8AttentionNative, InstalledOnEveryBlockNativelyOnly) {
  const auto model = load_model(testing::sst2_model());
  const QuantizationConfig q = quantize_with_attention_sites(*model, QuantScheme::Symmetric);
  apply_quantization(*model, q, QuantExecution::Native);
  const std::vector<std::string> native = attention_kernels(*model);
  ASSERT_EQ(native.size(), 4u);  // sst2-bert-mini: 4 layers
  for (const std::string& k : native) EXPECT_EQ(k, "int8");
  apply_quantization(*model, q, QuantExecution::Simulated);
  for (const std::string& k : attention_kernels(*model)) EXPECT_EQ(k, "");
  clear_quantization(*model);
  for (const std::string& k : attention_kernels(*model)) EXPECT_EQ(k, "");
}

// Affine activations give the keys a zero point, which the int8 GEMM's weight
// side cannot take: the sites stay fake-quantized, natively too.
TEST(Int8AttentionNative, AffineKeysStaySimulated) {
  const auto model = load_model(testing::sst2_model());
  const QuantizationConfig q = quantize_with_attention_sites(*model, QuantScheme::Affine);
  apply_quantization(*model, q, QuantExecution::Native);
  for (const std::string& k : attention_kernels(*model)) EXPECT_EQ(k, "");
}

// As NativeVsSimulated.EndToEndLogitsOnDevSentences, with the attention
// sites: besides the Linears' bounded differences, a probability may take the
// neighbouring code where f32 rounding crosses a code boundary; logits are
// O(1), so a systematic error (a scale or zero point misapplied) would show
// at the 0.1 level.
TEST(Int8AttentionNative, EndToEndLogitsOnDevSentences) {
  const auto model = load_model(testing::sst2_model());
  const QuantizationConfig q = quantize_with_attention_sites(*model, QuantScheme::Symmetric);
  apply_quantization(*model, q, QuantExecution::Simulated);
  const Tensor sim = testing::sst2_dev_logits(*model, 200);
  apply_quantization(*model, q, QuantExecution::Native);
  const Tensor nat = testing::sst2_dev_logits(*model, 200);
  // The same model natively without the attention kernels: what the Linears alone differ by.
  model->visit_attention([](nn::MultiHeadAttention& a) { a.set_attention_kernel(nullptr); });
  const Tensor linears_only = testing::sst2_dev_logits(*model, 200);
  const testing::LogitComparison all = testing::compare_binary_logits(sim, nat);
  RecordProperty("changed_predictions", std::to_string(all.changed_predictions));
  RecordProperty("max_abs_logit_diff", std::to_string(all.max_abs_diff));
  RecordProperty("max_abs_logit_diff_linears_only",
                 std::to_string(testing::compare_binary_logits(sim, linears_only).max_abs_diff));
  EXPECT_GT(testing::compare_binary_logits(nat, linears_only).max_abs_diff, 0.0);  // the kernel ran
  EXPECT_LT(all.max_abs_diff, 0.05);
  EXPECT_LE(all.changed_predictions, 2);
}

}  // namespace
}  // namespace octet
