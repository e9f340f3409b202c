// Fused row kernels against double-precision references with derived bounds:
// (residual +) layer norm, BERT embeddings + layer norm, bias + GELU, and
// activation quantization, with float and int8 / fp8 outputs.
// Needs a GPU: skipped (visibly) without one.
#include <gtest/gtest.h>

#include <cstring>

#include "cuda/cuda_test_util.h"
#include "octet/cuda_ops.h"
#include "octet/number_formats.h"
#include "octet/quant.h"

namespace octet::cuda {
namespace {

using testing::CudaTest;
using testing::gamma_n;
using testing::kU32;
using testing::random_values;
using testing::Reference;

// ---- layer norm reference and bound ----------------------------------------------------
//
// The GPU reads the same values (inputs are rounded to their dtype on the
// host first), forms v = x + residual in f32 exactly as the reference does,
// then in f32: mean = sum(v) / n, d = v - mean, var = sum(d^2) / n,
// rstd = 1 / sqrt(var + eps), y = d * rstd * gamma + beta. With u = 2^-24
// and Higham's gamma_k (any summation order):
//   e_mean <= gamma_{n+1} mean|v|
//   e_var  <= gamma_{n+3} var + 2 e_mean mean|d| + e_mean^2
//   rel(rstd) <= e_var / (2 (var + eps)) + 2u          (sqrt, division)
//   e_y <= (e_mean + u|d|) rstd |g| + |d| rstd |g| (rel(rstd) + 2u) + u (|y| + |b|)
// The store to f16 / bf16 is added by expect_float_output.
Reference layer_norm_reference(const Tensor& v, const Tensor& gamma, const Tensor& beta, float eps) {
  const int64_t cols = v.dim(-1), rows = v.numel() / cols;
  const float* pv = v.data<float>();
  const float* g = gamma.data<float>();
  const float* b = beta.data<float>();
  Reference ref{v.shape(), std::vector<double>(v.numel()), std::vector<double>(v.numel())};
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = pv + r * cols;
    double sum = 0, sum_abs = 0;
    for (int64_t c = 0; c < cols; ++c) sum += x[c], sum_abs += std::fabs(x[c]);
    const double mean = sum / cols;
    double sq = 0, sum_abs_d = 0;
    for (int64_t c = 0; c < cols; ++c) sq += (x[c] - mean) * (x[c] - mean), sum_abs_d += std::fabs(x[c] - mean);
    const double var = sq / cols, rstd = 1 / std::sqrt(var + eps);
    const double e_mean = gamma_n(cols + 1) * sum_abs / cols;
    const double e_var = gamma_n(cols + 3) * var + 2 * e_mean * sum_abs_d / cols + e_mean * e_mean;
    const double rel_rstd = e_var / (2 * (var + eps)) + 2 * kU32;
    for (int64_t c = 0; c < cols; ++c) {
      const double d = x[c] - mean, y = d * rstd * g[c] + b[c];
      ref.value[r * cols + c] = y;
      ref.tol[r * cols + c] = (e_mean + kU32 * std::fabs(d)) * rstd * std::fabs(g[c]) +
                              std::fabs(d) * rstd * std::fabs(g[c]) * (rel_rstd + 2 * kU32) +
                              kU32 * (std::fabs(y) + std::fabs(b[c]));
    }
  }
  return ref;
}

// x + residual rounded to f32, as the kernel forms it.
Tensor add_f32(const Tensor& x, const Tensor& residual) {
  Tensor v = x.clone();
  if (!residual.defined()) return v;
  float* p = v.data<float>();
  const float* r = residual.data<float>();
  for (int64_t i = 0; i < v.numel(); ++i) p[i] = p[i] + r[i];
  return v;
}

class LayerNormKernel : public CudaTest {};

TEST_F(LayerNormKernel, MatchesReferenceForEveryFloatTypeAndShape) {
  for (const Shape& shape : {Shape{3, 768}, Shape{2, 5, 1000}, Shape{1, 33}, Shape{4, 4096}}) {
    for (DType in : {DType::F32, DType::F16, DType::BF16}) {
      for (DType out : {DType::F32, DType::F16, DType::BF16}) {
        for (bool with_residual : {false, true}) {
          const std::string what = fmt::format("{} {}->{}{}", shape_str(shape), dtype_name(in), dtype_name(out),
                                               with_residual ? " +residual" : "");
          SCOPED_TRACE(what);
          const int64_t cols = shape.back();
          const Tensor x = random_values(shape, 1, in, -3.0f, 5.0f);
          const Tensor res = with_residual ? random_values(shape, 2, in, -2.0f, 2.0f) : Tensor();
          const Tensor g = random_values({cols}, 3, in, 0.5f, 1.5f), b = random_values({cols}, 4, in, -0.5f, 0.5f);
          const DeviceTensor dx = DeviceTensor::upload(x, in, stream());
          const DeviceTensor dres = with_residual ? DeviceTensor::upload(res, in, stream()) : DeviceTensor();
          DeviceTensor y = DeviceTensor::empty(shape, out, stream());
          add_layer_norm(dx, dres, DeviceTensor::upload(g, in, stream()), DeviceTensor::upload(b, in, stream()), 1e-5f,
                         y, stream());
          testing::expect_float_output(y, layer_norm_reference(add_f32(x, res), g, b, 1e-5f), stream(), what);
        }
      }
    }
  }
}

TEST_F(LayerNormKernel, RunsInPlaceOverTheResidual) {
  const Tensor x = random_values({6, 256}, 5, DType::F16), res = random_values({6, 256}, 6, DType::F16);
  const Tensor g = random_values({256}, 7, DType::F32, 0.5f, 1.5f), b = random_values({256}, 8);
  const DeviceTensor dx = DeviceTensor::upload(x, DType::F16, stream());
  DeviceTensor dres = DeviceTensor::upload(res, DType::F16, stream());
  add_layer_norm(dx, dres, DeviceTensor::upload(g, stream()), DeviceTensor::upload(b, stream()), 1e-12f, dres,
                 stream());
  testing::expect_float_output(dres, layer_norm_reference(add_f32(x, res), g, b, 1e-12f), stream(), "in place");
}

TEST_F(LayerNormKernel, QuantizesItsOutputStaticallyAndPerToken) {
  const Shape shape{5, 384};
  const Tensor x = random_values(shape, 9, DType::F16, -4.0f, 4.0f), res = random_values(shape, 10, DType::F16);
  const Tensor g = random_values({384}, 11, DType::F32, 0.5f, 1.5f), b = random_values({384}, 12);
  const Reference ref = layer_norm_reference(add_f32(x, res), g, b, 1e-5f);
  const DeviceTensor dx = DeviceTensor::upload(x, DType::F16, stream());
  const DeviceTensor dres = DeviceTensor::upload(res, DType::F16, stream());
  const DeviceTensor dg = DeviceTensor::upload(g, stream()), db = DeviceTensor::upload(b, stream());
  for (DType q : {DType::I8, DType::F8_E4M3}) {
    SCOPED_TRACE(dtype_name(q));
    DeviceTensor y = DeviceTensor::empty(shape, q, stream());
    // Static: a calibrated scale that clips the largest values.
    const Tensor static_scale = Tensor::full({1}, q == DType::I8 ? 3.0f / 127 : 3.0f / 448);
    add_layer_norm(dx, dres, dg, db, 1e-5f, y, stream(), {QuantMode::Static, DeviceTensor::upload(static_scale, stream())});
    testing::expect_codes(y.download(stream()), static_scale, ref, "static");
    // Dynamic per token: the kernel writes each row's scale.
    OutputQuant per_token{QuantMode::DynamicPerToken, DeviceTensor::empty({5}, DType::F32, stream())};
    add_layer_norm(dx, dres, dg, db, 1e-5f, y, stream(), per_token);
    const Tensor scales = per_token.scale.download(stream());
    testing::expect_row_scales(scales, q, ref, "per-token scales");
    testing::expect_codes(y.download(stream()), scales, ref, "per token");
  }
}

TEST_F(LayerNormKernel, RejectsBadArguments) {
  const DeviceTensor x = DeviceTensor::zeros({2, 8}, DType::F16, stream());
  const DeviceTensor g = DeviceTensor::zeros({8}, DType::F32, stream());
  const DeviceTensor g7 = DeviceTensor::zeros({7}, DType::F32, stream());
  DeviceTensor y = DeviceTensor::empty({2, 8}, DType::F16, stream());
  DeviceTensor wrong = DeviceTensor::empty({2, 7}, DType::F16, stream());
  EXPECT_THROW(add_layer_norm(x, {}, g7, g, 1e-5f, y, stream()), Error);
  EXPECT_THROW(add_layer_norm(x, {}, g, g, 1e-5f, wrong, stream()), Error);
  DeviceTensor q = DeviceTensor::empty({2, 8}, DType::I8, stream());
  EXPECT_THROW(add_layer_norm(x, {}, g, g, 1e-5f, q, stream()), Error);  // no scale
  EXPECT_THROW(add_layer_norm(x, {}, g, g, 1e-5f, q, stream(),
                              {QuantMode::DynamicPerTensor, DeviceTensor::empty({1}, DType::F32, stream())}),
               Error);
  const DeviceTensor wide = DeviceTensor::zeros({1, 20000}, DType::F16, stream());
  const DeviceTensor gw = DeviceTensor::zeros({20000}, DType::F16, stream());
  DeviceTensor yw = DeviceTensor::empty({1, 20000}, DType::F16, stream());
  EXPECT_THROW(add_layer_norm(wide, {}, gw, gw, 1e-5f, yw, stream()), Error);
}

// ---- embeddings --------------------------------------------------------------------------

class EmbeddingKernel : public CudaTest {};

TEST_F(EmbeddingKernel, SumsThreeTablesThenNormalises) {
  const int64_t vocab = 50, positions = 16, types = 2, hidden = 128, batch = 2, seq = 7;
  const Tensor word = random_values({vocab, hidden}, 1, DType::F16), pos = random_values({positions, hidden}, 2, DType::F16);
  const Tensor type = random_values({types, hidden}, 3, DType::F16);
  const Tensor g = random_values({hidden}, 4, DType::F32, 0.5f, 1.5f), b = random_values({hidden}, 5);
  std::vector<int32_t> ids(batch * seq), tt(batch * seq), pids(batch * seq);
  for (int64_t i = 0; i < batch * seq; ++i) ids[i] = int32_t((i * 17 + 3) % vocab), tt[i] = int32_t(i % 3 == 0), pids[i] = int32_t(2 + i % seq);
  EmbeddingTables tables{DeviceTensor::upload(word, DType::F16, stream()), DeviceTensor::upload(pos, DType::F16, stream()),
                         DeviceTensor::upload(type, DType::F16, stream()), DeviceTensor::upload(g, stream()),
                         DeviceTensor::upload(b, stream()), 1e-12f};
  const DeviceTensor d_ids = DeviceTensor::upload(Tensor::from_vector(ids, {batch, seq}), stream());
  const DeviceTensor d_tt = DeviceTensor::upload(Tensor::from_vector(tt, {batch, seq}), stream());
  const DeviceTensor d_pids = DeviceTensor::upload(Tensor::from_vector(pids, {batch, seq}), stream());

  for (bool explicit_ids : {false, true}) {
    SCOPED_TRACE(explicit_ids ? "explicit token types and positions" : "defaults");
    // The kernel's sum, in its order: (word + position) + token type, in f32.
    Tensor v = Tensor::empty({batch, seq, hidden}, DType::F32);
    for (int64_t t = 0; t < batch * seq; ++t) {
      const int64_t p = explicit_ids ? pids[t] : t % seq, k = explicit_ids ? tt[t] : 0;
      for (int64_t h = 0; h < hidden; ++h)
        v.data<float>()[t * hidden + h] = (word.data<float>()[ids[t] * hidden + h] + pos.data<float>()[p * hidden + h]) +
                                          type.data<float>()[k * hidden + h];
    }
    DeviceTensor y = DeviceTensor::empty({batch, seq, hidden}, DType::F16, stream());
    embedding_layer_norm(d_ids, explicit_ids ? d_tt : DeviceTensor(), explicit_ids ? d_pids : DeviceTensor(), tables, y,
                         stream());
    testing::expect_float_output(y, layer_norm_reference(v, g, b, 1e-12f), stream(), "embeddings");
  }
}

TEST_F(EmbeddingKernel, NamesAnIdOutsideItsTable) {
  const EmbeddingTables tables{DeviceTensor::zeros({10, 32}, DType::F16, stream()),
                               DeviceTensor::zeros({4, 32}, DType::F16, stream()), DeviceTensor(),
                               DeviceTensor::zeros({32}, DType::F32, stream()),
                               DeviceTensor::zeros({32}, DType::F32, stream())};
  DeviceTensor y = DeviceTensor::empty({2, 3, 32}, DType::F16, stream());
  const std::vector<int32_t> ids = {1, 2, 3, 4, 99, 5};
  try {
    embedding_layer_norm(DeviceTensor::upload(Tensor::from_vector(ids, {2, 3}), stream()), {}, {}, tables, y, stream());
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.tag(), "cuda");
    EXPECT_NE(e.detail().find("input_ids[1, 1] = 99 is outside [0, 10)"), std::string::npos) << e.detail();
  }
  // Five positions with a four-row table: the implicit position 4 is named.
  DeviceTensor y5 = DeviceTensor::empty({1, 5, 32}, DType::F16, stream());
  const std::vector<int32_t> ids5 = {1, 1, 1, 1, 1};
  try {
    embedding_layer_norm(DeviceTensor::upload(Tensor::from_vector(ids5, {1, 5}), stream()), {}, {}, tables, y5, stream());
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(e.detail().find("position_ids[0, 4] = 4 is outside [0, 4)"), std::string::npos) << e.detail();
  }
}

