// tokenizer.json components beyond the BERT file: hand-written pipelines with
// hand-checked ids, and GPT-2 rewritten as tokenizer.json.
#include <fstream>

#include <gtest/gtest.h>

#include "octet/tokenizer.h"
#include "text/text_test_util.h"

namespace octet {
namespace {

using nlohmann::json;
using testing::shared_path;
using Ids = std::vector<int64_t>;

Tokenizer from_json(const json& j) { return Tokenizer::from_tokenizer_json_text(j.dump(), "test tokenizer.json"); }

json added(int id, const std::string& content, bool special = true) {
  return {{"id", id}, {"content", content}, {"special", special}, {"lstrip", false},
          {"rstrip", false}, {"single_word", false}, {"normalized", false}};
}

TEST(TokenizerJson, Gpt2AsTokenizerJsonMatchesSlowFiles) {
  const std::string merges_txt = testing::read_text(shared_path("fixtures/tokenizers/gpt2/merges.txt"));
  json merges_strings = json::array(), merges_pairs = json::array();
  for (size_t start = merges_txt.find('\n') + 1; start < merges_txt.size();) {  // skip "#version"
    size_t end = merges_txt.find('\n', start);
    if (end == std::string::npos) end = merges_txt.size();
    const std::string line = merges_txt.substr(start, end - start);
    start = end + 1;
    if (line.empty()) continue;
    merges_strings.push_back(line);
    merges_pairs.push_back({line.substr(0, line.find(' ')), line.substr(line.find(' ') + 1)});
  }
  json j = {
      {"version", "1.0"},
      {"added_tokens", {added(50256, "<|endoftext|>")}},
      {"normalizer", nullptr},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}}},
      {"post_processor", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", false}, {"use_regex", true}}},
      {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}}},
      {"model", {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"continuing_subword_prefix", ""},
                 {"end_of_word_suffix", ""}, {"fuse_unk", false}, {"byte_fallback", false},
                 {"vocab", testing::read_json(shared_path("fixtures/tokenizers/gpt2/vocab.json"))},
                 {"merges", merges_strings}}}};
  for (int format = 0; format < 2; ++format) {
    if (format == 1) j["model"]["merges"] = merges_pairs;  // newer files write [a, b] pairs
    const Tokenizer tok = from_json(j);
    for (const auto& c : testing::load_cases("gpt2")) {
      const Encoding e = tok.encode(c.text);
      EXPECT_EQ(e.ids, c.ids) << c.text;
      EXPECT_EQ(e.tokens, c.tokens) << c.text;
      EXPECT_EQ(tok.decode(e.ids, false), c.text);
    }
  }
}

// A SentencePiece-style Unigram with Metaspace and a template.
// ids: <unk>0 <s>1 </s>2 ▁3 ▁hello4 ▁world5 h6 o7
json unigram_json() {
  const json special_tokens = {{"<s>", {{"id", "<s>"}, {"ids", {1}}, {"tokens", {"<s>"}}}},
                               {"</s>", {{"id", "</s>"}, {"ids", {2}}, {"tokens", {"</s>"}}}}};
  auto special = [](const char* id, int type) { return json{{"SpecialToken", {{"id", id}, {"type_id", type}}}}; };
  auto sequence = [](const char* id, int type) { return json{{"Sequence", {{"id", id}, {"type_id", type}}}}; };
  // Explicit arrays: a braced list of [string, value] pairs would become an object.
  json unigram_vocab = json::array();
  for (const auto& [piece, score] : std::vector<std::pair<std::string, double>>{
           {"<unk>", 0.0}, {"<s>", 0.0}, {"</s>", 0.0}, {"\u2581", -2.0}, {"\u2581hello", -1.0},
           {"\u2581world", -1.5}, {"h", -3.0}, {"o", -3.0}}) {
    unigram_vocab.push_back(json::array({piece, score}));
  }
  const json metaspace = {{"type", "Metaspace"}, {"replacement", "\u2581"}, {"prepend_scheme", "always"}, {"split", true}};
  return {{"added_tokens", {added(0, "<unk>"), added(1, "<s>"), added(2, "</s>")}},
          {"pre_tokenizer", metaspace},
          {"decoder", metaspace},
          {"post_processor",
           {{"type", "TemplateProcessing"},
            {"single", {special("<s>", 0), sequence("A", 0), special("</s>", 0)}},
            {"pair", {special("<s>", 0), sequence("A", 0), special("</s>", 0), sequence("B", 1), special("</s>", 1)}},
            {"special_tokens", special_tokens}}},
          {"model",
           {{"type", "Unigram"},
            {"unk_id", 0},
            {"vocab", unigram_vocab}}}};
}

