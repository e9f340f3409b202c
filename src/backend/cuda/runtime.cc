// CUDA runtime basics: error mapping, device queries, streams and copies.
#include <fmt/format.h>

#include <mutex>

#include "backend/cuda/cublaslt_library.h"
#include "backend/cuda/cuda_check.h"
#include "octet/device.h"

namespace octet::cuda {

bool is_no_gpu_error(cudaError_t error) {
  return error == cudaErrorNoDevice || error == cudaErrorInsufficientDriver || error == cudaErrorSystemDriverMismatch ||
         error == cudaErrorCompatNotSupportedOnDevice;
}

void check_cuda(cudaError_t error, std::string_view what) {
  if (error == cudaSuccess) return;
  // Non-sticky errors stay as "last error" and would be reported again by
  // the next unrelated call; reading it resets them.
  cudaGetLastError();
  std::string detail = fmt::format("{}: {} ({})", what, cudaGetErrorString(error), cudaGetErrorName(error));
  if (is_no_gpu_error(error)) throw NoGpuError(fmt::format("{}; no GPU is usable", detail));
  throw Error("cuda", std::move(detail));
}

void check_launch(std::string_view op) { check_cuda(cudaGetLastError(), fmt::format("launching {}", op)); }

void check_cublas(cublasStatus_t status, std::string_view what) {
  if (status == CUBLAS_STATUS_SUCCESS) return;
  std::string detail = fmt::format("{}: {} (status {})", what, cublaslt().get_status_string(status), int(status));
  if (status == CUBLAS_STATUS_NOT_INITIALIZED) throw NoGpuError(fmt::format("{}; no GPU is usable", detail));
  throw Error("cuda", std::move(detail));
}

bool gpu_available() {
  static std::once_flag once;
  static bool available = false;
  std::call_once(once, [] { available = cuda_status().gpu_visible; });
  return available;
}

void require_gpu(std::string_view what) {
  if (gpu_available()) return;
  throw NoGpuError(fmt::format("{}: no CUDA GPU is usable: {}", what, cuda_status().detail));
}

int current_device() {
  require_gpu("current_device");
  int device = 0;
  check_cuda(cudaGetDevice(&device), "cudaGetDevice");
  return device;
}

int compute_capability(int device) {
  require_gpu("compute_capability");
  int major = 0, minor = 0;
  check_cuda(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device),
             fmt::format("compute capability of cuda:{}", device));
  check_cuda(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device),
             fmt::format("compute capability of cuda:{}", device));
  return 10 * major + minor;
}

DeviceGuard::DeviceGuard(int device) {
  check_cuda(cudaGetDevice(&previous_), "cudaGetDevice");
  if (previous_ != device) check_cuda(cudaSetDevice(device), fmt::format("cudaSetDevice({})", device));
}

DeviceGuard::~DeviceGuard() {
  int now = -1;
  if (cudaGetDevice(&now) == cudaSuccess && now != previous_) cudaSetDevice(previous_);
}

// ---- streams ------------------------------------------------------------------

Stream::Stream(int device) {
  require_gpu("Stream");
  device_ = device < 0 ? current_device() : device;
  require_device({DeviceKind::CUDA, device_});
  DeviceGuard guard(device_);
  cudaStream_t stream = nullptr;
  check_cuda(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
  handle_ = stream;
  owned_ = true;
}

Stream Stream::legacy(int device) {
  require_gpu("Stream::legacy");
  const int d = device < 0 ? current_device() : device;
  require_device({DeviceKind::CUDA, d});
  return Stream(nullptr, d, false);
}

Stream::~Stream() {
  // Destroying a stream with queued work is allowed: CUDA releases it once the work is done.
  if (owned_ && handle_ != nullptr) cudaStreamDestroy(handle_);
}

Stream::Stream(Stream&& other) noexcept : handle_(other.handle_), device_(other.device_), owned_(other.owned_) {
  other.handle_ = nullptr;
  other.owned_ = false;
}

Stream& Stream::operator=(Stream&& other) noexcept {
  if (this != &other) {
    if (owned_ && handle_ != nullptr) cudaStreamDestroy(handle_);
    handle_ = other.handle_;
    device_ = other.device_;
    owned_ = other.owned_;
    other.handle_ = nullptr;
    other.owned_ = false;
  }
  return *this;
}

void Stream::synchronize() const {
  DeviceGuard guard(device_);
  check_cuda(cudaStreamSynchronize(handle_), fmt::format("synchronizing a stream on cuda:{}", device_));
}

// ---- copies ---------------------------------------------------------------------

void copy_to_device(void* device_dst, const void* host_src, size_t bytes, const Stream& stream) {
  if (bytes == 0) return;
  DeviceGuard guard(stream.device());
  check_cuda(cudaMemcpyAsync(device_dst, host_src, bytes, cudaMemcpyHostToDevice, stream.handle()),
             fmt::format("copying {} bytes to cuda:{}", bytes, stream.device()));
  stream.synchronize();
}

void copy_to_host(void* host_dst, const void* device_src, size_t bytes, const Stream& stream) {
  if (bytes == 0) return;
  DeviceGuard guard(stream.device());
  check_cuda(cudaMemcpyAsync(host_dst, device_src, bytes, cudaMemcpyDeviceToHost, stream.handle()),
             fmt::format("copying {} bytes from cuda:{}", bytes, stream.device()));
  stream.synchronize();
}

void copy_on_device(void* device_dst, const void* device_src, size_t bytes, const Stream& stream) {
  if (bytes == 0) return;
  DeviceGuard guard(stream.device());
  check_cuda(cudaMemcpyAsync(device_dst, device_src, bytes, cudaMemcpyDeviceToDevice, stream.handle()),
             fmt::format("copying {} bytes on cuda:{}", bytes, stream.device()));
}

void fill_zero(void* device_dst, size_t bytes, const Stream& stream) {
  if (bytes == 0) return;
  DeviceGuard guard(stream.device());
  check_cuda(cudaMemsetAsync(device_dst, 0, bytes, stream.handle()),
             fmt::format("zeroing {} bytes on cuda:{}", bytes, stream.device()));
}

}  // namespace octet::cuda
