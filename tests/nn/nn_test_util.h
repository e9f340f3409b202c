// Helpers shared by the nn tests.
#pragma once

#include <cstdint>

#include "octet/tensor.h"

namespace octet::nn::testing {

// [B, S, H * D] -> [B, H, S, D] by index loops (independent of nn's own head split).
inline Tensor heads_first(const Tensor& x, int64_t heads, int64_t d) {
  const int64_t batch = x.dim(0), seq = x.dim(1);
  Tensor out = Tensor::empty({batch, heads, seq, d}, DType::F32);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t s = 0; s < seq; ++s)
      for (int64_t h = 0; h < heads; ++h)
        for (int64_t t = 0; t < d; ++t)
          out.data<float>()[((b * heads + h) * seq + s) * d + t] =
              x.data<float>()[(b * seq + s) * heads * d + h * d + t];
  return out;
}

}  // namespace octet::nn::testing
