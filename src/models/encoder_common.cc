// Shared encoder pieces: tensor table, embeddings, residual blocks, heads, input checks.
#include "models/encoder_common.h"

#include <cmath>
#include <cstring>

#include "octet/error.h"
#include "octet/thread_pool.h"

namespace octet::encoder {

// ---- WeightTable ------------------------------------------------------------

WeightTable::WeightTable(const WeightSource& source, std::string prefix)
    : source_(source), prefix_(std::move(prefix)) {}

bool WeightTable::contains(const std::string& name) const { return source_.contains(full(name)); }

Tensor WeightTable::require(const std::string& name, const Shape& shape, bool absolute) {
  const std::string key = absolute ? name : full(name);
  Tensor t = source_.require(key, shape);
  parameters_.emplace_back(key, t);
  return t;
}

Tensor WeightTable::optional(const std::string& name, const Shape& shape, bool absolute) {
  const std::string key = absolute ? name : full(name);
  if (!source_.contains(key)) return {};
  return require(key, shape, true);
}

nn::Linear WeightTable::linear(const std::string& module, int64_t out, int64_t in, bool bias, bool absolute) {
  Tensor w = require(module + ".weight", {out, in}, absolute);
  Tensor b = bias ? require(module + ".bias", {out}, absolute) : Tensor();
  nn::Linear linear(std::move(w), std::move(b));
  linear.set_name(absolute ? module : full(module));
  return linear;
}

nn::LayerNorm WeightTable::layer_norm(const std::string& module, int64_t size, float eps, bool absolute) {
  Tensor gamma = require(module + ".weight", {size}, absolute);
  Tensor beta = require(module + ".bias", {size}, absolute);
  return nn::LayerNorm(std::move(gamma), std::move(beta), eps);
}

nn::Embedding WeightTable::embedding(const std::string& module, int64_t rows, int64_t cols) {
  return nn::Embedding(require(module + ".weight", {rows, cols}));
}

std::string detect_prefix(const WeightSource& source, const std::vector<std::string>& prefixes,
                          const std::string& probe) {
  for (const auto& p : prefixes)
    if (source.contains(p + probe)) return p;
  return "";
}

void check_heads(const JsonConfig& config, int64_t hidden_size, int64_t num_heads) {
  check(hidden_size > 0 && num_heads > 0, "config", "{}: hidden size ({}) and number of attention heads ({}) must be > 0",
        config.source(), hidden_size, num_heads);
  check(hidden_size % num_heads == 0, "config",
        "{}: hidden size {} is not a multiple of the number of attention heads {}", config.source(), hidden_size,
        num_heads);
}

// ---- residual blocks ------------------------------------------------------------

ResidualNorm::ResidualNorm(nn::LayerNorm norm, const std::string& branch_module, const std::string& norm_module)
    : norm_(std::move(norm)),
      residual_site_(branch_module + ":residual", nn::SiteKind::ResidualAdd),
      norm_site_(norm_module + ":input", nn::SiteKind::NormInput) {}

Tensor ResidualNorm::forward(const Tensor& branch, const Tensor& residual) const {
  if (!residual_site_.active() && !norm_site_.active()) return norm_.forward(branch, residual);
  const Tensor b = residual_site_.active() ? residual_site_.apply(branch) : branch;
  if (!norm_site_.active()) return norm_.forward(b, residual);
  return norm_.forward(norm_site_.apply(kernels::add(b, residual)));
}

void ResidualNorm::visit_sites(const std::function<void(nn::ActivationSite&)>& fn) {
  fn(residual_site_);
  fn(norm_site_);
}

SitedLayerNorm::SitedLayerNorm(nn::LayerNorm norm, const std::string& norm_module)
    : norm_(std::move(norm)), site_(norm_module + ":input", nn::SiteKind::NormInput) {}

Tensor SitedLayerNorm::forward(const Tensor& x) const { return norm_.forward(site_.active() ? site_.apply(x) : x); }

PostNormLayer::PostNormLayer(nn::MultiHeadAttention attention, ResidualNorm attention_norm, nn::MLP mlp,
                             ResidualNorm output_norm)
    : attention_(std::move(attention)),
      attention_norm_(std::move(attention_norm)),
      mlp_(std::move(mlp)),
      output_norm_(std::move(output_norm)) {}

Tensor PostNormLayer::forward(const Tensor& x, const nn::AttentionInputs& inputs) const {
  const Tensor a = attention_norm_.forward(attention_.forward(x, inputs), x);
  return output_norm_.forward(mlp_.forward(a), a);
}

void PostNormLayer::visit_linears(const std::function<void(nn::Linear&)>& fn) {
  attention_.visit_linears(fn);
  mlp_.visit_linears(fn);
}

void PostNormLayer::visit_sites(const std::function<void(nn::ActivationSite&)>& fn) {
  attention_.visit_sites(fn);
  attention_norm_.visit_sites(fn);
  output_norm_.visit_sites(fn);
}

// ---- heads ----------------------------------------------------------------------

HeadActivation HeadActivation::parse(std::string_view hf_name) {
  if (hf_name == "tanh") return {};
  return {false, kernels::parse_activation(hf_name)};
}

void HeadActivation::apply(Tensor& x) const {
  if (!tanh) {
    kernels::activation(act, x, x);
    return;
  }
  // Heads see [batch, hidden] only: a scalar loop costs nothing next to the trunk.
  for (float& v : x.span<float>()) v = std::tanh(v);
}

Tensor ClsProjection::forward(const Tensor& cls) const {
  Tensor y = dense.forward(cls);
  activation.apply(y);
  return y;
}

Tensor first_token(const Tensor& hidden) {
  return hidden.slice(1, 0, 1).contiguous().reshape({hidden.dim(0), hidden.dim(2)});
}

// ---- embeddings -------------------------------------------------------------------

namespace {

const int64_t* ids_row(const Tensor& t, int64_t i) { return t.data<int64_t>() + i; }

void check_ids(const Tensor& ids, int64_t limit, const char* what) {
  for (const int64_t id : ids.span<int64_t>())
    check(id >= 0 && id < limit, "models", "{} {} is out of range [0, {})", what, id, limit);
}

}  // namespace

Tensor Embeddings::forward(const Tensor& ids, const Tensor& token_types, const Tensor& positions) const {
  const int64_t n = ids.numel(), width = word.hidden_size();
  check_ids(ids, word.vocab_size(), "token id");
  if (token_type) check_ids(token_types, token_type->vocab_size(), "token type id");
  if (position) check_ids(positions, position->vocab_size(), "position id");
  Tensor out = Tensor::empty({ids.dim(0), ids.dim(1), width}, DType::F32);
  float* dst = out.data<float>();
  const float* word_table = word.table().data<float>();
  const float* type_table = token_type ? token_type->table().data<float>() : nullptr;
  const float* pos_table = position ? position->table().data<float>() : nullptr;
  // One pass summing the rows in Hugging Face's order (word + token type + position).
  parallel_for(
      n,
      [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
          float* y = dst + i * width;
          const float* w = word_table + *ids_row(ids, i) * width;
          std::memcpy(y, w, sizeof(float) * width);
          if (type_table) {
            const float* t = type_table + *ids_row(token_types, i) * width;
            for (int64_t c = 0; c < width; ++c) y[c] += t[c];
          }
          if (pos_table) {
            const float* p = pos_table + *ids_row(positions, i) * width;
            for (int64_t c = 0; c < width; ++c) y[c] += p[c];
          }
        }
      },
      64);
  if (project_before_norm) out = project_before_norm->forward(out);
  out = norm.forward(out);
  if (project_after_norm) out = project_after_norm->forward(out);
  return out;
}

