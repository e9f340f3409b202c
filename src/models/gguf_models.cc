// GGUF files (llama.cpp): llama-architecture models mapped onto the LLaMA
// builder through the config.json llama_hf_config_from_gguf makes and a
// WeightSource that serves GGUF tensors under Hugging Face names.
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

#include "io/atomic_file.h"
#include "io/gguf_llama_names.h"
#include "models/builders.h"
#include "models/decoder_common.h"
#include "octet/error.h"
#include "octet/generate.h"
#include "octet/gguf.h"
#include "octet/gguf_model.h"
#include "octet/model.h"
#include "octet/tokenizer.h"

namespace octet {
namespace {

constexpr uint64_t kNoToken = 0xFFFFFFFFu;  // llama.cpp's "no such token" in u32 id keys

// Rows of a [n_head * d, in] projection from llama.cpp's interleaved layout
// back to transformers' half-split layout.
Tensor unpermute_rows(const Tensor& w, int64_t n_head) {
  const int64_t rows = w.dim(0), in = w.dim(1);
  Tensor out = Tensor::empty({rows, in}, DType::F32);
  const Tensor c = w.contiguous();
  const float* src = c.data<float>();
  float* dst = out.data<float>();
  for (int64_t r = 0; r < rows; ++r)
    std::memcpy(dst + r * in, src + gguf_names::gguf_row_of_hf_row(r, rows, n_head) * in, sizeof(float) * in);
  return out;
}

class GgufWeights final : public WeightSource {
 public:
  // The HF names come from the file's own tensor names, not from block_count: a file may claim
  // up to 2^24 blocks (check_config_sizes), and formatting names for every claimed block took
  // 9 s before the first missing tensor was reported (a fuzz_gguf_model timeout).
  GgufWeights(GgufFile file, int64_t heads, int64_t kv_heads, std::vector<GgmlType> resident_types = {})
      : file_(std::move(file)), heads_(heads), kv_heads_(kv_heads), resident_types_(std::move(resident_types)) {
    for (const auto& [hf, gguf] : gguf_names::kModel)
      if (file_.contains(gguf)) names_[hf] = gguf;
    for (const GgufTensorInfo& t : file_.tensors()) {
      if (!t.name.starts_with("blk.")) continue;
      const size_t dot = t.name.find('.', 4);
      if (dot == std::string::npos) continue;
      const std::string index = t.name.substr(4, dot - 4);
      // Decimal, no leading zero ("blk.01." is not block 1), at most 9 digits.
      if (index.empty() || index.size() > 9 || index.find_first_not_of("0123456789") != std::string::npos ||
          (index.size() > 1 && index[0] == '0'))
        continue;
      const std::string_view rest = std::string_view(t.name).substr(dot + 1);
      for (const auto& [hf, gguf] : gguf_names::kLayer)
        if (rest == gguf) names_[fmt::format("model.layers.{}.{}", index, hf)] = t.name;
    }
  }

  std::string describe() const override { return file_.path().string(); }
  bool contains(const std::string& name) const override { return names_.count(name) > 0; }
  // Asked by WeightReader::linear only (the embedding table and norms are read with require()).
  bool kernel_resident(const std::string& name) const override {
    const auto it = names_.find(name);
    if (it == names_.end() || name == "model.embed_tokens.weight") return false;
    const GgufTensorInfo& info = file_.tensor_info(it->second);
    return info.shape.size() == 2 &&
           std::find(resident_types_.begin(), resident_types_.end(), static_cast<GgmlType>(info.type)) != resident_types_.end();
  }
  // A kernel-resident Linear's weight as the file stores it (a zero-copy view of its blocks).
  GgufResidentLinear resident_linear(const std::string& linear) const {
    const std::string name = linear + ".weight";
    const auto it = names_.find(name);
    check(it != names_.end(), "gguf", "{}: no tensor for '{}'", describe(), name);
    const GgufTensorInfo& info = file_.tensor_info(it->second);
    return {linear, it->second, static_cast<GgmlType>(info.type), info.shape, file_.get_raw(it->second),
            permuted_heads(name)};
  }

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
    if (const int64_t heads = permuted_heads(name)) t = unpermute_rows(t, heads);
    // Biases of q/k are permuted like their rows.
    if (name.ends_with("self_attn.q_proj.bias") || name.ends_with("self_attn.k_proj.bias"))
      t = unpermute_rows(t.reshape({t.numel(), 1}), name.ends_with("q_proj.bias") ? heads_ : kv_heads_)
              .reshape({t.numel()});
    return t;
  }

