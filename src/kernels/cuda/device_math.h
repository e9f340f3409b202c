// Scalar math shared by the CUDA kernels, written once for host and device:
// nvcc compiles it into the kernels, and host tests compile the same code
// with g++ to check it against octet's CPU quantization (so the rounding and
// saturation rules are verified even on machines without a GPU).
#pragma once

#include <cuda_fp8.h>

#include <cfloat>
#include <cmath>
#include <cstdint>

#ifdef __CUDACC__
#define OCTET_HD __host__ __device__ __forceinline__
#else
#define OCTET_HD inline
#endif

namespace octet::cuda::math {

inline constexpr float kInt8Levels = 127.0f;  // symmetric int8 grid [-127, 127]
inline constexpr float kE4M3Levels = 448.0f;  // largest finite e4m3

// octet's symmetric scale rule (octet/quant.h): amax / levels, 1 for an
// all-zero range, never below FLT_MIN. One IEEE division, as the CPU's
// double-then-float division gives the same float (double rounding is
// innocuous for division of floats).
OCTET_HD float scale_from_amax(float amax, float levels) {
  const float s = amax == 0.0f ? 1.0f : amax / levels;
  return s < FLT_MIN ? FLT_MIN : s;
}

// q = clamp(round_half_even(x * inv_scale), -127, 127); NaN -> 0 (the zero point).
OCTET_HD int8_t quantize_int8(float x, float inv_scale) {
  float v = x * inv_scale;
  if (v != v) v = 0.0f;
  v = rintf(v);  // the current rounding mode: nearest even on host and device
  v = fminf(fmaxf(v, -127.0f), 127.0f);
  return static_cast<int8_t>(static_cast<int>(v));
}

// e4m3(x * inv_scale), round to nearest even, finite overflow and Inf saturate
// to +-448. cuda_fp8.h uses the hardware cvt.rn.satfinite.e4m3x2 when
// compiled for __CUDA_ARCH__ >= 890 and an exact emulation below (sm_80),
// so this compiles for every architecture we build.
OCTET_HD uint8_t quantize_e4m3(float x, float inv_scale) {
  return static_cast<uint8_t>(__nv_cvt_float_to_fp8(x * inv_scale, __NV_SATFINITE, __NV_E4M3));
}

OCTET_HD float gelu_erf(float x) { return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)); }

OCTET_HD float gelu_tanh(float x) {
  const float k = 0.79788456080286536f;  // sqrt(2 / pi)
  return 0.5f * x * (1.0f + tanhf(k * (x + 0.044715f * x * x * x)));
}

}  // namespace octet::cuda::math
