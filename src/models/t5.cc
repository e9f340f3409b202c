// T5 (v1.0: ReLU FFN, tied embeddings) and T5 v1.1 / FLAN-T5 (gated-GELU FFN,
// untied lm_head): T5ForConditionalGeneration.
//
//   embeddings: shared.weight (no scaling, no positions)
//   encoder block i: x += SelfAttention(rms(x)); x += FFN(rms(x))     (pre-norm)
//   decoder block i: x += SelfAttention(rms(x)) (causal);
//                    x += EncDecAttention(rms(x), encoder output); x += FFN(rms(x))
//   final_layer_norm on each stack; lm_head(x * d_model^-0.5 when tied, else x)
//
// T5's norm is RMS without mean subtraction or bias. Attention does not scale
// q . k by 1/sqrt(d_kv); instead a learned bias per (relative-position bucket,
// head) is added to the scores: bidirectional buckets in the encoder,
// unidirectional (keys in the past only) in the decoder. Only block 0 of each
// stack holds relative_attention_bias; later blocks reuse its bias.
// Cross-attention has no position bias.
#include <algorithm>
#include <cmath>
#include <optional>

#include "models/builders.h"
#include "models/seq2seq_common.h"
#include "octet/error.h"

namespace octet {
namespace {

using seq2seq::Attention;

struct T5Settings {
  int64_t vocab_size = 0, d_model = 0, d_kv = 0, d_ff = 0, num_heads = 0;
  int64_t encoder_layers = 0, decoder_layers = 0;
  int64_t num_buckets = 0, max_distance = 128;
  float eps = 1e-6f;
  bool gated = false;
  kernels::Activation act = kernels::Activation::Relu;
  bool tied = true;
};

T5Settings read_t5_settings(const JsonConfig& c) {
  T5Settings s;
  s.vocab_size = c.get_or<int64_t>("vocab_size", 32128);
  s.d_model = c.get_or<int64_t>("d_model", 512);
  s.d_kv = c.get_or<int64_t>("d_kv", 64);
  s.d_ff = c.get_or<int64_t>("d_ff", 2048);
  s.num_heads = c.get_or<int64_t>("num_heads", 8);
  s.encoder_layers = c.get_or<int64_t>("num_layers", 6);
  s.decoder_layers = c.get_or<int64_t>("num_decoder_layers", s.encoder_layers);
  s.num_buckets = seq2seq::require_int(c, "relative_attention_num_buckets", "T5's relative position buckets");
  s.max_distance = c.get_or<int64_t>("relative_attention_max_distance", 128);
  s.eps = c.get_or<float>("layer_norm_epsilon", 1e-6f);
  s.tied = c.get_or<bool>("tie_word_embeddings", true);
  // transformers' T5Config: "gated-gelu" means gelu_new; "[gated-]ACT" otherwise.
  const std::string proj = c.get_or<std::string>("feed_forward_proj", "relu");
  const size_t dash = proj.find('-');
  check(dash == std::string::npos || (proj.substr(0, dash) == "gated" && proj.find('-', dash + 1) == std::string::npos),
        "config", "{}: feed_forward_proj '{}' is not 'ACT' or 'gated-ACT'", c.source(), proj);
  s.gated = dash != std::string::npos;
  const std::string act = proj == "gated-gelu" ? "gelu_new" : proj.substr(dash == std::string::npos ? 0 : dash + 1);
  s.act = kernels::parse_activation(act);
  check(s.vocab_size > 0 && s.d_model > 0 && s.d_kv > 0 && s.d_ff > 0 && s.num_heads > 0 && s.encoder_layers > 0 &&
            s.decoder_layers > 0,
        "config", "{}: vocab_size, d_model, d_kv, d_ff, num_heads, num_layers and num_decoder_layers must be > 0",
        c.source());
  check(s.num_buckets >= 4 && s.max_distance > 0, "config",
        "{}: relative_attention_num_buckets must be >= 4 and relative_attention_max_distance > 0", c.source());
  return s;
}

// transformers' T5Attention._relative_position_bucket for key - query = rel,
// in the same f32 arithmetic (log, divide, multiply, truncate).
int64_t relative_bucket(int64_t rel, bool bidirectional, int64_t num_buckets, int64_t max_distance) {
  int64_t bucket = 0;
  if (bidirectional) {
    num_buckets /= 2;
    if (rel > 0) bucket += num_buckets;
    rel = rel < 0 ? -rel : rel;
  } else {
    rel = rel < 0 ? -rel : 0;
  }
  const int64_t max_exact = num_buckets / 2;
  if (rel < max_exact) return bucket + rel;
  const float denom = static_cast<float>(std::log(static_cast<double>(max_distance) / static_cast<double>(max_exact)));
  const float scaled = std::log(static_cast<float>(rel) / static_cast<float>(max_exact)) / denom *
                       static_cast<float>(num_buckets - max_exact);
  const int64_t large = max_exact + static_cast<int64_t>(scaled);
  return bucket + std::min(large, num_buckets - 1);
}

struct T5Block {
  nn::RMSNorm self_norm;
  Attention self_attn;
  std::optional<nn::RMSNorm> cross_norm;
  std::optional<Attention> cross_attn;
  nn::RMSNorm ff_norm;
  nn::MLP ff;
};

class T5ConditionalGeneration final : public Seq2SeqLM {
 public:
  T5ConditionalGeneration(const ModelSource& source, const LoadOptions& options)
      : s_(read_t5_settings(source.config)),
        reader_(*source.weights),
        shared_(reader_.require_any({"shared.weight", "encoder.embed_tokens.weight"}, {s_.vocab_size, s_.d_model})),
        encoder_bias_(reader_.require("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
                                      {s_.num_buckets, s_.num_heads})),
        decoder_bias_(reader_.require("decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
                                      {s_.num_buckets, s_.num_heads})),
        encoder_norm_(reader_.require("encoder.final_layer_norm.weight", {s_.d_model}), s_.eps),
        decoder_norm_(reader_.require("decoder.final_layer_norm.weight", {s_.d_model}), s_.eps) {
    const JsonConfig& c = source.config;
    info_ = read_common_info(c);
    if (options.head) info_.head = *options.head;
    check(info_.head == ModelHead::Seq2SeqLM, "models", "{}: T5 is built as T5ForConditionalGeneration only (head {})",
          source.path.string(), head_name(info_.head));
    decoder_start_token_id_ =
        seq2seq::require_int(c, "decoder_start_token_id", "the first decoder token of generation");
    info_.is_encoder_decoder = true;
    info_.vocab_size = s_.vocab_size;
    info_.hidden_size = s_.d_model;
    info_.num_layers = s_.encoder_layers + s_.decoder_layers;
    info_.num_heads = info_.num_kv_heads = s_.num_heads;
    for (int64_t i = 0; i < s_.encoder_layers; ++i) encoder_.push_back(block("encoder", i, false));
    for (int64_t i = 0; i < s_.decoder_layers; ++i) decoder_.push_back(block("decoder", i, true));
    if (s_.tied) {
      lm_head_ = nn::Linear(shared_.table());
    } else {
      lm_head_ = reader_.linear("lm_head", s_.vocab_size, s_.d_model, false);
    }
    lm_head_.set_name("lm_head");
    params_ = reader_.take();
  }

