#include "text/vocab.h"

#include <algorithm>
#include <limits>

#include "octet/error.h"

namespace octet::text {

Vocab::Vocab(std::vector<std::string> tokens) : tokens_(std::move(tokens)) {
  check(tokens_.size() < static_cast<size_t>(std::numeric_limits<int32_t>::max()), "tokenizer",
        "vocabulary of {} tokens is too large", tokens_.size());
  size_ = static_cast<int32_t>(tokens_.size());
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
  vocab.size_ = static_cast<int32_t>(max_id + 1);
  vocab.ids_.reserve(entries.size());
  // Ids far past the entry count (a vocabulary cut down, or a hostile file) go into a map: a table
  // by id allocated a slot for every missing id, 11 GB for one token with id 355,555,555 (fuzz
  // finding). Real vocabularies are dense (0..n-1, a few holes) and keep the table.
  const bool sparse = max_id >= 2 * static_cast<int64_t>(entries.size()) + 1024;
  if (!sparse) vocab.tokens_.resize(static_cast<size_t>(max_id + 1));
  for (const auto& [token, id] : entries) {
    if (sparse)
      vocab.sparse_tokens_.insert_or_assign(static_cast<int32_t>(id), token);
    else
      vocab.tokens_[static_cast<size_t>(id)] = token;
    vocab.ids_.insert_or_assign(token, static_cast<int32_t>(id));
  }
  return vocab;
}

const std::string& Vocab::token(int64_t id) const {
  check(id >= 0 && id < size_, "tokenizer", "token id {} out of range [0, {})", id, size_);
  if (static_cast<size_t>(size_) == tokens_.size()) return tokens_[static_cast<size_t>(id)];
  static const std::string hole;  // an id no entry has: the empty token, as in the dense table
  const auto it = sparse_tokens_.find(static_cast<int32_t>(id));
  return it == sparse_tokens_.end() ? hole : it->second;
}

}  // namespace octet::text
