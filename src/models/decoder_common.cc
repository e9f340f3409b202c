// The shared decoder trunk (see decoder_common.h).
#include "models/decoder_common.h"

#include <algorithm>
#include <limits>

#include "octet/error.h"
#include "octet/kernels.h"

namespace octet::models {

// ---- WeightReader ---------------------------------------------------------------

std::string WeightReader::resolve(const std::string& name) const {
  if (base_prefix_.empty() || source_.contains(name) || !name.starts_with(base_prefix_)) return name;
  std::string bare = name.substr(base_prefix_.size());
  return source_.contains(bare) ? bare : name;
}

Tensor WeightReader::require(const std::string& name, const Shape& shape) {
  const std::string stored = resolve(name);
  Tensor t = source_.require(stored, shape);
  parameters_.emplace_back(stored, t);
  return t;
}

Tensor WeightReader::optional(const std::string& name, const Shape& shape) {
  return contains(name) ? require(name, shape) : Tensor();
}

nn::Linear WeightReader::linear(const std::string& path, int64_t out, int64_t in, Bias bias) {
  const bool resident = source_.kernel_resident(resolve(path + ".weight"));
  Tensor w = resident ? Tensor() : require(path + ".weight", {out, in});
  Tensor b;
  if (bias == Bias::Required) b = require(path + ".bias", {out});
  if (bias == Bias::Optional) b = optional(path + ".bias", {out});
  nn::Linear l = resident ? nn::Linear::kernel_resident(out, in, std::move(b)) : nn::Linear(std::move(w), std::move(b));
  l.set_name(path);
  return l;
}

nn::Linear WeightReader::conv1d(const std::string& path, int64_t out, int64_t in) {
  Tensor w = require(path + ".weight", {in, out});
  nn::Linear l(w.transpose(0, 1).contiguous(), require(path + ".bias", {out}));
  l.set_name(path);
  return l;
}

nn::LayerNorm WeightReader::layer_norm(const std::string& path, int64_t dim, float eps, bool bias) {
  Tensor g = require(path + ".weight", {dim});
  Tensor b = bias ? require(path + ".bias", {dim}) : Tensor::zeros({dim}, DType::F32);
  return nn::LayerNorm(std::move(g), std::move(b), eps);
}

nn::RMSNorm WeightReader::rms_norm(const std::string& path, int64_t dim, float eps) {
  return nn::RMSNorm(require(path + ".weight", {dim}), eps);
}

nn::Embedding WeightReader::embedding(const std::string& name, int64_t rows, int64_t dim) {
  return nn::Embedding(require(name, {rows, dim}));
}

// ---- Norm and layers --------------------------------------------------------------

Norm::Norm(nn::LayerNorm norm, const std::string& path) : norm_(std::move(norm)) { site_.set_name(path + ":input"); }
Norm::Norm(nn::RMSNorm norm, const std::string& path) : norm_(std::move(norm)) { site_.set_name(path + ":input"); }

Tensor Norm::forward(const Tensor& x) const {
  const Tensor in = site_.active() ? site_.apply(x) : x;
  if (const auto* ln = std::get_if<nn::LayerNorm>(&norm_)) return ln->forward(in);
  if (const auto* rms = std::get_if<nn::RMSNorm>(&norm_)) return rms->forward(in);
  fail("models", "norm '{}' is not set", site_.name());
}

void Norm::divide_channels(std::span<const float> divisors) {
  if (auto* ln = std::get_if<nn::LayerNorm>(&norm_)) return ln->divide_channels(divisors);
  if (auto* rms = std::get_if<nn::RMSNorm>(&norm_)) return rms->divide_channels(divisors);
  fail("models", "norm '{}' is not set", site_.name());
}

int64_t Norm::channels() const {
  if (const auto* ln = std::get_if<nn::LayerNorm>(&norm_)) return ln->gamma().dim(0);
  if (const auto* rms = std::get_if<nn::RMSNorm>(&norm_)) return rms->weight().dim(0);
  return 0;
}

std::string Norm::path() const {
  const std::string& site = site_.name();
  return site.substr(0, site.rfind(':'));
}

void DecoderLayer::name_residuals(const std::string& attention_path, const std::string& mlp_path) {
  attention_residual.set_name(attention_path + ":residual");
  mlp_residual.set_name(mlp_path + ":residual");
}

namespace {

Tensor through(const nn::ActivationSite& site, Tensor x) { return site.active() ? site.apply(x) : x; }

// x += branch, in place (x is always a tensor this forward pass owns).
void add_into(Tensor& x, const Tensor& branch) { kernels::add(x, branch, x); }

// One block; `attend(h)` runs its attention on h (forward() with a cache, or
// forward_ragged() over one cache per row).
template <typename Attend>
Tensor run_layer(const DecoderLayer& l, Tensor x, const Attend& attend) {
  switch (l.layout) {
    case BlockLayout::Sequential: {
      add_into(x, through(l.attention_residual, attend(l.norm1.forward(x))));
      add_into(x, through(l.mlp_residual, l.mlp->forward(l.norm2.forward(x))));
      return x;
    }
    case BlockLayout::Parallel: {
      const Tensor h = l.norm1.forward(x);
      Tensor a = through(l.attention_residual, attend(h));
      const Tensor m = through(l.mlp_residual, l.mlp->forward(l.norm2.defined() ? l.norm2.forward(x) : h));
      // (attn + mlp) + residual: the order every parallel family sums in.
      add_into(a, m);
      add_into(a, x);
      return a;
    }
    case BlockLayout::PostNorm: {
      add_into(x, through(l.attention_residual, attend(x)));
      x = l.norm1.forward(x);
      add_into(x, through(l.mlp_residual, l.mlp->forward(x)));
      return l.norm2.forward(x);
    }
  }
  fail("models", "unknown block layout");
}

const int64_t* i64_data(const Tensor& t) { return t.data<int64_t>(); }

Tensor as_i64(const Tensor& t, std::string_view what) {
  check(t.dtype() == DType::I64 || t.dtype() == DType::I32, "models", "{} must be i64 or i32, got {}", what, t);
  if (t.dtype() == DType::I64) return t.contiguous();
  const Tensor src = t.contiguous();
  Tensor out = Tensor::empty(src.shape(), DType::I64);
  std::copy_n(src.data<int32_t>(), src.numel(), out.data<int64_t>());
  return out;
}

}  // namespace

// ---- DecoderModel -------------------------------------------------------------------

DecoderModel::DecoderModel(DecoderParts parts) : p_(std::move(parts)) {
  info_ = p_.info;
  info_.is_decoder = true;
  check(p_.tokens.has_value(), "models", "decoder has no token embedding");
  for (const auto& l : p_.layers) check(l.attention && l.mlp, "models", "decoder layer without attention or MLP");
  if (info_.head == ModelHead::CausalLM) check(p_.lm_head.has_value(), "models", "causal LM without lm_head");
}

Tensor DecoderModel::run(const ModelInputs& in, KVCache* cache) const {
  check(in.input_ids.defined() && in.input_ids.rank() == 2, "models", "input_ids must be [batch, seq], got {}",
        in.input_ids);
  const Tensor ids = as_i64(in.input_ids, "input_ids");
  const int64_t batch = ids.dim(0), seq = ids.dim(1);
  const int64_t past = cache ? cache->length() : 0, total = past + seq;
  check(seq > 0, "models", "input_ids has no tokens");
  if (cache) {
    check(int64_t(cache->layers().size()) == int64_t(p_.layers.size()), "models",
          "KV cache has {} layers, the model {}", cache->layers().size(), p_.layers.size());
    check(cache->batch() == batch, "models", "KV cache is for batch {}, input_ids has {}", cache->batch(), batch);
    check(total <= cache->capacity(), "models", "{} cached + {} new tokens exceed the KV cache capacity of {}", past,
          seq, cache->capacity());
  }
  Tensor mask;
  if (in.attention_mask.defined()) {
    mask = as_i64(in.attention_mask, "attention_mask");
    check(mask.rank() == 2 && mask.dim(0) == batch && mask.dim(1) == total, "models",
          "attention_mask is {}, expected [{}, {}] (cached + new tokens)", mask, batch, total);
  }
  // Position ids: given, else cumsum(mask) - 1 with padding at 1 (transformers' generate()).
  Tensor pos;
  if (in.position_ids.defined()) {
    pos = as_i64(in.position_ids, "position_ids");
    check(pos.shape() == ids.shape(), "models", "position_ids is {}, input_ids {}", pos, ids);
  } else {
    pos = Tensor::empty({batch, seq}, DType::I64);
    for (int64_t b = 0; b < batch; ++b) {
      int64_t count = 0;
      for (int64_t s = 0; s < total; ++s) {
        const bool real = !mask.defined() || i64_data(mask)[b * total + s] != 0;
        count += real;
        if (s >= past) pos.data<int64_t>()[b * seq + s - past] = real ? count - 1 : 1;
      }
    }
  }
  const int64_t* pp = i64_data(pos);
  for (int64_t i = 0; i < pos.numel(); ++i)
    check(pp[i] >= 0 && (info_.max_positions <= 0 || !p_.positions || pp[i] < info_.max_positions), "models",
          "position id {} is outside the model's {} positions", pp[i], info_.max_positions);

  Tensor hidden = p_.tokens->forward(ids);
  if (p_.project_in) hidden = p_.project_in->forward(hidden);
  if (p_.positions) {
    Tensor rows = Tensor::empty({batch, seq}, DType::I64);
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t s = 0; s < seq; ++s) {
        const bool padded = p_.positions_from_mask && mask.defined() && i64_data(mask)[b * total + past + s] == 0;
        rows.data<int64_t>()[b * seq + s] = padded ? p_.position_offset - 1 : pp[b * seq + s] + p_.position_offset;
      }
    add_into(hidden, p_.positions->forward(rows));
  }
  nn::AttentionInputs ai;
  ai.attention_mask = mask;
  ai.position_ids = pos;
  if (p_.rotary.defined()) ai.rotary = p_.rotary.tables(pos);
  for (size_t i = 0; i < p_.layers.size(); ++i) {
    ai.cache = cache ? &cache->layers()[i] : nullptr;
    const nn::MultiHeadAttention& attention = *p_.layers[i].attention;
    hidden = run_layer(p_.layers[i], std::move(hidden), [&](const Tensor& h) { return attention.forward(h, ai); });
  }
  if (p_.final_norm.defined()) hidden = p_.final_norm.forward(hidden);
  if (p_.project_out) hidden = p_.project_out->forward(hidden);
  return hidden;
}

