// FP8 e4m3 GEMM: packing, the e4m3 -> bf16 conversion and the scalar
// reference kernel (kernels/fp8_gemm.h has the definition and the layout).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error_tags.h"
#include "kernels/fp8_gemm.h"
#include "octet/error.h"
#include "octet/number_formats.h"
#include "octet/thread_pool.h"

namespace octet::kernels {

uint16_t fp8_e4m3_to_bf16(uint8_t code) {
  const float f = fp8_e4m3_to_float(code);
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return static_cast<uint16_t>(u >> 16);  // 3 mantissa bits: the low half is zero (NaN keeps a NaN pattern)
}

PackedFp8Weights pack_fp8_weights(const uint8_t* codes, int64_t n, int64_t k) {
  check(n > 0 && k > 0 && codes, kFp8GemmTag, "weights must be non-empty, got [{}, {}]", n, k);
  PackedFp8Weights w;
  w.n = n;
  w.k = k;
  const int64_t pairs = w.k_pairs();
  w.codes = Tensor::zeros({w.panels() * pairs * 2 * kFp8Panel}, DType::U8);
  uint8_t* out = w.codes.data<uint8_t>();
  uint8_t nan = 0;  // one branch-free pass (a byte, so that it vectorises), not a check per code
  for (int64_t i = 0; i < n * k; ++i) nan |= uint8_t((codes[i] & 0x7F) == 0x7F);
  check(!nan, kFp8GemmTag, "weights [{}, {}] hold an e4m3 NaN", n, k);
  parallel_for(w.panels(), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p)
      for (int64_t r = 0; r < kFp8Panel && p * kFp8Panel + r < n; ++r) {
        const uint8_t* row = codes + (p * kFp8Panel + r) * k;
        uint8_t* panel = out + p * pairs * 2 * kFp8Panel;
        for (int64_t j = 0; j < k; ++j) panel[(j / 2) * 2 * kFp8Panel + fp8_packed_position(2 * r + j % 2)] = row[j];
      }
  });
  return w;
}

void fp8_gemm_ref(const PackedFp8Weights& w, const uint16_t* a, int64_t lda, int64_t m, const float* out_scale,
                  const float* bias, float* y, int64_t ldy, int64_t panel_begin, int64_t panel_end) {
  const uint8_t* codes = w.codes.data<uint8_t>();
  const int64_t pairs = w.k_pairs();
  const int64_t n_end = std::min(w.n, panel_end * kFp8Panel);
  for (int64_t n = panel_begin * kFp8Panel; n < n_end; ++n) {
    const uint8_t* panel = codes + (n / kFp8Panel) * pairs * 2 * kFp8Panel;
    const int64_t even = fp8_packed_position(2 * (n % kFp8Panel)), odd = fp8_packed_position(2 * (n % kFp8Panel) + 1);
    for (int64_t i = 0; i < m; ++i) {
      const uint16_t* row = a + i * lda;
      float acc = 0.0f;
      for (int64_t p = 0; p < pairs; ++p) {
        const uint8_t* pair = panel + p * 2 * kFp8Panel;
        acc = std::fma(fp8_e4m3_to_float(pair[odd]), bf16_to_float(row[2 * p + 1]), acc);
        acc = std::fma(fp8_e4m3_to_float(pair[even]), bf16_to_float(row[2 * p]), acc);
      }
      y[i * ldy + n] = bias ? std::fma(acc, out_scale[n], bias[n]) : acc * out_scale[n];
    }
  }
}

}  // namespace octet::kernels
