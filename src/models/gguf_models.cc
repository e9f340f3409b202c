// GGUF files (llama.cpp): llama-architecture models mapped onto the LLaMA
// builder through a WeightSource that serves GGUF tensors under Hugging Face
// names.
//
// Rotary layout: llama.cpp rotates adjacent pairs (2i, 2i+1) of each head
// (GPT-J style), while transformers' LLaMA rotates (i, i + d/2) (rotate_half).
// convert_hf_to_gguf.py therefore permutes the rows of q_proj / k_proj per head,
//   w.reshape(n_head, 2, d/2, in).swapaxes(1, 2)   -> gguf row h*d + 2i + j = HF row h*d + j*d/2 + i,
// and files converted from Meta / llama2.c checkpoints are in that layout
// natively. Loading un-permutes attn_q / attn_k back (HF row h*d + j*d/2 + i
// = gguf row h*d + 2i + j), so the model is exactly the HF one: HF names, HF
// layouts, rotate_half rotary. (Rotating the gguf rows with interleaved rotary
// would give the same attention scores: q.k is invariant under one
// permutation applied to both.)
#include <algorithm>
#include <cstring>
#include <map>

#include "models/decoder_common.h"
#include "octet/error.h"
#include "octet/gguf.h"
#include "octet/model.h"

namespace octet {
namespace {

constexpr uint64_t kNoToken = 0xFFFFFFFFu;  // llama.cpp's "no such token" in u32 id keys

// Rows of a [n_head * d, in] projection from llama.cpp's interleaved layout
// back to transformers' half-split layout.
Tensor unpermute_rows(const Tensor& w, int64_t n_head) {
  const int64_t rows = w.dim(0), in = w.dim(1), d = rows / n_head, half = d / 2;
  Tensor out = Tensor::empty({rows, in}, DType::F32);
  const float* src = w.contiguous().data<float>();
  float* dst = out.data<float>();
  for (int64_t h = 0; h < n_head; ++h)
    for (int64_t j = 0; j < 2; ++j)
      for (int64_t i = 0; i < half; ++i)
        std::memcpy(dst + (h * d + j * half + i) * in, src + (h * d + 2 * i + j) * in, sizeof(float) * in);
  return out;
}

class GgufWeights final : public WeightSource {
 public:
  GgufWeights(GgufFile file, int64_t layers, int64_t heads, int64_t kv_heads)
      : file_(std::move(file)), heads_(heads), kv_heads_(kv_heads) {
    auto map = [&](const std::string& hf, const std::string& gguf) {
      if (file_.contains(gguf)) names_[hf] = gguf;
    };
    map("model.embed_tokens.weight", "token_embd.weight");
    map("model.norm.weight", "output_norm.weight");
    map("lm_head.weight", "output.weight");
    static const std::pair<const char*, const char*> per_layer[] = {
        {"input_layernorm.weight", "attn_norm.weight"},   {"self_attn.q_proj.weight", "attn_q.weight"},
        {"self_attn.k_proj.weight", "attn_k.weight"},     {"self_attn.v_proj.weight", "attn_v.weight"},
        {"self_attn.o_proj.weight", "attn_output.weight"}, {"self_attn.q_proj.bias", "attn_q.bias"},
        {"self_attn.k_proj.bias", "attn_k.bias"},         {"self_attn.v_proj.bias", "attn_v.bias"},
        {"post_attention_layernorm.weight", "ffn_norm.weight"}, {"mlp.gate_proj.weight", "ffn_gate.weight"},
        {"mlp.up_proj.weight", "ffn_up.weight"},          {"mlp.down_proj.weight", "ffn_down.weight"},
    };
    for (int64_t i = 0; i < layers; ++i)
      for (const auto& [hf, gguf] : per_layer)
        map(fmt::format("model.layers.{}.{}", i, hf), fmt::format("blk.{}.{}", i, gguf));
  }

  std::string describe() const override { return file_.path().string(); }
  bool contains(const std::string& name) const override { return names_.count(name) > 0; }
  std::vector<std::string> names() const override {
    std::vector<std::string> out;
    for (const auto& [hf, gguf] : names_) out.push_back(hf);
    return out;
  }

