// Accuracy sweeps of the AVX2 and AVX-512 exp and erf every vector activation
// and softmax is built on. The bounds checked here (kExpMaxUlp, kErfMaxAbs)
// are the ones row_ops_test.cc uses in its derived tolerances.
#include <gtest/gtest.h>

#include <cfloat>
#include <cstdio>
#include <cstring>
#include <cmath>
#include <limits>
#include <vector>

#include "kernel_test_util.h"
#include "row_ops_bounds.h"

namespace octet::kernels {
namespace {

// ulp of the f32 nearest v (for normal v): the spacing of floats at |v|.
double ulp_of(double v) { return std::ldexp(1.0, std::ilogb(static_cast<float>(v)) - 23); }

// Floats of both signs with magnitude in [min_abs, max_abs], taking every
// `step`-th bit pattern so the sweep visits all binades evenly.
std::vector<float> float_grid(float min_abs, float max_abs, uint32_t step) {
  std::vector<float> out;
  uint32_t lo_bits, hi_bits;
  std::memcpy(&lo_bits, &min_abs, 4);
  std::memcpy(&hi_bits, &max_abs, 4);
  for (uint32_t bits = lo_bits; bits <= hi_bits; bits += step) {
    float v;
    std::memcpy(&v, &bits, 4);
    out.push_back(v);
    out.push_back(-v);
  }
  return out;
}

using RunFn = void (*)(const float*, float*, int64_t);

struct VecMathVariant {
  const char* name;
  RunFn exp_run;
  RunFn erf_run;
  bool optional;  // AVX-512: skipped where the CPU lacks it; AVX2 is required
  bool (*supported)();
};

class VecMath : public ::testing::TestWithParam<VecMathVariant> {
 protected:
  void SetUp() override {
    const VecMathVariant& v = GetParam();
    if (v.optional && !v.supported()) GTEST_SKIP() << "this CPU lacks " << v.name << ": not tested";
    ASSERT_TRUE(v.supported()) << "this CPU lacks " << v.name;
  }
  void exp_run(const std::vector<float>& x, std::vector<float>& y) {
    GetParam().exp_run(x.data(), y.data(), static_cast<int64_t>(x.size()));
  }
  void erf_run(const std::vector<float>& x, std::vector<float>& y) {
    GetParam().erf_run(x.data(), y.data(), static_cast<int64_t>(x.size()));
  }
};

TEST_P(VecMath, ExpRelativeErrorWithinBound) {
  std::vector<float> x = float_grid(1e-30f, 87.33f, 499);
  for (float v = 87.33f; v <= 88.37f; v = std::nextafter(v, 100.0f)) x.push_back(v);
  std::vector<float> y(x.size());
  exp_run(x, y);
  double worst = 0.0;
  float worst_x = 0.0f;
  for (size_t i = 0; i < x.size(); ++i) {
    const double exact = std::exp(static_cast<double>(x[i]));
    const double err = std::fabs(y[i] - exact) / ulp_of(exact);
    if (err > worst) worst = err, worst_x = x[i];
  }
  std::printf("%s exp: max error %.3f ulp at x = %g over %zu points\n", GetParam().name, worst, worst_x, x.size());
  EXPECT_LE(worst, testing::kExpMaxUlp) << "at x = " << worst_x << " over " << x.size() << " points";
}

TEST_P(VecMath, ExpSpecialValues) {
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> x = {-inf, -1000.0f, -87.5f, 0.0f, -0.0f, 1000.0f, std::nanf("")};
  std::vector<float> y(x.size());
  exp_run(x, y);
  EXPECT_EQ(y[0], 0.0f);  // masked softmax entries must be exactly 0
  EXPECT_EQ(y[1], 0.0f);
  EXPECT_EQ(y[2], 0.0f);  // below FLT_MIN: flushed
  EXPECT_EQ(y[3], 1.0f);
  EXPECT_EQ(y[4], 1.0f);
  EXPECT_TRUE(std::isfinite(y[5]) && y[5] > 1e38f);  // saturates, never inf
  EXPECT_TRUE(std::isnan(y[6]));
}

TEST_P(VecMath, ErfAbsoluteErrorWithinBound) {
  std::vector<float> x = float_grid(1e-35f, 6.0f, 397);
  std::vector<float> y(x.size());
  erf_run(x, y);
  double worst = 0.0, worst_rel_small = 0.0;
  float worst_x = 0.0f;
  for (size_t i = 0; i < x.size(); ++i) {
    const double exact = std::erf(static_cast<double>(x[i]));
    const double err = std::fabs(y[i] - exact);
    if (err > worst) worst = err, worst_x = x[i];
    if (std::fabs(x[i]) < 0.5f) worst_rel_small = std::max(worst_rel_small, err / std::fabs(exact));
  }
  std::printf("%s erf: max abs error %.3g at x = %g, max rel error below 0.5 %.3g, over %zu points\n", GetParam().name, worst,
              worst_x, worst_rel_small, x.size());
  EXPECT_LE(worst, testing::kErfMaxAbs) << "at x = " << worst_x << " over " << x.size() << " points";
  // Near 0 the approximation is relative (x * P/Q), so tiny inputs stay accurate.
  EXPECT_LE(worst_rel_small, testing::kErfMaxAbs);
}

INSTANTIATE_TEST_SUITE_P(Variants, VecMath,
                         ::testing::Values(VecMathVariant{"avx2", &avx2::exp_run, &avx2::erf_run, false,
                                                          &avx2_supported},
                                           VecMathVariant{"avx512", &avx512::exp_run, &avx512::erf_run, true,
                                                          &avx512_rows_supported}),
                         [](const ::testing::TestParamInfo<VecMathVariant>& info) { return info.param.name; });

}  // namespace
}  // namespace octet::kernels
