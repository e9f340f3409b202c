// Shared blocks of the encoder-decoder families; see seq2seq_common.h.
#include "models/seq2seq_common.h"

#include <algorithm>

#include "octet/error.h"
#include "octet/kernels_attention.h"

namespace octet {

namespace seq2seq {

Tensor ParamReader::require(const std::string& name, const Shape& shape) {
  Tensor t = weights_.require(name, shape);
  params_.emplace_back(name, t);
  return t;
}

Tensor ParamReader::optional(const std::string& name, const Shape& shape) {
  Tensor t = weights_.optional(name, shape);
  if (t.defined()) params_.emplace_back(name, t);
  return t;
}

Tensor ParamReader::require_any(const std::vector<std::string>& names, const Shape& shape) {
  for (const auto& n : names)
    if (weights_.contains(n)) return require(n, shape);
  return require(names.front(), shape);  // the error names the first
}

nn::Linear ParamReader::linear(const std::string& name, int64_t out, int64_t in, bool bias) {
  nn::Linear l(require(name + ".weight", {out, in}), bias ? require(name + ".bias", {out}) : Tensor());
  l.set_name(name);
  return l;
}

int64_t require_int(const JsonConfig& config, const char* key, const char* why) {
  check(config.has(key), "config", "{}: encoder-decoder config is missing '{}' ({})", config.source(), key, why);
  return config.get<int64_t>(key);
}

void Attention::project_into(const nn::Linear& proj, const Tensor& x, Tensor& buf, int64_t offset) const {
  const Tensor y = proj.forward(x).contiguous();  // [batch, n, heads * head_dim]
  const int64_t batch = x.dim(0), n = x.dim(1), cap = buf.dim(2);
  check(offset + n <= cap, "seq2seq", "{} tokens past a cache of {}", offset + n, cap);
  const float* src = y.data<float>();
  float* dst = buf.data<float>();
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t i = 0; i < n; ++i)
      for (int64_t h = 0; h < heads; ++h)
        std::copy_n(src + ((b * n + i) * heads + h) * head_dim, head_dim,
                    dst + ((b * heads + h) * cap + offset + i) * head_dim);
}

Tensor Attention::project(const nn::Linear& proj, const Tensor& x) const {
  Tensor buf = Tensor::empty({x.dim(0), heads, x.dim(1), head_dim}, DType::F32);
  project_into(proj, x, buf, 0);
  return buf;
}

Tensor Attention::attend(const Tensor& x, const Tensor& k, const Tensor& v, int64_t kv_len, const Tensor& bias,
                         const Tensor& key_mask, bool causal, int64_t q_offset) const {
  const int64_t batch = x.dim(0), n = x.dim(1), cap = k.dim(2);
  check(kv_len >= 1 && kv_len <= cap, "seq2seq", "{} keys asked of a cache of {}", kv_len, cap);
  // kernels::attention lines the last query up with the last key, which is what the decoder does: its n new
  // tokens follow the kv_len - n cached ones.
  check(!causal || q_offset == kv_len - n, "seq2seq", "causal queries at {} do not end at the last of {} keys",
        q_offset, kv_len);
  // q read in place as heads of the projection's output, keys [0, kv_len) of the cache as a view, and the
  // context written straight into the merged [batch, n, heads * head_dim] the output projection takes.
  const Tensor y = q.forward(x).contiguous();
  const Tensor qh = y.reshape({batch, n, heads, head_dim}).transpose(1, 2);
  kernels::AttentionParams params;
  params.scale = scale;
  params.causal = causal;
  params.key_mask = key_mask;
  if (bias.defined()) params.bias = bias.contiguous().reshape({1, heads, n, kv_len});
  Tensor ctx = Tensor::empty({batch, n, heads * head_dim}, DType::F32);
  Tensor out = ctx.reshape({batch, n, heads, head_dim}).transpose(1, 2);
  kernels::attention(qh, k.slice(2, 0, kv_len), v.slice(2, 0, kv_len), out, params);
  return o.forward(ctx);
}

Tensor mask_or_ones(const Tensor& mask, const Tensor& input_ids) {
  if (!mask.defined()) {
    Tensor ones = Tensor::empty(input_ids.shape(), DType::I64);
    std::fill_n(ones.data<int64_t>(), ones.numel(), int64_t{1});
    return ones;
  }
  check(mask.shape() == input_ids.shape(), "seq2seq", "attention_mask {} does not match input_ids {}",
        shape_str(mask.shape()), shape_str(input_ids.shape()));
  check(mask.dtype() == DType::I64, "seq2seq", "attention_mask must be i64, got {}", mask);
  return mask.contiguous();
}

Tensor check_ids(const Tensor& ids, const char* what) {
  check(ids.defined() && ids.rank() == 2 && ids.dtype() == DType::I64 && ids.dim(1) > 0, "seq2seq",
        "{} must be i64 [batch, seq] with seq > 0, got {}", what, ids.defined() ? ids.describe() : "none");
  return ids.contiguous();
}

}  // namespace seq2seq

NamedTensors Seq2SeqLM::forward(const ModelInputs& inputs) const {
  const Tensor ids = seq2seq::check_ids(inputs.input_ids, "input_ids");
  const Tensor mask = seq2seq::mask_or_ones(inputs.attention_mask, ids);
  Tensor dec = inputs.decoder_input_ids;
  if (!dec.defined()) {
    dec = Tensor::empty({ids.dim(0), 1}, DType::I64);
    std::fill_n(dec.data<int64_t>(), ids.dim(0), decoder_start_token_id_);
  }
  dec = seq2seq::check_ids(dec, "decoder_input_ids");
  check(dec.dim(0) == ids.dim(0), "seq2seq", "decoder_input_ids batch {} != input_ids batch {}", dec.dim(0), ids.dim(0));
  NamedTensors out;
  const Tensor encoded = encode(ids, mask);
  Seq2SeqCache cache = make_cache(encoded, mask, dec.dim(1));
  Tensor hidden;
  out["logits"] = decode(dec, cache, &hidden);
  out["last_hidden_state"] = hidden;
  out["encoder_last_hidden_state"] = encoded;
  return out;
}

}  // namespace octet
