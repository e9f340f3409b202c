#include "onnx/test_models.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "octet/number_formats.h"

namespace octet::testing {
namespace {

// Error bounds. u is float's unit roundoff; a sum of n products computed in
// float in any order, with or without FMA, is within gamma(n) * sum |terms| of
// the exact sum (Higham, Accuracy and Stability of Numerical Algorithms, 3.1).
constexpr double u = 0x1p-24;
double gamma(int n) { return n * u / (1 - n * u); }

std::vector<float> uniform(std::mt19937& rng, size_t n, float lo, float hi) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

ExpectedOutput exact(Shape shape, const std::vector<float>& values) {
  return {std::move(shape), std::vector<double>(values.begin(), values.end()), std::vector<double>(values.size(), 0)};
}

// y[m][n] = x[m][:] @ w[:][n] + b[n] in double, with the bound for float evaluation
// when x itself is off by x_err: gamma(K+1) * (sum |x w| + |b|) + sum |w| x_err.
struct LinearResult {
  std::vector<double> y, err;
};
LinearResult linear_reference(const std::vector<double>& x, const std::vector<double>& x_err,
                              const std::vector<float>& w, const std::vector<float>& b, int64_t rows, int64_t k,
                              int64_t n, double extra_relative = 0) {
  LinearResult r{std::vector<double>(rows * n), std::vector<double>(rows * n)};
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double sum = b[j], magnitude = std::abs(b[j]), propagated = 0;
      for (int64_t p = 0; p < k; ++p) {
        sum += x[i * k + p] * w[p * n + j];
        magnitude += (std::abs(x[i * k + p]) + x_err[i * k + p]) * std::abs(w[p * n + j]);
        propagated += x_err[i * k + p] * std::abs(w[p * n + j]);
      }
      r.y[i * n + j] = sum;
      r.err[i * n + j] = (gamma(static_cast<int>(k) + 1) + extra_relative) * magnitude + propagated;
    }
  return r;
}

}  // namespace

int quantize_reference(float x, float scale, int zero_point, int qmin, int qmax) {
  const float r = std::nearbyint(x / scale);  // default rounding mode: ties to even
  const double v = static_cast<double>(r) + zero_point;
  return static_cast<int>(std::clamp(v, static_cast<double>(qmin), static_cast<double>(qmax)));
}

float dequantize_reference(int q, float scale, int zero_point) { return static_cast<float>(q - zero_point) * scale; }

OnnxTestModel make_mlp_gelu_model() {
  constexpr int64_t kBatch = 3, kIn = 8, kHidden = 16, kOut = 4;
  std::mt19937 rng(11);
  OnnxTestModel m{"mlp_gelu", OnnxGraph("mlp_gelu"), {}, {}, {}};
  const auto x = uniform(rng, kBatch * kIn, -2, 2);
  const auto w1 = uniform(rng, kIn * kHidden, -0.5f, 0.5f), b1 = uniform(rng, kHidden, -0.1f, 0.1f);
  const auto w2 = uniform(rng, kHidden * kOut, -0.5f, 0.5f), b2 = uniform(rng, kOut, -0.1f, 0.1f);
  auto& g = m.graph;
  g.add_input("x", DType::F32, {"batch", kIn});
  const auto h = g.add_linear("x", g.add_constant_f32(w1, {kIn, kHidden}, "w1"),
                              g.add_constant_f32(b1, {kHidden}, "b1"), "fc1");
  const auto act = g.add_gelu_erf(h, "gelu");
  const auto y = g.add_linear(act, g.add_constant_f32(w2, {kHidden, kOut}, "w2"),
                              g.add_constant_f32(b2, {kOut}, "b2"), "fc2");
  g.add_output(y, DType::F32, std::vector<OnnxDim>{"batch", kOut});
  m.inputs["x"] = Tensor::from_floats(x, {kBatch, kIn});

  const auto fc1 = linear_reference(std::vector<double>(x.begin(), x.end()), std::vector<double>(x.size(), 0), w1, b1,
                                    kBatch, kIn, kHidden);
  std::vector<double> gelu(fc1.y.size()), gelu_err(fc1.y.size());
  for (size_t i = 0; i < gelu.size(); ++i) {
    const double v = fc1.y[i], a = std::abs(v);
    gelu[i] = 0.5 * v * (1 + std::erf(v / std::sqrt(2.0)));
    // Propagated: |gelu'| <= 1.13 everywhere. Own: the argument v/sqrt(2) is
    // rounded twice (2u relative, erf' <= 1.13: 1.6u|v| absolute), erf itself
    // is taken to be within 4 ulp (4u absolute, |erf| < 1: an assumption on
    // ORT's MLAS erf, which is a minimax polynomial), 1 + erf rounds (2u, the
    // sum is < 2), then 0.5 * v * (...) (2 roundings, 2u|gelu| <= 2u|v|).
    gelu_err[i] = 1.13 * fc1.err[i] + 0.5 * a * (1.6 * u * a + 4 * u + 2 * u) + 2 * u * a;
  }
  const auto fc2 = linear_reference(gelu, gelu_err, w2, b2, kBatch, kHidden, kOut);
  m.expected[y] = {{kBatch, kOut}, fc2.y, fc2.err};
  return m;
}

