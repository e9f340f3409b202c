// decode(): round trips where the tokenizer is lossless (GPT-2 byte-level,
// Llama), and BERT's WordPiece joining with hand-checked expectations.
#include <gtest/gtest.h>

#include "octet/error.h"
#include "octet/tokenizer.h"
#include "text/text_test_util.h"

namespace octet {
namespace {

using testing::load_cases;
using testing::shared_path;
using Ids = std::vector<int64_t>;

bool has_special_text(const std::string& text) {
  for (const char* s : {"<s>", "</s>", "<unk>", "<|endoftext|>", "[CLS]", "[SEP]"}) {
    if (text.find(s) != std::string::npos) return true;
  }
  return false;
}

TEST(Decode, Gpt2RoundTripsEveryFixture) {
  const Tokenizer tok = Tokenizer::load(shared_path("fixtures/tokenizers/gpt2"));
  for (const auto& c : load_cases("gpt2")) {
    EXPECT_EQ(tok.decode(c.ids, /*skip_special_tokens=*/false), c.text);
    if (!has_special_text(c.text)) {
      EXPECT_EQ(tok.decode(c.ids), c.text);
    }
  }
  // Skipping special tokens drops <|endoftext|> only.
  EXPECT_EQ(tok.decode(tok.encode("a<|endoftext|>b").ids), "ab");
}

TEST(Decode, Gpt2InvalidUtf8BecomesReplacementChar) {
  const Tokenizer tok = Tokenizer::load(shared_path("fixtures/tokenizers/gpt2"));
  // "日" is E6 97 A5 = tokens "æĹ" (E6 97) + "¥" (A5).
  ASSERT_EQ(tok.id_to_token(33768), "\u00e6\u0139");
  EXPECT_EQ(tok.decode(Ids{33768, 98}), "\u65e5");
  // A truncated sequence is one U+FFFD, as Python's errors="replace" gives.
  EXPECT_EQ(tok.decode(Ids{33768}), "\ufffd");
  EXPECT_EQ(tok.decode(Ids{98, 33768, 98}), "\ufffd\u65e5");
}

void expect_llama_round_trips(const Tokenizer& tok, const std::string& fixture) {
  int checked = 0;
  for (const auto& c : load_cases(fixture)) {
    if (has_special_text(c.text)) continue;  // special tokens in the text are dropped on decode
    EXPECT_EQ(tok.decode(tok.encode(c.text).ids), c.text) << fixture;
    ++checked;
  }
  EXPECT_EQ(checked, 39);
}

TEST(Decode, LlamaRoundTripsEveryFixture) {
  expect_llama_round_trips(Tokenizer::load(shared_path("fixtures/tokenizers/llama2")), "llama2");
  SentencePieceOptions non_legacy;
  non_legacy.legacy = false;
  expect_llama_round_trips(Tokenizer::from_sentencepiece_model(
                               shared_path("fixtures/tokenizers/llama2_legacy_false/tokenizer.model"), non_legacy),
                           "llama2_legacy_false");
}

TEST(Decode, LlamaSpecialsAndByteFallback) {
  const Tokenizer tok = Tokenizer::load(shared_path("fixtures/tokenizers/llama2"));
  const Ids hello = {1, 15043, 3186, 29991};  // <s> ▁Hello ▁world !
  EXPECT_EQ(tok.decode(hello), "Hello world!");
  EXPECT_EQ(tok.decode(hello, false), "<s> Hello world!");
  // <0xEC> <0x9E> <0x85> is U+C785; alone, <0xEC> is invalid UTF-8.
  EXPECT_EQ(tok.decode(Ids{239, 161, 136}), "\uc785");
  EXPECT_EQ(tok.decode(Ids{239}), "\ufffd");
  EXPECT_TRUE(tok.is_special(0));
  EXPECT_TRUE(tok.is_special(1));
  EXPECT_FALSE(tok.is_special(239));
}

TEST(Decode, BertJoinsWordPiecesAndCleansUp) {
  const Tokenizer tok = Tokenizer::load(shared_path("fixtures/tokenizers/bert_base_uncased/vocab.txt"));
  auto round = [&](const char* text) { return tok.decode(tok.encode(text).ids); };
  EXPECT_EQ(round("Hello world!"), "hello world!");
  EXPECT_EQ(round("Don't won't can't I'm you're"), "don't won't can't i'm you're");
  EXPECT_EQ(round("antidisestablishmentarianism"), "antidisestablishmentarianism");  // anti ##dis ##est ...
  EXPECT_EQ(round("it 's a charming and often affecting journey . "), "it's a charming and often affecting journey.");
  EXPECT_EQ(tok.decode(tok.encode("Hello world!").ids, false), "[CLS] hello world! [SEP]");
  // [UNK] is special too (transformers' all_special_ids).
  EXPECT_EQ(round("Thai: \u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35\u0e04\u0e23\u0e31\u0e1a"), "thai :");  // fixture: [UNK]
}

TEST(Decode, RejectsUnknownIds) {
  const Tokenizer tok = Tokenizer::load(shared_path("fixtures/tokenizers/bert_base_uncased/vocab.txt"));
  EXPECT_THROW(tok.decode(Ids{101, 30522}), Error);
  EXPECT_THROW(tok.decode(Ids{-1}), Error);
  EXPECT_THROW(tok.id_to_token(30522), Error);
  EXPECT_EQ(tok.token_to_id("[MASK]"), 103);
  EXPECT_EQ(tok.token_to_id("no-such-token"), -1);
}

}  // namespace
}  // namespace octet
