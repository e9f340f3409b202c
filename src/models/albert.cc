// ALBERT: factorised embeddings and one (or a few) layer groups shared across depth.
//
//   embeddings: word + token_type + position (embedding_size) -> LayerNorm
//               -> encoder.embedding_hidden_mapping_in (embedding_size -> hidden)
//   layer i:    encoder.albert_layer_groups.{g}.albert_layers.{j}, with
//               g = int(i / (num_hidden_layers / num_hidden_groups)) (HF's float division)
//               and j = 0..inner_group_num-1: attention.{query,key,value,dense,LayerNorm},
//               ffn -> act -> ffn_output -> full_layer_layer_norm
//   heads:      pooler (Linear "pooler" + tanh on [CLS]) -> classifier
//
// Shared layers are one set of blocks: visit_linears / visit_sites see each once.
#include "models/builders.h"
#include "models/encoder_common.h"
#include "octet/error.h"

namespace octet {
namespace {

// Defaults of transformers v4.40.2's AlbertConfig.
struct AlbertSettings {
  int64_t vocab_size = 30000;
  int64_t embedding_size = 128;
  int64_t hidden_size = 4096;
  int64_t num_layers = 12;
  int64_t num_groups = 1;
  int64_t num_heads = 64;
  int64_t intermediate_size = 16384;
  int64_t inner_group_num = 1;
  std::string hidden_act = "gelu_new";
  int64_t max_position_embeddings = 512;
  int64_t type_vocab_size = 2;
  float layer_norm_eps = 1e-12f;
};

AlbertSettings read_albert_settings(const JsonConfig& c) {
  AlbertSettings s;
  s.vocab_size = c.get_or<int64_t>("vocab_size", s.vocab_size);
  s.embedding_size = c.get_or<int64_t>("embedding_size", s.embedding_size);
  s.hidden_size = c.get_or<int64_t>("hidden_size", s.hidden_size);
  s.num_layers = c.get_or<int64_t>("num_hidden_layers", s.num_layers);
  s.num_groups = c.get_or<int64_t>("num_hidden_groups", s.num_groups);
  s.num_heads = c.get_or<int64_t>("num_attention_heads", s.num_heads);
  s.intermediate_size = c.get_or<int64_t>("intermediate_size", s.intermediate_size);
  s.inner_group_num = c.get_or<int64_t>("inner_group_num", s.inner_group_num);
  s.hidden_act = c.get_or<std::string>("hidden_act", s.hidden_act);
  s.max_position_embeddings = c.get_or<int64_t>("max_position_embeddings", s.max_position_embeddings);
  s.type_vocab_size = c.get_or<int64_t>("type_vocab_size", s.type_vocab_size);
  s.layer_norm_eps = c.get_or<float>("layer_norm_eps", s.layer_norm_eps);
  const auto pet = c.get_or<std::string>("position_embedding_type", "absolute");
  check(pet == "absolute", "config", "{}: position_embedding_type '{}' is not supported (only 'absolute')", c.source(),
        pet);
  check(s.num_layers > 0 && s.num_groups > 0 && s.num_groups <= s.num_layers && s.inner_group_num > 0, "config",
        "{}: need 0 < num_hidden_groups ({}) <= num_hidden_layers ({}) and inner_group_num ({}) > 0", c.source(),
        s.num_groups, s.num_layers, s.inner_group_num);
  check(s.vocab_size > 0 && s.embedding_size > 0 && s.intermediate_size > 0, "config",
        "{}: vocab_size, embedding_size and intermediate_size must be > 0", c.source());
  encoder::check_heads(c, s.hidden_size, s.num_heads);
  return s;
}

class AlbertModel final : public encoder::EncoderModel {
 public:
  AlbertModel(const ModelSource& source, const LoadOptions& options) : s_(read_albert_settings(source.config)) {
    info_ = read_common_info(source.config);
    if (options.head) info_.head = *options.head;
    check(info_.head != ModelHead::CausalLM, "models", "{}: albert has no causal-LM head", source.path.string());
    info_.vocab_size = s_.vocab_size;
    info_.hidden_size = s_.hidden_size;
    info_.num_layers = s_.num_layers;
    info_.num_heads = info_.num_kv_heads = s_.num_heads;
    info_.max_positions = s_.max_position_embeddings;
    type_vocab_size_ = s_.type_vocab_size;
    position_limit_ = s_.max_position_embeddings;

    const WeightSource& w = *source.weights;
    encoder::WeightTable t(w, encoder::detect_prefix(w, {"albert."}, "embeddings.word_embeddings.weight"));
    const int64_t e = s_.embedding_size, h = s_.hidden_size;
    // Locals in HF's order (word, token type, position) so the tensor table reads naturally.
    nn::Embedding word = t.embedding("embeddings.word_embeddings", s_.vocab_size, e);
    std::optional<nn::Embedding> token_type;
    if (s_.type_vocab_size > 0) token_type = t.embedding("embeddings.token_type_embeddings", s_.type_vocab_size, e);
    encoder::Embeddings emb{
        std::move(word),
        std::move(token_type),
        t.embedding("embeddings.position_embeddings", s_.max_position_embeddings, e),
        std::nullopt,
        encoder::SitedLayerNorm(t.layer_norm("embeddings.LayerNorm", e, s_.layer_norm_eps),
                                t.full("embeddings.LayerNorm")),
        std::nullopt,
    };
    // Always present in ALBERT, even when embedding_size == hidden_size.
    emb.project_after_norm = t.linear("encoder.embedding_hidden_mapping_in", h, e);
    embeddings_.emplace(std::move(emb));

    const kernels::Activation act = kernels::parse_activation(s_.hidden_act);
    groups_.resize(s_.num_groups);
    for (int64_t g = 0; g < s_.num_groups; ++g)
      for (int64_t j = 0; j < s_.inner_group_num; ++j) {
        const std::string p = fmt::format("encoder.albert_layer_groups.{}.albert_layers.{}.", g, j);
        nn::AttentionConfig ac;
        ac.hidden_size = h;
        ac.num_heads = s_.num_heads;
        // Named locals: function arguments have no evaluation order, the tensor table has.
        nn::Linear q = t.linear(p + "attention.query", h, h);
        nn::Linear k = t.linear(p + "attention.key", h, h);
        nn::Linear v = t.linear(p + "attention.value", h, h);
        nn::Linear o = t.linear(p + "attention.dense", h, h);
        nn::MultiHeadAttention attention(ac, std::move(q), std::move(k), std::move(v), std::move(o));
        attention.set_name(t.full(p + "attention"));
        encoder::ResidualNorm attention_norm(t.layer_norm(p + "attention.LayerNorm", h, s_.layer_norm_eps),
                                             t.full(p + "attention.dense"), t.full(p + "attention.LayerNorm"));
        nn::Linear fc1 = t.linear(p + "ffn", s_.intermediate_size, h);
        nn::Linear fc2 = t.linear(p + "ffn_output", h, s_.intermediate_size);
        nn::MLP mlp(std::move(fc1), std::move(fc2), act);
        encoder::ResidualNorm output_norm(t.layer_norm(p + "full_layer_layer_norm", h, s_.layer_norm_eps),
                                          t.full(p + "ffn_output"), t.full(p + "full_layer_layer_norm"));
        groups_[g].emplace_back(std::move(attention), std::move(attention_norm), std::move(mlp),
                                std::move(output_norm));
      }
    // AlbertModel always builds its pooler; the classifier reads the pooled [CLS].
    const bool classify = info_.head == ModelHead::SequenceClassification;
    if (classify || t.contains("pooler.weight")) {
      pooler_ = encoder::ClsProjection{t.linear("pooler", h, h), {}};
      pooler_is_output_ = true;
    }
    if (classify) classifier_ = t.linear("classifier", info_.num_labels, h, true, true);
    finish(t);
  }

