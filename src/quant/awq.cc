// AWQ scale and clipping searches (see awq.h).
#include "quant/awq.h"

#include <cmath>
#include <limits>
#include <string>

#include "octet/kernels.h"
#include "octet/thread_pool.h"

namespace octet {

using namespace group_quant_detail;

namespace {

// x as contiguous f32 [n, in] rows of finite values.
Tensor require_inputs(const Tensor& x, int64_t in, std::string_view what) {
  check(x.defined(), kTag, "{}: undefined inputs", what);
  check(x.dtype() == DType::F32 && x.rank() >= 2 && x.dim(-1) == in, kTag, "{}: inputs must be f32 [n, {}], got {}",
        what, in, x);
  check(x.numel() > 0, kTag, "{}: inputs {} are empty", what, x);
  const Tensor c = x.contiguous();
  if (!all_finite(c.span<float>())) fail(kTag, "{}: inputs {} contain NaN or Inf", what, x.describe());
  return c.reshape({-1, in});
}

// Sum of squares of every element, in double.
double sum_squares(const Tensor& t) {
  double s = 0;
  for (const float v : t.span<float>()) s += double(v) * double(v);
  return s;
}

// AutoAWQ's scales for one alpha: mean|x|^alpha clamped at 1e-4, normalised by
// sqrt(max * min); anything non-finite falls back to 1.
std::vector<float> scales_for_alpha(const std::vector<double>& x_mean, double alpha) {
  std::vector<double> s(x_mean.size());
  double lo = std::numeric_limits<double>::infinity(), hi = 0;
  for (size_t c = 0; c < s.size(); ++c) {
    s[c] = std::max(std::pow(x_mean[c], alpha), 1e-4);
    lo = std::min(lo, s[c]);
    hi = std::max(hi, s[c]);
  }
  const double norm = std::sqrt(hi * lo);
  std::vector<float> out(s.size());
  for (size_t c = 0; c < s.size(); ++c) {
    const float v = static_cast<float>(s[c] / norm);
    out[c] = std::isfinite(v) && v > 0 ? v : 1.0f;
  }
  return out;
}

// W' - W for W' = RTN(W * s) / s (octet's fake_quantize on the scaled weight).
Tensor scaled_rtn_difference(const Tensor& w, const std::vector<float>& s, const QuantSpec& spec) {
  const int64_t out = w.dim(0), in = w.dim(1);
  Tensor scaled = Tensor::empty({out, in}, DType::F32);
  const float* wd = w.data<float>();
  float* sd = scaled.data<float>();
  for (int64_t r = 0; r < out; ++r)
    for (int64_t c = 0; c < in; ++c) sd[r * in + c] = wd[r * in + c] * s[c];
  Tensor diff = fake_quantize(scaled, spec);
  float* dd = diff.data<float>();
  for (int64_t r = 0; r < out; ++r)
    for (int64_t c = 0; c < in; ++c) dd[r * in + c] = dd[r * in + c] / s[c] - wd[r * in + c];
  return diff;
}

}  // namespace

AwqScaleResult awq_search_scales(const Tensor& x_in, const std::vector<Tensor>& weights_in, const QuantSpec& spec,
                                 int grid) {
  check(!weights_in.empty(), kTag, "awq_search_scales: no weights");
  check(grid >= 1, kTag, "awq_search_scales: grid must be >= 1, got {}", grid);
  std::vector<Tensor> weights;
  int64_t total_out = 0;
  for (const Tensor& w : weights_in) {
    weights.push_back(require_weight(w, "awq_search_scales: weight"));
    group_size_for(spec, weights.back().shape());
    check(weights.back().dim(1) == weights.front().dim(1), kTag,
          "awq_search_scales: weights read the same input, but have in = {} and {}", weights.front().dim(1),
          weights.back().dim(1));
    total_out += weights.back().dim(0);
  }
  const int64_t in = weights.front().dim(1);
  const Tensor x = require_inputs(x_in, in, "awq_search_scales");
  const int64_t n = x.dim(0);
  std::vector<double> x_mean(static_cast<size_t>(in), 0.0);
  const float* xd = x.data<float>();
  for (int64_t r = 0; r < n; ++r)
    for (int64_t c = 0; c < in; ++c) x_mean[c] += std::fabs(double(xd[r * in + c]));
  for (double& m : x_mean) m /= static_cast<double>(n);

  AwqScaleResult result;
  result.errors.resize(static_cast<size_t>(grid));
  double best = std::numeric_limits<double>::infinity();
  int best_index = 0;
  Tensor y;
  for (int i = 0; i < grid; ++i) {
    const std::vector<float> s = scales_for_alpha(x_mean, double(i) / grid);
    double squares = 0;
    for (const Tensor& w : weights) {
      const Tensor diff = scaled_rtn_difference(w, s, spec);
      y = Tensor();  // outputs differ in width between weights
      kernels::linear(x, diff, {}, y);
      squares += sum_squares(y);
    }
    result.errors[i] = squares / (static_cast<double>(n) * static_cast<double>(total_out));
    if (result.errors[i] < best) {
      best = result.errors[i];
      best_index = i;
      result.scales = s;
    }
  }
  result.alpha = double(best_index) / grid;
  result.rtn_error = result.errors[0];
  return result;
}

Tensor awq_search_clip(const Tensor& x_in, const Tensor& w_in, const QuantSpec& spec, int grid, double max_shrink,
                       int64_t max_rows) {
  const Tensor w = require_weight(w_in, "awq_search_clip: weight");
  const int64_t out = w.dim(0), in = w.dim(1);
  const int64_t group = group_size_for(spec, w.shape()), groups = in / group;
  check(grid >= 1, kTag, "awq_search_clip: grid must be >= 1, got {}", grid);
  check(std::isfinite(max_shrink) && max_shrink >= 0 && max_shrink <= 1, kTag,
        "awq_search_clip: max_shrink must be in [0, 1], got {}", max_shrink);
  check(max_rows >= 1, kTag, "awq_search_clip: max_rows must be >= 1, got {}", max_rows);
  const Tensor x = require_inputs(x_in, in, "awq_search_clip");
  const int64_t n = x.dim(0), m = std::min(n, max_rows);
  const int candidates = static_cast<int>(std::floor(grid * max_shrink));

  const float* wd = w.data<float>();
  Tensor clip = Tensor::empty({out, groups}, DType::F32);
  float* cd = clip.data<float>();
  for (int64_t r = 0; r < out; ++r)
    for (int64_t g = 0; g < groups; ++g) {
      float amax = 0;
      for (int64_t k = 0; k < group; ++k) amax = std::max(amax, std::fabs(wd[r * in + g * group + k]));
      cd[r * groups + g] = amax;
    }
  if (candidates == 0) return clip;

  const Grid qgrid = grid_for(spec);
  const float* xd = x.data<float>();
  Tensor xg = Tensor::empty({m, group}, DType::F32);
  Tensor diff = Tensor::empty({out, group}, DType::F32);
  Tensor y;
  std::vector<double> best_error(static_cast<size_t>(out)), error(static_cast<size_t>(out));
  for (int64_t g = 0; g < groups; ++g) {
    // The group's columns of the evenly spaced rows.
    float* xgd = xg.data<float>();
    for (int64_t i = 0; i < m; ++i) {
      const float* src = xd + (i * n / m) * in + g * group;
      std::copy(src, src + group, xgd + i * group);
    }
    std::fill(best_error.begin(), best_error.end(), std::numeric_limits<double>::infinity());
    std::vector<float> best_clip(static_cast<size_t>(out));
    for (int64_t r = 0; r < out; ++r) best_clip[r] = cd[r * groups + g];
    for (int i = 0; i < candidates; ++i) {
      const double shrink = 1.0 - double(i) / grid;
      float* dd = diff.data<float>();
      parallel_for(out, [&](int64_t r0, int64_t r1) {
        std::vector<float> values(static_cast<size_t>(group));
        for (int64_t r = r0; r < r1; ++r) {
          const float* src = wd + r * in + g * group;
          const float c = static_cast<float>(cd[r * groups + g] * shrink);
          float lo = INFINITY, hi = -INFINITY;
          for (int64_t k = 0; k < group; ++k) {
            values[k] = std::min(std::max(src[k], -c), c);  // as quantize_weight_rtn clamps
            lo = std::min(lo, values[k]);
            hi = std::max(hi, values[k]);
          }
          const GroupParams p = params_for_range(lo, hi, spec);
          for (int64_t k = 0; k < group; ++k)
            dd[r * group + k] = src[k] - dequantize_code(qgrid.code(values[k], p.inv_scale, p.zero_point), p);
        }
      }, 16);
      kernels::linear(xg, diff, {}, y);  // [m, out]: sum_k x_k (w_k - q(w_k)) per row and output
      const float* yd = y.data<float>();
      std::fill(error.begin(), error.end(), 0.0);
      for (int64_t row = 0; row < m; ++row)
        for (int64_t r = 0; r < out; ++r) error[r] += double(yd[row * out + r]) * double(yd[row * out + r]);
      for (int64_t r = 0; r < out; ++r) {
        const double e = error[r] / static_cast<double>(m);
        if (e < best_error[r]) {
          best_error[r] = e;
          best_clip[r] = static_cast<float>(cd[r * groups + g] * shrink);
        }
      }
    }
    for (int64_t r = 0; r < out; ++r) cd[r * groups + g] = best_clip[r];
  }
  return clip;
}

}  // namespace octet
