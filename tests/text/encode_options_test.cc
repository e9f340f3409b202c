// Pairs, templates, truncation and padding, with expectations worked out by
// hand from bert-base-uncased ids (hello 7592, world 2088, ! 999, the 1996,
// quick 4248, brown 2829, fox 4419, . 1012; [CLS] 101, [SEP] 102, [PAD] 0).
#include <gtest/gtest.h>

#include "octet/error.h"
#include "octet/tokenizer.h"
#include "text/text_test_util.h"

namespace octet {
namespace {

using testing::shared_path;
using Ids = std::vector<int64_t>;

const Tokenizer& bert() {
  static const Tokenizer tok = Tokenizer::load(shared_path("fixtures/tokenizers/bert_base_uncased/vocab.txt"));
  return tok;
}

constexpr const char* kHello = "Hello world!";          // hello world !         (3 tokens)
constexpr const char* kFox = "The quick brown fox.";    // the quick brown fox . (5 tokens)

TEST(EncodeOptions, BertPairTemplateAndTypeIds) {
  const Encoding e = bert().encode_pair(kHello, kFox);
  EXPECT_EQ(e.ids, (Ids{101, 7592, 2088, 999, 102, 1996, 4248, 2829, 4419, 1012, 102}));
  EXPECT_EQ(e.type_ids, (Ids{0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1}));
  EXPECT_EQ(e.special_tokens_mask, (Ids{1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1}));
  EXPECT_EQ(e.tokens.front(), "[CLS]");
  EXPECT_EQ(bert().num_special_tokens(true), 3u);
  // Without special tokens: the two sequences, type ids 0 then 1.
  const Encoding plain = bert().encode_pair(kHello, kFox, {.add_special_tokens = false});
  EXPECT_EQ(plain.ids, (Ids{7592, 2088, 999, 1996, 4248, 2829, 4419, 1012}));
  EXPECT_EQ(plain.type_ids, (Ids{0, 0, 0, 1, 1, 1, 1, 1}));
}

TEST(EncodeOptions, TruncateSingleSequence) {
  const Encoding e = bert().encode(kFox, {.max_length = 4, .truncation = Truncation::LongestFirst});
  EXPECT_EQ(e.ids, (Ids{101, 1996, 4248, 102}));
  const Encoding left = bert().encode(kFox, {.max_length = 4, .truncation = Truncation::LongestFirst,
                                             .truncation_side = Side::Left});
  EXPECT_EQ(left.ids, (Ids{101, 4419, 1012, 102}));
  // max_length without a truncation strategy leaves the text whole.
  EXPECT_EQ(bert().encode(kFox, {.max_length = 4}).size(), 7u);
}

TEST(EncodeOptions, TruncatePairLongestFirst) {
  // fox (5) + hello (3) + 3 specials into 8: 3 tokens go, one at a time from
  // the longer side, the second on ties: 5/3 -> 4/3 -> 3/3 -> 3/2.
  const EncodeOptions o{.max_length = 8, .truncation = Truncation::LongestFirst};
  EXPECT_EQ(bert().encode_pair(kFox, kHello, o).ids, (Ids{101, 1996, 4248, 2829, 102, 7592, 2088, 102}));
  // hello (3) + fox (5): 3/5 -> 3/4 -> 3/3 -> 3/2.
  EXPECT_EQ(bert().encode_pair(kHello, kFox, o).ids, (Ids{101, 7592, 2088, 999, 102, 1996, 4248, 102}));
  EncodeOptions left = o;
  left.truncation_side = Side::Left;
  EXPECT_EQ(bert().encode_pair(kFox, kHello, left).ids, (Ids{101, 2829, 4419, 1012, 102, 2088, 999, 102}));
}

TEST(EncodeOptions, TruncatePairOnlyFirstOrSecond) {
  EXPECT_EQ(bert().encode_pair(kFox, kHello, {.max_length = 8, .truncation = Truncation::OnlyFirst}).ids,
            (Ids{101, 1996, 4248, 102, 7592, 2088, 999, 102}));
  EXPECT_EQ(bert().encode_pair(kFox, kHello, {.max_length = 8, .truncation = Truncation::OnlySecond}).ids,
            (Ids{101, 1996, 4248, 2829, 4419, 1012, 102, 102}));
  // The second sequence has only 3 tokens: it cannot absorb 4.
  EXPECT_THROW(bert().encode_pair(kFox, kHello, {.max_length = 7, .truncation = Truncation::OnlySecond}), Error);
  EXPECT_NO_THROW(bert().encode(kFox, {.max_length = 7, .truncation = Truncation::OnlySecond}));  // fits: nothing to cut
  EXPECT_THROW(bert().encode(kFox, {.max_length = 6, .truncation = Truncation::OnlySecond}), Error);
  // No room left after the 3 special tokens of a pair.
  EXPECT_THROW(bert().encode_pair(kFox, kHello, {.max_length = 2, .truncation = Truncation::LongestFirst}), Error);
}

TEST(EncodeOptions, PadToMaxLengthRightAndLeft) {
  const Encoding right = bert().encode(kHello, {.max_length = 8, .padding = Padding::MaxLength});
  EXPECT_EQ(right.ids, (Ids{101, 7592, 2088, 999, 102, 0, 0, 0}));
  EXPECT_EQ(right.attention_mask, (Ids{1, 1, 1, 1, 1, 0, 0, 0}));
  EXPECT_EQ(right.type_ids, (Ids{0, 0, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(right.special_tokens_mask, (Ids{1, 0, 0, 0, 1, 1, 1, 1}));
  EXPECT_EQ(right.tokens.back(), "[PAD]");
  const Encoding left = bert().encode(kHello, {.max_length = 8, .padding = Padding::MaxLength, .padding_side = Side::Left});
  EXPECT_EQ(left.ids, (Ids{0, 0, 0, 101, 7592, 2088, 999, 102}));
  EXPECT_EQ(left.attention_mask, (Ids{0, 0, 0, 1, 1, 1, 1, 1}));
  // Longest is a no-op for one sequence unless a multiple is asked for.
  EXPECT_EQ(bert().encode(kHello, {.padding = Padding::Longest}).size(), 5u);
  EXPECT_EQ(bert().encode(kHello, {.padding = Padding::Longest, .pad_to_multiple_of = 4}).size(), 8u);
}

TEST(EncodeOptions, TruncateThenPadPair) {
  const Encoding e = bert().encode_pair(kFox, kHello, {.max_length = 12, .truncation = Truncation::LongestFirst,
                                                        .padding = Padding::MaxLength});
  EXPECT_EQ(e.ids, (Ids{101, 1996, 4248, 2829, 4419, 1012, 102, 7592, 2088, 999, 102, 0}));
  EXPECT_EQ(e.type_ids, (Ids{0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0}));
  EXPECT_EQ(e.attention_mask, (Ids{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0}));
}

TEST(EncodeOptions, BatchOfPairsPaddedLeft) {
  const std::vector<std::string> first = {kHello, "a"};
  const std::vector<std::string> second = {"a", kFox};
  const BatchEncoding b = bert().encode_batch(first, second, {.padding_side = Side::Left});
  // Rows: [CLS] hello world ! [SEP] a [SEP] (7) and [CLS] a [SEP] the quick brown fox . [SEP] (9).
  ASSERT_EQ(b.input_ids.shape(), (Shape{2, 9}));
  const Ids ids(b.input_ids.data<int64_t>(), b.input_ids.data<int64_t>() + 18);
  const Ids types(b.token_type_ids.data<int64_t>(), b.token_type_ids.data<int64_t>() + 18);
  const Ids mask(b.attention_mask.data<int64_t>(), b.attention_mask.data<int64_t>() + 18);
  EXPECT_EQ(ids, (Ids{0, 0, 101, 7592, 2088, 999, 102, 1037, 102,  //
                      101, 1037, 102, 1996, 4248, 2829, 4419, 1012, 102}));
  EXPECT_EQ(types, (Ids{0, 0, 0, 0, 0, 0, 0, 1, 1,  //
                        0, 0, 0, 1, 1, 1, 1, 1, 1}));
  EXPECT_EQ(mask, (Ids{0, 0, 1, 1, 1, 1, 1, 1, 1,  //
                       1, 1, 1, 1, 1, 1, 1, 1, 1}));
  EXPECT_EQ(b.encodings.size(), 2u);
  EXPECT_THROW(bert().encode_batch(first, std::vector<std::string>{"a"}), Error);
}

TEST(EncodeOptions, BatchPaddedToMaxLength) {
  const std::vector<std::string> texts = {kHello, kFox};
  const BatchEncoding b = bert().encode_batch(texts, {.max_length = 10, .padding = Padding::MaxLength});
  EXPECT_EQ(b.input_ids.shape(), (Shape{2, 10}));
  EXPECT_EQ(b.input_ids.data<int64_t>()[9], 0);
  EXPECT_EQ(b.attention_mask.data<int64_t>()[10 + 6], 1);  // fox row: 7 real tokens
  EXPECT_EQ(b.attention_mask.data<int64_t>()[10 + 7], 0);
}

TEST(EncodeOptions, LlamaAndGpt2Pairs) {
  const Tokenizer llama = Tokenizer::load(shared_path("fixtures/tokenizers/llama2"));
  // LlamaTokenizer: bos A bos B; type ids 0 for the first part, 1 for the second.
  const Encoding l = llama.encode_pair("Hello", "world");
  EXPECT_EQ(l.ids, (Ids{1, 15043, 1, 3186}));
  EXPECT_EQ(l.type_ids, (Ids{0, 0, 1, 1}));
  const Tokenizer gpt2 = Tokenizer::load(shared_path("fixtures/tokenizers/gpt2"));
  const Encoding g = gpt2.encode_pair("Hello", " world");
  EXPECT_EQ(g.ids, (Ids{15496, 995}));
  EXPECT_EQ(g.type_ids, (Ids{0, 1}));
  // Neither has a pad token: padding needs an explicit pad id.
  const std::vector<std::string> texts = {"Hello world!", "a"};
  EXPECT_THROW(gpt2.encode_batch(texts), Error);
  const BatchEncoding b = gpt2.encode_batch(texts, {.pad_id = 50256});
  EXPECT_EQ(b.input_ids.shape(), (Shape{2, 3}));
  EXPECT_EQ(b.input_ids.data<int64_t>()[4], 50256);
}

TEST(EncodeOptions, RobertaTemplate) {
  // ids: <s>0 <pad>1 </s>2 <unk>3 a4 b5 Ġ6 ab7 Ġab8
  BpeOptions o;
  o.roberta_template = true;
  o.bos_token = "<s>", o.eos_token = "</s>", o.pad_token = "<pad>";
  const Tokenizer tok = Tokenizer::from_bpe({"<s>", "<pad>", "</s>", "<unk>", "a", "b", "\u0120", "ab", "\u0120ab"},
                                           {{"a", "b"}, {"\u0120", "ab"}}, o);
  EXPECT_EQ(tok.encode("ab ab").ids, (Ids{0, 7, 8, 2}));
  const Encoding pair = tok.encode_pair("ab", "b a");  // "b a" -> b Ġ a (no Ġa piece)
  EXPECT_EQ(pair.ids, (Ids{0, 7, 2, 2, 5, 6, 4, 2}));
  EXPECT_EQ(pair.type_ids, (Ids{0, 0, 0, 0, 0, 0, 0, 0}));  // RoBERTa has one token type
  EXPECT_EQ(tok.decode(pair.ids), "abb a");
  EXPECT_EQ(tok.special_ids().cls, 0);
  EXPECT_EQ(tok.special_ids().pad, 1);
}

}  // namespace
}  // namespace octet

namespace octet {
namespace {

TEST(InMemoryBpe, Llama3SplitAndIgnoreMerges) {
  // ids: 1:0 2:1 3:2 4:3 5:4 6:5 12:6 123:7 34:8 45:9 456:10 3456:11
  const std::vector<std::string> vocab = {"1", "2", "3", "4", "5", "6", "12", "123", "34", "45", "456", "3456"};
  const std::vector<std::pair<std::string, std::string>> merges = {{"3", "4"}, {"1", "2"}, {"12", "3"}, {"4", "5"}, {"45", "6"}};
  BpeOptions gpt2;  // one word "123456": the top merge (3 4) crosses the digit groups
  EXPECT_EQ(Tokenizer::from_bpe(vocab, merges, gpt2).encode("123456").ids, (Ids{6, 8, 4, 5}));
  BpeOptions llama3;
  llama3.split = BpeOptions::Split::Llama3;  // "123" "456"
  EXPECT_EQ(Tokenizer::from_bpe(vocab, merges, llama3).encode("123456").ids, (Ids{7, 10}));
  BpeOptions qwen2;
  qwen2.split = BpeOptions::Split::Qwen2;  // one digit per word
  EXPECT_EQ(Tokenizer::from_bpe(vocab, merges, qwen2).encode("1234").ids, (Ids{0, 1, 2, 3}));
  // ignore_merges: a word that is itself a token is not split.
  BpeOptions whole = gpt2;
  whole.ignore_merges = true;
  EXPECT_EQ(Tokenizer::from_bpe(vocab, merges, whole).encode("3456").ids, (Ids{11}));
  EXPECT_EQ(Tokenizer::from_bpe(vocab, merges, gpt2).encode("3456").ids, (Ids{8, 4, 5}));
}

}  // namespace
}  // namespace octet