OnnxTestModel make_layernorm_softmax_model() {
  constexpr int64_t kBatch = 2, kSeq = 3, kHidden = 8;
  constexpr float kEpsilon = 1e-5f;
  std::mt19937 rng(12);
  OnnxTestModel m{"layernorm_softmax", OnnxGraph("layernorm_softmax"), {}, {}, {}};
  const auto x = uniform(rng, kBatch * kSeq * kHidden, -3, 3);
  const auto gamma_v = uniform(rng, kHidden, 0.5f, 1.5f), beta_v = uniform(rng, kHidden, -0.5f, 0.5f);
  auto& g = m.graph;
  g.add_input("x", DType::F32, {"batch", "seq", kHidden});
  const auto ln = g.add_op("LayerNormalization",
                           {"x", g.add_constant_f32(gamma_v, {kHidden}, "ln_gamma"),
                            g.add_constant_f32(beta_v, {kHidden}, "ln_beta")},
                           {{"axis", -1}, {"epsilon", kEpsilon}}, "ln");
  const auto probs = g.add_op("Softmax", {ln}, {{"axis", -1}}, "probs");
  g.add_output(ln, DType::F32, std::vector<OnnxDim>{"batch", "seq", kHidden});
  g.add_output(probs, DType::F32, std::vector<OnnxDim>{"batch", "seq", kHidden});
  m.inputs["x"] = Tensor::from_floats(x, {kBatch, kSeq, kHidden});

  const int64_t rows = kBatch * kSeq, n = kHidden;
  ExpectedOutput ln_out{{kBatch, kSeq, kHidden}, {}, {}}, sm_out{{kBatch, kSeq, kHidden}, {}, {}};
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = x.data() + r * n;
    double mean = 0, mean_abs = 0, mean_sq = 0, var = 0;
    for (int64_t i = 0; i < n; ++i) mean += row[i], mean_abs += std::abs(row[i]), mean_sq += double(row[i]) * row[i];
    mean /= n, mean_abs /= n, mean_sq /= n;
    for (int64_t i = 0; i < n; ++i) var += (row[i] - mean) * (row[i] - mean);
    var /= n;
    const double rstd = 1 / std::sqrt(var + kEpsilon);
    // Mean: a float sum of n terms and a division. Variance, bounded for the
    // one-pass E[x^2] - mean^2 some kernels use (the two-pass form is tighter):
    // (n+4)u E[x^2] plus the mean's error through mean^2. rstd = 1/sqrt(var+eps):
    // half the variance's relative error plus 3 roundings (add, sqrt, divide).
    const double e_mean = gamma(static_cast<int>(n) + 1) * mean_abs;
    const double e_var = (n + 4) * u * mean_sq + 3 * std::abs(mean) * e_mean;
    const double rel_rstd = 0.5 * e_var / (var + kEpsilon) + 3 * u;
    std::vector<double> y(n), e_y(n);
    for (int64_t i = 0; i < n; ++i) {
      const double xhat = (row[i] - mean) * rstd;
      // (x - mean) * rstd: the mean's error times rstd, rstd's relative error, 2 roundings.
      const double e_xhat = std::abs(xhat) * (rel_rstd + 2 * u) + rstd * e_mean;
      y[i] = xhat * gamma_v[i] + beta_v[i];
      e_y[i] = std::abs(gamma_v[i]) * e_xhat + 2 * u * (std::abs(xhat * gamma_v[i]) + std::abs(beta_v[i]));
    }
    // Softmax of the float LayerNorm output: inputs off by at most D change
    // each output by a factor within exp(+-2D). Own error, relative: exp within
    // 4 ulp (8u, an assumption on ORT's exp), the rounded z - max (u |z - max|
    // in the exponent), the sum of n rounded exps (gamma(n) + 8u), the division (u).
    const double d = *std::max_element(e_y.begin(), e_y.end());
    const double z_max = *std::max_element(y.begin(), y.end());
    double sum = 0;
    for (double v : y) sum += std::exp(v - z_max);
    for (int64_t i = 0; i < n; ++i) {
      const double s = std::exp(y[i] - z_max) / sum;
      const double own = 17 * u + u * std::abs(y[i] - z_max) + gamma(static_cast<int>(n));
      ln_out.value.push_back(y[i]);
      ln_out.bound.push_back(e_y[i]);
      sm_out.value.push_back(s);
      sm_out.bound.push_back(s * (std::expm1(2 * d) + own));
    }
  }
  m.expected[ln] = ln_out;
  m.expected[probs] = sm_out;
  return m;
}

