// Histogram with a growing range, and the calibration rules computed from it:
// percentile, entropy (TensorRT's KL search) and MSE.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/error_tags.h"
#include "octet/number_formats.h"
#include "octet/quant_calibration.h"
#include "quant/quant_kernels.h"

namespace octet {
namespace {

// Symmetric threshold T -> clip range for the scheme (see quant_calibration.h).
ClipRange clip_for_threshold(const Histogram& h, double t, QuantScheme scheme) {
  const auto tf = static_cast<float>(t);
  if (scheme == QuantScheme::Symmetric) return {-tf, tf};
  const float lo0 = std::min(h.min(), 0.0f), hi0 = std::max(h.max(), 0.0f);
  return {std::max(lo0, -tf), std::min(hi0, tf)};
}

void require_data(const Histogram& h, const char* what) {
  check(h.total() > 0, kQuantTag, "{}: the histogram is empty (observe some data first)", what);
}

// Position where the running count (left to right over `counts`, bin j covering
// [origin + j*w, origin + (j+1)*w)) reaches `target`, interpolated inside the bin.
double position_of_count(const std::vector<uint64_t>& counts, double origin, double w, double target) {
  double before = 0;
  for (size_t j = 0; j < counts.size(); ++j) {
    const auto c = static_cast<double>(counts[j]);
    if (c > 0 && before + c >= target) {
      const double frac = std::clamp((target - before) / c, 0.0, 1.0);
      return origin + (static_cast<double>(j) + frac) * w;
    }
    before += c;
  }
  return origin + static_cast<double>(counts.size()) * w;
}

// Bins from most negative to most positive: [a, b] clipped to [min, max], count.
struct Segment {
  double a, b, count;
};

std::vector<Segment> signed_segments(const Histogram& h) {
  std::vector<Segment> out;
  const double w = h.bin_width();
  const double lo = h.min(), hi = h.max();
  auto push = [&](double a, double b, uint64_t c) {
    if (c == 0) return;
    out.push_back({std::clamp(a, lo, hi), std::clamp(b, lo, hi), static_cast<double>(c)});
  };
  for (int i = h.bins() - 1; i >= 0; --i) push(-(i + 1) * w, -i * w, h.negative()[i]);
  for (int i = 0; i < h.bins(); ++i) push(i * w, (i + 1) * w, h.positive()[i]);
  return out;
}

// The finite values of an fp8 format, ascending, +-0 merged.
std::vector<double> fp8_values(DType dtype) {
  std::vector<double> v;
  for (int code = 0; code < 256; ++code) {
    const auto c = static_cast<uint8_t>(code);
    const float f = dtype == DType::F8_E4M3 ? fp8_e4m3_to_float(c) : fp8_e5m2_to_float(c);
    if (std::isfinite(f)) v.push_back(f);
  }
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

// The dequantized grid of `spec` with scale / zero point `sz`, ascending.
std::vector<double> grid_levels(const QuantSpec& spec, ScaleZeroPoint sz, const std::vector<double>& fp8_unit) {
  std::vector<double> levels;
  const QuantLimits lim = quant_limits(spec);
  if (lim.is_float) {
    for (double u : fp8_unit) levels.push_back(static_cast<float>(u) * sz.scale);
  } else {
    for (int q = lim.qmin; q <= lim.qmax; ++q) levels.push_back(static_cast<float>(q - sz.zero_point) * sz.scale);
  }
  return levels;
}

// Sum over segments of count * mean over [a, b] of (x - nearest level)^2.
// Segments and levels are ascending, so one merged walk suffices.
double integrated_error(const std::vector<Segment>& segs, const std::vector<double>& v) {
  const size_t last = v.size() - 1;
  auto boundary = [&](size_t k) { return 0.5 * (v[k] + v[k + 1]); };
  auto cube = [](double d) { return d * d * d; };
  size_t k = 0;
  double total = 0;
  for (const Segment& s : segs) {
    while (k < last && boundary(k) <= s.a) ++k;
    if (s.b <= s.a) {
      const double d = s.a - v[k];
      total += s.count * d * d;
      continue;
    }
    double integral = 0, u = s.a;
    size_t kk = k;
    while (true) {
      const double end = kk < last ? std::min(s.b, boundary(kk)) : s.b;
      integral += (cube(end - v[kk]) - cube(u - v[kk])) / 3.0;
      if (end >= s.b) break;
      u = end;
      ++kk;
    }
    total += s.count * integral / (s.b - s.a);
  }
  return total;
}

}  // namespace

Histogram::Histogram(int bins)
    : bins_(bins), min_(std::numeric_limits<float>::infinity()), max_(-std::numeric_limits<float>::infinity()) {
  check(bins >= 1, kQuantTag, "histogram needs at least one bin, got {}", bins);
  positive_.assign(static_cast<size_t>(bins), 0);
  negative_.assign(static_cast<size_t>(bins), 0);
}

Histogram::Histogram(int bins, double range) : Histogram(bins) {
  check(std::isfinite(range) && range > 0, kQuantTag, "histogram range must be positive and finite, got {}", range);
  range_ = range;
}

float Histogram::amax() const { return total_ == 0 ? 0.0f : std::max(std::fabs(min_), std::fabs(max_)); }

void Histogram::add(const Tensor& x) {
  check(x.defined() && x.dtype() == DType::F32, kQuantTag, "histogram: expected an f32 tensor, got {}", x);
  const Tensor c = x.contiguous();
  add(c.span<float>());
}

void Histogram::add(std::span<const float> values) {
  check(!values.empty(), kQuantTag, "histogram: empty batch");
  float lo = std::numeric_limits<float>::infinity(), hi = -lo;
  const bool finite = quant_detail::best_quant_kernels().min_max(values.data(), static_cast<int64_t>(values.size()),
                                                                 &lo, &hi);
  check(finite, kQuantTag, "histogram: batch of {} values contains NaN or Inf", values.size());
  min_ = std::min(min_, lo);
  max_ = std::max(max_, hi);
  const double batch_amax = std::max(std::fabs(double(lo)), std::fabs(double(hi)));
  if (batch_amax > range_) grow(batch_amax);
  total_ += values.size();
  if (range_ == 0) {  // only zeros so far: they belong in positive bin 0 whatever R becomes
    positive_[0] += values.size();
    return;
  }
  const double per_unit = bins_ / range_;
  const int64_t last = bins_ - 1;
  for (float v : values) {
    const auto idx = std::min(last, static_cast<int64_t>(std::fabs(double(v)) * per_unit));
    ++(v < 0 ? negative_ : positive_)[static_cast<size_t>(idx)];
  }
}

void Histogram::grow(double amax) {
  if (range_ == 0) {
    range_ = amax;
    return;
  }
  double factor = std::ceil(amax / range_);
  while (factor * range_ < amax) factor += 1;  // guards the rounding of the division
  // Old bin i goes to new bin i / factor; beyond `bins` every old bin lands in bin 0.
  const auto f = static_cast<int64_t>(std::min(factor, double(bins_)));
  for (auto* counts : {&positive_, &negative_}) {
    std::vector<uint64_t> merged(counts->size(), 0);
    for (size_t i = 0; i < counts->size(); ++i) merged[i / static_cast<size_t>(f)] += (*counts)[i];
    *counts = std::move(merged);
  }
  range_ *= factor;
}

std::vector<uint64_t> Histogram::magnitude_counts() const {
  std::vector<uint64_t> m(positive_.size());
  for (size_t i = 0; i < m.size(); ++i) m[i] = positive_[i] + negative_[i];
  return m;
}

ClipRange percentile_range(const Histogram& h, double percentile, QuantScheme scheme) {
  check(percentile > 0 && percentile <= 100, kQuantTag, "percentile must be in (0, 100], got {}", percentile);
  require_data(h, "percentile");
  const double total = static_cast<double>(h.total());
  const double w = h.bin_width();
  if (scheme == QuantScheme::Symmetric) {
    const double t = position_of_count(h.magnitude_counts(), 0.0, w, percentile / 100.0 * total);
    return {-std::min(float(t), h.amax()), std::min(float(t), h.amax())};
  }
  // Signed bins from -R to R.
  std::vector<uint64_t> signed_counts(h.negative().rbegin(), h.negative().rend());
  signed_counts.insert(signed_counts.end(), h.positive().begin(), h.positive().end());
  const double lo = position_of_count(signed_counts, -h.range(), w, (1.0 - percentile / 100.0) * total);
  const double hi = position_of_count(signed_counts, -h.range(), w, percentile / 100.0 * total);
  return {std::clamp(float(lo), h.min(), h.max()), std::clamp(float(hi), h.min(), h.max())};
}

float entropy_amax(const Histogram& h, int levels) {
  check(levels >= 2, kQuantTag, "entropy calibration needs at least 2 levels, got {}", levels);
  require_data(h, "entropy");
  if (h.range() == 0) return 0.0f;
  const std::vector<uint64_t> m = h.magnitude_counts();
  const int nb = h.bins();
  if (nb <= levels) return h.amax();
  const double total = static_cast<double>(h.total());
  std::vector<double> beyond(static_cast<size_t>(nb) + 1, 0.0);  // beyond[i] = sum m[i..]
  for (int i = nb - 1; i >= 0; --i) beyond[i] = beyond[i + 1] + static_cast<double>(m[i]);
  std::vector<double> qsum(static_cast<size_t>(levels));
  std::vector<int64_t> nonzero(static_cast<size_t>(levels));
  double best_kl = std::numeric_limits<double>::infinity();
  int best_i = nb;
  for (int i = levels; i <= nb; ++i) {
    const double q_total = total - beyond[i];  // mass of the unfolded bins [0, i)
    if (q_total <= 0) continue;
    std::fill(qsum.begin(), qsum.end(), 0.0);
    std::fill(nonzero.begin(), nonzero.end(), 0);
    auto p_of = [&](int j) { return static_cast<double>(m[j]) + (j == i - 1 ? beyond[i] : 0.0); };
    auto level_of = [&](int j) { return static_cast<size_t>(int64_t(j) * levels / i); };
    for (int j = 0; j < i; ++j) {
      qsum[level_of(j)] += static_cast<double>(m[j]);
      if (p_of(j) > 0) ++nonzero[level_of(j)];
    }
    double kl = 0;
    for (int j = 0; j < i && std::isfinite(kl); ++j) {
      const double p = p_of(j);
      if (p == 0) continue;
      const double q = qsum[level_of(j)] / static_cast<double>(nonzero[level_of(j)]);
      kl = q == 0 ? std::numeric_limits<double>::infinity() : kl + (p / total) * std::log((p / total) / (q / q_total));
    }
    if (kl <= best_kl) {
      best_kl = kl;
      best_i = i;
    }
  }
  return std::min(static_cast<float>(best_i * h.bin_width()), h.amax());
}

ClipRange entropy_range(const Histogram& h, const QuantSpec& spec) {
  const QuantLimits lim = quant_limits(spec);
  check(!lim.is_float, kQuantTag, "entropy calibration needs an integer dtype, not {}", dtype_name(spec.dtype));
  const int levels = spec.scheme == QuantScheme::Symmetric ? lim.qmax - lim.symmetric_zero_point + 1
                                                           : (lim.qmax - lim.qmin + 1) / 2;
  return clip_for_threshold(h, entropy_amax(h, levels), spec.scheme);
}

double expected_qdq_mse(const Histogram& h, const QuantSpec& spec, ClipRange r) {
  require_data(h, "mse");
  const std::vector<double> unit = quant_limits(spec).is_float ? fp8_values(spec.dtype) : std::vector<double>{};
  const std::vector<double> levels = grid_levels(spec, qparams_for_range(r.lo, r.hi, spec), unit);
  return integrated_error(signed_segments(h), levels) / static_cast<double>(h.total());
}

ClipRange mse_range(const Histogram& h, const QuantSpec& spec) {
  require_data(h, "mse");
  const float amax = h.amax();
  if (amax == 0) return {0, 0};
  const std::vector<Segment> segs = signed_segments(h);
  const std::vector<double> unit = quant_limits(spec).is_float ? fp8_values(spec.dtype) : std::vector<double>{};
  ClipRange best = clip_for_threshold(h, amax, spec.scheme);
  double best_err = std::numeric_limits<double>::infinity();
  float previous = -1;
  for (int c = 1; c <= h.bins(); ++c) {
    const float t = std::min(static_cast<float>(c * h.bin_width()), amax);
    if (t == previous) continue;
    previous = t;
    const ClipRange r = clip_for_threshold(h, t, spec.scheme);
    const double err = integrated_error(segs, grid_levels(spec, qparams_for_range(r.lo, r.hi, spec), unit));
    if (err < best_err) {
      best_err = err;
      best = r;
    }
  }
  return best;
}

}  // namespace octet
