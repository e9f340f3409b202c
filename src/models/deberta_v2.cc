// DeBERTa-v2 / v3: disentangled (content + relative position) attention.
//
//   embeddings: word (+ position when position_biased_input) (+ token_type when
//               type_vocab_size > 0) (-> embed_proj, no bias) -> LayerNorm, then
//               zeroed at padded positions (HF multiplies by the mask)
//   layer i:    encoder.layer.{i}.attention.self.{query,key,value}_proj; scores
//                 q_i.k_j / s + c2p(i, j) + p2c(i, j),  s = sqrt(head_dim * scale_factor),
//               scale_factor = 1 + [c2p] + [p2c], with r = the (log-bucketed) relative
//               position and span = position_buckets (or max_relative_positions):
//                 c2p(i, j) = q_i . Kr[clamp(r(i - j) + span)] / s
//                 p2c(i, j) = k_j . Qr[clamp(-r(j - i) + span)] / s
//               Kr / Qr = key / query projections of the relative embeddings
//               (encoder.rel_embeddings, layer-normed by encoder.LayerNorm when
//               norm_rel_ebd has layer_norm) through key_proj / query_proj
//               (share_att_key) or pos_key_proj / pos_query_proj.
//               Then attention.output.{dense,LayerNorm}, intermediate.dense, output.*
//   head:       ContextPooler (pooler.dense + pooler_hidden_act on [CLS]) -> classifier
//
// Read from transformers v4.40.2 modeling_deberta_v2.py (build_relative_position,
// make_log_bucket_position, disentangled_attention_bias, XSoftmax). XSoftmax
// masks both keys and queries; masking keys gives the same outputs at every
// unpadded position (padded rows are never compared).
#include <algorithm>
#include <cctype>
#include <cmath>

#include "models/builders.h"
#include "models/encoder_common.h"
#include "octet/error.h"
#include "octet/kernels_attention.h"

namespace octet {
namespace {

// Defaults of transformers v4.40.2's DebertaV2Config (plus the getattr defaults of the model code).
struct DebertaSettings {
  int64_t vocab_size = 128100;
  int64_t hidden_size = 1536;
  int64_t embedding_size = 1536;
  int64_t num_layers = 24;
  int64_t num_heads = 24;
  int64_t intermediate_size = 6144;
  std::string hidden_act = "gelu";
  int64_t max_position_embeddings = 512;
  int64_t type_vocab_size = 0;
  float layer_norm_eps = 1e-7f;
  bool relative_attention = false;
  int64_t max_relative_positions = -1;  // < 1: max_position_embeddings
  int64_t position_buckets = -1;
  bool position_biased_input = true;
  bool c2p = false, p2c = false;
  bool share_att_key = false;
  bool norm_rel_layer_norm = false;
  int64_t pooler_hidden_size = 1536;
  std::string pooler_hidden_act = "gelu";