// ---- bias + activation ---------------------------------------------------------------------
//
// v = x + bias is formed in f32 identically on both sides; the GPU's GELU is
// within 8u|v| (erf form) or 8u|v|(1 + 0.1 v^2) (tanh form) of the exact
// function of v (the bound KernelMath.GeluFormsWithinTheirF32Bounds checks on
// the host; erff / tanhf are within 2 ulp on the device too).
Reference bias_activation_reference(const Tensor& x, const Tensor& bias, Activation act) {
  const int64_t cols = x.dim(-1);
  Reference ref{x.shape(), std::vector<double>(x.numel()), std::vector<double>(x.numel())};
  for (int64_t i = 0; i < x.numel(); ++i) {
    const double v = bias.defined() ? double(x.data<float>()[i] + bias.data<float>()[i % cols]) : x.data<float>()[i];
    double y = v, tol = 0;
    if (act == Activation::GeluErf) {
      y = 0.5 * v * (1 + std::erf(v / std::sqrt(2.0)));
      tol = 8 * kU32 * std::fabs(v);
    } else if (act == Activation::GeluTanh) {
      y = 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
      tol = 8 * kU32 * std::fabs(v) * (1 + 0.1 * v * v);
    }
    ref.value[i] = y;
    ref.tol[i] = tol;
  }
  return ref;
}

