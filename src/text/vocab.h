// Vocab: the two-way token <-> id table every tokenizer model owns.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace octet::text {

// Transparent hashing so maps keyed by std::string can be probed with a string_view.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
template <typename V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

class Vocab {
 public:
  Vocab() = default;
  // Token i has id i. A token listed twice maps to its last id (as Python's
  // dict-building loaders and llama.cpp do).
  explicit Vocab(std::vector<std::string> tokens);
  // From (token, id) pairs, as in vocab.json / tokenizer.json; ids may leave
  // holes, which have the empty token (memory follows the entries, not the
  // largest id). Throws on a negative id.
  static Vocab from_entries(const std::vector<std::pair<std::string, int64_t>>& entries);

  std::optional<int32_t> find(std::string_view token) const {
    auto it = ids_.find(token);
    if (it == ids_.end()) return std::nullopt;
    return it->second;
  }
  // The token with `id`; throws Error("tokenizer") when id is out of range.
  const std::string& token(int64_t id) const;
  // One past the largest id.
  int32_t size() const { return size_; }

 private:
  std::vector<std::string> tokens_;                         // by id: every id below size_
  std::unordered_map<int32_t, std::string> sparse_tokens_;  // instead, when ids are far sparser
  StringMap<int32_t> ids_;
  int32_t size_ = 0;
};

}  // namespace octet::text