  int64_t head_dim() const { return hidden_size / num_heads; }
  int64_t max_relative() const { return max_relative_positions < 1 ? max_position_embeddings : max_relative_positions; }
  int64_t span() const { return position_buckets > 0 ? position_buckets : max_relative(); }
  int64_t scale_factor() const { return 1 + int64_t(c2p) + int64_t(p2c); }
};

std::vector<std::string> split_bar_list(const std::string& text) {
  std::vector<std::string> out;
  size_t begin = 0;
  while (begin <= text.size()) {
    size_t end = text.find('|', begin);
    if (end == std::string::npos) end = text.size();
    std::string item = text.substr(begin, end - begin);
    const auto first = item.find_first_not_of(" \t"), last = item.find_last_not_of(" \t");
    item = first == std::string::npos ? "" : item.substr(first, last - first + 1);
    for (auto& ch : item) ch = char(std::tolower(static_cast<unsigned char>(ch)));
    if (!item.empty()) out.push_back(item);
    begin = end + 1;
  }
  return out;
}

DebertaSettings read_deberta_v2_settings(const JsonConfig& c) {
  DebertaSettings s;
  s.vocab_size = c.get_or<int64_t>("vocab_size", s.vocab_size);
  s.hidden_size = c.get_or<int64_t>("hidden_size", s.hidden_size);
  s.embedding_size = c.get_or<int64_t>("embedding_size", s.hidden_size);
  s.num_layers = c.get_or<int64_t>("num_hidden_layers", s.num_layers);
  s.num_heads = c.get_or<int64_t>("num_attention_heads", s.num_heads);
  s.intermediate_size = c.get_or<int64_t>("intermediate_size", s.intermediate_size);
  s.hidden_act = c.get_or<std::string>("hidden_act", s.hidden_act);
  s.max_position_embeddings = c.get_or<int64_t>("max_position_embeddings", s.max_position_embeddings);
  s.type_vocab_size = c.get_or<int64_t>("type_vocab_size", s.type_vocab_size);
  s.layer_norm_eps = c.get_or<float>("layer_norm_eps", s.layer_norm_eps);
  s.relative_attention = c.get_or<bool>("relative_attention", s.relative_attention);
  s.max_relative_positions = c.get_or<int64_t>("max_relative_positions", s.max_relative_positions);
  s.position_buckets = c.get_or<int64_t>("position_buckets", s.position_buckets);
  s.position_biased_input = c.get_or<bool>("position_biased_input", s.position_biased_input);
  s.share_att_key = c.get_or<bool>("share_att_key", s.share_att_key);
  s.pooler_hidden_size = c.get_or<int64_t>("pooler_hidden_size", s.hidden_size);
  s.pooler_hidden_act = c.get_or<std::string>("pooler_hidden_act", s.pooler_hidden_act);
  // pos_att_type: a list, or a "p2c|c2p" string (DebertaV2Config splits it the same way).
  std::vector<std::string> pos_att;
  if (c.has("pos_att_type")) {
    if (c.json().at("pos_att_type").is_string())
      pos_att = split_bar_list(c.get<std::string>("pos_att_type"));
    else
      pos_att = c.get_string_list("pos_att_type");
  }
  for (const auto& t : pos_att) {
    check(t == "c2p" || t == "p2c", "config", "{}: pos_att_type '{}' is not supported (c2p, p2c)", c.source(), t);
    (t == "c2p" ? s.c2p : s.p2c) = true;
  }
  for (const auto& n : split_bar_list(c.get_or<std::string>("norm_rel_ebd", "none"))) {
    check(n == "none" || n == "layer_norm", "config", "{}: norm_rel_ebd '{}' is not supported (none, layer_norm)",
          c.source(), n);
    if (n == "layer_norm") s.norm_rel_layer_norm = true;
  }
  check(c.get_or<int64_t>("conv_kernel_size", 0) <= 0, "config",
        "{}: DeBERTa's convolution layer (conv_kernel_size > 0) is not supported", c.source());
  encoder::check_heads(c, s.hidden_size, s.num_heads);
  check(c.get_or<int64_t>("attention_head_size", s.head_dim()) == s.head_dim(), "config",
        "{}: attention_head_size must be hidden_size / num_attention_heads ({})", c.source(), s.head_dim());
  check(s.pooler_hidden_size == s.hidden_size, "config", "{}: pooler_hidden_size {} must equal hidden_size {}",
        c.source(), s.pooler_hidden_size, s.hidden_size);
  check(s.num_layers > 0 && s.vocab_size > 0 && s.embedding_size > 0 && s.intermediate_size > 0, "config",
        "{}: num_hidden_layers, vocab_size, embedding_size and intermediate_size must be > 0", c.source());
  if (s.relative_attention)
    check(s.span() > 0, "config", "{}: relative attention needs position_buckets or max_relative_positions > 0",
          c.source());
  return s;
}

// HF make_log_bucket_position for one relative distance, in float32 as torch computes it.
int64_t log_bucket(int64_t rel, int64_t bucket_size, int64_t max_position) {
  const int64_t mid = bucket_size / 2;
  const int64_t abs_pos = (rel < mid && rel > -mid) ? mid - 1 : std::abs(rel);
  if (abs_pos <= mid) return rel;
  const float ratio = std::log(float(abs_pos) / float(mid)) / std::log(float(double(max_position - 1) / double(mid)));
  const auto log_pos = int64_t(std::ceil(ratio * float(mid - 1))) + mid;
  return rel > 0 ? log_pos : -log_pos;
}

// HF build_relative_position(q, k, bucket_size, max_position) at distance i - j.
int64_t relative_position(int64_t i, int64_t j, const DebertaSettings& s) {
  const int64_t rel = i - j;
  if (s.position_buckets > 0 && s.max_relative() > 0) return log_bucket(rel, s.position_buckets, s.max_relative());
  return rel;
}

struct DisentangledAttention {
  nn::Linear query, key, value;
  std::optional<nn::Linear> pos_key, pos_query;  // when !share_att_key
  nn::Linear out;
  nn::ActivationSite query_site{"", nn::SiteKind::AttentionQuery};
  nn::ActivationSite key_site{"", nn::SiteKind::AttentionKey};
  nn::ActivationSite value_site{"", nn::SiteKind::AttentionValue};
  nn::ActivationSite probs_site{"", nn::SiteKind::AttentionProbs};

