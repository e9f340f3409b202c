// BART: BartForConditionalGeneration.
//
//   embeddings: shared(ids) * (sqrt(d_model) if scale_embedding) + learned
//               positions (table row = position + 2) -> layernorm_embedding
//   encoder layer (post-norm): x = ln(x + SelfAttn(x)); x = ln(x + fc2(act(fc1(x))))
//   decoder layer (post-norm): x = ln(x + SelfAttn(x), causal);
//                              x = ln(x + CrossAttn(x, encoder output)); x = ln(x + FFN(x))
//   logits = lm_head(x) + final_logits_bias, lm_head tied to model.shared
//
// Attention scales q . k by head_dim^-0.5 (transformers scales q; the same up
// to f32 rounding). Decoder positions continue from the cached tokens.
#include <algorithm>
#include <cmath>
#include <optional>

#include "models/builders.h"
#include "models/seq2seq_common.h"
#include "octet/error.h"

namespace octet {
namespace {

using seq2seq::Attention;

constexpr int64_t kPositionOffset = 2;  // BartLearnedPositionalEmbedding's offset

struct BartSettings {
  int64_t vocab_size = 0, d_model = 0, max_positions = 0;
  int64_t encoder_layers = 0, decoder_layers = 0, encoder_heads = 0, decoder_heads = 0;
  int64_t encoder_ffn = 0, decoder_ffn = 0;
  kernels::Activation act = kernels::Activation::Gelu;
  bool scale_embedding = false;
};

BartSettings read_bart_settings(const JsonConfig& c) {
  BartSettings s;
  s.vocab_size = c.get_or<int64_t>("vocab_size", 50265);
  s.d_model = c.get_or<int64_t>("d_model", 1024);
  s.max_positions = c.get_or<int64_t>("max_position_embeddings", 1024);
  s.encoder_layers = c.get_or<int64_t>("encoder_layers", 12);
  s.decoder_layers = c.get_or<int64_t>("decoder_layers", 12);
  s.encoder_heads = c.get_or<int64_t>("encoder_attention_heads", 16);
  s.decoder_heads = c.get_or<int64_t>("decoder_attention_heads", 16);
  s.encoder_ffn = c.get_or<int64_t>("encoder_ffn_dim", 4096);
  s.decoder_ffn = c.get_or<int64_t>("decoder_ffn_dim", 4096);
  s.act = kernels::parse_activation(c.get_or<std::string>("activation_function", "gelu"));
  s.scale_embedding = c.get_or<bool>("scale_embedding", false);
  check(s.vocab_size > 0 && s.d_model > 0 && s.max_positions > 0 && s.encoder_layers > 0 && s.decoder_layers > 0 &&
            s.encoder_ffn > 0 && s.decoder_ffn > 0,
        "config", "{}: vocab_size, d_model, max_position_embeddings, layer counts and ffn dims must be > 0", c.source());
  for (const int64_t heads : {s.encoder_heads, s.decoder_heads})
    check(heads > 0 && s.d_model % heads == 0, "config", "{}: d_model {} is not a multiple of the attention heads {}",
          c.source(), s.d_model, heads);
  return s;
}

struct BartLayer {
  Attention self_attn;
  nn::LayerNorm self_norm;
  std::optional<Attention> cross_attn;
  std::optional<nn::LayerNorm> cross_norm;
  nn::MLP ff;
  nn::LayerNorm final_norm;
};

class BartConditionalGeneration final : public Seq2SeqLM {
 public:
  BartConditionalGeneration(const ModelSource& source, const LoadOptions& options)
      : s_(read_bart_settings(source.config)),
        reader_(*source.weights),
        shared_(reader_.require_any({"model.shared.weight", "model.encoder.embed_tokens.weight"},
                                    {s_.vocab_size, s_.d_model})),
        encoder_positions_(
            reader_.require("model.encoder.embed_positions.weight", {s_.max_positions + kPositionOffset, s_.d_model})),
        decoder_positions_(
            reader_.require("model.decoder.embed_positions.weight", {s_.max_positions + kPositionOffset, s_.d_model})),
        encoder_embed_norm_(layer_norm("model.encoder.layernorm_embedding")),
        decoder_embed_norm_(layer_norm("model.decoder.layernorm_embedding")) {
    const JsonConfig& c = source.config;
    info_ = read_common_info(c);
    if (options.head) info_.head = *options.head;
    check(info_.head == ModelHead::Seq2SeqLM, "models",
          "{}: BART is built as BartForConditionalGeneration only (head {})", source.path.string(),
          head_name(info_.head));
    decoder_start_token_id_ =
        seq2seq::require_int(c, "decoder_start_token_id", "the first decoder token of generation");
    info_.is_encoder_decoder = true;
    info_.vocab_size = s_.vocab_size;
    info_.hidden_size = s_.d_model;
    info_.num_layers = s_.encoder_layers + s_.decoder_layers;
    info_.num_heads = info_.num_kv_heads = s_.encoder_heads;
    info_.max_positions = s_.max_positions;
    for (int64_t i = 0; i < s_.encoder_layers; ++i) encoder_.push_back(layer("model.encoder", i, false));
    for (int64_t i = 0; i < s_.decoder_layers; ++i) decoder_.push_back(layer("model.decoder", i, true));
    if (source.weights->contains("lm_head.weight")) {
      lm_head_ = reader_.linear("lm_head", s_.vocab_size, s_.d_model, false);
    } else {
      lm_head_ = nn::Linear(shared_.table());
      lm_head_.set_name("lm_head");
    }
    final_logits_bias_ = reader_.optional("final_logits_bias", {1, s_.vocab_size});
    params_ = reader_.take();
  }

