// Shared pieces of the encoder families (BERT, RoBERTa, XLM-R, ELECTRA,
// DistilBERT, ALBERT, DeBERTa-v2): the checkpoint tensor table, embeddings,
// the post-norm residual block with its quantization sites, the post-norm
// transformer layer, CLS heads and the Model base that validates inputs and
// runs the heads. Each family file only names tensors and wires these up.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "octet/model.h"
#include "octet/nn.h"

namespace octet::encoder {

// The checkpoint tensors a builder reads: name -> shape from config. Every
// tensor read is recorded (in order), which gives Model::parameters() and
// the tensor table `octet inspect` prints.
class WeightTable {
 public:
  // `prefix` is prepended to every name ("bert." for a head class, "" for the base model).
  WeightTable(const WeightSource& source, std::string prefix);

  const std::string& prefix() const { return prefix_; }
  // prefix + name.
  std::string full(const std::string& name) const { return prefix_ + name; }
  bool contains(const std::string& name) const;
  // Tensors named without the prefix; `absolute` reads the name as given (head tensors).
  Tensor require(const std::string& name, const Shape& shape, bool absolute = false);
  Tensor optional(const std::string& name, const Shape& shape, bool absolute = false);

  // `module` is the module path without ".weight"; the Linear is named by its full path.
  nn::Linear linear(const std::string& module, int64_t out, int64_t in, bool bias = true, bool absolute = false);
  nn::LayerNorm layer_norm(const std::string& module, int64_t size, float eps, bool absolute = false);
  nn::Embedding embedding(const std::string& module, int64_t rows, int64_t cols);

  std::vector<std::pair<std::string, Tensor>> take_parameters() { return std::move(parameters_); }

 private:
  const WeightSource& source_;
  std::string prefix_;
  std::vector<std::pair<std::string, Tensor>> parameters_;
};

// The prefix the head class uses ("bert." in BertForSequenceClassification),
// when the checkpoint has `<prefix>` + `probe`; else "" (a bare base model).
std::string detect_prefix(const WeightSource& source, const std::vector<std::string>& prefixes,
                          const std::string& probe);

// Checks that hidden_size splits into num_heads heads (a clear config error
// instead of a shape mismatch deep in a block).
void check_heads(const JsonConfig& config, int64_t hidden_size, int64_t num_heads);

// y = LayerNorm(branch + residual), with the quantization sites of a residual
// block: "<branch module>:residual" on the branch output and "<norm module>:input"
// on the sum. With no site active it is one fused add + norm.
class ResidualNorm {
 public:
  ResidualNorm(nn::LayerNorm norm, const std::string& branch_module, const std::string& norm_module);
  Tensor forward(const Tensor& branch, const Tensor& residual) const;
  void visit_sites(const std::function<void(nn::ActivationSite&)>& fn);
  const nn::LayerNorm& norm() const { return norm_; }
  const nn::ActivationSite& residual_site() const { return residual_site_; }
  const nn::ActivationSite& norm_site() const { return norm_site_; }

 private:
  nn::LayerNorm norm_;
  nn::ActivationSite residual_site_;
  nn::ActivationSite norm_site_;
};

// LayerNorm(x) with the "<norm module>:input" site.
class SitedLayerNorm {
 public:
  SitedLayerNorm(nn::LayerNorm norm, const std::string& norm_module);
  Tensor forward(const Tensor& x) const;
  void visit_sites(const std::function<void(nn::ActivationSite&)>& fn) { fn(site_); }
  const nn::LayerNorm& norm() const { return norm_; }
  const nn::ActivationSite& site() const { return site_; }

 private:
  nn::LayerNorm norm_;
  nn::ActivationSite site_;
};

// Post-norm transformer layer (BERT, ALBERT, DistilBERT):
//   a = ResidualNorm(attention(x), x);  y = ResidualNorm(mlp(a), a).
class PostNormLayer {
 public:
  PostNormLayer(nn::MultiHeadAttention attention, ResidualNorm attention_norm, nn::MLP mlp, ResidualNorm output_norm);
  Tensor forward(const Tensor& x, const nn::AttentionInputs& inputs) const;
  void visit_linears(const std::function<void(nn::Linear&)>& fn);
  void visit_sites(const std::function<void(nn::ActivationSite&)>& fn);
  void visit_attention(const std::function<void(nn::MultiHeadAttention&)>& fn) { fn(attention_); }
  const nn::MultiHeadAttention& attention() const { return attention_; }
  const ResidualNorm& attention_norm() const { return attention_norm_; }
  const nn::MLP& mlp() const { return mlp_; }
  const ResidualNorm& output_norm() const { return output_norm_; }