  void visit_linears(const std::function<void(nn::Linear&)>& fn) {
    fn(query);
    fn(key);
    fn(value);
    if (pos_key) fn(*pos_key);
    if (pos_query) fn(*pos_query);
    fn(out);
  }
};

struct DebertaLayer {
  DisentangledAttention attention;
  encoder::ResidualNorm attention_norm;
  nn::MLP mlp;
  encoder::ResidualNorm output_norm;
};

class DebertaV2Model final : public encoder::EncoderModel {
 public:
  DebertaV2Model(const ModelSource& source, const LoadOptions& options) : s_(read_deberta_v2_settings(source.config)) {
    info_ = read_common_info(source.config);
    if (options.head) info_.head = *options.head;
    check(info_.head != ModelHead::CausalLM, "models", "{}: deberta-v2 has no causal-LM head", source.path.string());
    info_.vocab_size = s_.vocab_size;
    info_.hidden_size = s_.hidden_size;
    info_.num_layers = s_.num_layers;
    info_.num_heads = info_.num_kv_heads = s_.num_heads;
    info_.max_positions = s_.max_position_embeddings;
    type_vocab_size_ = s_.type_vocab_size;
    position_limit_ = s_.position_biased_input ? s_.max_position_embeddings : 0;

    const WeightSource& w = *source.weights;
    encoder::WeightTable t(w, encoder::detect_prefix(w, {"deberta."}, "embeddings.word_embeddings.weight"));
    build_embeddings(t);
    if (s_.relative_attention) {
      Tensor rel = t.require("encoder.rel_embeddings.weight", {2 * s_.span(), s_.hidden_size});
      // Depends on weights only: normalised once here (HF get_rel_embedding does it every forward).
      if (s_.norm_rel_layer_norm) rel = t.layer_norm("encoder.LayerNorm", s_.hidden_size, s_.layer_norm_eps).forward(rel);
      rel_embeddings_ = rel.contiguous();
    }
    build_layers(t);
    if (info_.head == ModelHead::SequenceClassification) {
      const int64_t h = s_.hidden_size;
      pooler_ = encoder::ClsProjection{t.linear("pooler.dense", h, h, true, true),
                                       encoder::HeadActivation::parse(s_.pooler_hidden_act)};
      pooler_is_output_ = true;
      classifier_ = t.linear("classifier", info_.num_labels, h, true, true);
    }
    finish(t);
  }

 protected:
  Tensor encode(const encoder::EncoderInputs& in) const override {
    Tensor x = embeddings_->forward(in.input_ids, in.token_type_ids, in.position_ids);
    zero_padded_rows(x, in.attention_mask);
    std::vector<int32_t> c2p_index, p2c_index;
    if (s_.relative_attention) relative_indices(in.seq, c2p_index, p2c_index);
    for (const auto& layer : layers_) {
      const Tensor a = layer.attention_norm.forward(attend(layer.attention, x, in, c2p_index, p2c_index), x);
      x = layer.output_norm.forward(layer.mlp.forward(a), a);
    }
    return x;
  }

  void visit_trunk_linears(const std::function<void(nn::Linear&)>& fn) override {
    embeddings_->visit_linears(fn);
    for (auto& layer : layers_) {
      layer.attention.visit_linears(fn);
      layer.mlp.visit_linears(fn);
    }
  }
  void visit_trunk_sites(const std::function<void(nn::ActivationSite&)>& fn) override {
    embeddings_->visit_sites(fn);
    for (auto& layer : layers_) {
      fn(layer.attention.query_site);
      fn(layer.attention.key_site);
      fn(layer.attention.value_site);
      fn(layer.attention.probs_site);
      layer.attention_norm.visit_sites(fn);
      layer.output_norm.visit_sites(fn);
    }
  }

