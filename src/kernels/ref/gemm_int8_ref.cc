// Scalar reference INT8 GEMM: plain loops, the definition every SIMD variant
// is tested against. Weights are packed with panel width 1, i.e. W row-major
// [N, K] (see PackedInt8Weights).
#include <algorithm>
#include <cstdint>

#include "kernels/gemm_int8_internal.h"

namespace octet::int8_detail {
namespace {

float activate(float y, Int8Activation act) {
  switch (act) {
    case Int8Activation::None: return y;
    case Int8Activation::Relu: return y > 0.0f ? y : 0.0f;
    case Int8Activation::GeluErf: return gelu_erf_ref(y);
    case Int8Activation::GeluTanh: return gelu_tanh_ref(y);
  }
  return y;
}

}  // namespace

void gemm_block_scalar(const GemmCall& call, int64_t m_begin, int64_t m_end, int64_t p_begin, int64_t p_end) {
  const PackedInt8Weights& w = *call.w;
  const int64_t k = w.k();
  const int64_t n_end = std::min(p_end, w.n());
  const int64_t zp = call.a_zero_point;
  const float* w_scales = w.scales().data();
  for (int64_t m = m_begin; m < m_end; ++m) {
    const int8_t* a_row = call.a + m * call.lda;
    const float a_scale = call.ep.a_row_scales ? call.ep.a_row_scales[m] : call.ep.a_scale;
    for (int64_t n = p_begin; n < n_end; ++n) {
      const int8_t* w_row = w.data() + n * w.k_padded();
      int64_t sum = 0;
      for (int64_t i = 0; i < k; ++i) sum += (static_cast<int64_t>(a_row[i]) - zp) * w_row[i];
      // The driver checked K * 127 * (128 + |zp|) < 2^31, so this is exact.
      const int32_t acc = static_cast<int32_t>(sum);
      if (call.out == OutKind::S32) {
        static_cast<int32_t*>(call.c)[m * call.ldc + n] = acc;
        continue;
      }
      float y = static_cast<float>(acc);
      y = y * a_scale;
      y = y * w_scales[n];
      if (call.ep.bias) y = y + call.ep.bias[n];
      y = activate(y, call.ep.activation);
      if (call.out == OutKind::F32) {
        static_cast<float*>(call.c)[m * call.ldc + n] = y;
      } else {
        static_cast<int8_t*>(call.c)[m * call.ldc + n] =
            quantize_one(y, call.oq.scale, static_cast<float>(call.oq.zero_point), static_cast<float>(call.oq.qmin), 127.0f);
      }
    }
  }
}

}  // namespace octet::int8_detail
