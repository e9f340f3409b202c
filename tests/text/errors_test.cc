// Bad input: one clear Error tagged "tokenizer" that names the file.
#include <fstream>
#include <functional>
#include <vector>

#include <gtest/gtest.h>

#include "octet/error.h"
#include "octet/tokenizer.h"
#include "text/text_test_util.h"

namespace octet {
namespace {

namespace fs = std::filesystem;

void write(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

// Runs `f`, which must throw Error("tokenizer"); returns its message.
template <typename F>
std::string error_of(F f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.tag(), "tokenizer");
    return e.what();
  }
  ADD_FAILURE() << "no error thrown";
  return "";
}

void expect_contains(const std::string& message, const std::string& part) {
  EXPECT_NE(message.find(part), std::string::npos) << "message: " << message << "\nexpected to contain: " << part;
}

const char* kWordLevel = R"({"type": "WordLevel", "vocab": {"a": 0, "[UNK]": 1}, "unk_token": "[UNK]"})";

std::string json_with_model(const std::string& model) {
  return std::string(R"({"version": "1.0", "added_tokens": [], "normalizer": null, "pre_tokenizer": null,
                       "post_processor": null, "decoder": null, "model": )") + model + "}";
}

TEST(TokenizerErrors, MalformedTokenizerJson) {
  const fs::path dir = testing::temp_dir();
  const fs::path file = dir / "tokenizer.json";
  struct Case {
    std::string json, expected;
  };
  const std::vector<Case> cases = {
      {"{\"model\": {\"type\": \"BPE\", ", "invalid JSON"},
      {R"({"model": {"type": "WordLevel", "vocab": {"a": 1e400}}})", "invalid JSON"},
      {R"({"version": "1.0", "added_tokens": []})", "has no \"model\""},
      {json_with_model(R"({"type": "Mystery", "vocab": {}})"), "unknown model type 'Mystery'"},
      {json_with_model(R"({"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b", "a c"]})"),
       "merge 2 'a c' refers to 'c', which is not in the vocabulary"},
      {json_with_model(R"({"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a b"]})"), "makes 'ab'"},
      {json_with_model(R"({"type": "WordPiece", "vocab": {"a": 0}, "unk_token": "[UNK]"})"), "unk token '[UNK]'"},
      {json_with_model(R"({"type": "BPE", "vocab": {"a": "zero"}, "merges": []})"), "token 'a' id must be an integer"},
      // Floats where integers belong were converted with undefined behaviour past int64 (fuzz_tokenizer).
      {json_with_model(R"({"type": "WordLevel", "vocab": {"a": 1.24444e+29}, "unk_token": "a"})"),
       "token 'a' id must be an integer, got 1.24444e+29"},
      {json_with_model(R"({"type": "Unigram", "vocab": [["a", 0.0]], "unk_id": 1e300})"),
       "Unigram unk_id must be an integer"},
      {R"({"model": )" + std::string(kWordLevel) + R"(, "padding": {"strategy": {"Fixed": 1e29}}})",
       "padding.strategy.Fixed must be an integer"},
      {R"({"model": )" + std::string(kWordLevel) + R"(, "truncation": {"max_length": 1e29}})",
       "truncation.max_length must be an integer"},
      // Counts read with j.value<size_t>(): a float was undefined behaviour too (fuzz_tokenizer, 2026-12-06).
      {json_with_model(R"({"type": "WordPiece", "vocab": {"[UNK]": 0}, "max_input_chars_per_word": 2e115})"),
       "max_input_chars_per_word must be an integer, got 2e+115"},
      {json_with_model(R"({"type": "WordPiece", "vocab": {"[UNK]": 0}, "max_input_chars_per_word": -3})"),
       "max_input_chars_per_word must be >= 0, got -3"},
      {R"({"model": )" + std::string(kWordLevel) +
           R"(, "decoder": {"type": "Strip", "content": " ", "start": 1.5e300}})",
       "start must be an integer"},
      {R"({"model": )" + std::string(kWordLevel) + R"(, "normalizer": {"type": "Fancy"}})", "normalizer type 'Fancy'"},
      {R"({"model": )" + std::string(kWordLevel) +
           R"(, "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "[a-z]+"}, "behavior": "Isolated"}})",
       "unsupported regex '[a-z]+'"},
      {R"({"model": )" + std::string(kWordLevel) + R"(, "decoder": {"type": "Fancy"}})", "decoder type 'Fancy'"},
  };
  for (const Case& c : cases) {
    write(file, c.json);
    const std::string via_load = error_of([&] { Tokenizer::load(dir); });
    expect_contains(via_load, file.string());
    expect_contains(via_load, c.expected);
    expect_contains(error_of([&] { Tokenizer::from_tokenizer_json(file); }), file.string());
  }
}