 private:
  // The heads whose rows llama.cpp interleaved for its rotary (q / k projections), else 0.
  int64_t permuted_heads(const std::string& name) const {
    return name.ends_with("self_attn.q_proj.weight") ? heads_ : name.ends_with("self_attn.k_proj.weight") ? kv_heads_ : 0;
  }

  GgufFile file_;
  int64_t heads_, kv_heads_;
  std::vector<GgmlType> resident_types_;
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

namespace {

// The files Tokenizer::load() reads from a Hugging Face folder.
bool has_hf_tokenizer_files(const std::filesystem::path& dir) {
  for (const char* name : {"tokenizer.json", "vocab.txt", "vocab.json", "merges.txt", "tokenizer.model"})
    if (std::filesystem::is_regular_file(dir / name)) return true;
  return false;
}

}  // namespace

Tokenizer load_model_tokenizer(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  check(fs::exists(path), "tokenizer", "'{}' does not exist", path.string());
  if (is_gguf_file(path)) return tokenizer_from_gguf(GgufFile::open(path));
  const fs::path dir = fs::is_regular_file(path) ? path.parent_path() : path;
  // A folder made from a GGUF model (write_gguf_model_files) keeps its tokenizer as tokenizer.gguf.
  if (!has_hf_tokenizer_files(dir)) {
    check(fs::is_regular_file(dir / "tokenizer.gguf"), "tokenizer",
          "no tokenizer files in {}: looked for tokenizer.json, vocab.txt, vocab.json + merges.txt, tokenizer.model, "
          "tokenizer.gguf",
          dir.string());
    return tokenizer_from_gguf(GgufFile::open(dir / "tokenizer.gguf"));
  }
  return Tokenizer::load(dir);
}

nlohmann::json llama_hf_config_from_gguf(const GgufFile& file) {
  const std::string where = file.path().string();
  const std::string arch = file.get_or<std::string>("general.architecture", "");
  check(arch == "llama", "models", "{}: GGUF architecture '{}' is not supported (supported: llama)", where, arch);
  auto key = [](const char* k) { return "llama." + std::string(k); };
  const auto hidden = file.get<int64_t>(key("embedding_length"));
  const auto heads = file.get<int64_t>(key("attention.head_count"));
  const auto kv_heads = file.get_or<int64_t>(key("attention.head_count_kv"), heads);
  check(hidden > 0 && heads > 0, "models", "{}: embedding_length and head_count must be > 0", where);
  check(kv_heads > 0 && kv_heads <= heads && heads % kv_heads == 0, "models",
        "{}: {} attention heads cannot be shared by {} key/value heads (must divide)", where, heads, kv_heads);
  const auto head_dim = file.get_or<int64_t>(key("attention.key_length"), 0);
  check(head_dim > 0 || hidden % heads == 0, "models", "{}: embedding_length {} is not a multiple of head_count {}",
        where, hidden, heads);
  const int64_t d = head_dim > 0 ? head_dim : hidden / heads;
  const auto n_rot = file.get_or<int64_t>(key("rope.dimension_count"), d);
  check(n_rot == d, "models", "{}: rope.dimension_count {} differs from the head size {} (partial rotary)", where,
        n_rot, d);
  nlohmann::json rope_scaling = nullptr;
  const std::string scaling = file.get_or<std::string>(key("rope.scaling.type"), "none");
  if (scaling == "linear") {
    // transformers v4.40 accepts exactly these two fields.
    rope_scaling = {{"type", "linear"}, {"factor", double(file.get<float>(key("rope.scaling.factor")))}};
  } else {
    check(scaling == "none", "models", "{}: rope scaling '{}' is not supported (none, linear)", where, scaling);
  }
  check(file.contains("token_embd.weight"), "models", "{}: tensor 'token_embd.weight' missing", where);

  // LLaMA's attention_bias puts biases on q, k, v and o; Qwen2 is LLaMA with
  // q, k, v biases only. Biases are looked for in the first block.
  const bool qkv_bias = file.contains("blk.0.attn_q.bias"), o_bias = file.contains("blk.0.attn_output.bias");
  check(qkv_bias || !o_bias, "models", "{}: an attention output bias without q/k/v biases is not supported", where);
  const bool qwen2 = qkv_bias && !o_bias;
  auto token_id = [&](const char* k) -> nlohmann::json {
    const int64_t id = token_id_key(file, k);
    return id >= 0 ? nlohmann::json(id) : nlohmann::json(nullptr);
  };
  nlohmann::json c;
  c["architectures"] = {qwen2 ? "Qwen2ForCausalLM" : "LlamaForCausalLM"};
  c["model_type"] = qwen2 ? "qwen2" : "llama";
  c["hidden_act"] = "silu";
  c["hidden_size"] = hidden;
  c["intermediate_size"] = file.get<int64_t>(key("feed_forward_length"));
  c["num_hidden_layers"] = file.get<int64_t>(key("block_count"));
  c["num_attention_heads"] = heads;
  c["num_key_value_heads"] = kv_heads;
  if (head_dim > 0) c["head_dim"] = head_dim;
  c["max_position_embeddings"] = file.get_or<int64_t>(key("context_length"), 2048);
  // llama.cpp's defaults, which differ from transformers' (1e-6).
  c["rms_norm_eps"] = double(file.get_or<float>(key("attention.layer_norm_rms_epsilon"), 1e-5f));
  c["rope_theta"] = double(file.get_or<float>(key("rope.freq_base"), 10000.0f));
  c["rope_scaling"] = rope_scaling;
  // (A 0-d embedding used to throw std::out_of_range here, out of the library's error contract; fuzz_gguf_model.)
  const auto& embedding = file.tensor_info("token_embd.weight").shape;
  check(embedding.size() == 2, "models",
        "{}: tensor 'token_embd.weight' has {} dimensions, expected 2 (vocabulary x hidden)", where, embedding.size());
  c["vocab_size"] = embedding[0];
  c["tie_word_embeddings"] = !file.contains("output.weight");
  c["attention_bias"] = o_bias;
  c["mlp_bias"] = file.contains("blk.0.ffn_up.bias");
  if (qwen2) c["use_sliding_window"] = false;
  // null, not absent: transformers (and build_llama) default an absent id to 1 / 2.
  c["bos_token_id"] = token_id("tokenizer.ggml.bos_token_id");
  c["eos_token_id"] = token_id("tokenizer.ggml.eos_token_id");
  c["pad_token_id"] = token_id("tokenizer.ggml.padding_token_id");
  c["torch_dtype"] = "float32";
  return c;
}

void write_gguf_model_files(const std::filesystem::path& gguf, const std::filesystem::path& folder) {
  check(std::filesystem::is_directory(folder), "models", "'{}' is not an existing folder", folder.string());
  const GgufFile file = GgufFile::open(gguf);
  const std::string config = llama_hf_config_from_gguf(file).dump(2) + "\n";
  check(file.find("tokenizer.ggml.model") != nullptr, "models",
        "{}: no tokenizer inside (tokenizer.ggml.model missing), so no tokenizer.gguf can be written", gguf.string());
  std::vector<std::pair<std::string, GgufValue>> tokenizer_keys;
  tokenizer_keys.emplace_back("general.architecture", file.require("general.architecture"));
  for (const auto& [k, v] : file.metadata())
    if (k.starts_with("tokenizer.")) tokenizer_keys.emplace_back(k, v);
  write_gguf(folder / "tokenizer.gguf", tokenizer_keys, {});
  io::AtomicFileWriter out(folder / "config.json", "models");
  out.write(config);
  out.commit();
}

std::unique_ptr<Model> load_gguf_model(const std::filesystem::path& path, const LoadOptions& options,
                                       const std::vector<GgmlType>& resident_types,
                                       std::vector<GgufResidentLinear>* resident) {
  GgufFile file = GgufFile::open(path);
  JsonConfig config = JsonConfig::from_json(llama_hf_config_from_gguf(file), path.string());
  check_config_sizes(config);
  const models::LlamaSettings s = models::read_llama_settings(config);
  auto weights = std::make_shared<GgufWeights>(std::move(file), s.num_heads, s.num_kv_heads,
                                               resident ? resident_types : std::vector<GgmlType>{});
  auto model = build_llama(ModelSource{path, std::move(config), weights}, options);
  if (resident) {
    resident->clear();
    model->visit_linears([&](nn::Linear& l) {
      if (l.kernel_resident()) resident->push_back(weights->resident_linear(l.name()));
    });
  }
  return model;
}

std::unique_ptr<Model> load_gguf_model(const std::filesystem::path& path, const LoadOptions& options) {
  return load_gguf_model(path, options, {}, nullptr);
}

}  // namespace octet
