#include "octet/device.h"

#include <gtest/gtest.h>

#include "octet/cpu_features.h"
#include "octet/error.h"

namespace octet {
namespace {

TEST(ParseDevice, AcceptsCpuCudaAndCudaIndex) {
  EXPECT_EQ(parse_device("cpu"), (Device{DeviceKind::CPU, 0}));
  EXPECT_EQ(parse_device("cuda"), (Device{DeviceKind::CUDA, 0}));
  EXPECT_EQ(parse_device("cuda:0"), (Device{DeviceKind::CUDA, 0}));
  EXPECT_EQ(parse_device("cuda:1"), (Device{DeviceKind::CUDA, 1}));
  EXPECT_EQ(parse_device("cuda:15"), (Device{DeviceKind::CUDA, 15}));
}

TEST(ParseDevice, RoundTripsThroughToString) {
  for (const char* name : {"cpu", "cuda:0", "cuda:3"}) EXPECT_EQ(to_string(parse_device(name)), name);
  EXPECT_EQ(to_string(parse_device("cuda")), "cuda:0");
}

TEST(ParseDevice, RejectsMalformedNamesWithDeviceError) {
  for (const char* bad : {"", "gpu", "CPU", "cuda:", "cuda:-1", "cuda:-0", "cuda:+1", "cuda:2147483648", "cuda:1x",
                          "cuda: 1", "cuda:1.0", "cuda:99999999999", "cpu:0", " cpu", "cuda0"}) {
    SCOPED_TRACE(bad);
    try {
      parse_device(bad);
      ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.tag(), "device");
    }
  }
}

TEST(CudaStatus, IsConsistent) {
  const CudaStatus s = cuda_status();
  EXPECT_EQ(s.gpu_visible, s.device_count > 0);
  EXPECT_EQ(static_cast<int>(s.devices.size()), s.device_count);
  if (!s.built) {
    EXPECT_FALSE(s.gpu_visible);
  }
  // Without a usable GPU the reason is given.
  if (!s.gpu_visible) {
    EXPECT_FALSE(s.detail.empty());
  }
#ifdef OCTET_WITH_CUDA
  EXPECT_TRUE(s.built);
#else
  EXPECT_FALSE(s.built);
#endif
}

TEST(CudaStatus, CudaEntryPointsFailCleanlyWithoutAGpu) {
  const CudaStatus s = cuda_status();
  EXPECT_NO_THROW(require_device(parse_device("cpu")));
  if (s.gpu_visible) {
    EXPECT_NO_THROW(cuda_set_device(0));
    EXPECT_THROW(require_device({DeviceKind::CUDA, s.device_count}), Error);
    return;
  }
  for (auto call : {+[] { cuda_set_device(0); }, +[] { require_device(parse_device("cuda:0")); }}) {
    try {
      call();
      ADD_FAILURE() << "no error without a GPU";
    } catch (const Error& e) {
      EXPECT_EQ(e.tag(), "cuda");
      if (!s.built) {
        EXPECT_EQ(e.detail(), "octet was built without CUDA support (configure with -DOCTET_CUDA=ON)");
      } else {
        EXPECT_NE(e.detail().find(s.detail), std::string::npos) << e.detail();
      }
    }
  }
}

TEST(CpuKernelVariant, FollowsCpuFeatures) {
  const CpuFeatures& f = cpu_features();
  const std::string variant(cpu_kernel_variant());
  std::string expected = "scalar";
  if (f.avx2 && f.fma && f.f16c) expected = "avx2";
  if (f.avx512f && f.avx512bw && f.avx512vl && f.avx512_vnni && f.fma && f.f16c) expected = "avx512";
  EXPECT_EQ(variant, expected);
}

TEST(BlasStatus, ReportsOpenBlas) {
  const BlasStatus b = blas_status();
  EXPECT_EQ(b.library, "OpenBLAS");
  EXPECT_TRUE(b.config.starts_with("OpenBLAS")) << b.config;
  EXPECT_FALSE(b.core.empty());
  EXPECT_GE(b.threads, 1);
}

}  // namespace
}  // namespace octet