// Ids that do not fit int32 used to wrap silently (2^40 became id 0): found by the fault-injection
// test of hostile sizes (tests/cli/fault_injection_test.cc).
TEST(TokenizerErrors, TokenIdsOutOfRange) {
  const std::string added = R"({"model": )" + std::string(kWordLevel) + R"(, "added_tokens": [{"id": ID, "content": "<x>"}]})";
  for (const std::string id : {"1099511627776", "-1", "4294967296", "18446744073709551615", "2.5"}) {
    std::string json = added;
    json.replace(json.find("ID"), 2, id);
    expect_contains(error_of([&] { Tokenizer::from_tokenizer_json_text(json); }), "added token '<x>'");
  }
  const std::string templ = R"({"model": )" + std::string(kWordLevel) + R"(, "post_processor": {"type": "TemplateProcessing",
      "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
      "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [4294967297], "tokens": ["[CLS]"]}}}})";
  expect_contains(error_of([&] { Tokenizer::from_tokenizer_json_text(templ); }), "special token '[CLS]' has invalid id");
}

TEST(TokenizerErrors, FolderWithoutTokenizerFiles) {
  const fs::path dir = testing::temp_dir();
  const std::string none = error_of([&] { Tokenizer::load(dir); });
  expect_contains(none, dir.string());
  for (const char* name : {"tokenizer.json", "vocab.txt", "vocab.json + merges.txt", "tokenizer.model"}) {
    expect_contains(none, name);
  }
  write(dir / "vocab.json", R"({"a": 0})");
  expect_contains(error_of([&] { Tokenizer::load(dir); }), "merges.txt is missing");
  expect_contains(error_of([&] { Tokenizer::load(dir / "missing"); }), "does not exist");
}

TEST(TokenizerErrors, BadSlowTokenizerFiles) {
  const fs::path dir = testing::temp_dir();
  write(dir / "vocab.json", R"({"a": 0, "b": 1})");
  write(dir / "merges.txt", "#version: 0.2\na b\n");
  expect_contains(error_of([&] { Tokenizer::load(dir); }), (dir / "merges.txt").string());
  write(dir / "merges.txt", "#version: 0.2\na b c\n");
  expect_contains(error_of([&] { Tokenizer::load(dir); }), "line 2");
  write(dir / "vocab.json", "[1, 2");
  expect_contains(error_of([&] { Tokenizer::load(dir); }), (dir / "vocab.json").string());
  const fs::path bert = testing::temp_dir();
  write(bert / "vocab.txt", "a\nb\n");  // no [UNK]
  expect_contains(error_of([&] { Tokenizer::load(bert); }), "unk token '[UNK]'");
  write(bert / "tokenizer_config.json", "{not json");
  expect_contains(error_of([&] { Tokenizer::load(bert); }), (bert / "tokenizer_config.json").string());
}

