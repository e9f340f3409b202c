// GPT-J: one LayerNorm feeding attention and MLP in parallel, interleaved
// (rotate_every_two) rotary on the first rotary_dim values of each head,
// lm_head with a bias.
#include "models/builders.h"
#include "models/decoder_common.h"
#include "octet/error.h"

namespace octet {

std::unique_ptr<Model> build_gptj(const ModelSource& src, const LoadOptions& options) {
  using namespace models;
  const JsonConfig& c = src.config;
  // GPTJConfig defaults (transformers v4.40.2).
  const int64_t vocab = c.get_or<int64_t>("vocab_size", 50400);
  const int64_t positions = c.get_or<int64_t>("n_positions", 2048);
  const int64_t hidden = c.get_or<int64_t>("n_embd", 4096);
  const int64_t layers = c.get_or<int64_t>("n_layer", 28);
  const int64_t heads = c.get_or<int64_t>("n_head", 16);
  const int64_t inner = c.get_or<int64_t>("n_inner", 4 * hidden);
  const auto act = kernels::parse_activation(c.get_or<std::string>("activation_function", "gelu_new"));
  const float eps = c.get_or<float>("layer_norm_epsilon", 1e-5f);
  const bool tied = c.get_or<bool>("tie_word_embeddings", false);
  check_heads(c, hidden, heads, heads, 0);
  const int64_t d = hidden / heads;
  const int64_t rotary_dim = c.get_or<int64_t>("rotary_dim", d);
  check(rotary_dim > 0 && rotary_dim <= d && rotary_dim % 2 == 0, "models",
        "{}: rotary_dim {} must be even and at most the head size {}", c.source(), rotary_dim, d);

  ModelInfo info = read_common_info(c);
  if (options.head) info.head = *options.head;
  if (!c.has("bos_token_id")) info.bos_token_id = 50256;
  if (!c.has("eos_token_id")) info.eos_token_id = 50256;
  info.vocab_size = vocab, info.hidden_size = hidden, info.num_layers = layers;
  info.num_heads = heads, info.num_kv_heads = heads, info.max_positions = positions;

  WeightReader w(*src.weights, "transformer.");
  DecoderParts p;
  p.tokens = w.embedding("transformer.wte.weight", vocab, hidden);
  p.rotary = nn::RotaryEmbedding({.dim = rotary_dim, .base = 10000.0, .style = nn::RotaryStyle::Interleaved});
  using Bias = WeightReader::Bias;
  for (int64_t i = 0; i < layers; ++i) {
    const std::string pre = fmt::format("transformer.h.{}.", i);
    DecoderLayer l;
    l.layout = BlockLayout::Parallel;
    l.norm1 = Norm(w.layer_norm(pre + "ln_1", hidden, eps), pre + "ln_1");
    nn::Linear q = w.linear(pre + "attn.q_proj", hidden, hidden, Bias::None);
    nn::Linear k = w.linear(pre + "attn.k_proj", hidden, hidden, Bias::None);
    nn::Linear v = w.linear(pre + "attn.v_proj", hidden, hidden, Bias::None);
    nn::Linear o = w.linear(pre + "attn.out_proj", hidden, hidden, Bias::None);
    l.attention.emplace(causal_attention(hidden, heads, heads, 0), std::move(q), std::move(k), std::move(v), std::move(o));
    l.attention->set_rotary(p.rotary);
    l.attention->set_name(pre + "attn");
    nn::Linear fc_in = w.linear(pre + "mlp.fc_in", inner, hidden, Bias::Required);
    nn::Linear fc_out = w.linear(pre + "mlp.fc_out", hidden, inner, Bias::Required);
    l.mlp.emplace(std::move(fc_in), std::move(fc_out), act);
    l.name_residuals(pre + "attn", pre + "mlp");
    p.layers.push_back(std::move(l));
  }
  p.final_norm = Norm(w.layer_norm("transformer.ln_f", hidden, eps), "transformer.ln_f");
  p.lm_head = read_lm_head(w, info, "lm_head", *p.tokens, tied, true);
  p.parameters = w.take_parameters();
  p.info = std::move(info);
  return std::make_unique<DecoderModel>(std::move(p));
}

}  // namespace octet
