// Rules of the CUDA backend that need no GPU, so they run on every machine:
// the pool's size classes, GEMM planning and argument checks, and (in CUDA
// builds) the kernels' scalar quantization math compiled for the host and
// compared with octet's CPU quantizer.
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <limits>
#include <random>

#include "kernels/cuda/op_checks.h"
#include "octet/cuda.h"
#include "octet/number_formats.h"
#include "octet/quant.h"

#ifdef OCTET_WITH_CUDA
#include "kernels/cuda/device_math.h"
#endif

namespace octet::cuda {
namespace {

using detail::decide_gemm;
using detail::GemmKind;
using detail::TensorInfo;

// ---- pool size classes -------------------------------------------------------------

TEST(PoolSizeClass, SmallRequestsShareOneClass) {
  EXPECT_EQ(pool_size_class(0), 0u);
  EXPECT_EQ(pool_size_class(1), 512u);
  EXPECT_EQ(pool_size_class(512), 512u);
  EXPECT_EQ(pool_size_class(513), 640u);
  EXPECT_EQ(pool_size_class(1024), 1024u);
  EXPECT_EQ(pool_size_class(1025), 1280u);
  EXPECT_EQ(pool_size_class(size_t(1) << 30), size_t(1) << 30);
  EXPECT_EQ(pool_size_class((size_t(1) << 30) + 1), (size_t(5) << 28));
}

TEST(PoolSizeClass, CoversRequestWastesUnderAQuarterAndIsStable) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 200000; ++i) {
    const int octave = int(rng() % 40);
    const size_t bytes = 1 + rng() % (size_t(1) << octave << 1);
    const size_t c = pool_size_class(bytes);
    ASSERT_GE(c, bytes);
    if (bytes > 512) {
      ASSERT_LT(double(c - bytes), 0.25 * double(bytes)) << bytes;
    }
    ASSERT_EQ(pool_size_class(c), c) << "a class is its own class: " << bytes;
    ASSERT_LE(pool_size_class(bytes - 1), c) << "monotonic at " << bytes;
  }
}

// ---- GEMM planning ---------------------------------------------------------------------

TensorInfo info(DType dtype, Shape shape, uintptr_t address = 0x10000) { return {true, dtype, std::move(shape), address}; }

struct GemmCase {
  TensorInfo x, x_scale, w, w_scale, bias, y, quant_scale;
  GemmEpilogue epilogue = GemmEpilogue::None;
  OutputQuant quant;
  detail::GemmDecision decide() const {
    return decide_gemm(x, x_scale, w, w_scale, bias, epilogue, y, quant, quant_scale);
  }
};

GemmCase f16_case(DType y = DType::F16) {
  GemmCase c;
  c.x = info(DType::F16, {2, 3, 64});
  c.w = info(DType::F16, {32, 64});
  c.y = info(y, {2, 3, 32});
  return c;
}

TEST(GemmPlanning, F16WritesStraightIntoYWithTheBiasEpilogue) {
  GemmCase c = f16_case();
  c.bias = info(DType::F16, {32});
  c.epilogue = GemmEpilogue::Bias;
  const auto d = c.decide();
  EXPECT_EQ(d.kind, GemmKind::F16);
  EXPECT_EQ(d.m, 6);
  EXPECT_EQ(d.n, 32);
  EXPECT_EQ(d.k, 64);
  EXPECT_TRUE(d.d_is_y);
  EXPECT_EQ(d.d_dtype, DType::F16);
  EXPECT_TRUE(d.bias_in_matmul);
  EXPECT_FALSE(d.post_kernel);
}

TEST(GemmPlanning, BiasOfAnotherTypeOrGeluGoesToThePostKernel) {
  GemmCase c = f16_case();
  c.bias = info(DType::F32, {32});
  c.epilogue = GemmEpilogue::Bias;
  auto d = c.decide();
  EXPECT_TRUE(d.d_is_y);
  EXPECT_FALSE(d.bias_in_matmul);
  EXPECT_TRUE(d.post_kernel);

  c.bias = info(DType::F16, {32});
  c.epilogue = GemmEpilogue::BiasGeluErf;
  d = c.decide();
  EXPECT_FALSE(d.bias_in_matmul);  // cuBLASLt's GELU is the tanh form: erf is ours
  EXPECT_TRUE(d.post_kernel);
  EXPECT_EQ(d.activation, 1);
  c.epilogue = GemmEpilogue::BiasGeluTanh;
  EXPECT_EQ(c.decide().activation, 2);
}

