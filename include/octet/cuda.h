// The CUDA backend's foundation: errors, streams, device memory, device tensors
// and CUDA graphs. Kernels and GEMMs are in octet/cuda_ops.h.
//
// This header needs no CUDA headers, so it compiles in every build. Built
// without CUDA (-DOCTET_CUDA=OFF) every entry point throws Error "cuda"
// ("octet was built without CUDA support ..."); built with CUDA on a machine
// without a GPU they throw cuda::NoGpuError (also tagged "cuda").
//
// Memory. Every device allocation goes through one caching pool per device
// (plain cudaMalloc underneath, never managed memory). Sizes are rounded to
// size classes (pool_size_class) and a freed block is kept for the next
// allocation of the same class *on the same stream*, so reuse is ordered by
// that stream and needs no synchronisation. A buffer used on another stream
// than the one it was allocated on must not be freed before that stream has
// finished with it (synchronise first), as with PyTorch's caching allocator.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "octet/dtype.h"
#include "octet/error.h"
#include "octet/tensor.h"

// The CUDA runtime's stream type is `CUstream_st*` (cudaStream_t); naming the
// struct here keeps CUDA headers out of this one.
struct CUstream_st;

namespace octet::cuda {

using StreamHandle = CUstream_st*;

// Thrown instead of a plain Error when the failure means "there is no usable
// GPU here" (cudaErrorNoDevice, cudaErrorInsufficientDriver, cuBLASLt's
// CUBLAS_STATUS_NOT_INITIALIZED from cublasLtCreate): callers and tests can
// tell "no GPU" from "the GPU failed". Tag "cuda".
class NoGpuError : public Error {
 public:
  explicit NoGpuError(std::string detail) : Error("cuda", std::move(detail)) {}
};

// Whether a CUDA GPU can be used now (built with CUDA and cuda_status() sees
// a device). Asked once per process and remembered.
bool gpu_available();

// Compute capability of `device` as 10 * major + minor (80, 89, 90).
int compute_capability(int device);

// The device this thread's CUDA calls go to (cudaGetDevice).
int current_device();

// ---- streams -----------------------------------------------------------------

// A CUDA stream on one device. Owning streams are created non-blocking;
// Stream::legacy(device) names the device's legacy default stream (handle
// nullptr) without owning it. Move-only.
class Stream {
 public:
  // A new stream on `device` (default: the current device).
  explicit Stream(int device = -1);
  static Stream legacy(int device = -1);
  ~Stream();
  Stream(Stream&& other) noexcept;
  Stream& operator=(Stream&& other) noexcept;
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  StreamHandle handle() const { return handle_; }
  int device() const { return device_; }
  // Blocks until all work queued on the stream has finished; a kernel's
  // asynchronous failure surfaces here as Error "cuda".
  void synchronize() const;

 private:
  Stream(StreamHandle handle, int device, bool owned) : handle_(handle), device_(device), owned_(owned) {}
  StreamHandle handle_ = nullptr;
  int device_ = 0;
  bool owned_ = false;
};

// ---- the caching allocator ------------------------------------------------------

// Bytes actually reserved for a request of `bytes`: 512 for up to 512 bytes,
// else `bytes` rounded up to a multiple of 2^e / 4, where 2^e < bytes <= 2^(e+1).
// That gives four classes per octave, a block wastes under 25%, and blocks of
// one class are interchangeable. 0 stays 0.
constexpr size_t pool_size_class(size_t bytes) {
  if (bytes == 0) return 0;
  if (bytes <= 512) return 512;
  size_t octave = 512;
  while (octave * 2 < bytes) octave *= 2;
  const size_t step = octave / 4;
  return (bytes + step - 1) / step * step;
}

struct PoolStats {
  size_t bytes_in_use = 0;       // held by live buffers (size classes, not requests)
  size_t bytes_cached = 0;       // freed blocks kept for reuse
  size_t peak_bytes_in_use = 0;
  int64_t device_allocations = 0;  // cudaMalloc calls
  int64_t cache_hits = 0;          // allocations served from the cache
  int64_t device_frees = 0;        // cudaFree calls (empty_cache, out-of-memory retry)
};

// Per-device pool statistics and control. Thread-safe.
PoolStats pool_stats(int device);
// Frees every cached block of `device` back to CUDA (after synchronising it).
void pool_empty_cache(int device);

// Device memory from the pool, returned to it on destruction. Move-only.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  // `bytes` of uninitialised memory on stream.device(), for use on `stream`.
  DeviceBuffer(size_t bytes, const Stream& stream);
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&& other) noexcept;
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* data() const { return data_; }
  size_t size() const { return size_; }          // bytes requested
  size_t capacity() const { return capacity_; }  // the size class reserved
  int device() const { return device_; }
  StreamHandle stream() const { return stream_; }

 private:
  void release() noexcept;
  void* data_ = nullptr;
  size_t size_ = 0;
  size_t capacity_ = 0;
  int device_ = 0;
  StreamHandle stream_ = nullptr;
};

