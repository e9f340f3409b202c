// The CUDA backend's stand-in, compiled only when octet is built without CUDA
// (cmake/OctetCuda.cmake drops this file otherwise): status says so, and the
// CUDA-only entry points throw a clear Error instead of failing to link.
#include "octet/device.h"
#include "octet/error.h"

namespace octet {
namespace {
constexpr const char* kNotBuilt = "octet was built without CUDA support (configure with -DOCTET_CUDA=ON)";
}

CudaStatus cuda_status() {
  CudaStatus status;
  status.detail = kNotBuilt;
  return status;
}

void cuda_set_device(int /*index*/) { throw Error("cuda", kNotBuilt); }

}  // namespace octet
