// The no-GPU path, proved on machines without a GPU (these tests always run):
// cuda_status() explains why, every CUDA entry point throws Error "cuda"
// (NoGpuError in a CUDA build, "built without CUDA support" in a stub build),
// and nothing crashes. On a GPU machine they check the opposite answers.
#include <gtest/gtest.h>

#include <functional>
#include <vector>

#include "cuda/cuda_test_util.h"
#include "octet/cuda.h"
#include "octet/cuda_ops.h"
#include "octet/device.h"

#ifdef OCTET_WITH_CUDA
#include "backend/cuda/cublaslt_library.h"
#include "backend/cuda/cuda_check.h"
#endif

namespace octet::cuda {
namespace {

constexpr const char* kNotBuilt = "octet was built without CUDA support (configure with -DOCTET_CUDA=ON)";

// Every entry point that needs no device tensor (the rest need a Stream, which
// cannot be made without a GPU).
std::vector<std::pair<const char*, std::function<void()>>> entry_points() {
  return {
      {"Stream()", [] { Stream s; }},
      {"Stream(0)", [] { Stream s(0); }},
      {"Stream::legacy", [] { Stream::legacy(0); }},
      {"current_device", [] { current_device(); }},
      {"compute_capability", [] { compute_capability(0); }},
      {"pool_stats", [] { pool_stats(0); }},
      {"pool_empty_cache", [] { pool_empty_cache(0); }},
      {"gemm_plan_count", [] { gemm_plan_count(0); }},
      {"cuda_set_device", [] { cuda_set_device(0); }},
      {"require_device(cuda:0)", [] { require_device(parse_device("cuda:0")); }},
  };
}

TEST(CudaWithoutGpu, StatusExplainsWhy) {
  const CudaStatus s = cuda_status();
  EXPECT_EQ(gpu_available(), s.gpu_visible);
  if (s.gpu_visible) {
    EXPECT_TRUE(s.built);
    EXPECT_GT(s.device_count, 0);
    return;
  }
  std::fprintf(stderr, "cuda_status: built=%d gpu_visible=0 driver='%s' detail='%s'\n", int(s.built), s.driver.c_str(),
               s.detail.c_str());
  EXPECT_EQ(s.device_count, 0);
  EXPECT_TRUE(s.devices.empty());
  EXPECT_FALSE(s.detail.empty());
#ifdef OCTET_WITH_CUDA
  EXPECT_TRUE(s.built);
  // The runtime's own text (e.g. "CUDA driver version is insufficient for CUDA
  // runtime version (cudaErrorInsufficientDriver)" or "no CUDA-capable device").
  EXPECT_NE(s.detail, kNotBuilt);
#else
  EXPECT_FALSE(s.built);
  EXPECT_EQ(s.detail, kNotBuilt);
#endif
}

TEST(CudaWithoutGpu, EveryEntryPointThrowsCudaError) {
  if (gpu_available()) {
    EXPECT_NO_THROW(Stream s);
    EXPECT_GE(compute_capability(0), 75);
    return;
  }
  for (const auto& [name, call] : entry_points()) {
    SCOPED_TRACE(name);
    try {
      call();
      ADD_FAILURE() << "returned without a GPU";
    } catch (const Error& e) {
      EXPECT_EQ(e.tag(), "cuda");
#ifdef OCTET_WITH_CUDA
      // Allocation and stream creation say "no GPU" in a way code can test for.
      if (std::string_view(name) != "cuda_set_device" && !std::string_view(name).starts_with("require_device")) {
        EXPECT_NE(dynamic_cast<const NoGpuError*>(&e), nullptr) << e.what();
      }
      EXPECT_NE(e.detail().find(cuda_status().detail), std::string::npos) << e.detail();
#else
      EXPECT_EQ(e.detail(), kNotBuilt);
#endif
    }
  }
}

#ifdef OCTET_WITH_CUDA

TEST(CudaWithoutGpu, CudaErrorsMapToOctetErrors) {
  try {
    check_cuda(cudaErrorInvalidValue, "copying 4 bytes");
    ADD_FAILURE() << "no throw";
  } catch (const NoGpuError&) {
    ADD_FAILURE() << "invalid value is not a no-GPU error";
  } catch (const Error& e) {
    EXPECT_EQ(e.tag(), "cuda");
    EXPECT_EQ(e.detail(), std::string("copying 4 bytes: ") + cudaGetErrorString(cudaErrorInvalidValue) +
                              " (cudaErrorInvalidValue)");
  }
  for (cudaError_t no_gpu : {cudaErrorNoDevice, cudaErrorInsufficientDriver}) {
    try {
      check_cuda(no_gpu, "cudaMalloc");
      ADD_FAILURE() << "no throw";
    } catch (const NoGpuError& e) {
      EXPECT_EQ(e.tag(), "cuda");
      EXPECT_TRUE(e.detail().starts_with(std::string("cudaMalloc: ") + cudaGetErrorString(no_gpu))) << e.detail();
    }
  }
  EXPECT_NO_THROW(check_cuda(cudaSuccess, "nothing"));
  EXPECT_THROW(check_cublas(CUBLAS_STATUS_NOT_INITIALIZED, "cublasLtCreate"), NoGpuError);
  try {
    check_cublas(CUBLAS_STATUS_INVALID_VALUE, "cublasLtMatmul");
    ADD_FAILURE() << "no throw";
  } catch (const NoGpuError&) {
    ADD_FAILURE() << "invalid value is not a no-GPU error";
  } catch (const Error& e) {
    EXPECT_EQ(e.tag(), "cuda");
    EXPECT_NE(e.detail().find("cublasLtMatmul: "), std::string::npos);
    EXPECT_NE(e.detail().find("(status 7)"), std::string::npos) << e.detail();
  }
}

// The real libraries answer as DESIGN.md says they do on a machine without a
// GPU, and those answers are classified as "no GPU"; on a machine with one,
// the same calls succeed and nothing is misread as "no GPU" (so the test
// runs, never skips, on both).
TEST(CudaWithoutGpu, RealRuntimeAnswersAreClassified) {
  void* p = nullptr;
  const cudaError_t malloc_error = cudaMalloc(&p, 256);
  cublasLtHandle_t handle = nullptr;
  const cublasStatus_t status = cublaslt().create(&handle);
  if (gpu_available()) {
    EXPECT_EQ(malloc_error, cudaSuccess) << cudaGetErrorName(malloc_error);
    EXPECT_EQ(status, CUBLAS_STATUS_SUCCESS);
    if (p != nullptr) cudaFree(p);
    if (handle != nullptr) cublaslt().destroy(handle);
    EXPECT_NO_THROW(require_gpu("test"));
    return;
  }
  EXPECT_NE(malloc_error, cudaSuccess);
  EXPECT_TRUE(is_no_gpu_error(malloc_error)) << cudaGetErrorName(malloc_error);
  EXPECT_THROW(check_cuda(malloc_error, "cudaMalloc"), NoGpuError);
  EXPECT_EQ(status, CUBLAS_STATUS_NOT_INITIALIZED);
  EXPECT_THROW(check_cublas(status, "cublasLtCreate"), NoGpuError);
}

#endif  // OCTET_WITH_CUDA

}  // namespace
}  // namespace octet::cuda
