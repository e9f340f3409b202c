// SentencePiece BPE: merges driven by piece scores, as sentencepiece's
// bpe_model.cc and llama.cpp's SPM tokenizer do. The text starts as one
// symbol per character (user-defined pieces are matched whole and never
// merged); the adjacent pair whose concatenation is a piece with the highest
// score is merged, leftmost on ties, until no pair forms a piece. Pieces of
// type Unused may be formed along the way but are split back into the pair
// that made them; what is left unknown goes to byte fallback or unk.
#include <queue>

#include "octet/error.h"
#include "text/spm_common.h"
#include "text/unicode.h"

namespace octet::text {

namespace {

class SpmBpeModel final : public Model {
 public:
  explicit SpmBpeModel(SpmTables tables) : Model(Vocab(tables.table.pieces)), t_(std::move(tables)) {}

  void tokenize(std::string_view text, std::vector<int32_t>& ids) const override {
    if (text.empty()) return;
    struct Symbol {
      size_t start, len;
      int prev, next;
      bool frozen;
    };
    std::vector<Symbol> symbols;
    for (size_t pos = 0; pos < text.size();) {
      size_t len = t_.user_defined.empty() ? 0 : t_.match_user_defined(text, pos);
      const bool frozen = len > 0;
      if (!frozen) len = code_point_length(text, pos);
      const int index = static_cast<int>(symbols.size());
      symbols.push_back({pos, len, index - 1, -1, frozen});
      if (index > 0) symbols[static_cast<size_t>(index - 1)].next = index;
      pos += len;
    }

    struct Candidate {
      float score;
      int left;
      size_t len;
      // Highest score first, then leftmost.
      bool operator<(const Candidate& o) const { return score != o.score ? score < o.score : left > o.left; }
    };
    std::priority_queue<Candidate> agenda;
    StringMap<std::pair<std::string_view, std::string_view>> unmerge;  // Unused piece -> the pair that formed it
    auto try_add = [&](int left, int right) {
      if (left < 0 || right < 0) return;
      const Symbol& l = symbols[static_cast<size_t>(left)];
      const Symbol& r = symbols[static_cast<size_t>(right)];
      if (l.frozen || r.frozen) return;
      const std::string_view piece = text.substr(l.start, l.len + r.len);
      auto it = t_.segment_ids.find(piece);
      if (it == t_.segment_ids.end()) return;
      const auto id = static_cast<size_t>(it->second);
      agenda.push({t_.table.scores[id], left, piece.size()});
      if (t_.table.types[id] == PieceType::Unused) {
        unmerge.try_emplace(std::string(piece), text.substr(l.start, l.len), text.substr(r.start, r.len));
      }
    };
    for (size_t i = 1; i < symbols.size(); ++i) try_add(static_cast<int>(i - 1), static_cast<int>(i));

    while (!agenda.empty()) {
      const Candidate c = agenda.top();
      agenda.pop();
      Symbol& l = symbols[static_cast<size_t>(c.left)];
      // Stale: either side has changed since the candidate was queued.
      if (l.len == 0 || l.next < 0) continue;
      Symbol& r = symbols[static_cast<size_t>(l.next)];
      if (l.len + r.len != c.len) continue;
      l.len += r.len;
      r.len = 0;
      l.next = r.next;
      if (l.next >= 0) symbols[static_cast<size_t>(l.next)].prev = c.left;
      try_add(l.prev, c.left);
      try_add(c.left, l.next);
    }

    bool last_was_unk = false;
    for (int i = 0; i >= 0; i = symbols[static_cast<size_t>(i)].next) {
      const Symbol& s = symbols[static_cast<size_t>(i)];
      resegment(text.substr(s.start, s.len), unmerge, ids, last_was_unk);
    }
  }

 private:
  void resegment(std::string_view piece, const StringMap<std::pair<std::string_view, std::string_view>>& unmerge,
                 std::vector<int32_t>& ids, bool& last_was_unk) const {
    auto it = t_.segment_ids.find(piece);
    std::optional<int32_t> id;
    if (it != t_.segment_ids.end()) id = it->second;
    if (id && t_.table.types[static_cast<size_t>(*id)] == PieceType::Unused) {
      auto parts = unmerge.find(piece);
      if (parts != unmerge.end()) {
        resegment(parts->second.first, unmerge, ids, last_was_unk);
        resegment(parts->second.second, unmerge, ids, last_was_unk);
        return;
      }
    }
    t_.emit(piece, id, ids, last_was_unk);
  }

  SpmTables t_;
};

}  // namespace

std::unique_ptr<Model> make_spm_bpe_model(PieceTable table) {
  return std::make_unique<SpmBpeModel>(SpmTables::build(std::move(table)));
}

}  // namespace octet::text
