// Rank-based BPE (GPT-2's merges.txt, tokenizer.json's "BPE" model).
//
// A word starts as one symbol per character; the adjacent pair with the
// lowest merge rank is merged, leftmost first, until no pair has a rank. A
// priority queue keyed by (rank, position) gives the same result as the
// reference loop that merges every occurrence of the best pair at once,
// because a pair involving a freshly merged symbol always ranks after the
// merge that made it.
#include <array>
#include <queue>
#include <unordered_map>

#include "octet/error.h"
#include "text/model.h"
#include "text/unicode.h"

namespace octet::text {

std::optional<uint8_t> parse_byte_piece(std::string_view piece) {
  if (piece.size() != 6 || piece.substr(0, 3) != "<0x" || piece[5] != '>') return std::nullopt;
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  const int hi = hex(piece[3]), lo = hex(piece[4]);
  if (hi < 0 || lo < 0) return std::nullopt;
  return static_cast<uint8_t>(hi * 16 + lo);
}

std::string byte_piece(uint8_t byte) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  return std::string{'<', '0', 'x', kHex[byte >> 4], kHex[byte & 15], '>'};
}

namespace {

uint64_t pair_key(int32_t a, int32_t b) { return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b); }

class BpeModel final : public Model {
 public:
  BpeModel(Vocab vocab, const MergeList& merges, const BpeConfig& config) : Model(std::move(vocab)), config_(config) {
    if (config_.unk_token) {
      unk_id_ = vocab_.find(*config_.unk_token);
      check(unk_id_.has_value(), "tokenizer", "BPE unk token '{}' is not in the vocabulary", *config_.unk_token);
    }
    byte_ids_.fill(-1);
    if (config_.byte_fallback) {
      for (int b = 0; b < 256; ++b) {
        if (auto id = vocab_.find(byte_piece(static_cast<uint8_t>(b)))) byte_ids_[static_cast<size_t>(b)] = *id;
      }
    }
    const size_t prefix_len = config_.continuing_subword_prefix.size();
    merges_.reserve(merges.size());
    for (size_t rank = 0; rank < merges.size(); ++rank) {
      const auto& [a, b] = merges[rank];
      auto id_a = vocab_.find(a);
      auto id_b = vocab_.find(b);
      check(id_a.has_value(), "tokenizer", "merge {} '{} {}' refers to '{}', which is not in the vocabulary", rank + 1,
            a, b, a);
      check(id_b.has_value(), "tokenizer", "merge {} '{} {}' refers to '{}', which is not in the vocabulary", rank + 1,
            a, b, b);
      // With a continuing-subword prefix the right part carries it; the merged token does not.
      std::string merged = a;
      if (prefix_len > 0 && b.compare(0, prefix_len, config_.continuing_subword_prefix) == 0) {
        merged.append(b, prefix_len);
      } else {
        merged.append(b);
      }
      auto id_merged = vocab_.find(merged);
      check(id_merged.has_value(), "tokenizer", "merge {} '{} {}' makes '{}', which is not in the vocabulary",
            rank + 1, a, b, merged);
      merges_.try_emplace(pair_key(*id_a, *id_b), Merge{static_cast<int32_t>(rank), *id_merged});
    }
  }

  void tokenize(std::string_view word, std::vector<int32_t>& ids) const override {
    if (word.empty()) return;
    if (config_.ignore_merges) {
      if (auto id = vocab_.find(word)) {
        ids.push_back(*id);
        return;
      }
    }
    std::vector<int32_t> symbols = initial_symbols(word);
    merge(symbols);
    ids.insert(ids.end(), symbols.begin(), symbols.end());
  }

 private:
  struct Merge {
    int32_t rank;
    int32_t merged;
  };

  std::vector<int32_t> initial_symbols(std::string_view word) const {
    std::vector<int32_t> symbols;
    bool last_was_unk = false;
    std::string piece;
    for (size_t pos = 0; pos < word.size();) {
      const size_t start = pos;
      pos += code_point_length(word, pos);
      piece.clear();
      if (start > 0) piece.append(config_.continuing_subword_prefix);
      piece.append(word.substr(start, pos - start));
      if (pos == word.size()) piece.append(config_.end_of_word_suffix);
      if (auto id = vocab_.find(piece)) {
        symbols.push_back(*id);
        last_was_unk = false;
        continue;
      }
      if (config_.byte_fallback) {
        bool all_bytes = true;
        for (size_t i = start; i < pos; ++i) all_bytes &= byte_ids_[static_cast<uint8_t>(word[i])] >= 0;
        if (all_bytes) {
          for (size_t i = start; i < pos; ++i) symbols.push_back(byte_ids_[static_cast<uint8_t>(word[i])]);
          last_was_unk = false;
          continue;
        }
      }
      if (unk_id_) {
        if (!(config_.fuse_unk && last_was_unk)) symbols.push_back(*unk_id_);
        last_was_unk = true;
      }
    }
    return symbols;
  }

  void merge(std::vector<int32_t>& symbols) const {
    const int n = static_cast<int>(symbols.size());
    if (n < 2) return;
    std::vector<int> next(static_cast<size_t>(n)), prev(static_cast<size_t>(n));
    std::vector<bool> alive(static_cast<size_t>(n), true);
    for (int i = 0; i < n; ++i) {
      next[static_cast<size_t>(i)] = i + 1 < n ? i + 1 : -1;
      prev[static_cast<size_t>(i)] = i - 1;
    }
    struct Candidate {
      int32_t rank, pos, left, right, merged;
      bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
    };
    std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> queue;
    auto push = [&](int left) {
      if (left < 0) return;
      const int right = next[static_cast<size_t>(left)];
      if (right < 0) return;
      auto it = merges_.find(pair_key(symbols[static_cast<size_t>(left)], symbols[static_cast<size_t>(right)]));
      if (it == merges_.end()) return;
      queue.push({it->second.rank, left, symbols[static_cast<size_t>(left)], symbols[static_cast<size_t>(right)],
                  it->second.merged});
    };
    for (int i = 0; i + 1 < n; ++i) push(i);
    while (!queue.empty()) {
      const Candidate c = queue.top();
      queue.pop();
      const auto left = static_cast<size_t>(c.pos);
      const int right = next[left];
      // Stale entries: the left symbol changed (its id differs) or its neighbour did.
      if (!alive[left] || right < 0 || symbols[left] != c.left || symbols[static_cast<size_t>(right)] != c.right) {
        continue;
      }
      symbols[left] = c.merged;
      alive[static_cast<size_t>(right)] = false;
      next[left] = next[static_cast<size_t>(right)];
      if (next[left] >= 0) prev[static_cast<size_t>(next[left])] = c.pos;
      push(prev[left]);
      push(c.pos);
    }
    size_t out = 0;
    for (int i = 0; i >= 0; i = next[static_cast<size_t>(i)]) symbols[out++] = symbols[static_cast<size_t>(i)];
    symbols.resize(out);
  }

  BpeConfig config_;
  std::optional<int32_t> unk_id_;
  std::array<int32_t, 256> byte_ids_{};
  std::unordered_map<uint64_t, Merge> merges_;
};

}  // namespace

std::unique_ptr<Model> make_bpe_model(Vocab vocab, const MergeList& merges, const BpeConfig& config) {
  return std::make_unique<BpeModel>(std::move(vocab), merges, config);
}

}  // namespace octet::text
