// Where octet runs: device names, and what the CPU and CUDA backends report.
//
// A build without CUDA (-DOCTET_CUDA=OFF, or no nvcc) still has every
// function here: cuda_status() says built=false and the CUDA-only entry points
// throw Error "cuda", so callers never hit a link error.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace octet {

enum class DeviceKind { CPU, CUDA };

struct Device {
  DeviceKind kind = DeviceKind::CPU;
  int index = 0;  // CUDA ordinal; 0 for the CPU
  bool operator==(const Device&) const = default;
};

// "cpu", "cuda" (= cuda:0) or "cuda:N"; throws Error "device" otherwise.
Device parse_device(std::string_view text);
// "cpu" or "cuda:N".
std::string to_string(const Device& device);

struct CudaStatus {
  bool built = false;        // octet was compiled with the CUDA backend
  bool gpu_visible = false;  // the CUDA runtime found at least one device
  int device_count = 0;
  std::string driver;                // driver's CUDA version, "12.4"; empty when unknown or none
  std::vector<std::string> devices;  // "NVIDIA H100 80GB HBM3 (sm_90, 79.1 GiB)"
  std::string detail;                // why no GPU is usable (the CUDA error text), or the runtime version
};

// Asks the CUDA runtime each call. A machine without a GPU or driver is a
// normal answer (gpu_visible=false, reason in detail), never an exception.
CudaStatus cuda_status();

// CUDA-only entry point: makes CUDA device `index` current on this thread.
// Throws Error "cuda" when octet was built without CUDA, no GPU is visible,
// or index is out of range.
void cuda_set_device(int index);

// Throws Error "cuda" unless `device` can be used now (the CPU always can).
void require_device(const Device& device);

// The CPU kernel variant octet runs, from cpu_features(): "avx512" (F, BW, VL
// and VNNI, which the _avx512.cc files are compiled for), "avx2" (AVX2, FMA
// and F16C) or "scalar".
std::string_view cpu_kernel_variant();

struct BlasStatus {
  std::string library;  // "OpenBLAS"
  std::string config;   // build configuration, "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Zen MAX_THREADS=64"
  std::string core;     // kernel set chosen for this CPU, "Zen"
  int threads = 0;      // OpenBLAS's own thread count
};

// The fp32 BLAS octet is linked against.
BlasStatus blas_status();

}  // namespace octet
