// Device-side helpers shared by the CUDA kernels: typed loads and stores
// chosen at run time, warp and block reductions, and the row "finisher" that
// writes a row as float or quantizes it (static, per token, from an amax).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "kernels/cuda/device_math.h"
#include "kernels/cuda/launch.h"

namespace octet::cuda::detail {

__device__ __forceinline__ float load(const Operand& a, int64_t i) {
  switch (a.dtype) {
    case DType::F32: return static_cast<const float*>(a.data)[i];
    case DType::F16: return __half2float(static_cast<const __half*>(a.data)[i]);
    case DType::BF16: return __bfloat162float(static_cast<const __nv_bfloat16*>(a.data)[i]);
    case DType::I8: return static_cast<float>(static_cast<const int8_t*>(a.data)[i]);
    case DType::I32: return static_cast<float>(static_cast<const int32_t*>(a.data)[i]);
    case DType::F8_E4M3:  // every e4m3 value is exactly a half
      return __half2float(__half(__nv_cvt_fp8_to_halfraw(static_cast<const __nv_fp8_storage_t*>(a.data)[i], __NV_E4M3)));
    default: return 0.0f;
  }
}

// Float outputs: round to nearest even.
__device__ __forceinline__ void store_float(void* p, DType dtype, int64_t i, float v) {
  switch (dtype) {
    case DType::F32: static_cast<float*>(p)[i] = v; break;
    case DType::F16: static_cast<__half*>(p)[i] = __float2half_rn(v); break;
    case DType::BF16: static_cast<__nv_bfloat16*>(p)[i] = __float2bfloat16_rn(v); break;
    default: break;
  }
}

__device__ __forceinline__ float activate(int act, float v) {
  if (act == 1) return math::gelu_erf(v);
  if (act == 2) return math::gelu_tanh(v);
  return v;
}

__device__ __forceinline__ float warp_sum(float v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
  for (int offset = 16; offset > 0; offset >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

// Sum (or max) over the block; every thread gets the result. blockDim.x is a
// multiple of 32. The leading barrier lets the shared slots be reused.
template <bool kMax>
__device__ float block_reduce(float v) {
  __shared__ float partial[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = kMax ? warp_max(v) : warp_sum(v);
  __syncthreads();
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  if (warp == 0) {
    float w = lane < warps ? partial[lane] : (kMax ? -INFINITY : 0.0f);
    w = kMax ? warp_max(w) : warp_sum(w);
    if (lane == 0) partial[0] = w;
  }
  __syncthreads();
  return partial[0];
}

__device__ __forceinline__ float levels_of(DType dtype) {
  return dtype == DType::I8 ? math::kInt8Levels : math::kE4M3Levels;
}

// Writes row `row` (cols elements, value(c) each) as `out` says. value() is
// called once per element for float and static outputs, twice for per-token
// ones (amax pass, then store pass), so it must be pure. All threads of the
// block must call this (it may reduce).
template <typename ValueFn>
__device__ void finish_row(int64_t row, int64_t cols, const RowOut& out, ValueFn value) {
  const int64_t base = row * cols;
  if (out.mode == OutMode::Float) {
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) store_float(out.data, out.dtype, base + c, value(c));
    return;
  }
  float scale = 1.0f;
  if (out.mode == OutMode::Static) {
    scale = out.scale[0];
  } else if (out.mode == OutMode::FromAmax) {
    scale = math::scale_from_amax(*out.amax, levels_of(out.dtype));
    if (row == 0 && threadIdx.x == 0) out.scale[0] = scale;
  } else {
    float amax = 0.0f;  // fmaxf drops NaN
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) amax = fmaxf(amax, fabsf(value(c)));
    amax = block_reduce<true>(amax);
    scale = math::scale_from_amax(amax, levels_of(out.dtype));
    if (threadIdx.x == 0) out.scale[row] = scale;
  }
  const float inv_scale = 1.0f / scale;  // octet's CPU quantizer multiplies by 1/scale too
  if (out.dtype == DType::I8) {
    int8_t* q = static_cast<int8_t*>(out.data);
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) q[base + c] = math::quantize_int8(value(c), inv_scale);
  } else {
    uint8_t* q = static_cast<uint8_t*>(out.data);
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) q[base + c] = math::quantize_e4m3(value(c), inv_scale);
  }
}

// Threads for a block-per-row kernel: a multiple of 32, at most 256.
inline unsigned row_block_threads(int64_t cols) {
  const int64_t warps = (cols + 31) / 32;
  return static_cast<unsigned>(32 * (warps < 8 ? (warps < 1 ? 1 : warps) : 8));
}

}  // namespace octet::cuda::detail
