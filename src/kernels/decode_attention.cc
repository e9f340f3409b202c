// Which decode-step attention variant runs (kernels/decode_attention.h).
#include "kernels/decode_attention.h"

#include "kernels/dispatch.h"
#include "octet/cpu_features.h"

namespace octet::kernels {

DecodeAttentionFn decode_attention_kernel(int64_t d) {
  const CpuFeatures& f = cpu_features();  // OCTET_ISA caps it
  if (d > 0 && d % 16 == 0 && d <= 256 && f.avx512f && avx512_rows_supported()) return &decode_attention_avx512;
  return nullptr;
}

}  // namespace octet::kernels
