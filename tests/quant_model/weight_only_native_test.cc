// The native weight-only Linear kernel (int8 per channel, int4 sym groups,
// uint4 affine groups) against the simulated one: decode rows (integer path,
// activations in int8 blocks of 32) within the bound that rounding gives,
// prefill rows (dequantized f32 panels) equal up to the fp32 GEMM's rounding.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "octet/error.h"
#include "octet/nn.h"
#include "octet/number_formats.h"
#include "octet/quantized_model.h"
#include "quant/weight_only_kernel.h"

namespace octet {
namespace {

QuantizedLinear make_linear(DType dtype, int64_t n, int64_t k, int64_t group, uint32_t seed) {
  std::mt19937 rng(seed);
  QuantizedLinear q;
  q.input = std::nullopt;  // weight-only
  const bool per_channel = dtype == DType::I8 && group == 0;
  q.weight_spec = per_channel ? kInt8PerChannelWeights
                  : parse_quant_spec(fmt::format("{}:group({})", dtype == DType::I8   ? "int8:sym"
                                                                 : dtype == DType::I4 ? "int4:sym"
                                                                                      : "uint4:affine",
                                                 group));
  const int64_t groups = per_channel ? 1 : k / group;
  const int lo = dtype == DType::I8 ? -127 : dtype == DType::I4 ? -8 : 0, hi = dtype == DType::I8 ? 127 : dtype == DType::I4 ? 7 : 15;
  std::uniform_int_distribution<int> code(lo, hi), zp(0, 15);
  std::uniform_real_distribution<float> sc(0.001f, 0.02f);
  std::vector<int8_t> codes(size_t(n * k));
  for (auto& c : codes) c = static_cast<int8_t>(code(rng));
  q.weight = Tensor::empty({n, k}, dtype);
  auto* raw = static_cast<uint8_t*>(q.weight.raw_data());
  if (dtype == DType::I8) {
    std::copy(codes.begin(), codes.end(), reinterpret_cast<int8_t*>(raw));
  } else if (dtype == DType::I4) {
    pack_int4(codes, {raw, q.weight.nbytes()});
  } else {
    std::vector<uint8_t> u(codes.begin(), codes.end());
    pack_uint4(u, {raw, q.weight.nbytes()});
  }
  q.weight_scale = per_channel ? Tensor::empty({n}, DType::F32) : Tensor::empty({n, groups}, DType::F32);
  for (float& s : q.weight_scale.span<float>()) s = sc(rng);
  if (dtype == DType::U4) {
    q.weight_zero_point = Tensor::empty({n, groups}, DType::I32);
    for (int32_t& z : q.weight_zero_point.span<int32_t>()) z = zp(rng);
  }
  return q;
}

Tensor random_input(int64_t rows, int64_t k, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  Tensor x = Tensor::empty({rows, k}, DType::F32);
  for (float& v : x.span<float>()) v = d(rng);
  return x;
}

struct Format {
  DType dtype;
  int64_t group;  // 0: per channel
};

class WeightOnlyNative : public ::testing::TestWithParam<Format> {};

// Each row of yn (native) is within the int8 activation rounding of ys
// (simulated): x^ differs from x by at most half an activation step per block (amax / 254).
void expect_within_activation_rounding(const Tensor& x, const Tensor& w, const Tensor& yn, const Tensor& ys) {
  const int64_t rows = x.dim(0), k = x.dim(1), n = w.dim(0);
  for (int64_t m = 0; m < rows; ++m)
    for (int64_t j = 0; j < n; ++j) {
      double bound = 0, mag = 0;
      for (int64_t b = 0; b < k / 32; ++b) {
        float amax = 0;
        for (int64_t i = b * 32; i < b * 32 + 32; ++i) amax = std::max(amax, std::fabs(x.data<float>()[m * k + i]));
        for (int64_t i = b * 32; i < b * 32 + 32; ++i) {
          const double wv = std::fabs(w.data<float>()[j * k + i]);
          bound += wv * amax / 254.0;
          mag += wv * std::fabs(x.data<float>()[m * k + i]);
        }
      }
      bound = bound * 1.001 + 1e-5 * (mag + 1.0);
      ASSERT_NEAR(yn.data<float>()[m * n + j], ys.data<float>()[m * n + j], bound) << "row " << m << " output " << j;
    }
}

TEST_P(WeightOnlyNative, IntegerPathWithinActivationRoundingForAnyRowCount) {
  const Format f = GetParam();
  const int64_t n = 45, k = 256;
  const QuantizedLinear q = make_linear(f.dtype, n, k, f.group, 7);
  ASSERT_TRUE(has_native_weight_only_kernel(q));
  const Tensor bias = random_input(1, n, 3).reshape({n});
  const auto native = make_quantized_linear_kernel(q, bias, QuantExecution::Native);
  const auto simulated = make_quantized_linear_kernel(q, bias, QuantExecution::Simulated);
  EXPECT_NE(native->describe().find("(native)"), std::string::npos) << native->describe();
  EXPECT_EQ(native->row_invariant_rows(), std::numeric_limits<int64_t>::max());
  const Tensor w = dequantized_weight(q);

  // Decode rows and prefill rows both run the integer kernel.
  const Tensor x = random_input(5, k, 11);
  expect_within_activation_rounding(x, w, native->forward(x), simulated->forward(x));
  const Tensor xp = random_input(40, k, 12);
  const Tensor pn = native->forward(xp);
  expect_within_activation_rounding(xp, w, pn, simulated->forward(xp));

  // A row's result does not depend on how many rows come with it.
  for (const int64_t rows : {1, 8, 17}) {
    const Tensor part = native->forward(xp.slice(0, 0, rows).contiguous());
    for (int64_t i = 0; i < part.numel(); ++i) ASSERT_EQ(part.data<float>()[i], pn.data<float>()[i]) << rows << " " << i;
  }

  // Capping the integer path at 0 rows dequantizes the weights: the simulated
  // f32 weights, so only the GEMM's summation may differ.
  const int64_t saved = set_weight_only_gemv_max_rows(0);
  const Tensor dq = native->forward(xp), ps = simulated->forward(xp);
  set_weight_only_gemv_max_rows(saved);
  for (int64_t i = 0; i < dq.numel(); ++i)
    ASSERT_NEAR(dq.data<float>()[i], ps.data<float>()[i], 1e-4 * (1.0 + std::fabs(ps.data<float>()[i]))) << i;
}

INSTANTIATE_TEST_SUITE_P(Formats, WeightOnlyNative,
                         ::testing::Values(Format{DType::I8, 0}, Format{DType::I8, 64}, Format{DType::I4, 32},
                                           Format{DType::I4, 128}, Format{DType::U4, 64}),
                         [](const auto& info) {
                           const Format& f = info.param;
                           return std::string(f.dtype == DType::I8 ? "int8" : f.dtype == DType::I4 ? "int4" : "uint4") +
                                  "_g" + std::to_string(f.group);
                         });

TEST(WeightOnlyNative, FormatsWithoutTheKernelStaySimulated) {
  QuantizedLinear q = make_linear(DType::I4, 8, 96, 32, 1);
  EXPECT_TRUE(has_native_weight_only_kernel(q));
  QuantizedLinear act = q;
  act.input = ActivationQuant{};  // int8 activations: not weight-only
  EXPECT_FALSE(has_native_weight_only_kernel(act));
  QuantizedLinear gidx = q;
  gidx.group_index = Tensor::zeros({96}, DType::I32);  // act-order
  EXPECT_FALSE(has_native_weight_only_kernel(gidx));
  const QuantizedLinear odd = make_linear(DType::I8, 8, 40, 0, 2);  // K not a multiple of 32
  EXPECT_FALSE(has_native_weight_only_kernel(odd));
  EXPECT_NE(make_quantized_linear_kernel(odd, {}, QuantExecution::Native)->describe().find("(simulated)"),
            std::string::npos);
}

// A decode step's q, k, v (and gate, up) read one input: their native kernels run as one job
// (forward_together), each output equal to its own forward bit for bit, rows 1..8 and prefill rows.
TEST(WeightOnlyNative, KernelsReadingOneInputRunTogetherWithTheSameBits) {
  const int64_t k = 256;
  const QuantizedLinear q = make_linear(DType::I4, 96, k, 32, 1), kq = make_linear(DType::U4, 20, k, 64, 2),
                        v = make_linear(DType::I8, 33, k, 0, 3);
  const Tensor bias = random_input(1, 20, 4).reshape({20});
  const auto nq = make_quantized_linear_kernel(q, {}, QuantExecution::Native);
  const auto nk = make_quantized_linear_kernel(kq, bias, QuantExecution::Native);
  const auto nv = make_quantized_linear_kernel(v, {}, QuantExecution::Native);
  nn::Linear lq = nn::Linear::kernel_resident(96, k), lk = nn::Linear::kernel_resident(20, k, bias),
             lv = nn::Linear::kernel_resident(33, k);
  lq.set_kernel(nq);
  lk.set_kernel(nk);
  lv.set_kernel(nv);
  for (const int64_t rows : {1, 3, 8, 24}) {
    const Tensor x = random_input(rows, k, uint32_t(30 + rows)).reshape({1, rows, k});
    const nn::LinearKernel* others[] = {nk.get(), nv.get()};
    const std::vector<Tensor> together = nq->forward_together(others, x);
    const std::vector<Tensor> shared = nn::Linear::forward_shared({&lq, &lk, &lv}, x);
    ASSERT_EQ(together.size(), 3u);
    ASSERT_EQ(shared.size(), 3u);
    const Tensor alone[] = {nq->forward(x), nk->forward(x), nv->forward(x)};
    for (size_t i = 0; i < 3; ++i) {
      ASSERT_EQ(together[i].shape(), alone[i].shape()) << i;
      for (const Tensor& t : {together[i], shared[i]})
        for (int64_t j = 0; j < t.numel(); ++j)
          ASSERT_EQ(t.data<float>()[j], alone[i].data<float>()[j]) << "rows " << rows << " output " << i << " " << j;
    }
  }
  // Another kernel kind or another input size: not together, the caller runs them one by one.
  const auto simulated = make_quantized_linear_kernel(kq, bias, QuantExecution::Simulated);
  const auto wider = make_quantized_linear_kernel(make_linear(DType::I4, 16, 2 * k, 32, 5), {}, QuantExecution::Native);
  const Tensor x = random_input(2, k, 9);
  const nn::LinearKernel* mixed[] = {simulated.get()};
  const nn::LinearKernel* other_k[] = {wider.get()};
  EXPECT_TRUE(nq->forward_together(mixed, x).empty());
  EXPECT_TRUE(nq->forward_together(other_k, x).empty());
}

}  // namespace
}  // namespace octet