void Embeddings::visit_linears(const std::function<void(nn::Linear&)>& fn) {
  if (project_before_norm) fn(*project_before_norm);
  if (project_after_norm) fn(*project_after_norm);
}

// ---- EncoderModel -----------------------------------------------------------------

namespace {

Tensor checked_ids(const Tensor& t, const char* name, const Shape& shape) {
  check(t.dtype() == DType::I64, "models", "{} must be i64, got {}", name, t);
  check(t.shape() == shape, "models", "{} has shape {}, input_ids has {}", name, shape_str(t.shape()),
        shape_str(shape));
  return t.contiguous();
}

}  // namespace

Tensor EncoderModel::default_positions(const EncoderInputs& in) const {
  Tensor pos = Tensor::empty({in.batch, in.seq}, DType::I64);
  int64_t* p = pos.data<int64_t>();
  for (int64_t b = 0; b < in.batch; ++b)
    for (int64_t s = 0; s < in.seq; ++s) p[b * in.seq + s] = s;
  return pos;
}

NamedTensors EncoderModel::forward(const ModelInputs& inputs) const {
  const Tensor& ids = inputs.input_ids;
  check(ids.defined() && ids.rank() == 2 && ids.dtype() == DType::I64, "models",
        "input_ids must be an i64 [batch, seq] tensor, got {}", ids.defined() ? ids.describe() : "nothing");
  EncoderInputs in;
  in.batch = ids.dim(0);
  in.seq = ids.dim(1);
  check(in.batch > 0 && in.seq > 0, "models", "input_ids is empty ({})", ids);
  in.input_ids = ids.contiguous();
  const Shape shape = ids.shape();
  in.attention_mask = inputs.attention_mask.defined() ? checked_ids(inputs.attention_mask, "attention_mask", shape)
                                                      : Tensor::zeros(shape, DType::I64);
  if (!inputs.attention_mask.defined())
    for (auto& m : in.attention_mask.span<int64_t>()) m = 1;
  if (inputs.token_type_ids.defined()) {
    in.token_type_ids = checked_ids(inputs.token_type_ids, "token_type_ids", shape);
    if (type_vocab_size_ == 0)
      for (const int64_t t : in.token_type_ids.span<int64_t>())
        check(t == 0, "models", "{} has no token types, but token_type_ids holds {}", info_.model_type, t);
  } else {
    in.token_type_ids = Tensor::zeros(shape, DType::I64);
  }
  in.position_ids =
      inputs.position_ids.defined() ? checked_ids(inputs.position_ids, "position_ids", shape) : default_positions(in);
  if (position_limit_ > 0 && !inputs.position_ids.defined())
    check(in.seq <= info_.max_positions, "models", "sequence length {} exceeds the model's {} positions", in.seq,
          info_.max_positions);

  NamedTensors out;
  const Tensor hidden = encode(in);
  out["last_hidden_state"] = hidden;
  if (pooler_) {
    const Tensor pooled = pooler_->forward(first_token(hidden));
    if (pooler_is_output_) out["pooler_output"] = pooled;
    if (classifier_) out["logits"] = classifier_->forward(pooled);
  } else if (classifier_) {
    out["logits"] = classifier_->forward(first_token(hidden));
  }
  return out;
}

