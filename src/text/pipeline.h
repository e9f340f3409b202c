// The parts a Tokenizer is assembled from, shared by the loaders
// (tokenizer_json.cc, hf_files.cc, sentencepiece_file.cc, presets.cc) and
// the encode/decode code in tokenizer.cc.
#pragma once

#include <memory>
#include <optional>
#include <unordered_set>
#include <vector>

#include "octet/tokenizer.h"
#include "text/added_vocab.h"
#include "text/decoder.h"
#include "text/model.h"
#include "text/normalizer.h"
#include "text/pre_tokenizer.h"

namespace octet::text {

// One element of a post-processing template: a sequence or a special token.
struct TemplatePiece {
  enum class Kind { First, Second, Special };
  Kind kind = Kind::First;
  int64_t type_id = 0;
  std::vector<int32_t> ids;  // for Special
};

struct PostTemplate {
  std::vector<TemplatePiece> single = {{TemplatePiece::Kind::First, 0, {}}};
  std::vector<TemplatePiece> pair = {{TemplatePiece::Kind::First, 0, {}}, {TemplatePiece::Kind::Second, 1, {}}};
  size_t added(bool is_pair) const;
};

// "[CLS] $A [SEP]" / "[CLS] $A [SEP] $B:1 [SEP]:1" (BERT, and ids 0/1 for the pair).
PostTemplate bert_template(int32_t cls, int32_t sep);
// "<s> $A </s>" / "<s> $A </s> </s> $B </s>", all type id 0 (RoBERTa has one token type).
PostTemplate roberta_template(int32_t cls, int32_t sep);
// "[bos] $A [eos]" / "[bos] $A [eos] [bos] $B:1 [eos]:1" with optional bos/eos (Llama, GPT-2).
PostTemplate bos_eos_template(std::optional<int32_t> bos, std::optional<int32_t> eos);

}  // namespace octet::text

namespace octet {

struct Tokenizer::Impl {
  text::AddedVocabulary added;
  text::NormalizerPtr normalizer;     // may be null
  text::PreTokenizerPtr pre_tokenizer;  // may be null: the whole text is one word
  std::unique_ptr<text::Model> model;
  text::PostTemplate post;
  text::DecoderPtr decoder;  // null: tokens joined with ' '
  SpecialTokenIds special;
  std::unordered_set<int64_t> skip_on_decode;
  std::optional<int64_t> model_max_length;
  EncodeOptions configured;

  // Token ids of `text` without template tokens.
  std::vector<int32_t> tokenize(std::string_view text) const;
  std::string token(int64_t id) const;
  size_t vocab_size() const;
  // Marks every special added token as skipped on decode.
  void finish();
};

}  // namespace octet
