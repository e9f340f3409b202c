// Observers (min-max, moving-average min-max, histogram calibrators) and the
// make_calibrator factory.
#include <algorithm>
#include <cmath>

#include "core/error_tags.h"
#include "octet/quant_calibration.h"

namespace octet {
namespace {

bool same_slots(const QuantSpec& a, const QuantSpec& b) {
  if (a.granularity != b.granularity) return false;
  switch (a.granularity) {
    case Granularity::PerChannel: return a.axis == b.axis;
    case Granularity::PerGroup: return a.axis == b.axis && a.group_size == b.group_size;
    default: return true;
  }
}

QuantRanges copy_ranges(const Tensor& lo, const Tensor& hi) { return {lo.clone(), hi.clone()}; }

// Per-tensor range tensors from a clip range.
QuantRanges scalar_ranges(ClipRange r) {
  QuantRanges out{Tensor::empty({}, DType::F32), Tensor::empty({}, DType::F32)};
  out.min.data<float>()[0] = r.lo;
  out.max.data<float>()[0] = r.hi;
  return out;
}

std::string format_number(double v) { return fmt::format("{:g}", v); }

}  // namespace

Observer::Observer(const QuantSpec& spec) : spec_(spec) {
  quant_limits(spec);  // validates dtype / scheme / rounding
  check(spec.granularity != Granularity::PerToken, kQuantTag,
        "{}: per-token ranges are computed at run time; observers calibrate static ranges", to_string(spec));
}

QuantRanges Observer::compute_range(const QuantSpec& spec) const {
  check(batches_ > 0, kQuantTag, "{}: no data observed yet", name());
  check(same_slots(spec_, spec), kQuantTag, "{} observed ranges for {} but was asked for {}", name(), to_string(spec_),
        to_string(spec));
  return range_for(spec);
}

// ---- min-max ------------------------------------------------------------------

MinMaxObserver::MinMaxObserver(const QuantSpec& spec) : Observer(spec) {}

void MinMaxObserver::observe(const Tensor& x) {
  const QuantRanges r = compute_ranges(x, spec_);
  if (!min_.defined()) {
    min_ = r.min;
    max_ = r.max;
  } else {
    check(r.min.shape() == min_.shape(), kQuantTag, "minmax: batch ranges {} do not match earlier ones {}",
          shape_str(r.min.shape()), shape_str(min_.shape()));
    float* lo = min_.data<float>();
    float* hi = max_.data<float>();
    const float* blo = r.min.data<float>();
    const float* bhi = r.max.data<float>();
    for (int64_t i = 0; i < min_.numel(); ++i) {
      lo[i] = std::min(lo[i], blo[i]);
      hi[i] = std::max(hi[i], bhi[i]);
    }
  }
  ++batches_;
}

QuantRanges MinMaxObserver::range_for(const QuantSpec&) const { return copy_ranges(min_, max_); }

// ---- moving-average min-max -------------------------------------------------------

MovingAverageMinMaxObserver::MovingAverageMinMaxObserver(const QuantSpec& spec, double momentum)
    : Observer(spec), momentum_(momentum) {
  check(momentum >= 0 && momentum < 1, kQuantTag, "ema momentum must be in [0, 1), got {}", momentum);
}

std::string MovingAverageMinMaxObserver::name() const { return "ema(" + format_number(momentum_) + ")"; }

void MovingAverageMinMaxObserver::observe(const Tensor& x) {
  const QuantRanges r = compute_ranges(x, spec_);
  if (!min_.defined()) {
    min_ = r.min;
    max_ = r.max;
  } else {
    check(r.min.shape() == min_.shape(), kQuantTag, "ema: batch ranges {} do not match earlier ones {}",
          shape_str(r.min.shape()), shape_str(min_.shape()));
    float* lo = min_.data<float>();
    float* hi = max_.data<float>();
    const float* blo = r.min.data<float>();
    const float* bhi = r.max.data<float>();
    const double m = momentum_;
    for (int64_t i = 0; i < min_.numel(); ++i) {
      lo[i] = static_cast<float>(m * lo[i] + (1 - m) * blo[i]);
      hi[i] = static_cast<float>(m * hi[i] + (1 - m) * bhi[i]);
    }
  }
  ++batches_;
}

QuantRanges MovingAverageMinMaxObserver::range_for(const QuantSpec&) const { return copy_ranges(min_, max_); }

// ---- histogram calibrators ------------------------------------------------------

HistogramCalibrator::HistogramCalibrator(HistogramMethod method, const QuantSpec& spec, int bins, double percentile,
                                         double range)
    : Observer(spec), method_(method), percentile_(percentile), histogram_(range > 0 ? Histogram(bins, range) : Histogram(bins)) {
  check(std::isfinite(range) && range >= 0, kQuantTag, "histogram range must be >= 0 and finite, got {}", range);
  check(spec.granularity == Granularity::PerTensor, kQuantTag,
        "{}: histogram calibrators give per-tensor ranges, not {}", name(), to_string(spec));
  if (method == HistogramMethod::Percentile)
    check(percentile > 0 && percentile <= 100, kQuantTag, "percentile must be in (0, 100], got {}", percentile);
  if (method == HistogramMethod::Entropy)
    check(!dtype_info(spec.dtype).is_float, kQuantTag, "entropy calibration needs an integer dtype, not {}",
          dtype_name(spec.dtype));
}

std::string HistogramCalibrator::name() const {
  switch (method_) {
    case HistogramMethod::Percentile: return "percentile(" + format_number(percentile_) + ")";
    case HistogramMethod::Entropy: return "entropy";
    case HistogramMethod::Mse: return "mse";
  }
  return "histogram";
}

void HistogramCalibrator::observe(const Tensor& x) {
  histogram_.add(x);
  ++batches_;
}

QuantRanges HistogramCalibrator::range_for(const QuantSpec& spec) const {
  switch (method_) {
    case HistogramMethod::Percentile: return scalar_ranges(percentile_range(histogram_, percentile_, spec.scheme));
    case HistogramMethod::Entropy: return scalar_ranges(entropy_range(histogram_, spec));
    case HistogramMethod::Mse: return scalar_ranges(mse_range(histogram_, spec));
  }
  fail(kQuantTag, "invalid histogram method");
}

// ---- factory ----------------------------------------------------------------------

std::vector<std::string> calibrator_names() { return {"minmax", "ema", "percentile", "entropy", "mse"}; }

std::unique_ptr<Observer> make_calibrator(std::string_view name, const CalibratorOptions& o) {
  if (name == "minmax") return std::make_unique<MinMaxObserver>(o.spec);
  if (name == "ema") return std::make_unique<MovingAverageMinMaxObserver>(o.spec, o.momentum);
  const double r = o.histogram_range;
  if (name == "percentile")
    return std::make_unique<HistogramCalibrator>(HistogramMethod::Percentile, o.spec, o.bins, o.percentile, r);
  if (name == "entropy") return std::make_unique<HistogramCalibrator>(HistogramMethod::Entropy, o.spec, o.bins, 99.99, r);
  if (name == "mse") return std::make_unique<HistogramCalibrator>(HistogramMethod::Mse, o.spec, o.bins, 99.99, r);
  fail(kQuantTag, "unknown calibrator '{}' (minmax, ema, percentile, entropy, mse)", name);
}

}  // namespace octet
