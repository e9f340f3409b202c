// Int8 attention (kernels/attention_int8.h): per (batch, kv head) pair, on one
// pool thread, the keys are quantized and packed as the int8 GEMM's weights
// (n = seq_k, k = head_dim), the values transposed and packed likewise
// (n = head_dim, k = seq_k); then per query head of the pair: quantize q,
// scores = Q K^T (int8 GEMM, f32 epilogue), masks + softmax (f32), quantize
// the probabilities, out = P V (int8 GEMM) written where `out` says. A
// pair's scores stay in the thread's cache between the steps.
#include "kernels/attention_int8.h"

#include <algorithm>
#include <cmath>
#include <tuple>
#include <vector>

#include <fmt/format.h>

#include "core/error_tags.h"
#include "kernels/attention_internal.h"
#include "kernels/dispatch.h"
#include "octet/error.h"
#include "octet/thread_pool.h"

namespace octet::kernels {
namespace {
// P V sums seq_k products of |cp - zp| <= 255 and |cv| <= 127 in int32.
constexpr int64_t kMaxKeys = 65000;

std::string grid_problem(std::string_view name, const Int8Grid& g, bool symmetric) {
  if (!(std::isfinite(g.scale) && g.scale > 0.0f))
    return fmt::format("{} scale must be positive and finite, got {}", name, g.scale);
  if (g.zero_point < -128 || g.zero_point > 127 || g.qmin < -128 || g.qmin > 127)
    return fmt::format("{} zero point ({}) and qmin ({}) must lie in [-128, 127]", name, g.zero_point, g.qmin);
  if (symmetric && (g.zero_point != 0 || g.qmin < -127))
    return fmt::format("{} must be symmetric (zero point 0, codes in [-127, 127]), got zero point {} and qmin {}", name,
                       g.zero_point, g.qmin);
  return {};
}

// Buffers of one pool task, reused across its (batch, kv head) pairs.
struct PairScratch {
  std::vector<int8_t> key_codes, value_codes, query_codes, prob_codes;
  std::vector<float> key_scales, value_scales, scores;
};

}  // namespace

std::string int8_attention_unsupported(const Int8AttentionQuant& quant) {
  for (const auto& [name, grid, symmetric] :
       {std::tuple{"query", quant.query, false}, std::tuple{"key", quant.key, true},
        std::tuple{"value", quant.value, true}, std::tuple{"probabilities", quant.probabilities, false}}) {
    std::string problem = grid_problem(name, grid, symmetric);
    if (!problem.empty()) return problem;
  }
  return {};
}

void attention_int8(const Tensor& q, const Tensor& k, const Tensor& v, Tensor& out, const AttentionParams& params,
                    const Int8AttentionQuant& quant, Int8Isa isa) {
  const std::string unsupported = int8_attention_unsupported(quant);
  check(unsupported.empty(), kAttentionInt8Tag, "{}", unsupported);
  check(!params.probabilities && !params.transform_probabilities, kAttentionInt8Tag,
        "the probabilities exist only as int8 codes: no probabilities output or transform");
  check(int8_isa_available(isa), kAttentionInt8Tag, "this CPU cannot run the {} int8 kernels", int8_isa_name(isa));
  const AttentionProblem p = prepare_attention(q, k, v, out, params);
  check(p.seq_k <= kMaxKeys, kAttentionInt8Tag, "{} keys; at most {} fit the int32 sums", p.seq_k, kMaxKeys);
  const int64_t d = p.head_dim, sq = p.seq_q, sk = p.seq_k, group = p.heads / p.kv_heads;
  if (p.batch == 0 || p.heads == 0 || sq == 0 || d == 0) return;
  if (sk == 0) {  // no keys: every row's probabilities are empty, the output zeros
    for (int64_t b = 0; b < p.batch; ++b)
      for (int64_t h = 0; h < p.heads; ++h)
        for (int64_t i = 0; i < sq; ++i) std::fill_n(p.out + p.out_at.at(b, h) + i * p.out_at.row, d, 0.0f);
    return;
  }
  const AttentionMasks masks(p);
  const RowKernels& rows = row_kernels();  // the calling thread's (a ScopedKernels override holds on the pool)
  const Int8AttentionQuant& g = quant;
  const float score_scale = g.key.scale * p.scale;  // the keys' per-channel scale in the GEMM epilogue

  parallel_for(p.batch * p.kv_heads, [&](int64_t begin, int64_t end) {
    PairScratch s;
    s.key_codes.resize(size_t(sk * d));
    s.value_codes.resize(size_t(sk * d));
    s.query_codes.resize(size_t(sq * d));
    s.prob_codes.resize(size_t(sq * sk));
    s.scores.resize(size_t(sq * sk));
    s.key_scales.assign(size_t(sk), score_scale);
    s.value_scales.assign(size_t(d), g.value.scale);
    for (int64_t pair = begin; pair < end; ++pair) {
      const int64_t b = pair / p.kv_heads, kvh = pair % p.kv_heads;
      quantize_int8_per_tensor_clamped(p.k + p.k_at.at(b, kvh), sk, d, p.k_at.row, g.key.scale, 0, g.key.qmin,
                                       s.key_codes.data(), d, isa);
      quantize_int8_per_tensor_clamped(p.v + p.v_at.at(b, kvh), sk, d, p.v_at.row, g.value.scale, 0, g.value.qmin,
                                       s.value_codes.data(), d, isa);
      const PackedInt8Weights keys = pack_int8_weights(s.key_codes.data(), sk, d, s.key_scales.data(), isa);
      // P V's weights are V^T: [d, seq_k], packed from V's rows directly.
      const PackedInt8Weights values =
          pack_int8_weights_transposed(s.value_codes.data(), sk, d, d, s.value_scales.data(), isa);
      for (int64_t h = kvh * group; h < (kvh + 1) * group; ++h) {
        quantize_int8_per_tensor_clamped(p.q + p.q_at.at(b, h), sq, d, p.q_at.row, g.query.scale,
                                         g.query.zero_point, g.query.qmin, s.query_codes.data(), d, isa);
        Int8Epilogue scores_epilogue;
        scores_epilogue.a_scale = g.query.scale;
        gemm_int8(s.query_codes.data(), sq, d, g.query.zero_point, keys, scores_epilogue, s.scores.data(), sk);
        for (int64_t i = 0; i < sq; ++i) masks.softmax_row(b, h, i, s.scores.data() + i * sk, rows);
        const Int8Grid& pg = g.probabilities;
        quantize_int8_per_tensor_clamped(s.scores.data(), sq, sk, sk, pg.scale, pg.zero_point, pg.qmin,
                                         s.prob_codes.data(), sk, isa);
        Int8Epilogue out_epilogue;
        out_epilogue.a_scale = pg.scale;
        gemm_int8(s.prob_codes.data(), sq, sk, pg.zero_point, values, out_epilogue, p.out + p.out_at.at(b, h),
                  p.out_at.row);
      }
    }
  });
}

}  // namespace octet::kernels
