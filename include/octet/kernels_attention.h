// Scaled dot-product attention (f32, CPU), with the masks encoder and decoder
// models need: key padding, causal, additive position bias, GQA/MQA.
//
//   out[b, h] = softmax(scale * q[b, h] k[b, g]^T + bias[b, h] + masks) v[b, g],
//   g = h / (heads / kv_heads)
//
// Masked positions get probability exactly 0. A query row whose keys are all
// masked gives an output row of zeros (not NaN, not a uniform average).
#pragma once

#include <functional>
#include <optional>

#include "octet/tensor.h"

namespace octet::kernels {

struct AttentionParams {
  // Multiplies q k^T; default 1 / sqrt(head_dim).
  std::optional<float> scale;
  // Query i (of seq_q) sees key j only if j <= i + (seq_k - seq_q): the last
  // query lines up with the last key, as when new tokens follow a KV cache.
  bool causal = false;
  // [batch, seq_k] (i64, i32, u8, bool or f32): nonzero = attend; HF's attention_mask.
  Tensor key_mask;
  // Additive f32 [batch or 1, heads or 1, seq_q, seq_k], added after scaling
  // (relative-position schemes: ALiBi, DeBERTa, T5).
  Tensor bias;
  // When non-null, receives the probabilities [batch, heads, seq_q, seq_k].
  Tensor* probabilities = nullptr;
  // When set, called on each block of probabilities (a contiguous f32
  // [groups, heads per kv head * seq_q, seq_k] view, groups = (batch, kv head)
  // pairs in order) after the softmax and before they multiply v; it may
  // change them in place. Quantization observes / fake-quantizes the softmax
  // output here. Called from the calling thread, one block at a time.
  std::function<void(Tensor& probabilities)> transform_probabilities;
};

// q [batch, heads, seq_q, head_dim]; k, v [batch, kv_heads, seq_k, head_dim]
// with kv_heads dividing heads. out [batch, heads, seq_q, head_dim] (allocated
// if undefined). Any of them may be a strided view whose last dimension is
// contiguous: e.g. q = qkv.reshape({B, S, 3 * H, d}).slice(2, 0, H).transpose(1, 2)
// reads a fused projection's output in place, and out = ctx.reshape({B, S, H, d})
// .transpose(1, 2) writes the merged [B, S, H * d] context directly.
// Runs as batched GEMMs (one per batch and kv head, the heads sharing it
// stacked; per head for views that do not stack) with a fused mask + softmax
// in between.
void attention(const Tensor& q, const Tensor& k, const Tensor& v, Tensor& out, const AttentionParams& params = {});
Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionParams& params = {});

}  // namespace octet::kernels
