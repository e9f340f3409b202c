// GPTQ, its Hessian and its Cholesky factor: against double references
// written here (a direct X^T X, U^T U A = I, and the unblocked OBQ form of
// GPTQ with an explicitly downdated inverse Hessian instead of a Cholesky
// factor), and against RTN on correlated inputs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "octet/cpu_features.h"
#include "octet/quant.h"
#include "quant/cholesky.h"
#include "quant/gptq.h"
#include "quant/group_quant.h"
#include "quant/solver_testing.h"

namespace octet {
namespace {

using solver_testing::correlated_inputs;
using solver_testing::expect_codes_on_grid;
using solver_testing::expect_quantize_error;
using solver_testing::gram_reference;
using solver_testing::hessian_of;
using solver_testing::output_error;

Tensor layer_weights(int64_t out, int64_t in, uint64_t seed) {
  std::vector<float> v = quant_testing::gaussian_with_outliers(static_cast<size_t>(out * in), 6, seed, 4.0, 6.0);
  for (float& x : v) x *= 0.05f;
  return Tensor::from_floats(v, {out, in});
}

// Inverse of a symmetric positive definite matrix by Gauss-Jordan in double.
std::vector<double> inverse_reference(std::vector<double> a, int64_t n) {
  std::vector<double> inv(static_cast<size_t>(n * n), 0.0);
  for (int64_t i = 0; i < n; ++i) inv[i * n + i] = 1.0;
  for (int64_t c = 0; c < n; ++c) {
    const double p = a[c * n + c];
    for (int64_t j = 0; j < n; ++j) a[c * n + j] /= p, inv[c * n + j] /= p;
    for (int64_t r = 0; r < n; ++r) {
      if (r == c) continue;
      const double f = a[r * n + c];
      if (f == 0) continue;
      for (int64_t j = 0; j < n; ++j) a[r * n + j] -= f * a[c * n + j], inv[r * n + j] -= f * inv[c * n + j];
    }
  }
  return inv;
}

// GPTQ in its OBQ form, all in double: columns in `order`; after each column
// its row and column leave the inverse Hessian (a rank-1 downdate) and the
// later weights move by (w - q) Hinv_ij / Hinv_ii. Group params come from the
// current weights at a group's first column, or from the original weights
// (static) with act_order.
struct ReferenceGptq {
  Tensor dequantized;          // [out, in]
  std::vector<int> codes;      // [out, in]
  std::vector<float> scales;   // [out, in / group]
};
ReferenceGptq reference_gptq(const Tensor& w_in, const Tensor& hessian, const QuantSpec& spec, double damp,
                             bool act_order) {
  const int64_t out = w_in.dim(0), in = w_in.dim(1);
  const int64_t group = spec.granularity == Granularity::PerChannel ? in : spec.group_size;
  std::vector<double> h(hessian.data<double>(), hessian.data<double>() + in * in);
  std::vector<double> w(w_in.data<float>(), w_in.data<float>() + out * in);
  for (int64_t i = 0; i < in; ++i)
    if (h[i * in + i] == 0) {
      h[i * in + i] = 1;
      for (int64_t r = 0; r < out; ++r) w[r * in + i] = 0;
    }
  double mean = 0;
  for (int64_t i = 0; i < in; ++i) mean += h[i * in + i];
  for (int64_t i = 0; i < in; ++i) h[i * in + i] += damp * mean / double(in);
  std::vector<int64_t> order(static_cast<size_t>(in));
  std::iota(order.begin(), order.end(), 0);
  if (act_order)
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return h[a * in + a] > h[b * in + b]; });
  std::vector<double> hinv = inverse_reference(h, in);
  const QuantLimits lim = quant_limits(spec);
  auto range_params = [&](int64_t r, int64_t first) {
    float lo = INFINITY, hi = -INFINITY;
    for (int64_t c = first; c < first + group; ++c) {
      lo = std::min(lo, static_cast<float>(w[r * in + c]));
      hi = std::max(hi, static_cast<float>(w[r * in + c]));
    }
    return qparams_for_range(lo, hi, spec);
  };
  std::vector<ScaleZeroPoint> fixed(static_cast<size_t>(out * (in / group)));
  for (int64_t r = 0; r < out; ++r)
    for (int64_t g = 0; g < in / group; ++g) fixed[r * (in / group) + g] = range_params(r, g * group);
  std::vector<ScaleZeroPoint> current(static_cast<size_t>(out));
  ReferenceGptq ref;
  std::vector<float> result(static_cast<size_t>(out * in));
  ref.codes.resize(static_cast<size_t>(out * in));
  ref.scales.resize(fixed.size());
  std::vector<char> done(static_cast<size_t>(in), 0);
  for (int64_t t = 0; t < in; ++t) {
    const int64_t i = order[t];
    if (!act_order && i % group == 0)
      for (int64_t r = 0; r < out; ++r) {
        current[r] = range_params(r, i);
        ref.scales[r * (in / group) + i / group] = current[r].scale;
      }
    const double d = hinv[i * in + i];
    for (int64_t r = 0; r < out; ++r) {
      const ScaleZeroPoint p = act_order ? fixed[r * (in / group) + i / group] : current[r];
      const float v = static_cast<float>(w[r * in + i]) * (1.0f / p.scale);
      const float rounded = spec.rounding == Rounding::NearestEven ? std::nearbyint(v) : std::round(v);
      const float code = std::clamp(rounded + float(p.zero_point), float(lim.qmin), float(lim.qmax));
      const float q = (code - float(p.zero_point)) * p.scale;
      result[r * in + i] = q;
      ref.codes[r * in + i] = static_cast<int>(code);
      if (act_order) ref.scales[r * (in / group) + i / group] = p.scale;
      const double e = (w[r * in + i] - double(q)) / d;
      for (int64_t j = 0; j < in; ++j)
        if (!done[j] && j != i) w[r * in + j] -= e * hinv[i * in + j];
    }
    done[i] = 1;
    for (int64_t j = 0; j < in; ++j)
      for (int64_t k = 0; k < in; ++k)
        if (!done[j] && !done[k]) hinv[j * in + k] -= hinv[j * in + i] * hinv[i * in + k] / d;
  }
  ref.dequantized = Tensor::from_floats(result, {out, in});
  return ref;
}