NamedTensors DecoderModel::forward(const ModelInputs& inputs) const {
  NamedTensors out;
  Tensor hidden = run(inputs, nullptr);
  if (p_.lm_head) out["logits"] = p_.lm_head->forward(hidden);
  out["last_hidden_state"] = std::move(hidden);
  return out;
}

Tensor DecoderModel::forward_cached(const ModelInputs& inputs, KVCache& cache, bool last_only) const {
  check(p_.lm_head.has_value(), "models", "{} was loaded without its LM head", info_.model_type);
  Tensor hidden = run(inputs, &cache);
  if (last_only && hidden.dim(1) > 1) hidden = hidden.slice(1, hidden.dim(1) - 1, hidden.dim(1)).contiguous();
  return p_.lm_head->forward(hidden);
}

// ---- batched decoding over separate caches ----------------------------------------------

int64_t DecoderModel::ragged_rows() const {
  // The visitors are non-const only because quantization edits through them;
  // nothing is changed here.
  auto& self = const_cast<DecoderModel&>(*this);
  int64_t rows = std::numeric_limits<int64_t>::max();
  self.visit_linears([&](nn::Linear& l) {
    rows = std::min(rows, l.input_site().active() ? int64_t{1} : l.row_invariant_rows());
  });
  self.visit_sites([&](nn::ActivationSite& site) {
    if (site.active()) rows = 1;
  });
  return std::max<int64_t>(rows, 1);
}

