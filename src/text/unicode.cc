#include "text/unicode.h"

#include <cstdlib>
#include <memory>
#include <vector>

#include <utf8proc.h>

#include "octet/error.h"

namespace octet::text {

namespace {

bool is_continuation(unsigned char b) { return (b & 0xC0) == 0x80; }

// Returns the length of a valid sequence at s[pos] and its code point, or 0.
size_t decode_valid(std::string_view s, size_t pos, char32_t& cp) {
  const auto b0 = static_cast<unsigned char>(s[pos]);
  if (b0 < 0x80) {
    cp = b0;
    return 1;
  }
  size_t len;
  char32_t min;
  if ((b0 & 0xE0) == 0xC0) {
    len = 2, min = 0x80, cp = b0 & 0x1F;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3, min = 0x800, cp = b0 & 0x0F;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4, min = 0x10000, cp = b0 & 0x07;
  } else {
    return 0;
  }
  if (pos + len > s.size()) return 0;
  for (size_t i = 1; i < len; ++i) {
    const auto b = static_cast<unsigned char>(s[pos + i]);
    if (!is_continuation(b)) return 0;
    cp = (cp << 6) | (b & 0x3F);
  }
  // Overlong forms, surrogates and values past U+10FFFF are invalid UTF-8.
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

}  // namespace

char32_t next_code_point(std::string_view s, size_t& pos) {
  char32_t cp = 0;
  const size_t len = decode_valid(s, pos, cp);
  if (len == 0) {
    pos += 1;
    return kReplacementChar;
  }
  pos += len;
  return cp;
}

size_t code_point_length(std::string_view s, size_t pos) {
  char32_t cp = 0;
  const size_t len = decode_valid(s, pos, cp);
  return len == 0 ? 1 : len;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

size_t count_code_points(std::string_view s) {
  size_t n = 0;
  for (size_t pos = 0; pos < s.size(); ++n) pos += code_point_length(s, pos);
  return n;
}

bool is_ascii(std::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

std::string sanitize_utf8(std::string_view s) {
  if (is_ascii(s)) return std::string(s);
  std::string out;
  out.reserve(s.size());
  for (size_t pos = 0; pos < s.size();) {
    const size_t start = pos;
    const char32_t cp = next_code_point(s, pos);
    if (cp == kReplacementChar && pos - start == 1) {
      append_utf8(out, cp);
    } else {
      out.append(s.substr(start, pos - start));
    }
  }
  return out;
}

int general_category(char32_t cp) { return utf8proc_category(static_cast<utf8proc_int32_t>(cp)); }

bool is_letter(char32_t cp) {
  if (cp < 0x80) return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
  const int c = general_category(cp);
  return c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO;
}

bool is_number(char32_t cp) {
  if (cp < 0x80) return cp >= '0' && cp <= '9';
  const int c = general_category(cp);
  return c >= UTF8PROC_CATEGORY_ND && c <= UTF8PROC_CATEGORY_NO;
}

bool is_nonspacing_mark(char32_t cp) { return cp >= 0x80 && general_category(cp) == UTF8PROC_CATEGORY_MN; }

bool is_mark(char32_t cp) {
  if (cp < 0x80) return false;
  const int c = general_category(cp);
  return c >= UTF8PROC_CATEGORY_MN && c <= UTF8PROC_CATEGORY_ME;
}

bool is_unicode_whitespace(char32_t cp) {
  // The White_Space property list (PropList.txt); it has not changed in years.
  if (cp >= 0x09 && cp <= 0x0D) return true;
  switch (cp) {
    case 0x20: case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029:
    case 0x202F: case 0x205F: case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

bool is_bert_whitespace(char32_t cp) {
  if (cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r') return true;
  return cp >= 0x80 && general_category(cp) == UTF8PROC_CATEGORY_ZS;
}

bool is_bert_control(char32_t cp) {
  if (cp == '\t' || cp == '\n' || cp == '\r') return false;
  if (cp < 0x20 || cp == 0x7F) return true;
  if (cp < 0x80) return false;
  const int c = general_category(cp);
  return c == UTF8PROC_CATEGORY_CN || c >= UTF8PROC_CATEGORY_CC;
}

bool is_bert_punctuation(char32_t cp) {
  if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126)) {
    return true;
  }
  if (cp < 0x80) return false;
  const int c = general_category(cp);
  return c >= UTF8PROC_CATEGORY_PC && c <= UTF8PROC_CATEGORY_PO;
}

bool is_cjk_ideograph(char32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF) ||
         (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

std::string normalize(std::string_view s, NormalForm form) {
  if (is_ascii(s)) return std::string(s);  // ASCII is invariant under every normal form
  const std::string clean = sanitize_utf8(s);
  int options = UTF8PROC_STABLE;
  switch (form) {
    case NormalForm::NFC: options |= UTF8PROC_COMPOSE; break;
    case NormalForm::NFD: options |= UTF8PROC_DECOMPOSE; break;
    case NormalForm::NFKC: options |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT; break;
    case NormalForm::NFKD: options |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT; break;
  }
  utf8proc_uint8_t* out = nullptr;
  const utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(clean.data()),
                                          static_cast<utf8proc_ssize_t>(clean.size()), &out,
                                          static_cast<utf8proc_option_t>(options));
  std::unique_ptr<utf8proc_uint8_t, FreeDeleter> owned(out);
  check(n >= 0, "tokenizer", "unicode normalization failed: {}", utf8proc_errmsg(n));
  return std::string(reinterpret_cast<const char*>(out), static_cast<size_t>(n));
}

namespace {

bool is_cased(char32_t cp) {
  const int c = general_category(cp);
  return c == UTF8PROC_CATEGORY_LU || c == UTF8PROC_CATEGORY_LL || c == UTF8PROC_CATEGORY_LT;
}

// Approximates Unicode's Case_Ignorable (marks, format chars, modifier letters
// and symbols, and the word-internal punctuation that Word_Break lists).
bool is_case_ignorable(char32_t cp) {
  if (cp == '\'' || cp == '.' || cp == ':' || cp == 0xB7 || cp == 0x2018 || cp == 0x2019) return true;
  const int c = general_category(cp);
  return c == UTF8PROC_CATEGORY_MN || c == UTF8PROC_CATEGORY_ME || c == UTF8PROC_CATEGORY_CF ||
         c == UTF8PROC_CATEGORY_LM || c == UTF8PROC_CATEGORY_SK;
}

}  // namespace

std::string lowercase(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  if (is_ascii(s)) {
    for (char c : s) out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
    return out;
  }
  std::vector<char32_t> cps;
  for (size_t pos = 0; pos < s.size();) cps.push_back(next_code_point(s, pos));
  for (size_t i = 0; i < cps.size(); ++i) {
    const char32_t cp = cps[i];
    if (cp == 0x130) {  // LATIN CAPITAL LETTER I WITH DOT ABOVE lowercases to two code points
      append_utf8(out, 'i');
      append_utf8(out, 0x307);
    } else if (cp == 0x3A3) {
      // Final sigma: preceded by a cased letter and not followed by one.
      bool before = false, after = false;
      for (size_t j = i; j-- > 0;) {
        if (is_case_ignorable(cps[j])) continue;
        before = is_cased(cps[j]);
        break;
      }
      for (size_t j = i + 1; j < cps.size(); ++j) {
        if (is_case_ignorable(cps[j])) continue;
        after = is_cased(cps[j]);
        break;
      }
      append_utf8(out, before && !after ? 0x3C2 : 0x3C3);
    } else {
      append_utf8(out, static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(cp))));
    }
  }
  return out;
}

std::string strip_accents(std::string_view s) {
  if (is_ascii(s)) return std::string(s);
  const std::string decomposed = normalize(s, NormalForm::NFD);
  std::string out;
  out.reserve(decomposed.size());
  for (size_t pos = 0; pos < decomposed.size();) {
    const size_t start = pos;
    const char32_t cp = next_code_point(decomposed, pos);
    if (!is_nonspacing_mark(cp)) out.append(decomposed, start, pos - start);
  }
  return out;
}

}  // namespace octet::text