 protected:
  Tensor encode(const encoder::EncoderInputs& in) const override {
    Tensor x = embeddings_->forward(in.input_ids, in.token_type_ids, in.position_ids);
    nn::AttentionInputs attention;
    attention.attention_mask = in.attention_mask;
    const double layers_per_group = double(s_.num_layers) / double(s_.num_groups);
    for (int64_t i = 0; i < s_.num_layers; ++i) {
      const auto g = static_cast<size_t>(double(i) / layers_per_group);
      for (const auto& layer : groups_[g]) x = layer.forward(x, attention);
    }
    return x;
  }
  // Shared layers appear once per use, in encode()'s order.
  std::optional<encoder::EncoderLayout> layout() const override {
    encoder::EncoderLayout l{&*embeddings_, {}, false, 0};
    const double layers_per_group = double(s_.num_layers) / double(s_.num_groups);
    for (int64_t i = 0; i < s_.num_layers; ++i)
      for (const auto& layer : groups_[static_cast<size_t>(double(i) / layers_per_group)]) l.layers.push_back(&layer);
    return l;
  }
  void visit_trunk_linears(const std::function<void(nn::Linear&)>& fn) override {
    embeddings_->visit_linears(fn);
    for (auto& group : groups_)
      for (auto& layer : group) layer.visit_linears(fn);
  }
  void visit_trunk_attention(const std::function<void(nn::MultiHeadAttention&)>& fn) override {
    for (auto& group : groups_)
      for (auto& layer : group) layer.visit_attention(fn);
  }
  void visit_trunk_sites(const std::function<void(nn::ActivationSite&)>& fn) override {
    embeddings_->visit_sites(fn);
    for (auto& group : groups_)
      for (auto& layer : group) layer.visit_sites(fn);
  }

 private:
  AlbertSettings s_;
  std::optional<encoder::Embeddings> embeddings_;
  std::vector<std::vector<encoder::PostNormLayer>> groups_;
};

}  // namespace

std::unique_ptr<Model> build_albert(const ModelSource& source, const LoadOptions& options) {
  return std::make_unique<AlbertModel>(source, options);
}

}  // namespace octet
