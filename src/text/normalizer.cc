#include "text/normalizer.h"

namespace octet::text {

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  if (from.empty() || s.find(from) == std::string::npos) return;
  std::string out;
  out.reserve(s.size());
  size_t start = 0;
  for (size_t hit; (hit = s.find(from, start)) != std::string::npos; start = hit + from.size()) {
    out.append(s, start, hit - start);
    out.append(to);
  }
  out.append(s, start);
  s = std::move(out);
}

namespace {

class BertNormalizer final : public Normalizer {
 public:
  explicit BertNormalizer(const BertNormalizerConfig& c) : c_(c) {}
  std::string normalize(std::string_view text, bool) const override {
    std::string out;
    out.reserve(text.size() + 8);
    for (size_t pos = 0; pos < text.size();) {
      const size_t start = pos;
      const char32_t cp = next_code_point(text, pos);
      if (c_.clean_text) {
        if (cp == 0 || cp == kReplacementChar || is_bert_control(cp)) continue;
        if (is_bert_whitespace(cp)) {
          out.push_back(' ');
          continue;
        }
      }
      if (c_.handle_chinese_chars && is_cjk_ideograph(cp)) {
        out.push_back(' ');
        out.append(text.substr(start, pos - start));
        out.push_back(' ');
        continue;
      }
      out.append(text.substr(start, pos - start));
    }
    if (c_.nfc) out = text::normalize(out, NormalForm::NFC);
    if (c_.lowercase) out = lowercase(out);
    if (c_.strip_accents.value_or(c_.lowercase)) out = strip_accents(out);
    return out;
  }

 private:
  BertNormalizerConfig c_;
};

class UnicodeNormalizer final : public Normalizer {
 public:
  explicit UnicodeNormalizer(NormalForm form) : form_(form) {}
  std::string normalize(std::string_view text, bool) const override { return text::normalize(text, form_); }

 private:
  NormalForm form_;
};

class LowercaseNormalizer final : public Normalizer {
 public:
  std::string normalize(std::string_view text, bool) const override { return lowercase(text); }
};

class StripAccentsNormalizer final : public Normalizer {
 public:
  std::string normalize(std::string_view text, bool) const override { return strip_accents(text); }
};

class ReplaceNormalizer final : public Normalizer {
 public:
  ReplaceNormalizer(std::string pattern, std::string content) : pattern_(std::move(pattern)), content_(std::move(content)) {}
  std::string normalize(std::string_view text, bool) const override {
    std::string out(text);
    replace_all(out, pattern_, content_);
    return out;
  }

 private:
  std::string pattern_, content_;
};

class CollapseSpacesNormalizer final : public Normalizer {
 public:
  std::string normalize(std::string_view text, bool) const override {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
      if (c == ' ' && !out.empty() && out.back() == ' ') continue;
      out.push_back(c);
    }
    return out;
  }
};

class PrependNormalizer final : public Normalizer {
 public:
  PrependNormalizer(std::string prefix, bool first_only) : prefix_(std::move(prefix)), first_only_(first_only) {}
  std::string normalize(std::string_view text, bool first) const override {
    if (text.empty() || (first_only_ && !first)) return std::string(text);
    return prefix_ + std::string(text);
  }

 private:
  std::string prefix_;
  bool first_only_;
};

class StripNormalizer final : public Normalizer {
 public:
  StripNormalizer(bool left, bool right) : left_(left), right_(right) {}
  std::string normalize(std::string_view text, bool) const override {
    size_t begin = 0, end = text.size();
    if (left_) {
      while (begin < end) {
        size_t pos = begin;
        if (!is_unicode_whitespace(next_code_point(text, pos))) break;
        begin = pos;
      }
    }
    if (right_) {
      while (end > begin) {
        size_t start = end - 1;  // step back to the start of the last code point
        while (start > begin && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
        size_t pos = start;
        if (!is_unicode_whitespace(next_code_point(text, pos)) || pos != end) break;
        end = start;
      }
    }
    return std::string(text.substr(begin, end - begin));
  }

 private:
  bool left_, right_;
};

class SequenceNormalizer final : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<NormalizerPtr> parts) : parts_(std::move(parts)) {}
  std::string normalize(std::string_view text, bool first) const override {
    std::string out(text);
    for (const auto& part : parts_) out = part->normalize(out, first);
    return out;
  }

 private:
  std::vector<NormalizerPtr> parts_;
};