 private:
  nn::MultiHeadAttention attention_;
  ResidualNorm attention_norm_;
  nn::MLP mlp_;
  ResidualNorm output_norm_;
};

// Activation of a head projection: tanh (BERT pooler, RoBERTa head) or one of
// the kernels' activations (ELECTRA's gelu, DistilBERT's relu, DeBERTa's pooler_hidden_act).
struct HeadActivation {
  bool tanh = true;
  kernels::Activation act = kernels::Activation::Gelu;
  static HeadActivation parse(std::string_view hf_name);  // "tanh" or a kernels::parse_activation name
  void apply(Tensor& x) const;
};

// dense + activation on the first token ([CLS] / <s>): BERT's pooler, RoBERTa's
// classifier.dense, DistilBERT's pre_classifier, DeBERTa's ContextPooler.
struct ClsProjection {
  nn::Linear dense;
  HeadActivation activation;
  Tensor forward(const Tensor& cls) const;
};

// Embedding sums of the encoder families:
//   e = word[id] + token_type[tt] + position[pos]   (those present)
//   e = project_before_norm(e)                      (DeBERTa embed_proj)
//   e = LayerNorm(e)
//   e = project_after_norm(e)                       (ELECTRA embeddings_project, ALBERT embedding_hidden_mapping_in)
struct Embeddings {
  nn::Embedding word;
  std::optional<nn::Embedding> token_type;
  std::optional<nn::Embedding> position;
  std::optional<nn::Linear> project_before_norm;
  SitedLayerNorm norm;
  std::optional<nn::Linear> project_after_norm;

  // ids, token_types, positions: i64 [batch, seq] (token_types / positions
  // ignored when the table is absent). Out-of-range ids throw Error("models").
  Tensor forward(const Tensor& ids, const Tensor& token_types, const Tensor& positions) const;
  void visit_linears(const std::function<void(nn::Linear&)>& fn);
  void visit_sites(const std::function<void(nn::ActivationSite&)>& fn) { norm.visit_sites(fn); }
};

// Inputs after defaults and checks: all i64 [batch, seq], contiguous.
struct EncoderInputs {
  Tensor input_ids, attention_mask, token_type_ids, position_ids;
  int64_t batch = 0, seq = 0;
};

// The blocks of a post-norm encoder in execution order, for exporters
// (src/export): embeddings, then each layer (a shared layer appears once
// per use), with the family's position numbering.
struct EncoderLayout {
  const Embeddings* embeddings = nullptr;
  std::vector<const PostNormLayer*> layers;
  bool padding_aware_positions = false;  // RoBERTa: cumsum(id != pad) * (id != pad) + pad
  int64_t pad_token_id = 0;
};

// The Model base of the encoder families. A family implements encode()
// (embeddings + layers -> last_hidden_state) and default_positions(); the
// base checks inputs and runs the pooler / classifier:
//   pooled = pooler(hidden[:, 0])   (pooler_output when `pooler_is_output`)
//   logits = classifier(pooled)     (SequenceClassification)
// ELECTRA and RoBERTa's classification heads fit as pooler = classifier.dense
// (not reported), classifier = classifier.out_proj.
class EncoderModel : public Model {
 public:
  NamedTensors forward(const ModelInputs& inputs) const override;
  void visit_linears(const std::function<void(nn::Linear&)>& fn) override;
  void visit_sites(const std::function<void(nn::ActivationSite&)>& fn) override;
  void visit_attention(const std::function<void(nn::MultiHeadAttention&)>& fn) override { visit_trunk_attention(fn); }
  std::vector<std::pair<std::string, Tensor>> parameters() const override { return parameters_; }

  // The trunk's blocks for export; nullopt for families whose blocks are not
  // post-norm layers (DeBERTa's disentangled attention).
  virtual std::optional<EncoderLayout> layout() const { return std::nullopt; }
  const std::optional<ClsProjection>& pooler() const { return pooler_; }
  bool pooler_is_output() const { return pooler_is_output_; }
  const std::optional<nn::Linear>& classifier() const { return classifier_; }
  int64_t type_vocab_size() const { return type_vocab_size_; }

 protected:
  virtual Tensor encode(const EncoderInputs& inputs) const = 0;
  // position_ids when the caller gives none: 0..seq-1 by default.
  virtual Tensor default_positions(const EncoderInputs& inputs) const;
  virtual void visit_trunk_linears(const std::function<void(nn::Linear&)>& fn) = 0;
  virtual void visit_trunk_sites(const std::function<void(nn::ActivationSite&)>& fn) = 0;
  // The trunk's nn::MultiHeadAttention blocks (none for families with their own attention: DeBERTa).
  virtual void visit_trunk_attention(const std::function<void(nn::MultiHeadAttention&)>& fn) { (void)fn; }

  // Takes the parameters `table` read; call at the end of a family's constructor.
  void finish(WeightTable& table) { parameters_ = table.take_parameters(); }

  std::optional<ClsProjection> pooler_;
  bool pooler_is_output_ = false;
  std::optional<nn::Linear> classifier_;
  int64_t type_vocab_size_ = 0;  // 0: token_type_ids must be absent or zero
  int64_t position_limit_ = 0;   // rows of the position table (0: no absolute positions)
  std::vector<std::pair<std::string, Tensor>> parameters_;
};

// The first token of every row: [batch, seq, hidden] -> [batch, hidden].
Tensor first_token(const Tensor& hidden);

// x [B, S, heads * d] -> [B, heads, S, d], and back.
Tensor split_heads(const Tensor& x, int64_t heads, int64_t d);
Tensor merge_heads(const Tensor& x);

}  // namespace octet::encoder
