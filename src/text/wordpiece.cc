// WordPiece: greedy longest-match-first over a word, continuation pieces
// carrying a "##" prefix; a word with any unmatched remainder (or longer than
// max_input_chars_per_word) becomes the single unk token.
#include "octet/error.h"
#include "text/model.h"
#include "text/unicode.h"

namespace octet::text {

namespace {

class WordPieceModel final : public Model {
 public:
  WordPieceModel(Vocab vocab, const WordPieceConfig& config) : Model(std::move(vocab)), config_(config) {
    auto unk = vocab_.find(config_.unk_token);
    check(unk.has_value(), "tokenizer", "WordPiece unk token '{}' is not in the vocabulary", config_.unk_token);
    unk_id_ = *unk;
  }

  void tokenize(std::string_view word, std::vector<int32_t>& ids) const override {
    if (word.empty()) return;
    // Char boundaries: candidate ends are whole code points.
    std::vector<size_t> bounds;
    bounds.reserve(word.size() + 1);
    for (size_t pos = 0; pos < word.size(); pos += code_point_length(word, pos)) bounds.push_back(pos);
    bounds.push_back(word.size());
    const size_t n_chars = bounds.size() - 1;
    if (n_chars > config_.max_input_chars_per_word) {
      ids.push_back(unk_id_);
      return;
    }
    const size_t first_new = ids.size();
    std::string candidate;
    size_t start = 0;
    while (start < n_chars) {
      std::optional<int32_t> found;
      size_t end = n_chars;
      for (; end > start; --end) {
        const std::string_view piece = word.substr(bounds[start], bounds[end] - bounds[start]);
        if (start > 0) {
          candidate.assign(config_.continuing_subword_prefix);
          candidate.append(piece);
          found = vocab_.find(candidate);
        } else {
          found = vocab_.find(piece);
        }
        if (found) break;
      }
      if (!found) {
        ids.resize(first_new);
        ids.push_back(unk_id_);
        return;
      }
      ids.push_back(*found);
      start = end;
    }
  }

 private:
  WordPieceConfig config_;
  int32_t unk_id_ = 0;
};

}  // namespace

std::unique_ptr<Model> make_wordpiece_model(Vocab vocab, const WordPieceConfig& config) {
  return std::make_unique<WordPieceModel>(std::move(vocab), config);
}

}  // namespace octet::text

namespace octet::text {

namespace {

class WordLevelModel final : public Model {
 public:
  WordLevelModel(Vocab vocab, const std::string& unk_token) : Model(std::move(vocab)) {
    unk_id_ = vocab_.find(unk_token);
  }
  void tokenize(std::string_view word, std::vector<int32_t>& ids) const override {
    if (auto id = vocab_.find(word)) {
      ids.push_back(*id);
    } else {
      check(unk_id_.has_value(), "tokenizer", "WordLevel: '{}' is not in the vocabulary and there is no unk token", word);
      ids.push_back(*unk_id_);
    }
  }

 private:
  std::optional<int32_t> unk_id_;
};

}  // namespace

std::unique_ptr<Model> make_word_level_model(Vocab vocab, const std::string& unk_token) {
  return std::make_unique<WordLevelModel>(std::move(vocab), unk_token);
}

}  // namespace octet::text
