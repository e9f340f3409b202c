// OPT: learned positions at offset 2 (padding tokens use row 1, as OPT
// derives positions from the attention mask), ReLU MLP, pre-norm
// (do_layer_norm_before) or post-norm (OPT-350m) blocks, and project_in /
// project_out when word_embed_proj_dim differs from hidden_size.
#include "models/builders.h"
#include "models/decoder_common.h"
#include "octet/error.h"

namespace octet {

std::unique_ptr<Model> build_opt(const ModelSource& src, const LoadOptions& options) {
  using namespace models;
  const JsonConfig& c = src.config;
  // OPTConfig defaults (transformers v4.40.2).
  const int64_t vocab = c.get_or<int64_t>("vocab_size", 50272);
  const int64_t hidden = c.get_or<int64_t>("hidden_size", 768);
  const int64_t layers = c.get_or<int64_t>("num_hidden_layers", 12);
  const int64_t ffn = c.get_or<int64_t>("ffn_dim", 3072);
  const int64_t positions = c.get_or<int64_t>("max_position_embeddings", 2048);
  const int64_t heads = c.get_or<int64_t>("num_attention_heads", 12);
  const int64_t proj_dim = c.get_or<int64_t>("word_embed_proj_dim", hidden);
  const bool pre_norm = c.get_or<bool>("do_layer_norm_before", true);
  const bool remove_final_norm = c.get_or<bool>("_remove_final_layer_norm", false);
  const bool bias = c.get_or<bool>("enable_bias", true);
  const bool affine = c.get_or<bool>("layer_norm_elementwise_affine", true);
  const auto act = kernels::parse_activation(c.get_or<std::string>("activation_function", "relu"));
  const bool tied = c.get_or<bool>("tie_word_embeddings", true);
  check_heads(c, hidden, heads, heads, 0);
  constexpr float kEps = 1e-5f;  // nn.LayerNorm's default; OPT has no eps setting
  constexpr int64_t kOffset = 2;

  ModelInfo info = read_common_info(c);
  if (options.head) info.head = *options.head;
  if (!c.has("pad_token_id")) info.pad_token_id = 1;
  if (!c.has("bos_token_id")) info.bos_token_id = 2;
  if (!c.has("eos_token_id")) info.eos_token_id = 2;
  info.vocab_size = vocab, info.hidden_size = hidden, info.num_layers = layers;
  info.num_heads = heads, info.num_kv_heads = heads, info.max_positions = positions;

  WeightReader w(*src.weights, "model.");
  using Bias = WeightReader::Bias;
  const Bias b = bias ? Bias::Required : Bias::None;
  auto norm = [&](const std::string& path) {
    if (affine) return Norm(w.layer_norm(path, hidden, kEps), path);
    return Norm(nn::LayerNorm(Tensor::full({hidden}, 1.0f), Tensor::zeros({hidden}, DType::F32), kEps), path);
  };
  const std::string dec = "model.decoder.";
  DecoderParts p;
  p.tokens = w.embedding(dec + "embed_tokens.weight", vocab, proj_dim);
  p.positions = w.embedding(dec + "embed_positions.weight", positions + kOffset, hidden);
  p.position_offset = kOffset;
  p.positions_from_mask = true;
  if (proj_dim != hidden) {
    p.project_in = w.linear(dec + "project_in", hidden, proj_dim, Bias::None);
    p.project_out = w.linear(dec + "project_out", proj_dim, hidden, Bias::None);
  }
  for (int64_t i = 0; i < layers; ++i) {
    const std::string pre = fmt::format("{}layers.{}.", dec, i);
    DecoderLayer l;
    l.layout = pre_norm ? BlockLayout::Sequential : BlockLayout::PostNorm;
    l.norm1 = norm(pre + "self_attn_layer_norm");
    nn::Linear q = w.linear(pre + "self_attn.q_proj", hidden, hidden, b);
    nn::Linear k = w.linear(pre + "self_attn.k_proj", hidden, hidden, b);
    nn::Linear v = w.linear(pre + "self_attn.v_proj", hidden, hidden, b);
    nn::Linear o = w.linear(pre + "self_attn.out_proj", hidden, hidden, b);
    l.attention.emplace(causal_attention(hidden, heads, heads, 0), std::move(q), std::move(k), std::move(v), std::move(o));
    l.attention->set_name(pre + "self_attn");
    l.norm2 = norm(pre + "final_layer_norm");
    nn::Linear fc1 = w.linear(pre + "fc1", ffn, hidden, b);
    nn::Linear fc2 = w.linear(pre + "fc2", hidden, ffn, b);
    l.mlp.emplace(std::move(fc1), std::move(fc2), act);
    // OPT has no MLP module; the residual site is named after fc2's layer.
    l.name_residuals(pre + "self_attn", pre + "mlp");
    p.layers.push_back(std::move(l));
  }
  if (pre_norm && !remove_final_norm) p.final_norm = norm(dec + "final_layer_norm");
  p.lm_head = read_lm_head(w, info, "lm_head", *p.tokens, tied, false);
  p.parameters = w.take_parameters();
  p.info = std::move(info);
  return std::make_unique<DecoderModel>(std::move(p));
}

}  // namespace octet
