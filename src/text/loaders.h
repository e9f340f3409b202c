// File formats -> pipelines (tokenizer_json.cc, hf_files.cc, sentencepiece_file.cc).
#pragma once

#include <filesystem>
#include <memory>
#include <string_view>

#include <nlohmann/json.hpp>

#include "text/pipeline.h"

namespace octet::text {

// tokenizer.json (the tokenizers library's format).
std::shared_ptr<Tokenizer::Impl> parse_tokenizer_json(std::string_view text, std::string_view origin);

// tokenizer_config.json and special_tokens_map.json of a folder ({} when absent).
struct HfConfig {
  nlohmann::json tokenizer_config = nlohmann::json::object();
  nlohmann::json special_tokens_map = nlohmann::json::object();
  // A special token ("unk_token", ...): special_tokens_map.json first, then tokenizer_config.json.
  std::optional<std::string> token(std::string_view key) const;
};
HfConfig read_hf_config(const std::filesystem::path& folder);
// Special ids and model_max_length from the config, where it names them.
void apply_hf_config(Tokenizer::Impl& impl, const HfConfig& config);
// The SentencePiece settings tokenizer_config.json makes (add_bos_token, add_eos_token,
// legacy; T5 classes add EOS, not BOS), as Tokenizer::load applies them: a value that is
// not a bool (or null) is an Error naming the key.
SentencePieceOptions sentencepiece_options(const HfConfig& config);

// tokenizer.model: pieces plus the model's own settings merged into `options`
// (algorithm, unk/bos/eos/pad ids, byte fallback, normalizer flags).
struct SentencePieceFile {
  PieceTable table;
  SentencePieceOptions options;
};
SentencePieceFile parse_sentencepiece_model(std::string_view bytes, std::string_view origin,
                                            const SentencePieceOptions& base);

}  // namespace octet::text