// tokenizer_config.json / special_tokens_map.json with a value of the wrong
// type: an Error naming the key for every tokenizer kind, never nlohmann's
// type_error (which escaped for a tokenizer.model file loaded by path).
TEST(TokenizerErrors, WronglyTypedTokenizerConfigValues) {
  const std::string sentencepiece =
      testing::read_text(testing::shared_path("fixtures/tokenizers/llama2/tokenizer.model"));
  struct Layout {
    const char* name;
    std::function<fs::path(const fs::path&)> write_files;  // returns what to load
  };
  const std::vector<Layout> layouts = {
      {"vocab.txt",
       [](const fs::path& d) {
         write(d / "vocab.txt", "[UNK]\n[CLS]\n[SEP]\na\n");
         return d;
       }},
      {"vocab.json + merges.txt",
       [](const fs::path& d) {
         write(d / "vocab.json", R"({"a": 0, "b": 1, "ab": 2})");
         write(d / "merges.txt", "a b\n");
         return d;
       }},
      {"tokenizer.model (folder)",
       [&](const fs::path& d) {
         write(d / "tokenizer.model", sentencepiece);
         return d;
       }},
      {"tokenizer.model (file)",
       [&](const fs::path& d) {
         write(d / "tokenizer.model", sentencepiece);
         return d / "tokenizer.model";
       }},
  };
  // Which layouts read the key (bit i = layouts[i]); the others ignore it and load.
  constexpr unsigned kWordPiece = 1, kBpe = 2, kSentencePiece = 4 | 8, kAll = 15;
  struct BadConfig {
    const char* tokenizer_config;
    const char* special_tokens_map;
    unsigned read_by;
    const char* expected;
  };
  const BadConfig bad[] = {
      {R"({"do_lower_case": 1})", "{}", kWordPiece, "\"do_lower_case\" must be true or false, got 1"},
      {R"({"add_bos_token": "yes"})", "{}", kBpe | kSentencePiece,
       "\"add_bos_token\" must be true or false, got \"yes\""},
      {R"({"add_eos_token": []})", "{}", kSentencePiece, "\"add_eos_token\" must be true or false"},
      {R"({"legacy": 0})", "{}", kSentencePiece, "\"legacy\" must be true or false"},
      {R"({"tokenizer_class": 5})", "{}", kBpe | kSentencePiece, "\"tokenizer_class\" must be a string, got 5"},
      {"[true]", "{}", kAll, "expected a JSON object, got [true]"},
      {"{}", "7", kAll, "expected a JSON object, got 7"},
      {"{}", R"({"unk_token": {"content": 3}})", kWordPiece | kBpe, "\"unk_token\": \"content\" must be a string"},
  };
  for (size_t i = 0; i < layouts.size(); ++i) {
    for (const BadConfig& b : bad) {
      SCOPED_TRACE(std::string(layouts[i].name) + " with " + b.tokenizer_config + " / " + b.special_tokens_map);
      const fs::path dir = testing::temp_dir();
      const fs::path target = layouts[i].write_files(dir);
      write(dir / "tokenizer_config.json", b.tokenizer_config);
      write(dir / "special_tokens_map.json", b.special_tokens_map);
      if (b.read_by & (1u << i)) {
        expect_contains(error_of([&] { Tokenizer::load(target); }), b.expected);
      } else {
        EXPECT_NO_THROW(Tokenizer::load(target));
      }
    }
  }
  // Null is "not set", as in transformers.
  const fs::path dir = testing::temp_dir();
  write(dir / "vocab.txt", "[UNK]\n[CLS]\n[SEP]\na\n");
  write(dir / "tokenizer_config.json", R"({"do_lower_case": null, "tokenizer_class": null, "strip_accents": null})");
  EXPECT_NO_THROW(Tokenizer::load(dir));
}

TEST(TokenizerErrors, TruncatedSentencePieceModel) {
  const std::string model = testing::read_text(testing::shared_path("fixtures/tokenizers/llama2/tokenizer.model"));
  const fs::path dir = testing::temp_dir();
  write(dir / "tokenizer.model", model.substr(0, model.size() / 2));
  const std::string message = error_of([&] { Tokenizer::load(dir); });
  expect_contains(message, (dir / "tokenizer.model").string());
  expect_contains(message, "malformed SentencePiece model");
  write(dir / "tokenizer.model", "");
  expect_contains(error_of([&] { Tokenizer::load(dir); }), "no pieces");
}

TEST(TokenizerErrors, BadInMemoryTables) {
  EXPECT_THROW(Tokenizer::from_sentencepiece_vocab({"<unk>", "a"}, {0.0f}, {2, 1}), Error);
  EXPECT_THROW(Tokenizer::from_sentencepiece_vocab({"<unk>", "a"}, {0, 0}, {2, 9}), Error);
  SentencePieceOptions o;
  o.unk_id = 5;
  EXPECT_THROW(Tokenizer::from_sentencepiece_vocab({"<unk>", "a"}, {0, 0}, {2, 1}, o), Error);
  EXPECT_THROW(Tokenizer::from_wordpiece({"a", "b"}), Error);
}

}  // namespace
}  // namespace octet