// ---- copies --------------------------------------------------------------------

// Copies on `stream` and waits for the copy, so host memory may be pageable
// and reused as soon as these return.
void copy_to_device(void* device_dst, const void* host_src, size_t bytes, const Stream& stream);
void copy_to_host(void* host_dst, const void* device_src, size_t bytes, const Stream& stream);
// Queued on `stream`; does not wait.
void copy_on_device(void* device_dst, const void* device_src, size_t bytes, const Stream& stream);
void fill_zero(void* device_dst, size_t bytes, const Stream& stream);

// ---- device tensors --------------------------------------------------------------

// A contiguous, row-major array in device memory: shared buffer + shape +
// dtype. Copies share memory (like octet::Tensor); reshape() is a view.
class DeviceTensor {
 public:
  DeviceTensor() = default;

  // Uninitialised (empty) or zero-filled memory on stream.device().
  static DeviceTensor empty(Shape shape, DType dtype, const Stream& stream);
  static DeviceTensor zeros(Shape shape, DType dtype, const Stream& stream);
  // A copy of `host` (made contiguous). With `as` given, float tensors are
  // first converted on the host (Tensor::to), e.g. f32 weights to F16.
  static DeviceTensor upload(const Tensor& host, const Stream& stream);
  static DeviceTensor upload(const Tensor& host, DType as, const Stream& stream);

  // A host copy (waits for `stream`).
  Tensor download(const Stream& stream) const;

  bool defined() const { return buffer_ != nullptr; }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int rank() const { return static_cast<int>(shape_.size()); }
  int64_t dim(int i) const;  // negative i counts from the end
  int64_t numel() const { return shape_numel(shape_); }
  size_t nbytes() const { return storage_bytes(dtype_, numel()); }
  int device() const;

  void* raw_data() const;
  template <typename T>
  T* data() const {
    check(DTypeOf<T>::value == dtype_, "cuda", "device tensor is {}, not {}", dtype_name(dtype_),
          dtype_name(DTypeOf<T>::value));
    return static_cast<T*>(raw_data());
  }

  // A view with another shape (same numel; one dim may be -1).
  DeviceTensor reshape(Shape shape) const;
  // "f16[2, 3] on cuda:0".
  std::string describe() const;

 private:
  std::shared_ptr<DeviceBuffer> buffer_;
  DType dtype_ = DType::F32;
  Shape shape_;
};

// ---- CUDA graphs -------------------------------------------------------------------

// Records the work `body` queues on `stream` once and replays it with one
// launch: for repeated fixed shapes (same pointers, same sizes). Buffers the
// pool hands out or takes back on that stream during capture stay reserved
// for the graph until it is destroyed, so replays never race with later
// allocations. Run `body` once before capturing so that cuBLASLt plans and
// pool blocks exist (capture uses relaxed mode; a cudaMalloc in it still works).
class Graph {
 public:
  Graph() = default;
  ~Graph();
  Graph(Graph&& other) noexcept;
  Graph& operator=(Graph&& other) noexcept;
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  void capture(const Stream& stream, const std::function<void()>& body);
  void launch(const Stream& stream) const;
  bool captured() const { return exec_ != nullptr; }

 private:
  void reset() noexcept;
  void* graph_ = nullptr;  // cudaGraph_t
  void* exec_ = nullptr;   // cudaGraphExec_t
  int device_ = 0;
  std::shared_ptr<void> reserved_;  // returns the blocks the graph's kernels use to the pool
};

}  // namespace octet::cuda
