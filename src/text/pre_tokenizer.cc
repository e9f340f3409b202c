#include "text/pre_tokenizer.h"

#include <algorithm>
#include <utility>

#include "text/byte_level.h"
#include "text/unicode.h"

namespace octet::text {

namespace {

using Ranges = std::vector<std::pair<size_t, size_t>>;

// Splits `piece` at the given (sorted, disjoint) matches, the way tokenizers'
// NormalizedString::split treats delimiters, appending non-empty parts to `out`.
void split_at(const std::string& piece, const Ranges& matches, SplitBehavior behavior, bool invert,
              std::vector<std::string>& out) {
  struct Part {
    size_t begin, end;
    bool match;
  };
  std::vector<Part> parts;
  size_t pos = 0;
  for (const auto& [b, e] : matches) {
    if (b > pos) parts.push_back({pos, b, invert});
    if (e > b) parts.push_back({b, e, !invert});
    pos = e;
  }
  if (pos < piece.size()) parts.push_back({pos, piece.size(), invert});

  std::vector<std::pair<size_t, size_t>> kept;
  bool previous_match = false;
  switch (behavior) {
    case SplitBehavior::Removed:
      for (const Part& p : parts) {
        if (!p.match) kept.emplace_back(p.begin, p.end);
      }
      break;
    case SplitBehavior::Isolated:
      for (const Part& p : parts) kept.emplace_back(p.begin, p.end);
      break;
    case SplitBehavior::MergedWithPrevious:
      for (const Part& p : parts) {
        if (p.match && !previous_match && !kept.empty()) {
          kept.back().second = p.end;
        } else {
          kept.emplace_back(p.begin, p.end);
        }
        previous_match = p.match;
      }
      break;
    case SplitBehavior::MergedWithNext:
      for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
        if (it->match && !previous_match && !kept.empty()) {
          kept.back().first = it->begin;
        } else {
          kept.emplace_back(it->begin, it->end);
        }
        previous_match = it->match;
      }
      std::reverse(kept.begin(), kept.end());
      break;
    case SplitBehavior::Contiguous:
      for (size_t i = 0; i < parts.size(); ++i) {
        if (i > 0 && parts[i].match == previous_match) {
          kept.back().second = parts[i].end;
        } else {
          kept.emplace_back(parts[i].begin, parts[i].end);
        }
        previous_match = parts[i].match;
      }
      break;
  }
  for (const auto& [b, e] : kept) {
    if (e > b) out.push_back(piece.substr(b, e - b));
  }
}

// Runs of code points satisfying `pred`, each run one match (or each char when `single`).
template <typename Pred>
Ranges char_matches(const std::string& s, Pred pred, bool single) {
  Ranges matches;
  for (size_t pos = 0; pos < s.size();) {
    const size_t start = pos;
    const char32_t cp = next_code_point(s, pos);
    if (!pred(cp)) continue;
    if (!single && !matches.empty() && matches.back().second == start) {
      matches.back().second = pos;
    } else {
      matches.emplace_back(start, pos);
    }
  }
  return matches;
}

// Applies `split_one` to every piece.
template <typename F>
void for_each_piece(std::vector<std::string>& pieces, F split_one) {
  std::vector<std::string> out;
  out.reserve(pieces.size() * 2);
  for (size_t i = 0; i < pieces.size(); ++i) split_one(pieces[i], i, out);
  pieces = std::move(out);
}

class BertPreTokenizer final : public PreTokenizer {
 public:
  void split(std::vector<std::string>& pieces, bool) const override {
    for_each_piece(pieces, [](const std::string& p, size_t, std::vector<std::string>& out) {
      std::vector<std::string> words;
      split_at(p, char_matches(p, is_unicode_whitespace, false), SplitBehavior::Removed, false, words);
      for (const std::string& w : words) {
        split_at(w, char_matches(w, is_bert_punctuation, true), SplitBehavior::Isolated, false, out);
      }
    });
  }
};

class CharClassPreTokenizer final : public PreTokenizer {
 public:
  CharClassPreTokenizer(bool (*pred)(char32_t), bool single, SplitBehavior behavior)
      : pred_(pred), single_(single), behavior_(behavior) {}
  void split(std::vector<std::string>& pieces, bool) const override {
    for_each_piece(pieces, [this](const std::string& p, size_t, std::vector<std::string>& out) {
      split_at(p, char_matches(p, pred_, single_), behavior_, false, out);
    });
  }

 private:
  bool (*pred_)(char32_t);
  bool single_;
  SplitBehavior behavior_;
};

class ByteLevelPreTokenizer final : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, bool use_regex) : add_prefix_space_(add_prefix_space), use_regex_(use_regex) {}
  void split(std::vector<std::string>& pieces, bool) const override {
    for_each_piece(pieces, [this](const std::string& p, size_t, std::vector<std::string>& out) {
      const std::string text = add_prefix_space_ && !p.starts_with(' ') ? " " + p : p;
      if (!use_regex_) {
        out.push_back(bytes_to_chars(text));
        return;
      }
      for (const auto& [b, e] : find_matches(SplitRegex::Gpt2, text)) {
        out.push_back(bytes_to_chars(std::string_view(text).substr(b, e - b)));
      }
    });
  }

 private:
  bool add_prefix_space_, use_regex_;
};