double fraction_of_equal_codes(const GroupQuantizedWeight& q, const std::vector<int>& codes) {
  const Tensor c = q.codes.to(DType::F32);
  int64_t same = 0;
  for (int64_t i = 0; i < c.numel(); ++i) same += c.data<float>()[i] == float(codes[i]);
  return double(same) / double(c.numel());
}

double worst_relative_difference(const Tensor& a, const std::vector<float>& b) {
  double worst = 0;
  for (int64_t i = 0; i < a.numel(); ++i)
    worst = std::max(worst, std::fabs(double(a.data<float>()[i]) - b[i]) / std::fabs(double(b[i])));
  return worst;
}

Tensor rtn(const Tensor& w, const QuantSpec& spec) { return dequantize_group_weight(quantize_weight_rtn(w, spec)); }

// One correlated calibration set shared by the tests (built once: it is the slow part).
struct Layer {
  static constexpr int64_t kOut = 64, kIn = 256, kRows = 3072;
  Tensor x = correlated_inputs(kRows, kIn, 101);
  std::vector<double> gram = gram_reference(x);
  Tensor hessian = hessian_of(gram, kIn, kRows);
  Tensor w = layer_weights(kOut, kIn, 202);
};
const Layer& layer() {
  static const Layer l;
  return l;
}