  Tensor encode(const Tensor& input_ids, const Tensor& attention_mask) const override {
    const Tensor ids = seq2seq::check_ids(input_ids, "input_ids");
    const Tensor mask = seq2seq::mask_or_ones(attention_mask, ids);
    const int64_t n = ids.dim(1);
    const Tensor bias = position_bias(encoder_bias_, true, 0, n, n);
    Tensor x = shared_.forward(ids);
    for (const T5Block& b : encoder_) {
      const Tensor h = b.self_norm.forward(x);
      Tensor k = b.self_attn.project(b.self_attn.k, h), v = b.self_attn.project(b.self_attn.v, h);
      x = kernels::add(x, b.self_attn.attend(h, k, v, n, bias, mask, false, 0));
      x = kernels::add(x, b.ff.forward(b.ff_norm.forward(x)));
    }
    return encoder_norm_.forward(x);
  }

  Seq2SeqCache make_cache(const Tensor& encoder_hidden, const Tensor& attention_mask, int64_t capacity) const override {
    check(encoder_hidden.rank() == 3 && encoder_hidden.dim(2) == s_.d_model, "seq2seq",
          "encoder_hidden must be [batch, seq, {}], got {}", s_.d_model, encoder_hidden);
    Seq2SeqCache cache;
    cache.encoder_mask = seq2seq::mask_or_ones(attention_mask, Tensor::empty({encoder_hidden.dim(0), encoder_hidden.dim(1)}, DType::I64));
    cache.capacity = capacity;
    const int64_t batch = encoder_hidden.dim(0);
    for (const T5Block& b : decoder_) {
      cache.self_k.push_back(Tensor::zeros({batch, s_.num_heads, capacity, s_.d_kv}, DType::F32));
      cache.self_v.push_back(Tensor::zeros({batch, s_.num_heads, capacity, s_.d_kv}, DType::F32));
      cache.cross_k.push_back(b.cross_attn->project(b.cross_attn->k, encoder_hidden));
      cache.cross_v.push_back(b.cross_attn->project(b.cross_attn->v, encoder_hidden));
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
    const Tensor bias = position_bias(decoder_bias_, false, past, n, total);
    const int64_t enc_len = cache.encoder_mask.dim(1);
    Tensor x = shared_.forward(ids);
    for (size_t l = 0; l < decoder_.size(); ++l) {
      const T5Block& b = decoder_[l];
      Tensor h = b.self_norm.forward(x);
      b.self_attn.project_into(b.self_attn.k, h, cache.self_k[l], past);
      b.self_attn.project_into(b.self_attn.v, h, cache.self_v[l], past);
      x = kernels::add(x, b.self_attn.attend(h, cache.self_k[l], cache.self_v[l], total, bias, {}, true, past));
      h = b.cross_norm->forward(x);
      x = kernels::add(
          x, b.cross_attn->attend(h, cache.cross_k[l], cache.cross_v[l], enc_len, {}, cache.encoder_mask, false, 0));
      x = kernels::add(x, b.ff.forward(b.ff_norm.forward(x)));
    }
    cache.length = total;
    Tensor out = decoder_norm_.forward(x);
    if (hidden) *hidden = out;
    if (s_.tied) {
      out = out.clone();
      const float scale = static_cast<float>(std::pow(static_cast<double>(s_.d_model), -0.5));
      for (float& v : out.span<float>()) v *= scale;
    }
    return lm_head_.forward(out);
  }

  void visit_linears(const std::function<void(nn::Linear&)>& fn) override {
    for (T5Block& b : encoder_) visit_block(b, fn);
    for (T5Block& b : decoder_) visit_block(b, fn);
    fn(lm_head_);
  }
  // Seq2seq models expose no sites beyond the Linear inputs yet.
  void visit_sites(const std::function<void(nn::ActivationSite&)>& fn) override { (void)fn; }
  std::vector<std::pair<std::string, Tensor>> parameters() const override { return params_; }

 private:
  static void visit_block(T5Block& b, const std::function<void(nn::Linear&)>& fn) {
    b.self_attn.visit_linears(fn);
    if (b.cross_attn) b.cross_attn->visit_linears(fn);
    b.ff.visit_linears(fn);
  }

  Attention attention(const std::string& prefix) {
    const int64_t inner = s_.num_heads * s_.d_kv;
    Attention a{reader_.linear(prefix + ".q", inner, s_.d_model, false),
                reader_.linear(prefix + ".k", inner, s_.d_model, false),
                reader_.linear(prefix + ".v", inner, s_.d_model, false),
                reader_.linear(prefix + ".o", s_.d_model, inner, false)};
    a.heads = s_.num_heads;
    a.head_dim = s_.d_kv;
    a.scale = 1.0f;
    return a;
  }

  nn::RMSNorm norm(const std::string& name) { return nn::RMSNorm(reader_.require(name, {s_.d_model}), s_.eps); }

  T5Block block(const std::string& stack, int64_t i, bool decoder) {
    const std::string p = stack + ".block." + std::to_string(i) + ".layer.";
    const std::string ff_layer = p + (decoder ? "2" : "1");
    const std::string ffp = ff_layer + ".DenseReluDense.";
    std::optional<nn::RMSNorm> cross_norm;
    std::optional<Attention> cross;
    nn::RMSNorm self_norm = norm(p + "0.layer_norm.weight");
    Attention self = attention(p + "0.SelfAttention");
    if (decoder) {
      cross_norm = norm(p + "1.layer_norm.weight");
      cross = attention(p + "1.EncDecAttention");
    }
    nn::RMSNorm ff_norm = norm(ff_layer + ".layer_norm.weight");
    nn::MLP ff = s_.gated ? nn::MLP::gated(reader_.linear(ffp + "wi_0", s_.d_ff, s_.d_model, false),
                                           reader_.linear(ffp + "wi_1", s_.d_ff, s_.d_model, false),
                                           reader_.linear(ffp + "wo", s_.d_model, s_.d_ff, false), s_.act)
                          : nn::MLP(reader_.linear(ffp + "wi", s_.d_ff, s_.d_model, false),
                                    reader_.linear(ffp + "wo", s_.d_model, s_.d_ff, false), s_.act);
    return T5Block{std::move(self_norm), std::move(self), std::move(cross_norm), std::move(cross), std::move(ff_norm),
                   std::move(ff)};
  }

  // [heads, n, kv_len]: table[bucket(key j - query (q_offset + i)), h].
  Tensor position_bias(const Tensor& table, bool bidirectional, int64_t q_offset, int64_t n, int64_t kv_len) const {
    Tensor bias = Tensor::empty({s_.num_heads, n, kv_len}, DType::F32);
    const float* t = table.data<float>();
    float* out = bias.data<float>();
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < kv_len; ++j) {
        const int64_t bucket = relative_bucket(j - (q_offset + i), bidirectional, s_.num_buckets, s_.max_distance);
        for (int64_t h = 0; h < s_.num_heads; ++h) out[(h * n + i) * kv_len + j] = t[bucket * s_.num_heads + h];
      }
    return bias;
  }

  T5Settings s_;
  seq2seq::ParamReader reader_;  // used while building
  nn::Embedding shared_;
  Tensor encoder_bias_, decoder_bias_;
  nn::RMSNorm encoder_norm_, decoder_norm_;
  std::vector<T5Block> encoder_, decoder_;
  nn::Linear lm_head_;
  std::vector<std::pair<std::string, Tensor>> params_;
};

}  // namespace

std::unique_ptr<Model> build_t5(const ModelSource& source, const LoadOptions& options) {
  return std::make_unique<T5ConditionalGeneration>(source, options);
}

}  // namespace octet