class MetaspacePreTokenizer final : public PreTokenizer {
 public:
  MetaspacePreTokenizer(std::string replacement, PrefixScheme scheme, bool split)
      : replacement_(std::move(replacement)), scheme_(scheme), split_(split) {}
  void split(std::vector<std::string>& pieces, bool first) const override {
    for_each_piece(pieces, [&](const std::string& p, size_t index, std::vector<std::string>& out) {
      std::string text;
      for (char c : p) {
        if (c == ' ') {
          text.append(replacement_);
        } else {
          text.push_back(c);
        }
      }
      const bool prefix = scheme_ == PrefixScheme::Always || (scheme_ == PrefixScheme::First && first && index == 0);
      if (prefix && !text.starts_with(replacement_)) text.insert(0, replacement_);
      if (!split_) {
        out.push_back(std::move(text));
        return;
      }
      Ranges matches;
      for (size_t at = text.find(replacement_); at != std::string::npos; at = text.find(replacement_, at + replacement_.size())) {
        matches.emplace_back(at, at + replacement_.size());
      }
      split_at(text, matches, SplitBehavior::MergedWithNext, false, out);
    });
  }

 private:
  std::string replacement_;
  PrefixScheme scheme_;
  bool split_;
};

class SplitPreTokenizer final : public PreTokenizer {
 public:
  SplitPreTokenizer(SplitPattern pattern, SplitBehavior behavior, bool invert)
      : pattern_(std::move(pattern)), behavior_(behavior), invert_(invert) {}
  void split(std::vector<std::string>& pieces, bool) const override {
    for_each_piece(pieces, [this](const std::string& p, size_t, std::vector<std::string>& out) {
      Ranges matches;
      if (pattern_.regex) {
        matches = find_matches(*pattern_.regex, p);
      } else if (const std::string& literal = pattern_.literal; !literal.empty()) {
        for (size_t at = p.find(literal); at != std::string::npos; at = p.find(literal, at + literal.size())) {
          matches.emplace_back(at, at + literal.size());
        }
      }
      split_at(p, matches, behavior_, invert_, out);
    });
  }

 private:
  SplitPattern pattern_;
  SplitBehavior behavior_;
  bool invert_;
};

class SequencePreTokenizer final : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<PreTokenizerPtr> parts) : parts_(std::move(parts)) {}
  void split(std::vector<std::string>& pieces, bool first) const override {
    for (const auto& part : parts_) part->split(pieces, first);
  }

 private:
  std::vector<PreTokenizerPtr> parts_;
};

bool is_digit_char(char32_t cp) { return is_number(cp); }

}  // namespace

PreTokenizerPtr make_bert_pre_tokenizer() { return std::make_unique<BertPreTokenizer>(); }
PreTokenizerPtr make_whitespace_split_pre_tokenizer() {
  return std::make_unique<CharClassPreTokenizer>(is_unicode_whitespace, false, SplitBehavior::Removed);
}
PreTokenizerPtr make_whitespace_pre_tokenizer() {
  return std::make_unique<SplitPreTokenizer>(SplitPattern{{}, SplitRegex::Words}, SplitBehavior::Removed, true);
}
PreTokenizerPtr make_punctuation_pre_tokenizer(SplitBehavior behavior) {
  return std::make_unique<CharClassPreTokenizer>(is_bert_punctuation, true, behavior);
}
PreTokenizerPtr make_digits_pre_tokenizer(bool individual_digits) {
  return std::make_unique<CharClassPreTokenizer>(is_digit_char, individual_digits,
                                                 individual_digits ? SplitBehavior::Isolated : SplitBehavior::Contiguous);
}
PreTokenizerPtr make_byte_level_pre_tokenizer(bool add_prefix_space, bool use_regex) {
  return std::make_unique<ByteLevelPreTokenizer>(add_prefix_space, use_regex);
}
PreTokenizerPtr make_metaspace_pre_tokenizer(std::string replacement, PrefixScheme scheme, bool split) {
  return std::make_unique<MetaspacePreTokenizer>(std::move(replacement), scheme, split);
}
PreTokenizerPtr make_split_pre_tokenizer(SplitPattern pattern, SplitBehavior behavior, bool invert) {
  return std::make_unique<SplitPreTokenizer>(std::move(pattern), behavior, invert);
}
PreTokenizerPtr make_sequence_pre_tokenizer(std::vector<PreTokenizerPtr> parts) {
  return std::make_unique<SequencePreTokenizer>(std::move(parts));
}

}  // namespace octet::text