TEST(TokenizerJson, UnigramMetaspaceTemplate) {
  const Tokenizer tok = from_json(unigram_json());
  const Encoding e = tok.encode("hello world");
  EXPECT_EQ(e.ids, (Ids{1, 4, 5, 2}));
  EXPECT_EQ(e.tokens, (std::vector<std::string>{"<s>", "\u2581hello", "\u2581world", "</s>"}));
  EXPECT_EQ(tok.encode("oh").ids, (Ids{1, 3, 7, 6, 2}));     // ▁ o h: the only segmentation
  EXPECT_EQ(tok.encode("ohx").ids, (Ids{1, 3, 7, 6, 0, 2}));  // x is unknown
  EXPECT_EQ(tok.encode("hello</s>world").ids, (Ids{1, 4, 2, 5, 2}));  // "always": a ▁ after the added token too
  const Encoding pair = tok.encode_pair("hello", "world");
  EXPECT_EQ(pair.ids, (Ids{1, 4, 2, 5, 2}));
  EXPECT_EQ(pair.type_ids, (Ids{0, 0, 0, 1, 1}));
  EXPECT_EQ(tok.decode(e.ids), "hello world");
  EXPECT_EQ(tok.decode(e.ids, false), "<s> hello world</s>");
  EXPECT_EQ(tok.special_ids().bos, 1);
  EXPECT_EQ(tok.special_ids().eos, 2);
  EXPECT_EQ(tok.special_ids().unk, 0);
}

TEST(TokenizerJson, MetaspacePrependFirstOnly) {
  json j = unigram_json();
  j["pre_tokenizer"]["prepend_scheme"] = "first";
  // "world" after </s> gets no ▁, so not ▁world: w -> unk, o, rld -> one unk.
  EXPECT_EQ(from_json(j).encode("hello</s>world").ids, (Ids{1, 4, 2, 0, 7, 0, 2}));
  EXPECT_EQ(from_json(j).encode("hello world").ids, (Ids{1, 4, 5, 2}));
}

// WordLevel over single spaces, so whitespace swallowed by lstrip/rstrip shows.
// ids: a0 b1 " "2 <mask>3 [UNK]4
Tokenizer mask_tokenizer(bool lstrip, bool rstrip, bool single_word) {
  json mask = added(3, "<mask>");
  mask["lstrip"] = lstrip, mask["rstrip"] = rstrip, mask["single_word"] = single_word;
  return from_json({{"added_tokens", {mask}},
                    {"pre_tokenizer", {{"type", "Split"}, {"pattern", {{"String", " "}}}, {"behavior", "Isolated"}, {"invert", false}}},
                    {"model", {{"type", "WordLevel"}, {"vocab", {{"a", 0}, {"b", 1}, {" ", 2}, {"<mask>", 3}, {"[UNK]", 4}}},
                               {"unk_token", "[UNK]"}}}});
}

TEST(TokenizerJson, AddedTokenStripAndSingleWord) {
  EXPECT_EQ(mask_tokenizer(false, false, false).encode("a <mask> b").ids, (Ids{0, 2, 3, 2, 1}));
  EXPECT_EQ(mask_tokenizer(true, false, false).encode("a <mask> b").ids, (Ids{0, 3, 2, 1}));
  EXPECT_EQ(mask_tokenizer(true, true, false).encode("a <mask> b").ids, (Ids{0, 3, 1}));
  EXPECT_EQ(mask_tokenizer(false, false, false).encode("a<mask>b").ids, (Ids{0, 3, 1}));
  EXPECT_EQ(mask_tokenizer(false, false, true).encode("a<mask>b").ids, (Ids{4}));  // inside a word: no match
  EXPECT_EQ(mask_tokenizer(false, false, true).encode("a <mask> b").ids, (Ids{0, 2, 3, 2, 1}));
}

