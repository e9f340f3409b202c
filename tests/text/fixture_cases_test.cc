// Every case in fixtures/tokenizers/*/cases.json (made by transformers' slow
// tokenizers) must encode to exactly the listed ids and tokens.
#include <fstream>

#include <gtest/gtest.h>

#include "octet/tokenizer.h"
#include "text/text_test_util.h"

namespace octet {
namespace {

using testing::load_cases;
using testing::load_meta_options;
using testing::shared_path;

// Encodes every case and reports each mismatch with its text.
void expect_cases(const Tokenizer& tok, const std::string& fixture) {
  const auto cases = load_cases(fixture);
  ASSERT_EQ(cases.size(), 40u) << fixture;
  int failures = 0;
  for (const auto& c : cases) {
    const Encoding e = tok.encode(c.text);
    EXPECT_EQ(e.ids, c.ids) << fixture << " text: " << c.text;
    EXPECT_EQ(e.tokens, c.tokens) << fixture << " text: " << c.text;
    EXPECT_EQ(e.attention_mask, std::vector<int64_t>(c.ids.size(), 1));
    EXPECT_EQ(e.type_ids, std::vector<int64_t>(c.ids.size(), 0));
    failures += e.ids != c.ids;
  }
  EXPECT_EQ(failures, 0) << fixture;
}

TEST(TokenizerFixtures, BertFromVocabTxt) {
  // The slow BertTokenizer reads vocab.txt + tokenizer_config.json.
  const auto meta = load_meta_options("bert_base_uncased");
  const Tokenizer tok = Tokenizer::load(shared_path("fixtures/tokenizers/bert_base_uncased/vocab.txt"));
  EXPECT_TRUE(meta.at("do_lower_case").get<bool>());
  EXPECT_EQ(tok.vocab_size(), 30522u);
  EXPECT_EQ(tok.special_ids().cls, 101);
  EXPECT_EQ(tok.special_ids().sep, 102);
  EXPECT_EQ(tok.special_ids().pad, 0);
  EXPECT_EQ(tok.special_ids().unk, 100);
  EXPECT_EQ(tok.model_max_length(), meta.at("model_max_length").get<int64_t>());
  expect_cases(tok, "bert_base_uncased");
}

TEST(TokenizerFixtures, BertFromTokenizerJson) {
  // The folder has tokenizer.json, which load() prefers; it must agree too.
  const Tokenizer tok = Tokenizer::load(shared_path("fixtures/tokenizers/bert_base_uncased"));
  EXPECT_EQ(tok.special_ids().cls, 101);
  expect_cases(tok, "bert_base_uncased");
}

TEST(TokenizerFixtures, BertFromInMemoryVocab) {
  // The same vocabulary handed over as an array (as a GGUF file carries it).
  const std::string text = testing::read_text(shared_path("fixtures/tokenizers/bert_base_uncased/vocab.txt"));
  std::vector<std::string> vocab;
  for (size_t start = 0, end; start < text.size(); start = end + 1) {
    end = text.find('\n', start);
    vocab.push_back(text.substr(start, end - start));
  }
  expect_cases(Tokenizer::from_wordpiece(std::move(vocab)), "bert_base_uncased");
}

TEST(TokenizerFixtures, Gpt2) {
  const auto meta = load_meta_options("gpt2");
  ASSERT_FALSE(meta.at("add_prefix_space").get<bool>());
  const Tokenizer tok = Tokenizer::load(shared_path("fixtures/tokenizers/gpt2"));
  EXPECT_EQ(tok.vocab_size(), 50257u);
  EXPECT_EQ(tok.num_special_tokens(false), 0u);  // GPT2Tokenizer adds no BOS/EOS
  EXPECT_EQ(tok.special_ids().eos, 50256);
  expect_cases(tok, "gpt2");
}

SentencePieceOptions llama_options(const nlohmann::json& meta) {
  SentencePieceOptions o;
  o.legacy = meta.at("legacy").get<bool>();
  o.add_bos = meta.at("add_bos_token").get<bool>();
  o.add_eos = meta.at("add_eos_token").get<bool>();
  return o;
}

TEST(TokenizerFixtures, Llama2Legacy) {
  const auto meta = load_meta_options("llama2");
  ASSERT_TRUE(meta.at("legacy").get<bool>());
  // load() on the folder uses LlamaTokenizer's defaults, which are these options.
  const Tokenizer tok = Tokenizer::load(shared_path("fixtures/tokenizers/llama2"));
  EXPECT_EQ(tok.vocab_size(), 32000u);
  EXPECT_EQ(tok.special_ids().bos, 1);
  EXPECT_EQ(tok.special_ids().eos, 2);
  EXPECT_EQ(tok.special_ids().unk, 0);
  expect_cases(tok, "llama2");
  expect_cases(Tokenizer::from_sentencepiece_model(shared_path("fixtures/tokenizers/llama2/tokenizer.model"),
                                                   llama_options(meta)),
               "llama2");
}

TEST(TokenizerFixtures, Llama2NonLegacy) {
  const auto meta = load_meta_options("llama2_legacy_false");
  ASSERT_FALSE(meta.at("legacy").get<bool>());
  const Tokenizer tok = Tokenizer::from_sentencepiece_model(
      shared_path("fixtures/tokenizers/llama2_legacy_false/tokenizer.model"), llama_options(meta));
  expect_cases(tok, "llama2_legacy_false");
}

TEST(TokenizerFixtures, LegacyFlagMattersOnlyAroundSpecialTokens) {
  // The non-legacy tokenizer on the legacy fixture: only the case with
  // special tokens in the text differs (meta.json's cross-check says the same).
  SentencePieceOptions o;
  o.legacy = false;
  const Tokenizer tok =
      Tokenizer::from_sentencepiece_model(shared_path("fixtures/tokenizers/llama2/tokenizer.model"), o);
  std::vector<std::string> differing;
  for (const auto& c : load_cases("llama2")) {
    if (tok.encode(c.text).ids != c.ids) differing.push_back(c.text);
  }
  EXPECT_EQ(differing, (std::vector<std::string>{"Special tokens in text: [CLS] [SEP] <s> </s> <|endoftext|> <unk>"}));
}

TEST(TokenizerFixtures, LegacyFalseFromTokenizerConfig) {
  // load() reads "legacy" from tokenizer_config.json next to tokenizer.model.
  const auto dir = testing::temp_dir();
  std::filesystem::copy_file(shared_path("fixtures/tokenizers/llama2_legacy_false/tokenizer.model"),
                             dir / "tokenizer.model");
  std::ofstream(dir / "tokenizer_config.json") << R"({"tokenizer_class": "LlamaTokenizer", "legacy": false})";
  expect_cases(Tokenizer::load(dir), "llama2_legacy_false");
}

TEST(TokenizerFixtures, NoSpecialTokensOnRequest) {
  const Tokenizer llama = Tokenizer::load(shared_path("fixtures/tokenizers/llama2"));
  EXPECT_EQ(llama.encode("Hello world!", {.add_special_tokens = false}).ids, (std::vector<int64_t>{15043, 3186, 29991}));
  const Tokenizer bert = Tokenizer::load(shared_path("fixtures/tokenizers/bert_base_uncased/vocab.txt"));
  EXPECT_EQ(bert.encode("Hello world!", {.add_special_tokens = false}).ids, (std::vector<int64_t>{7592, 2088, 999}));
}

}  // namespace
}  // namespace octet