TEST(CholeskyTest, InverseUpperFactor) {
  // Sizes around the 64-wide blocks and the 3 / 6-row, 8-column tiles.
  for (const int64_t n : {int64_t{1}, int64_t{7}, int64_t{64}, int64_t{200}}) {
    SCOPED_TRACE("n = " + std::to_string(n));
    const Tensor x = correlated_inputs(2 * n + 8, n, 900 + n);
    const std::vector<double> a = gram_reference(x);
    std::vector<double> u;
    ASSERT_EQ(cholesky_detail::inverse_upper_cholesky(a, n, u), -1);
    // U upper with a positive diagonal and U^T U A = I.
    double worst = 0;
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_GT(u[i * n + i], 0);
      for (int64_t j = 0; j < i; ++j) ASSERT_EQ(u[i * n + j], 0.0) << i << "," << j;
    }
    std::vector<double> ua(static_cast<size_t>(n * n), 0.0);  // U A
    for (int64_t i = 0; i < n; ++i)
      for (int64_t k = i; k < n; ++k)
        for (int64_t j = 0; j < n; ++j) ua[i * n + j] += u[i * n + k] * a[k * n + j];
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double v = 0;  // (U^T (U A))_ij
        for (int64_t k = 0; k <= std::min(i, n - 1); ++k) v += u[k * n + i] * ua[k * n + j];
        worst = std::max(worst, std::fabs(v - (i == j ? 1.0 : 0.0)));
      }
    EXPECT_LT(worst, 1e-9);
  }
  // Not positive definite: the failing pivot is reported in A's own order.
  std::vector<double> a(16, 0.0);
  for (int i = 0; i < 4; ++i) a[i * 4 + i] = i == 2 ? -1.0 : 1.0;
  std::vector<double> u;
  EXPECT_EQ(cholesky_detail::inverse_upper_cholesky(a, 4, u), 2);
}

TEST(CholeskyTest, TileKernelsAgree) {
  // The AVX2 + FMA tile (when the CPU has it) against the SSE2 one, and both
  // against a plain product.
  const int64_t depth = 37, lda = 50;
  const std::vector<float> av = quant_testing::gaussian_values(cholesky_detail::kMaxTileRows * lda, 71);
  const std::vector<float> bv = quant_testing::gaussian_values(depth * cholesky_detail::kTileCols, 72);
  const std::vector<double> a(av.begin(), av.end()), strip(bv.begin(), bv.end());
  std::vector<double> expected(cholesky_detail::kMaxTileRows * cholesky_detail::kTileCols, 0.0);
  for (int r = 0; r < cholesky_detail::kMaxTileRows; ++r)
    for (int c = 0; c < cholesky_detail::kTileCols; ++c)
      for (int64_t k = 0; k < depth; ++k)
        expected[r * cholesky_detail::kTileCols + c] += a[r * lda + k] * strip[k * cholesky_detail::kTileCols + c];
  std::vector<double> got(expected.size(), 0.0);
  cholesky_detail::tile_product_sse2(a.data(), lda, strip.data(), depth, got.data());
  for (int i = 0; i < cholesky_detail::kSse2TileRows * cholesky_detail::kTileCols; ++i)
    EXPECT_NEAR(got[i], expected[i], 1e-12 * depth) << i;
  if (cpu_features().avx2 && cpu_features().fma) {
    cholesky_detail::tile_product_avx2(a.data(), lda, strip.data(), depth, got.data());
    for (int i = 0; i < cholesky_detail::kAvx2TileRows * cholesky_detail::kTileCols; ++i)
      EXPECT_NEAR(got[i], expected[i], 1e-12 * depth) << i;
  }
}