OnnxTestModel make_gather_model() {
  constexpr int64_t kVocab = 10, kDim = 4;
  OnnxTestModel m{"gather", OnnxGraph("gather"), {}, {}, {}};
  std::vector<float> table(kVocab * kDim);
  for (size_t i = 0; i < table.size(); ++i) table[i] = static_cast<float>(i) * 0.5f - 7.25f;
  const std::vector<int64_t> ids{3, 0, 9, -1, 5, 3};  // -1: the last row, as ONNX Gather allows
  auto& g = m.graph;
  g.add_input("ids", DType::I64, {"batch", "seq"});
  const auto y = g.add_op("Gather", {g.add_initializer("table", Tensor::from_floats(table, {kVocab, kDim})), "ids"},
                          {{"axis", 0}}, "embed");
  const auto rows = g.add_op("Reshape", {y, g.add_constant_i64({-1, kDim})}, {}, "rows");
  g.add_output(y, DType::F32, std::vector<OnnxDim>{"batch", "seq", kDim});
  g.add_output(rows, DType::F32, std::vector<OnnxDim>{"tokens", kDim});
  m.inputs["ids"] = Tensor::from_vector(ids, {2, 3});
  std::vector<float> expected;
  for (int64_t id : ids)
    for (int64_t j = 0; j < kDim; ++j) expected.push_back(table[(id < 0 ? id + kVocab : id) * kDim + j]);
  m.expected[y] = exact({2, 3, kDim}, expected);
  m.expected[rows] = exact({6, kDim}, expected);
  return m;
}

