// Activation quantization f32 -> int8: the scalar reference row kernels, the
// argument checks and the dispatch to the AVX2 variant.
#include <cmath>
#include <cstdint>

#include "core/error_tags.h"
#include "kernels/gemm_int8_internal.h"
#include "octet/error.h"

namespace octet {
namespace int8_detail {

void quantize_row_scalar(const float* x, int64_t n, float scale, float zero_point, float qmin, float qmax, int8_t* q) {
  for (int64_t i = 0; i < n; ++i) q[i] = quantize_one(x[i], scale, zero_point, qmin, qmax);
}

float absmax_scalar(const float* x, int64_t n) {
  float m = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    const float a = std::fabs(x[i]);
    m = a > m ? a : m;  // NaN compares false: ignored
  }
  return m;
}

}  // namespace int8_detail

namespace {

using QuantizeRowFn = void (*)(const float*, int64_t, float, float, float, float, int8_t*);

QuantizeRowFn quantize_row_fn(Int8Isa isa) {
  check(int8_isa_available(isa), kQuantizeInt8Tag, "variant {} is not available on this CPU", int8_isa_name(isa));
  switch (isa) {
    case Int8Isa::Avx512Vnni: return int8_detail::quantize_row_avx512;
    case Int8Isa::Avx2: return int8_detail::quantize_row_avx2;
    case Int8Isa::Scalar: break;
  }
  return int8_detail::quantize_row_scalar;
}

void check_shape(const float* x, int64_t rows, int64_t cols, int64_t ldx, const int8_t* q, int64_t ldq) {
  check(rows >= 0 && cols >= 0, kQuantizeInt8Tag, "shape [{}, {}] is negative", rows, cols);
  check(ldx >= cols && ldq >= cols, kQuantizeInt8Tag, "leading dimensions ldx = {}, ldq = {} smaller than cols = {}",
        ldx, ldq, cols);
  check(rows == 0 || cols == 0 || (x != nullptr && q != nullptr), kQuantizeInt8Tag, "null input or output pointer");
}

}  // namespace

void quantize_int8_per_tensor(const float* x, int64_t rows, int64_t cols, int64_t ldx, float scale,
                              int32_t zero_point, int8_t* q, int64_t ldq) {
  quantize_int8_per_tensor(x, rows, cols, ldx, scale, zero_point, q, ldq, int8_default_isa());
}

void quantize_int8_per_tensor(const float* x, int64_t rows, int64_t cols, int64_t ldx, float scale,
                              int32_t zero_point, int8_t* q, int64_t ldq, Int8Isa isa) {
  quantize_int8_per_tensor_clamped(x, rows, cols, ldx, scale, zero_point, -128, q, ldq, isa);
}

void quantize_int8_per_tensor_clamped(const float* x, int64_t rows, int64_t cols, int64_t ldx, float scale,
                                      int32_t zero_point, int32_t qmin, int8_t* q, int64_t ldq, Int8Isa isa) {
  check_shape(x, rows, cols, ldx, q, ldq);
  check(std::isfinite(scale) && scale > 0.0f, kQuantizeInt8Tag, "scale {} must be positive and finite", scale);
  check(zero_point >= -128 && zero_point <= 127, kQuantizeInt8Tag, "zero point {} outside [-128, 127]", zero_point);
  check(qmin >= -128 && qmin <= 127, kQuantizeInt8Tag, "lower clamp {} outside [-128, 127]", qmin);
  const QuantizeRowFn row_fn = quantize_row_fn(isa);
  const float zp = static_cast<float>(zero_point), lo = static_cast<float>(qmin);
  for (int64_t r = 0; r < rows; ++r) row_fn(x + r * ldx, cols, scale, zp, lo, 127.0f, q + r * ldq);
}

void quantize_int8_per_token(const float* x, int64_t rows, int64_t cols, int64_t ldx, int8_t* q, int64_t ldq,
                             float* scales) {
  quantize_int8_per_token(x, rows, cols, ldx, q, ldq, scales, int8_default_isa());
}

void quantize_int8_per_token(const float* x, int64_t rows, int64_t cols, int64_t ldx, int8_t* q, int64_t ldq,
                             float* scales, Int8Isa isa) {
  check_shape(x, rows, cols, ldx, q, ldq);
  check(rows == 0 || scales != nullptr, kQuantizeInt8Tag, "null scales pointer");
  const QuantizeRowFn row_fn = quantize_row_fn(isa);  // checks that the CPU runs `isa`
  // absmax: the AVX-512 machine runs the AVX2 code.
  const auto absmax_fn = isa == Int8Isa::Scalar ? int8_detail::absmax_scalar : int8_detail::absmax_avx2;
  for (int64_t r = 0; r < rows; ++r) {
    const float absmax = absmax_fn(x + r * ldx, cols);
    const float scale = absmax > 0.0f ? absmax / 127.0f : 1.0f;
    scales[r] = scale;
    row_fn(x + r * ldx, cols, scale, 0.0f, -127.0f, 127.0f, q + r * ldq);
  }
}

}  // namespace octet
