// Attention as batched GEMMs: for each (batch, kv head) the `group` query heads
// sharing it are contiguous in q, so they stack into one [group * seq_q, d]
// matrix and GQA/MQA costs nothing extra. Per chunk of (batch, kv head) pairs:
//   scores = scale * Q K^T     (one strided batched GEMM)
//   masks -> -inf, + bias, softmax, rows in parallel
//   out = P V                  (one strided batched GEMM)
// Chunks keep the score scratch bounded for long sequences. With many small
// pairs (BERT: 96 of [128 x 128] scores) and no transform hook, each pool
// thread instead runs the three steps per pair, the pair's scores staying in
// L2. Both GEMMs run on attention_gemm_backend(): octet-small
// (kernels/cpu/small_gemm*.cc) on AVX2 / AVX-512 CPUs.
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/attention_internal.h"
#include "kernels/dispatch.h"
#include "kernels/op_checks.h"
#include "octet/thread_pool.h"

namespace octet::kernels {
namespace {

// Score scratch per chunk (floats): 4 MiB, about what stays in cache.
constexpr int64_t kScoreScratchFloats = int64_t{1} << 20;
// Scores of one group (floats) up to which a thread runs a group's three steps
// back to back: 256 KiB, a quarter of a Zen 4/5 L2 (BERT-base: 64 KiB).
constexpr int64_t kGroupScoresInL2 = int64_t{1} << 16;

std::vector<uint8_t> key_keep_mask(const Tensor& mask, int64_t batch, int64_t seq_k) {
  check(mask.rank() == 2 && mask.dim(0) == batch && mask.dim(1) == seq_k, "attention",
        "key_mask is {}, expected [batch, seq_k] = [{}, {}]", mask, batch, seq_k);
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

// The steps of attention() over (batch, kv head) groups, with what they share:
// the GEMM backend and row kernels of the calling thread (so a ScopedKernels
// override also holds on pool threads) and the key-mask index lists.
class Plan {
 public:
  explicit Plan(const AttentionProblem& problem)
      : p(problem),
        group(p.heads / p.kv_heads),
        rows_per_group(group * p.seq_q),
        groups(p.batch * p.kv_heads),
        group_scores(rows_per_group * p.seq_k),
        gemm_(attention_gemm_backend()),
        rows_(row_kernels()),
        batched_(stacks_groups(problem)),
        masks_(problem) {}

  const AttentionProblem& p;
  const int64_t group;           // query heads per kv head
  const int64_t rows_per_group;  // query rows sharing one (batch, kv head)
  const int64_t groups;          // (batch, kv head) pairs
  const int64_t group_scores;    // score floats per group

  // Whether the GEMM backend may run inside a pool task (one item, serially):
  // octet's own kernels. OpenBLAS calls stay on the calling thread, which
  // keeps OpenBLAS's thread count in step with octet's pool.
  bool gemm_runs_on_pool_threads() const {
    return &gemm_ == &kSmallGemm || &gemm_ == &kSmallGemmAvx512 || &gemm_ == &kSmallGemmAvx2 || &gemm_ == &kRefGemm;
  }

  // scores[g - g0] = scale * Q_g K_g^T for groups [g0, g0 + ng): one batched GEMM, or one GEMM per
  // query head where the layout does not stack (head views of a fused projection).
  void scores_gemm(int64_t g0, int64_t ng, float* scores) const {
    GemmProblem qk;
    qk.n = p.seq_k, qk.k = p.head_dim, qk.trans_b = true, qk.alpha = p.scale;
    qk.lda = p.q_at.row, qk.ldb = p.k_at.row, qk.ldc = p.seq_k;
    if (batched_) {
      qk.batch = ng, qk.m = rows_per_group;
      qk.a = p.q + g0 * group * p.q_at.head, qk.stride_a = group * p.q_at.head;
      qk.b = p.k + g0 * p.k_at.head, qk.stride_b = p.k_at.head;
      qk.c = scores, qk.stride_c = group_scores;
      gemm_.run(qk);
      return;
    }
    qk.m = p.seq_q;
    for_each_head(g0, ng, [&](int64_t at, int64_t b, int64_t h, int64_t kvh) {
      qk.a = p.q + p.q_at.at(b, h), qk.b = p.k + p.k_at.at(b, kvh), qk.c = scores + at;
      gemm_.run(qk);
    });
  }

  // out_g = P_g V_g for groups [g0, g0 + ng), P_g = scores[g - g0]; split as scores_gemm.
  void values_gemm(int64_t g0, int64_t ng, const float* scores) const {
    GemmProblem pv;
    pv.n = p.head_dim, pv.k = p.seq_k;
    pv.lda = p.seq_k, pv.ldb = p.v_at.row, pv.ldc = p.out_at.row;
    if (batched_) {
      pv.batch = ng, pv.m = rows_per_group;
      pv.a = scores, pv.stride_a = group_scores;
      pv.b = p.v + g0 * p.v_at.head, pv.stride_b = p.v_at.head;
      pv.c = p.out + g0 * group * p.out_at.head, pv.stride_c = group * p.out_at.head;
      gemm_.run(pv);
      return;
    }
    pv.m = p.seq_q;
    for_each_head(g0, ng, [&](int64_t at, int64_t b, int64_t h, int64_t kvh) {
      pv.a = scores + at, pv.b = p.v + p.v_at.at(b, kvh), pv.c = p.out + p.out_at.at(b, h);
      gemm_.run(pv);
    });
  }

  // Masks (-inf), bias and softmax, in place, for score rows [begin, end)
  // counted from the first row of group g0.
  void softmax_rows(int64_t g0, float* scores, int64_t begin, int64_t end) const {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t g = g0 + r / rows_per_group;  // (batch, kv head) pair
      const int64_t h = (g % p.kv_heads) * group + (r % rows_per_group) / p.seq_q;
      masks_.softmax_row(g / p.kv_heads, h, r % p.seq_q, scores + r * p.seq_k, rows_);
    }
  }

 private:
  // fn(offset of the head's score rows in the groups' scores, batch, query head, kv head) for every
  // query head of groups [g0, g0 + ng).
  template <class Fn>
  void for_each_head(int64_t g0, int64_t ng, Fn&& fn) const {
    for (int64_t g = g0; g < g0 + ng; ++g)
      for (int64_t j = 0; j < group; ++j)
        fn((g - g0) * group_scores + j * p.seq_q * p.seq_k, g / p.kv_heads, (g % p.kv_heads) * group + j,
           g % p.kv_heads);
  }

  // Contiguous [B, H, S, d] (or any layout alike): the query heads of a group
  // stack into one matrix of rows_per_group rows at q's row stride, and
  // consecutive groups lie a fixed stride apart in q, k, v and out, so ng
  // groups are one batched GEMM.
  static bool stacks_groups(const AttentionProblem& p) {
    const int64_t group = p.heads / p.kv_heads;
    const auto stacks = [&](const HeadLayout& l) { return group == 1 || l.head == p.seq_q * l.row; };
    return stacks(p.q_at) && stacks(p.out_at) && p.q_at.batch == p.heads * p.q_at.head &&
           p.out_at.batch == p.heads * p.out_at.head && p.k_at.batch == p.kv_heads * p.k_at.head &&
           p.v_at.batch == p.kv_heads * p.v_at.head;
  }

  const GemmBackend& gemm_;
  const RowKernels& rows_;
  const bool batched_;
  const AttentionMasks masks_;
};

// q, k, v and out may be views (a transpose of [B, S, H, d], a slice of a fused
// projection's columns) as long as each row of head_dim floats is contiguous.
HeadLayout head_layout(std::string_view name, const Tensor& t) {
  check(t.defined(), "attention", "{} is undefined", name);
  check(t.dtype() == DType::F32, "attention", "{} must be f32, got {}", name, t);
  check(t.rank() == 4, "attention", "{} must be [batch, heads, seq, head_dim], got {}", name, t);
  const Shape& st = t.strides();
  check(t.dim(3) <= 1 || st[3] == 1, "attention", "{} {}: each row of head_dim values must be contiguous", name, t);
  return {st[0], st[1], st[2]};  // views (slice, transpose) never make a stride negative
}

}  // namespace

AttentionMasks::AttentionMasks(const AttentionProblem& problem)
    : p_(problem), masked_begin_(static_cast<size_t>(problem.batch) + 1, 0) {
  for (int64_t b = 0; b < p_.batch && !p_.key_keep.empty(); ++b) {
    for (int64_t j = 0; j < p_.seq_k; ++j)
      if (!p_.key_keep[b * p_.seq_k + j]) masked_keys_.push_back(j);
    masked_begin_[b + 1] = static_cast<int64_t>(masked_keys_.size());
  }
}

void AttentionMasks::softmax_row(int64_t b, int64_t h, int64_t i, float* row, const RowKernels& rows) const {
  const float neg_inf = -std::numeric_limits<float>::infinity();
  const int64_t sk = p_.seq_k;
  const int64_t visible = p_.visible_keys(i);
  for (int64_t j = visible; j < sk; ++j) row[j] = neg_inf;
  for (int64_t t = masked_begin_[b]; t < masked_begin_[b + 1] && masked_keys_[t] < visible; ++t)
    row[masked_keys_[t]] = neg_inf;
  const float* bias = p_.bias ? p_.bias + b * p_.bias_stride_b + h * p_.bias_stride_h + i * sk : nullptr;
  // -inf stays -inf after the bias, so masked keys get exactly 0.
  rows.softmax(row, bias, 1.0f, row, sk);
}

AttentionProblem prepare_attention(const Tensor& q, const Tensor& k, const Tensor& v, Tensor& out,
                                   const AttentionParams& params) {
  const HeadLayout q_at = head_layout("q", q), k_at = head_layout("k", k), v_at = head_layout("v", v);
  AttentionProblem p;
  p.batch = q.dim(0), p.heads = q.dim(1), p.seq_q = q.dim(2), p.head_dim = q.dim(3);
  p.kv_heads = k.dim(1), p.seq_k = k.dim(2);
  check(k.dim(0) == p.batch && k.dim(3) == p.head_dim, "attention", "k is {} but q is {}", k, q);
  check(v.shape() == k.shape(), "attention", "v is {}, k is {}", v, k);
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
    check(ok, "attention", "bias is {}, expected [{} or 1, {} or 1, {}, {}]", b, p.batch, p.heads, p.seq_q, p.seq_k);
    p.bias = b.data<float>();
    p.bias_stride_h = b.dim(1) == 1 ? 0 : p.seq_q * p.seq_k;
    p.bias_stride_b = b.dim(0) == 1 ? 0 : b.dim(1) * p.seq_q * p.seq_k;
  }
  const Shape out_shape{p.batch, p.heads, p.seq_q, p.head_dim};
  if (!out.defined()) out = Tensor::empty(out_shape, DType::F32);
  p.out_at = head_layout("out", out);
  check(out.shape() == out_shape, "attention", "out is {}, expected shape {}", out, shape_str(out_shape));
  p.q_at = q_at, p.k_at = k_at, p.v_at = v_at;
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
  const Plan plan(p);
  if (plan.groups == 0 || plan.rows_per_group == 0) return;

