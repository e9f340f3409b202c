// TextStream: streamed text equals the whole decode, incomplete UTF-8 and
// possible stop-string prefixes are held back, stop strings cut the text.
#include <gtest/gtest.h>

#include <map>

#include "serve/text_stream.h"

namespace octet::serve {
namespace {

// A toy detokenizer: each id maps to a piece; id 9 is a lone UTF-8 lead byte
// that only forms a character with id 10's continuation bytes.
std::string decode(std::span<const int64_t> ids) {
  static const std::map<int64_t, std::string> pieces = {{1, "Hello"}, {2, " wor"}, {3, "ld"}, {4, "!"},
                                                        {5, " END"},  {6, "ing"},  {9, "\xC3"}, {10, "\xA9"}};
  std::string raw;
  for (const int64_t id : ids) raw += pieces.at(id);
  // Like real tokenizers, an incomplete UTF-8 tail decodes as U+FFFD.
  if (!raw.empty() && static_cast<unsigned char>(raw.back()) == 0xC3) raw.back() = '?', raw += "\xEF\xBF\xBD";
  return raw;
}

std::string run(TextStream& s, const std::vector<int64_t>& ids, std::vector<std::string>* deltas = nullptr) {
  std::string out;
  for (const int64_t id : ids) {
    const std::string d = s.push(id);
    if (deltas) deltas->push_back(d);
    out += d;
    if (s.stopped()) break;
  }
  return out + s.finish();
}

TEST(TextStream, DeltasConcatenateToTheWholeText) {
  const std::vector<int64_t> context{1};
  TextStream s(decode, context, {});
  EXPECT_EQ(run(s, {2, 3, 4}), " world!");
  EXPECT_EQ(s.text(), " world!");
}

TEST(TextStream, IncompleteUtf8IsHeldBack) {
  const std::vector<int64_t> context{};
  TextStream s(decode, context, {});
  std::vector<std::string> deltas;
  EXPECT_EQ(run(s, {1, 9, 10}, &deltas), "Hello\xC3\xA9");
  ASSERT_EQ(deltas.size(), 3u);
  EXPECT_EQ(deltas[1], "");  // the lead byte alone is not released
  EXPECT_EQ(deltas[2], "\xC3\xA9");
}

TEST(TextStream, StopStringCutsTheTextAndEndsTheStream) {
  const std::vector<int64_t> context{};
  TextStream s(decode, context, {" END"});
  EXPECT_EQ(run(s, {1, 2, 3, 5, 4}), "Hello world");
  EXPECT_TRUE(s.stopped());
}

TEST(TextStream, PossibleStopPrefixIsHeldBackThenReleased) {
  // " wor" could start " world!" (a stop string) and is held; "ing" proves it is not.
  const std::vector<int64_t> context{};
  TextStream s(decode, context, {" world!"});
  std::vector<std::string> deltas;
  EXPECT_EQ(run(s, {1, 2, 6}, &deltas), "Hello woring");
  EXPECT_EQ(deltas[1], "");
  EXPECT_FALSE(s.stopped());
}

TEST(TextStream, StopStringSpanningTokens) {
  const std::vector<int64_t> context{};
  TextStream s(decode, context, {"world"});
  EXPECT_EQ(run(s, {1, 2, 3, 4}), "Hello ");
  EXPECT_TRUE(s.stopped());
}

// Like SentencePiece: a decode drops the word-initial space of its first piece.
std::string decode_spm(std::span<const int64_t> ids) {
  std::string out = decode(ids);
  if (!out.empty() && out[0] == ' ') out.erase(0, 1);
  return out;
}

// Hundreds of tokens (windows restart many times, some at a split UTF-8
// character): the deltas still add up to the whole text after the context.
TEST(TextStream, LongStreamEqualsOneDecodeOfEverything) {
  const std::vector<int64_t> context{1, 2};
  std::vector<int64_t> generated;
  for (int i = 0; i < 500; ++i) {
    const int64_t pattern[] = {2, 3, 4, 9, 10, 6, 2, 5};
    generated.push_back(pattern[(i * 7 + i / 3) % 8]);
  }
  TextStream s(decode_spm, context, {});
  std::string streamed;
  for (const int64_t id : generated) streamed += s.push(id);
  streamed += s.finish();
  std::vector<int64_t> all = context;
  all.insert(all.end(), generated.begin(), generated.end());
  const std::string whole = decode_spm(all), head = decode_spm(context);
  ASSERT_EQ(whole.compare(0, head.size(), head), 0);
  EXPECT_EQ(streamed, whole.substr(head.size()));
  EXPECT_EQ(s.text(), streamed);
}

}  // namespace
}  // namespace octet::serve