OnnxTestModel make_qdq_exact_model() {
  OnnxTestModel m{"qdq_exact", OnnxGraph("qdq_exact"), {}, {}, {}};
  m.options.opset = 13;
  std::mt19937 rng(13);
  // Ties for scale 0.25 (k + 0.5 exactly), values at and past both saturation
  // ends of uint8 zp 128 (-32 .. 31.75) and of int8, signed zeros, then random values.
  std::vector<float> x{0.125f, -0.125f, 0.375f, -0.375f, 0.625f, -0.625f, 31.625f, 31.875f, 32.0f, -32.0f,
                       -32.125f, -32.5f, 1000.0f, -1000.0f, 0.0f, -0.0f, 4.7f, -4.7f, 0.0371f * 2.5f,
                       -0.0371f * 3.5f};
  const auto random = uniform(rng, 24, -6, 6);
  x.insert(x.end(), random.begin(), random.end());
  const auto n = static_cast<int64_t>(x.size());
  auto& g = m.graph;
  g.add_input("x", DType::F32, {n});
  const float s_u8 = 0.25f, s_i8 = 0.0371f;
  const int zp_u8 = 128, zp_i8 = -3;
  const auto y_u8 = g.add_qdq("x", g.add_initializer("s_u8", Tensor::full({}, s_u8)),
                              g.add_initializer("zp_u8", Tensor::from_vector(std::vector<uint8_t>{zp_u8}, {})),
                              std::nullopt, "act_u8");
  const auto y_i8 = g.add_qdq("x", g.add_initializer("s_i8", Tensor::full({}, s_i8)),
                              g.add_initializer("zp_i8", Tensor::from_vector(std::vector<int8_t>{zp_i8}, {})),
                              std::nullopt, "act_i8");
  m.inputs["x"] = Tensor::from_floats(x, {n});
  std::vector<float> e_u8, e_i8;
  for (float v : x) {
    e_u8.push_back(dequantize_reference(quantize_reference(v, s_u8, zp_u8, 0, 255), s_u8, zp_u8));
    e_i8.push_back(dequantize_reference(quantize_reference(v, s_i8, zp_i8, -128, 127), s_i8, zp_i8));
  }
  g.add_output(y_u8, DType::F32, std::vector<OnnxDim>{n});
  g.add_output(y_i8, DType::F32, std::vector<OnnxDim>{n});
  m.expected[y_u8] = exact({n}, e_u8);
  m.expected[y_i8] = exact({n}, e_i8);

  // Weight [4, 6]: per-channel int8 along axis 0 (rows), uint8 along axis 1 (columns).
  constexpr int64_t kRows = 4, kCols = 6;
  auto w = uniform(rng, kRows * kCols, -1, 1);
  w[0] = 5.0f, w[7] = -5.0f, w[8] = 0.03f * 2.5f;  // saturating values and a tie for row 1's scale 0.03
  const std::vector<float> row_scale{0.01f, 0.03f, 0.0123f, 0.02f}, col_scale{0.004f, 0.008f, 0.0075f,
                                                                              0.01f, 0.009f, 0.02f};
  const std::vector<int8_t> row_zp{0, -5, 3, 7};
  const std::vector<uint8_t> col_zp{128, 100, 140, 128, 0, 255};
  const auto w_name = g.add_initializer("w", Tensor::from_floats(w, {kRows, kCols}));
  const auto w_rows = g.add_qdq(w_name, g.add_initializer("w_row_scale", Tensor::from_floats(row_scale, {kRows})),
                                g.add_initializer("w_row_zp", Tensor::from_vector(row_zp, {kRows})), 0, "w_rows");
  const auto w_cols = g.add_qdq(w_name, g.add_initializer("w_col_scale", Tensor::from_floats(col_scale, {kCols})),
                                g.add_initializer("w_col_zp", Tensor::from_vector(col_zp, {kCols})), 1, "w_cols");
  std::vector<float> e_rows, e_cols;
  for (int64_t r = 0; r < kRows; ++r)
    for (int64_t c = 0; c < kCols; ++c) {
      const float v = w[r * kCols + c];
      e_rows.push_back(dequantize_reference(quantize_reference(v, row_scale[r], row_zp[r], -128, 127), row_scale[r],
                                            row_zp[r]));
      e_cols.push_back(
          dequantize_reference(quantize_reference(v, col_scale[c], col_zp[c], 0, 255), col_scale[c], col_zp[c]));
    }
  g.add_output(w_rows, DType::F32, std::vector<OnnxDim>{kRows, kCols});
  g.add_output(w_cols, DType::F32, std::vector<OnnxDim>{kRows, kCols});
  m.expected[w_rows] = exact({kRows, kCols}, e_rows);
  m.expected[w_cols] = exact({kRows, kCols}, e_cols);
  return m;
}