 private:
  void build_embeddings(encoder::WeightTable& t) {
    const int64_t e = s_.embedding_size, h = s_.hidden_size;
    encoder::Embeddings emb{
        t.embedding("embeddings.word_embeddings", s_.vocab_size, e),
        std::nullopt,
        std::nullopt,
        std::nullopt,
        encoder::SitedLayerNorm(t.layer_norm("embeddings.LayerNorm", h, s_.layer_norm_eps),
                                t.full("embeddings.LayerNorm")),
        std::nullopt,
    };
    if (s_.position_biased_input)
      emb.position = t.embedding("embeddings.position_embeddings", s_.max_position_embeddings, e);
    if (s_.type_vocab_size > 0) emb.token_type = t.embedding("embeddings.token_type_embeddings", s_.type_vocab_size, e);
    if (e != h) emb.project_before_norm = t.linear("embeddings.embed_proj", h, e, false);
    embeddings_.emplace(std::move(emb));
  }

  void build_layers(encoder::WeightTable& t) {
    const int64_t h = s_.hidden_size;
    const kernels::Activation act = kernels::parse_activation(s_.hidden_act);
    for (int64_t i = 0; i < s_.num_layers; ++i) {
      const std::string p = fmt::format("encoder.layer.{}.", i);
      DisentangledAttention attention{t.linear(p + "attention.self.query_proj", h, h),
                                      t.linear(p + "attention.self.key_proj", h, h),
                                      t.linear(p + "attention.self.value_proj", h, h),
                                      std::nullopt,
                                      std::nullopt,
                                      t.linear(p + "attention.output.dense", h, h)};
      if (s_.relative_attention && !s_.share_att_key) {
        if (s_.c2p) attention.pos_key = t.linear(p + "attention.self.pos_key_proj", h, h);
        if (s_.p2c) attention.pos_query = t.linear(p + "attention.self.pos_query_proj", h, h);
      }
      const std::string self = t.full(p + "attention.self");
      attention.query_site.set_name(self + ":query");
      attention.key_site.set_name(self + ":key");
      attention.value_site.set_name(self + ":value");
      attention.probs_site.set_name(self + ":probs");
      encoder::ResidualNorm attention_norm(t.layer_norm(p + "attention.output.LayerNorm", h, s_.layer_norm_eps),
                                           t.full(p + "attention.output.dense"),
                                           t.full(p + "attention.output.LayerNorm"));
      nn::MLP mlp(t.linear(p + "intermediate.dense", s_.intermediate_size, h),
                  t.linear(p + "output.dense", h, s_.intermediate_size), act);
      encoder::ResidualNorm output_norm(t.layer_norm(p + "output.LayerNorm", h, s_.layer_norm_eps),
                                        t.full(p + "output.dense"), t.full(p + "output.LayerNorm"));
      layers_.push_back(DebertaLayer{std::move(attention), std::move(attention_norm), std::move(mlp),
                                     std::move(output_norm)});
    }
  }

  static void zero_padded_rows(Tensor& x, const Tensor& mask) {
    const int64_t width = x.dim(2);
    const int64_t* m = mask.data<int64_t>();
    float* data = x.data<float>();
    for (int64_t i = 0; i < mask.numel(); ++i)
      if (m[i] == 0) std::fill(data + i * width, data + (i + 1) * width, 0.0f);
  }

  // Row indices into the projected relative embeddings, [seq * seq] each:
  // c2p at (i, j) = clamp(r(i - j) + span); p2c at (i, j) = clamp(-r(j - i) + span).
  void relative_indices(int64_t seq, std::vector<int32_t>& c2p, std::vector<int32_t>& p2c) const {
    const int64_t span = s_.span();
    auto clamp = [&](int64_t v) { return int32_t(std::clamp<int64_t>(v + span, 0, 2 * span - 1)); };
    c2p.resize(size_t(seq * seq));
    p2c.resize(size_t(seq * seq));
    for (int64_t i = 0; i < seq; ++i)
      for (int64_t j = 0; j < seq; ++j) {
        c2p[size_t(i * seq + j)] = clamp(relative_position(i, j, s_));
        p2c[size_t(i * seq + j)] = clamp(-relative_position(j, i, s_));
      }
  }

