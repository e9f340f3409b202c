// Sentence embeddings (pooling of last_hidden_state) and probabilities.
#include <cmath>

#include "octet/error.h"
#include "octet/eval.h"
#include "octet/kernels.h"

namespace octet {

Pooling parse_pooling(std::string_view name) {
  if (name == "mean") return Pooling::Mean;
  if (name == "cls") return Pooling::Cls;
  fail("eval", "unknown pooling '{}' (mean, cls)", name);
}

Tensor pool_embeddings(const Tensor& hidden, const Tensor& attention_mask, Pooling pooling) {
  check(hidden.defined() && hidden.rank() == 3 && hidden.dtype() == DType::F32, "eval",
        "last_hidden_state must be f32 [batch, seq, hidden], got {}", hidden.defined() ? hidden.describe() : "nothing");
  const int64_t batch = hidden.dim(0), seq = hidden.dim(1), width = hidden.dim(2);
  if (attention_mask.defined())
    check(attention_mask.dtype() == DType::I64 && attention_mask.shape() == Shape{batch, seq}, "eval",
          "attention_mask must be i64 [{}, {}], got {}", batch, seq, attention_mask);
  const Tensor h = hidden.contiguous();
  const Tensor mask = attention_mask.defined() ? attention_mask.contiguous() : Tensor();
  Tensor out = Tensor::zeros({batch, width}, DType::F32);
  float* dst = out.data<float>();
  const float* src = h.data<float>();
  for (int64_t b = 0; b < batch; ++b) {
    float* y = dst + b * width;
    if (pooling == Pooling::Cls) {
      std::copy(src + b * seq * width, src + b * seq * width + width, y);
      continue;
    }
    // Accumulated in double: the mean of up to thousands of rows stays exact to f32 rounding.
    std::vector<double> sum(size_t(width), 0.0);
    int64_t count = 0;
    for (int64_t s = 0; s < seq; ++s) {
      if (mask.defined() && mask.data<int64_t>()[b * seq + s] == 0) continue;
      const float* x = src + (b * seq + s) * width;
      for (int64_t c = 0; c < width; ++c) sum[size_t(c)] += x[c];
      ++count;
    }
    if (count > 0)
      for (int64_t c = 0; c < width; ++c) y[c] = float(sum[size_t(c)] / double(count));
  }
  return out;
}

Tensor softmax_rows(const Tensor& logits) {
  check(logits.defined() && logits.rank() == 2 && logits.dtype() == DType::F32, "eval",
        "logits must be f32 [batch, classes], got {}", logits.defined() ? logits.describe() : "nothing");
  return kernels::softmax(logits.contiguous());
}

}  // namespace octet
