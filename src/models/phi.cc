// Phi (phi-1/1.5/2): one LayerNorm feeding attention and MLP in parallel,
// partial rotary (partial_rotary_factor of each head), "dense" output
// projection, optional per-head q/k LayerNorms, final_layernorm and an
// lm_head with a bias.
#include "models/builders.h"
#include "models/decoder_common.h"
#include "octet/error.h"

namespace octet {

std::unique_ptr<Model> build_phi(const ModelSource& src, const LoadOptions& options) {
  using namespace models;
  const JsonConfig& c = src.config;
  // PhiConfig defaults (transformers v4.40.2).
  const int64_t vocab = c.get_or<int64_t>("vocab_size", 51200);
  const int64_t hidden = c.get_or<int64_t>("hidden_size", 2048);
  const int64_t inter = c.get_or<int64_t>("intermediate_size", 8192);
  const int64_t layers = c.get_or<int64_t>("num_hidden_layers", 24);
  const int64_t heads = c.get_or<int64_t>("num_attention_heads", 32);
  const int64_t kvh = c.get_or<int64_t>("num_key_value_heads", heads);
  const auto act = kernels::parse_activation(c.get_or<std::string>("hidden_act", "gelu_new"));
  const int64_t positions = c.get_or<int64_t>("max_position_embeddings", 2048);
  const float eps = c.get_or<float>("layer_norm_eps", 1e-5f);
  const bool tied = c.get_or<bool>("tie_word_embeddings", false);
  const double partial = c.get_or<double>("partial_rotary_factor", 0.5);
  const bool qk_layernorm = c.get_or<bool>("qk_layernorm", false);
  check_heads(c, hidden, heads, kvh, 0);
  const int64_t d = hidden / heads;
  nn::RotaryConfig rc;
  rc.dim = static_cast<int64_t>(partial * static_cast<double>(d));  // int(partial_rotary_factor * head_dim)
  rc.base = c.get_or<double>("rope_theta", 10000.0);
  rc.max_position_embeddings = positions;
  read_rope_scaling(c, rc);
  check(rc.dim > 0 && rc.dim % 2 == 0 && rc.dim <= d, "models",
        "{}: partial_rotary_factor {} of head size {} gives {} rotary dims (must be even, > 0)", c.source(), partial, d,
        rc.dim);

  ModelInfo info = read_common_info(c);
  if (options.head) info.head = *options.head;
  if (!c.has("bos_token_id")) info.bos_token_id = 1;
  if (!c.has("eos_token_id")) info.eos_token_id = 2;
  info.vocab_size = vocab, info.hidden_size = hidden, info.num_layers = layers;
  info.num_heads = heads, info.num_kv_heads = kvh, info.max_positions = positions;

  WeightReader w(*src.weights, "model.");
  DecoderParts p;
  p.tokens = w.embedding("model.embed_tokens.weight", vocab, hidden);
  p.rotary = nn::RotaryEmbedding(rc);
  using Bias = WeightReader::Bias;
  for (int64_t i = 0; i < layers; ++i) {
    const std::string pre = fmt::format("model.layers.{}.", i);
    DecoderLayer l;
    l.layout = BlockLayout::Parallel;
    l.norm1 = Norm(w.layer_norm(pre + "input_layernorm", hidden, eps), pre + "input_layernorm");
    nn::Linear q = w.linear(pre + "self_attn.q_proj", heads * d, hidden, Bias::Required);
    nn::Linear k = w.linear(pre + "self_attn.k_proj", kvh * d, hidden, Bias::Required);
    nn::Linear v = w.linear(pre + "self_attn.v_proj", kvh * d, hidden, Bias::Required);
    nn::Linear dense = w.linear(pre + "self_attn.dense", hidden, heads * d, Bias::Required);
    l.attention.emplace(causal_attention(hidden, heads, kvh, 0), std::move(q), std::move(k), std::move(v), std::move(dense));
    if (qk_layernorm) {
      // LayerNorm over each head's values, before rotary.
      auto qn = std::make_shared<nn::LayerNorm>(w.layer_norm(pre + "self_attn.q_layernorm", d, eps));
      auto kn = std::make_shared<nn::LayerNorm>(w.layer_norm(pre + "self_attn.k_layernorm", d, eps));
      l.attention->set_query_key_transform([qn, kn](Tensor& q, Tensor& k, const nn::AttentionInputs&) {
        q = qn->forward(q);
        k = kn->forward(k);
      });
    }
    l.attention->set_rotary(p.rotary);
    l.attention->set_name(pre + "self_attn");
    nn::Linear fc1 = w.linear(pre + "mlp.fc1", inter, hidden, Bias::Required);
    nn::Linear fc2 = w.linear(pre + "mlp.fc2", hidden, inter, Bias::Required);
    l.mlp.emplace(std::move(fc1), std::move(fc2), act);
    l.name_residuals(pre + "self_attn", pre + "mlp");
    p.layers.push_back(std::move(l));
  }
  p.final_norm = Norm(w.layer_norm("model.final_layernorm", hidden, eps), "model.final_layernorm");
  p.lm_head = read_lm_head(w, info, "lm_head", *p.tokens, tied, true);
  p.parameters = w.take_parameters();
  p.info = std::move(info);
  return std::make_unique<DecoderModel>(std::move(p));
}

}  // namespace octet
