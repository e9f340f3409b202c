// cuBLASLt GEMMs against double references with derived bounds: fp16 / bf16
// (f32 accumulation), INT8 (exact int32 accumulation + dequant epilogue),
// FP8 e4m3 (per-tensor scales, sm_89+), every epilogue, plans and graphs.
// Needs a GPU: skipped (visibly) without one.
#include <gtest/gtest.h>

#include "cuda/cuda_test_util.h"
#include "octet/cuda_ops.h"
#include "octet/number_formats.h"

namespace octet::cuda {
namespace {

using testing::CudaTest;
using testing::gamma_n;
using testing::kU32;
using testing::random_values;
using testing::Reference;

int act_of(GemmEpilogue e) {
  return e == GemmEpilogue::BiasGeluErf ? 1 : e == GemmEpilogue::BiasGeluTanh ? 2 : 0;
}

double apply_act(int act, double v) {
  if (act == 1) return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0)));
  if (act == 2) return 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
  return v;
}

// Bound on |act'(v)| over the values used (|v| < 30): GELU's derivative is at
// most 1.13 (erf) and 1.13 + 0.1 v^2-ish for the tanh form's cubic; 1 for none.
double act_slope(int act, double v) { return act == 0 ? 1.0 : act == 1 ? 1.13 : 1.13 * (1 + 0.1 * v * v); }
double act_error(int act, double v) {
  return act == 0 ? 0.0 : act == 1 ? 8 * kU32 * std::fabs(v) : 8 * kU32 * std::fabs(v) * (1 + 0.1 * v * v);
}

// y[m, n] = act(scale * sum_k x[m, k] w[n, k] + bias[n]) from f32 copies of
// the exact operand values. The GPU's error, before y is stored:
//   accumulation: gamma_K(u_acc) * scale * sum |x w|   (any order, u_acc = 2^-24 for f32
//                 accumulation; 0 for INT8, whose int32 sums are exact)
//   + `d_rounding` * |acc|: D stored as f16 / bf16 before a post kernel reads it
//   + scaling and bias: (scale_roundings + 1) u (|acc| + |b|)
//   + the activation's own error, and every error before it times act's slope.
Reference gemm_reference(const Tensor& x, const Tensor& w, const Tensor& bias, int act, double scale, double u_acc,
                         double d_rounding, int scale_roundings, const std::vector<float>& row_scale = {},
                         const std::vector<float>& col_scale = {}) {
  const int64_t k = w.dim(1), n = w.dim(0), m = x.numel() / k;
  Shape shape = x.shape();
  shape.back() = n;
  Reference ref{shape, std::vector<double>(m * n), std::vector<double>(m * n)};
  const float* px = x.data<float>();
  const float* pw = w.data<float>();
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double dot = 0, abs_dot = 0;
      for (int64_t t = 0; t < k; ++t) {
        const double p = double(px[i * k + t]) * pw[j * k + t];
        dot += p;
        abs_dot += std::fabs(p);
      }
      double s = scale;
      if (!row_scale.empty()) s *= row_scale[row_scale.size() == 1 ? 0 : i];
      if (!col_scale.empty()) s *= col_scale[j];
      const double acc = s * dot, b = bias.defined() ? bias.data<float>()[j] : 0.0;
      const double v = acc + b;
      const double e_acc = u_acc > 0 ? gamma_n(double(k), u_acc) * std::fabs(s) * abs_dot : 0.0;
      const double pre =
          e_acc + d_rounding * std::fabs(acc) + (scale_roundings + 1) * kU32 * (std::fabs(acc) + std::fabs(b));
      ref.value[i * n + j] = apply_act(act, v);
      ref.tol[i * n + j] = pre * act_slope(act, std::fabs(v) + pre) + act_error(act, v);
    }
  }
  return ref;
}

class GemmLt : public CudaTest {};

