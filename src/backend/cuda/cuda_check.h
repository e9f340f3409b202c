// Internal to the CUDA backend: turning CUDA runtime and cuBLASLt status codes
// into octet::Error, and a scoped current-device switch.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime_api.h>

#include <string_view>

#include "octet/cuda.h"

namespace octet::cuda {

// "no GPU here" codes (thrown as NoGpuError): no device, no or too old driver.
bool is_no_gpu_error(cudaError_t error);

// Throws Error("cuda", "<what>: <cudaGetErrorString> (<cudaGetErrorName>)")
// unless `error` is cudaSuccess; NoGpuError for the "no GPU" codes. Clears
// CUDA's sticky last error for non-sticky failures.
void check_cuda(cudaError_t error, std::string_view what);
// check_cuda(cudaGetLastError(), "launching <op>") after a kernel launch.
void check_launch(std::string_view op);

// Throws Error("cuda", "<what>: <cublasLtGetStatusString> (status N)") unless
// CUBLAS_STATUS_SUCCESS. CUBLAS_STATUS_NOT_INITIALIZED means "no GPU" (it is
// what cublasLtCreate answers without a driver) and throws NoGpuError.
void check_cublas(cublasStatus_t status, std::string_view what);

// Makes `device` current for the scope, restoring the previous one after.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = -1;
};

// Throws NoGpuError naming cuda_status()'s reason unless a GPU is usable;
// the first call every public entry point makes.
void require_gpu(std::string_view what);

}  // namespace octet::cuda
