// Shared blocks of the encoder-decoder families; see seq2seq_common.h.
#include "models/seq2seq_common.h"

#include <algorithm>
#include <cmath>

#include "octet/error.h"

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
  const Tensor qh = project(q, x);
  Tensor ctx = Tensor::empty({batch, n, heads * head_dim}, DType::F32);
  const float* pq = qh.data<float>();
  const float* pk = k.data<float>();
  const float* pv = v.data<float>();
  const float* pb = bias.defined() ? bias.data<float>() : nullptr;
  const int64_t* pm = key_mask.defined() ? key_mask.data<int64_t>() : nullptr;
  float* pc = ctx.data<float>();
  std::vector<float> scores(static_cast<size_t>(std::max<int64_t>(kv_len, 1)));
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t h = 0; h < heads; ++h) {
      const float* kb = pk + (b * heads + h) * cap * head_dim;
      const float* vb = pv + (b * heads + h) * cap * head_dim;
      for (int64_t i = 0; i < n; ++i) {
        const float* qi = pq + ((b * heads + h) * n + i) * head_dim;
        const int64_t last = causal ? std::min(kv_len, q_offset + i + 1) : kv_len;
        float max_score = -INFINITY;
        for (int64_t j = 0; j < last; ++j) {
          if (pm && pm[b * kv_len + j] == 0) {
            scores[size_t(j)] = -INFINITY;
            continue;
          }
          float dot = 0.0f;
          for (int64_t d = 0; d < head_dim; ++d) dot += qi[d] * kb[j * head_dim + d];
          float s = dot * scale;
          if (pb) s += pb[(h * n + i) * kv_len + j];
          scores[size_t(j)] = s;
          max_score = std::max(max_score, s);
        }
        float* out = pc + (b * n + i) * heads * head_dim + h * head_dim;
        std::fill_n(out, head_dim, 0.0f);
        if (max_score == -INFINITY) continue;  // no visible key: zeros
        float sum = 0.0f;
        for (int64_t j = 0; j < last; ++j) {
          const float e = scores[size_t(j)] == -INFINITY ? 0.0f : std::exp(scores[size_t(j)] - max_score);
          scores[size_t(j)] = e;
          sum += e;
        }
        const float inv = 1.0f / sum;
        for (int64_t j = 0; j < last; ++j) {
          const float p = scores[size_t(j)] * inv;
          if (p == 0.0f) continue;
          for (int64_t d = 0; d < head_dim; ++d) out[d] += p * vb[j * head_dim + d];
        }
      }
    }
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
