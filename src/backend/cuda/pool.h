// Internal to the CUDA backend: the per-device caching pool behind DeviceBuffer.
#pragma once

#include <cstddef>
#include <memory>

#include "octet/cuda.h"

namespace octet::cuda {

// `capacity` must be a pool_size_class(). Returns device memory reserved for
// use on `stream`; throws Error "cuda" (out of memory after emptying the cache,
// or any other cudaMalloc failure).
void* pool_allocate(int device, size_t capacity, StreamHandle stream);
// Gives a block back: cached for the next allocation of its class on the
// same stream, or reserved for a graph being captured on that stream.
void pool_release(int device, void* ptr, size_t capacity, StreamHandle stream) noexcept;

// While a capture on `stream` is open, blocks released on it are held for
// the graph instead of being cached. The token returned by end returns them
// to the cache when destroyed (when the graph is).
void pool_begin_capture(int device, StreamHandle stream);
std::shared_ptr<void> pool_end_capture(int device, StreamHandle stream);

}  // namespace octet::cuda
