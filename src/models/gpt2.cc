// GPT-2: learned absolute positions, pre-norm LayerNorm blocks, fused c_attn.
// Its Conv1D layers store weights [in, out]; they are transposed to the
// Linear layout [out, in] at load (parameters() still lists them as stored).
#include "models/builders.h"
#include "models/decoder_common.h"
#include "octet/error.h"

namespace octet {

std::unique_ptr<Model> build_gpt2(const ModelSource& src, const LoadOptions& options) {
  using namespace models;
  const JsonConfig& c = src.config;
  // GPT2Config defaults (transformers v4.40.2).
  const int64_t vocab = c.get_or<int64_t>("vocab_size", 50257);
  const int64_t positions = c.get_or<int64_t>("n_positions", 1024);
  const int64_t hidden = c.get_or<int64_t>("n_embd", 768);
  const int64_t layers = c.get_or<int64_t>("n_layer", 12);
  const int64_t heads = c.get_or<int64_t>("n_head", 12);
  const int64_t inner = c.get_or<int64_t>("n_inner", 4 * hidden);
  const auto act = kernels::parse_activation(c.get_or<std::string>("activation_function", "gelu_new"));
  const float eps = c.get_or<float>("layer_norm_epsilon", 1e-5f);
  const bool scale_weights = c.get_or<bool>("scale_attn_weights", true);
  const bool scale_by_layer = c.get_or<bool>("scale_attn_by_inverse_layer_idx", false);
  const bool tied = c.get_or<bool>("tie_word_embeddings", true);
  check_heads(c, hidden, heads, heads, 0);

  ModelInfo info = read_common_info(c);
  if (options.head) info.head = *options.head;
  if (!c.has("bos_token_id")) info.bos_token_id = 50256;
  if (!c.has("eos_token_id")) info.eos_token_id = 50256;
  info.vocab_size = vocab, info.hidden_size = hidden, info.num_layers = layers;
  info.num_heads = heads, info.num_kv_heads = heads, info.max_positions = positions;

  WeightReader w(*src.weights, "transformer.");
  DecoderParts p;
  p.tokens = w.embedding("transformer.wte.weight", vocab, hidden);
  p.positions = w.embedding("transformer.wpe.weight", positions, hidden);
  const int64_t d = hidden / heads;
  for (int64_t i = 0; i < layers; ++i) {
    const std::string pre = fmt::format("transformer.h.{}.", i);
    DecoderLayer l;
    l.norm1 = Norm(w.layer_norm(pre + "ln_1", hidden, eps), pre + "ln_1");
    nn::AttentionConfig ac = causal_attention(hidden, heads, heads, 0);
    float scale = scale_weights ? 1.0f / std::sqrt(static_cast<float>(d)) : 1.0f;
    if (scale_by_layer) scale /= static_cast<float>(i + 1);
    ac.scale = scale;
    nn::Linear qkv = w.conv1d(pre + "attn.c_attn", 3 * hidden, hidden);
    nn::Linear proj = w.conv1d(pre + "attn.c_proj", hidden, hidden);
    l.attention.emplace(ac, std::move(qkv), std::move(proj));
    l.attention->set_name(pre + "attn");
    l.norm2 = Norm(w.layer_norm(pre + "ln_2", hidden, eps), pre + "ln_2");
    nn::Linear fc = w.conv1d(pre + "mlp.c_fc", inner, hidden);
    nn::Linear fc_proj = w.conv1d(pre + "mlp.c_proj", hidden, inner);
    l.mlp.emplace(std::move(fc), std::move(fc_proj), act);
    l.name_residuals(pre + "attn", pre + "mlp");
    p.layers.push_back(std::move(l));
  }
  p.final_norm = Norm(w.layer_norm("transformer.ln_f", hidden, eps), "transformer.ln_f");
  p.lm_head = read_lm_head(w, info, "lm_head", *p.tokens, tied, false);
  p.parameters = w.take_parameters();
  p.info = std::move(info);
  return std::make_unique<DecoderModel>(std::move(p));
}

}  // namespace octet
