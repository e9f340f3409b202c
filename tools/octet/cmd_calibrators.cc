// `octet calibrators`: compares the calibrators on synthetic data.
//
// Generates a Gaussian tensor with a few large outliers and a Laplace tensor,
// feeds each to every calibrator in batches, and reports the clip range each
// one picks and the QDQ error that range gives on the data.
#include <cmath>
#include <cstdio>
#include <limits>
#include <numbers>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "command.h"
#include "octet/quant.h"
#include "octet/quant_calibration.h"

namespace octet::cli::calibrators_command {
namespace {

// Deterministic across platforms: mt19937_64 is fully specified, and the
// transforms below are ours (std::normal_distribution is not portable).
class Rng {
 public:
  explicit Rng(uint64_t seed) : gen_(seed) {}
  double uniform() { return static_cast<double>(gen_() >> 11) * 0x1.0p-53; }  // [0, 1)
  double open_uniform() { return (static_cast<double>(gen_() >> 11) + 0.5) * 0x1.0p-53; }  // (0, 1)
  double gaussian() {  // Box-Muller
    const double r = std::sqrt(-2.0 * std::log(open_uniform()));
    return r * std::cos(2.0 * std::numbers::pi * uniform());
  }
  double laplace(double b) {  // inverse CDF
    const double u = open_uniform() - 0.5;
    return -b * std::copysign(1.0, u) * std::log(1.0 - 2.0 * std::fabs(u));
  }
  uint64_t below(uint64_t n) { return gen_() % n; }