class BiasActivationKernel : public CudaTest {};

TEST_F(BiasActivationKernel, GeluFormsMatchReference) {
  for (Activation act : {Activation::None, Activation::GeluErf, Activation::GeluTanh}) {
    for (DType in : {DType::F32, DType::F16, DType::BF16}) {
      for (bool with_bias : {true, false}) {
        const std::string what = fmt::format("act {} {} {}", int(act), dtype_name(in), with_bias ? "bias" : "no bias");
        SCOPED_TRACE(what);
        const Tensor x = random_values({7, 3, 300}, 1, in, -6.0f, 6.0f);
        const Tensor bias = with_bias ? random_values({300}, 2, in) : Tensor();
        DeviceTensor y = DeviceTensor::empty({7, 3, 300}, in, stream());
        bias_activation(DeviceTensor::upload(x, in, stream()),
                        with_bias ? DeviceTensor::upload(bias, in, stream()) : DeviceTensor(), act, y, stream());
        testing::expect_float_output(y, bias_activation_reference(x, bias, act), stream(), what);
      }
    }
  }
}

TEST_F(BiasActivationKernel, InPlaceAndQuantizedOutputs) {
  const Tensor x = random_values({9, 512}, 3, DType::F16, -4.0f, 4.0f), bias = random_values({512}, 4, DType::F16);
  const Reference ref = bias_activation_reference(x, bias, Activation::GeluErf);
  const DeviceTensor db = DeviceTensor::upload(bias, DType::F16, stream());
  DeviceTensor dx = DeviceTensor::upload(x, DType::F16, stream());
  bias_activation(dx, db, Activation::GeluErf, dx, stream());
  testing::expect_float_output(dx, ref, stream(), "in place");

  const DeviceTensor fresh = DeviceTensor::upload(x, DType::F16, stream());
  for (DType q : {DType::I8, DType::F8_E4M3}) {
    DeviceTensor y = DeviceTensor::empty({9, 512}, q, stream());
    OutputQuant per_token{QuantMode::DynamicPerToken, DeviceTensor::empty({9}, DType::F32, stream())};
    bias_activation(fresh, db, Activation::GeluErf, y, stream(), per_token);
    const Tensor scales = per_token.scale.download(stream());
    testing::expect_row_scales(scales, q, ref, dtype_name(q).data());
    testing::expect_codes(y.download(stream()), scales, ref, std::string(dtype_name(q)));
  }
}

