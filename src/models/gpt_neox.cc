// GPT-NeoX (Pythia): fused query_key_value laid out per head (q, k, v of head
// 0, then head 1, ...), partial rotary (rotary_pct of each head), parallel
// residual with two norms (use_parallel_residual) or sequential blocks.
#include "models/builders.h"
#include "models/decoder_common.h"
#include "octet/error.h"

namespace octet {

std::unique_ptr<Model> build_gpt_neox(const ModelSource& src, const LoadOptions& options) {
  using namespace models;
  const JsonConfig& c = src.config;
  // GPTNeoXConfig defaults (transformers v4.40.2).
  const int64_t vocab = c.get_or<int64_t>("vocab_size", 50432);
  const int64_t hidden = c.get_or<int64_t>("hidden_size", 6144);
  const int64_t layers = c.get_or<int64_t>("num_hidden_layers", 44);
  const int64_t heads = c.get_or<int64_t>("num_attention_heads", 64);
  const int64_t inter = c.get_or<int64_t>("intermediate_size", 24576);
  const auto act = kernels::parse_activation(c.get_or<std::string>("hidden_act", "gelu"));
  const double rotary_pct = c.get_or<double>("rotary_pct", 0.25);
  const int64_t positions = c.get_or<int64_t>("max_position_embeddings", 2048);
  const float eps = c.get_or<float>("layer_norm_eps", 1e-5f);
  const bool parallel = c.get_or<bool>("use_parallel_residual", true);
  const bool bias = c.get_or<bool>("attention_bias", true);
  const bool tied = c.get_or<bool>("tie_word_embeddings", false);
  check_heads(c, hidden, heads, heads, 0);
  const int64_t d = hidden / heads;
  nn::RotaryConfig rc;
  rc.dim = static_cast<int64_t>(static_cast<double>(d) * rotary_pct);  // int(head_size * rotary_pct)
  rc.base = c.has("rope_theta") ? c.get<double>("rope_theta") : c.get_or<double>("rotary_emb_base", 10000.0);
  rc.max_position_embeddings = positions;
  read_rope_scaling(c, rc);
  check(rc.dim > 0 && rc.dim % 2 == 0, "models", "{}: rotary_pct {} of head size {} gives {} rotary dims (must be even, > 0)",
        c.source(), rotary_pct, d, rc.dim);

  ModelInfo info = read_common_info(c);
  if (options.head) info.head = *options.head;
  if (!c.has("bos_token_id")) info.bos_token_id = 0;
  if (!c.has("eos_token_id")) info.eos_token_id = 2;
  info.vocab_size = vocab, info.hidden_size = hidden, info.num_layers = layers;
  info.num_heads = heads, info.num_kv_heads = heads, info.max_positions = positions;

  WeightReader w(*src.weights, "gpt_neox.");
  DecoderParts p;
  p.tokens = w.embedding("gpt_neox.embed_in.weight", vocab, hidden);
  p.rotary = nn::RotaryEmbedding(rc);
  using Bias = WeightReader::Bias;
  const Bias ab = bias ? Bias::Required : Bias::None;
  for (int64_t i = 0; i < layers; ++i) {
    const std::string pre = fmt::format("gpt_neox.layers.{}.", i);
    DecoderLayer l;
    l.layout = parallel ? BlockLayout::Parallel : BlockLayout::Sequential;
    l.norm1 = Norm(w.layer_norm(pre + "input_layernorm", hidden, eps), pre + "input_layernorm");
    nn::AttentionConfig ac = causal_attention(hidden, heads, heads, 0);
    ac.qkv_layout = nn::QkvLayout::Grouped;
    nn::Linear qkv = w.linear(pre + "attention.query_key_value", 3 * hidden, hidden, ab);
    nn::Linear dense = w.linear(pre + "attention.dense", hidden, hidden, ab);
    l.attention.emplace(ac, std::move(qkv), std::move(dense));
    l.attention->set_rotary(p.rotary);
    l.attention->set_name(pre + "attention");
    l.norm2 = Norm(w.layer_norm(pre + "post_attention_layernorm", hidden, eps), pre + "post_attention_layernorm");
    nn::Linear up = w.linear(pre + "mlp.dense_h_to_4h", inter, hidden, Bias::Required);
    nn::Linear down = w.linear(pre + "mlp.dense_4h_to_h", hidden, inter, Bias::Required);
    l.mlp.emplace(std::move(up), std::move(down), act);
    l.name_residuals(pre + "attention", pre + "mlp");
    p.layers.push_back(std::move(l));
  }
  p.final_norm = Norm(w.layer_norm("gpt_neox.final_layer_norm", hidden, eps), "gpt_neox.final_layer_norm");
  p.lm_head = read_lm_head(w, info, "embed_out", *p.tokens, tied, false);
  p.parameters = w.take_parameters();
  p.info = std::move(info);
  return std::make_unique<DecoderModel>(std::move(p));
}

}  // namespace octet