OnnxTestModel make_qdq_linear_model() {
  constexpr int64_t kBatch = 5, kIn = 12, kOut = 6;
  OnnxTestModel m{"qdq_linear", OnnxGraph("qdq_linear"), {}, {}, {}};
  std::mt19937 rng(14);
  const auto x = uniform(rng, kBatch * kIn, -2, 2);
  const auto w = uniform(rng, kOut * kIn, -1, 1);  // [out, in], as checkpoints store it
  const auto bias = uniform(rng, kOut, -0.2f, 0.2f);
  const float sx = 0.02f;
  const int zx = 120;
  std::vector<float> sw(kOut);
  std::vector<int8_t> zw(kOut);
  for (int64_t j = 0; j < kOut; ++j) {
    const float max_abs = std::abs(*std::max_element(w.begin() + j * kIn, w.begin() + (j + 1) * kIn,
                                                     [](float a, float b) { return std::abs(a) < std::abs(b); }));
    sw[j] = max_abs / 120.0f;
    zw[j] = static_cast<int8_t>(j - 3);
  }
  // The weight transposed to [in, out], and quantized to int8 by the reference quantizer.
  std::vector<float> wt(kIn * kOut);
  std::vector<int8_t> wq(kIn * kOut);
  std::vector<float> w_deq(kIn * kOut);  // [in, out]
  for (int64_t j = 0; j < kOut; ++j)
    for (int64_t k = 0; k < kIn; ++k) {
      wt[k * kOut + j] = w[j * kIn + k];
      wq[k * kOut + j] = static_cast<int8_t>(quantize_reference(w[j * kIn + k], sw[j], zw[j], -128, 127));
      w_deq[k * kOut + j] = dequantize_reference(wq[k * kOut + j], sw[j], zw[j]);
    }

  auto& g = m.graph;
  g.add_input("x", DType::F32, {"batch", kIn});
  const auto xq = g.add_qdq("x", g.add_initializer("x_scale", Tensor::full({}, sx)),
                            g.add_initializer("x_zero_point", Tensor::from_vector(std::vector<uint8_t>{zx}, {})),
                            std::nullopt, "x");
  const auto w_scale = g.add_initializer("w_scale", Tensor::from_floats(sw, {kOut}));
  const auto w_zero_point = g.add_initializer("w_zero_point", Tensor::from_vector(zw, {kOut}));
  const auto b = g.add_initializer("bias", Tensor::from_floats(bias, {kOut}));
  // (a) octet's convention: [in, out] weight, per-channel along axis 1, straight into MatMul.
  const auto wt_dq = g.add_qdq(g.add_initializer("w_t", Tensor::from_floats(wt, {kIn, kOut})), w_scale, w_zero_point,
                               1, "w_t");
  const auto y_matmul = g.add_linear(xq, wt_dq, b, "linear_matmul");
  // (b) [out, in] weight, per-channel along axis 0, Gemm with transB.
  const auto w_dq = g.add_qdq(g.add_initializer("w", Tensor::from_floats(w, {kOut, kIn})), w_scale, w_zero_point, 0,
                              "w");
  const auto y_gemm = g.add_op("Gemm", {xq, w_dq, b}, {{"transB", 1}}, "linear_gemm");
  // (c) int8 weight stored quantized, DequantizeLinear only.
  const auto wq_dq = g.add_dequantize(g.add_initializer("w_q", Tensor::from_vector(wq, {kIn, kOut})), w_scale,
                                      w_zero_point, 1, "w_q");
  const auto y_dq_only = g.add_linear(xq, wq_dq, b, "linear_dq_only");
  for (const auto& y : {y_matmul, y_gemm, y_dq_only}) g.add_output(y, DType::F32, std::vector<OnnxDim>{"batch", kOut});
  m.inputs["x"] = Tensor::from_floats(x, {kBatch, kIn});

  std::vector<double> x_deq(x.size());
  for (size_t i = 0; i < x.size(); ++i)
    x_deq[i] = dequantize_reference(quantize_reference(x[i], sx, zx, 0, 255), sx, zx);
  // The dequantized operands are exact floats. A float evaluation is within
  // gamma(K+1) of the exact sum; a runtime that fuses the QDQ pattern into an
  // integer matmul sums exactly and then scales by sx * sw[j] (2 more roundings).
  const auto ref = linear_reference(x_deq, std::vector<double>(x.size(), 0), w_deq, bias, kBatch, kIn, kOut, 2 * u);
  for (const auto& y : {y_matmul, y_gemm, y_dq_only}) m.expected[y] = {{kBatch, kOut}, ref.y, ref.err};
  return m;
}

OnnxTestModel make_fp8_qdq_model() {
  OnnxTestModel m{"fp8_qdq", OnnxGraph("fp8_qdq"), {}, {}, {}};
  m.options.opset = 19;
  std::mt19937 rng(15);
  // Ties between fp8 neighbours (1 + 1/16 lies halfway between 1 and 1.125),
  // the largest finite value, and overflow that QuantizeLinear saturates to 448.
  std::vector<float> x{1.0625f * 0.5f, -1.0625f * 0.5f, 1.1875f * 0.5f, 224.0f, 230.0f, 5000.0f, -5000.0f, 0.0f,
                       1e-4f};
  const auto random = uniform(rng, 23, -100, 100);
  x.insert(x.end(), random.begin(), random.end());
  const auto n = static_cast<int64_t>(x.size());
  const float scale = 0.5f;
  auto& g = m.graph;
  g.add_input("x", DType::F32, {n});
  Tensor zp = Tensor::zeros({}, DType::F8_E4M3);
  const auto y = g.add_qdq("x", g.add_initializer("scale", Tensor::full({}, scale)), g.add_initializer("zp", zp),
                           std::nullopt, "x");
  g.add_output(y, DType::F32, std::vector<OnnxDim>{n});
  m.inputs["x"] = Tensor::from_floats(x, {n});
  std::vector<float> expected;
  for (float v : x) expected.push_back(fp8_e4m3_to_float(float_to_fp8_e4m3(v / scale)) * scale);
  m.expected[y] = exact({n}, expected);
  return m;
}

