// The decoder-only trunk every causal LM family shares: token (+ learned
// position) embeddings, a stack of blocks, a final norm, the LM head. Family
// builders (llama.cc, gpt2.cc, ...) read config.json, load weights with
// WeightReader and fill DecoderParts; the variants are flags here:
//   BlockLayout  Sequential  x += attn(n1(x)); x += mlp(n2(x))       (LLaMA, GPT-2, OPT)
//                Parallel    x += attn(n1(x)) + mlp(n2 ? n2(x) : n1(x))  (GPT-J, NeoX, Falcon, Phi)
//                PostNorm    x = n1(x + attn(x)); x = n2(x + mlp(x))  (OPT-350m)
//   norms LayerNorm or RMSNorm; rotary (shared tables) or learned positions;
//   fused qkv layouts, GQA/MQA and sliding windows live in nn::AttentionConfig.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "octet/generate.h"
#include "octet/model.h"
#include "octet/nn.h"

namespace octet::models {

// Reads a builder's tensors from a WeightSource and records each one under
// its checkpoint name, as stored, for Model::parameters().
class WeightReader {
 public:
  // `base_prefix`: the prefix of the trunk's tensors in *ForCausalLM
  // checkpoints ("model.", "transformer.", ...), absent when the base model
  // class saved them; names are looked up with it, then without it.
  explicit WeightReader(const WeightSource& source, std::string base_prefix = "")
      : source_(source), base_prefix_(std::move(base_prefix)) {}

  const WeightSource& source() const { return source_; }
  bool contains(const std::string& name) const { return source_.contains(resolve(name)); }
  Tensor require(const std::string& name, const Shape& shape);
  Tensor optional(const std::string& name, const Shape& shape);

  enum class Bias { None, Optional, Required };
  // "<path>.weight" [out, in] (+ "<path>.bias" [out]) as a Linear named `path`.
  nn::Linear linear(const std::string& path, int64_t out, int64_t in, Bias bias);
  // GPT-2's Conv1D: "<path>.weight" is stored [in, out]; transposed at load.
  nn::Linear conv1d(const std::string& path, int64_t out, int64_t in);
  nn::LayerNorm layer_norm(const std::string& path, int64_t dim, float eps, bool bias = true);
  nn::RMSNorm rms_norm(const std::string& path, int64_t dim, float eps);
  nn::Embedding embedding(const std::string& name, int64_t rows, int64_t dim);

  std::vector<std::pair<std::string, Tensor>> take_parameters() { return std::move(parameters_); }

 private:
  std::string resolve(const std::string& name) const;
  const WeightSource& source_;
  std::string base_prefix_;
  std::vector<std::pair<std::string, Tensor>> parameters_;
};

// A LayerNorm or RMSNorm with its NormInput site ("<module path>:input").
class Norm {
 public:
  Norm() = default;
  Norm(nn::LayerNorm norm, const std::string& path);
  Norm(nn::RMSNorm norm, const std::string& path);

  bool defined() const { return !std::holds_alternative<std::monostate>(norm_); }
  Tensor forward(const Tensor& x) const;
  // The output's channel j divided by d_j (see nn::ChannelScaleProducer).
  void divide_channels(std::span<const float> divisors);
  int64_t channels() const;
  // The module path ("model.layers.0.input_layernorm").
  std::string path() const;
  nn::ActivationSite& input_site() { return site_; }

 private:
  std::variant<std::monostate, nn::LayerNorm, nn::RMSNorm> norm_;
  nn::ActivationSite site_{"", nn::SiteKind::NormInput};
};

enum class BlockLayout { Sequential, Parallel, PostNorm };

struct DecoderLayer {
  BlockLayout layout = BlockLayout::Sequential;
  Norm norm1;  // before attention (PostNorm: after it)
  Norm norm2;  // before the MLP (PostNorm: after it); Parallel may leave it undefined to share norm1
  std::optional<nn::MultiHeadAttention> attention;
  std::optional<nn::MLP> mlp;
  // The branch outputs added to the residual stream ("<module path>:residual").
  nn::ActivationSite attention_residual{"", nn::SiteKind::ResidualAdd};
  nn::ActivationSite mlp_residual{"", nn::SiteKind::ResidualAdd};

