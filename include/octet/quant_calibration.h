// Static calibration: observers that see many batches, then give a range and
// scale / zero point for a QuantSpec.
//
//   auto cal = make_calibrator("entropy", {.spec = parse_quant_spec("int8:sym:per_tensor")});
//   for (const Tensor& batch : batches) cal->observe(batch);
//   QuantParams params = cal->compute_qparams();
//
// minmax      running min / max (any static granularity: per tensor, per
//             channel, per group); per channel is the usual choice for weights.
// ema         moving average of each batch's min / max:
//             range = momentum * range + (1 - momentum) * batch_range, the first
//             batch initialises it (PyTorch's MovingAverageMinMaxObserver).
// percentile  histogram; symmetric specs clip |x| at the percentile, affine
//             specs clip each tail at (100 - p)% and p% of the signed values.
// entropy     histogram; TensorRT's KL-divergence threshold search over |x|.
// mse         histogram; the threshold minimising the expected QDQ error of
//             the target spec (rounding and clipping error together).
// Histogram methods give per-tensor ranges. Thresholds T found over |x| become
// [-T, T] for symmetric specs and [max(min, -T), min(max, T)] for affine ones.
// Everything is deterministic: the same data in the same order gives the same result.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "octet/quant.h"

namespace octet {

// A histogram of observed values with a range that grows without losing counts.
//
// Bins cover [-R, R], `bins` on each side of 0 (2048 by default, TensorRT's
// resolution over |x|): positive bin i counts x in [i*w, (i+1)*w), negative bin
// i counts x in (-(i+1)*w, -i*w], w = R / bins; values at +-R land in the last
// bin. Keeping the sign gives both tails for affine percentiles, and summing
// the two sides gives the |x| histogram exactly. R is the first batch's max |x|;
// a later batch beyond R widens it to f * R for the smallest integer f that
// covers it, merging each f consecutive bins into one, so every count is kept.
// (Values exactly at an old edge R sat in the old last bin, so after a merge
// they are one bin lower than a histogram built with the final range would put
// them.) Growth coarsens the bins: up to 2x wider than one pass over all data.
class Histogram {
 public:
  static constexpr int kDefaultBins = 2048;
  explicit Histogram(int bins = kDefaultBins);
  // Starts with R = `range` (> 0) instead of the first batch's max |x|. With R
  // known in advance (a first min/max pass over the same data: two-pass
  // calibration, as TensorRT does) bins never merge, so every batch gets the
  // final resolution. Data beyond `range` still grows it as above.
  Histogram(int bins, double range);

  // Adds the values of an f32 tensor. Throws Error("quant") on an empty
  // tensor or NaN / Inf (nothing is added then).
  void add(const Tensor& x);
  void add(std::span<const float> values);

  int bins() const { return bins_; }
  double range() const { return range_; }  // R (0 while only zeros were seen)
  double bin_width() const { return range_ / bins_; }
  uint64_t total() const { return total_; }
  float min() const { return min_; }  // exact extremes of everything added
  float max() const { return max_; }
  float amax() const;
  std::span<const uint64_t> positive() const { return positive_; }
  std::span<const uint64_t> negative() const { return negative_; }
  // positive[i] + negative[i]: the histogram of |x| over [0, R].
  std::vector<uint64_t> magnitude_counts() const;

 private:
  void grow(double amax);