  Tensor require(const std::string& name, const Shape& shape) const override {
    const auto it = names_.find(name);
    check(it != names_.end(), "gguf", "{}: tensor for '{}' missing (needed by the model's hyper-parameters)",
          describe(), name);
    const GgufTensorInfo& info = file_.tensor_info(it->second);
    check(info.shape == shape, "gguf", "{}: tensor '{}' has shape {}, the hyper-parameters expect {}", describe(),
          it->second, shape_str(info.shape), shape_str(shape));
    Tensor t = file_.get_f32(it->second);
    const bool is_q = name.ends_with("self_attn.q_proj.weight"), is_k = name.ends_with("self_attn.k_proj.weight");
    if (is_q || is_k) t = unpermute_rows(t, is_q ? heads_ : kv_heads_);
    // Biases of q/k are permuted like their rows.
    if (name.ends_with("self_attn.q_proj.bias") || name.ends_with("self_attn.k_proj.bias"))
      t = unpermute_rows(t.reshape({t.numel(), 1}), name.ends_with("q_proj.bias") ? heads_ : kv_heads_)
              .reshape({t.numel()});
    return t;
  }

 private:
  GgufFile file_;
  int64_t heads_, kv_heads_;
  std::map<std::string, std::string> names_;
};

int64_t token_id_key(const GgufFile& f, const char* key) {
  const GgufValue* v = f.find(key);
  if (!v) return -1;
  const uint64_t id = v->as_u64(key);
  return id == kNoToken ? -1 : static_cast<int64_t>(id);
}

}  // namespace

std::unique_ptr<Model> load_gguf_model(const std::filesystem::path& path, const LoadOptions& options) {
  GgufFile file = GgufFile::open(path);
  const std::string arch = file.get_or<std::string>("general.architecture", "");
  check(arch == "llama", "models", "{}: GGUF architecture '{}' is not supported (supported: llama)", path.string(),
        arch);
  auto key = [&](const char* k) { return "llama." + std::string(k); };
  models::LlamaSettings s;
  s.hidden_size = file.get<int64_t>(key("embedding_length"));
  s.intermediate_size = file.get<int64_t>(key("feed_forward_length"));
  s.num_layers = file.get<int64_t>(key("block_count"));
  s.num_heads = file.get<int64_t>(key("attention.head_count"));
  s.num_kv_heads = file.get_or<int64_t>(key("attention.head_count_kv"), s.num_heads);
  s.max_position_embeddings = file.get_or<int64_t>(key("context_length"), 2048);
  s.rms_norm_eps = file.get_or<float>(key("attention.layer_norm_rms_epsilon"), 1e-5f);
  s.rotary.base = file.get_or<float>(key("rope.freq_base"), 10000.0f);
  check(s.hidden_size > 0 && s.num_heads > 0, "models", "{}: embedding_length and head_count must be > 0",
        path.string());
  check(s.num_kv_heads > 0 && s.num_kv_heads <= s.num_heads && s.num_heads % s.num_kv_heads == 0, "models",
        "{}: {} attention heads cannot be shared by {} key/value heads (must divide)", path.string(), s.num_heads,
        s.num_kv_heads);
  s.head_dim = file.get_or<int64_t>(key("attention.key_length"), 0);
  check(s.head_dim > 0 || s.hidden_size % s.num_heads == 0, "models",
        "{}: embedding_length {} is not a multiple of head_count {}", path.string(), s.hidden_size, s.num_heads);
  const int64_t d = s.head_dim > 0 ? s.head_dim : s.hidden_size / s.num_heads;
  const int64_t n_rot = file.get_or<int64_t>(key("rope.dimension_count"), d);
  check(n_rot == d, "models", "{}: rope.dimension_count {} differs from the head size {} (partial rotary)",
        path.string(), n_rot, d);
  const std::string scaling = file.get_or<std::string>(key("rope.scaling.type"), "none");
  if (scaling == "linear") {
    s.rotary.scaling = nn::RopeScaling::Linear;
    s.rotary.factor = file.get<float>(key("rope.scaling.factor"));
  } else {
    check(scaling == "none", "models", "{}: rope scaling '{}' is not supported (none, linear)", path.string(), scaling);
  }
  check(file.contains("token_embd.weight"), "models", "{}: tensor 'token_embd.weight' missing", path.string());
  s.vocab_size = file.tensor_info("token_embd.weight").shape.at(0);
  s.tie_word_embeddings = !file.contains("output.weight");
  s.qkv_bias = file.contains("blk.0.attn_q.bias");

  ModelInfo info;
  info.model_type = "llama";
  info.architecture = "LlamaForCausalLM";
  info.head = options.head.value_or(ModelHead::CausalLM);
  info.bos_token_id = token_id_key(file, "tokenizer.ggml.bos_token_id");
  info.eos_token_id = token_id_key(file, "tokenizer.ggml.eos_token_id");
  info.pad_token_id = token_id_key(file, "tokenizer.ggml.padding_token_id");
  GgufWeights weights(std::move(file), s.num_layers, s.num_heads, s.num_kv_heads);
  return models::build_llama_model(s, std::move(info), weights);
}

}  // namespace octet
