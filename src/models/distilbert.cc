// DistilBERT: BERT without token types or pooler, with its own tensor names.
//
//   embeddings: word + position -> LayerNorm (eps 1e-12, fixed in HF's code)
//   layer i:    transformer.layer.{i}: attention.{q,k,v,out}_lin -> sa_layer_norm,
//               ffn.lin1 -> act -> ffn.lin2 -> output_layer_norm
//   head:       pre_classifier + ReLU on [CLS] -> classifier
#include "models/builders.h"
#include "models/encoder_common.h"
#include "octet/error.h"

namespace octet {
namespace {

// Defaults of transformers v4.40.2's DistilBertConfig.
struct DistilBertSettings {
  int64_t vocab_size = 30522;
  int64_t dim = 768;
  int64_t n_layers = 6;
  int64_t n_heads = 12;
  int64_t hidden_dim = 3072;
  std::string activation = "gelu";
  int64_t max_position_embeddings = 512;
};

// DistilBertModel hard-codes LayerNorm(eps=1e-12).
constexpr float kLayerNormEps = 1e-12f;

DistilBertSettings read_distilbert_settings(const JsonConfig& c) {
  DistilBertSettings s;
  s.vocab_size = c.get_or<int64_t>("vocab_size", s.vocab_size);
  s.dim = c.get_or<int64_t>("dim", s.dim);
  s.n_layers = c.get_or<int64_t>("n_layers", s.n_layers);
  s.n_heads = c.get_or<int64_t>("n_heads", s.n_heads);
  s.hidden_dim = c.get_or<int64_t>("hidden_dim", 4 * s.dim);
  s.activation = c.get_or<std::string>("activation", s.activation);
  s.max_position_embeddings = c.get_or<int64_t>("max_position_embeddings", s.max_position_embeddings);
  check(s.n_layers > 0 && s.hidden_dim > 0 && s.vocab_size > 0 && s.max_position_embeddings > 0, "config",
        "{}: n_layers, hidden_dim, vocab_size and max_position_embeddings must be > 0", c.source());
  encoder::check_heads(c, s.dim, s.n_heads);
  return s;
}

class DistilBertModel final : public encoder::EncoderModel {
 public:
  DistilBertModel(const ModelSource& source, const LoadOptions& options) : s_(read_distilbert_settings(source.config)) {
    info_ = read_common_info(source.config);
    if (options.head) info_.head = *options.head;
    check(info_.head != ModelHead::CausalLM, "models", "{}: distilbert has no causal-LM head", source.path.string());
    info_.vocab_size = s_.vocab_size;
    info_.hidden_size = s_.dim;
    info_.num_layers = s_.n_layers;
    info_.num_heads = info_.num_kv_heads = s_.n_heads;
    info_.max_positions = s_.max_position_embeddings;
    type_vocab_size_ = 0;
    position_limit_ = s_.max_position_embeddings;

    const WeightSource& w = *source.weights;
    encoder::WeightTable t(w, encoder::detect_prefix(w, {"distilbert."}, "embeddings.word_embeddings.weight"));
    const int64_t h = s_.dim;
    embeddings_.emplace(encoder::Embeddings{
        t.embedding("embeddings.word_embeddings", s_.vocab_size, h),
        std::nullopt,
        t.embedding("embeddings.position_embeddings", s_.max_position_embeddings, h),
        std::nullopt,
        encoder::SitedLayerNorm(t.layer_norm("embeddings.LayerNorm", h, kLayerNormEps), t.full("embeddings.LayerNorm")),
        std::nullopt,
    });
    const kernels::Activation act = kernels::parse_activation(s_.activation);
    for (int64_t i = 0; i < s_.n_layers; ++i) {
      const std::string p = fmt::format("transformer.layer.{}.", i);
      nn::AttentionConfig ac;
      ac.hidden_size = h;
      ac.num_heads = s_.n_heads;
      // Named locals: function arguments have no evaluation order, the tensor table has.
      nn::Linear q = t.linear(p + "attention.q_lin", h, h);
      nn::Linear k = t.linear(p + "attention.k_lin", h, h);
      nn::Linear v = t.linear(p + "attention.v_lin", h, h);
      nn::Linear o = t.linear(p + "attention.out_lin", h, h);
      nn::MultiHeadAttention attention(ac, std::move(q), std::move(k), std::move(v), std::move(o));
      attention.set_name(t.full(p + "attention"));
      encoder::ResidualNorm attention_norm(t.layer_norm(p + "sa_layer_norm", h, kLayerNormEps),
                                           t.full(p + "attention.out_lin"), t.full(p + "sa_layer_norm"));
      nn::Linear fc1 = t.linear(p + "ffn.lin1", s_.hidden_dim, h);
      nn::Linear fc2 = t.linear(p + "ffn.lin2", h, s_.hidden_dim);
      nn::MLP mlp(std::move(fc1), std::move(fc2), act);
      encoder::ResidualNorm output_norm(t.layer_norm(p + "output_layer_norm", h, kLayerNormEps),
                                        t.full(p + "ffn.lin2"), t.full(p + "output_layer_norm"));
      layers_.emplace_back(std::move(attention), std::move(attention_norm), std::move(mlp), std::move(output_norm));
    }
    if (info_.head == ModelHead::SequenceClassification) {
      // pre_classifier + ReLU is a hidden projection, not a pooler DistilBertModel reports.
      pooler_ = encoder::ClsProjection{t.linear("pre_classifier", h, h, true, true),
                                       encoder::HeadActivation::parse("relu")};
      classifier_ = t.linear("classifier", info_.num_labels, h, true, true);
    }
    finish(t);
  }

 protected:
  Tensor encode(const encoder::EncoderInputs& in) const override {
    Tensor x = embeddings_->forward(in.input_ids, in.token_type_ids, in.position_ids);
    nn::AttentionInputs attention;
    attention.attention_mask = in.attention_mask;
    for (const auto& layer : layers_) x = layer.forward(x, attention);
    return x;
  }
  std::optional<encoder::EncoderLayout> layout() const override {
    encoder::EncoderLayout l{&*embeddings_, {}, false, 0};
    for (const auto& layer : layers_) l.layers.push_back(&layer);
    return l;
  }
  void visit_trunk_linears(const std::function<void(nn::Linear&)>& fn) override {
    for (auto& layer : layers_) layer.visit_linears(fn);
  }
  void visit_trunk_attention(const std::function<void(nn::MultiHeadAttention&)>& fn) override {
    for (auto& layer : layers_) layer.visit_attention(fn);
  }
  void visit_trunk_sites(const std::function<void(nn::ActivationSite&)>& fn) override {
    embeddings_->visit_sites(fn);
    for (auto& layer : layers_) layer.visit_sites(fn);
  }

 private:
  DistilBertSettings s_;
  std::optional<encoder::Embeddings> embeddings_;
  std::vector<encoder::PostNormLayer> layers_;
};

}  // namespace

std::unique_ptr<Model> build_distilbert(const ModelSource& source, const LoadOptions& options) {
  return std::make_unique<DistilBertModel>(source, options);
}

}  // namespace octet
