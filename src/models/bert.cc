// The BERT family: BERT, RoBERTa, XLM-RoBERTa and ELECTRA, as flags of one builder.
//
//   embeddings: word + token_type + position -> LayerNorm (-> embeddings_project, ELECTRA)
//   layer i:    post-norm self-attention + GELU MLP (encoder.layer.{i}.*)
//   heads:      BERT: pooler (dense + tanh on [CLS]) -> classifier
//               RoBERTa / XLM-R: classifier.dense + tanh -> classifier.out_proj on <s>
//               ELECTRA: classifier.dense + gelu -> classifier.out_proj on [CLS]
//
// RoBERTa's positions are padding-aware: cumsum(id != pad) * (id != pad) + pad
// (HF create_position_ids_from_input_ids), so the table has pad + 1 extra rows.
#include "models/builders.h"
#include "models/encoder_common.h"
#include "octet/error.h"

namespace octet {
namespace {

enum class Variant { Bert, Roberta, Electra };

// Hyper-parameters with the defaults of transformers v4.40.2's BertConfig,
// RobertaConfig / XLMRobertaConfig and ElectraConfig.
struct BertSettings {
  Variant variant = Variant::Bert;
  int64_t vocab_size = 30522;
  int64_t hidden_size = 768;
  int64_t embedding_size = 768;  // ELECTRA: embedding_size (default 128)
  int64_t num_layers = 12;
  int64_t num_heads = 12;
  int64_t intermediate_size = 3072;
  std::string hidden_act = "gelu";
  int64_t max_position_embeddings = 512;
  int64_t type_vocab_size = 2;
  float layer_norm_eps = 1e-12f;
  int64_t pad_token_id = 0;
};

BertSettings read_bert_settings(const JsonConfig& c, Variant variant) {
  BertSettings s;
  s.variant = variant;
  const bool electra = variant == Variant::Electra;
  s.vocab_size = c.get_or<int64_t>("vocab_size", 30522);
  s.hidden_size = c.get_or<int64_t>("hidden_size", electra ? 256 : 768);
  s.embedding_size = electra ? c.get_or<int64_t>("embedding_size", 128) : s.hidden_size;
  s.num_layers = c.get_or<int64_t>("num_hidden_layers", 12);
  s.num_heads = c.get_or<int64_t>("num_attention_heads", electra ? 4 : 12);
  s.intermediate_size = c.get_or<int64_t>("intermediate_size", electra ? 1024 : 3072);
  s.hidden_act = c.get_or<std::string>("hidden_act", "gelu");
  s.max_position_embeddings = c.get_or<int64_t>("max_position_embeddings", 512);
  s.type_vocab_size = c.get_or<int64_t>("type_vocab_size", 2);
  s.layer_norm_eps = c.get_or<float>("layer_norm_eps", 1e-12f);
  s.pad_token_id = c.get_or<int64_t>("pad_token_id", variant == Variant::Roberta ? 1 : 0);
  const auto pet = c.get_or<std::string>("position_embedding_type", "absolute");
  check(pet == "absolute", "config", "{}: position_embedding_type '{}' is not supported (only 'absolute')", c.source(),
        pet);
  check(s.num_layers > 0 && s.intermediate_size > 0 && s.vocab_size > 0 && s.embedding_size > 0, "config",
        "{}: num_hidden_layers, intermediate_size, vocab_size and embedding_size must be > 0", c.source());
  encoder::check_heads(c, s.hidden_size, s.num_heads);
  return s;
}

class BertFamilyModel final : public encoder::EncoderModel {
 public:
  BertFamilyModel(const ModelSource& source, const LoadOptions& options, Variant variant)
      : settings_(read_bert_settings(source.config, variant)) {
    const BertSettings& s = settings_;
    info_ = read_common_info(source.config);
    if (options.head) info_.head = *options.head;
    check(info_.head != ModelHead::CausalLM, "models", "{}: {} has no causal-LM head", source.path.string(),
          info_.model_type);
    info_.vocab_size = s.vocab_size;
    info_.hidden_size = s.hidden_size;
    info_.num_layers = s.num_layers;
    info_.num_heads = info_.num_kv_heads = s.num_heads;
    const bool roberta = variant == Variant::Roberta;
    // RoBERTa positions start at pad + 1.
    info_.max_positions = roberta ? s.max_position_embeddings - s.pad_token_id - 1 : s.max_position_embeddings;
    check(info_.max_positions > 0, "config", "{}: max_position_embeddings {} leaves no positions after padding_idx {}",
          source.config.source(), s.max_position_embeddings, s.pad_token_id);
    type_vocab_size_ = s.type_vocab_size;
    position_limit_ = s.max_position_embeddings;

    const WeightSource& w = *source.weights;
    const std::string family = variant == Variant::Bert ? "bert." : roberta ? "roberta." : "electra.";
    encoder::WeightTable t(w, encoder::detect_prefix(w, {family}, "embeddings.word_embeddings.weight"));
    build_embeddings(t);
    build_layers(t);
    build_heads(t);
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

  Tensor default_positions(const encoder::EncoderInputs& in) const override {
    if (settings_.variant != Variant::Roberta) return EncoderModel::default_positions(in);
    const int64_t pad = settings_.pad_token_id;
    Tensor pos = Tensor::empty({in.batch, in.seq}, DType::I64);
    const int64_t* ids = in.input_ids.data<int64_t>();
    int64_t* p = pos.data<int64_t>();
    for (int64_t b = 0; b < in.batch; ++b) {
      int64_t count = 0;
      for (int64_t s = 0; s < in.seq; ++s) {
        const bool token = ids[b * in.seq + s] != pad;
        count += token;
        p[b * in.seq + s] = (token ? count : 0) + pad;
      }
    }
    return pos;
  }

  std::optional<encoder::EncoderLayout> layout() const override {
    encoder::EncoderLayout l{&*embeddings_, {}, settings_.variant == Variant::Roberta, settings_.pad_token_id};
    for (const auto& layer : layers_) l.layers.push_back(&layer);
    return l;
  }

  void visit_trunk_linears(const std::function<void(nn::Linear&)>& fn) override {
    embeddings_->visit_linears(fn);
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
  void build_embeddings(encoder::WeightTable& t) {
    const BertSettings& s = settings_;
    const int64_t e = s.embedding_size;
    // Locals in HF's order (word, token type, position) so the tensor table reads naturally.
    nn::Embedding word = t.embedding("embeddings.word_embeddings", s.vocab_size, e);
    std::optional<nn::Embedding> token_type;
    if (s.type_vocab_size > 0) token_type = t.embedding("embeddings.token_type_embeddings", s.type_vocab_size, e);
    encoder::Embeddings emb{
        std::move(word),
        std::move(token_type),
        t.embedding("embeddings.position_embeddings", s.max_position_embeddings, e),
        std::nullopt,
        encoder::SitedLayerNorm(t.layer_norm("embeddings.LayerNorm", e, s.layer_norm_eps),
                                t.full("embeddings.LayerNorm")),
        std::nullopt,
    };
    // ELECTRA projects whenever the sizes differ (HF creates embeddings_project only then).
    if (e != s.hidden_size) emb.project_after_norm = t.linear("embeddings_project", s.hidden_size, e);
    embeddings_.emplace(std::move(emb));
  }

  void build_layers(encoder::WeightTable& t) {
    const BertSettings& s = settings_;
    const int64_t h = s.hidden_size;
    const kernels::Activation act = kernels::parse_activation(s.hidden_act);
    for (int64_t i = 0; i < s.num_layers; ++i) {
      const std::string p = fmt::format("encoder.layer.{}.", i);
      nn::AttentionConfig ac;
      ac.hidden_size = h;
      ac.num_heads = s.num_heads;
      // Named locals: function arguments have no evaluation order, the tensor table has.
      nn::Linear q = t.linear(p + "attention.self.query", h, h);
      nn::Linear k = t.linear(p + "attention.self.key", h, h);
      nn::Linear v = t.linear(p + "attention.self.value", h, h);
      nn::Linear o = t.linear(p + "attention.output.dense", h, h);
      nn::MultiHeadAttention attention(ac, std::move(q), std::move(k), std::move(v), std::move(o));
      attention.set_name(t.full(p + "attention.self"));
      encoder::ResidualNorm attention_norm(t.layer_norm(p + "attention.output.LayerNorm", h, s.layer_norm_eps),
                                           t.full(p + "attention.output.dense"),
                                           t.full(p + "attention.output.LayerNorm"));
      nn::Linear fc1 = t.linear(p + "intermediate.dense", s.intermediate_size, h);
      nn::Linear fc2 = t.linear(p + "output.dense", h, s.intermediate_size);
      nn::MLP mlp(std::move(fc1), std::move(fc2), act);
      encoder::ResidualNorm output_norm(t.layer_norm(p + "output.LayerNorm", h, s.layer_norm_eps),
                                        t.full(p + "output.dense"), t.full(p + "output.LayerNorm"));
      layers_.emplace_back(std::move(attention), std::move(attention_norm), std::move(mlp), std::move(output_norm));
    }
  }

  void build_heads(encoder::WeightTable& t) {
    const int64_t h = settings_.hidden_size, labels = info_.num_labels;
    const bool classify = info_.head == ModelHead::SequenceClassification;
    if (settings_.variant == Variant::Bert) {
      // BertModel has a pooler; BertForSequenceClassification classifies the pooled [CLS].
      if (classify || t.contains("pooler.dense.weight")) {
        pooler_ = encoder::ClsProjection{t.linear("pooler.dense", h, h), {}};
        pooler_is_output_ = true;
      }
      if (classify) classifier_ = t.linear("classifier", labels, h, true, true);
      return;
    }
    if (classify) {
      // RoBERTa: dense + tanh; ELECTRA: dense + gelu (exact); neither reports a pooler_output.
      const auto act = settings_.variant == Variant::Roberta ? encoder::HeadActivation{}
                                                             : encoder::HeadActivation::parse("gelu");
      pooler_ = encoder::ClsProjection{t.linear("classifier.dense", h, h, true, true), act};
      classifier_ = t.linear("classifier.out_proj", labels, h, true, true);
    } else if (settings_.variant == Variant::Roberta && t.contains("pooler.dense.weight")) {
      pooler_ = encoder::ClsProjection{t.linear("pooler.dense", h, h), {}};
      pooler_is_output_ = true;
    }
  }

  BertSettings settings_;
  std::optional<encoder::Embeddings> embeddings_;
  std::vector<encoder::PostNormLayer> layers_;
};

}  // namespace

std::unique_ptr<Model> build_bert(const ModelSource& source, const LoadOptions& options) {
  return std::make_unique<BertFamilyModel>(source, options, Variant::Bert);
}
std::unique_ptr<Model> build_roberta(const ModelSource& source, const LoadOptions& options) {
  return std::make_unique<BertFamilyModel>(source, options, Variant::Roberta);
}
std::unique_ptr<Model> build_electra(const ModelSource& source, const LoadOptions& options) {
  return std::make_unique<BertFamilyModel>(source, options, Variant::Electra);
}

}  // namespace octet
