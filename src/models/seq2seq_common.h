// Shared blocks of the encoder-decoder families (t5.cc, bart.cc): attention
// with separate q/k/v/o Linears for self- and cross-attention over an
// explicit key/value buffer, and the parameter bookkeeping.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "octet/model.h"
#include "octet/nn.h"
#include "octet/seq2seq.h"

namespace octet::seq2seq {

// Reads checkpoint tensors and remembers every one for parameters().
class ParamReader {
 public:
  explicit ParamReader(const WeightSource& weights) : weights_(weights) {}
  Tensor require(const std::string& name, const Shape& shape);
  Tensor optional(const std::string& name, const Shape& shape);
  // The first of `names` the checkpoint holds (tied embeddings saved under one of several names).
  Tensor require_any(const std::vector<std::string>& names, const Shape& shape);
  nn::Linear linear(const std::string& name, int64_t out, int64_t in, bool bias);
  std::vector<std::pair<std::string, Tensor>> take() { return std::move(params_); }

 private:
  const WeightSource& weights_;
  std::vector<std::pair<std::string, Tensor>> params_;
};

// A config value the family cannot do without: Error("config") naming the
// field and the file when absent.
int64_t require_int(const JsonConfig& config, const char* key, const char* why);

// Multi-head attention with separate projections; q [heads * head_dim, d],
// k, v likewise, o [d, heads * head_dim].
struct Attention {
  nn::Linear q, k, v, o;
  int64_t heads = 0, head_dim = 0;
  float scale = 1.0f;  // multiplies q . k (T5: 1, BART: head_dim^-0.5)

  // proj(x) for x [batch, n, d] written into buf [batch, heads, cap, head_dim] at rows [offset, offset + n).
  void project_into(const nn::Linear& proj, const Tensor& x, Tensor& buf, int64_t offset) const;
  // A fresh [batch, heads, n, head_dim] buffer holding proj(x).
  Tensor project(const nn::Linear& proj, const Tensor& x) const;
  // Attention of x's queries (absolute decoder positions q_offset + i) over
  // keys [0, kv_len) of k, v [batch, heads, cap, head_dim], then o. bias:
  // additive f32 [heads, n, kv_len] or undefined; key_mask: i64 [batch,
  // kv_len] (0 = not attended) or undefined; causal: key j is seen by query i
  // when j <= q_offset + i. Returns [batch, n, d].
  Tensor attend(const Tensor& x, const Tensor& k, const Tensor& v, int64_t kv_len, const Tensor& bias,
                const Tensor& key_mask, bool causal, int64_t q_offset) const;
  void visit_linears(const std::function<void(nn::Linear&)>& fn) {
    fn(q);
    fn(k);
    fn(v);
    fn(o);
  }
};

// The attention_mask of the inputs, or all ones [batch, seq] (i64, contiguous).
Tensor mask_or_ones(const Tensor& mask, const Tensor& input_ids);
// Checks ids [batch, n] i64 and returns them contiguous.
Tensor check_ids(const Tensor& ids, const char* what);

}  // namespace octet::seq2seq