Tensor DecoderModel::decode_ragged(std::span<const int64_t> tokens, std::span<KVCache* const> caches) const {
  check(p_.lm_head.has_value(), "models", "{} was loaded without its LM head", info_.model_type);
  check_ragged(tokens, caches);
  const int64_t n = int64_t(tokens.size());
  for (int64_t i = 0; i < n; ++i) {
    const KVCache& c = *caches[size_t(i)];
    for (size_t l = 0; l < p_.layers.size(); ++l)
      check(c.layers()[l].quant == p_.layers[l].attention->kv_quant(), "models",
            "decode_ragged: cache {} was made under another KV quantization setting; make a new cache", i);
    check(!p_.positions || info_.max_positions <= 0 || c.length() < info_.max_positions, "models",
          "decode_ragged: position {} of cache {} is outside the model's {} positions", c.length(), i,
          info_.max_positions);
  }
  const int64_t rows = ragged_rows();
  if (rows <= 1) return CausalLM::decode_ragged(tokens, caches);
  if (n <= rows) return ragged_step(tokens, caches);
  // Groups of `rows` sequences: within each, every row is computed as alone.
  Tensor out;
  for (int64_t begin = 0; begin < n; begin += rows) {
    const int64_t count = std::min(rows, n - begin);
    const Tensor part = ragged_step(tokens.subspan(size_t(begin), size_t(count)),
                                    caches.subspan(size_t(begin), size_t(count)));
    if (!out.defined()) out = Tensor::empty({n, part.dim(1)}, DType::F32);
    std::copy_n(part.data<float>(), part.numel(), out.data<float>() + begin * part.dim(1));
  }
  return out;
}

