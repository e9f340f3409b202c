#include "text/added_vocab.h"

#include <algorithm>

#include "octet/error.h"
#include "text/unicode.h"

namespace octet::text {

namespace {

bool is_word_char(char32_t cp) { return is_letter(cp) || is_number(cp) || cp == '_'; }

// Start of the code point that ends at `end` (exclusive).
size_t previous_char_start(std::string_view s, size_t end) {
  size_t start = end - 1;
  while (start > 0 && end - start < 4 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
  return start;
}

char32_t char_before(std::string_view s, size_t end) {
  size_t pos = previous_char_start(s, end);
  return next_code_point(s, pos);
}

}  // namespace

void AddedVocabulary::add(AddedToken token) {
  check(!token.content.empty(), "tokenizer", "added token with id {} has empty content", token.id);
  check(token.id >= 0, "tokenizer", "added token '{}' has invalid id {}", token.content, token.id);
  if (auto it = by_content_.find(token.content); it != by_content_.end()) {
    by_id_.erase(tokens_[it->second].id);
    by_id_[token.id] = it->second;
    tokens_[it->second] = std::move(token);
    return;
  }
  const size_t index = tokens_.size();
  by_content_.emplace(token.content, index);
  by_id_[token.id] = index;
  auto& bucket = by_first_byte_[static_cast<uint8_t>(token.content[0])];
  tokens_.push_back(std::move(token));
  bucket.push_back(index);
  std::stable_sort(bucket.begin(), bucket.end(),
                   [this](size_t a, size_t b) { return tokens_[a].content.size() > tokens_[b].content.size(); });
}

std::optional<int32_t> AddedVocabulary::find(std::string_view content) const {
  auto it = by_content_.find(content);
  if (it == by_content_.end()) return std::nullopt;
  return tokens_[it->second].id;
}

const AddedToken* AddedVocabulary::by_id(int32_t id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &tokens_[it->second];
}

std::vector<AddedVocabulary::Segment> AddedVocabulary::split(std::string_view text) const {
  std::vector<Segment> segments;
  size_t plain_start = 0;
  for (size_t i = 0; i < text.size();) {
    const AddedToken* match = nullptr;
    for (size_t index : by_first_byte_[static_cast<uint8_t>(text[i])]) {
      const AddedToken& t = tokens_[index];
      if (text.compare(i, t.content.size(), t.content) != 0) continue;
      if (t.single_word) {
        const size_t end = i + t.content.size();
        if (i > 0 && is_word_char(char_before(text, i))) continue;
        size_t after = end;
        if (end < text.size() && is_word_char(next_code_point(text, after))) continue;
      }
      match = &t;
      break;
    }
    if (match == nullptr) {
      ++i;
      continue;
    }
    size_t plain_end = i;
    if (match->lstrip) {
      while (plain_end > plain_start && is_unicode_whitespace(char_before(text, plain_end))) {
        plain_end = previous_char_start(text, plain_end);
      }
    }
    size_t next = i + match->content.size();
    if (match->rstrip) {
      while (next < text.size()) {
        size_t pos = next;
        if (!is_unicode_whitespace(next_code_point(text, pos))) break;
        next = pos;
      }
    }
    if (plain_end > plain_start) {
      segments.push_back({text.substr(plain_start, plain_end - plain_start), -1, plain_start == 0});
    }
    segments.push_back({text.substr(i, match->content.size()), match->id, false});
    plain_start = i = next;
  }
  if (plain_start < text.size()) {
    segments.push_back({text.substr(plain_start), -1, plain_start == 0});
  }
  return segments;
}

}  // namespace octet::text
