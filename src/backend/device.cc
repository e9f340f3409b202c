#include "octet/device.h"

#include <cstdint>
#include <optional>

#include "core/parse_int.h"
#include "octet/cpu_features.h"
#include "octet/error.h"

namespace octet {

Device parse_device(std::string_view text) {
  if (text == "cpu") return {DeviceKind::CPU, 0};
  if (text == "cuda") return {DeviceKind::CUDA, 0};
  constexpr std::string_view kCudaPrefix = "cuda:";
  if (text.starts_with(kCudaPrefix)) {
    // Unsigned, so "cuda:-0" is no device either.
    const std::optional<uint32_t> index = parse_decimal<uint32_t>(text.substr(kCudaPrefix.size()));
    if (index && *index <= uint32_t{INT32_MAX}) return {DeviceKind::CUDA, static_cast<int>(*index)};
  }
  fail("device", "unknown device '{}': expected cpu, cuda or cuda:N", text);
}

std::string to_string(const Device& device) {
  return device.kind == DeviceKind::CPU ? std::string("cpu") : fmt::format("cuda:{}", device.index);
}

void require_device(const Device& device) {
  if (device.kind == DeviceKind::CPU) return;
  check(device.index >= 0, "cuda", "CUDA device index {} is negative", device.index);
  const CudaStatus status = cuda_status();
  check(status.built, "cuda", "{}", status.detail);  // the stub's "built without CUDA" message
  check(status.gpu_visible, "cuda", "{} requested but no CUDA GPU is visible: {}", to_string(device), status.detail);
  check(device.index < status.device_count, "cuda", "{} requested but only {} CUDA device(s) are visible",
        to_string(device), status.device_count);
}

std::string_view cpu_kernel_variant() {
  const CpuFeatures& f = cpu_features();
  if (f.avx512f && f.avx512bw && f.avx512vl && f.avx512_vnni && f.fma && f.f16c) return "avx512";
  if (f.avx2 && f.fma && f.f16c) return "avx2";
  return "scalar";
}

}  // namespace octet
