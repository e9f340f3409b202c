// LLaMA and its variants as flags: GQA (num_key_value_heads), Mistral's
// sliding window, Qwen2's q/k/v biases, rope_scaling, tied embeddings.
//   x += o_proj(attn(rope(q_proj(rms(x))), rope(k_proj(..)), v_proj(..)))
//   x += down_proj(act(gate_proj(rms(x))) * up_proj(rms(x)))
#include "models/builders.h"
#include "models/decoder_common.h"
#include "octet/error.h"

namespace octet::models {

LlamaSettings read_llama_settings(const JsonConfig& c) {
  const std::string type = c.get_or<std::string>("model_type", "llama");
  LlamaSettings s;
  if (type == "mistral") {
    s.intermediate_size = 14336, s.num_kv_heads = 8, s.max_position_embeddings = 4096 * 32, s.sliding_window = 4096;
  } else if (type == "qwen2") {
    s.vocab_size = 151936, s.intermediate_size = 22016, s.max_position_embeddings = 32768, s.qkv_bias = true;
  }
  s.vocab_size = c.get_or<int64_t>("vocab_size", s.vocab_size);
  s.hidden_size = c.get_or<int64_t>("hidden_size", s.hidden_size);
  s.intermediate_size = c.get_or<int64_t>("intermediate_size", s.intermediate_size);
  s.num_layers = c.get_or<int64_t>("num_hidden_layers", s.num_layers);
  s.num_heads = c.get_or<int64_t>("num_attention_heads", s.num_heads);
  // LlamaConfig and Qwen2Config: None -> num_attention_heads; MistralConfig defaults to 8.
  s.num_kv_heads = c.get_or<int64_t>("num_key_value_heads", type == "mistral" ? s.num_kv_heads : s.num_heads);
  s.head_dim = c.get_or<int64_t>("head_dim", 0);
  s.hidden_act = c.get_or<std::string>("hidden_act", s.hidden_act);
  s.max_position_embeddings = c.get_or<int64_t>("max_position_embeddings", s.max_position_embeddings);
  s.rms_norm_eps = c.get_or<float>("rms_norm_eps", s.rms_norm_eps);
  s.rotary.base = c.get_or<double>("rope_theta", 10000.0);
  read_rope_scaling(c, s.rotary);
  s.attention_bias = c.get_or<bool>("attention_bias", false);
  s.mlp_bias = c.get_or<bool>("mlp_bias", false);
  s.tie_word_embeddings = c.get_or<bool>("tie_word_embeddings", false);
  if (type == "mistral") {
    s.sliding_window = c.get_or<int64_t>("sliding_window", 0);  // null: full attention
  } else if (type == "qwen2") {
    check(!c.get_or<bool>("use_sliding_window", false), "models",
          "{}: Qwen2 with use_sliding_window=true is not supported", c.source());
  }
  check(s.sliding_window >= 0, "models", "{}: sliding_window must be >= 0", c.source());
  check_heads(c, s.hidden_size, s.num_heads, s.num_kv_heads, s.head_dim);
  return s;
}

std::unique_ptr<Model> build_llama_model(const LlamaSettings& s, ModelInfo info, const WeightSource& weights) {
  WeightReader w(weights, "model.");
  const int64_t hidden = s.hidden_size, heads = s.num_heads, kvh = s.num_kv_heads;
  const int64_t d = s.head_dim > 0 ? s.head_dim : hidden / heads, inter = s.intermediate_size;
  info.vocab_size = s.vocab_size, info.hidden_size = hidden, info.num_layers = s.num_layers;
  info.num_heads = heads, info.num_kv_heads = kvh, info.max_positions = s.max_position_embeddings;

  DecoderParts p;
  p.tokens = w.embedding("model.embed_tokens.weight", s.vocab_size, hidden);
  nn::RotaryConfig rc = s.rotary;
  rc.dim = d;
  rc.max_position_embeddings = s.max_position_embeddings;
  p.rotary = nn::RotaryEmbedding(rc);
  const auto act = kernels::parse_activation(s.hidden_act);
  using Bias = WeightReader::Bias;
  const Bias qkv_bias = s.attention_bias || s.qkv_bias ? Bias::Required : Bias::None;
  for (int64_t i = 0; i < s.num_layers; ++i) {
    const std::string pre = fmt::format("model.layers.{}.", i);
    DecoderLayer l;
    l.norm1 = Norm(w.rms_norm(pre + "input_layernorm", hidden, s.rms_norm_eps), pre + "input_layernorm");
    nn::AttentionConfig ac = causal_attention(hidden, heads, kvh, d);
    ac.sliding_window = s.sliding_window;
    // One statement per tensor: reads (and parameters()) in checkpoint order.
    nn::Linear q = w.linear(pre + "self_attn.q_proj", heads * d, hidden, qkv_bias);
    nn::Linear k = w.linear(pre + "self_attn.k_proj", kvh * d, hidden, qkv_bias);
    nn::Linear v = w.linear(pre + "self_attn.v_proj", kvh * d, hidden, qkv_bias);
    nn::Linear o = w.linear(pre + "self_attn.o_proj", hidden, heads * d, s.attention_bias ? Bias::Required : Bias::None);
    l.attention.emplace(ac, std::move(q), std::move(k), std::move(v), std::move(o));
    l.attention->set_rotary(p.rotary);
    l.attention->set_name(pre + "self_attn");
    l.norm2 = Norm(w.rms_norm(pre + "post_attention_layernorm", hidden, s.rms_norm_eps),
                   pre + "post_attention_layernorm");
    const Bias mb = s.mlp_bias ? Bias::Required : Bias::None;
    nn::Linear gate = w.linear(pre + "mlp.gate_proj", inter, hidden, mb);
    nn::Linear up = w.linear(pre + "mlp.up_proj", inter, hidden, mb);
    nn::Linear down = w.linear(pre + "mlp.down_proj", hidden, inter, mb);
    l.mlp = nn::MLP::gated(std::move(gate), std::move(up), std::move(down), act);
    l.name_residuals(pre + "self_attn", pre + "mlp");
    p.layers.push_back(std::move(l));
  }
  p.final_norm = Norm(w.rms_norm("model.norm", hidden, s.rms_norm_eps), "model.norm");
  p.lm_head = read_lm_head(w, info, "lm_head", *p.tokens, s.tie_word_embeddings, false);
  p.parameters = w.take_parameters();
  p.info = std::move(info);
  return std::make_unique<DecoderModel>(std::move(p));
}

}  // namespace octet::models

namespace octet {

std::unique_ptr<Model> build_llama(const ModelSource& src, const LoadOptions& options) {
  using namespace models;
  const LlamaSettings s = read_llama_settings(src.config);
  ModelInfo info = read_common_info(src.config);
  if (options.head) info.head = *options.head;
  const std::string type = info.model_type;
  // LlamaConfig's defaults fill absent ids; an explicit null means no such token, as in transformers.
  if (type != "qwen2" && !src.config.json().contains("bos_token_id")) info.bos_token_id = 1;
  if (type != "qwen2" && !src.config.json().contains("eos_token_id")) info.eos_token_id = 2;
  return build_llama_model(s, std::move(info), *src.weights);
}

}  // namespace octet