TEST(GemmPlanning, F16ToF32IsDirectButToBf16OrInt8GoesThroughF32) {
  EXPECT_TRUE(f16_case(DType::F32).decide().d_is_y);
  GemmCase c = f16_case(DType::BF16);
  auto d = c.decide();
  EXPECT_FALSE(d.d_is_y);
  EXPECT_EQ(d.d_dtype, DType::F32);
  EXPECT_TRUE(d.post_kernel);

  c = f16_case(DType::I8);
  c.quant_scale = info(DType::F32, {6});
  c.quant.mode = QuantMode::DynamicPerToken;
  d = c.decide();
  EXPECT_FALSE(d.d_is_y);
  EXPECT_TRUE(d.post_kernel);
}

GemmCase int8_case(int64_t k = 64, int64_t n = 32) {
  GemmCase c;
  c.x = info(DType::I8, {5, k});
  c.x_scale = info(DType::F32, {1});
  c.w = info(DType::I8, {n, k});
  c.w_scale = info(DType::F32, {n});
  c.y = info(DType::F16, {5, n});
  return c;
}

TEST(GemmPlanning, Int8AccumulatesInInt32AndAlwaysDequantizes) {
  GemmCase c = int8_case();
  auto d = c.decide();
  EXPECT_EQ(d.kind, GemmKind::I8);
  EXPECT_EQ(d.d_dtype, DType::I32);
  EXPECT_TRUE(d.post_kernel);
  EXPECT_FALSE(d.x_scale_per_row);
  c.x_scale = info(DType::F32, {5, 1});
  EXPECT_TRUE(c.decide().x_scale_per_row);
}

void expect_cuda_error(const std::function<void()>& call, const std::string& fragment) {
  try {
    call();
    ADD_FAILURE() << "no error; expected one containing '" << fragment << "'";
  } catch (const Error& e) {
    EXPECT_EQ(e.tag(), "cuda");
    EXPECT_NE(e.detail().find(fragment), std::string::npos) << e.detail();
  }
}

TEST(GemmPlanning, Int8LayoutAndScaleRulesHaveClearErrors) {
  expect_cuda_error([] { int8_case(62, 32).decide(); }, "multiples of 4");
  expect_cuda_error([] { int8_case(64, 30).decide(); }, "multiples of 4");
  GemmCase c = int8_case();
  c.x_scale = info(DType::F32, {3});
  expect_cuda_error([&] { c.decide(); }, "1 (per tensor) or 5 (per token)");
  c = int8_case();
  c.w_scale = {};
  expect_cuda_error([&] { c.decide(); }, "per-channel scales with 32");
  c = int8_case();
  c.x.address = 0x10002;
  expect_cuda_error([&] { c.decide(); }, "4-byte aligned");
  c = int8_case();
  c.x = info(DType::F16, {5, 64});
  expect_cuda_error([&] { c.decide(); }, "must match");
}

TEST(GemmPlanning, Fp8NeedsMultiplesOf16AndPerTensorScales) {
  GemmCase c;
  c.x = info(DType::F8_E4M3, {4, 48});
  c.x_scale = info(DType::F32, {1});
  c.w = info(DType::F8_E4M3, {16, 48});
  c.w_scale = info(DType::F32, {1});
  c.y = info(DType::BF16, {4, 16});
  c.bias = info(DType::BF16, {16});
  c.epilogue = GemmEpilogue::Bias;
  auto d = c.decide();
  EXPECT_EQ(d.kind, GemmKind::F8);
  EXPECT_TRUE(d.d_is_y);
  EXPECT_TRUE(d.bias_in_matmul);
  // f32 D: cuBLASLt's fp8 bias would have to be bf16, so ours adds it.
  c.y = info(DType::F32, {4, 16});
  c.bias = info(DType::F32, {16});
  d = c.decide();
  EXPECT_TRUE(d.d_is_y);
  EXPECT_FALSE(d.bias_in_matmul);
  EXPECT_TRUE(d.post_kernel);

  GemmCase bad = c;
  bad.w = info(DType::F8_E4M3, {16, 40});
  bad.x = info(DType::F8_E4M3, {4, 40});
  expect_cuda_error([&] { bad.decide(); }, "multiples of 16");
  bad = c;
  bad.w_scale = info(DType::F32, {16});
  expect_cuda_error([&] { bad.decide(); }, "one f32 per-tensor scale");
}

