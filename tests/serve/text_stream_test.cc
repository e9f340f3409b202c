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

}  // namespace
}  // namespace octet::serve