TEST(HessianAccumulatorTest, MatchesDoubleReference) {
  const int64_t in = 96, n = 1500;
  const Tensor x = correlated_inputs(n, in, 7);
  HessianAccumulator acc(in);
  acc.add(x.slice(0, 0, 700));                        // [700, in]
  acc.add(x.slice(0, 700, n).reshape({2, 400, in}));  // [2, 400, in]: rows are flattened
  EXPECT_EQ(acc.rows(), n);
  const Tensor h = acc.hessian();
  ASSERT_EQ(h.dtype(), DType::F64);
  ASSERT_EQ(h.shape(), (Shape{in, in}));
  const std::vector<double> g = gram_reference(x);
  const double* hd = h.data<double>();
  double worst = 0;
  for (int64_t i = 0; i < in; ++i)
    for (int64_t j = 0; j < in; ++j) {
      const double ref = 2.0 * g[i * in + j] / double(n);
      const double scale = 2.0 * std::sqrt(g[i * in + i] * g[j * in + j]) / double(n);
      worst = std::max(worst, std::fabs(hd[i * in + j] - ref) / scale);
      ASSERT_EQ(hd[i * in + j], hd[j * in + i]) << i << "," << j;
    }
  // f32 products summed in chunks of <= 512 rows: ~1e-7 relative each.
  EXPECT_LT(worst, 2e-6);

  HessianAccumulator empty(in);
  expect_quantize_error([&] { (void)empty.hessian(); }, "no rows", "no input rows");
  expect_quantize_error([&] { empty.add(Tensor::zeros({4, in + 1}, DType::F32)); }, "wrong width");
  expect_quantize_error([&] { empty.add(Tensor::zeros({4, in}, DType::F64)); }, "f64 inputs");
  Tensor nan = Tensor::zeros({2, in}, DType::F32);
  nan.data<float>()[5] = std::numeric_limits<float>::infinity();
  expect_quantize_error([&] { empty.add(nan); }, "Inf input", "NaN or Inf");
  expect_quantize_error([] { HessianAccumulator bad(0); }, "in = 0");
}

TEST(GptqTest, BeatsRtnOnCorrelatedInputs) {
  const Layer& l = layer();
  for (const char* text : {"int4:sym:group(32)", "int4:sym:group(128)", "uint4:affine:group(32)",
                           "uint4:affine:group(128)", "int8:sym:per_channel(0)", "uint4:affine:per_channel(0)"}) {
    const QuantSpec spec = parse_quant_spec(text);
    const double rtn_error = output_error(l.gram, l.w, rtn(l.w, spec));
    for (const bool act_order : {false, true}) {
      SCOPED_TRACE(std::string(text) + (act_order ? " act_order" : ""));
      GptqOptions options;
      options.act_order = act_order;
      GptqStats stats;
      const GroupQuantizedWeight q = gptq_quantize(l.w, l.hessian, spec, options, &stats);
      expect_codes_on_grid(q);
      const double gptq_error = output_error(l.gram, l.w, dequantize_group_weight(q));
      std::printf("[gptq] %-26s act_order=%d  ||XW^T - XQ^T||^2: rtn %.6g  gptq %.6g  ratio %.3f\n", text, act_order,
                  rtn_error, gptq_error, gptq_error / rtn_error);
      EXPECT_LT(gptq_error, 0.75 * rtn_error);
      EXPECT_EQ(stats.dead_columns, 0);
      EXPECT_GT(stats.damp_added, 0);
      const QuantParams rtn_params = compute_qparams(l.w, spec);
      const float* rs = rtn_params.scale.data<float>();
      const float* gs = q.scales.data<float>();
      const int64_t groups = q.scales.dim(1);
      if (act_order) {
        // Static groups: every group's params from the original weights, as RTN's.
        for (int64_t k = 0; k < q.scales.numel(); ++k) ASSERT_EQ(gs[k], rs[k]) << k;
      } else {
        // The first group sees no error yet; later ones see the updated weights.
        int64_t differ = 0;
        for (int64_t r = 0; r < l.kOut; ++r) {
          ASSERT_EQ(gs[r * groups], rs[r * groups]) << r;
          for (int64_t g = 1; g < groups; ++g) differ += gs[r * groups + g] != rs[r * groups + g];
        }
        if (groups > 1) {
          EXPECT_GT(differ, 0);
        }
      }
    }
  }
}

