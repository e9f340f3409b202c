// Bulk conversions: scalar loops, run-time variant choice, and the public
// span API (length checks live here, kernels assume valid sizes).
#include <span>

#include "formats/bulk_kernels.h"
#include "octet/cpu_features.h"
#include "octet/error.h"
#include "octet/number_formats.h"

namespace octet {
namespace formats {
namespace {

template <typename Src, typename Dst, Dst (*Convert)(Src)>
void scalar_loop(const Src* src, Dst* dst, size_t n) {
  for (size_t i = 0; i < n; ++i) dst[i] = Convert(src[i]);
}

constexpr BulkKernels kScalarKernels{
    "scalar",
    scalar_loop<float, uint16_t, float_to_f16>,
    scalar_loop<uint16_t, float, f16_to_float>,
    scalar_loop<float, uint16_t, float_to_bf16>,
    scalar_loop<uint16_t, float, bf16_to_float>,
    scalar_loop<float, uint8_t, float_to_fp8_e4m3>,
    scalar_loop<uint8_t, float, fp8_e4m3_to_float>,
    scalar_loop<float, uint8_t, float_to_fp8_e5m2>,
    scalar_loop<float, uint8_t, float_to_fp8_e5m2_saturate>,
    scalar_loop<uint8_t, float, fp8_e5m2_to_float>,
};

}  // namespace

const BulkKernels& scalar_bulk_kernels() { return kScalarKernels; }

bool avx2_bulk_kernels_supported() {
  const CpuFeatures& f = cpu_features();
  return f.avx2 && f.f16c;
}

const BulkKernels& active_bulk_kernels() {
  static const BulkKernels& kernels = avx2_bulk_kernels_supported() ? avx2_bulk_kernels() : scalar_bulk_kernels();
  return kernels;
}

}  // namespace formats

namespace {

template <typename Src, typename Dst>
void convert_checked(void (*kernel)(const Src*, Dst*, size_t), std::span<const Src> src, std::span<Dst> dst,
                     const char* what) {
  check(src.size() == dst.size(), "formats", "{}: source has {} elements but destination has {}", what, src.size(),
        dst.size());
  if (!src.empty()) kernel(src.data(), dst.data(), src.size());
}

const formats::BulkKernels& bulk_kernels() { return formats::active_bulk_kernels(); }

}  // namespace

const char* bulk_conversion_isa() { return bulk_kernels().isa; }

void convert_f32_to_f16(std::span<const float> src, std::span<uint16_t> dst) {
  convert_checked(bulk_kernels().f32_to_f16, src, dst, "convert_f32_to_f16");
}
void convert_f16_to_f32(std::span<const uint16_t> src, std::span<float> dst) {
  convert_checked(bulk_kernels().f16_to_f32, src, dst, "convert_f16_to_f32");
}
void convert_f32_to_bf16(std::span<const float> src, std::span<uint16_t> dst) {
  convert_checked(bulk_kernels().f32_to_bf16, src, dst, "convert_f32_to_bf16");
}
void convert_bf16_to_f32(std::span<const uint16_t> src, std::span<float> dst) {
  convert_checked(bulk_kernels().bf16_to_f32, src, dst, "convert_bf16_to_f32");
}
void convert_f32_to_fp8_e4m3(std::span<const float> src, std::span<uint8_t> dst) {
  convert_checked(bulk_kernels().f32_to_e4m3, src, dst, "convert_f32_to_fp8_e4m3");
}
void convert_fp8_e4m3_to_f32(std::span<const uint8_t> src, std::span<float> dst) {
  convert_checked(bulk_kernels().e4m3_to_f32, src, dst, "convert_fp8_e4m3_to_f32");
}
void convert_f32_to_fp8_e5m2(std::span<const float> src, std::span<uint8_t> dst) {
  convert_checked(bulk_kernels().f32_to_e5m2, src, dst, "convert_f32_to_fp8_e5m2");
}
void convert_f32_to_fp8_e5m2_saturate(std::span<const float> src, std::span<uint8_t> dst) {
  convert_checked(bulk_kernels().f32_to_e5m2_saturate, src, dst, "convert_f32_to_fp8_e5m2_saturate");
}
void convert_fp8_e5m2_to_f32(std::span<const uint8_t> src, std::span<float> dst) {
  convert_checked(bulk_kernels().e5m2_to_f32, src, dst, "convert_fp8_e5m2_to_f32");
}

}  // namespace octet