TEST(GemmPlanning, ShapeAndOutputErrors) {
  GemmCase c = f16_case();
  c.x = info(DType::F16, {6, 63});
  expect_cuda_error([&] { c.decide(); }, "does not end in in_features 64");
  c = f16_case();
  c.y = info(DType::F16, {6, 31});
  expect_cuda_error([&] { c.decide(); }, "must be [..., 32]");
  c = f16_case();
  c.epilogue = GemmEpilogue::Bias;
  expect_cuda_error([&] { c.decide(); }, "must be a float tensor of 32");
  c = f16_case(DType::I8);
  expect_cuda_error([&] { c.decide(); }, "needs an f32 scale tensor");
  c.quant_scale = info(DType::F32, {1});
  c.quant.mode = QuantMode::DynamicPerTensor;
  expect_cuda_error([&] { c.decide(); }, "call quantize()");
  c = f16_case();
  c.w = info(DType::F32, {32, 64});
  c.x = info(DType::F32, {2, 3, 64});
  expect_cuda_error([&] { c.decide(); }, "not supported");
}

TEST(RowOutputChecks, ScalesMatchTheMode) {
  const TensorInfo y8 = info(DType::I8, {4, 8});
  OutputQuant q;
  EXPECT_NO_THROW(detail::check_row_output(info(DType::BF16, {4, 8}), 4, q, {}, "op", false));
  EXPECT_NO_THROW(detail::check_row_output(y8, 4, q, info(DType::F32, {1}), "op", false));
  expect_cuda_error([&] { detail::check_row_output(y8, 4, q, info(DType::F32, {4}), "op", false); },
                    "static scale has one element");
  q.mode = QuantMode::DynamicPerToken;
  EXPECT_NO_THROW(detail::check_row_output(y8, 4, q, info(DType::F32, {4, 1}), "op", false));
  expect_cuda_error([&] { detail::check_row_output(y8, 4, q, info(DType::F32, {1}), "op", false); },
                    "need 4 elements");
  q.mode = QuantMode::DynamicPerTensor;
  EXPECT_NO_THROW(detail::check_row_output(y8, 4, q, info(DType::F32, {1}), "op", true));
  expect_cuda_error([&] { detail::check_row_output(info(DType::I32, {4, 8}), 4, q, {}, "op", true); },
                    "is not f32, f16, bf16, int8 or fp8_e4m3");
}

TEST(RowOutputChecks, InPlaceOnlyForTheSameTensor) {
  const TensorInfo x = info(DType::F16, {4, 8}, 0x1000);
  EXPECT_NO_THROW(detail::check_no_partial_alias(x, x, "op", "x"));
  EXPECT_NO_THROW(detail::check_no_partial_alias(x, info(DType::F16, {4, 8}, 0x1040), "op", "x"));  // adjacent
  expect_cuda_error([&] { detail::check_no_partial_alias(x, info(DType::I8, {4, 8}, 0x1000), "op", "x"); },
                    "overlaps x");
  expect_cuda_error([&] { detail::check_no_partial_alias(x, info(DType::F16, {4, 8}, 0x1002), "op", "x"); },
                    "overlaps x");
}

TEST(PointerAlignment, LargestPowerOfTwoUpTo256) {
  EXPECT_EQ(detail::pointer_alignment(0x1000), 256u);
  EXPECT_EQ(detail::pointer_alignment(0x1010), 16u);
  EXPECT_EQ(detail::pointer_alignment(0x1004), 4u);
  EXPECT_EQ(detail::pointer_alignment(0x1001), 1u);
}

#ifdef OCTET_WITH_CUDA

// ---- the kernels' scalar math, run on the host --------------------------------------

QuantSpec spec(DType dtype) { return parse_quant_spec(dtype == DType::I8 ? "int8:sym" : "fp8_e4m3:sym"); }