// sentencepiece's builder.cc adds these to NFKC to make nmt_nfkc.
std::string apply_nmt_rules(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    const size_t start = pos;
    const char32_t cp = next_code_point(text, pos);
    const bool drop = (cp >= 0x01 && cp <= 0x08) || cp == 0x0B || (cp >= 0x0E && cp <= 0x1F) || cp == 0x7F ||
                      cp == 0x8F || cp == 0x9F;
    if (drop) continue;
    switch (cp) {
      case 0x09: case 0x0A: case 0x0C: case 0x0D: case 0x1680: case 0x200B:
      case 0x200E: case 0x200F: case 0x2028: case 0x2029: case 0x2581: case 0xFEFF: case 0xFFFD:
        out.push_back(' ');
        break;
      default:
        out.append(text.substr(start, pos - start));
    }
  }
  return out;
}

class SentencePieceNormalizer final : public Normalizer {
 public:
  explicit SentencePieceNormalizer(const SentencePieceNormalizerConfig& c) : c_(c) {}
  std::string normalize(std::string_view text, bool first) const override {
    std::string s = c_.nfkc ? text::normalize(text, NormalForm::NFKC) : std::string(text);
    if (c_.nmt_rules) s = apply_nmt_rules(s);
    if (c_.remove_extra_whitespaces) {
      std::string collapsed;
      collapsed.reserve(s.size());
      for (char c : s) {
        if (c == ' ' && (collapsed.empty() || collapsed.back() == ' ')) continue;
        collapsed.push_back(c);
      }
      while (!collapsed.empty() && collapsed.back() == ' ') collapsed.pop_back();
      s = std::move(collapsed);
    }
    if (s.empty()) return s;
    if (c_.dummy_prefix == PrefixScheme::Always || (c_.dummy_prefix == PrefixScheme::First && first)) {
      s.insert(s.begin(), ' ');
    }
    if (c_.escape_whitespaces) replace_all(s, " ", kMetaspace);
    return s;
  }

 private:
  SentencePieceNormalizerConfig c_;
};

}  // namespace

NormalizerPtr make_bert_normalizer(const BertNormalizerConfig& config) { return std::make_unique<BertNormalizer>(config); }
NormalizerPtr make_unicode_normalizer(NormalForm form) { return std::make_unique<UnicodeNormalizer>(form); }
NormalizerPtr make_lowercase_normalizer() { return std::make_unique<LowercaseNormalizer>(); }
NormalizerPtr make_strip_accents_normalizer() { return std::make_unique<StripAccentsNormalizer>(); }
NormalizerPtr make_replace_normalizer(std::string pattern, std::string content) {
  return std::make_unique<ReplaceNormalizer>(std::move(pattern), std::move(content));
}
NormalizerPtr make_collapse_spaces_normalizer() { return std::make_unique<CollapseSpacesNormalizer>(); }
NormalizerPtr make_prepend_normalizer(std::string prefix, bool first_only) {
  return std::make_unique<PrependNormalizer>(std::move(prefix), first_only);
}
NormalizerPtr make_strip_normalizer(bool left, bool right) { return std::make_unique<StripNormalizer>(left, right); }
NormalizerPtr make_sequence_normalizer(std::vector<NormalizerPtr> parts) {
  return std::make_unique<SequenceNormalizer>(std::move(parts));
}
NormalizerPtr make_sentencepiece_normalizer(const SentencePieceNormalizerConfig& config) {
  return std::make_unique<SentencePieceNormalizer>(config);
}

}  // namespace octet::text
