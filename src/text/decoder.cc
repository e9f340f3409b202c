#include "text/decoder.h"

#include "text/byte_level.h"
#include "text/model.h"
#include "text/normalizer.h"
#include "text/unicode.h"

namespace octet::text {

namespace {

// Length of the longest prefix at s[pos] that could start a valid UTF-8
// sequence (at least 1): Unicode's "maximal subpart", which Python's
// errors="replace" and Rust's from_utf8_lossy turn into one U+FFFD.
size_t maximal_invalid_subpart(std::string_view s, size_t pos) {
  const auto b0 = static_cast<uint8_t>(s[pos]);
  size_t len = 0;
  uint8_t lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return 1;
  }
  size_t n = 1;
  for (; n < len && pos + n < s.size(); ++n) {
    const auto b = static_cast<uint8_t>(s[pos + n]);
    if (n == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) break;
  }
  return n;
}

enum class Lossy { PerSubpart, PerByte };

// Bytes -> text with invalid UTF-8 replaced by U+FFFD, per maximal subpart
// (ByteLevel, like Python) or per byte (ByteFallback, like tokenizers).
std::string decode_bytes_lossy(std::string_view bytes, Lossy policy) {
  std::string out;
  out.reserve(bytes.size());
  for (size_t pos = 0; pos < bytes.size();) {
    const size_t start = pos;
    const char32_t cp = next_code_point(bytes, pos);
    if (cp == kReplacementChar && pos - start == 1) {
      append_utf8(out, kReplacementChar);
      if (policy == Lossy::PerSubpart) pos = start + maximal_invalid_subpart(bytes, start);
    } else {
      out.append(bytes.substr(start, pos - start));
    }
  }
  return out;
}

class WordPieceDecoder final : public Decoder {
 public:
  WordPieceDecoder(std::string prefix, bool cleanup) : prefix_(std::move(prefix)), cleanup_(cleanup) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    // Join first and clean the whole text, as transformers does; a token-wise
    // cleanup would miss patterns spanning tokens ("it ' s").
    std::string text;
    for (size_t i = 0; i < tokens.size(); ++i) {
      const std::string& t = tokens[i];
      if (i > 0 && !prefix_.empty() && t.starts_with(prefix_)) {
        text.append(t, prefix_.size());
      } else {
        if (i > 0) text.push_back(' ');
        text.append(t);
      }
    }
    tokens.assign(1, cleanup_ ? clean_up_tokenization(std::move(text)) : std::move(text));
  }

 private:
  std::string prefix_;
  bool cleanup_;
};

class ByteLevelDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string bytes;
    for (const std::string& t : tokens) bytes.append(chars_to_bytes(t));
    tokens.assign(1, decode_bytes_lossy(bytes, Lossy::PerSubpart));
  }
};

class ByteFallbackDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    std::string pending;  // bytes of consecutive byte tokens
    bool in_run = false;
    for (std::string& t : tokens) {
      if (auto b = parse_byte_piece(t)) {
        pending.push_back(static_cast<char>(*b));
        in_run = true;
        continue;
      }
      if (in_run) {
        out.push_back(decode_bytes_lossy(pending, Lossy::PerByte));
        pending.clear();
        in_run = false;
      }
      out.push_back(std::move(t));
    }
    if (in_run) out.push_back(decode_bytes_lossy(pending, Lossy::PerByte));
    tokens = std::move(out);
  }
};

class FuseDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string all;
    for (const std::string& t : tokens) all.append(t);
    tokens.assign(1, std::move(all));
  }
};

class ReplaceDecoder final : public Decoder {
 public:
  ReplaceDecoder(std::string pattern, std::string content) : pattern_(std::move(pattern)), content_(std::move(content)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::string& t : tokens) replace_all(t, pattern_, content_);
  }

 private:
  std::string pattern_, content_;
};

class StripDecoder final : public Decoder {
 public:
  StripDecoder(std::string content, size_t start, size_t stop) : content_(std::move(content)), start_(start), stop_(stop) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    if (content_.empty()) return;
    for (std::string& t : tokens) {
      for (size_t i = 0; i < start_ && t.starts_with(content_); ++i) t.erase(0, content_.size());
      for (size_t i = 0; i < stop_ && t.ends_with(content_); ++i) t.erase(t.size() - content_.size());
    }
  }

 private:
  std::string content_;
  size_t start_, stop_;
};

class MetaspaceDecoder final : public Decoder {
 public:
  MetaspaceDecoder(std::string replacement, bool strip_prefix) : replacement_(std::move(replacement)), strip_prefix_(strip_prefix) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      replace_all(tokens[i], replacement_, " ");
      if (i == 0 && strip_prefix_ && tokens[i].starts_with(' ')) tokens[i].erase(0, 1);
    }
  }

 private:
  std::string replacement_;
  bool strip_prefix_;
};

class BpeSuffixDecoder final : public Decoder {
 public:
  explicit BpeSuffixDecoder(std::string suffix) : suffix_(std::move(suffix)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) replace_all(tokens[i], suffix_, i + 1 == tokens.size() ? "" : " ");
  }

 private:
  std::string suffix_;
};

class SequenceDecoder final : public Decoder {
 public:
  explicit SequenceDecoder(std::vector<DecoderPtr> parts) : parts_(std::move(parts)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (const auto& part : parts_) part->decode_chain(tokens);
  }

 private:
  std::vector<DecoderPtr> parts_;
};

}  // namespace

std::string clean_up_tokenization(std::string text) {
  static const std::pair<std::string_view, std::string_view> kRules[] = {
      {" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"}, {" n't", "n't"},
      {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"},
  };
  for (const auto& [from, to] : kRules) replace_all(text, from, to);
  return text;
}

DecoderPtr make_wordpiece_decoder(std::string prefix, bool cleanup) {
  return std::make_unique<WordPieceDecoder>(std::move(prefix), cleanup);
}
DecoderPtr make_byte_level_decoder() { return std::make_unique<ByteLevelDecoder>(); }
DecoderPtr make_byte_fallback_decoder() { return std::make_unique<ByteFallbackDecoder>(); }
DecoderPtr make_fuse_decoder() { return std::make_unique<FuseDecoder>(); }
DecoderPtr make_replace_decoder(std::string pattern, std::string content) {
  return std::make_unique<ReplaceDecoder>(std::move(pattern), std::move(content));
}
DecoderPtr make_strip_decoder(std::string content, size_t start, size_t stop) {
  return std::make_unique<StripDecoder>(std::move(content), start, stop);
}
DecoderPtr make_metaspace_decoder(std::string replacement, bool strip_prefix) {
  return std::make_unique<MetaspaceDecoder>(std::move(replacement), strip_prefix);
}
DecoderPtr make_bpe_suffix_decoder(std::string suffix) { return std::make_unique<BpeSuffixDecoder>(std::move(suffix)); }
DecoderPtr make_sequence_decoder(std::vector<DecoderPtr> parts) {
  return std::make_unique<SequenceDecoder>(std::move(parts)); }

}  // namespace octet::text
