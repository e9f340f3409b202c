// Quantized Linear kernels: the activation quantizer against a scalar
// reference, native int8 against the exact integer definition (bit for bit),
// and native vs simulated within the derived bound.
#include <gtest/gtest.h>

#include <cmath>

#include "octet/kernels.h"
#include "quant_model/quant_model_test_util.h"

namespace octet {
namespace {

// q = clamp(round_half_even(x / s) + zp, lo, hi): the definition (nearbyint
// rounds half to even in the default mode; x / s is one IEEE division).
int reference_code(float x, float s, int zp, int lo, int hi) {
  if (std::isnan(x)) return zp;
  const float v = std::nearbyint(x / s);
  return int(std::min<float>(std::max<float>(v + float(zp), float(lo)), float(hi)));
}

Tensor tensor_of(const std::vector<float>& v, Shape shape) { return Tensor::from_floats(v, std::move(shape)); }

TEST(QuantizeActivation, StaticSymmetricAffineAndDynamicMatchTheDefinition) {
  auto values = testing::random_floats(7 * 33, 1, 3.0f);
  values[5] = 1e9f;  // clamps high
  values[6] = -1e9f;  // clamps low: -127 (symmetric) vs -128 (affine)
  values[7] = 0.25f;  // 0.25 / 0.5 = 0.5 exactly: a tie, rounds to 0
  values[8] = 0.75f;  // 1.5: rounds to 2
  const Tensor x = tensor_of(values, {7, 33});

  ActivationQuant sym;
  sym.scale = 0.5f;
  const QuantizedActivation a = quantize_activation(x, sym);
  for (size_t i = 0; i < values.size(); ++i)
    ASSERT_EQ(int(a.codes.data<int8_t>()[i]), reference_code(values[i], 0.5f, 0, -127, 127)) << i;
  EXPECT_EQ(a.codes.data<int8_t>()[7], 0);
  EXPECT_EQ(a.codes.data<int8_t>()[8], 2);
  EXPECT_EQ(a.codes.data<int8_t>()[6], -127);
  EXPECT_TRUE(a.row_scales.empty());

  ActivationQuant affine;
  affine.spec = parse_quant_spec("int8:affine:per_tensor");
  affine.scale = 0.03f;
  affine.zero_point = -20;
  const QuantizedActivation b = quantize_activation(x, affine);
  for (size_t i = 0; i < values.size(); ++i)
    ASSERT_EQ(int(b.codes.data<int8_t>()[i]), reference_code(values[i], 0.03f, -20, -128, 127)) << i;
  const Tensor fq = fake_quantize_activation(x, affine);
  for (size_t i = 0; i < values.size(); ++i)
    ASSERT_EQ(fq.data<float>()[i], float(int(b.codes.data<int8_t>()[i]) + 20) * 0.03f) << i;

  ActivationQuant dyn;
  dyn.dynamic = true;
  const QuantizedActivation d = quantize_activation(x, dyn);
  ASSERT_EQ(d.row_scales.size(), 7u);
  for (int64_t r = 0; r < 7; ++r) {
    float amax = 0;
    for (int64_t c = 0; c < 33; ++c) amax = std::max(amax, std::fabs(values[size_t(r * 33 + c)]));
    EXPECT_EQ(d.row_scales[size_t(r)], amax / 127.0f);
    for (int64_t c = 0; c < 33; ++c)
      ASSERT_EQ(int(d.codes.data<int8_t>()[r * 33 + c]), reference_code(values[size_t(r * 33 + c)], amax / 127.0f, 0, -127, 127));
  }
}

TEST(QuantizeActivation, RejectsBadParameters) {
  const Tensor x = Tensor::zeros({2, 4}, DType::F32);
  ActivationQuant q;
  q.scale = 0;
  EXPECT_THROW(quantize_activation(x, q), Error);
  q.scale = 1;
  q.zero_point = 3;  // symmetric needs 0
  EXPECT_THROW(quantize_activation(x, q), Error);
  q.spec = parse_quant_spec("int8:affine:per_tensor");
  q.zero_point = 200;
  EXPECT_THROW(quantize_activation(x, q), Error);
  q.zero_point = 0;
  q.spec = parse_quant_spec("uint8:affine:per_tensor");
  EXPECT_THROW(quantize_activation(x, q), Error);
}

struct LinearCase {
  int64_t m, k, n;
  bool dynamic, affine, per_channel, bias;
};

void PrintTo(const LinearCase& c, std::ostream* os) { *os << "m=" << c.m << " k=" << c.k << " n=" << c.n; }

QuantizedLinear random_linear(const LinearCase& c, uint64_t seed) {
  const Tensor w = Tensor::from_floats(testing::random_floats(size_t(c.n * c.k), seed, 0.2f), {c.n, c.k});
  QuantizedLinear q;
  q.name = "test";
  q.weight_spec = c.per_channel ? kInt8PerChannelWeights : QuantSpec{};
  const QuantParams p = compute_qparams(w, q.weight_spec);
  q.weight = quantize(w, q.weight_spec, p);
  q.weight_scale = Tensor::empty({c.n}, DType::F32);
  for (int64_t i = 0; i < c.n; ++i) q.weight_scale.data<float>()[i] = p.scale.data<float>()[c.per_channel ? i : 0];
  q.input->dynamic = c.dynamic;
  if (c.affine) {
    q.input->spec = parse_quant_spec("int8:affine:per_tensor");
    q.input->scale = 2.5f / 255;
    q.input->zero_point = -37;
  } else {
    q.input->scale = 2.0f / 127;
  }
  return q;
}

class QuantizedLinearKernels : public ::testing::TestWithParam<LinearCase> {};

TEST_P(QuantizedLinearKernels, NativeIsExactAndWithinTheBoundOfSimulated) {
  const LinearCase c = GetParam();
  const QuantizedLinear q = random_linear(c, 7 + uint64_t(c.k));
  const Tensor bias =
      c.bias ? Tensor::from_floats(testing::random_floats(size_t(c.n), 99, 0.5f), {c.n}) : Tensor();
  // Inputs [2, m, k] (a rank-3 activation as in a model) with some values beyond the clip range.
  const Tensor x = Tensor::from_floats(testing::random_floats(size_t(2 * c.m * c.k), 11, 2.5f), {2, c.m, c.k});
  const auto native = make_quantized_linear_kernel(q, bias, QuantExecution::Native);
  const auto simulated = make_quantized_linear_kernel(q, bias, QuantExecution::Simulated);
  const Tensor yn = native->forward(x), ys = simulated->forward(x);
  ASSERT_EQ(yn.shape(), (Shape{2, c.m, c.n}));
  ASSERT_EQ(ys.shape(), (Shape{2, c.m, c.n}));

  const QuantizedActivation a = quantize_activation(x, *q.input);
  const int32_t zp = c.dynamic ? 0 : q.input->zero_point;
  const int8_t* codes = a.codes.data<int8_t>();
  const int8_t* w = q.weight.data<int8_t>();
  const float* ws = q.weight_scale.data<float>();
  double worst_ratio = 0;
  for (int64_t r = 0; r < 2 * c.m; ++r) {
    const float sa = c.dynamic ? a.row_scales[size_t(r)] : q.input->scale;
    for (int64_t n = 0; n < c.n; ++n) {
      int64_t acc = 0, p = 0;
      for (int64_t i = 0; i < c.k; ++i) {
        const int64_t t = (int64_t(codes[r * c.k + i]) - zp) * w[n * c.k + i];
        acc += t;
        p += t < 0 ? -t : t;
      }
      // The epilogue's definition, in its order (no FMA in this translation unit's build).
      float expect = float(int32_t(acc));
      expect = expect * sa;
      expect = expect * ws[n];
      const float b = c.bias ? bias.data<float>()[n] : 0.0f;
      if (c.bias) expect = expect + b;
      ASSERT_EQ(yn.data<float>()[r * c.n + n], expect) << "row " << r << " col " << n;
      const double bound = testing::native_vs_simulated_bound(c.k, double(sa) * ws[n] * double(p), std::fabs(b));
      const double diff = std::fabs(double(yn.data<float>()[r * c.n + n]) - ys.data<float>()[r * c.n + n]);
      ASSERT_LE(diff, bound) << "row " << r << " col " << n;
      worst_ratio = std::max(worst_ratio, bound > 0 ? diff / bound : 0.0);
    }
  }
  RecordProperty("worst_diff_over_bound", std::to_string(worst_ratio));
}

INSTANTIATE_TEST_SUITE_P(Shapes, QuantizedLinearKernels,
                         ::testing::Values(LinearCase{1, 64, 8, false, false, true, true},
                                           LinearCase{7, 256, 33, false, true, true, true},
                                           LinearCase{33, 1024, 64, false, false, false, false},
                                           LinearCase{5, 300, 17, true, false, true, true},
                                           LinearCase{16, 1024, 256, true, false, false, true}),
                         [](const ::testing::TestParamInfo<LinearCase>& info) {
                           const LinearCase& c = info.param;
                           return fmt::format("m{}_k{}_n{}_{}{}{}", c.m, c.k, c.n,
                                              c.dynamic ? "dynamic" : c.affine ? "affine" : "symmetric",
                                              c.per_channel ? "_per_channel" : "_per_tensor", c.bias ? "_bias" : "");
                         });

TEST(QuantizedLinearKernel, RejectsInconsistentParameters) {
  QuantizedLinear q = random_linear({1, 16, 4, false, false, true, false}, 3);
  EXPECT_NO_THROW(make_quantized_linear_kernel(q, {}, QuantExecution::Native));
  EXPECT_THROW(make_quantized_linear_kernel(q, Tensor::zeros({5}, DType::F32), QuantExecution::Native), Error);
  QuantizedLinear bad = q;
  bad.weight_scale = Tensor::zeros({3}, DType::F32);
  EXPECT_THROW(make_quantized_linear_kernel(bad, {}, QuantExecution::Simulated), Error);
  bad = q;
  bad.weight = q.weight.to(DType::F32);
  EXPECT_THROW(make_quantized_linear_kernel(bad, {}, QuantExecution::Native), Error);
  bad = q;
  bad.weight_spec = parse_quant_spec("int8:affine:per_channel(0)");
  EXPECT_THROW(make_quantized_linear_kernel(bad, {}, QuantExecution::Native), Error);
  const auto kernel = make_quantized_linear_kernel(q, {}, QuantExecution::Native);
  EXPECT_THROW(kernel->forward(Tensor::zeros({2, 15}, DType::F32)), Error);
  EXPECT_EQ(parse_execution("native"), QuantExecution::Native);
  EXPECT_EQ(parse_execution("simulated"), QuantExecution::Simulated);
  EXPECT_THROW(parse_execution("fast"), Error);
}

}  // namespace
}  // namespace octet
