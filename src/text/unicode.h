// Unicode helpers for the tokenizers: UTF-8 decoding that never throws,
// general categories and normal forms (through utf8proc), and the character
// classes BERT and the GPT-2 regex are defined in terms of.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace octet::text {

inline constexpr char32_t kReplacementChar = 0xFFFD;

// Decodes the code point starting at s[pos] and advances pos past it. An
// invalid or truncated sequence decodes as U+FFFD and advances one byte, so
// callers that slice `s` by positions keep the raw bytes.
char32_t next_code_point(std::string_view s, size_t& pos);
// Byte length of the UTF-8 sequence at s[pos] (1 for an invalid byte).
size_t code_point_length(std::string_view s, size_t pos);
// Appends the UTF-8 encoding of cp.
void append_utf8(std::string& out, char32_t cp);
// Number of code points (invalid bytes count one each).
size_t count_code_points(std::string_view s);
// `s` with every invalid byte replaced by U+FFFD.
std::string sanitize_utf8(std::string_view s);
bool is_ascii(std::string_view s);

// utf8proc's general category (UTF8PROC_CATEGORY_*).
int general_category(char32_t cp);
bool is_letter(char32_t cp);          // \p{L}
bool is_number(char32_t cp);          // \p{N}
bool is_nonspacing_mark(char32_t cp); // Mn
bool is_mark(char32_t cp);            // \p{M}
// Unicode White_Space: what \s means for the regexes tokenizer files use.
bool is_unicode_whitespace(char32_t cp);

// BERT's character classes (transformers' BasicTokenizer, tokenizers' BertNormalizer).
bool is_bert_whitespace(char32_t cp);   // space, \t, \n, \r or Zs
bool is_bert_control(char32_t cp);      // any C* category except \t \n \r
bool is_bert_punctuation(char32_t cp);  // ASCII symbol ranges or any P* category
bool is_cjk_ideograph(char32_t cp);     // the CJK Unified Ideograph blocks BERT isolates

enum class NormalForm { NFC, NFD, NFKC, NFKD };
std::string normalize(std::string_view s, NormalForm form);
// Python's str.lower(): simple lowercase mapping plus U+0130 -> "i\u0307" and
// the final-sigma rule.
std::string lowercase(std::string_view s);
// NFD, then drop nonspacing marks (what BERT calls stripping accents).
std::string strip_accents(std::string_view s);

}  // namespace octet::text