  // Names both residual sites from the attention and MLP module paths.
  void name_residuals(const std::string& attention_path, const std::string& mlp_path);
};

struct DecoderParts {
  ModelInfo info;
  std::optional<nn::Embedding> tokens;
  // Learned absolute positions (GPT-2, OPT): row position_offset + position id.
  // OPT (positions_from_mask) puts padding tokens at row position_offset - 1.
  std::optional<nn::Embedding> positions;
  int64_t position_offset = 0;
  bool positions_from_mask = false;
  std::optional<nn::Linear> project_in, project_out;  // OPT when word_embed_proj_dim != hidden_size
  std::vector<DecoderLayer> layers;
  Norm final_norm;
  std::optional<nn::Linear> lm_head;  // absent for a base model
  nn::RotaryEmbedding rotary;          // shared by all layers (tables computed once per call)
  std::vector<std::pair<std::string, Tensor>> parameters;
};

class DecoderModel final : public CausalLM {
 public:
  explicit DecoderModel(DecoderParts parts);

  NamedTensors forward(const ModelInputs& inputs) const override;
  Tensor forward_cached(const ModelInputs& inputs, KVCache& cache, bool last_only) const override;
  Tensor decode_ragged(std::span<const int64_t> tokens, std::span<KVCache* const> caches) const override;
  void visit_linears(const std::function<void(nn::Linear& linear)>& fn) override;
  void visit_sites(const std::function<void(nn::ActivationSite& site)>& fn) override;
  void visit_linear_groups(const std::function<void(nn::LinearInputGroup& group)>& fn) override;
  void visit_attention(const std::function<void(nn::MultiHeadAttention& attention)>& fn) override;
  std::vector<std::pair<std::string, Tensor>> parameters() const override { return p_.parameters; }

 protected:
  nn::AttentionCache make_layer_cache(int64_t layer, int64_t batch, int64_t capacity) const override;
  int64_t num_attention_layers() const override { return int64_t(p_.layers.size()); }

 private:
  // The trunk: hidden states after the final norm (and project_out).
  Tensor run(const ModelInputs& inputs, KVCache* cache) const;
  // How many sequences decode_ragged() may run in one batched step: the
  // smallest Linear::row_invariant_rows(), 1 when any site is active.
  int64_t ragged_rows() const;
  // One batched decode step of checked inputs: logits [n, vocab].
  Tensor ragged_step(std::span<const int64_t> tokens, std::span<KVCache* const> caches) const;
  DecoderParts p_;
};

// ---- helpers for the family builders ------------------------------------------

// Checks hidden/heads/kv-heads consistency; error names the config file.
void check_heads(const JsonConfig& config, int64_t hidden, int64_t heads, int64_t kv_heads, int64_t head_dim);
// A causal attention block config.
nn::AttentionConfig causal_attention(int64_t hidden, int64_t heads, int64_t kv_heads, int64_t head_dim);
// lm_head: "<name>.weight" [vocab, hidden] (+ optional bias), or tied to the
// token embedding table when `tied` (no tensor read); undefined for a base model.
std::optional<nn::Linear> read_lm_head(WeightReader& w, const ModelInfo& info, const std::string& name,
                                       const nn::Embedding& tokens, bool tied, bool bias);

}  // namespace octet::models

namespace octet::models {

// LLaMA-family settings (LlamaConfig / MistralConfig / Qwen2Config defaults of
// transformers v4.40.2); also what GGUF llama files are mapped onto.
struct LlamaSettings {
  int64_t vocab_size = 32000;
  int64_t hidden_size = 4096;
  int64_t intermediate_size = 11008;
  int64_t num_layers = 32;
  int64_t num_heads = 32;
  int64_t num_kv_heads = 32;
  int64_t head_dim = 0;  // 0: hidden_size / num_heads
  std::string hidden_act = "silu";
  int64_t max_position_embeddings = 2048;
  float rms_norm_eps = 1e-6f;
  nn::RotaryConfig rotary;  // dim filled by the builder
  bool attention_bias = false;  // q, k, v and o biases (LLaMA attention_bias)
  bool qkv_bias = false;        // q, k, v only (Qwen2)
  bool mlp_bias = false;
  bool tie_word_embeddings = false;
  int64_t sliding_window = 0;  // Mistral
};

// Reads a LLaMA / Mistral / Qwen2 config.json (model_type picks the defaults).
LlamaSettings read_llama_settings(const JsonConfig& config);
// Builds the model from HF tensor names ("model.layers.0.self_attn.q_proj.weight", ...).
std::unique_ptr<Model> build_llama_model(const LlamaSettings& s, ModelInfo info, const WeightSource& weights);

}  // namespace octet::models
