// Unigram: the segmentation with the highest total piece score (Viterbi over
// code-point boundaries), as sentencepiece's unigram_model.cc computes it.
// A position no piece covers gets a one-character unknown node scored
// min_score - 10 (sentencepiece's kUnkPenalty); user-defined pieces get
// length * max_score - 0.1 so they win; Unused pieces never match.
// Ties keep the first candidate found (shorter pieces are tried first).
#include <algorithm>
#include <limits>

#include "octet/error.h"
#include "text/spm_common.h"
#include "text/unicode.h"

namespace octet::text {

namespace {

constexpr float kUnkPenalty = 10.0f;

class UnigramModel final : public Model {
 public:
  explicit UnigramModel(SpmTables tables) : Model(Vocab(tables.table.pieces)), t_(std::move(tables)) {
    // sentencepiece starts max_score_ at FLT_MIN, the smallest *positive*
    // float: with log-probability scores it stays ~0, so a user-defined piece
    // scores ~-0.1 and always wins. Reproduced as is.
    min_score_ = std::numeric_limits<float>::max();
    max_score_ = std::numeric_limits<float>::min();
    for (size_t i = 0; i < t_.table.types.size(); ++i) {
      if (t_.table.types[i] != PieceType::Normal) continue;
      min_score_ = std::min(min_score_, t_.table.scores[i]);
      max_score_ = std::max(max_score_, t_.table.scores[i]);
    }
    if (min_score_ > max_score_) min_score_ = 0.0f;  // no normal pieces
  }

  void tokenize(std::string_view text, std::vector<int32_t>& ids) const override {
    if (text.empty()) return;
    struct Node {
      int64_t start = -1;  // byte offset where the best piece ending here starts
      int32_t id = -1;     // -1: unknown
      float score = 0.0f;  // float like sentencepiece, so near-ties resolve the same way
    };
    const size_t n = text.size();
    std::vector<Node> best(n + 1);
    best[0].start = 0;
    const float unk_score = min_score_ - kUnkPenalty;
    for (size_t start = 0; start < n;) {
      const float base = best[start].score;
      const size_t char_len = code_point_length(text, start);
      bool has_single_char = false;
      const size_t limit = std::min(n, start + t_.max_piece_bytes);
      for (size_t end = start + char_len; end <= limit; end += code_point_length(text, end)) {
        auto it = t_.segment_ids.find(text.substr(start, end - start));
        if (it != t_.segment_ids.end()) {
          const auto id = static_cast<size_t>(it->second);
          const PieceType type = t_.table.types[id];
          if (type != PieceType::Unused) {
            // sentencepiece adds the user-defined bonus in double and the rest in float.
            const double candidate = type == PieceType::UserDefined
                                         ? static_cast<double>(end - start) * max_score_ - 0.1 + base
                                         : static_cast<double>(t_.table.scores[id] + base);
            Node& node = best[end];
            if (node.start < 0 || candidate > static_cast<double>(node.score)) {
              node = {static_cast<int64_t>(start), it->second, static_cast<float>(candidate)};
            }
            if (end == start + char_len) has_single_char = true;
          }
        }
        if (end == n) break;
      }
      if (!has_single_char) {
        Node& node = best[start + char_len];
        if (node.start < 0 || unk_score + base > node.score) {
          node = {static_cast<int64_t>(start), -1, base + unk_score};
        }
      }
      start += char_len;
    }
    std::vector<std::pair<size_t, size_t>> segments;  // (start, end), collected back to front
    for (size_t end = n; end > 0;) {
      const auto start = static_cast<size_t>(best[end].start);
      segments.emplace_back(start, end);
      end = start;
    }
    bool last_was_unk = false;
    for (auto it = segments.rbegin(); it != segments.rend(); ++it) {
      const Node& node = best[it->second];
      std::optional<int32_t> id;
      if (node.id >= 0) id = node.id;
      t_.emit(text.substr(it->first, it->second - it->first), id, ids, last_was_unk);
    }
  }

 private:
  SpmTables t_;
  float min_score_ = 0.0f;
  float max_score_ = 0.0f;
};

}  // namespace

std::unique_ptr<Model> make_unigram_model(PieceTable table) {
  return std::make_unique<UnigramModel>(SpmTables::build(std::move(table)));
}

}  // namespace octet::text