TEST(KernelMath, ScaleFromAmaxMatchesOctetsRule) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> exponent(-140.0f, 120.0f);
  std::vector<float> amaxes = {0.0f, FLT_MIN, FLT_TRUE_MIN, 1.0f, 127.0f, 448.0f, FLT_MAX};
  for (int i = 0; i < 20000; ++i) amaxes.push_back(std::ldexp(1.0f + float(rng() % 1000) / 1000.0f, int(exponent(rng))));
  for (DType dtype : {DType::I8, DType::F8_E4M3}) {
    const float levels = dtype == DType::I8 ? math::kInt8Levels : math::kE4M3Levels;
    for (float amax : amaxes) {
      const float expected = qparams_for_range(-amax, amax, spec(dtype)).scale;
      ASSERT_EQ(math::scale_from_amax(amax, levels), expected) << dtype_name(dtype) << " amax " << amax;
    }
  }
}

// Values that hit every rounding case: ties at .5, near the clamp, NaN, Inf.
std::vector<float> probe_values() {
  std::vector<float> v = {0.0f, -0.0f, 0.5f, 1.5f, 2.5f, -0.5f, -2.5f, 126.5f, 127.5f, -127.5f, 200.0f, -1e30f,
                          std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                          std::numeric_limits<float>::quiet_NaN(), 447.0f, 448.0f, 464.0f, 480.0f, 1e-9f, -3e-3f};
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> dist(-600.0f, 600.0f);
  for (int i = 0; i < 50000; ++i) v.push_back(dist(rng));
  for (int i = -300; i <= 300; ++i) v.push_back(float(i) * 0.5f);  // every tie in range
  return v;
}

TEST(KernelMath, Int8QuantizeMatchesOctetQuantizeBitForBit) {
  const std::vector<float> values = probe_values();
  for (float scale : {1.0f, 0.37f, 3.0f, FLT_MIN}) {
    const Tensor x = Tensor::from_floats(values, {int64_t(values.size())});
    const Tensor q = quantize(x, spec(DType::I8), per_tensor_params({scale, 0}));
    const int8_t* expected = q.data<int8_t>();
    const float inv = 1.0f / scale;
    for (size_t i = 0; i < values.size(); ++i)
      ASSERT_EQ(math::quantize_int8(values[i], inv), expected[i]) << values[i] << " scale " << scale;
  }
}

// This runs cuda_fp8.h's emulation (what sm_80 executes); sm_89+ use the
// hardware cvt, which NVIDIA specifies identically (to be confirmed on a GPU
// by QuantizeKernels tests).
TEST(KernelMath, E4M3QuantizeMatchesOctetQuantizeBitForBit) {
  const std::vector<float> values = probe_values();
  for (float scale : {1.0f, 0.37f, 1.0f / 64}) {
    const float inv = 1.0f / scale;
    for (float v : values) {
      if (std::isnan(v)) {
        EXPECT_EQ(math::quantize_e4m3(v, inv) & 0x7F, 0x7F);  // a NaN code (sign not kept)
        continue;
      }
      ASSERT_EQ(math::quantize_e4m3(v, inv), float_to_fp8_e4m3(v * inv)) << v << " scale " << scale;
    }
  }
}

TEST(KernelMath, GeluFormsWithinTheirF32Bounds) {
  for (int i = -4000; i <= 4000; ++i) {
    const double x = i / 500.0;
    const double erf_form = 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
    const double tanh_form = 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
    // A handful of f32 roundings (argument, erf/tanh at <= 2 ulp, 1 +, two
    // products): <= 8 u |x| absolute (|1 + erf| <= 2, so u-relative terms scale with |x|).
    const double bound = 8 * 0x1p-24 * std::fabs(x) + 1e-30;
    EXPECT_NEAR(math::gelu_erf(float(x)), erf_form, bound) << x;
    // The cubic inside the tanh form adds ~3 roundings of 0.044715 x^3 times tanh' <= 1.
    EXPECT_NEAR(math::gelu_tanh(float(x)), tanh_form, bound * (1 + 0.1 * x * x)) << x;
  }
}

#endif  // OCTET_WITH_CUDA

}  // namespace
}  // namespace octet::cuda
