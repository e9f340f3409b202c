// Internal interface between the INT8 GEMM driver (gemm_int8.cc) and its
// per-ISA kernels (ref/gemm_int8_ref.cc, cpu/gemm_int8_avx2.cc,
// cpu/gemm_int8_avx512.cc) and the activation quantizers (cpu/quantize_act*.cc).
// Nothing here is inline SIMD code: each ISA's code stays in its own
// translation unit, compiled with its own flags.
#pragma once

#include <cmath>
#include <cstdint>

#include "octet/gemm_int8.h"

namespace octet::int8_detail {

enum class OutKind : uint8_t { S32, F32, S8 };

// One validated gemm_int8* call. Kernels compute
//   acc = sum_k A[m,k] * W[n,k] (+ an ISA-specific constant times row_sums[n], removed again),
// then subtract a_zero_point * row_sums[n] and apply the epilogue for `out`.
struct GemmCall {
  const int8_t* a = nullptr;
  int64_t m = 0;
  int64_t lda = 0;
  int32_t a_zero_point = 0;
  const PackedInt8Weights* w = nullptr;
  OutKind out = OutKind::S32;
  Int8Epilogue ep;
  Int8OutputQuant oq;
  void* c = nullptr;
  int64_t ldc = 0;
};

// Computes rows [m_begin, m_end) x column panels [p_begin, p_end) of `call`
// (panel p covers columns [p * panel_width, (p + 1) * panel_width)).
using BlockFn = void (*)(const GemmCall& call, int64_t m_begin, int64_t m_end, int64_t p_begin, int64_t p_end);

void gemm_block_scalar(const GemmCall& call, int64_t m_begin, int64_t m_end, int64_t p_begin, int64_t p_end);
void gemm_block_avx2(const GemmCall& call, int64_t m_begin, int64_t m_end, int64_t p_begin, int64_t p_end);
void gemm_block_avx512(const GemmCall& call, int64_t m_begin, int64_t m_end, int64_t p_begin, int64_t p_end);

// Columns per packed panel for each variant (the width of one SIMD register of int32).
constexpr int panel_width_for(Int8Isa isa) {
  return isa == Int8Isa::Avx2 ? 8 : isa == Int8Isa::Avx512Vnni ? 16 : 1;
}

// ---- scalar definitions (the reference semantics) ----------------------------
// `static`: an inline function emitted by an -mavx2 translation unit could
// otherwise be the copy the linker keeps for everyone.

// 1/sqrt(2) and sqrt(2/pi) rounded to float.
inline constexpr float kInvSqrt2 = 0.70710678118654752f;
inline constexpr float kSqrt2OverPi = 0.79788456080286536f;
inline constexpr float kGeluTanhCubic = 0.044715f;

static inline float gelu_erf_ref(float y) { return 0.5f * y * (1.0f + std::erf(y * kInvSqrt2)); }
static inline float gelu_tanh_ref(float y) {
  const float t = kSqrt2OverPi * (y + kGeluTanhCubic * y * y * y);
  return 0.5f * y * (1.0f + std::tanh(t));
}

// x -> int8 by the rule of the quantizers and requantization:
// clamp(round_half_even(x / scale) + zero_point, qmin, qmax), NaN -> zero_point.
// The order of operations is the definition the SIMD variants reproduce bit for bit.
static inline int8_t quantize_one(float x, float scale, float zero_point, float qmin, float qmax) {
  float v = x / scale;
  if (std::isnan(v)) v = 0.0f;
#if __has_builtin(__builtin_roundevenf)
  v = __builtin_roundevenf(v) + zero_point;
#else
  v = std::nearbyint(v) + zero_point;  // clang < 15 (the fuzz build): the same in the default rounding mode
#endif
  v = v > qmin ? v : qmin;  // same selection as vmaxps(v, qmin)
  v = v < qmax ? v : qmax;  // same selection as vminps(v, qmax)
  return static_cast<int8_t>(static_cast<int32_t>(v));
}

// ---- activation quantizer row kernels ---------------------------------------

void quantize_row_scalar(const float* x, int64_t n, float scale, float zero_point, float qmin, float qmax, int8_t* q);
void quantize_row_avx2(const float* x, int64_t n, float scale, float zero_point, float qmin, float qmax, int8_t* q);
void quantize_row_avx512(const float* x, int64_t n, float scale, float zero_point, float qmin, float qmax, int8_t* q);
// max |x| over the row, NaN ignored (the selection of vmaxps(|x|, acc)).
float absmax_scalar(const float* x, int64_t n);
float absmax_avx2(const float* x, int64_t n);

}  // namespace octet::int8_detail