void EncoderModel::visit_linears(const std::function<void(nn::Linear&)>& fn) {
  visit_trunk_linears(fn);
  if (pooler_) fn(pooler_->dense);
  if (classifier_) fn(*classifier_);
}

void EncoderModel::visit_sites(const std::function<void(nn::ActivationSite&)>& fn) { visit_trunk_sites(fn); }

// ---- head layout ---------------------------------------------------------------------

Tensor split_heads(const Tensor& x, int64_t heads, int64_t d) {
  const int64_t batch = x.dim(0), seq = x.dim(1), cols = x.dim(2);
  check(cols == heads * d, "models", "split_heads: {} columns for {} heads of {}", cols, heads, d);
  Tensor out = Tensor::empty({batch, heads, seq, d}, DType::F32);
  const float* src = x.data<float>();
  float* dst = out.data<float>();
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t s = 0; s < seq; ++s)
      for (int64_t h = 0; h < heads; ++h)
        std::memcpy(dst + ((b * heads + h) * seq + s) * d, src + (b * seq + s) * cols + h * d, sizeof(float) * d);
  return out;
}

Tensor merge_heads(const Tensor& x) {
  const int64_t batch = x.dim(0), heads = x.dim(1), seq = x.dim(2), d = x.dim(3);
  Tensor out = Tensor::empty({batch, seq, heads * d}, DType::F32);
  const float* src = x.data<float>();
  float* dst = out.data<float>();
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t s = 0; s < seq; ++s)
      for (int64_t h = 0; h < heads; ++h)
        std::memcpy(dst + (b * seq + s) * heads * d + h * d, src + ((b * heads + h) * seq + s) * d, sizeof(float) * d);
  return out;
}

}  // namespace octet::encoder