 private:
  std::mt19937_64 gen_;
};

struct Dataset {
  std::string name;
  std::string description;
  std::vector<float> values;
};

struct Row {
  std::string calibrator;
  ClipRange clip;
  ScaleZeroPoint qparams;
  double mse = 0, max_abs_error = 0, sqnr_db = 0;
  double histogram_range = 0;  // R of the histogram calibrators (0 for the others)
  int histogram_bins = 0;
};

struct Options {
  int64_t samples = 100000;
  int64_t outliers = 8;
  uint64_t seed = 0;
  int batches = 10;
  std::string spec = "int8:sym:per_tensor";
  bool json = false;
};

std::vector<Dataset> make_datasets(const Options& o) {
  Rng rng(o.seed);
  Dataset gauss{"gaussian_outliers", "", std::vector<float>(static_cast<size_t>(o.samples))};
  for (float& v : gauss.values) v = static_cast<float>(rng.gaussian());
  // Outliers at random positions, |x| in [20, 50] sigma, random sign.
  for (int64_t k = 0; k < o.outliers; ++k) {
    const double magnitude = 20.0 + 30.0 * rng.uniform();
    gauss.values[rng.below(gauss.values.size())] = static_cast<float>(rng.uniform() < 0.5 ? -magnitude : magnitude);
  }
  gauss.description = fmt::format("N(0,1), {} samples, {} outliers at 20-50 sigma", o.samples, o.outliers);
  Dataset lap{"laplace", fmt::format("Laplace(b=1), {} samples", o.samples),
              std::vector<float>(static_cast<size_t>(o.samples))};
  for (float& v : lap.values) v = static_cast<float>(rng.laplace(1.0));
  return {gauss, lap};
}

Row evaluate(const std::string& label, Observer& cal, const Dataset& d, const Options& o, const QuantSpec& spec) {
  const auto n = static_cast<int64_t>(d.values.size());
  const Tensor all = Tensor::from_floats(d.values, {n});
  for (int b = 0; b < o.batches; ++b) {
    const int64_t begin = n * b / o.batches, end = n * (b + 1) / o.batches;
    if (end > begin) cal.observe(all.slice(0, begin, end));
  }
  Row row;
  row.calibrator = label;
  if (const auto* hc = dynamic_cast<const HistogramCalibrator*>(&cal)) {
    row.histogram_range = hc->histogram().range();
    row.histogram_bins = hc->histogram().bins();
  }
  const QuantRanges r = cal.compute_range(spec);
  row.clip = {r.min.data<float>()[0], r.max.data<float>()[0]};
  row.qparams = qparams_for_range(row.clip.lo, row.clip.hi, spec);
  const Tensor y = fake_quantize(all, spec, per_tensor_params(row.qparams));
  const float* yp = y.data<float>();
  double signal = 0, noise = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double x = d.values[i], e = x - yp[i];
    signal += x * x;
    noise += e * e;
    row.max_abs_error = std::max(row.max_abs_error, std::fabs(e));
  }
  row.mse = noise / static_cast<double>(n);
  row.sqnr_db = noise > 0 ? 10.0 * std::log10(signal / noise) : std::numeric_limits<double>::infinity();
  return row;
}

void run(const Options& o) {
  check(o.samples >= 1, "calibrators", "--samples must be at least 1, got {}", o.samples);
  check(o.outliers >= 0 && o.outliers <= o.samples, "calibrators", "--outliers must be in [0, samples], got {}",
        o.outliers);
  const QuantSpec spec = parse_quant_spec(o.spec);
  check(spec.granularity == Granularity::PerTensor, "calibrators", "--spec must be per_tensor, got {}", o.spec);
  const bool symmetric = spec.scheme == QuantScheme::Symmetric;

  struct Entry {
    std::string label, name;
    double percentile;
  };
  const std::vector<Entry> entries = {{"minmax", "minmax", 0},           {"ema(0.9)", "ema", 0},
                                      {"percentile(99.9)", "percentile", 99.9},
                                      {"percentile(99.99)", "percentile", 99.99},
                                      {"entropy", "entropy", 0},        {"mse", "mse", 0}};
  nlohmann::json out = {{"spec", to_string(spec)}, {"batches", o.batches}, {"seed", o.seed}};
  out["datasets"] = nlohmann::json::array();
  for (const Dataset& d : make_datasets(o)) {
    float lo = std::numeric_limits<float>::infinity(), hi = -lo;
    for (float v : d.values) {
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
    std::vector<Row> rows;
    std::vector<std::string> skipped;
    for (const Entry& e : entries) {
      CalibratorOptions copts;
      copts.spec = spec;
      if (e.percentile > 0) copts.percentile = e.percentile;
      try {
        auto cal = make_calibrator(e.name, copts);
        rows.push_back(evaluate(e.label, *cal, d, o, spec));
      } catch (const Error& err) {
        skipped.push_back(fmt::format("{}: {}", e.label, err.detail()));
      }
    }
    double histogram_range = 0;
    int histogram_bins = 0;
    for (const Row& r : rows) {
      if (r.histogram_bins > 0) {
        histogram_range = r.histogram_range;
        histogram_bins = r.histogram_bins;
      }
    }
    nlohmann::json jd = {{"name", d.name},           {"description", d.description},
                         {"samples", d.values.size()}, {"min", lo},
                         {"max", hi},                  {"histogram_range", histogram_range},
                         {"histogram_bins", histogram_bins}, {"skipped", skipped}};
    jd["results"] = nlohmann::json::array();
    for (const Row& r : rows)
      jd["results"].push_back({{"calibrator", r.calibrator}, {"clip_min", r.clip.lo}, {"clip_max", r.clip.hi},
                               {"amax", std::max(std::fabs(r.clip.lo), std::fabs(r.clip.hi))},
                               {"scale", r.qparams.scale}, {"zero_point", r.qparams.zero_point}, {"mse", r.mse},
                               {"max_abs_error", r.max_abs_error}, {"sqnr_db", r.sqnr_db}});
    out["datasets"].push_back(jd);
    if (o.json) continue;

    fmt::print("{} (data range [{:.3f}, {:.3f}])\n", d.description, lo, hi);
    fmt::print("  {:<18} {:>20} {:>11} {:>11} {:>11} {:>8}\n", "calibrator", symmetric ? "clip amax" : "clip range",
               "scale", "QDQ MSE", "max |err|", "SQNR dB");
    for (const Row& r : rows) {
      const std::string clip = symmetric ? fmt::format("{:.4f}", std::max(std::fabs(r.clip.lo), std::fabs(r.clip.hi)))
                                         : fmt::format("[{:.3f}, {:.3f}]", r.clip.lo, r.clip.hi);
      fmt::print("  {:<18} {:>20} {:>11.4e} {:>11.3e} {:>11.3e} {:>8.2f}\n", r.calibrator, clip, r.qparams.scale,
                 r.mse, r.max_abs_error, r.sqnr_db);
    }
    for (const std::string& s : skipped) fmt::print("  (skipped {})\n", s);
    if (histogram_bins > 0)
      fmt::print("  histogram: {} bins per sign over [-R, R], R = {:.3f}, bin width {:.4f} (R grows by whole\n"
                 "  factors as batches arrive; entropy searches thresholds of >= 128 bins)\n",
                 histogram_bins, histogram_range, histogram_range / histogram_bins);
    fmt::print("\n");
  }
  if (o.json) {
    fmt::print("{}\n", out.dump(2));
  } else {
    fmt::print("spec {}, {} batches, seed {}. Lower MSE / higher SQNR is better; clipping trades a\n"
               "larger error on the few outliers for a finer grid everywhere else.\n",
               to_string(spec), o.batches, o.seed);
  }
}

const CommandRegistration registration{{
    "calibrators",
    "Compare calibrators (minmax, ema, percentile, entropy, mse) on synthetic data",
    [](CLI::App& sub) {
      auto o = std::make_shared<Options>();
      sub.add_option("--samples", o->samples, "Values per data set")->capture_default_str();
      sub.add_option("--outliers", o->outliers, "Outliers added to the Gaussian data")->capture_default_str();
      sub.add_option("--seed", o->seed, "Random seed")->capture_default_str();
      sub.add_option("--batches", o->batches, "Calibration batches")->capture_default_str()->check(CLI::Range(1, 1000));
      sub.add_option("--spec", o->spec, "Target format (per tensor)")->capture_default_str();
      sub.add_flag("--json", o->json, "Print JSON instead of a table");
      sub.callback([o] { run(*o); });
    },
}};

}  // namespace
}  // namespace octet::cli::calibrators_command
