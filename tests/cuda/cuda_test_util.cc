#include "cuda/cuda_test_util.h"

#include <fmt/format.h>

#include <cstdio>

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
