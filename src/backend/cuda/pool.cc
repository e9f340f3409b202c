// The caching device allocator: one pool per device, free blocks keyed by
// (stream, size class). Reuse on the same stream is ordered by that stream,
// so no events or synchronisation are needed; cross-stream reuse never
// happens. Out of memory: synchronise, free every cached block, retry once.
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/pool.h"
#include "octet/device.h"

namespace octet::cuda {
namespace {

struct Block {
  void* ptr;
  size_t capacity;
  StreamHandle stream;
};

class DevicePool {
 public:
  explicit DevicePool(int device) : device_(device) {}

  void* allocate(size_t capacity, StreamHandle stream) {
    std::lock_guard lock(mutex_);
    auto it = free_.find({stream, capacity});
    if (it != free_.end() && !it->second.empty()) {
      void* ptr = it->second.back();
      it->second.pop_back();
      stats_.bytes_cached -= capacity;
      ++stats_.cache_hits;
      note_in_use(capacity);
      return ptr;
    }
    DeviceGuard guard(device_);
    void* ptr = nullptr;
    cudaError_t error = cudaMalloc(&ptr, capacity);
    if (error == cudaErrorMemoryAllocation && stats_.bytes_cached > 0 && capturing_.empty()) {
      cudaGetLastError();
      free_cached_locked();
      error = cudaMalloc(&ptr, capacity);
    }
    if (error != cudaSuccess) {
      check_cuda(error, fmt::format("allocating {} bytes on cuda:{} ({} bytes in use, {} cached)", capacity, device_,
                                    stats_.bytes_in_use, stats_.bytes_cached));
    }
    ++stats_.device_allocations;
    note_in_use(capacity);
    return ptr;
  }

  void release(void* ptr, size_t capacity, StreamHandle stream) noexcept {
    std::lock_guard lock(mutex_);
    stats_.bytes_in_use -= capacity;
    if (auto it = capturing_.find(stream); it != capturing_.end()) {
      it->second.push_back({ptr, capacity, stream});
      return;
    }
    cache_locked({ptr, capacity, stream});
  }

  void begin_capture(StreamHandle stream) {
    std::lock_guard lock(mutex_);
    check(!capturing_.contains(stream), "cuda", "a graph capture is already open on this stream");
    capturing_[stream];
  }

  std::vector<Block> end_capture(StreamHandle stream) {
    std::lock_guard lock(mutex_);
    auto it = capturing_.find(stream);
    if (it == capturing_.end()) return {};
    std::vector<Block> held = std::move(it->second);
    capturing_.erase(it);
    return held;
  }

  void give_back(const std::vector<Block>& blocks) noexcept {
    std::lock_guard lock(mutex_);
    for (const Block& b : blocks) cache_locked(b);
  }

  PoolStats stats() {
    std::lock_guard lock(mutex_);
    return stats_;
  }

  void empty_cache() {
    std::lock_guard lock(mutex_);
    free_cached_locked();
  }

 private:
  void note_in_use(size_t capacity) {
    stats_.bytes_in_use += capacity;
    stats_.peak_bytes_in_use = std::max(stats_.peak_bytes_in_use, stats_.bytes_in_use);
  }

  void cache_locked(const Block& b) {
    free_[{b.stream, b.capacity}].push_back(b.ptr);
    stats_.bytes_cached += b.capacity;
  }

  // Cached blocks may still be read by queued work on their stream.
  void free_cached_locked() {
    DeviceGuard guard(device_);
    check_cuda(cudaDeviceSynchronize(), fmt::format("synchronizing cuda:{} before freeing cached blocks", device_));
    for (auto& [key, ptrs] : free_) {
      for (void* p : ptrs) {
        cudaFree(p);
        ++stats_.device_frees;
      }
      stats_.bytes_cached -= key.second * ptrs.size();
      ptrs.clear();
    }
    free_.clear();
  }

  const int device_;
  std::mutex mutex_;
  std::map<std::pair<StreamHandle, size_t>, std::vector<void*>> free_;
  std::map<StreamHandle, std::vector<Block>> capturing_;
  PoolStats stats_;
};

// Pools live for the whole process and are never destroyed: freeing device
// memory during static destruction would race the CUDA runtime's own teardown.
DevicePool& pool_for(int device) {
  static std::mutex mutex;
  static auto* pools = new std::map<int, DevicePool*>();
  std::lock_guard lock(mutex);
  if (auto it = pools->find(device); it != pools->end()) return *it->second;
  require_device({DeviceKind::CUDA, device});  // asks the driver: only once per device
  DevicePool* pool = new DevicePool(device);
  pools->emplace(device, pool);
  return *pool;
}

}  // namespace

void* pool_allocate(int device, size_t capacity, StreamHandle stream) {
  return pool_for(device).allocate(capacity, stream);
}

void pool_release(int device, void* ptr, size_t capacity, StreamHandle stream) noexcept {
  // The pool exists: the block came from it.
  try {
    pool_for(device).release(ptr, capacity, stream);
  } catch (...) {
    // Unreachable for a block this pool handed out; leaking beats terminating.
  }
}

void pool_begin_capture(int device, StreamHandle stream) { pool_for(device).begin_capture(stream); }

std::shared_ptr<void> pool_end_capture(int device, StreamHandle stream) {
  DevicePool& pool = pool_for(device);
  auto held = std::make_shared<std::vector<Block>>(pool.end_capture(stream));
  return std::shared_ptr<void>(held.get(), [held, &pool](void*) { pool.give_back(*held); });
}

PoolStats pool_stats(int device) {
  require_gpu("pool_stats");
  return pool_for(device).stats();
}

void pool_empty_cache(int device) {
  require_gpu("pool_empty_cache");
  pool_for(device).empty_cache();
}

// ---- DeviceBuffer -------------------------------------------------------------------

DeviceBuffer::DeviceBuffer(size_t bytes, const Stream& stream)
    : size_(bytes), capacity_(pool_size_class(bytes)), device_(stream.device()), stream_(stream.handle()) {
  require_gpu("DeviceBuffer");
  if (capacity_ > 0) data_ = pool_allocate(device_, capacity_, stream_);
}

DeviceBuffer::~DeviceBuffer() { release(); }

void DeviceBuffer::release() noexcept {
  if (data_ != nullptr) pool_release(device_, data_, capacity_, stream_);
  data_ = nullptr;
  size_ = capacity_ = 0;
}

DeviceBuffer::DeviceBuffer(DeviceBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      capacity_(std::exchange(other.capacity_, 0)),
      device_(other.device_),
      stream_(other.stream_) {}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept {
  if (this != &other) {
    release();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    capacity_ = std::exchange(other.capacity_, 0);
    device_ = other.device_;
    stream_ = other.stream_;
  }
  return *this;
}

}  // namespace octet::cuda