TEST(TokenizerJson, NormalizerSequenceAndWhitespacePreTokenizer) {
  const json j = {
      {"normalizer", {{"type", "Sequence"},
                      {"normalizers", {{{"type", "Strip"}, {"strip_left", true}, {"strip_right", true}},
                                       {{"type", "NFD"}}, {{"type", "StripAccents"}}, {{"type", "Lowercase"}},
                                       {{"type", "Replace"}, {"pattern", {{"String", "ff"}}}, {"content", "f"}}}}}},
      {"pre_tokenizer", {{"type", "Whitespace"}}},
      {"model", {{"type", "WordLevel"}, {"vocab", {{"cafe", 0}, {"ole", 1}, {"!", 2}, {"cofee", 3}, {"[UNK]", 4}}},
                 {"unk_token", "[UNK]"}}}};
  const Tokenizer tok = from_json(j);
  EXPECT_EQ(tok.encode("  Caf\u00e9  Ol\u00e9! C\u00f6ffee ").ids, (Ids{0, 1, 2, 3}));
  EXPECT_EQ(tok.decode(Ids{0, 1, 2}), "cafe ole !");  // no decoder: tokens joined with spaces
}

// Byte-level BPE where digits only merge within the Llama-3 regex's 3-digit groups.
// ids: 1:0 2:1 3:2 4:3 5:4 6:5 12:6 123:7 34:8 45:9 456:10
json digits_json(bool with_split) {
  json byte_level = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}};
  json split = {{"type", "Split"},
                {"pattern", {{"Regex", R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"}}},
                {"behavior", "Isolated"}, {"invert", false}};
  return {{"pre_tokenizer", with_split ? json{{"type", "Sequence"}, {"pretokenizers", {split, byte_level}}} : byte_level},
          {"decoder", {{"type", "ByteLevel"}}},
          {"model", {{"type", "BPE"},
                     {"vocab", {{"1", 0}, {"2", 1}, {"3", 2}, {"4", 3}, {"5", 4}, {"6", 5}, {"12", 6}, {"123", 7},
                                {"34", 8}, {"45", 9}, {"456", 10}}},
                     {"merges", {"3 4", "1 2", "12 3", "4 5", "45 6"}}}}};
}

TEST(TokenizerJson, SplitRegexThenByteLevel) {
  EXPECT_EQ(from_json(digits_json(true)).encode("123456").ids, (Ids{7, 10}));
  // Without the split, the top-ranked merge (3 4) crosses the group boundary.
  EXPECT_EQ(from_json(digits_json(false)).encode("123456").ids, (Ids{6, 8, 4, 5}));
  EXPECT_EQ(from_json(digits_json(true)).decode(Ids{7, 10}), "123456");
}

TEST(TokenizerJson, BertAndRobertaProcessing) {
  json j = {{"pre_tokenizer", {{"type", "WhitespaceSplit"}}},
            {"model", {{"type", "WordLevel"}, {"vocab", {{"[CLS]", 0}, {"[SEP]", 1}, {"a", 2}, {"b", 3}}}, {"unk_token", "[SEP]"}}},
            {"post_processor", {{"type", "BertProcessing"}, {"sep", {"[SEP]", 1}}, {"cls", {"[CLS]", 0}}}}};
  Encoding e = from_json(j).encode_pair("a", "b");
  EXPECT_EQ(e.ids, (Ids{0, 2, 1, 3, 1}));
  EXPECT_EQ(e.type_ids, (Ids{0, 0, 0, 1, 1}));
  j["post_processor"] = {{"type", "Sequence"},
                         {"processors", {{{"type", "ByteLevel"}},
                                         {{"type", "RobertaProcessing"}, {"sep", {"[SEP]", 1}}, {"cls", {"[CLS]", 0}},
                                          {"trim_offsets", true}, {"add_prefix_space", false}}}}};
  e = from_json(j).encode_pair("a", "b");
  EXPECT_EQ(e.ids, (Ids{0, 2, 1, 1, 3, 1}));
  EXPECT_EQ(e.type_ids, (Ids{0, 0, 0, 0, 0, 0}));
}

TEST(TokenizerJson, LlamaFastStyleBpeWithByteFallback) {
  // normalizer Prepend(▁) + Replace(' ', ▁); BPE with byte fallback; the Llama decoder chain.
  json vocab = {{"<unk>", 0}, {"\u2581", 1}, {"a", 2}, {"\u2581a", 3}};
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    vocab[name] = 4 + b;
  }
  const json j = {
      {"added_tokens", {added(0, "<unk>")}},
      {"normalizer", {{"type", "Sequence"},
                      {"normalizers", {{{"type", "Prepend"}, {"prepend", "\u2581"}},
                                       {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\u2581"}}}}}},
      {"decoder", {{"type", "Sequence"},
                   {"decoders", {{{"type", "Replace"}, {"pattern", {{"String", "\u2581"}}}, {"content", " "}},
                                 {{"type", "ByteFallback"}}, {{"type", "Fuse"}},
                                 {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}}},
      {"model", {{"type", "BPE"}, {"unk_token", "<unk>"}, {"fuse_unk", true}, {"byte_fallback", true},
                 {"vocab", vocab}, {"merges", {"\u2581 a"}}}}};
  const Tokenizer tok = from_json(j);
  // "a é" -> ▁a ▁ <0xC3> <0xA9>
  const Encoding e = tok.encode("a \u00e9");
  EXPECT_EQ(e.ids, (Ids{3, 1, 4 + 0xC3, 4 + 0xA9}));
  EXPECT_EQ(tok.decode(e.ids), "a \u00e9");
}

}  // namespace
}  // namespace octet

namespace octet {
namespace {

TEST(TokenizerJson, T5StyleNormalizers) {
  // Precompiled (nmt_nfkc) + Replace " {2,}" + Metaspace, as T5 / ALBERT files have.
  // ids: <unk>0 ▁a1 ▁b2 ▁3 fi4
  json vocab = json::array();
  for (const auto& [piece, score] : std::vector<std::pair<std::string, double>>{
           {"<unk>", 0.0}, {"\u2581a", -1.0}, {"\u2581b", -1.0}, {"\u2581", -2.0}, {"fi", -1.0}}) {
    vocab.push_back(json::array({piece, score}));
  }
  const json j = {
      {"normalizer", {{"type", "Sequence"},
                      {"normalizers", {{{"type", "Precompiled"}, {"precompiled_charsmap", "ignored"}},
                                       {{"type", "Replace"}, {"pattern", {{"Regex", " {2,}"}}}, {"content", " "}}}}}},
      {"pre_tokenizer", {{"type", "Metaspace"}, {"replacement", "\u2581"}, {"add_prefix_space", true}}},
      {"model", {{"type", "Unigram"}, {"unk_id", 0}, {"vocab", vocab}}}};
  const Tokenizer tok = from_json(j);
  // "a\t\tb" -> "a  b" (tabs -> spaces) -> "a b"; the ligature U+FB01 -> "fi" by NFKC.
  EXPECT_EQ(tok.encode("a\t\tb").ids, (Ids{1, 2}));
  EXPECT_EQ(tok.encode("\ufb01").ids, (Ids{3, 4}));
}

TEST(TokenizerJson, LoadAcceptsEitherBpeFile) {
  for (const char* name : {"vocab.json", "merges.txt"}) {
    const Tokenizer tok = Tokenizer::load(shared_path(std::string("fixtures/tokenizers/gpt2/") + name));
    EXPECT_EQ(tok.encode("Hello world!").ids, (Ids{15496, 995, 0}));
  }
}

}  // namespace
}  // namespace octet
