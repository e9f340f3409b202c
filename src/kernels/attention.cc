// Attention as batched GEMMs: for each (batch, kv head) the `group` query heads
// sharing it are contiguous in q, so they stack into one [group * seq_q, d]
// matrix and GQA/MQA costs nothing extra. Per chunk of (batch, kv head) pairs:
//   scores = scale * Q K^T     (one strided batched GEMM)
//   masks -> -inf, + bias, softmax, rows in parallel
//   out = P V                  (one strided batched GEMM)
// Chunks keep the score scratch bounded for long sequences.
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/attention_internal.h"
#include "kernels/dispatch.h"
#include "kernels/op_checks.h"

namespace octet::kernels {
namespace {

// Score scratch per chunk (floats): 4 MiB, about what stays in cache.
constexpr int64_t kScoreScratchFloats = int64_t{1} << 20;

std::vector<uint8_t> key_keep_mask(const Tensor& mask, int64_t batch, int64_t seq_k) {
  check(mask.rank() == 2 && mask.dim(0) == batch && mask.dim(1) == seq_k, "attention",
        "key_mask is {}, expected [batch, seq_k] = [{}, {}]", mask.describe(), batch, seq_k);
  const Tensor m = mask.contiguous();
  std::vector<uint8_t> keep(static_cast<size_t>(m.numel()));
  for (size_t i = 0; i < keep.size(); ++i) {
    switch (m.dtype()) {
      case DType::I64: keep[i] = m.data<int64_t>()[i] != 0; break;
      case DType::I32: keep[i] = m.data<int32_t>()[i] != 0; break;
      case DType::U8: keep[i] = m.data<uint8_t>()[i] != 0; break;
      case DType::Bool: keep[i] = m.data<bool>()[i]; break;
      case DType::F32: keep[i] = m.data<float>()[i] != 0.0f; break;
      default: fail("attention", "key_mask must be i64, i32, u8, bool or f32, got {}", mask.describe());
    }
  }
  return keep;
}

}  // namespace

AttentionProblem prepare_attention(const Tensor& q, const Tensor& k, const Tensor& v, Tensor& out,
                                   const AttentionParams& params) {
  detail::require_f32("attention", "q", q);
  detail::require_f32("attention", "k", k);
  detail::require_f32("attention", "v", v);
  check(q.rank() == 4 && k.rank() == 4, "attention",
        "q and k must be [batch, heads, seq, head_dim], got q {} and k {}", q.describe(), k.describe());
  AttentionProblem p;
  p.batch = q.dim(0), p.heads = q.dim(1), p.seq_q = q.dim(2), p.head_dim = q.dim(3);
  p.kv_heads = k.dim(1), p.seq_k = k.dim(2);
  check(k.dim(0) == p.batch && k.dim(3) == p.head_dim, "attention", "k is {} but q is {}", k.describe(),
        q.describe());
  check(v.shape() == k.shape(), "attention", "v is {}, k is {}", v.describe(), k.describe());
  check(p.kv_heads > 0 && p.heads % p.kv_heads == 0, "attention", "kv heads ({}) must divide heads ({})", p.kv_heads,
        p.heads);
  detail::require_blas_dim("attention", "heads/kv_heads * seq_q", p.heads / p.kv_heads * p.seq_q);
  detail::require_blas_dim("attention", "seq_k", p.seq_k);
  detail::require_blas_dim("attention", "head_dim", p.head_dim);
  p.scale = params.scale.value_or(p.head_dim > 0 ? 1.0f / std::sqrt(static_cast<float>(p.head_dim)) : 1.0f);
  p.causal = params.causal;
  if (params.key_mask.defined()) p.key_keep = key_keep_mask(params.key_mask, p.batch, p.seq_k);
  if (params.bias.defined()) {
    const Tensor& b = params.bias;
    detail::require_f32("attention", "bias", b);
    const bool ok = b.rank() == 4 && (b.dim(0) == p.batch || b.dim(0) == 1) && (b.dim(1) == p.heads || b.dim(1) == 1) &&
                    b.dim(2) == p.seq_q && b.dim(3) == p.seq_k;
    check(ok, "attention", "bias is {}, expected [{} or 1, {} or 1, {}, {}]", b.describe(), p.batch, p.heads, p.seq_q,
          p.seq_k);
    p.bias = b.data<float>();
    p.bias_stride_h = b.dim(1) == 1 ? 0 : p.seq_q * p.seq_k;
    p.bias_stride_b = b.dim(0) == 1 ? 0 : b.dim(1) * p.seq_q * p.seq_k;
  }
  detail::prepare_output("attention", "out", out, {p.batch, p.heads, p.seq_q, p.head_dim});
  if (params.probabilities) {
    detail::prepare_output("attention", "probabilities", *params.probabilities,
                           {p.batch, p.heads, p.seq_q, p.seq_k});
    p.probabilities = params.probabilities->data<float>();
  }
  p.q = q.data<float>(), p.k = k.data<float>(), p.v = v.data<float>(), p.out = out.data<float>();
  return p;
}

void attention(const Tensor& q, const Tensor& k, const Tensor& v, Tensor& out, const AttentionParams& params) {
  const AttentionProblem p = prepare_attention(q, k, v, out, params);
  const int64_t group = p.heads / p.kv_heads;
  const int64_t rows_per_group = group * p.seq_q;  // query rows sharing one (batch, kv head)
  const int64_t groups = p.batch * p.kv_heads;
  const int64_t d = p.head_dim, sk = p.seq_k;
  if (groups == 0 || rows_per_group == 0) return;
  const int64_t group_scores = rows_per_group * sk;
  // With a probabilities output the scores live there; else in a bounded scratch.
  const int64_t chunk = p.probabilities ? groups
                                        : std::clamp<int64_t>(kScoreScratchFloats / std::max<int64_t>(1, group_scores),
                                                              1, groups);
  Tensor scratch;
  if (!p.probabilities) scratch = Tensor::empty({chunk * group_scores}, DType::F32);
  const GemmBackend& gemm = attention_gemm_backend();
  const RowKernels& rows = row_kernels();
  const float neg_inf = -std::numeric_limits<float>::infinity();
  // Keys the key mask drops, ascending, per batch (batch b's are
  // masked_keys[masked_begin[b] .. masked_begin[b + 1])): a row visits only
  // those instead of testing all seq_k flags.
  std::vector<int64_t> masked_keys, masked_begin(static_cast<size_t>(p.batch) + 1, 0);
  for (int64_t b = 0; b < p.batch && !p.key_keep.empty(); ++b) {
    for (int64_t j = 0; j < sk; ++j)
      if (!p.key_keep[b * sk + j]) masked_keys.push_back(j);
    masked_begin[b + 1] = static_cast<int64_t>(masked_keys.size());
  }

  for (int64_t g0 = 0; g0 < groups; g0 += chunk) {
    const int64_t ng = std::min(chunk, groups - g0);
    float* scores = p.probabilities ? p.probabilities + g0 * group_scores : scratch.data<float>();

    GemmProblem qk;
    qk.batch = ng, qk.m = rows_per_group, qk.n = sk, qk.k = d, qk.trans_b = true, qk.alpha = p.scale;
    qk.a = p.q + g0 * rows_per_group * d, qk.lda = d, qk.stride_a = rows_per_group * d;
    qk.b = p.k + g0 * sk * d, qk.ldb = d, qk.stride_b = sk * d;
    qk.c = scores, qk.ldc = sk, qk.stride_c = group_scores;
    gemm.run(qk);

    detail::parallel_rows(ng * rows_per_group, sk, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const int64_t g = g0 + r / rows_per_group;  // (batch, kv head) pair
        const int64_t b = g / p.kv_heads;
        const int64_t h = (g % p.kv_heads) * group + (r % rows_per_group) / p.seq_q;
        const int64_t i = r % p.seq_q;
        float* row = scores + r * sk;
        const int64_t visible = p.visible_keys(i);
        for (int64_t j = visible; j < sk; ++j) row[j] = neg_inf;
        for (int64_t t = masked_begin[b]; t < masked_begin[b + 1] && masked_keys[t] < visible; ++t)
          row[masked_keys[t]] = neg_inf;
        const float* bias = p.bias ? p.bias + b * p.bias_stride_b + h * p.bias_stride_h + i * sk : nullptr;
        // -inf stays -inf after the bias, so masked keys get exactly 0.
        rows.softmax(row, bias, 1.0f, row, sk);
      }
    });

    if (params.transform_probabilities) {
      Tensor block = Tensor::borrow(scores, {ng, rows_per_group, sk}, DType::F32);
      params.transform_probabilities(block);
    }

    GemmProblem pv;
    pv.batch = ng, pv.m = rows_per_group, pv.n = d, pv.k = sk;
    pv.a = scores, pv.lda = sk, pv.stride_a = group_scores;
    pv.b = p.v + g0 * sk * d, pv.ldb = d, pv.stride_b = sk * d;
    pv.c = p.out + g0 * rows_per_group * d, pv.ldc = d, pv.stride_c = rows_per_group * d;
    gemm.run(pv);
  }
}

Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionParams& params) {
  Tensor out;
  attention(q, k, v, out, params);
  return out;
}

void attention_reference(const Tensor& q, const Tensor& k, const Tensor& v, Tensor& out,
                         const AttentionParams& params) {
  reference_attention(prepare_attention(q, k, v, out, params));
}

}  // namespace octet::kernels
