// Added tokens: strings matched whole in the input before any normalization
// ([CLS], <s>, <|endoftext|>, ...), leftmost-longest first.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "text/vocab.h"

namespace octet::text {

struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool special = true;       // dropped by decode(skip_special_tokens)
  bool lstrip = false;       // swallows whitespace on its left
  bool rstrip = false;       // swallows whitespace on its right
  bool single_word = false;  // matches only between non-word characters
};

class AddedVocabulary {
 public:
  // A token with the same content replaces the earlier one.
  void add(AddedToken token);

  struct Segment {
    std::string_view text;
    int32_t id = -1;     // the added token's id, or -1 for ordinary text
    bool first = false;  // ordinary text starting at offset 0 of the input
  };
  std::vector<Segment> split(std::string_view text) const;

  std::optional<int32_t> find(std::string_view content) const;
  const AddedToken* by_id(int32_t id) const;
  const std::vector<AddedToken>& tokens() const { return tokens_; }

 private:
  std::vector<AddedToken> tokens_;
  StringMap<size_t> by_content_;
  std::unordered_map<int32_t, size_t> by_id_;
  std::array<std::vector<size_t>, 256> by_first_byte_;  // longest first
};

}  // namespace octet::text
