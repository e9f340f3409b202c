// Internal: the per-ISA kernels behind the bulk conversions in
// octet/number_formats.h. Tests and benchmarks call a variant directly to
// compare it with the scalar one; library code goes through the public API.
#pragma once

#include <cstddef>
#include <cstdint>

namespace octet::formats {

struct BulkKernels {
  const char* isa;
  void (*f32_to_f16)(const float* src, uint16_t* dst, size_t n);
  void (*f16_to_f32)(const uint16_t* src, float* dst, size_t n);
  void (*f32_to_bf16)(const float* src, uint16_t* dst, size_t n);
  void (*bf16_to_f32)(const uint16_t* src, float* dst, size_t n);
  void (*f32_to_e4m3)(const float* src, uint8_t* dst, size_t n);
  void (*e4m3_to_f32)(const uint8_t* src, float* dst, size_t n);
  void (*f32_to_e5m2)(const float* src, uint8_t* dst, size_t n);
  void (*f32_to_e5m2_saturate)(const float* src, uint8_t* dst, size_t n);
  void (*e5m2_to_f32)(const uint8_t* src, float* dst, size_t n);
};

// Loops over the scalar functions: the reference every variant must match bit for bit.
const BulkKernels& scalar_bulk_kernels();

// AVX2 + F16C kernels. Only call them when avx2_bulk_kernels_supported().
const BulkKernels& avx2_bulk_kernels();
bool avx2_bulk_kernels_supported();  // from cpu_features(), so OCTET_ISA=scalar turns it off

// The variant the public bulk functions use (chosen once).
const BulkKernels& active_bulk_kernels();

}  // namespace octet::formats