Tensor DecoderModel::ragged_step(std::span<const int64_t> tokens, std::span<KVCache* const> caches) const {
  const int64_t n = int64_t(tokens.size());
  Tensor ids = Tensor::empty({n, 1}, DType::I64), pos = Tensor::empty({n, 1}, DType::I64);
  for (int64_t i = 0; i < n; ++i) {
    ids.data<int64_t>()[i] = tokens[size_t(i)];
    pos.data<int64_t>()[i] = caches[size_t(i)]->length();  // what run() derives without a mask
  }
  Tensor hidden = p_.tokens->forward(ids);
  if (p_.project_in) hidden = p_.project_in->forward(hidden);
  if (p_.positions) {
    Tensor rows = Tensor::empty({n, 1}, DType::I64);
    for (int64_t i = 0; i < n; ++i) rows.data<int64_t>()[i] = pos.data<int64_t>()[i] + p_.position_offset;
    add_into(hidden, p_.positions->forward(rows));
  }
  nn::AttentionInputs ai;
  ai.position_ids = pos;
  if (p_.rotary.defined()) {
    // Row by row: the tables may depend on the largest position of the call
    // (dynamic NTK scaling), and each row must see what it sees alone.
    const int64_t half = p_.rotary.config().dim / 2;
    ai.rotary = {Tensor::empty({n, 1, half}, DType::F32), Tensor::empty({n, 1, half}, DType::F32)};
    for (int64_t i = 0; i < n; ++i) {
      const nn::RotaryTables row = p_.rotary.tables(pos.slice(0, i, i + 1));
      std::copy_n(row.cos.data<float>(), half, ai.rotary.cos.data<float>() + i * half);
      std::copy_n(row.sin.data<float>(), half, ai.rotary.sin.data<float>() + i * half);
    }
  }
  std::vector<nn::AttentionCache*> layer_caches(size_t(n), nullptr);
  for (size_t l = 0; l < p_.layers.size(); ++l) {
    for (int64_t i = 0; i < n; ++i) layer_caches[size_t(i)] = &caches[size_t(i)]->layers()[l];
    const nn::MultiHeadAttention& attention = *p_.layers[l].attention;
    hidden = run_layer(p_.layers[l], std::move(hidden),
                       [&](const Tensor& h) { return attention.forward_ragged(h, layer_caches, ai); });
  }
  if (p_.final_norm.defined()) hidden = p_.final_norm.forward(hidden);
  if (p_.project_out) hidden = p_.project_out->forward(hidden);
  const Tensor logits = p_.lm_head->forward(hidden);
  return logits.reshape({n, logits.dim(-1)});
}

nn::AttentionCache DecoderModel::make_layer_cache(int64_t layer, int64_t batch, int64_t capacity) const {
  return p_.layers[size_t(layer)].attention->make_cache(batch, capacity);
}