OnnxTestModel make_int4_weight_model() {
  constexpr int64_t kBatch = 2, kIn = 8, kOut = 6;
  OnnxTestModel m{"int4_weight", OnnxGraph("int4_weight"), {}, {}, {}};
  m.options.opset = 21;
  std::mt19937 rng(16);
  std::uniform_int_distribution<int> q_dist(-8, 7);
  std::vector<int8_t> q(kIn * kOut);
  for (auto& v : q) v = static_cast<int8_t>(q_dist(rng));
  q[0] = -8, q[1] = 7;
  const std::vector<float> scale{0.1f, 0.05f, 0.2f, 0.125f, 0.3f, 0.01f};
  const std::vector<int8_t> zp{0, -1, 2, -8, 7, 3};
  Tensor wq = Tensor::empty({kIn, kOut}, DType::I4), zq = Tensor::empty({kOut}, DType::I4);
  pack_int4(q, std::span<uint8_t>(static_cast<uint8_t*>(wq.raw_data()), wq.nbytes()));
  pack_int4(zp, std::span<uint8_t>(static_cast<uint8_t*>(zq.raw_data()), zq.nbytes()));
  const auto x = uniform(rng, kBatch * kIn, -1, 1);

  auto& g = m.graph;
  g.add_input("x", DType::F32, {"batch", kIn});
  const auto w = g.add_dequantize(g.add_initializer("w_q", wq),
                                  g.add_initializer("w_scale", Tensor::from_floats(scale, {kOut})),
                                  g.add_initializer("w_zero_point", zq), 1, "w");
  const auto y = g.add_matmul("x", w, "matmul");
  g.add_output(w, DType::F32, std::vector<OnnxDim>{kIn, kOut});
  g.add_output(y, DType::F32, std::vector<OnnxDim>{"batch", kOut});
  m.inputs["x"] = Tensor::from_floats(x, {kBatch, kIn});
  std::vector<float> w_deq(kIn * kOut);
  for (int64_t k = 0; k < kIn; ++k)
    for (int64_t j = 0; j < kOut; ++j) w_deq[k * kOut + j] = dequantize_reference(q[k * kOut + j], scale[j], zp[j]);
  m.expected[w] = exact({kIn, kOut}, w_deq);
  const auto ref = linear_reference(std::vector<double>(x.begin(), x.end()), std::vector<double>(x.size(), 0), w_deq,
                                    std::vector<float>(kOut, 0.0f), kBatch, kIn, kOut);
  m.expected[y] = {{kBatch, kOut}, ref.y, ref.err};
  return m;
}

void expect_outputs_match(const std::map<std::string, Tensor>& got, const OnnxTestModel& model) {
  EXPECT_EQ(got.size(), model.expected.size()) << model.name;
  for (const auto& [name, want] : model.expected) {
    auto it = got.find(name);
    if (it == got.end()) {
      ADD_FAILURE() << model.name << ": output '" << name << "' missing";
      continue;
    }
    const Tensor t = it->second.to(DType::F64);
    ASSERT_EQ(t.shape(), want.shape) << model.name << ": " << name;
    const auto v = t.span<double>();
    int failures = 0;
    for (size_t i = 0; i < v.size() && failures < 5; ++i) {
      const bool ok = want.bound[i] == 0 ? static_cast<float>(v[i]) == static_cast<float>(want.value[i])
                                         : std::abs(v[i] - want.value[i]) <= want.bound[i];
      if (!ok) ++failures;
      EXPECT_TRUE(ok) << model.name << ": " << name << "[" << i << "] = " << v[i] << ", expected " << want.value[i]
                      << " within " << want.bound[i];
    }
  }
}

}  // namespace octet::testing
