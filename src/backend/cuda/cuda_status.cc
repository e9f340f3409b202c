// CUDA backend status, compiled only when octet is built with CUDA.
#include <cuda_runtime_api.h>

#include <fmt/format.h>

#include "octet/device.h"
#include "octet/error.h"

namespace octet {
namespace {

// "12.4" from CUDA's integer encoding 1000 * major + 10 * minor.
std::string cuda_version_text(int version) { return fmt::format("{}.{}", version / 1000, (version % 1000) / 10); }

std::string error_text(cudaError_t error) {
  return fmt::format("{} ({})", cudaGetErrorString(error), cudaGetErrorName(error));
}

}  // namespace

CudaStatus cuda_status() {
  CudaStatus status;
  status.built = true;
  int driver = 0;
  // Succeeds with 0 when no driver is installed.
  if (cudaDriverGetVersion(&driver) == cudaSuccess && driver > 0) status.driver = cuda_version_text(driver);
  int runtime = 0;
  cudaRuntimeGetVersion(&runtime);

  int count = 0;
  const cudaError_t error = cudaGetDeviceCount(&count);
  if (error != cudaSuccess) {
    // "insufficient driver" / "no device" on machines without a GPU: an answer, not a failure.
    cudaGetLastError();  // do not leave the error for the next CUDA call to report
    status.detail = error_text(error);
    return status;
  }
  status.device_count = count;
  status.gpu_visible = count > 0;
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp props{};
    if (const cudaError_t e = cudaGetDeviceProperties(&props, i); e != cudaSuccess) {
      status.devices.push_back(fmt::format("device {}: {}", i, error_text(e)));
      continue;
    }
    const double gib = static_cast<double>(props.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0);
    status.devices.push_back(fmt::format("{} (sm_{}{}, {:.1f} GiB)", props.name, props.major, props.minor, gib));
  }
  status.detail = status.gpu_visible ? fmt::format("CUDA runtime {}", cuda_version_text(runtime))
                                     : "the CUDA runtime reports no devices";
  return status;
}

void cuda_set_device(int index) {
  require_device({DeviceKind::CUDA, index});
  const cudaError_t error = cudaSetDevice(index);
  check(error == cudaSuccess, "cuda", "cudaSetDevice({}): {}", index, error_text(error));
}

}  // namespace octet
