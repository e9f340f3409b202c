#include "text/regex_split.h"

#include "text/unicode.h"

namespace octet::text {

namespace {

// A decoded view of the text: one entry per code point with its byte offset.
struct Chars {
  std::vector<char32_t> cp;
  std::vector<size_t> offset;  // offset.size() == cp.size() + 1

  explicit Chars(std::string_view text) {
    for (size_t pos = 0; pos < text.size();) {
      offset.push_back(pos);
      cp.push_back(next_code_point(text, pos));
    }
    offset.push_back(text.size());
  }
  size_t size() const { return cp.size(); }
  char32_t at(size_t i) const { return i < cp.size() ? cp[i] : 0; }
  bool valid(size_t i) const { return i < cp.size(); }
};

bool is_space(char32_t c) { return is_unicode_whitespace(c); }
bool is_newline(char32_t c) { return c == '\r' || c == '\n'; }
bool is_other(char32_t c) { return !is_space(c) && !is_letter(c) && !is_number(c); }  // [^\s\p{L}\p{N}]
char32_t ascii_lower(char32_t c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

// Length of a contraction ('s 't 're 've 'm 'll 'd) at i, 0 if none.
size_t match_contraction(const Chars& s, size_t i, bool ignore_case) {
  if (s.at(i) != '\'') return 0;
  auto c = [&](size_t k) { return ignore_case ? ascii_lower(s.at(k)) : s.at(k); };
  const char32_t a = c(i + 1), b = c(i + 2);
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
  if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
  return 0;
}

size_t run(const Chars& s, size_t i, bool (*pred)(char32_t)) {
  size_t j = i;
  while (s.valid(j) && pred(s.at(j))) ++j;
  return j - i;
}

// \s+(?!\S) then \s+: a whitespace run, leaving its last char to the next
// token when a non-space follows.
size_t match_trailing_space(const Chars& s, size_t i) {
  const size_t n = run(s, i, is_space);
  if (n == 0) return 0;
  if (!s.valid(i + n) || n == 1) return n;
  return n - 1;
}

size_t match_gpt2(const Chars& s, size_t i) {
  if (size_t n = match_contraction(s, i, false)) return n;
  const size_t sp = s.at(i) == ' ' ? 1 : 0;
  if (size_t n = run(s, i + sp, is_letter)) return sp + n;
  if (size_t n = run(s, i + sp, is_number)) return sp + n;
  if (size_t n = run(s, i + sp, is_other)) return sp + n;
  if (size_t n = match_trailing_space(s, i)) return n;
  return 1;  // unreachable: every char is a letter, number, space or other
}

size_t match_llama3(const Chars& s, size_t i, size_t max_digits) {
  if (size_t n = match_contraction(s, i, true)) return n;
  // [^\r\n\p{L}\p{N}]?\p{L}+
  if (is_letter(s.at(i))) return run(s, i, is_letter);
  const char32_t c = s.at(i);
  if (!is_newline(c) && !is_number(c) && s.valid(i + 1) && is_letter(s.at(i + 1))) return 1 + run(s, i + 1, is_letter);
  // \p{N}{1,max}
  if (size_t n = run(s, i, is_number)) return n < max_digits ? n : max_digits;
  // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
  const size_t sp = c == ' ' ? 1 : 0;
  if (size_t n = run(s, i + sp, is_other)) return sp + n + run(s, i + sp + n, is_newline);
  // \s*[\r\n]+ : up to the last newline of the whitespace run
  const size_t ws = run(s, i, is_space);
  for (size_t k = ws; k > 0; --k) {
    if (is_newline(s.at(i + k - 1))) return k;
  }
  if (size_t n = match_trailing_space(s, i)) return n;
  return 1;
}

bool is_word_char(char32_t c) { return is_letter(c) || is_number(c) || is_mark(c) || c == '_' || general_category(c) == 12; }
bool is_symbol_char(char32_t c) { return !is_word_char(c) && !is_space(c); }

}  // namespace

std::optional<SplitRegex> recognize_split_regex(std::string_view pattern) {
  if (pattern == R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)") return SplitRegex::Gpt2;
  const std::string_view llama3_head = R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|)";
  const std::string_view llama3_tail = R"(| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
  if (pattern.starts_with(llama3_head) && pattern.ends_with(llama3_tail) &&
      pattern.size() > llama3_head.size() + llama3_tail.size()) {
    const auto middle = pattern.substr(llama3_head.size(), pattern.size() - llama3_head.size() - llama3_tail.size());
    if (middle == R"(\p{N}{1,3})") return SplitRegex::Llama3;
    if (middle == R"(\p{N})") return SplitRegex::Llama3Digit;
  }
  if (pattern == R"(\s+)") return SplitRegex::Whitespace;
  if (pattern == R"(\w+|[^\w\s]+)") return SplitRegex::Words;
  return std::nullopt;
}

std::vector<std::pair<size_t, size_t>> find_matches(SplitRegex regex, std::string_view text) {
  const Chars s(text);
  std::vector<std::pair<size_t, size_t>> matches;
  for (size_t i = 0; i < s.size();) {
    size_t n = 0;
    switch (regex) {
      case SplitRegex::Gpt2: n = match_gpt2(s, i); break;
      case SplitRegex::Llama3: n = match_llama3(s, i, 3); break;
      case SplitRegex::Llama3Digit: n = match_llama3(s, i, 1); break;
      case SplitRegex::Whitespace: n = run(s, i, is_space); break;
      case SplitRegex::Words:
        n = run(s, i, is_word_char);
        if (n == 0) n = run(s, i, is_symbol_char);
        break;
    }
    if (n == 0) {
      ++i;  // no match here: findall moves on one character
      continue;
    }
    matches.emplace_back(s.offset[i], s.offset[i + n]);
    i += n;
  }
  return matches;
}

}  // namespace octet::text
