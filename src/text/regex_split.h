// Hand-written matchers for the split regexes found in tokenizer files. A
// general regex engine with \p{..} classes is not available, and these few
// patterns cover GPT-2-family and Llama-3-family tokenizers.
#pragma once

#include <optional>
#include <string_view>
#include <utility>
#include <vector>

namespace octet::text {

enum class SplitRegex {
  Gpt2,         // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
  Llama3,       // (?i:'s|...)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
  Llama3Digit,  // the same with \p{N} (one digit per match; Qwen2)
  Whitespace,   // \s+
  Words,        // \w+|[^\w\s]+ (tokenizers' Whitespace pre-tokenizer)
};

// The matcher for a pattern string as written in tokenizer.json, if known.
std::optional<SplitRegex> recognize_split_regex(std::string_view pattern);

// Byte ranges [begin, end) of every match, left to right, as re.findall would find them.
std::vector<std::pair<size_t, size_t>> find_matches(SplitRegex regex, std::string_view text);

}  // namespace octet::text
