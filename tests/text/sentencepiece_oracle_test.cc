// octet's own SentencePiece algorithms against libsentencepiece itself, on
// the Llama-2 model and on small BPE/Unigram models trained here, over real
// text (SST-2, WikiText-2).
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <fstream>

#include <gtest/gtest.h>

#include "octet/tokenizer.h"
#include "text/text_test_util.h"

namespace octet {
namespace {

namespace fs = std::filesystem;
using testing::shared_path;

std::vector<std::string> lines_of(const fs::path& path, size_t skip, size_t limit) {
  const std::string text = testing::read_text(path);
  std::vector<std::string> lines;
  size_t start = 0, index = 0;
  while (start < text.size() && lines.size() < limit) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    start = end + 1;
    if (index++ < skip || line.empty()) continue;
    // Text that spells a special token would be split off by octet and not by
    // raw sentencepiece; WikiText writes rare words as "<unk>".
    if (line.find("<unk>") != std::string::npos || line.find("<s>") != std::string::npos ||
        line.find("</s>") != std::string::npos) {
      continue;
    }
    lines.push_back(std::move(line));
  }
  return lines;
}

// Dev sentences (raw, with the tab and label cut), WikiText lines, odd strings.
std::vector<std::string> corpus() {
  std::vector<std::string> texts;
  for (std::string s : lines_of(shared_path("data/sst2/dev.tsv"), 1, 900)) texts.push_back(s.substr(0, s.rfind('\t')));
  for (std::string s : lines_of(shared_path("data/wikitext-2/wiki.test.raw"), 0, 300)) texts.push_back(std::move(s));
  for (const auto& c : testing::load_cases("llama2")) {
    if (c.text.find("<s>") == std::string::npos) texts.push_back(c.text);
  }
  texts.push_back("  leading  and   repeated   spaces  ");
  texts.push_back("\u00e9\u00e9\u00e9 \U0001F600\U0001F600 \u4e2d\u6587 \u0645\u0631\u062d\u0628\u0627");
  // NFKC and NMT-rule material: fullwidth, ligature, circled digit, NBSP, ZWSP, controls, U+2581.
  texts.push_back("\uff21\uff22\uff23 \ufb01ne \u2460\u00a0x\u200by\tz\x01w\r\n \u2581 e\u0301");
  return texts;
}

// Compares octet's ids with sp.Encode on every text; returns how many were compared.
size_t expect_same_as_sentencepiece(const Tokenizer& tok, const sentencepiece::SentencePieceProcessor& sp,
                                    const std::vector<std::string>& texts, const char* what) {
  size_t mismatches = 0;
  for (const auto& text : texts) {
    std::vector<int> want;
    EXPECT_TRUE(sp.Encode(text, &want).ok());
    const Encoding got = tok.encode(text, {.add_special_tokens = false});
    const std::vector<int64_t> want64(want.begin(), want.end());
    if (got.ids != want64 && ++mismatches <= 5) ADD_FAILURE() << what << ": differs on: " << text;
  }
  EXPECT_EQ(mismatches, 0u) << what;
  return texts.size();
}

TEST(SentencePieceOracle, Llama2ModelFileAndInMemoryTables) {
  const fs::path model = shared_path("fixtures/tokenizers/llama2/tokenizer.model");
  sentencepiece::SentencePieceProcessor sp;
  ASSERT_TRUE(sp.Load(model.string()).ok());
  const auto texts = corpus();
  const Tokenizer from_file = Tokenizer::from_sentencepiece_model(model);
  EXPECT_GT(expect_same_as_sentencepiece(from_file, sp, texts, "tokenizer.model"), 1000u);

  // The tables GGUF carries (pieces, scores, types) through the in-memory path.
  std::vector<std::string> pieces;
  std::vector<float> scores;
  std::vector<int32_t> types;
  for (int i = 0; i < sp.GetPieceSize(); ++i) {
    pieces.push_back(sp.IdToPiece(i));
    scores.push_back(sp.GetScore(i));
    types.push_back(sp.IsUnknown(i) ? 2 : sp.IsControl(i) ? 3 : sp.IsUnused(i) ? 5 : sp.IsByte(i) ? 6 : 1);
  }
  const Tokenizer from_tables = Tokenizer::from_sentencepiece_vocab(pieces, scores, types);
  expect_same_as_sentencepiece(from_tables, sp, texts, "in-memory tables");
}

// Trains a small model on SST-2 training sentences.
fs::path train(const std::string& type, const std::string& extra) {
  const fs::path dir = testing::temp_dir();
  const fs::path input = dir / "train.txt";
  {
    std::ofstream out(input);
    for (const auto& s : lines_of(shared_path("data/sst2/train.tsv"), 1, 4000)) out << s.substr(0, s.rfind('\t')) << "\n";
  }
  const std::string args = "--input=" + input.string() + " --model_prefix=" + (dir / "m").string() +
                           " --model_type=" + type + " --vocab_size=600 --character_coverage=1.0 --num_threads=1" +
                           " --minloglevel=2 " + extra;
  const auto status = sentencepiece::SentencePieceTrainer::Train(args);
  EXPECT_TRUE(status.ok()) << status.ToString();
  return dir / "m.model";
}

void expect_trained_model_matches(const std::string& type, const std::string& extra) {
  const fs::path model = train(type, extra);
  sentencepiece::SentencePieceProcessor sp;
  ASSERT_TRUE(sp.Load(model.string()).ok());
  const Tokenizer tok = Tokenizer::from_sentencepiece_model(model);
  expect_same_as_sentencepiece(tok, sp, corpus(), (type + " " + extra).c_str());
}

TEST(SentencePieceOracle, TrainedUnigramWithByteFallback) {
  expect_trained_model_matches("unigram",
                               "--normalization_rule_name=identity --byte_fallback=true --user_defined_symbols=@@,foo");
}

TEST(SentencePieceOracle, TrainedUnigramWithUnknownsAndExtraWhitespace) {
  // identity normalization, but the default remove_extra_whitespaces=true.
  expect_trained_model_matches("unigram", "--normalization_rule_name=identity");
}

TEST(SentencePieceOracle, TrainedUnigramWithDefaultNmtNfkc) {
  // The default normalizer is a precompiled nmt_nfkc charsmap; octet uses NFKC + the NMT rules.
  expect_trained_model_matches("unigram", "");
}

TEST(SentencePieceOracle, TrainedBpeWithByteFallbackAndNmtNfkc) {
  expect_trained_model_matches("bpe", "--byte_fallback=true");
}

TEST(SentencePieceOracle, TrainedBpeWithUnknowns) {
  expect_trained_model_matches("bpe", "--normalization_rule_name=identity --user_defined_symbols=@@,foo");
}

}  // namespace
}  // namespace octet
