// The decode-step attention of kernels/decode_attention.h as plain loops in double.
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/decode_attention.h"

namespace octet::kernels {

void decode_attention_ref(const DecodeAttentionGroup& g) {
  for (int64_t h = 0; h < g.heads; ++h) {
    const float* q = g.q + h * g.d;
    float* s = g.scores + h * g.total;
    std::vector<double> e(static_cast<size_t>(g.total), 0.0);
    double max = -std::numeric_limits<double>::infinity();
    std::vector<bool> masked(static_cast<size_t>(g.total));
    for (int64_t j = 0; j < g.total; ++j) {
      masked[size_t(j)] = j < g.first || j > g.last || (g.keep && !g.keep[j]);
      if (masked[size_t(j)]) continue;
      double dot = 0.0;
      for (int64_t c = 0; c < g.d; ++c) dot += double(q[c]) * double(g.k[j * g.ld + c]);
      e[size_t(j)] = double(g.scale) * dot;
      max = std::max(max, e[size_t(j)]);
    }
    double sum = 0.0;
    for (int64_t j = 0; j < g.total; ++j) {
      e[size_t(j)] = masked[size_t(j)] || std::isinf(max) ? 0.0 : std::exp(e[size_t(j)] - max);
      sum += e[size_t(j)];
    }
    for (int64_t j = 0; j < g.total; ++j) s[j] = sum > 0.0 ? float(e[size_t(j)] / sum) : 0.0f;
    for (int64_t c = 0; c < g.d; ++c) {
      double acc = 0.0;
      for (int64_t j = 0; j < g.total; ++j) acc += sum > 0.0 ? e[size_t(j)] / sum * double(g.v[j * g.ld + c]) : 0.0;
      g.out[h * g.d + c] = float(acc);
    }
  }
}

}  // namespace octet::kernels