  Tensor encode(const Tensor& input_ids, const Tensor& attention_mask) const override {
    const Tensor ids = seq2seq::check_ids(input_ids, "input_ids");
    const Tensor mask = seq2seq::mask_or_ones(attention_mask, ids);
    const int64_t n = ids.dim(1);
    Tensor x = embed(ids, encoder_positions_, encoder_embed_norm_, 0);
    for (const BartLayer& l : encoder_) {
      const Tensor k = l.self_attn.project(l.self_attn.k, x), v = l.self_attn.project(l.self_attn.v, x);
      x = l.self_norm.forward(l.self_attn.attend(x, k, v, n, {}, mask, false, 0), x);
      x = l.final_norm.forward(l.ff.forward(x), x);
    }
    return x;
  }

  Seq2SeqCache make_cache(const Tensor& encoder_hidden, const Tensor& attention_mask, int64_t capacity) const override {
    check(encoder_hidden.rank() == 3 && encoder_hidden.dim(2) == s_.d_model, "seq2seq",
          "encoder_hidden must be [batch, seq, {}], got {}", s_.d_model, encoder_hidden);
    Seq2SeqCache cache;
    cache.encoder_mask = seq2seq::mask_or_ones(
        attention_mask, Tensor::empty({encoder_hidden.dim(0), encoder_hidden.dim(1)}, DType::I64));
    cache.capacity = capacity;
    const int64_t batch = encoder_hidden.dim(0), head_dim = s_.d_model / s_.decoder_heads;
    for (const BartLayer& l : decoder_) {
      cache.self_k.push_back(Tensor::zeros({batch, s_.decoder_heads, capacity, head_dim}, DType::F32));
      cache.self_v.push_back(Tensor::zeros({batch, s_.decoder_heads, capacity, head_dim}, DType::F32));
      cache.cross_k.push_back(l.cross_attn->project(l.cross_attn->k, encoder_hidden));
      cache.cross_v.push_back(l.cross_attn->project(l.cross_attn->v, encoder_hidden));
    }
    return cache;
  }

  Tensor decode(const Tensor& decoder_ids, Seq2SeqCache& cache, Tensor* hidden) const override {
    const Tensor ids = seq2seq::check_ids(decoder_ids, "decoder_ids");
    check(ids.dim(0) == cache.batch() && cache.self_k.size() == decoder_.size(), "seq2seq",
          "decoder_ids {} do not match the cache (batch {}, {} layers)", ids, cache.batch(),
          cache.self_k.size());
    const int64_t past = cache.length, n = ids.dim(1), total = past + n;
    check(total <= cache.capacity, "seq2seq", "{} decoder tokens past the cache capacity {}", total, cache.capacity);
    const int64_t enc_len = cache.encoder_mask.dim(1);
    Tensor x = embed(ids, decoder_positions_, decoder_embed_norm_, past);
    for (size_t i = 0; i < decoder_.size(); ++i) {
      const BartLayer& l = decoder_[i];
      l.self_attn.project_into(l.self_attn.k, x, cache.self_k[i], past);
      l.self_attn.project_into(l.self_attn.v, x, cache.self_v[i], past);
      x = l.self_norm.forward(l.self_attn.attend(x, cache.self_k[i], cache.self_v[i], total, {}, {}, true, past), x);
      x = l.cross_norm->forward(
          l.cross_attn->attend(x, cache.cross_k[i], cache.cross_v[i], enc_len, {}, cache.encoder_mask, false, 0), x);
      x = l.final_norm.forward(l.ff.forward(x), x);
    }
    cache.length = total;
    if (hidden) *hidden = x;
    Tensor logits = lm_head_.forward(x);
    if (final_logits_bias_.defined()) logits = kernels::add(logits, final_logits_bias_.reshape({s_.vocab_size}));
    return logits;
  }

