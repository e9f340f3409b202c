// Scalar reference of the BF16 GEMM (octet/gemm_bf16.h): the activations
// rounded to bf16 as the kernels round them, the packed weights read back
// through the documented layout, products summed in double, rounded once.
#include "kernels/cpu/gemm_bf16_internal.h"
#include "octet/gemm_bf16.h"
#include "octet/number_formats.h"

namespace octet {

void gemm_bf16_ref(const float* x, int64_t m, int64_t ldx, const PackedBf16Weights& w, const float* bias, float* y,
                   int64_t ldy) {
  kernels::bf16::check_gemm_args(x, m, ldx, w, y, ldy);
  constexpr int64_t kPanel = PackedBf16Weights::kPanelWidth;
  const int64_t n = w.n(), k = w.k(), panel_stride = w.k_padded() * kPanel;
  for (int64_t r = 0; r < m; ++r)
    for (int64_t j = 0; j < n; ++j) {
      const uint16_t* panel = w.data() + (j / kPanel) * panel_stride + (j % kPanel) * 2;
      double acc = bias ? bias[j] : 0.0;
      for (int64_t t = 0; t < k; ++t)
        acc += static_cast<double>(bf16_to_float(float_to_bf16(x[r * ldx + t]))) *
               bf16_to_float(panel[(t / 2) * 2 * kPanel + t % 2]);
      y[r * ldy + j] = static_cast<float>(acc);
    }
}

}  // namespace octet