// ---- activation quantization: bit-exact with octet's CPU quantizer ----------------------------

class QuantizeKernel : public CudaTest {};

void expect_same_bytes(const Tensor& a, const Tensor& b, const std::string& what) {
  ASSERT_EQ(a.nbytes(), b.nbytes()) << what;
  EXPECT_EQ(std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()), 0) << what;
}

TEST_F(QuantizeKernel, MatchesOctetQuantizeBitForBit) {
  Tensor x = random_values({12, 777}, 5, DType::F32, -20.0f, 20.0f);
  // Exact ties, zeros and values past the static clip.
  float* p = x.data<float>();
  for (int i = 0; i < 100; ++i) p[i] = float(i - 50) * 0.5f;
  p[100] = 1e6f;
  p[101] = -1e6f;
  const DeviceTensor dx = DeviceTensor::upload(x, stream());
  for (DType q : {DType::I8, DType::F8_E4M3}) {
    const std::string name(dtype_name(q));
    SCOPED_TRACE(name);
    DeviceTensor y = DeviceTensor::empty(x.shape(), q, stream());
    // Static per tensor.
    const float s = q == DType::I8 ? 0.1f : 0.03f;
    quantize(dx, y, stream(), {QuantMode::Static, DeviceTensor::upload(Tensor::full({1}, s), stream())});
    const QuantSpec per_tensor = parse_quant_spec(name + ":sym:per_tensor");
    expect_same_bytes(y.download(stream()), octet::quantize(x, per_tensor, per_tensor_params({s, 0})), "static");
    // Dynamic per token: scales and codes.
    const QuantSpec per_token = parse_quant_spec(name + ":sym:per_token");
    const QuantParams token_params = compute_qparams(x, per_token);
    OutputQuant dyn{QuantMode::DynamicPerToken, DeviceTensor::empty({12}, DType::F32, stream())};
    quantize(dx, y, stream(), dyn);
    expect_same_bytes(dyn.scale.download(stream()), token_params.scale.reshape({12}), "per-token scales");
    expect_same_bytes(y.download(stream()), octet::quantize(x, per_token, token_params), "per token");
    // Dynamic per tensor: an amax reduction, then the same pass.
    const QuantParams tensor_params = compute_qparams(x, per_tensor);
    OutputQuant whole{QuantMode::DynamicPerTensor, DeviceTensor::empty({1}, DType::F32, stream())};
    quantize(dx, y, stream(), whole);
    expect_same_bytes(whole.scale.download(stream()), tensor_params.scale.reshape({1}), "per-tensor scale");
    expect_same_bytes(y.download(stream()), octet::quantize(x, per_tensor, tensor_params), "per tensor");
  }
}

TEST_F(QuantizeKernel, AllZeroRowsGetScaleOne) {
  const DeviceTensor x = DeviceTensor::zeros({3, 64}, DType::F16, stream());
  DeviceTensor y = DeviceTensor::empty({3, 64}, DType::I8, stream());
  OutputQuant dyn{QuantMode::DynamicPerToken, DeviceTensor::empty({3}, DType::F32, stream())};
  quantize(x, y, stream(), dyn);
  // Host copies held in locals: a range-for over `download().span()` would
  // read a destroyed temporary (C++20 ends its life before the loop body).
  const Tensor scales = dyn.scale.download(stream());
  const Tensor codes = y.download(stream());
  for (float v : scales.span<float>()) EXPECT_EQ(v, 1.0f);
  for (int8_t v : codes.span<int8_t>()) EXPECT_EQ(v, 0);
}

}  // namespace
}  // namespace octet::cuda