  void visit_linears(const std::function<void(nn::Linear&)>& fn) override {
    for (BartLayer& l : encoder_) visit_layer(l, fn);
    for (BartLayer& l : decoder_) visit_layer(l, fn);
    fn(lm_head_);
  }
  // Seq2seq models expose no sites beyond the Linear inputs yet.
  void visit_sites(const std::function<void(nn::ActivationSite&)>& fn) override { (void)fn; }
  std::vector<std::pair<std::string, Tensor>> parameters() const override { return params_; }

 private:
  static void visit_layer(BartLayer& l, const std::function<void(nn::Linear&)>& fn) {
    l.self_attn.visit_linears(fn);
    if (l.cross_attn) l.cross_attn->visit_linears(fn);
    l.ff.visit_linears(fn);
  }

  nn::LayerNorm layer_norm(const std::string& name) {
    return nn::LayerNorm(reader_.require(name + ".weight", {s_.d_model}), reader_.require(name + ".bias", {s_.d_model}),
                         1e-5f);
  }

  Attention attention(const std::string& prefix, int64_t heads) {
    Attention a{reader_.linear(prefix + ".q_proj", s_.d_model, s_.d_model, true),
                reader_.linear(prefix + ".k_proj", s_.d_model, s_.d_model, true),
                reader_.linear(prefix + ".v_proj", s_.d_model, s_.d_model, true),
                reader_.linear(prefix + ".out_proj", s_.d_model, s_.d_model, true)};
    a.heads = heads;
    a.head_dim = s_.d_model / heads;
    a.scale = static_cast<float>(std::pow(static_cast<double>(a.head_dim), -0.5));
    return a;
  }

  BartLayer layer(const std::string& stack, int64_t i, bool decoder) {
    const std::string p = stack + ".layers." + std::to_string(i) + ".";
    const int64_t heads = decoder ? s_.decoder_heads : s_.encoder_heads;
    const int64_t ffn = decoder ? s_.decoder_ffn : s_.encoder_ffn;
    Attention self = attention(p + "self_attn", heads);
    nn::LayerNorm self_norm = layer_norm(p + "self_attn_layer_norm");
    std::optional<Attention> cross;
    std::optional<nn::LayerNorm> cross_norm;
    if (decoder) {
      cross = attention(p + "encoder_attn", heads);
      cross_norm = layer_norm(p + "encoder_attn_layer_norm");
    }
    nn::MLP ff(reader_.linear(p + "fc1", ffn, s_.d_model, true), reader_.linear(p + "fc2", s_.d_model, ffn, true), s_.act);
    nn::LayerNorm final_norm = layer_norm(p + "final_layer_norm");
    return BartLayer{std::move(self), std::move(self_norm), std::move(cross), std::move(cross_norm), std::move(ff),
                     std::move(final_norm)};
  }

  // layernorm_embedding(shared(ids) * embed_scale + positions[past + i + 2]).
  Tensor embed(const Tensor& ids, const Tensor& positions, const nn::LayerNorm& norm, int64_t past) const {
    const int64_t batch = ids.dim(0), n = ids.dim(1), d = s_.d_model;
    check(past + n <= s_.max_positions, "seq2seq", "{} positions past max_position_embeddings {}", past + n,
          s_.max_positions);
    Tensor x = shared_.forward(ids).contiguous();
    const float scale = s_.scale_embedding ? static_cast<float>(std::sqrt(static_cast<double>(d))) : 1.0f;
    float* px = x.data<float>();
    const float* pp = positions.data<float>();
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < d; ++j) {
          float& v = px[(b * n + i) * d + j];
          v = v * scale + pp[(past + i + kPositionOffset) * d + j];
        }
    return norm.forward(x);
  }

  BartSettings s_;
  seq2seq::ParamReader reader_;  // used while building
  nn::Embedding shared_;
  Tensor encoder_positions_, decoder_positions_;
  nn::LayerNorm encoder_embed_norm_, decoder_embed_norm_;
  std::vector<BartLayer> encoder_, decoder_;
  nn::Linear lm_head_;
  Tensor final_logits_bias_;
  std::vector<std::pair<std::string, Tensor>> params_;
};

}  // namespace

std::unique_ptr<Model> build_bart(const ModelSource& source, const LoadOptions& options) {
  return std::make_unique<BartConditionalGeneration>(source, options);
}

}  // namespace octet
