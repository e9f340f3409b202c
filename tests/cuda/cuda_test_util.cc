#include "cuda/cuda_test_util.h"

#include <fmt/format.h>

#include <algorithm>
#include <cfloat>
#include <cstdio>

#include "octet/number_formats.h"

namespace octet::cuda::testing {

std::string no_gpu_message() { return "skipped: no GPU (" + cuda_status().detail + ")"; }

void expect_within(const Tensor& actual, const Tensor& expected, const std::function<double(int64_t)>& tolerance,
                   const std::string& what) {
  ASSERT_EQ(actual.shape(), expected.shape()) << what;
  const Tensor a = actual.to(DType::F32).contiguous(), e = expected.to(DType::F32).contiguous();
  const float* pa = a.data<float>();
  const float* pe = e.data<float>();
  int64_t worst = -1, failures = 0;
  double worst_ratio = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const double err = std::fabs(double(pa[i]) - double(pe[i]));
    const double tol = tolerance(i);
    const double ratio = tol > 0 ? err / tol : (err > 0 ? INFINITY : 0.0);
    if (!(err <= tol)) ++failures;  // NaN fails too
    if (!(ratio <= worst_ratio)) {
      worst_ratio = ratio;
      worst = i;
    }
  }
  if (failures > 0) {
    ADD_FAILURE() << fmt::format("{}: {} of {} elements outside tolerance; worst [{}]: got {}, expected {}, tol {:.3g}",
                                 what, failures, a.numel(), worst, pa[worst], pe[worst], tolerance(worst));
  }
}

void expect_float_output(const DeviceTensor& y, const Reference& ref, const Stream& stream, const std::string& what) {
  ASSERT_EQ(y.shape(), ref.shape) << what;
  const Tensor got = download_f32(y, stream);
  const Tensor expected = Tensor::from_vector(std::vector<float>(ref.value.begin(), ref.value.end()), ref.shape);
  const double u_out = output_roundoff(y.dtype());
  // expected holds value rounded to f32: allow that rounding too.
  expect_within(got, expected, [&](int64_t i) {
    const double a = std::fabs(ref.value[i]);
    return ref.tol[i] + u_out * (a + ref.tol[i]) + kU32 * a;
  }, what);
}

namespace {

double levels_of(DType dtype) { return dtype == DType::I8 ? 127.0 : 448.0; }

float scale_for(double amax, DType dtype) {
  // octet's rule, from a double amax rounded toward the side being bounded by the caller.
  const float s = amax == 0 ? 1.0f : static_cast<float>(amax / levels_of(dtype));
  return std::max(s, FLT_MIN);
}

// The value a code stands for, in units of the scale.
double code_value(const Tensor& codes, int64_t i) {
  if (codes.dtype() == DType::I8) return codes.data<int8_t>()[i];
  return fp8_e4m3_to_float(static_cast<const uint8_t*>(codes.raw_data())[i]);
}

double quantized_level(double x, float inv_scale, DType dtype) {
  const float v = static_cast<float>(x) * inv_scale;
  if (dtype == DType::I8) {
    if (std::isnan(v)) return 0;
    return std::clamp(double(std::nearbyint(v)), -127.0, 127.0);
  }
  return fp8_e4m3_to_float(float_to_fp8_e4m3(v));
}

}  // namespace

void expect_row_scales(const Tensor& scales, DType dtype, const Reference& ref, const std::string& what) {
  ASSERT_EQ(scales.numel(), ref.rows()) << what;
  const float* s = scales.data<float>();
  int failures = 0;
  for (int64_t r = 0; r < ref.rows() && failures < 5; ++r) {
    double lo = 0, hi = 0;
    for (int64_t c = 0; c < ref.cols(); ++c) {
      const int64_t i = r * ref.cols() + c;
      lo = std::max(lo, std::fabs(ref.value[i]) - ref.tol[i]);
      hi = std::max(hi, std::fabs(ref.value[i]) + ref.tol[i]);
    }
    // One more f32 rounding of amax / levels on each side.
    const double s_lo = scale_for(lo, dtype) * (1 - kU32), s_hi = scale_for(hi, dtype) * (1 + kU32);
    if (!(s[r] >= s_lo && s[r] <= s_hi)) {
      ++failures;
      ADD_FAILURE() << fmt::format("{}: row {} scale {} outside [{}, {}]", what, r, s[r], s_lo, s_hi);
    }
  }
}

void expect_codes(const Tensor& codes, const Tensor& row_scales, const Reference& ref, const std::string& what) {
  ASSERT_EQ(codes.numel(), int64_t(ref.value.size())) << what;
  const float* scales = row_scales.data<float>();
  const bool per_row = row_scales.numel() > 1;
  int64_t failures = 0, first = -1;
  double first_lo = 0, first_hi = 0, first_got = 0;
  for (int64_t i = 0; i < codes.numel(); ++i) {
    const float scale = scales[per_row ? i / ref.cols() : 0];
    const float inv = 1.0f / scale;
    const double lo = quantized_level(ref.value[i] - ref.tol[i], inv, codes.dtype());
    const double hi = quantized_level(ref.value[i] + ref.tol[i], inv, codes.dtype());
    const double got = code_value(codes, i);
    if (!(got >= lo && got <= hi)) {
      if (failures++ == 0) {
        first = i;
        first_lo = lo;
        first_hi = hi;
        first_got = got;
      }
    }
  }
  if (failures > 0)
    ADD_FAILURE() << fmt::format("{}: {} of {} codes outside their bounds; first [{}]: code {} not in [{}, {}]", what,
                                 failures, codes.numel(), first, first_got, first_lo, first_hi);
}

namespace {

// One line in the test log saying where the CUDA tests run, or why they are
// skipped, so a person reading CI output sees it without opening each test.
class CudaSummary : public ::testing::Environment {
 public:
  void SetUp() override {
    const CudaStatus s = cuda_status();
    if (gpu_available()) {
      std::string devices;
      for (const std::string& d : s.devices) devices += (devices.empty() ? "" : "; ") + d;
      std::fprintf(stderr, "octet CUDA tests: running on %s (%s)\n", devices.c_str(), s.detail.c_str());
    } else {
      std::fprintf(stderr, "octet CUDA tests: %s; only the no-GPU and host-side tests run\n",
                   no_gpu_message().c_str());
    }
  }
};

[[maybe_unused]] ::testing::Environment* const summary = ::testing::AddGlobalTestEnvironment(new CudaSummary);

}  // namespace
}  // namespace octet::cuda::testing
