#include "text/vocab.h"

#include <limits>

#include "octet/error.h"

namespace octet::text {

Vocab::Vocab(std::vector<std::string> tokens) : tokens_(std::move(tokens)) {
  check(tokens_.size() < static_cast<size_t>(std::numeric_limits<int32_t>::max()), "tokenizer",
        "vocabulary of {} tokens is too large", tokens_.size());
  ids_.reserve(tokens_.size());
  for (size_t i = 0; i < tokens_.size(); ++i) ids_.insert_or_assign(tokens_[i], static_cast<int32_t>(i));
}

Vocab Vocab::from_entries(const std::vector<std::pair<std::string, int64_t>>& entries) {
  int64_t max_id = -1;
  for (const auto& [token, id] : entries) {
    check(id >= 0 && id < std::numeric_limits<int32_t>::max(), "tokenizer", "token '{}' has invalid id {}", token, id);
    max_id = std::max(max_id, id);
  }
  Vocab vocab;
  vocab.tokens_.resize(static_cast<size_t>(max_id + 1));
  vocab.ids_.reserve(entries.size());
  for (const auto& [token, id] : entries) {
    vocab.tokens_[static_cast<size_t>(id)] = token;
    vocab.ids_.insert_or_assign(token, static_cast<int32_t>(id));
  }
  return vocab;
}

const std::string& Vocab::token(int64_t id) const {
  check(id >= 0 && id < static_cast<int64_t>(tokens_.size()), "tokenizer", "token id {} out of range [0, {})", id,
        tokens_.size());
  return tokens_[static_cast<size_t>(id)];
}

}  // namespace octet::text
