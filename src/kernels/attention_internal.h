// Attention after argument checks: the shared description the fast path
// (kernels/attention.cc) and the naive reference (kernels/ref) both run.
#pragma once

#include <cstdint>
#include <vector>

#include "octet/kernels_attention.h"

namespace octet::kernels {

struct RowKernels;

// Where the rows of one (batch, head) of q, k, v or out lie: element (b, h, i, t) at
// b * batch + h * head + i * row + t (in floats). Contiguous [B, H, S, d] is
// {H * S * d, S * d, d}; a head view of a fused projection's [B, S, cols] output
// (no copy) is {S * cols, d, cols}.
struct HeadLayout {
  int64_t batch = 0, head = 0, row = 0;
  int64_t at(int64_t b, int64_t h) const { return b * batch + h * head; }
};

struct AttentionProblem {
  int64_t batch = 0, heads = 0, kv_heads = 0, seq_q = 0, seq_k = 0, head_dim = 0;
  float scale = 1.0f;
  bool causal = false;
  const float* q = nullptr;  // [batch, heads, seq_q, head_dim] laid out as q_at says
  const float* k = nullptr;  // [batch, kv_heads, seq_k, head_dim]
  const float* v = nullptr;
  float* out = nullptr;            // [batch, heads, seq_q, head_dim]
  HeadLayout q_at, k_at, v_at, out_at;  // prepare_attention sets them; by hand: use_contiguous_layouts()

  // q, k, v and out as contiguous [batch, heads, seq, head_dim] (after the sizes are set).
  void use_contiguous_layouts() {
    q_at = out_at = {heads * seq_q * head_dim, seq_q * head_dim, head_dim};
    k_at = v_at = {kv_heads * seq_k * head_dim, seq_k * head_dim, head_dim};
  }
  float* probabilities = nullptr;  // [batch, heads, seq_q, seq_k] or null
  std::vector<uint8_t> key_keep;   // [batch, seq_k], 1 = attend; empty = no mask
  const float* bias = nullptr;     // bias[b * bias_stride_b + h * bias_stride_h + i * seq_k + j]
  int64_t bias_stride_b = 0, bias_stride_h = 0;

  // Keys j < visible_keys(i) pass the causal mask (all keys when not causal).
  int64_t visible_keys(int64_t i) const {
    if (!causal) return seq_k;
    const int64_t limit = i + (seq_k - seq_q) + 1;
    return limit < 0 ? 0 : (limit > seq_k ? seq_k : limit);
  }
};

// The masks and bias of one problem applied to a row of scaled scores, then
// the softmax, in place: keys past the causal limit and keys the key mask
// drops get -inf (probability exactly 0), then bias[b, h, i] is added.
class AttentionMasks {
 public:
  explicit AttentionMasks(const AttentionProblem& problem);
  // Row of query i of head h in batch b (seq_k scores).
  void softmax_row(int64_t b, int64_t h, int64_t i, float* row, const RowKernels& rows) const;

 private:
  const AttentionProblem& p_;
  // Keys the key mask drops, ascending: batch b's are masked_keys_[masked_begin_[b]
  // .. masked_begin_[b + 1]), so a row visits only those, not all seq_k flags.
  std::vector<int64_t> masked_keys_, masked_begin_;
};

// Checks shapes and dtypes, allocates `out` (and *params.probabilities) when undefined.
AttentionProblem prepare_attention(const Tensor& q, const Tensor& k, const Tensor& v, Tensor& out,
                                   const AttentionParams& params);

// The definition as loops in double, one query at a time (kernels/ref).
void reference_attention(const AttentionProblem& problem);

// prepare_attention + reference_attention, for tests.
void attention_reference(const Tensor& q, const Tensor& k, const Tensor& v, Tensor& out,
                         const AttentionParams& params = {});

}  // namespace octet::kernels
