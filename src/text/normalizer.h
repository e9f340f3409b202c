// Normalizers: text -> text, applied to each stretch of text between added
// tokens before pre-tokenization.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "text/unicode.h"

namespace octet::text {

// Replaces every occurrence of `from` in `s` (left to right, not overlapping) by `to`.
void replace_all(std::string& s, std::string_view from, std::string_view to);

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  // `first`: this stretch starts the text (no added token before it).
  virtual std::string normalize(std::string_view text, bool first) const = 0;
};
using NormalizerPtr = std::unique_ptr<Normalizer>;

struct BertNormalizerConfig {
  bool clean_text = true;            // drop control chars and U+FFFD, map whitespace to ' '
  bool handle_chinese_chars = true;  // surround CJK ideographs with spaces
  std::optional<bool> strip_accents; // unset: follow `lowercase`
  bool lowercase = true;
  bool nfc = false;  // transformers' slow BasicTokenizer applies NFC after cleaning; tokenizer.json's does not
};
NormalizerPtr make_bert_normalizer(const BertNormalizerConfig& config);
NormalizerPtr make_unicode_normalizer(NormalForm form);
NormalizerPtr make_lowercase_normalizer();
NormalizerPtr make_strip_accents_normalizer();
// Replaces every occurrence of the literal `pattern`.
NormalizerPtr make_replace_normalizer(std::string pattern, std::string content);
// Replaces each run of two or more ' ' by one (the regex " {2,}").
NormalizerPtr make_collapse_spaces_normalizer();
// Prepends `prefix` to non-empty text (only to the first stretch when first_only).
NormalizerPtr make_prepend_normalizer(std::string prefix, bool first_only);
// Strips Unicode whitespace from the left and/or right.
NormalizerPtr make_strip_normalizer(bool left, bool right);
NormalizerPtr make_sequence_normalizer(std::vector<NormalizerPtr> parts);

enum class PrefixScheme { Always, First, Never };
// SentencePiece's own normalizer. Its precompiled charsmap is approximated by
// NFKC plus the NMT rules, which is what sentencepiece builds nmt_nfkc from;
// then remove_extra_whitespaces (trim, collapse runs of ' '), the dummy
// prefix ' ' and escaping ' ' as U+2581.
struct SentencePieceNormalizerConfig {
  bool nfkc = false;
  // nmt_nfkc's extra rules: C0 controls (but \t \n \r), DEL, U+008F and
  // U+009F dropped; \t \n \f \r and a few invisible separators -> ' '.
  bool nmt_rules = false;
  bool remove_extra_whitespaces = false;
  PrefixScheme dummy_prefix = PrefixScheme::Always;
  bool escape_whitespaces = true;
};
NormalizerPtr make_sentencepiece_normalizer(const SentencePieceNormalizerConfig& config);

inline constexpr std::string_view kMetaspace = "\xE2\x96\x81";  // U+2581, SentencePiece's visible space

}  // namespace octet::text