  Tensor attend(const DisentangledAttention& a, const Tensor& x, const encoder::EncoderInputs& in,
                const std::vector<int32_t>& c2p_index, const std::vector<int32_t>& p2c_index) const {
    const int64_t heads = s_.num_heads, d = s_.head_dim();
    Tensor q = encoder::split_heads(a.query.forward(x), heads, d);
    Tensor k = encoder::split_heads(a.key.forward(x), heads, d);
    Tensor v = encoder::split_heads(a.value.forward(x), heads, d);
    if (a.query_site.active()) q = a.query_site.apply(q);
    if (a.key_site.active()) k = a.key_site.apply(k);
    if (a.value_site.active()) v = a.value_site.apply(v);

    // HF divides by sqrt(head_dim * scale_factor) computed in float32.
    const float scale = std::sqrt(float(d) * float(s_.scale_factor()));
    kernels::AttentionParams params;
    params.scale = 1.0f / scale;
    params.key_mask = in.attention_mask;
    if (s_.relative_attention && (s_.c2p || s_.p2c)) params.bias = relative_bias(a, q, k, scale, c2p_index, p2c_index);
    if (a.probs_site.active())
      params.transform_probabilities = [&a](Tensor& probs) { a.probs_site.apply_in_place(probs); };
    const Tensor context = kernels::attention(q, k, v, params);
    return a.out.forward(encoder::merge_heads(context));
  }

  // c2p + p2c scores [batch, heads, seq, seq], each divided by `scale` as HF does.
  Tensor relative_bias(const DisentangledAttention& a, const Tensor& q, const Tensor& k, float scale,
                       const std::vector<int32_t>& c2p_index, const std::vector<int32_t>& p2c_index) const {
    const int64_t heads = s_.num_heads, d = s_.head_dim(), batch = q.dim(0), seq = q.dim(2), rows = 2 * s_.span();
    const Tensor rel = rel_embeddings_.reshape({1, rows, s_.hidden_size});
    // [heads, rows, d] projections of the relative embeddings.
    auto project = [&](const nn::Linear& proj) { return encoder::split_heads(proj.forward(rel), heads, d).select(0); };
    Tensor pos_key, pos_query;
    if (s_.c2p) pos_key = project(s_.share_att_key ? a.key : *a.pos_key);
    if (s_.p2c) pos_query = project(s_.share_att_key ? a.query : *a.pos_query);

    Tensor bias = Tensor::zeros({batch, heads, seq, seq}, DType::F32);
    kernels::GemmParams nt;
    nt.transpose_b = true;
    Tensor c2p_scores, p2c_scores;  // [heads, seq, rows] for one batch row
    for (int64_t b = 0; b < batch; ++b) {
      if (s_.c2p) kernels::gemm_batched(q.select(b), pos_key, c2p_scores, nt);
      if (s_.p2c) kernels::gemm_batched(k.select(b), pos_query, p2c_scores, nt);
      float* out = bias.data<float>() + b * heads * seq * seq;
      for (int64_t h = 0; h < heads; ++h) {
        const float* c = s_.c2p ? c2p_scores.data<float>() + h * seq * rows : nullptr;
        const float* p = s_.p2c ? p2c_scores.data<float>() + h * seq * rows : nullptr;
        float* o = out + h * seq * seq;
        for (int64_t i = 0; i < seq; ++i)
          for (int64_t j = 0; j < seq; ++j) {
            const size_t ij = size_t(i * seq + j);
            float score = 0.0f;
            if (c) score += c[i * rows + c2p_index[ij]] / scale;
            if (p) score += p[j * rows + p2c_index[ij]] / scale;
            o[ij] = score;
          }
      }
    }
    return bias;
  }

  DebertaSettings s_;
  std::optional<encoder::Embeddings> embeddings_;
  Tensor rel_embeddings_;  // [2 * span, hidden], normalised when norm_rel_ebd says so
  std::vector<DebertaLayer> layers_;
};

}  // namespace

std::unique_ptr<Model> build_deberta_v2(const ModelSource& source, const LoadOptions& options) {
  return std::make_unique<DebertaV2Model>(source, options);
}

}  // namespace octet