void DecoderModel::visit_linears(const std::function<void(nn::Linear&)>& fn) {
  if (p_.project_in) fn(*p_.project_in);
  for (auto& l : p_.layers) {
    l.attention->visit_linears(fn);
    l.mlp->visit_linears(fn);
  }
  if (p_.project_out) fn(*p_.project_out);
  if (p_.lm_head) fn(*p_.lm_head);
}

void DecoderModel::visit_sites(const std::function<void(nn::ActivationSite&)>& fn) {
  for (auto& l : p_.layers) {
    if (l.layout != BlockLayout::PostNorm && l.norm1.defined()) fn(l.norm1.input_site());
    l.attention->visit_sites(fn);
    fn(l.attention_residual);
    if (l.layout == BlockLayout::PostNorm) fn(l.norm1.input_site());
    if (l.norm2.defined() && l.layout != BlockLayout::PostNorm) fn(l.norm2.input_site());
    fn(l.mlp_residual);
    if (l.layout == BlockLayout::PostNorm) fn(l.norm2.input_site());
  }
  if (p_.final_norm.defined()) fn(p_.final_norm.input_site());
}

// ---- groups of Linears reading one activation -----------------------------------------

namespace {

nn::ChannelScaleProducer norm_producer(Norm& norm) {
  return {norm.path(), norm.channels(), {}, [&norm](std::span<const float> d) { norm.divide_channels(d); }};
}

std::string group_name(const std::vector<nn::Linear*>& linears) {
  std::string name;
  for (const nn::Linear* l : linears) {
    const std::string& n = l->name();
    if (name.empty()) {
      name = n;
    } else {
      // "a.b.q_proj+k_proj": later members by their last path component.
      const size_t dot = n.rfind('.');
      name += "+" + (dot == std::string::npos ? n : n.substr(dot + 1));
    }
  }
  return name;
}

// The Linears of a block in its visit order.
template <typename Block>
std::vector<nn::Linear*> linears_of(Block& block) {
  std::vector<nn::Linear*> out;
  block.visit_linears([&](nn::Linear& l) { out.push_back(&l); });
  return out;
}

// o_proj's input is P V: column h * d + i comes from v's row g * d + i of kv
// head g = h / (heads / kv_heads), so dividing v's rows divides o_proj's input.
// Only for separate projections or a fused qkv in the Blocked layout.
// `projections`: q, k, v (or the fused qkv) in visit order.
std::optional<nn::ChannelScaleProducer> value_producer(const nn::MultiHeadAttention& attn,
                                                       const std::vector<nn::Linear*>& projections) {
  const nn::AttentionConfig& c = attn.config();
  const int64_t d = c.head_dim, group = c.num_heads / c.num_kv_heads, kv_rows = c.num_kv_heads * d;
  nn::Linear* v = nullptr;
  int64_t first = 0;
  if (!attn.fused_qkv()) {
    v = projections.at(2);
  } else if (c.qkv_layout == nn::QkvLayout::Blocked) {
    v = projections.at(0);
    first = (c.num_heads + c.num_kv_heads) * d;
  } else {
    return std::nullopt;
  }
  nn::ChannelScaleProducer p;
  p.name = v->name();
  p.channels = kv_rows;
  p.channel_of.resize(size_t(c.num_heads * d));
  for (int64_t h = 0; h < c.num_heads; ++h)
    for (int64_t i = 0; i < d; ++i) p.channel_of[size_t(h * d + i)] = (h / group) * d + i;
  p.divide = [v, first](std::span<const float> divisors) { v->divide_output_rows(first, divisors); };
  return p;
}

}  // namespace