TEST_F(GemmLt, HalfPrecisionMatchesReferenceForEveryEpilogue) {
  struct Shape3 { int64_t m, n, k; };
  for (const Shape3 s : {Shape3{7, 96, 200}, Shape3{128, 256, 512}, Shape3{1, 64, 768}}) {
    for (DType in : {DType::F16, DType::BF16}) {
      for (DType out : {in, DType::F32, in == DType::F16 ? DType::BF16 : DType::F16}) {
        for (GemmEpilogue e : {GemmEpilogue::None, GemmEpilogue::Bias, GemmEpilogue::BiasGeluErf, GemmEpilogue::BiasGeluTanh}) {
          for (DType bias_type : {in, DType::F32}) {
            if (e == GemmEpilogue::None && bias_type != in) continue;
            const std::string what = fmt::format("{}x{}x{} {}->{} epilogue {} bias {}", s.m, s.n, s.k, dtype_name(in),
                                                 dtype_name(out), int(e), dtype_name(bias_type));
            SCOPED_TRACE(what);
            const Tensor x = random_values({s.m, s.k}, 1, in), w = random_values({s.n, s.k}, 2, in, -0.2f, 0.2f);
            const Tensor bias = e == GemmEpilogue::None ? Tensor() : random_values({s.n}, 3, bias_type);
            const GemmWeight weight = upload_weight(w, in, stream());
            DeviceTensor y = DeviceTensor::empty({s.m, s.n}, out, stream());
            linear(DeviceTensor::upload(x, in, stream()), {}, weight,
                   bias.defined() ? DeviceTensor::upload(bias, bias_type, stream()) : DeviceTensor(), e, y, stream());
            // D is stored in y's half type first when a post kernel follows a direct matmul.
            const bool direct = out == in || out == DType::F32;
            const bool bias_in_matmul = e == GemmEpilogue::Bias && bias_type == out && direct;
            const bool post = !direct || act_of(e) != 0 || (e != GemmEpilogue::None && !bias_in_matmul);
            const double d_rounding = direct && post ? testing::output_roundoff(out) : 0.0;
            testing::expect_float_output(y, gemm_reference(x, w, bias, act_of(e), 1.0, kU32, d_rounding, 0), stream(),
                                         what);
          }
        }
      }
    }
  }
}

// Exact operands for the quantized GEMMs: int8 codes in [-127, 127].
Tensor random_int8(Shape shape, uint32_t seed) {
  Tensor t = Tensor::empty(std::move(shape), DType::I8);
  std::mt19937 rng(seed);
  for (int8_t& v : t.span<int8_t>()) v = static_cast<int8_t>(int(rng() % 255) - 127);
  return t;
}

TEST_F(GemmLt, Int8AccumulatesExactlyAndAppliesScalesInTheEpilogue) {
  const int64_t m = 9, n = 64, k = 256;
  const Tensor xq = random_int8({m, k}, 1), wq = random_int8({n, k}, 2);
  std::vector<float> w_scales(n), token_scales(m);
  for (int64_t j = 0; j < n; ++j) w_scales[j] = 0.001f * float(1 + j % 7);
  for (int64_t i = 0; i < m; ++i) token_scales[i] = 0.01f * float(1 + i % 3);
  const Tensor bias = random_values({n}, 3, DType::F16);
  const GemmWeight weight = upload_quantized_weight(wq, Tensor::from_vector(w_scales, {n}), stream());
  const DeviceTensor dx = DeviceTensor::upload(xq, stream());
  const DeviceTensor db = DeviceTensor::upload(bias, DType::F16, stream());
  for (bool per_token : {false, true}) {
    const std::vector<float> xs = per_token ? token_scales : std::vector<float>{0.02f};
    const DeviceTensor dxs = DeviceTensor::upload(Tensor::from_vector(xs, {int64_t(xs.size())}), stream());
    for (GemmEpilogue e : {GemmEpilogue::None, GemmEpilogue::Bias, GemmEpilogue::BiasGeluErf}) {
      for (DType out : {DType::F32, DType::F16, DType::BF16}) {
        const std::string what = fmt::format("{} epilogue {} -> {}", per_token ? "per token" : "per tensor", int(e),
                                             dtype_name(out));
        SCOPED_TRACE(what);
        DeviceTensor y = DeviceTensor::empty({m, n}, out, stream());
        const Tensor b = e == GemmEpilogue::None ? Tensor() : bias;
        linear(dx, dxs, weight, e == GemmEpilogue::None ? DeviceTensor() : db, e, y, stream());
        // acc is exact (|acc| <= 127^2 * 256 < 2^24, so also exact in f32); two scale products.
        testing::expect_float_output(
            y, gemm_reference(xq.to(DType::F32), wq.to(DType::F32), b, act_of(e), 1.0, 0.0, 0.0, 2, xs, w_scales),
            stream(), what);
      }
    }
  }
}

