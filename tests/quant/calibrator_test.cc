// Calibrators: known answers, behaviour on outliers / heavy tails, bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "octet/quant_calibration.h"
#include "quant/test_data.h"

namespace octet {
namespace {

using quant_testing::tensor_of;

template <typename Fn>
void expect_quant_error(Fn&& fn, const std::string& what) {
  try {
    fn();
    ADD_FAILURE() << what << ": no error thrown";
  } catch (const Error& e) {
    EXPECT_EQ(e.tag(), "quant") << what << ": " << e.what();
  }
}

ClipRange calibrate(const std::string& name, const std::vector<float>& data, const QuantSpec& spec,
                    double percentile = 99.99) {
  CalibratorOptions o;
  o.spec = spec;
  o.percentile = percentile;
  auto cal = make_calibrator(name, o);
  cal->observe(tensor_of(data));
  const QuantRanges r = cal->compute_range();
  return {r.min.data<float>()[0], r.max.data<float>()[0]};
}

float amax_of(ClipRange r) { return std::max(std::fabs(r.lo), std::fabs(r.hi)); }

// Mean squared error of QDQ with range r on the data itself.
double measured_mse(const std::vector<float>& data, const QuantSpec& spec, ClipRange r) {
  const Tensor x = tensor_of(data);
  const Tensor y = fake_quantize(x, spec, per_tensor_params(qparams_for_range(r.lo, r.hi, spec)));
  double e = 0;
  for (size_t i = 0; i < data.size(); ++i) {
    const double d = double(data[i]) - double(y.data<float>()[i]);
    e += d * d;
  }
  return e / static_cast<double>(data.size());
}

TEST(Calibrators, OutliersAreClippedByEntropyAndPercentileNotMinMax) {
  const std::vector<float> v = quant_testing::gaussian_with_outliers(200000, 10, 11, 20.0, 40.0);
  const QuantSpec spec = parse_quant_spec("int8:sym:per_tensor");
  const float max_abs = amax_of(calibrate("minmax", v, spec));
  ASSERT_GE(max_abs, 20.0f);
  const float entropy = amax_of(calibrate("entropy", v, spec));
  const float p9999 = amax_of(calibrate("percentile", v, spec, 99.99));
  const float p999 = amax_of(calibrate("percentile", v, spec, 99.9));
  // The Gaussian bulk: |x| < 3.3 for 99.9% and < 3.9 for 99.99% of N(0,1).
  EXPECT_LT(entropy, 0.25f * max_abs);
  EXPECT_GT(entropy, 2.5f);
  EXPECT_NEAR(p9999, 3.89f, 0.3f);
  EXPECT_NEAR(p999, 3.29f, 0.15f);
}

TEST(Calibrators, MseBeatsMinMaxOnLaplace) {
  const std::vector<float> v = quant_testing::laplace_values(200000, 5);
  for (const char* s : {"int8:sym:per_tensor", "int4:sym:per_tensor", "uint8:affine:per_tensor"}) {
    const QuantSpec spec = parse_quant_spec(s);
    const ClipRange minmax = calibrate("minmax", v, spec);
    const ClipRange mse = calibrate("mse", v, spec);
    EXPECT_LT(amax_of(mse), amax_of(minmax)) << s;
    EXPECT_LT(measured_mse(v, spec, mse), measured_mse(v, spec, minmax)) << s;
  }
}

TEST(Calibrators, ExpectedMseMatchesUniformNoiseAndClipping) {
  // x uniform on [-1, 1]: QDQ noise is s^2 / 12 inside the clip range; clipping at
  // c adds 2 * (1/2) * integral_c^1 (x - c)^2 dx = (1 - c)^3 / 3.
  const int n = 400000;
  std::vector<float> v(n);
  for (int i = 0; i < n; ++i) v[i] = -1.0f + 2.0f * (static_cast<float>(i) + 0.5f) / n;
  Histogram h;
  h.add(v);
  const QuantSpec spec = parse_quant_spec("int8:sym:per_tensor");
  const double s = 1.0 / 127.0;
  EXPECT_NEAR(expected_qdq_mse(h, spec, {-1, 1}), s * s / 12.0, 0.01 * s * s / 12.0);
  EXPECT_NEAR(measured_mse(v, spec, {-1, 1}), s * s / 12.0, 0.01 * s * s / 12.0);
  const double c = 0.5, sc = c / 127.0;
  const double clipped = (1 - c) * (1 - c) * (1 - c) / 3.0 + c * sc * sc / 12.0;
  EXPECT_NEAR(expected_qdq_mse(h, spec, {-0.5f, 0.5f}), clipped, 1e-3 * clipped);
  // The MSE calibrator keeps the full range here (no tail to trade).
  EXPECT_GT(mse_range(h, spec).hi, 0.99f);
}

// Magnitude counts [8, 4, 0, 1] (bin width 1), 2 levels. Worked by hand:
//   i=2: P = [8, 5], Q = [8, 4]          KL = 8/13 ln((8/13)/(8/12)) + 5/13 ln((5/13)/(4/12)) = 0.00578
//   i=3: P = [8, 4, 1], Q = [6, 6, 0]    KL = inf (P > 0 where Q = 0)
//   i=4: P = [8, 4, 0, 1], Q = [6, 6, 0, 1]   KL = 8/13 ln(8/6) + 4/13 ln(4/6) = 0.0523
// so the threshold is 2 bins = 2.0.
TEST(Entropy, KnownAnswerOnTinyHistogram) {
  Histogram h(4);
  std::vector<float> v(8, 0.5f);
  v.insert(v.end(), 4, -1.5f);
  v.push_back(4.0f);
  h.add(v);
  ASSERT_EQ(h.magnitude_counts(), (std::vector<uint64_t>{8, 4, 0, 1}));
  EXPECT_EQ(entropy_amax(h, 2), 2.0f);
}

TEST(Entropy, KeepsTheFullRangeOfUniformData) {
  std::vector<float> v(200000);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i) / static_cast<float>(v.size() - 1) - 0.5f;
  const QuantSpec spec = parse_quant_spec("int8:sym:per_tensor");
  EXPECT_GT(amax_of(calibrate("entropy", v, spec)), 0.95f * 0.5f);
  expect_quant_error([&] { calibrate("entropy", v, parse_quant_spec("fp8_e4m3")); }, "entropy on fp8");
}

TEST(Observers, MovingAverageKnownAnswer) {
  for (double m : {0.5, 0.9}) {
    MovingAverageMinMaxObserver ema({}, m);
    for (float a : {1.0f, 2.0f, 3.0f}) ema.observe(tensor_of({-a, 0.0f, a}));
    // max: 1 -> m*1 + (1-m)*2 -> m*(m + (1-m)*2) + (1-m)*3
    const double expected = m * (m * 1 + (1 - m) * 2) + (1 - m) * 3;
    const QuantRanges r = ema.compute_range();
    EXPECT_NEAR(r.max.data<float>()[0], expected, 1e-6) << m;
    EXPECT_NEAR(r.min.data<float>()[0], -expected, 1e-6) << m;
    EXPECT_EQ(ema.batches(), 3);
  }
}

TEST(Observers, PerChannelMinMax) {
  const QuantSpec spec = parse_quant_spec("int8:sym:per_channel(0)");
  MinMaxObserver obs(spec);
  std::vector<float> lo(4, INFINITY), hi(4, -INFINITY);
  for (uint64_t b = 0; b < 3; ++b) {
    std::vector<float> w = quant_testing::gaussian_values(4 * 16, 20 + b);
    for (int c = 0; c < 4; ++c) {
      for (int k = 0; k < 16; ++k) {
        float& x = w[c * 16 + k];
        x *= static_cast<float>(c + 1);
        lo[c] = std::min(lo[c], x);
        hi[c] = std::max(hi[c], x);
      }
    }
    obs.observe(tensor_of(w, {4, 16}));
  }
  const QuantRanges r = obs.compute_range();
  ASSERT_EQ(r.min.shape(), (Shape{4, 1}));
  const QuantParams p = obs.compute_qparams();
  for (int c = 0; c < 4; ++c) {
    EXPECT_EQ(r.min.data<float>()[c], lo[c]);
    EXPECT_EQ(r.max.data<float>()[c], hi[c]);
    EXPECT_EQ(p.scale.data<float>()[c],
              static_cast<float>(std::max(std::fabs(double(lo[c])), std::fabs(double(hi[c]))) / 127.0));
    EXPECT_EQ(p.zero_point.data<int32_t>()[c], 0);
  }
  expect_quant_error([&] { obs.observe(tensor_of(std::vector<float>(10, 1.0f), {5, 2})); }, "channel count changed");
  expect_quant_error([&] { obs.compute_range(parse_quant_spec("int8:sym:per_tensor")); }, "other granularity");
}

TEST(Observers, PerGroupMinMaxFeedsGroupQuantization) {
  const QuantSpec spec = parse_quant_spec("int4:affine:group(8)");
  MinMaxObserver obs(spec);
  const Tensor w = tensor_of(quant_testing::gaussian_values(4 * 32, 3), {4, 32});
  obs.observe(w);
  const QuantParams p = obs.compute_qparams();
  EXPECT_EQ(p.scale.shape(), (Shape{4, 4}));
  const QuantParams direct = compute_qparams(w, spec);
  EXPECT_EQ(std::memcmp(p.scale.raw_data(), direct.scale.raw_data(), p.scale.nbytes()), 0);
  EXPECT_EQ(std::memcmp(p.zero_point.raw_data(), direct.zero_point.raw_data(), p.zero_point.nbytes()), 0);
}

TEST(Calibrators, DeterministicForTheSameData) {
  const std::vector<float> v = quant_testing::gaussian_with_outliers(50000, 5, 2);
  for (const std::string& name : calibrator_names()) {
    for (const char* s : {"int8:sym:per_tensor", "uint8:affine:per_tensor"}) {
      if (name == "entropy" && std::string(s).find("affine") != std::string::npos) continue;
      CalibratorOptions o;
      o.spec = parse_quant_spec(s);
      auto a = make_calibrator(name, o);
      auto b = make_calibrator(name, o);
      for (int k = 0; k < 5; ++k) {
        const Tensor batch = tensor_of(std::vector<float>(v.begin() + k * 10000, v.begin() + (k + 1) * 10000));
        a->observe(batch);
        b->observe(batch);
      }
      const QuantParams pa = a->compute_qparams(), pb = b->compute_qparams();
      EXPECT_EQ(pa.scale.data<float>()[0], pb.scale.data<float>()[0]) << name << " " << s;
      EXPECT_EQ(pa.zero_point.data<int32_t>()[0], pb.zero_point.data<int32_t>()[0]) << name << " " << s;
      EXPECT_EQ(a->compute_qparams().scale.data<float>()[0], pa.scale.data<float>()[0]) << "repeatable";
    }
  }
}

TEST(Calibrators, FactoryNamesAndBadOptions) {
  EXPECT_EQ(calibrator_names(), (std::vector<std::string>{"minmax", "ema", "percentile", "entropy", "mse"}));
  CalibratorOptions o;
  o.percentile = 99.9;
  EXPECT_EQ(make_calibrator("percentile", o)->name(), "percentile(99.9)");
  EXPECT_EQ(make_calibrator("ema")->name(), "ema(0.9)");
  expect_quant_error([] { make_calibrator("kl"); }, "unknown name");
  o.percentile = 0;
  expect_quant_error([&] { make_calibrator("percentile", o); }, "percentile 0");
  o.percentile = 101;
  expect_quant_error([&] { make_calibrator("percentile", o); }, "percentile 101");
  CalibratorOptions m;
  m.momentum = 1.0;
  expect_quant_error([&] { make_calibrator("ema", m); }, "momentum 1");
  CalibratorOptions b;
  b.bins = 0;
  expect_quant_error([&] { make_calibrator("mse", b); }, "0 bins");
  CalibratorOptions tok;
  tok.spec = parse_quant_spec("int8:sym:per_token");
  expect_quant_error([&] { make_calibrator("minmax", tok); }, "per-token observer");
  CalibratorOptions ch;
  ch.spec = parse_quant_spec("int8:sym:per_channel(0)");
  expect_quant_error([&] { make_calibrator("entropy", ch); }, "per-channel histogram");
  CalibratorOptions fp8;
  fp8.spec = parse_quant_spec("fp8_e4m3");
  expect_quant_error([&] { make_calibrator("entropy", fp8); }, "entropy fp8");
  EXPECT_NO_THROW(make_calibrator("mse", fp8));
}

TEST(Calibrators, BadObservations) {
  for (const std::string& name : calibrator_names()) {
    auto cal = make_calibrator(name);
    expect_quant_error([&] { cal->compute_range(); }, name + " before data");
    expect_quant_error([&] { cal->observe(Tensor::empty({0}, DType::F32)); }, name + " empty");
    expect_quant_error([&] { cal->observe(tensor_of({1.0f, NAN})); }, name + " NaN");
    expect_quant_error([&] { cal->observe(tensor_of({-INFINITY, 1.0f})); }, name + " Inf");
    expect_quant_error([&] { cal->observe(Tensor::zeros({3}, DType::I8)); }, name + " int8 input");
    EXPECT_EQ(cal->batches(), 0) << name;
    cal->observe(tensor_of({-1.0f, 0.5f, 2.0f}));
    EXPECT_EQ(cal->batches(), 1) << name;
    EXPECT_NO_THROW(cal->compute_qparams()) << name;
  }
}

TEST(Calibrators, FpEightMseWorks) {
  const std::vector<float> v = quant_testing::laplace_values(50000, 8);
  const QuantSpec spec = parse_quant_spec("fp8_e4m3");
  const ClipRange mse = calibrate("mse", v, spec);
  const ClipRange minmax = calibrate("minmax", v, spec);
  // The search minimises a model (values spread evenly inside each bin); on the
  // data itself it may miss the optimum slightly, never by much.
  EXPECT_LE(measured_mse(v, spec, mse), measured_mse(v, spec, minmax) * 1.01);
}

}  // namespace
}  // namespace octet
