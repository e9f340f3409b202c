// Pre-tokenizers: split normalized text into the words a model sees.
#pragma once

#include <memory>
#include <string>
#include <optional>
#include <vector>

#include "text/normalizer.h"
#include "text/regex_split.h"

namespace octet::text {

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Splits each of `pieces` further, in place. `first`: the pieces come from
  // the stretch of text that starts the input (no added token before it).
  virtual void split(std::vector<std::string>& pieces, bool first) const = 0;
};
using PreTokenizerPtr = std::unique_ptr<PreTokenizer>;

// What happens to the matched delimiters (tokenizers' SplitDelimiterBehavior).
enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };
// A literal string, or one of the known regexes when `regex` is set.
struct SplitPattern {
  std::string literal;
  std::optional<SplitRegex> regex;
};

// BERT: split on whitespace (dropped) and around each punctuation char.
PreTokenizerPtr make_bert_pre_tokenizer();
PreTokenizerPtr make_whitespace_split_pre_tokenizer();  // split on whitespace, dropped
PreTokenizerPtr make_whitespace_pre_tokenizer();        // \w+|[^\w\s]+
PreTokenizerPtr make_punctuation_pre_tokenizer(SplitBehavior behavior);
PreTokenizerPtr make_digits_pre_tokenizer(bool individual_digits);
// GPT-2: optional ' ' prefix, the GPT-2 regex split, then bytes -> characters.
PreTokenizerPtr make_byte_level_pre_tokenizer(bool add_prefix_space, bool use_regex);
// ' ' -> replacement, prefix per scheme, then (when split) a new piece at each replacement.
PreTokenizerPtr make_metaspace_pre_tokenizer(std::string replacement, PrefixScheme scheme, bool split);
PreTokenizerPtr make_split_pre_tokenizer(SplitPattern pattern, SplitBehavior behavior, bool invert);
PreTokenizerPtr make_sequence_pre_tokenizer(std::vector<PreTokenizerPtr> parts);

}  // namespace octet::text
