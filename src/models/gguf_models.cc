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
#include <fstream>
#include <map>
#include <optional>

#include "models/decoder_common.h"
#include "octet/error.h"
#include "octet/generate.h"
#include "octet/gguf.h"
#include "octet/model.h"
#include "octet/tokenizer.h"

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

std::optional<int64_t> optional_id(const GgufFile& f, const char* key) {
  const int64_t id = token_id_key(f, key);
  return id >= 0 ? std::optional<int64_t>(id) : std::nullopt;
}

}  // namespace

Tokenizer tokenizer_from_gguf(const GgufFile& f) {
  const std::string where = f.path().string();
  const GgufValue* model = f.find("tokenizer.ggml.model");
  check(model != nullptr, "tokenizer", "{}: no tokenizer inside (tokenizer.ggml.model missing)", where);
  const std::string kind = model->as_string("tokenizer.ggml.model");
  std::vector<std::string> tokens = f.get_string_array("tokenizer.ggml.tokens");
  std::vector<int32_t> types;
  if (const GgufValue* t = f.find("tokenizer.ggml.token_type"))
    for (int64_t v : t->as_int_list("tokenizer.ggml.token_type")) types.push_back(static_cast<int32_t>(v));
  else
    types.assign(tokens.size(), 1);
  check(types.size() == tokens.size(), "tokenizer", "{}: {} token types for {} tokens", where, types.size(),
        tokens.size());
  const GgufValue* add_bos = f.find("tokenizer.ggml.add_bos_token");
  const GgufValue* add_eos = f.find("tokenizer.ggml.add_eos_token");
  if (kind == "llama") {
    std::vector<float> scores = f.find("tokenizer.ggml.scores")
                                    ? f.find("tokenizer.ggml.scores")->as_float_list("tokenizer.ggml.scores")
                                    : std::vector<float>(tokens.size(), 0.0f);
    SentencePieceOptions o;
    o.unk_id = token_id_key(f, "tokenizer.ggml.unknown_token_id") >= 0 ? token_id_key(f, "tokenizer.ggml.unknown_token_id") : 0;
    o.bos_id = optional_id(f, "tokenizer.ggml.bos_token_id");
    o.eos_id = optional_id(f, "tokenizer.ggml.eos_token_id");
    o.pad_id = optional_id(f, "tokenizer.ggml.padding_token_id");
    o.add_bos = add_bos ? add_bos->as_bool() : true;  // llama.cpp's default for SPM vocabularies
    o.add_eos = add_eos ? add_eos->as_bool() : false;
    if (const GgufValue* v = f.find("tokenizer.ggml.add_space_prefix")) o.add_dummy_prefix = v->as_bool();
    return Tokenizer::from_sentencepiece_vocab(std::move(tokens), std::move(scores), std::move(types), o);
  }
  if (kind == "gpt2") {
    std::vector<std::pair<std::string, std::string>> merges;
    for (const std::string& m : f.get_string_array("tokenizer.ggml.merges")) {
      const size_t space = m.find(' ');
      check(space != std::string::npos && space > 0 && space + 1 < m.size(), "tokenizer",
            "{}: merge '{}' is not two tokens separated by a space", where, m);
      merges.emplace_back(m.substr(0, space), m.substr(space + 1));
    }
    BpeOptions o;
    const std::string pre = f.get_or<std::string>("tokenizer.ggml.pre", "gpt2");
    if (pre == "llama-bpe" || pre == "llama3") {
      o.split = BpeOptions::Split::Llama3, o.ignore_merges = true;
    } else if (pre == "qwen2") {
      o.split = BpeOptions::Split::Qwen2;
    } else {
      check(pre == "gpt2" || pre == "default", "tokenizer",
            "{}: tokenizer.ggml.pre '{}' is not supported (gpt2, llama-bpe, qwen2)", where, pre);
    }
    // Control and user-defined tokens match whole in the input text.
    o.special_tokens.clear();
    for (size_t i = 0; i < tokens.size(); ++i)
      if (types[i] == 3 || types[i] == 4) o.special_tokens.push_back(tokens[i]);
    auto name_of = [&](const char* key) -> std::optional<std::string> {
      const int64_t id = token_id_key(f, key);
      if (id < 0) return std::nullopt;
      check(id < int64_t(tokens.size()), "tokenizer", "{}: {} = {} is outside the vocabulary", where, key, id);
      return tokens[size_t(id)];
    };
    o.bos_token = name_of("tokenizer.ggml.bos_token_id");
    o.eos_token = name_of("tokenizer.ggml.eos_token_id");
    o.pad_token = name_of("tokenizer.ggml.padding_token_id");
    o.unk_token = name_of("tokenizer.ggml.unknown_token_id");
    o.add_bos = add_bos ? add_bos->as_bool() : false;
    return Tokenizer::from_bpe(std::move(tokens), std::move(merges), o);
  }
  fail("tokenizer", "{}: tokenizer.ggml.model '{}' is not supported (llama, gpt2)", where, kind);
}

Tokenizer load_model_tokenizer(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  check(fs::exists(path), "tokenizer", "'{}' does not exist", path.string());
  if (fs::is_regular_file(path)) {
    std::ifstream in(path, std::ios::binary);
    char magic[4] = {};
    if (in.read(magic, 4) && std::string_view(magic, 4) == "GGUF") return tokenizer_from_gguf(GgufFile::open(path));
    return Tokenizer::load(path.parent_path());
  }
  return Tokenizer::load(path);
}

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