  int bins_;
  double range_ = 0;
  uint64_t total_ = 0;
  float min_, max_;
  std::vector<uint64_t> positive_, negative_;
};

// A clip range [lo, hi].
struct ClipRange {
  float lo = 0;
  float hi = 0;
};

// Percentile clip (0 < percentile <= 100): see the header comment. Positions
// inside a bin are interpolated linearly; results are clipped to [min, max].
ClipRange percentile_range(const Histogram& h, double percentile, QuantScheme scheme);
// TensorRT's entropy threshold over |x| for `levels` quantization levels
// (128 for int8): candidates i = levels .. bins, P = |x| bins [0, i) with the
// counts beyond folded into bin i-1, Q = bins [0, i) merged into `levels`
// groups and spread back evenly over the bins where P is non-zero; the i
// minimising KL(P || Q) (the last on ties) gives T = i * w (capped at max |x|).
float entropy_amax(const Histogram& h, int levels);
// entropy_amax with the level count of an integer spec (fp8 throws Error("quant")).
ClipRange entropy_range(const Histogram& h, const QuantSpec& spec);
// Expected squared QDQ error per value of `spec` with clip range `r`, assuming
// values spread uniformly inside each bin (integrated exactly against the grid).
double expected_qdq_mse(const Histogram& h, const QuantSpec& spec, ClipRange r);
// The threshold T in {w, 2w, ..., R} (capped at max |x|) minimising expected_qdq_mse.
ClipRange mse_range(const Histogram& h, const QuantSpec& spec);

// Accumulates statistics over batches; then gives ranges and qparams.
class Observer {
 public:
  virtual ~Observer() = default;
  // "minmax", "ema(0.9)", "percentile(99.99)", "entropy", "mse".
  virtual std::string name() const = 0;
  // Adds one batch (f32). Throws Error("quant") on empty tensors, NaN / Inf,
  // or a shape whose ranges do not match earlier batches.
  virtual void observe(const Tensor& x) = 0;
  // Range for `spec` (same granularity as the observer's spec; dtype and
  // scheme may differ), shaped by quant_param_shape(). Throws Error("quant")
  // before any batch or for another granularity.
  QuantRanges compute_range(const QuantSpec& spec) const;
  QuantRanges compute_range() const { return compute_range(spec_); }
  QuantParams compute_qparams(const QuantSpec& spec) const { return qparams_from_ranges(compute_range(spec), spec); }
  QuantParams compute_qparams() const { return compute_qparams(spec_); }
  const QuantSpec& spec() const { return spec_; }
  int64_t batches() const { return batches_; }

 protected:
  explicit Observer(const QuantSpec& spec);
  // compute_range() after its checks (batches_ > 0, same granularity).
  virtual QuantRanges range_for(const QuantSpec& spec) const = 0;
  QuantSpec spec_;
  int64_t batches_ = 0;
};

class MinMaxObserver : public Observer {
 public:
  explicit MinMaxObserver(const QuantSpec& spec = {});
  std::string name() const override { return "minmax"; }
  void observe(const Tensor& x) override;

 protected:
  QuantRanges range_for(const QuantSpec& spec) const override;

 private:
  Tensor min_, max_;
};

class MovingAverageMinMaxObserver : public Observer {
 public:
  explicit MovingAverageMinMaxObserver(const QuantSpec& spec = {}, double momentum = 0.9);
  std::string name() const override;
  void observe(const Tensor& x) override;

 protected:
  QuantRanges range_for(const QuantSpec& spec) const override;

 private:
  double momentum_;
  Tensor min_, max_;
};

enum class HistogramMethod : uint8_t { Percentile, Entropy, Mse };

// Per-tensor histogram calibrators.
class HistogramCalibrator : public Observer {
 public:
  // range > 0: the histogram's fixed initial range (see Histogram(bins, range)).
  HistogramCalibrator(HistogramMethod method, const QuantSpec& spec = {}, int bins = Histogram::kDefaultBins,
                      double percentile = 99.99, double range = 0);
  std::string name() const override;
  void observe(const Tensor& x) override;
  const Histogram& histogram() const { return histogram_; }

 protected:
  QuantRanges range_for(const QuantSpec& spec) const override;

 private:
  HistogramMethod method_;
  double percentile_;
  Histogram histogram_;
};

struct CalibratorOptions {
  QuantSpec spec;             // target format (minmax / ema also take its granularity)
  double momentum = 0.9;      // ema
  double percentile = 99.99;  // percentile
  int bins = Histogram::kDefaultBins;  // histogram bins per sign
  // Histogram methods: > 0 fixes the histogram's initial range R (the max |x|
  // of a first min/max pass), 0 takes the first batch's.
  double histogram_range = 0;
};

// name: minmax | ema | percentile | entropy | mse. Throws Error("quant") for
// other names or options that do not fit (per-token specs, percentile outside
// (0, 100], momentum outside [0, 1), bins < 1, a negative or non-finite histogram_range).
std::unique_ptr<Observer> make_calibrator(std::string_view name, const CalibratorOptions& options = {});
// The names make_calibrator accepts.
std::vector<std::string> calibrator_names();

}  // namespace octet