  // Many small groups and no hook that must see a chunk: each thread runs
  // Q K^T, softmax and P V for one group after another, so the group's
  // scores stay in its L2 between the three steps. Same numbers as below.
  if (plan.gemm_runs_on_pool_threads() && !params.transform_probabilities && plan.groups >= 2 * num_threads() &&
      plan.group_scores <= kGroupScoresInL2) {
    parallel_for(plan.groups, [&](int64_t begin, int64_t end) {
      std::vector<float> local(p.probabilities ? 0 : static_cast<size_t>(plan.group_scores));
      for (int64_t g = begin; g < end; ++g) {
        float* scores = p.probabilities ? p.probabilities + g * plan.group_scores : local.data();
        plan.scores_gemm(g, 1, scores);
        plan.softmax_rows(g, scores, 0, plan.rows_per_group);
        plan.values_gemm(g, 1, scores);
      }
    });
    return;
  }

  // With a probabilities output the scores live there; else in a bounded scratch.
  const int64_t per_chunk = kScoreScratchFloats / std::max<int64_t>(1, plan.group_scores);
  const int64_t chunk = p.probabilities ? plan.groups : std::clamp<int64_t>(per_chunk, 1, plan.groups);
  Tensor scratch;
  if (!p.probabilities) scratch = Tensor::empty({chunk * plan.group_scores}, DType::F32);
  for (int64_t g0 = 0; g0 < plan.groups; g0 += chunk) {
    const int64_t ng = std::min(chunk, plan.groups - g0);
    float* scores = p.probabilities ? p.probabilities + g0 * plan.group_scores : scratch.data<float>();
    plan.scores_gemm(g0, ng, scores);
    detail::parallel_rows(ng * plan.rows_per_group, p.seq_k,
                          [&](int64_t begin, int64_t end) { plan.softmax_rows(g0, scores, begin, end); });
    if (params.transform_probabilities) {
      Tensor block = Tensor::borrow(scores, {ng, plan.rows_per_group, p.seq_k}, DType::F32);
      params.transform_probabilities(block);
    }
    plan.values_gemm(g0, ng, scores);
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
