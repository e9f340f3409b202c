// Tokenizer models: turn one pre-tokenized word into token ids.
//
// WordPiece (BERT), rank-based BPE (GPT-2 / tokenizer.json, optionally with
// byte fallback), and the two SentencePiece algorithms working from pieces and
// scores: score-driven BPE (Llama, what llama.cpp's SPM tokenizer does) and
// Unigram (Viterbi). All are built from in-memory tables, so files, GGUF
// arrays and tests share one code path.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "text/vocab.h"

namespace octet::text {

class Model {
 public:
  explicit Model(Vocab vocab) : vocab_(std::move(vocab)) {}
  virtual ~Model() = default;
  // Appends the ids of `word` to `ids`.
  virtual void tokenize(std::string_view word, std::vector<int32_t>& ids) const = 0;
  const Vocab& vocab() const { return vocab_; }

 protected:
  Vocab vocab_;
};

struct WordPieceConfig {
  std::string unk_token = "[UNK]";
  std::string continuing_subword_prefix = "##";
  size_t max_input_chars_per_word = 100;
};
// Throws Error("tokenizer") when unk_token is not in the vocab.
std::unique_ptr<Model> make_wordpiece_model(Vocab vocab, const WordPieceConfig& config);

struct BpeConfig {
  std::optional<std::string> unk_token;
  std::string continuing_subword_prefix;
  std::string end_of_word_suffix;
  bool fuse_unk = false;       // consecutive unknown chars become one unk
  bool byte_fallback = false;  // unknown chars become <0xNN> tokens
  bool ignore_merges = false;  // a word found whole in the vocab is not split
};
using MergeList = std::vector<std::pair<std::string, std::string>>;
// Merge i has rank i. Throws Error("tokenizer") naming the merge when one of
// its parts or their concatenation is not in the vocab.
std::unique_ptr<Model> make_bpe_model(Vocab vocab, const MergeList& merges, const BpeConfig& config);

// SentencePiece piece types (the same numbers as sentencepiece_model.proto and GGUF).
enum class PieceType : uint8_t { Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6 };
struct PieceTable {
  std::vector<std::string> pieces;
  std::vector<float> scores;
  std::vector<PieceType> types;
  int32_t unk_id = 0;
  bool byte_fallback = false;  // unknown text becomes <0xNN> byte pieces
};
// Both validate the table (sizes agree, unk_id in range, byte pieces present
// when byte_fallback) and throw Error("tokenizer") otherwise.
std::unique_ptr<Model> make_spm_bpe_model(PieceTable table);
std::unique_ptr<Model> make_unigram_model(PieceTable table);

// "<0x41>" -> 0x41; nullopt for anything else.
std::optional<uint8_t> parse_byte_piece(std::string_view piece);
std::string byte_piece(uint8_t byte);

}  // namespace octet::text

namespace octet::text {
// WordLevel: a word is one token, or unk_token when absent from the vocab.
std::unique_ptr<Model> make_word_level_model(Vocab vocab, const std::string& unk_token);
}  // namespace octet::text
