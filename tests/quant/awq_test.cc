// AWQ scale and clip searches: a planted salient input channel, errors
// recomputed in double from the definitions, never worse than RTN / no
// clipping on their own data, the row subsampling rule, and bad input.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "octet/quant.h"
#include "quant/awq.h"
#include "quant/group_quant.h"
#include "quant/solver_testing.h"

namespace octet {
namespace {

using quant_testing::Rng;
using solver_testing::expect_quantize_error;
using solver_testing::gaussian_matrix;

// Inputs [n, in] with N(0, 1) channels, channel `salient` (if >= 0) `boost` times larger.
Tensor inputs_with_salient_channel(int64_t n, int64_t in, int64_t salient, double boost, uint64_t seed) {
  std::vector<float> v = quant_testing::gaussian_values(static_cast<size_t>(n * in), seed);
  if (salient >= 0)
    for (int64_t r = 0; r < n; ++r) v[r * in + salient] *= static_cast<float>(boost);
  return Tensor::from_floats(v, {n, in});
}

// mean over rows and outputs of (x (W' - W)^T)^2 for several weights, in double
// (through the Gram matrix: sum over rows of (x d)^2 = d^T X^T X d).
double output_mse(const Tensor& x, const std::vector<Tensor>& w, const std::vector<Tensor>& wq) {
  const std::vector<double> gram = solver_testing::gram_reference(x);
  double total = 0;
  int64_t outputs = 0;
  for (size_t k = 0; k < w.size(); ++k) {
    total += solver_testing::output_error(gram, w[k], wq[k]);
    outputs += w[k].dim(0);
  }
  return total / double(x.dim(0) * outputs);
}

// W' = RTN(W * s) / s, built from quantize_weight_rtn (not the library's AWQ path).
Tensor scaled_rtn(const Tensor& w, const std::vector<float>& s, const QuantSpec& spec) {
  const int64_t out = w.dim(0), in = w.dim(1);
  std::vector<float> ws(static_cast<size_t>(out * in));
  for (int64_t o = 0; o < out; ++o)
    for (int64_t c = 0; c < in; ++c) ws[o * in + c] = w.data<float>()[o * in + c] * s[c];
  Tensor q = dequantize_group_weight(quantize_weight_rtn(Tensor::from_floats(ws, {out, in}), spec));
  for (int64_t o = 0; o < out; ++o)
    for (int64_t c = 0; c < in; ++c) q.data<float>()[o * in + c] /= s[c];
  return q;
}

std::vector<Tensor> three_weights(int64_t out, int64_t in, uint64_t seed) {
  return {gaussian_matrix(out, in, seed, 0.05), gaussian_matrix(out / 2, in, seed + 1, 0.05),
          gaussian_matrix(out, in, seed + 2, 0.05)};
}

TEST(AwqTest, SalientChannelIsProtected) {
  const int64_t n = 512, in = 256, salient = 37;
  const std::vector<Tensor> weights = three_weights(64, in, 11);
  for (const double boost : {10.0, 50.0}) {
    const Tensor x = inputs_with_salient_channel(n, in, salient, boost, 3);
    for (const char* text : {"int4:sym:group(128)", "uint4:affine:group(128)", "int4:sym:group(32)"}) {
      SCOPED_TRACE(std::string(text) + " boost " + std::to_string(boost));
      const QuantSpec spec = parse_quant_spec(text);
      const AwqScaleResult r = awq_search_scales(x, weights, spec);
      ASSERT_EQ(r.errors.size(), 20u);
      ASSERT_EQ(r.scales.size(), size_t(in));
      int best = 0;
      for (int i = 1; i < 20; ++i)
        if (r.errors[i] < r.errors[best]) best = i;
      EXPECT_EQ(r.alpha, best / 20.0);
      EXPECT_EQ(r.rtn_error, r.errors[0]);
      std::printf("[awq] %-24s boost %2.0f: rtn %.4g  best alpha %.2f  error %.4g  ratio %.3f\n", text, boost,
                  r.rtn_error, r.alpha, r.errors[best], r.errors[best] / r.rtn_error);
      EXPECT_GT(r.alpha, 0.0);
      EXPECT_LT(r.errors[best], 0.9 * r.rtn_error);
      // The salient channel gets the largest scale.
      for (int64_t c = 0; c < in; ++c)
        if (c != salient) {
          ASSERT_GT(r.scales[salient], r.scales[c]) << c;
        }
      // errors[0] is plain RTN, and the best error is what applying the scales gives,
      // both recomputed in double from the definitions.
      std::vector<Tensor> plain, scaled;
      for (const Tensor& w : weights) {
        plain.push_back(dequantize_group_weight(quantize_weight_rtn(w, spec)));
        scaled.push_back(scaled_rtn(w, r.scales, spec));
      }
      EXPECT_NEAR(r.errors[0], output_mse(x, weights, plain), 1e-5 * r.errors[0]);
      EXPECT_NEAR(r.errors[best], output_mse(x, weights, scaled), 1e-5 * r.errors[best]);
    }
  }
}

TEST(AwqTest, ScalesFollowTheFormula) {
  const int64_t n = 64, in = 128;
  const Tensor x = inputs_with_salient_channel(n, in, 5, 20.0, 8);
  const std::vector<Tensor> weights{gaussian_matrix(32, in, 9, 0.05)};
  const AwqScaleResult r = awq_search_scales(x, weights, parse_quant_spec("int4:sym:group(64)"), 10);
  ASSERT_EQ(r.errors.size(), 10u);
  // s = max(mean|x|^alpha, 1e-4) / sqrt(max * min), recomputed here.
  std::vector<double> s(static_cast<size_t>(in));
  for (int64_t c = 0; c < in; ++c) {
    double m = 0;
    for (int64_t i = 0; i < n; ++i) m += std::fabs(double(x.data<float>()[i * in + c]));
    s[c] = std::max(std::pow(m / double(n), r.alpha), 1e-4);
  }
  const double norm = std::sqrt(*std::max_element(s.begin(), s.end()) * *std::min_element(s.begin(), s.end()));
  for (int64_t c = 0; c < in; ++c) EXPECT_NEAR(r.scales[c], s[c] / norm, 1e-6 * s[c] / norm) << c;
  // Alpha 0 would be all ones; an input channel that is always 0 hits the 1e-4 floor.
  std::vector<float> xv(x.data<float>(), x.data<float>() + x.numel());
  for (int64_t i = 0; i < n; ++i) xv[i * in + 9] = 0.0f;
  const AwqScaleResult z = awq_search_scales(Tensor::from_floats(xv, {n, in}), weights,
                                             parse_quant_spec("int4:sym:group(64)"), 10);
  for (const float v : z.scales) ASSERT_TRUE(std::isfinite(v) && v > 0);
}

TEST(AwqTest, NeverWorseThanRtnOnItsData) {
  // No salient channel: the search may well keep alpha 0, and can only match or beat RTN.
  const int64_t n = 256, in = 128;
  for (const uint64_t seed : {1u, 2u, 3u}) {
    const Tensor x = gaussian_matrix(n, in, seed);
    const std::vector<Tensor> weights = three_weights(32, in, seed + 10);
    const QuantSpec spec = parse_quant_spec("uint4:affine:group(64)");
    const AwqScaleResult r = awq_search_scales(x, weights, spec);
    std::vector<Tensor> scaled;
    for (const Tensor& w : weights) scaled.push_back(scaled_rtn(w, r.scales, spec));
    const double applied = output_mse(x, weights, scaled);
    EXPECT_LE(applied, r.rtn_error * (1 + 1e-5)) << seed;
    for (const double e : r.errors) EXPECT_GE(e, r.errors[static_cast<size_t>(std::lround(r.alpha * 20))]);
  }
}

// Per (row, group): mean over rows of (sum_k x_k (w_k - q(w_k)))^2, in double;
// summed over all rows and groups (the quantity the clip search minimises).
double clip_objective(const Tensor& x, const Tensor& w, const Tensor& wq, int64_t group) {
  const int64_t n = x.dim(0), in = x.dim(1), out = w.dim(0);
  const float* xd = x.data<float>();
  const float* wd = w.data<float>();
  const float* qd = wq.data<float>();
  double total = 0;
  for (int64_t o = 0; o < out; ++o)
    for (int64_t g = 0; g < in / group; ++g)
      for (int64_t r = 0; r < n; ++r) {
        double y = 0;
        for (int64_t k = g * group; k < (g + 1) * group; ++k)
          y += double(xd[r * in + k]) * (double(wd[o * in + k]) - double(qd[o * in + k]));
        total += y * y / double(n);
      }
  return total;
}

TEST(AwqTest, ClipSearchNeverWorseThanNoClipping) {
  const int64_t n = 300, in = 128, out = 48;
  const Tensor x = gaussian_matrix(n, in, 21);
  // Heavy-tailed weights: clipping the rare large values pays.
  std::vector<float> wv = quant_testing::laplace_values(static_cast<size_t>(out * in), 22, 0.05);
  const Tensor w = Tensor::from_floats(wv, {out, in});
  for (const char* text : {"int4:sym:group(32)", "uint4:affine:group(64)", "int4:sym:per_channel(0)",
                           "int8:sym:per_channel(0)"}) {
    SCOPED_TRACE(text);
    const QuantSpec spec = parse_quant_spec(text);
    const int64_t group = spec.granularity == Granularity::PerChannel ? in : spec.group_size;
    const Tensor clip = awq_search_clip(x, w, spec);
    ASSERT_EQ(clip.shape(), (Shape{out, in / group}));
    // Each clip is one of the candidates amax * (1 - i / 20), i < 10.
    int64_t clipped = 0;
    for (int64_t o = 0; o < out; ++o)
      for (int64_t g = 0; g < in / group; ++g) {
        float amax = 0;
        for (int64_t k = g * group; k < (g + 1) * group; ++k) amax = std::max(amax, std::fabs(wv[o * in + k]));
        const float c = clip.data<float>()[o * (in / group) + g];
        bool candidate = false;
        for (int i = 0; i < 10; ++i) candidate |= c == static_cast<float>(amax * (1.0 - i / 20.0));
        ASSERT_TRUE(candidate) << o << "," << g << ": " << c << " of " << amax;
        clipped += c < amax;
      }
    const Tensor plain = dequantize_group_weight(quantize_weight_rtn(w, spec));
    const Tensor with_clip = dequantize_group_weight(quantize_weight_rtn(w, spec, &clip));
    const double before = clip_objective(x, w, plain, group), after = clip_objective(x, w, with_clip, group);
    std::printf("[awq clip] %-24s clipped %ld of %ld groups; objective %.4g -> %.4g (ratio %.3f)\n", text,
                static_cast<long>(clipped), static_cast<long>(clip.numel()), before, after, after / before);
    EXPECT_LE(after, before * (1 + 1e-6));
    // 4-bit grids are coarse enough for clipping to pay somewhere; int8 may keep every amax.
    if (spec.dtype != DType::I8) {
      EXPECT_GT(clipped, 0);
    }
    if (spec.granularity == Granularity::PerChannel) {
      // One group per row: the objective is the output error itself.
      EXPECT_LE(output_mse(x, {w}, {with_clip}), output_mse(x, {w}, {plain}) * (1 + 1e-6));
    }
  }
}

TEST(AwqTest, ClipSearchSubsamplesRowsEvenly) {
  const int64_t n = 1000, in = 64, out = 16, m = 300;
  const Tensor x = gaussian_matrix(n, in, 31);
  const Tensor w = Tensor::from_floats(quant_testing::laplace_values(out * in, 32, 0.05), {out, in});
  const QuantSpec spec = parse_quant_spec("int4:sym:group(32)");
  std::vector<float> rows;
  for (int64_t i = 0; i < m; ++i) {
    const float* src = x.data<float>() + (i * n / m) * in;
    rows.insert(rows.end(), src, src + in);
  }
  const Tensor picked = awq_search_clip(Tensor::from_floats(rows, {m, in}), w, spec, 20, 0.5, m);
  const Tensor sub = awq_search_clip(x, w, spec, 20, 0.5, m);
  for (int64_t i = 0; i < sub.numel(); ++i) ASSERT_EQ(sub.data<float>()[i], picked.data<float>()[i]) << i;
  // max_shrink 0 (no candidate) or a grid whose only candidate is i = 0 leave amax.
  const Tensor none = awq_search_clip(x, w, spec, 20, 0.0);
  const Tensor one = awq_search_clip(x, w, spec, 1, 0.5);
  for (int64_t o = 0; o < out; ++o)
    for (int64_t g = 0; g < 2; ++g) {
      float amax = 0;
      for (int64_t k = g * 32; k < (g + 1) * 32; ++k) amax = std::max(amax, std::fabs(w.data<float>()[o * in + k]));
      ASSERT_EQ(none.data<float>()[o * 2 + g], amax);
      ASSERT_EQ(one.data<float>()[o * 2 + g], amax);
    }
}

TEST(AwqTest, RejectsBadInput) {
  const Tensor x = gaussian_matrix(16, 64, 1);
  const Tensor w = gaussian_matrix(8, 64, 2);
  const QuantSpec spec = parse_quant_spec("int4:sym:group(32)");
  expect_quantize_error([&] { awq_search_scales(x, {}, spec); }, "no weights");
  expect_quantize_error([&] { awq_search_scales(x, {w, gaussian_matrix(8, 32, 3)}, spec); }, "mixed in");
  expect_quantize_error([&] { awq_search_scales(gaussian_matrix(16, 32, 1), {w}, spec); }, "x width");
  expect_quantize_error([&] { awq_search_scales(x, {w}, spec, 0); }, "grid 0");
  expect_quantize_error([&] { awq_search_scales(x, {w}, parse_quant_spec("int8:sym:per_tensor")); }, "per tensor");
  std::vector<float> bad(16 * 64, 1.0f);
  bad[3] = NAN;
  expect_quantize_error([&] { awq_search_scales(Tensor::from_floats(bad, {16, 64}), {w}, spec); }, "NaN x", "NaN");
  expect_quantize_error([&] { awq_search_clip(x, w, spec, 20, 1.5); }, "max_shrink 1.5");
  expect_quantize_error([&] { awq_search_clip(x, w, spec, 20, 0.5, 0); }, "max_rows 0");
  expect_quantize_error([&] { awq_search_clip(x, w, parse_quant_spec("int4:sym:group(48)")); }, "group 48");
}

}  // namespace
}  // namespace octet
