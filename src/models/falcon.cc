// Falcon: three layouts chosen by config flags.
//   new_decoder_architecture (40B/180B): GQA with num_kv_heads, fused qkv grouped
//     per kv head [q.. q, k, v], ln_attn + ln_mlp feeding attention and MLP in parallel;
//   multi_query (7B): one kv head, qkv blocked [q (heads), k, v], one input_layernorm, parallel;
//   neither (RW): qkv per head [q, k, v]; parallel_attn=false adds post_attention_layernorm
//     and runs the MLP after attention.
// Rotary embeddings (rotate_half); ALiBi checkpoints are rejected.
#include "models/builders.h"
#include "models/decoder_common.h"
#include "octet/error.h"

namespace octet {

std::unique_ptr<Model> build_falcon(const ModelSource& src, const LoadOptions& options) {
  using namespace models;
  const JsonConfig& c = src.config;
  // FalconConfig defaults (transformers v4.40.2).
  const int64_t vocab = c.get_or<int64_t>("vocab_size", 65024);
  const int64_t hidden = c.get_or<int64_t>("hidden_size", 4544);
  const int64_t layers = c.get_or<int64_t>("num_hidden_layers", 32);
  const int64_t heads = c.get_or<int64_t>("num_attention_heads", 71);
  const float eps = c.get_or<float>("layer_norm_epsilon", 1e-5f);
  const bool new_arch = c.get_or<bool>("new_decoder_architecture", false);
  const bool multi_query = c.get_or<bool>("multi_query", true);
  const bool parallel = c.get_or<bool>("parallel_attn", true);
  const bool bias = c.get_or<bool>("bias", false);
  const int64_t positions = c.get_or<int64_t>("max_position_embeddings", 2048);
  const int64_t ffn = c.get_or<int64_t>("ffn_hidden_size", 4 * hidden);
  const auto act = kernels::parse_activation(c.get_or<std::string>("activation", "gelu"));
  const bool tied = c.get_or<bool>("tie_word_embeddings", true);
  // Falcon2 (later transformers) may use one norm for both branches of the new layout.
  const int64_t ln_in_parallel = c.get_or<int64_t>("num_ln_in_parallel_attn", 2);
  check(!c.get_or<bool>("alibi", false), "models",
        "{}: Falcon with alibi=true (ALiBi position bias) is not supported; only rotary Falcon models are", c.source());
  // FalconAttention: num_kv_heads unless the old layout with multi_query (then 1).
  const int64_t config_kv = c.get_or<int64_t>("num_kv_heads", heads);
  const int64_t kvh = (new_arch || !multi_query) ? config_kv : 1;
  check_heads(c, hidden, heads, kvh, 0);
  check(new_arch || kvh == 1 || kvh == heads, "models",
        "{}: the old Falcon layout needs multi_query (1 kv head) or num_kv_heads == num_attention_heads, got {}",
        c.source(), kvh);
  const int64_t d = hidden / heads;
  nn::RotaryConfig rc;
  rc.dim = d;
  rc.base = c.get_or<double>("rope_theta", 10000.0);
  rc.max_position_embeddings = positions;
  read_rope_scaling(c, rc);

  ModelInfo info = read_common_info(c);
  if (options.head) info.head = *options.head;
  if (!c.has("bos_token_id")) info.bos_token_id = 11;
  if (!c.has("eos_token_id")) info.eos_token_id = 11;
  info.vocab_size = vocab, info.hidden_size = hidden, info.num_layers = layers;
  info.num_heads = heads, info.num_kv_heads = kvh, info.max_positions = positions;

  WeightReader w(*src.weights, "transformer.");
  DecoderParts p;
  p.tokens = w.embedding("transformer.word_embeddings.weight", vocab, hidden);
  p.rotary = nn::RotaryEmbedding(rc);
  using Bias = WeightReader::Bias;
  const Bias b = bias ? Bias::Required : Bias::None;
  for (int64_t i = 0; i < layers; ++i) {
    const std::string pre = fmt::format("transformer.h.{}.", i);
    DecoderLayer l;
    if (new_arch && ln_in_parallel == 2) {
      l.layout = BlockLayout::Parallel;
      l.norm1 = Norm(w.layer_norm(pre + "ln_attn", hidden, eps), pre + "ln_attn");
      l.norm2 = Norm(w.layer_norm(pre + "ln_mlp", hidden, eps), pre + "ln_mlp");
    } else {
      l.layout = new_arch || parallel ? BlockLayout::Parallel : BlockLayout::Sequential;
      l.norm1 = Norm(w.layer_norm(pre + "input_layernorm", hidden, eps), pre + "input_layernorm");
      if (l.layout == BlockLayout::Sequential)
        l.norm2 = Norm(w.layer_norm(pre + "post_attention_layernorm", hidden, eps), pre + "post_attention_layernorm");
    }
    nn::AttentionConfig ac = causal_attention(hidden, heads, kvh, 0);
    // Blocked [q, k, v] only for multi-query in the old layout; else grouped per kv head.
    ac.qkv_layout = (!new_arch && multi_query) ? nn::QkvLayout::Blocked : nn::QkvLayout::Grouped;
    nn::Linear qkv = w.linear(pre + "self_attention.query_key_value", (heads + 2 * kvh) * d, hidden, b);
    nn::Linear dense = w.linear(pre + "self_attention.dense", hidden, hidden, b);
    l.attention.emplace(ac, std::move(qkv), std::move(dense));
    l.attention->set_rotary(p.rotary);
    l.attention->set_name(pre + "self_attention");
    nn::Linear up = w.linear(pre + "mlp.dense_h_to_4h", ffn, hidden, b);
    nn::Linear down = w.linear(pre + "mlp.dense_4h_to_h", hidden, ffn, b);
    l.mlp.emplace(std::move(up), std::move(down), act);
    l.name_residuals(pre + "self_attention", pre + "mlp");
    p.layers.push_back(std::move(l));
  }
  p.final_norm = Norm(w.layer_norm("transformer.ln_f", hidden, eps), "transformer.ln_f");
  p.lm_head = read_lm_head(w, info, "lm_head", *p.tokens, tied, false);
  p.parameters = w.take_parameters();
  p.info = std::move(info);
  return std::make_unique<DecoderModel>(std::move(p));
}

}  // namespace octet