TEST(GptqTest, MatchesUnblockedReference) {
  const int64_t out = 24, in = 128, n = 1024;
  const Tensor x = correlated_inputs(n, in, 303);
  const std::vector<double> gram = gram_reference(x);
  const Tensor hessian = hessian_of(gram, in, n);
  const Tensor w = layer_weights(out, in, 404);
  for (const char* text : {"int4:sym:group(32)", "uint4:affine:group(32)", "uint4:affine:group(128)",
                           "int8:sym:per_channel(0)", "int4:sym:group(64):rna"}) {
    const QuantSpec spec = parse_quant_spec(text);
    for (const bool act_order : {false, true}) {
      SCOPED_TRACE(std::string(text) + (act_order ? " act_order" : ""));
      const ReferenceGptq ref = reference_gptq(w, hessian, spec, 0.01, act_order);
      const double ref_error = output_error(gram, w, ref.dequantized);
      // Blocks of 1 and 48 split groups (group(64) then starts mid-block and runs past it);
      // 128 and 1000 hold the whole row.
      for (const int64_t block : {int64_t{1}, int64_t{48}, int64_t{128}, int64_t{1000}}) {
        SCOPED_TRACE("block " + std::to_string(block));
        GptqOptions options;
        options.act_order = act_order;
        options.block = block;
        const GroupQuantizedWeight q = gptq_quantize(w, hessian, spec, options);
        // The f32 working weights (and f32 lazy updates) against the double reference:
        // ranges differ in the last bits, and a rare rounding flip steers the rest of its row.
        EXPECT_NEAR(output_error(gram, w, dequantize_group_weight(q)) / ref_error, 1.0, 1e-3);
        EXPECT_GT(fraction_of_equal_codes(q, ref.codes), 0.99);
        EXPECT_LT(worst_relative_difference(q.scales, ref.scales), 1e-5);
      }
    }
  }
}

TEST(GptqTest, DeadInputColumnsGetZeroWeights) {
  const Layer& l = layer();
  std::vector<float> xv(l.x.data<float>(), l.x.data<float>() + l.x.numel());
  for (int64_t r = 0; r < l.kRows; ++r) xv[r * l.kIn + 5] = xv[r * l.kIn + 200] = 0.0f;
  const Tensor x = Tensor::from_floats(xv, {l.kRows, l.kIn});
  HessianAccumulator acc(l.kIn);
  acc.add(x);
  const Tensor hessian = acc.hessian();
  const std::vector<double> gram = gram_reference(x);
  const QuantSpec spec = parse_quant_spec("int4:sym:group(32)");
  for (const bool act_order : {false, true}) {
    SCOPED_TRACE(act_order ? "act_order" : "");
    GptqOptions options;
    options.act_order = act_order;
    GptqStats stats;
    const GroupQuantizedWeight q = gptq_quantize(l.w, hessian, spec, options, &stats);
    expect_codes_on_grid(q);
    EXPECT_EQ(stats.dead_columns, 2);
    double mean_diag = 2.0;  // the dead columns count as H_ii = 1
    for (int64_t i = 0; i < l.kIn; ++i) mean_diag += hessian.data<double>()[i * l.kIn + i];
    // The same positive terms summed in another order (act_order permutes
    // them): within gamma_kIn of double, far below 1e-12 relative.
    const double expected_damp = 0.01 * mean_diag / double(l.kIn);
    EXPECT_NEAR(stats.damp_added, expected_damp, 1e-12 * expected_damp);
    const Tensor dq = dequantize_group_weight(q);
    for (int64_t r = 0; r < l.kOut; ++r) {
      ASSERT_EQ(dq.data<float>()[r * l.kIn + 5], 0.0f) << r;
      ASSERT_EQ(dq.data<float>()[r * l.kIn + 200], 0.0f) << r;
    }
    EXPECT_LT(output_error(gram, l.w, dq), 0.75 * output_error(gram, l.w, rtn(l.w, spec)));
  }
}