void DecoderModel::visit_linear_groups(const std::function<void(nn::LinearInputGroup&)>& fn) {
  auto emit = [&](int64_t layer, std::vector<nn::Linear*> linears, std::optional<nn::ChannelScaleProducer> producer) {
    nn::LinearInputGroup g;
    g.name = group_name(linears);
    g.layer = layer;
    g.linears = std::move(linears);
    g.producer = std::move(producer);
    fn(g);
  };
  if (p_.project_in) emit(-1, {&*p_.project_in}, std::nullopt);
  for (size_t i = 0; i < p_.layers.size(); ++i) {
    DecoderLayer& l = p_.layers[i];
    const int64_t layer = int64_t(i);
    std::vector<nn::Linear*> attn = linears_of(*l.attention), mlp = linears_of(*l.mlp);
    nn::Linear* out_proj = attn.back();
    attn.pop_back();  // q, k, v or qkv
    nn::Linear* down = mlp.back();
    mlp.pop_back();  // fc1 (gate) and up
    // A norm's output may absorb factors only when nothing but these Linears
    // reads it: not in PostNorm blocks, where it is also the residual stream.
    const bool pre_norm = l.layout != BlockLayout::PostNorm;
    const bool shared_norm = l.layout == BlockLayout::Parallel && !l.norm2.defined();
    std::vector<nn::Linear*> first = attn;
    if (shared_norm) first.insert(first.end(), mlp.begin(), mlp.end());
    emit(layer, first, pre_norm && l.norm1.defined() ? std::optional(norm_producer(l.norm1)) : std::nullopt);
    emit(layer, {out_proj}, value_producer(*l.attention, attn));
    if (!shared_norm)
      emit(layer, mlp, pre_norm && l.norm2.defined() ? std::optional(norm_producer(l.norm2)) : std::nullopt);
    // down(act(gate) * up): up's row j scales the product's channel j; a plain
    // fc1 -> act -> fc2 cannot absorb factors through the activation.
    std::optional<nn::ChannelScaleProducer> down_producer;
    if (l.mlp->is_gated()) {
      nn::Linear* up = mlp.at(1);
      down_producer = nn::ChannelScaleProducer{
          up->name(), up->out_features(), {}, [up](std::span<const float> d) { up->divide_output_rows(0, d); }};
    }
    emit(layer, {down}, std::move(down_producer));
  }
  if (p_.project_out) emit(int64_t(p_.layers.size()), {&*p_.project_out}, std::nullopt);
  if (p_.lm_head) {
    nn::LinearInputGroup g;
    g.name = p_.lm_head->name();
    g.layer = int64_t(p_.layers.size());
    g.output_head = true;
    g.linears = {&*p_.lm_head};
    fn(g);
  }
}

void DecoderModel::visit_attention(const std::function<void(nn::MultiHeadAttention&)>& fn) {
  for (auto& l : p_.layers) fn(*l.attention);
}

// ---- builder helpers -----------------------------------------------------------------

void check_heads(const JsonConfig& config, int64_t hidden, int64_t heads, int64_t kv_heads, int64_t head_dim) {
  const std::string& src = config.source();
  check(hidden > 0 && heads > 0, "models", "{}: hidden size ({}) and attention heads ({}) must be > 0", src, hidden,
        heads);
  check(kv_heads > 0 && kv_heads <= heads && heads % kv_heads == 0, "models",
        "{}: {} attention heads cannot be shared by {} key/value heads (must divide)", src, heads, kv_heads);
  check(head_dim > 0 || hidden % heads == 0, "models", "{}: hidden size {} is not a multiple of {} attention heads",
        src, hidden, heads);
}

nn::AttentionConfig causal_attention(int64_t hidden, int64_t heads, int64_t kv_heads, int64_t head_dim) {
  nn::AttentionConfig c;
  c.hidden_size = hidden;
  c.num_heads = heads;
  c.num_kv_heads = kv_heads;
  c.head_dim = head_dim > 0 ? head_dim : hidden / heads;
  c.causal = true;
  return c;
}

std::optional<nn::Linear> read_lm_head(WeightReader& w, const ModelInfo& info, const std::string& name,
                                       const nn::Embedding& tokens, bool tied, bool bias) {
  if (info.head != ModelHead::CausalLM) return std::nullopt;
  // Tied: the embedding table itself (already recorded under its own name).
  nn::Linear head = tied ? nn::Linear(tokens.table(), bias ? w.require(name + ".bias", {info.vocab_size}) : Tensor())
                         : w.linear(name, info.vocab_size, tokens.hidden_size(),
                                    bias ? WeightReader::Bias::Required : WeightReader::Bias::None);
  head.set_name(name);
  return head;
}

}  // namespace octet::models
