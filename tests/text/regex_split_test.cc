// The hand-written split regexes against Python's `regex` module (which
// transformers uses): the expected lists below are regex.findall(pattern, text)
// output, pasted as known answers.
#include <gtest/gtest.h>

#include "text/regex_split.h"

namespace octet::text {
namespace {

std::vector<std::string> split(SplitRegex regex, std::string_view text) {
  std::vector<std::string> out;
  size_t covered = 0;
  for (const auto& [b, e] : find_matches(regex, text)) {
    EXPECT_EQ(b, covered) << "patterns with a \\s+ fallback cover the text without gaps";
    out.emplace_back(text.substr(b, e - b));
    covered = e;
  }
  return out;
}

using Strings = std::vector<std::string>;

TEST(SplitRegex, RecognizesTokenizerJsonPatterns) {
  EXPECT_EQ(recognize_split_regex(R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)"),
            SplitRegex::Gpt2);
  EXPECT_EQ(recognize_split_regex(
                R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"),
            SplitRegex::Llama3);
  EXPECT_EQ(recognize_split_regex(
                R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"),
            SplitRegex::Llama3Digit);
  EXPECT_FALSE(recognize_split_regex(R"(\p{L}+)").has_value());
}

TEST(SplitRegex, Gpt2MatchesPythonRegex) {
  const SplitRegex r = SplitRegex::Gpt2;
  EXPECT_EQ(split(r, "Hello world!"), (Strings{"Hello", " world", "!"}));
  EXPECT_EQ(split(r, "  two  spaces\t\ttab"), (Strings{" ", " two", " ", " spaces", "\t", "\t", "tab"}));
  EXPECT_EQ(split(r, "I'M here, they'LL go; it's 12345 o'clock"),
            (Strings{"I", "'", "M", " here", ",", " they", "'", "LL", " go", ";", " it", "'s", " 12345", " o", "'", "clock"}));
  EXPECT_EQ(split(r, "line\n\n  next \r\n"), (Strings{"line", "\n\n ", " next", " \r\n"}));
  EXPECT_EQ(split(r, "caf\u00e9 na\u00efve 3.14e10"), (Strings{"caf\u00e9", " na\u00efve", " 3", ".", "14", "e", "10"}));
  EXPECT_EQ(split(r, "x\u00b2+y\u00b3 \u2264 \u221e"), (Strings{"x", "\u00b2", "+", "y", "\u00b3", " \u2264", " \u221e"}));
  EXPECT_EQ(split(r, "\u65e5\u672c\u8a9e \u30c6\u30ad\u30b9\u30c8"), (Strings{"\u65e5\u672c\u8a9e", " \u30c6\u30ad\u30b9\u30c8"}));
  EXPECT_EQ(split(r, "a\u00a0b \u200bc"), (Strings{"a", "\u00a0", "b", " \u200b", "c"}));
  EXPECT_EQ(split(r, "!!! ??? ..."), (Strings{"!!!", " ???", " ..."}));
  EXPECT_EQ(split(r, "   "), (Strings{"   "}));
  EXPECT_EQ(split(r, "e\u0301 "), (Strings{"e", "\u0301", " "}));
}

TEST(SplitRegex, Llama3MatchesPythonRegex) {
  const SplitRegex r = SplitRegex::Llama3;
  EXPECT_EQ(split(r, "Hello world!"), (Strings{"Hello", " world", "!"}));
  EXPECT_EQ(split(r, "  two  spaces\t\ttab"), (Strings{" ", " two", " ", " spaces", "\t", "\ttab"}));
  EXPECT_EQ(split(r, "I'M here, they'LL go; it's 12345 o'clock"),
            (Strings{"I", "'M", " here", ",", " they", "'LL", " go", ";", " it", "'s", " ", "123", "45", " o", "'clock"}));
  EXPECT_EQ(split(r, "line\n\n  next \r\n"), (Strings{"line", "\n\n", " ", " next", " \r\n"}));
  EXPECT_EQ(split(r, "caf\u00e9 na\u00efve 3.14e10"), (Strings{"caf\u00e9", " na\u00efve", " ", "3", ".", "14", "e", "10"}));
  EXPECT_EQ(split(r, "x\u00b2+y\u00b3 \u2264 \u221e"), (Strings{"x", "\u00b2", "+y", "\u00b3", " \u2264", " \u221e"}));
  EXPECT_EQ(split(r, "\u65e5\u672c\u8a9e \u30c6\u30ad\u30b9\u30c8"), (Strings{"\u65e5\u672c\u8a9e", " \u30c6\u30ad\u30b9\u30c8"}));
  EXPECT_EQ(split(r, "a\u00a0b \u200bc"), (Strings{"a", "\u00a0b", " \u200b", "c"}));
  EXPECT_EQ(split(r, "!!! ??? ..."), (Strings{"!!!", " ???", " ..."}));
  EXPECT_EQ(split(r, "   "), (Strings{"   "}));
  EXPECT_EQ(split(r, "e\u0301 "), (Strings{"e", "\u0301", " "}));
}

TEST(SplitRegex, InvalidUtf8KeepsBytes) {
  // An invalid byte is one "other" character; byte ranges stay exact.
  const std::string text = "ab\xff\xfe cd";
  EXPECT_EQ(split(SplitRegex::Gpt2, text), (Strings{"ab", "\xff\xfe", " cd"}));
}

}  // namespace
}  // namespace octet::text
