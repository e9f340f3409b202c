// export_gguf's metadata: the llama.* hyper-parameters and the tokenizer keys.
#include <fstream>

#include "export/gguf_export.h"
#include "octet/error.h"
#include "octet/gguf.h"
#include "text/files.h"
#include "text/loaders.h"

namespace octet::gguf_export {
namespace {

GgufValue u32(int64_t v) { return GgufValue(static_cast<uint32_t>(v)); }
GgufValue f32(double v) { return GgufValue(static_cast<float>(v)); }

void add_spm_tokenizer(Metadata& m, const std::filesystem::path& folder, int64_t vocab_rows) {
  const std::filesystem::path file = folder / "tokenizer.model";
  const std::string bytes = text::read_file(file);
  // The settings Tokenizer::load takes from tokenizer_config.json, so the GGUF's add_bos / add_eos
  // are what octet itself does with the folder (a non-bool value is an error there and here).
  const SentencePieceOptions base = text::sentencepiece_options(text::read_hf_config(folder));
  const text::SentencePieceFile spm = text::parse_sentencepiece_model(bytes, file.string(), base);
  const text::PieceTable& t = spm.table;
  check(int64_t(t.pieces.size()) == vocab_rows, "export",
        "{}: {} tokenizer pieces but the embedding has {} rows; llama.cpp needs them equal", file.string(),
        t.pieces.size(), vocab_rows);
  GgufArray tokens{GgufType::String, {}}, scores{GgufType::F32, {}}, types{GgufType::I32, {}};
  for (size_t i = 0; i < t.pieces.size(); ++i) {
    tokens.items.emplace_back(t.pieces[i]);
    scores.items.emplace_back(t.scores[i]);
    types.items.emplace_back(static_cast<int32_t>(t.types[i]));
  }
  const SentencePieceOptions& o = spm.options;
  m.emplace_back("tokenizer.ggml.model", GgufValue(std::string("llama")));
  m.emplace_back("tokenizer.ggml.tokens", GgufValue(std::move(tokens)));
  m.emplace_back("tokenizer.ggml.scores", GgufValue(std::move(scores)));
  m.emplace_back("tokenizer.ggml.token_type", GgufValue(std::move(types)));
  if (o.bos_id) m.emplace_back("tokenizer.ggml.bos_token_id", u32(*o.bos_id));
  if (o.eos_id) m.emplace_back("tokenizer.ggml.eos_token_id", u32(*o.eos_id));
  m.emplace_back("tokenizer.ggml.unknown_token_id", u32(t.unk_id));
  if (o.pad_id) m.emplace_back("tokenizer.ggml.padding_token_id", u32(*o.pad_id));
  m.emplace_back("tokenizer.ggml.add_bos_token", GgufValue(o.add_bos));
  m.emplace_back("tokenizer.ggml.add_eos_token", GgufValue(o.add_eos));
  m.emplace_back("tokenizer.ggml.add_space_prefix", GgufValue(o.add_dummy_prefix));
}

void add_gguf_tokenizer(Metadata& m, const std::filesystem::path& gguf, int64_t vocab_rows) {
  const GgufFile f = GgufFile::open(gguf);
  check(f.find("tokenizer.ggml.model") != nullptr, "export", "{}: no tokenizer inside (tokenizer.ggml.model missing)",
        gguf.string());
  const std::string kind = f.get_string("tokenizer.ggml.model");
  check(kind == "llama", "export", "{}: tokenizer.ggml.model '{}' is not exported (llama SentencePiece only)",
        gguf.string(), kind);
  const size_t n = f.get_array("tokenizer.ggml.tokens").items.size();
  check(int64_t(n) == vocab_rows, "export", "{}: {} tokens but the embedding has {} rows; llama.cpp needs them equal",
        gguf.string(), n, vocab_rows);
  for (const auto& [k, v] : f.metadata())
    if (k.starts_with("tokenizer.")) m.emplace_back(k, v);
}

}  // namespace

Metadata llama_metadata(const models::LlamaSettings& s, const std::string& name, GgufExportType type) {
  const int64_t d = s.head_dim > 0 ? s.head_dim : s.hidden_size / s.num_heads;
  // llama_ftype: MOSTLY_F16 1, MOSTLY_Q4_0 2, MOSTLY_Q8_0 7, MOSTLY_Q4_K_M 15.
  const uint32_t file_type = type == GgufExportType::F16    ? 1
                             : type == GgufExportType::Q4_0 ? 2
                             : type == GgufExportType::Q8_0 ? 7
                                                            : 15;
  Metadata m;
  m.emplace_back("general.architecture", GgufValue(std::string("llama")));
  m.emplace_back("general.name", GgufValue(name));
  m.emplace_back("general.file_type", GgufValue(file_type));
  m.emplace_back("general.quantization_version", GgufValue(uint32_t{2}));
  m.emplace_back("llama.vocab_size", u32(s.vocab_size));
  m.emplace_back("llama.context_length", u32(s.max_position_embeddings));
  m.emplace_back("llama.embedding_length", u32(s.hidden_size));
  m.emplace_back("llama.block_count", u32(s.num_layers));
  m.emplace_back("llama.feed_forward_length", u32(s.intermediate_size));
  m.emplace_back("llama.attention.head_count", u32(s.num_heads));
  m.emplace_back("llama.attention.head_count_kv", u32(s.num_kv_heads));
  m.emplace_back("llama.rope.freq_base", f32(s.rotary.base));
  m.emplace_back("llama.attention.layer_norm_rms_epsilon", f32(s.rms_norm_eps));
  m.emplace_back("llama.rope.dimension_count", u32(d));
  if (s.head_dim > 0 && s.head_dim * s.num_heads != s.hidden_size) {
    m.emplace_back("llama.attention.key_length", u32(d));
    m.emplace_back("llama.attention.value_length", u32(d));
  }
  if (s.rotary.scaling == nn::RopeScaling::Linear) {
    m.emplace_back("llama.rope.scaling.type", GgufValue(std::string("linear")));
    m.emplace_back("llama.rope.scaling.factor", f32(s.rotary.factor));
  }
  return m;
}

void add_tokenizer(Metadata& m, const std::filesystem::path& model, const std::string& kind, int64_t vocab_rows) {
  namespace fs = std::filesystem;
  if (kind == "gguf") return add_gguf_tokenizer(m, model, vocab_rows);
  if (is_gguf_file(model / "tokenizer.gguf"))
    return add_gguf_tokenizer(m, model / "tokenizer.gguf", vocab_rows);
  check(fs::is_regular_file(model / "tokenizer.model"), "export",
        "{}: no tokenizer.model (SentencePiece) or tokenizer.gguf: octet's GGUF export writes llama "
        "(SentencePiece) tokenizers only",
        model.string());
  add_spm_tokenizer(m, model, vocab_rows);
}

}  // namespace octet::gguf_export
