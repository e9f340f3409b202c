// Reference attention: for every (batch, head, query) the scores, softmax and
// weighted sum of values written out directly, in double.
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/attention_internal.h"

namespace octet::kernels {

void reference_attention(const AttentionProblem& p) {
  const int64_t group = p.heads / p.kv_heads;
  const int64_t d = p.head_dim;
  std::vector<double> score(static_cast<size_t>(p.seq_k));
  std::vector<bool> visible(static_cast<size_t>(p.seq_k));
  for (int64_t b = 0; b < p.batch; ++b) {
    for (int64_t h = 0; h < p.heads; ++h) {
      const int64_t g = h / group;
      const float* k = p.k + p.k_at.at(b, g);
      const float* v = p.v + p.v_at.at(b, g);
      for (int64_t i = 0; i < p.seq_q; ++i) {
        const float* q = p.q + p.q_at.at(b, h) + i * p.q_at.row;
        double max = -std::numeric_limits<double>::infinity();
        for (int64_t j = 0; j < p.seq_k; ++j) {
          visible[j] = j < p.visible_keys(i) && (p.key_keep.empty() || p.key_keep[b * p.seq_k + j] != 0);
          if (!visible[j]) continue;
          double dot = 0.0;
          for (int64_t t = 0; t < d; ++t) dot += static_cast<double>(q[t]) * k[j * p.k_at.row + t];
          score[j] = p.scale * dot;
          if (p.bias) score[j] += p.bias[b * p.bias_stride_b + h * p.bias_stride_h + i * p.seq_k + j];
          max = std::max(max, score[j]);
        }
        double sum = 0.0;
        for (int64_t j = 0; j < p.seq_k; ++j) {
          // max == -inf: the bias masked every visible key too; the row stays zero.
          score[j] = visible[j] && std::isfinite(max) ? std::exp(score[j] - max) : 0.0;
          sum += score[j];
        }
        float* out = p.out + p.out_at.at(b, h) + i * p.out_at.row;
        float* prob = p.probabilities ? p.probabilities + ((b * p.heads + h) * p.seq_q + i) * p.seq_k : nullptr;
        for (int64_t j = 0; j < p.seq_k; ++j) {
          if (sum > 0.0) score[j] /= sum;  // sum == 0: every key masked, the row stays zero
          if (prob) prob[j] = static_cast<float>(score[j]);
        }
        for (int64_t t = 0; t < d; ++t) {
          double acc = 0.0;
          for (int64_t j = 0; j < p.seq_k; ++j)
            if (visible[j]) acc += score[j] * v[j * p.v_at.row + t];
          out[t] = static_cast<float>(acc);
        }
      }
    }
  }
}

}  // namespace octet::kernels