TEST(GptqTest, IllConditionedHessianNeedsDamping) {
  // 24 rows for 128 inputs: X^T X has rank 24; minus 1e-8 x its mean diagonal it is
  // slightly indefinite, as f32 accumulation can leave it.
  const int64_t in = 128, n = 24, out = 32;
  const Tensor x = correlated_inputs(n, in, 505);
  const std::vector<double> gram = gram_reference(x);
  Tensor hessian = hessian_of(gram, in, n);
  double* hd = hessian.data<double>();
  double mean = 0;
  for (int64_t i = 0; i < in; ++i) mean += hd[i * in + i] / double(in);
  for (int64_t i = 0; i < in; ++i) hd[i * in + i] -= 1e-8 * mean;
  const Tensor w = layer_weights(out, in, 606);
  const QuantSpec spec = parse_quant_spec("int4:sym:group(32)");
  for (const double damp : {0.0, 1e-12}) {
    GptqOptions options;
    options.damp = damp;
    expect_quantize_error([&] { gptq_quantize(w, hessian, spec, options); }, "damp " + std::to_string(damp),
                          "raise GptqOptions::damp");
  }
  GptqStats stats;
  const GroupQuantizedWeight q = gptq_quantize(w, hessian, spec, {}, &stats);
  expect_codes_on_grid(q);
  EXPECT_NEAR(stats.damp_added, 0.01 * mean * (1 - 1e-8), 1e-12 * mean);
  const double gptq_error = output_error(gram, w, dequantize_group_weight(q));
  const double rtn_error = output_error(gram, w, rtn(w, spec));
  std::printf("[gptq] rank-24 Hessian, int4 g32: rtn %.6g  gptq %.6g  ratio %.3f\n", rtn_error, gptq_error,
              gptq_error / rtn_error);
  EXPECT_LT(gptq_error, 0.5 * rtn_error);
}

TEST(GptqTest, RejectsBadInput) {
  const int64_t in = 64;
  const Tensor w = layer_weights(8, in, 1);
  Tensor h = Tensor::zeros({in, in}, DType::F64);
  for (int64_t i = 0; i < in; ++i) h.data<double>()[i * in + i] = 1.0;
  const QuantSpec spec = parse_quant_spec("int4:sym:group(32)");
  EXPECT_NO_THROW(gptq_quantize(w, h, spec));
  EXPECT_NO_THROW(gptq_quantize(w, h.to(DType::F32), spec));
  expect_quantize_error([&] { gptq_quantize(w, h.slice(0, 0, 32), spec); }, "H shape");
  expect_quantize_error([&] { gptq_quantize(w, h, parse_quant_spec("int4:sym:group(24)")); }, "group 24");
  expect_quantize_error([&] { gptq_quantize(w, h, parse_quant_spec("fp8_e4m3:sym:per_channel(0)")); }, "fp8");
  GptqOptions bad_block;
  bad_block.block = 0;
  expect_quantize_error([&] { gptq_quantize(w, h, spec, bad_block); }, "block 0");
  GptqOptions bad_damp;
  bad_damp.damp = -0.1;
  expect_quantize_error([&] { gptq_quantize(w, h, spec, bad_damp); }, "negative damp");
  Tensor negative = h.clone();
  negative.data<double>()[3 * in + 3] = -1.0;
  expect_quantize_error([&] { gptq_quantize(w, negative, spec); }, "negative diagonal", "negative");
  Tensor nan = h.clone();
  nan.data<double>()[2 * in + 1] = std::numeric_limits<double>::quiet_NaN();
  expect_quantize_error([&] { gptq_quantize(w, nan, spec); }, "NaN Hessian");
}

}  // namespace
}  // namespace octet