TEST_F(GemmLt, Int8RequantizesForTheNextGemm) {
  const int64_t m = 6, n = 32, k = 64;
  const Tensor xq = random_int8({m, k}, 4), wq = random_int8({n, k}, 5);
  const std::vector<float> w_scales(n, 0.002f);
  const Tensor bias = random_values({n}, 6);
  const GemmWeight weight = upload_quantized_weight(wq, Tensor::from_vector(w_scales, {n}), stream());
  const DeviceTensor dxs = DeviceTensor::upload(Tensor::full({1}, 0.05f), stream());
  const Reference ref =
      gemm_reference(xq.to(DType::F32), wq.to(DType::F32), bias, 1, 1.0, 0.0, 0.0, 2, {0.05f}, w_scales);
  DeviceTensor y = DeviceTensor::empty({m, n}, DType::I8, stream());
  OutputQuant per_token{QuantMode::DynamicPerToken, DeviceTensor::empty({m}, DType::F32, stream())};
  linear(DeviceTensor::upload(xq, stream()), dxs, weight, DeviceTensor::upload(bias, stream()),
         GemmEpilogue::BiasGeluErf, y, stream(), per_token);
  const Tensor scales = per_token.scale.download(stream());
  testing::expect_row_scales(scales, DType::I8, ref, "requantize scales");
  testing::expect_codes(y.download(stream()), scales, ref, "requantize codes");
}

TEST_F(GemmLt, Int8RejectsLayoutsImmaCannotTake) {
  try {
    upload_quantized_weight(random_int8({32, 30}, 1), Tensor::full({32}, 1.0f), stream());
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(e.detail().find("multiples of 4"), std::string::npos) << e.detail();
  }
  EXPECT_THROW(upload_quantized_weight(random_int8({32, 32}, 1), Tensor::full({32}, -1.0f), stream()), Error);
  EXPECT_THROW(upload_quantized_weight(random_int8({32, 32}, 1), Tensor::full({31}, 1.0f), stream()), Error);
}

// FP8 operands: e4m3 codes of random values, decoded exactly on the host.
Tensor random_e4m3(Shape shape, uint32_t seed, Tensor& decoded) {
  const Tensor v = random_values(shape, seed, DType::F32, -8.0f, 8.0f);
  Tensor codes = Tensor::empty(shape, DType::F8_E4M3);
  decoded = Tensor::empty(shape, DType::F32);
  auto* c = static_cast<uint8_t*>(codes.raw_data());
  for (int64_t i = 0; i < v.numel(); ++i) {
    c[i] = float_to_fp8_e4m3(v.data<float>()[i]);
    decoded.data<float>()[i] = fp8_e4m3_to_float(c[i]);
  }
  return codes;
}

