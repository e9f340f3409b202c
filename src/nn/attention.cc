// Self-attention block: project, split heads, attend, merge heads, project.
#include <cstring>

#include "octet/error.h"
#include "octet/nn.h"
#include "octet/thread_pool.h"

namespace octet::nn {
namespace {

// Copies heads [first_col, first_col + heads * d) of x [B, S, cols] into [B, heads, S, d].
Tensor split_heads(const Tensor& x, int64_t first_col, int64_t heads, int64_t d) {
  const int64_t batch = x.dim(0), seq = x.dim(1), cols = x.dim(2);
  Tensor out = Tensor::empty({batch, heads, seq, d}, DType::F32);
  const float* src = x.data<float>();
  float* dst = out.data<float>();
  parallel_for(
      batch * seq,
      [&](int64_t begin, int64_t end) {
        for (int64_t bs = begin; bs < end; ++bs) {
          const int64_t b = bs / seq, s = bs % seq;
          for (int64_t h = 0; h < heads; ++h)
            std::memcpy(dst + ((b * heads + h) * seq + s) * d, src + bs * cols + first_col + h * d, sizeof(float) * d);
        }
      },
      64);
  return out;
}

// [B, H, S, d] -> [B, S, H * d].
Tensor merge_heads(const Tensor& x) {
  const int64_t batch = x.dim(0), heads = x.dim(1), seq = x.dim(2), d = x.dim(3);
  Tensor out = Tensor::empty({batch, seq, heads * d}, DType::F32);
  const float* src = x.data<float>();
  float* dst = out.data<float>();
  parallel_for(
      batch * seq,
      [&](int64_t begin, int64_t end) {
        for (int64_t bs = begin; bs < end; ++bs) {
          const int64_t b = bs / seq, s = bs % seq;
          for (int64_t h = 0; h < heads; ++h)
            std::memcpy(dst + bs * heads * d + h * d, src + ((b * heads + h) * seq + s) * d, sizeof(float) * d);
        }
      },
      64);
  return out;
}

void check_projection(const Linear& p, std::string_view name, int64_t out, int64_t in) {
  check(p.weight().defined(), "multi_head_attention", "{} projection has no weight", name);
  check(p.out_features() == out && p.in_features() == in, "multi_head_attention",
        "{} projection weight is [{}, {}], expected [{}, {}]", name, p.out_features(), p.in_features(), out, in);
}

}  // namespace

MultiHeadAttention::MultiHeadAttention(const AttentionConfig& config, Linear q, Linear k, Linear v, Linear out)
    : config_(config), q_(std::move(q)), k_(std::move(k)), v_(std::move(v)), out_(std::move(out)) {
  validate();
}

MultiHeadAttention::MultiHeadAttention(const AttentionConfig& config, Linear qkv, Linear out)
    : config_(config), qkv_(std::move(qkv)), out_(std::move(out)) {
  validate();
}

void MultiHeadAttention::validate() {
  AttentionConfig& c = config_;
  check(c.hidden_size > 0 && c.num_heads > 0, "multi_head_attention", "hidden_size ({}) and num_heads ({}) must be > 0",
        c.hidden_size, c.num_heads);
  if (c.num_kv_heads == 0) c.num_kv_heads = c.num_heads;
  if (c.head_dim == 0) {
    check(c.hidden_size % c.num_heads == 0, "multi_head_attention",
          "hidden_size {} is not a multiple of num_heads {}; set head_dim", c.hidden_size, c.num_heads);
    c.head_dim = c.hidden_size / c.num_heads;
  }
  check(c.num_kv_heads > 0 && c.num_heads % c.num_kv_heads == 0, "multi_head_attention",
        "num_kv_heads {} must divide num_heads {}", c.num_kv_heads, c.num_heads);
  const int64_t q_cols = c.num_heads * c.head_dim, kv_cols = c.num_kv_heads * c.head_dim;
  if (qkv_) {
    check_projection(*qkv_, "qkv", q_cols + 2 * kv_cols, c.hidden_size);
  } else {
    check_projection(*q_, "q", q_cols, c.hidden_size);
    check_projection(*k_, "k", kv_cols, c.hidden_size);
    check_projection(*v_, "v", kv_cols, c.hidden_size);
  }
  check_projection(out_, "out", c.hidden_size, q_cols);
}

Tensor MultiHeadAttention::forward(const Tensor& hidden, const AttentionInputs& inputs) const {
  const AttentionConfig& c = config_;
  check(hidden.defined() && hidden.rank() == 3 && hidden.dim(2) == c.hidden_size, "multi_head_attention",
        "hidden must be [batch, seq, {}], got {}", c.hidden_size, hidden.describe());
  const int64_t h = c.num_heads, kvh = c.num_kv_heads, d = c.head_dim;
  Tensor q, k, v;
  if (qkv_) {
    const Tensor qkv = qkv_->forward(hidden);
    q = split_heads(qkv, 0, h, d);
    k = split_heads(qkv, h * d, kvh, d);
    v = split_heads(qkv, (h + kvh) * d, kvh, d);
  } else {
    q = split_heads(q_->forward(hidden), 0, h, d);
    k = split_heads(k_->forward(hidden), 0, kvh, d);
    v = split_heads(v_->forward(hidden), 0, kvh, d);
  }
  if (qk_transform_) qk_transform_(q, k, inputs);
  if (query_site_.active()) q = query_site_.apply(q);
  if (key_site_.active()) k = key_site_.apply(k);
  if (value_site_.active()) v = value_site_.apply(v);

  kernels::AttentionParams params;
  params.scale = c.scale;
  params.causal = c.causal;
  params.key_mask = inputs.attention_mask;
  if (inputs.position_bias.defined())
    params.bias = inputs.position_bias;
  else if (position_bias_)
    params.bias = position_bias_(q.dim(2), k.dim(2));
  const Tensor context = kernels::attention(q, k, v, params);
  return out_.forward(merge_heads(context));
}

}  // namespace octet::nn

namespace octet::nn {

void MultiHeadAttention::set_name(const std::string& prefix) {
  query_site_.set_name(prefix + ":query");
  key_site_.set_name(prefix + ":key");
  value_site_.set_name(prefix + ":value");
}

void MultiHeadAttention::visit_linears(const std::function<void(Linear&)>& fn) {
  for (auto* p : {&qkv_, &q_, &k_, &v_})
    if (*p) fn(**p);
  fn(out_);
}

void MultiHeadAttention::visit_sites(const std::function<void(ActivationSite&)>& fn) {
  fn(query_site_);
  fn(key_site_);
  fn(value_site_);
}

}  // namespace octet::nn
