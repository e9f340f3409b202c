// The fp8 recipe natively on the CPU (quant/fp8_kernel.cc: e4m3 weight codes
// converted to bf16 in the kernel, e4m3 activation codes, exact products)
// against its simulated result on kjv-llama: every output of every Linear
// within the derived bound, the perplexity of both executions, and the
// Linears kernel-resident (no f32 weight) when a saved folder is loaded.
//
// Bound. With v_a, v_w the e4m3 values of an output's activation and weight
// codes, E = s_a s_w sum v_a v_w (exact) and P = sum |v_a v_w|:
//   simulated = fl_sum(fl(v_a s_a) fl(v_w s_w)) + b: each factor one
//     rounding, the product one, the K-term sum K - 1, the bias one:
//     |simulated - (E + b)| <= gamma_{K+3} (s_a s_w P + |b|);
//   native = fma(fl_sum(v_a v_w), fl(s_w s_a), b) with exact products:
//     |native - (E + b)| <= gamma_{K+2} (s_a s_w P + |b|).
//   Together: |native - simulated| <= gamma_{2K+5} (s_a s_w P + |b|).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "llm_quant/kjv.h"
#include "octet/number_formats.h"
#include "quant_model/quant_model_test_util.h"
#include "support/run_command.h"

namespace octet::testing {
namespace {

// The bound above for every output of an fp8 Linear on input x.
std::vector<double> fp8_output_bounds(const QuantizedLinear& q, const Tensor& bias, const Tensor& x) {
  const int64_t k = q.weight.dim(1), n_out = q.weight.dim(0), rows = x.numel() / k;
  const double sa = q.input->scale;
  std::vector<float> scaled(static_cast<size_t>(k));
  std::vector<uint8_t> a(static_cast<size_t>(k));
  const auto* w = static_cast<const uint8_t*>(q.weight.raw_data());
  std::vector<double> bounds(size_t(rows * n_out));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t i = 0; i < k; ++i) scaled[size_t(i)] = x.data<float>()[r * k + i] * (1.0f / q.input->scale);
    convert_f32_to_fp8_e4m3(scaled, a);  // the activation codes, as both executions compute them
    for (int64_t n = 0; n < n_out; ++n) {
      double p = 0;
      for (int64_t i = 0; i < k; ++i)
        p += std::fabs(double(fp8_e4m3_to_float(a[size_t(i)])) * fp8_e4m3_to_float(w[n * k + i]));
      const double b = bias.defined() ? std::fabs(bias.data<float>()[n]) : 0.0;
      bounds[size_t(r * n_out + n)] = gamma_n(2 * k + 5) * (sa * q.weight_scale.data<float>()[n] * p + b);
    }
  }
  return bounds;
}

TEST(NativeFp8, EveryLinearWithinTheBoundAndPerplexityClose) {
  QuantizedKjv q = quantize_kjv(llm_recipe("fp8"), QuantExecution::Native);
  int64_t native_linears = 0;
  q.model->visit_linears([&](nn::Linear& l) {
    if (!l.kernel()) return;
    EXPECT_NE(l.kernel()->describe().find("(native, bf16 dot products)"), std::string::npos) << l.kernel()->describe();
    ++native_linears;
  });
  EXPECT_EQ(native_linears, 6 * 7);

  const Tensor ids = Tensor::from_vector(std::vector<int64_t>(kjv_data().eval.begin(), kjv_data().eval.begin() + 128),
                                         {1, 128});
  const CheckTotals totals =
      check_every_linear(*q.model, q.config, [&] { q.model->forward({ids, {}, {}, {}}); }, fp8_output_bounds);
  EXPECT_EQ(totals.violations, 0);
  std::printf("  fp8: %lld outputs checked, worst |native - simulated| / bound = %.3f\n", (long long)totals.checked,
              totals.worst);
  EXPECT_GT(totals.checked, 128 * 256 * 20);

  apply_quantization(*q.model, q.config, QuantExecution::Simulated);
  const PerplexityResult sim = perplexity(*q.model, kjv_data().eval, eval_options());
  apply_quantization(*q.model, q.config, QuantExecution::Native);
  const PerplexityResult nat = perplexity(*q.model, kjv_data().eval, eval_options());
  std::printf("  perplexity simulated %.6f, native %.6f (%+.5f %%)\n", sim.perplexity, nat.perplexity,
              100.0 * (nat.perplexity / sim.perplexity - 1.0));
  // As for the int8 recipes (docs/llm_quantization.md): within 0.05 %. Given equal inputs a Linear's
  // activation codes are equal, but the f32 differences of one layer reach the next layer's input, where
  // an activation on an e4m3 rounding boundary moves by a whole step (1/16 of its value); thousands of
  // positions average that out.
  EXPECT_NEAR(nat.perplexity, sim.perplexity, 5e-4 * sim.perplexity);
}

TEST(NativeFp8, SavedFolderLoadsWithKernelResidentLinears) {
  const QuantizedKjv q = quantize_kjv(llm_recipe("fp8"), QuantExecution::Simulated);
  const auto dir = temp_dir() / "fp8";
  save_quantized_model(*q.model, q.config, kjv_path(), dir);
  const auto native = load_quantized_model(dir, QuantExecution::Native);
  int64_t resident = 0, packed_bytes = 0;
  native->visit_linears([&](nn::Linear& l) {
    if (!l.kernel_resident()) return;
    ++resident;
    EXPECT_FALSE(l.weight().defined()) << l.name();
    packed_bytes += l.kernel()->resident_bytes();
  });
  EXPECT_EQ(resident, 6 * 7);
  // One byte per weight, plus a scale per output.
  int64_t weights = 0;
  for (const QuantizedLinear& l : q.config.linears) weights += l.weight.numel();
  EXPECT_GE(packed_bytes, weights);
  EXPECT_LE(packed_bytes, weights + weights / 16);
}

}  // namespace
}  // namespace octet::testing