TEST_F(GemmLt, Fp8NeedsSm89AndMatchesReference) {
  const int64_t m = 16, n = 64, k = 128;
  Tensor x_values, w_values;
  const Tensor xq = random_e4m3({m, k}, 1, x_values), wq = random_e4m3({n, k}, 2, w_values);
  const float x_scale = 0.05f, w_scale = 0.01f;
  const GemmWeight weight = upload_quantized_weight(wq, Tensor::full({1}, w_scale), stream());
  const DeviceTensor dx = DeviceTensor::upload(xq, stream());
  const DeviceTensor dxs = DeviceTensor::upload(Tensor::full({1}, x_scale), stream());
  const Tensor bias = random_values({n}, 3, DType::BF16);
  DeviceTensor y = DeviceTensor::empty({m, n}, DType::BF16, stream());
  if (compute_capability(stream().device()) < 89) {
    try {
      linear(dx, dxs, weight, {}, GemmEpilogue::None, y, stream());
      ADD_FAILURE() << "fp8 GEMM ran below sm_89";
    } catch (const Error& e) {
      EXPECT_NE(e.detail().find("8.9"), std::string::npos) << e.detail();
    }
    return;
  }
  // Tensor-core fp8 accumulation is not documented as IEEE f32 throughout:
  // the bound assumes partial sums keep at least 14 bits (u = 2^-14), the
  // figure reported for Hopper's fp8 accumulator before promotion to f32.
  const double u_acc = 0x1p-14;
  for (GemmEpilogue e : {GemmEpilogue::None, GemmEpilogue::Bias, GemmEpilogue::BiasGeluTanh}) {
    for (DType out : {DType::BF16, DType::F16, DType::F32}) {
      const std::string what = fmt::format("epilogue {} -> {}", int(e), dtype_name(out));
      SCOPED_TRACE(what);
      const Tensor b = e == GemmEpilogue::None ? Tensor() : bias;
      DeviceTensor yo = DeviceTensor::empty({m, n}, out, stream());
      linear(dx, dxs, weight, b.defined() ? DeviceTensor::upload(b, DType::BF16, stream()) : DeviceTensor(), e, yo,
             stream());
      const bool bias_in_matmul = e == GemmEpilogue::Bias && out == DType::BF16;
      const bool post = act_of(e) != 0 || (b.defined() && !bias_in_matmul);
      const double d_rounding = post ? testing::output_roundoff(out) : 0.0;
      testing::expect_float_output(
          yo, gemm_reference(x_values, w_values, b, act_of(e), double(x_scale) * w_scale, u_acc, d_rounding, 2), stream(),
          what);
    }
  }
}

TEST_F(GemmLt, PlansAreCachedPerShape) {
  const int device = stream().device();
  const GemmWeight weight = upload_weight(random_values({48, 80}, 1), DType::F16, stream());
  const DeviceTensor x = DeviceTensor::upload(random_values({3, 80}, 2), DType::F16, stream());
  DeviceTensor y = DeviceTensor::empty({3, 48}, DType::F16, stream());
  linear(x, {}, weight, {}, GemmEpilogue::None, y, stream());
  const size_t after_first = gemm_plan_count(device);
  linear(x, {}, weight, {}, GemmEpilogue::None, y, stream());
  EXPECT_EQ(gemm_plan_count(device), after_first);
  const DeviceTensor x5 = DeviceTensor::upload(random_values({5, 80}, 3), DType::F16, stream());
  DeviceTensor y5 = DeviceTensor::empty({5, 48}, DType::F16, stream());
  linear(x5, {}, weight, {}, GemmEpilogue::None, y5, stream());
  EXPECT_EQ(gemm_plan_count(device), after_first + 1);
}

TEST_F(GemmLt, GraphReplayOfGemmAndEpilogueMatchesReference) {
  const int64_t m = 32, n = 128, k = 256;
  const Tensor w = random_values({n, k}, 1, DType::F16, -0.2f, 0.2f), bias = random_values({n}, 2, DType::F16);
  const GemmWeight weight = upload_weight(w, DType::F16, stream());
  const DeviceTensor db = DeviceTensor::upload(bias, DType::F16, stream());
  const Tensor x0 = random_values({m, k}, 3, DType::F16), x1 = random_values({m, k}, 4, DType::F16);
  const DeviceTensor dx = DeviceTensor::upload(x0, DType::F16, stream());
  DeviceTensor y = DeviceTensor::empty({m, n}, DType::F16, stream());
  const auto body = [&] { linear(dx, {}, weight, db, GemmEpilogue::BiasGeluErf, y, stream()); };
  body();
  Graph graph;
  graph.capture(stream(), body);
  const Tensor x1_f16 = x1.to(DType::F16);
  copy_to_device(dx.raw_data(), x1_f16.raw_data(), x1_f16.nbytes(), stream());
  graph.launch(stream());
  testing::expect_float_output(y, gemm_reference(x1, w, bias, 1, 1.0, kU32, testing::kU16, 0), stream(), "replay");
}

}  // namespace
}  // namespace octet::cuda
