// Tokenizer: text <-> token ids for the models octet runs.
//
// Loads Hugging Face tokenizer files (tokenizer.json; else vocab.txt for
// WordPiece, vocab.json + merges.txt for byte-level BPE, tokenizer.model for
// SentencePiece) or in-memory tables (GGUF), and reproduces what transformers'
// tokenizers produce: ids, tokens, token type ids, special-token templates,
// truncation, padding and decoding.
//
//   auto tok = octet::Tokenizer::load("models/sst2-bert-mini");
//   octet::Encoding e = tok.encode("it 's a charming journey .");
//   octet::BatchEncoding b = tok.encode_batch(sentences, {.padding = octet::Padding::Longest});
//
// Every failure (missing or malformed files, unknown ids) throws
// octet::Error tagged "tokenizer". A Tokenizer is immutable and cheap to copy;
// its methods may be called from several threads at once.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "octet/tensor.h"
#include "octet/tokenizer_options.h"

namespace octet {

// One encoded sequence (or pair). All vectors have the same length.
struct Encoding {
  std::vector<int64_t> ids;
  std::vector<int64_t> type_ids;        // 0 for the first sequence, 1 for the second (per template)
  std::vector<int64_t> attention_mask;  // 1 for tokens, 0 for padding
  std::vector<int64_t> special_tokens_mask;  // 1 for template-added special tokens and padding
  std::vector<std::string> tokens;
  size_t size() const { return ids.size(); }
};

enum class Truncation {
  None,
  LongestFirst,  // drop one token at a time from the longer sequence (the second on ties)
  OnlyFirst,
  OnlySecond,
};
enum class Padding {
  None,
  Longest,    // to the longest sequence of the batch (a no-op for one sequence)
  MaxLength,  // to EncodeOptions::max_length
};
enum class Side { Right, Left };

struct EncodeOptions {
  bool add_special_tokens = true;
  // Length limit including special tokens; used by truncation and Padding::MaxLength.
  std::optional<int64_t> max_length = std::nullopt;
  Truncation truncation = Truncation::None;
  Side truncation_side = Side::Right;
  Padding padding = Padding::None;
  Side padding_side = Side::Right;
  std::optional<int64_t> pad_to_multiple_of = std::nullopt;
  std::optional<int64_t> pad_id = std::nullopt;  // overrides the tokenizer's pad token (GPT-2 and Llama have none)
};

// A padded batch: int64 tensors of shape [batch, length].
struct BatchEncoding {
  Tensor input_ids;
  Tensor attention_mask;
  Tensor token_type_ids;
  std::vector<Encoding> encodings;  // padded, one per input
};

struct SpecialTokenIds {
  std::optional<int64_t> pad, cls, sep, bos, eos, unk, mask;
};

class Tokenizer {
 public:
  // A folder (tokenizer.json, else vocab.txt, else vocab.json + merges.txt,
  // else tokenizer.model; options from tokenizer_config.json and
  // special_tokens_map.json) or one of those files.
  static Tokenizer load(const std::filesystem::path& folder_or_file);
  static Tokenizer from_tokenizer_json(const std::filesystem::path& file);
  // `json` is tokenizer.json's text; `origin` names it in error messages.
  static Tokenizer from_tokenizer_json_text(std::string_view json, std::string_view origin = "tokenizer.json");
  static Tokenizer from_wordpiece_vocab_file(const std::filesystem::path& vocab_txt, const WordPieceOptions& options = {});
  static Tokenizer from_bpe_files(const std::filesystem::path& vocab_json, const std::filesystem::path& merges_txt,
                                  const BpeOptions& options = {});
  static Tokenizer from_sentencepiece_model(const std::filesystem::path& tokenizer_model,
                                            const SentencePieceOptions& options = {});

  // In-memory tables: token i has id i.
  static Tokenizer from_wordpiece(std::vector<std::string> vocab, const WordPieceOptions& options = {});
  // merges in rank order, each a (left, right) pair of tokens.
  static Tokenizer from_bpe(std::vector<std::string> vocab, std::vector<std::pair<std::string, std::string>> merges,
                            const BpeOptions& options = {});
  // token_types use SentencePiece's numbering: 1 normal, 2 unknown, 3 control,
  // 4 user-defined, 5 unused, 6 byte (as GGUF's tokenizer.ggml.token_type).
  static Tokenizer from_sentencepiece_vocab(std::vector<std::string> pieces, std::vector<float> scores,
                                            std::vector<int32_t> token_types, const SentencePieceOptions& options = {});

  Encoding encode(std::string_view text, const EncodeOptions& options = {}) const;
  Encoding encode_pair(std::string_view first, std::string_view second, const EncodeOptions& options = {}) const;
  // Always padded (to the longest, or to max_length with Padding::MaxLength).
  BatchEncoding encode_batch(std::span<const std::string> texts, const EncodeOptions& options = {}) const;
  BatchEncoding encode_batch(std::span<const std::string> first, std::span<const std::string> second,
                             const EncodeOptions& options = {}) const;

  // Ids back to text; special tokens (added tokens marked special, unk,
  // control pieces) are left out when skip_special_tokens.
  std::string decode(std::span<const int64_t> ids, bool skip_special_tokens = true) const;

  // -1 when the token is unknown.
  int64_t token_to_id(std::string_view token) const;
  // Throws for an id outside [0, vocab_size()).
  std::string id_to_token(int64_t id) const;
  size_t vocab_size() const;
  bool is_special(int64_t id) const;
  const SpecialTokenIds& special_ids() const;
  // Number of tokens the template adds around one sequence or a pair.
  size_t num_special_tokens(bool pair) const;
  // tokenizer_config.json's model_max_length, when given.
  std::optional<int64_t> model_max_length() const;
  // The truncation/padding tokenizer.json asks for (not applied by encode()).
  const EncodeOptions& configured_options() const;

  // Internal: the assembled pipeline (src/text/pipeline.h), built by the loaders.
  struct Impl;
  explicit Tokenizer(std::shared_ptr<const Impl> impl);

 private:
  std::shared_ptr<const Impl> impl_;
};

}  // namespace octet
