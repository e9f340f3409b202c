// tokenizer.json: the tokenizers library's serialized pipeline. Each section
// ("normalizer", "pre_tokenizer", "model", "post_processor", "decoder",
// "added_tokens") maps onto the parts in pipeline.h; a component octet does
// not implement is an error naming its type, never a silent difference.
#include <limits>

#include "octet/error.h"
#include "text/files.h"
#include "text/loaders.h"

namespace octet::text {

namespace {

using nlohmann::json;

// A token id: an integer in [0, 2^31 - 1). nlohmann's get<int32_t>() would silently wrap
// 2^40 to 0 (fuzz finding, docs/reliability.md).
int32_t checked_id(const json& j, std::string_view what) {
  check(j.is_number_integer(), "tokenizer", "{} id must be an integer, got {}", what, j.dump());
  const bool fits = j.is_number_unsigned() ? j.get<uint64_t>() < uint64_t{std::numeric_limits<int32_t>::max()}
                                           : j.get<int64_t>() >= 0 && j.get<int64_t>() < std::numeric_limits<int32_t>::max();
  check(fits, "tokenizer", "{} has invalid id {}", what, j.dump());
  return j.get<int32_t>();
}

// An integer field. nlohmann's get<int64_t>() of a float (1e29) is an out-of-range
// float-to-integer conversion, undefined behaviour (fuzz finding, docs/reliability.md).
int64_t integer(const json& j, std::string_view what) {
  check(j.is_number_integer(), "tokenizer", "{} must be an integer, got {}", what, j.dump());
  check(!j.is_number_unsigned() || j.get<uint64_t>() <= uint64_t{std::numeric_limits<int64_t>::max()}, "tokenizer",
        "{} = {} is too large", what, j.dump());
  return j.get<int64_t>();
}

// A count that may be absent or null (then `fallback`): an integer >= 0. j.value<size_t>() of a
// float (2e115) was an out-of-range float-to-integer conversion, undefined behaviour (fuzz finding).
size_t count_or(const json& j, const char* key, size_t fallback) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  const int64_t v = integer(*it, key);
  check(v >= 0, "tokenizer", "{} must be >= 0, got {}", key, v);
  return static_cast<size_t>(v);
}

std::string type_of(const json& j, std::string_view section) {
  check(j.is_object(), "tokenizer", "\"{}\" must be an object or null", section);
  check(j.contains("type") && j["type"].is_string(), "tokenizer", "\"{}\" has no \"type\"", section);
  return j["type"].get<std::string>();
}

// {"String": "x"} -> "x"; {"Regex": "..."} -> a known regex or a literal when it has no metacharacters.
SplitPattern parse_pattern(const json& j, std::string_view where) {
  if (j.contains("String")) return {j["String"].get<std::string>(), std::nullopt};
  check(j.contains("Regex"), "tokenizer", "{}: pattern must be {{\"String\": ...}} or {{\"Regex\": ...}}", where);
  const std::string regex = j["Regex"].get<std::string>();
  if (auto known = recognize_split_regex(regex)) return {"", *known};
  if (regex.find_first_of("\\^$.|?*+()[]{}") == std::string::npos) return {regex, std::nullopt};
  fail("tokenizer", "{}: unsupported regex '{}' (octet knows the GPT-2, Llama-3 and whitespace patterns)", where, regex);
}

std::string literal_pattern(const json& j, std::string_view where) {
  SplitPattern p = parse_pattern(j, where);
  check(!p.regex.has_value(), "tokenizer", "{}: only literal patterns are supported here", where);
  return p.literal;
}

SplitBehavior parse_behavior(const json& j) {
  const std::string b = j.get<std::string>();
  if (b == "Removed") return SplitBehavior::Removed;
  if (b == "Isolated") return SplitBehavior::Isolated;
  if (b == "MergedWithPrevious") return SplitBehavior::MergedWithPrevious;
  if (b == "MergedWithNext") return SplitBehavior::MergedWithNext;
  if (b == "Contiguous") return SplitBehavior::Contiguous;
  fail("tokenizer", "unknown split behavior '{}'", b);
}

PrefixScheme parse_prefix_scheme(const json& j) {
  if (j.contains("prepend_scheme")) {
    const std::string s = j["prepend_scheme"].get<std::string>();
    if (s == "always") return PrefixScheme::Always;
    if (s == "first") return PrefixScheme::First;
    if (s == "never") return PrefixScheme::Never;
    fail("tokenizer", "unknown Metaspace prepend_scheme '{}'", s);
  }
  return j.value("add_prefix_space", true) ? PrefixScheme::Always : PrefixScheme::Never;
}

NormalizerPtr parse_normalizer(const json& j) {
  if (j.is_null()) return nullptr;
  const std::string type = type_of(j, "normalizer");
  if (type == "BertNormalizer") {
    BertNormalizerConfig c;
    c.clean_text = j.value("clean_text", true);
    c.handle_chinese_chars = j.value("handle_chinese_chars", true);
    c.lowercase = j.value("lowercase", true);
    if (j.contains("strip_accents") && !j["strip_accents"].is_null()) c.strip_accents = j["strip_accents"].get<bool>();
    return make_bert_normalizer(c);
  }
  if (type == "Lowercase") return make_lowercase_normalizer();
  if (type == "NFC") return make_unicode_normalizer(NormalForm::NFC);
  if (type == "NFD") return make_unicode_normalizer(NormalForm::NFD);
  if (type == "NFKC") return make_unicode_normalizer(NormalForm::NFKC);
  if (type == "NFKD") return make_unicode_normalizer(NormalForm::NFKD);
  // A precompiled SentencePiece charsmap is (nearly always) nmt_nfkc: NFKC plus the NMT rules.
  if (type == "Precompiled") {
    SentencePieceNormalizerConfig c;
    c.nfkc = true;
    c.nmt_rules = true;
    c.dummy_prefix = PrefixScheme::Never;
    c.escape_whitespaces = false;
    return make_sentencepiece_normalizer(c);
  }
  if (type == "StripAccents") return make_strip_accents_normalizer();
  if (type == "Strip") return make_strip_normalizer(j.value("strip_left", true), j.value("strip_right", true));
  if (type == "Prepend") return make_prepend_normalizer(j.at("prepend").get<std::string>(), false);
  if (type == "Replace") {
    const json& pattern = j.at("pattern");
    // T5 and ALBERT files collapse runs of spaces with this one regex.
    if (pattern.contains("Regex") && pattern["Regex"] == " {2,}" && j.at("content") == " ") {
      return make_collapse_spaces_normalizer();
    }
    return make_replace_normalizer(literal_pattern(pattern, "Replace normalizer"), j.at("content").get<std::string>());
  }
  if (type == "Sequence") {
    std::vector<NormalizerPtr> parts;
    for (const json& part : j.at("normalizers")) {
      if (auto p = parse_normalizer(part)) parts.push_back(std::move(p));
    }
    return make_sequence_normalizer(std::move(parts));
  }
  fail("tokenizer", "unsupported normalizer type '{}'", type);
}

PreTokenizerPtr parse_pre_tokenizer(const json& j) {
  if (j.is_null()) return nullptr;
  const std::string type = type_of(j, "pre_tokenizer");
  if (type == "BertPreTokenizer") return make_bert_pre_tokenizer();
  if (type == "Whitespace") return make_whitespace_pre_tokenizer();
  if (type == "WhitespaceSplit") return make_whitespace_split_pre_tokenizer();
  if (type == "ByteLevel") return make_byte_level_pre_tokenizer(j.value("add_prefix_space", true), j.value("use_regex", true));
  if (type == "Metaspace") {
    return make_metaspace_pre_tokenizer(j.value("replacement", std::string(kMetaspace)), parse_prefix_scheme(j),
                                        j.value("split", true));
  }
  if (type == "Split") {
    return make_split_pre_tokenizer(parse_pattern(j.at("pattern"), "Split pre-tokenizer"), parse_behavior(j.at("behavior")),
                                    j.value("invert", false));
  }
  if (type == "CharDelimiterSplit") {
    return make_split_pre_tokenizer({j.at("delimiter").get<std::string>(), std::nullopt}, SplitBehavior::Removed, false);
  }
  if (type == "Punctuation") {
    return make_punctuation_pre_tokenizer(j.contains("behavior") ? parse_behavior(j["behavior"]) : SplitBehavior::Isolated);
  }
  if (type == "Digits") return make_digits_pre_tokenizer(j.value("individual_digits", false));
  if (type == "Sequence") {
    std::vector<PreTokenizerPtr> parts;
    for (const json& part : j.at("pretokenizers")) {
      if (auto p = parse_pre_tokenizer(part)) parts.push_back(std::move(p));
    }
    return make_sequence_pre_tokenizer(std::move(parts));
  }
  fail("tokenizer", "unsupported pre_tokenizer type '{}'", type);
}

Vocab parse_vocab_object(const json& j) {
  check(j.is_object(), "tokenizer", "model.vocab must be an object of token -> id");
  std::vector<std::pair<std::string, int64_t>> entries;
  entries.reserve(j.size());
  for (const auto& [token, id] : j.items()) entries.emplace_back(token, integer(id, fmt::format("token '{}' id", token)));
  return Vocab::from_entries(entries);
}

MergeList parse_merges(const json& j) {
  check(j.is_array(), "tokenizer", "model.merges must be an array");
  MergeList merges;
  merges.reserve(j.size());
  for (size_t i = 0; i < j.size(); ++i) {
    const json& m = j[i];
    if (m.is_string()) {
      const std::string s = m.get<std::string>();
      const size_t space = s.find(' ');
      check(space != std::string::npos && space > 0 && space + 1 < s.size() && s.find(' ', space + 1) == std::string::npos,
            "tokenizer", "merge {} '{}' is not two tokens separated by one space", i + 1, s);
      merges.emplace_back(s.substr(0, space), s.substr(space + 1));
    } else {
      check(m.is_array() && m.size() == 2, "tokenizer", "merge {} must be \"a b\" or [\"a\", \"b\"]", i + 1);
      merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
    }
  }
  return merges;
}

std::string infer_model_type(const json& j) {
  if (j.contains("type")) return j["type"].get<std::string>();
  if (j.contains("merges")) return "BPE";
  if (j.contains("vocab") && j["vocab"].is_array()) return "Unigram";
  if (j.contains("continuing_subword_prefix") || j.contains("max_input_chars_per_word")) return "WordPiece";
  return "WordLevel";
}

std::unique_ptr<Model> parse_model(const json& j) {
  check(j.is_object(), "tokenizer", "\"model\" must be an object");
  const std::string type = infer_model_type(j);
  if (type == "WordPiece") {
    WordPieceConfig c;
    c.unk_token = j.value("unk_token", c.unk_token);
    c.continuing_subword_prefix = j.value("continuing_subword_prefix", c.continuing_subword_prefix);
    c.max_input_chars_per_word = count_or(j, "max_input_chars_per_word", c.max_input_chars_per_word);
    return make_wordpiece_model(parse_vocab_object(j.at("vocab")), c);
  }
  if (type == "BPE") {
    BpeConfig c;
    if (j.contains("unk_token") && !j["unk_token"].is_null()) c.unk_token = j["unk_token"].get<std::string>();
    auto optional_string = [&](const char* key) {
      return j.contains(key) && !j[key].is_null() ? j[key].get<std::string>() : std::string();
    };
    c.continuing_subword_prefix = optional_string("continuing_subword_prefix");
    c.end_of_word_suffix = optional_string("end_of_word_suffix");
    c.fuse_unk = j.value("fuse_unk", false);
    c.byte_fallback = j.value("byte_fallback", false);
    c.ignore_merges = j.value("ignore_merges", false);
    return make_bpe_model(parse_vocab_object(j.at("vocab")), parse_merges(j.at("merges")), c);
  }
  if (type == "Unigram") {
    const json& vocab = j.at("vocab");
    check(vocab.is_array(), "tokenizer", "Unigram model.vocab must be an array of [piece, score]");
    PieceTable t;
    t.byte_fallback = j.value("byte_fallback", false);
    for (const json& entry : vocab) {
      check(entry.is_array() && entry.size() == 2, "tokenizer", "Unigram vocab entries must be [piece, score]");
      t.pieces.push_back(entry[0].get<std::string>());
      t.scores.push_back(entry[1].get<float>());
      t.types.push_back(t.byte_fallback && parse_byte_piece(t.pieces.back()) ? PieceType::Byte : PieceType::Normal);
    }
    check(j.contains("unk_id") && !j["unk_id"].is_null(), "tokenizer", "Unigram model has no unk_id");
    const auto unk = integer(j["unk_id"], "Unigram unk_id");
    check(unk >= 0 && static_cast<size_t>(unk) < t.pieces.size(), "tokenizer", "Unigram unk_id {} out of range", unk);
    t.unk_id = static_cast<int32_t>(unk);
    t.types[static_cast<size_t>(unk)] = PieceType::Unknown;
    return make_unigram_model(std::move(t));
  }
  if (type == "WordLevel") return make_word_level_model(parse_vocab_object(j.at("vocab")), j.value("unk_token", std::string("<unk>")));
  fail("tokenizer", "unknown model type '{}' (expected WordPiece, BPE, Unigram or WordLevel)", type);
}

int32_t token_id(const Tokenizer::Impl& impl, const std::string& token, std::string_view where) {
  if (auto id = impl.added.find(token)) return *id;
  auto id = impl.model->vocab().find(token);
  check(id.has_value(), "tokenizer", "{}: token '{}' is not in the vocabulary", where, token);
  return *id;
}

std::optional<PostTemplate> parse_post_processor(const json& j, const Tokenizer::Impl& impl) {
  if (j.is_null()) return std::nullopt;
  const std::string type = type_of(j, "post_processor");
  if (type == "TemplateProcessing") {
    const json& specials = j.at("special_tokens");
    auto parse_side = [&](const json& items, bool pair) {
      std::vector<TemplatePiece> pieces;
      for (const json& item : items) {
        TemplatePiece p;
        if (item.contains("Sequence")) {
          const json& s = item["Sequence"];
          const std::string id = s.at("id").get<std::string>();
          check(id == "A" || (pair && id == "B"), "tokenizer", "TemplateProcessing: unknown sequence '{}'", id);
          p.kind = id == "A" ? TemplatePiece::Kind::First : TemplatePiece::Kind::Second;
          p.type_id = s.contains("type_id") ? static_cast<int>(checked_id(s["type_id"], "TemplateProcessing type")) : 0;
        } else {
          const json& s = item.at("SpecialToken");
          const std::string name = s.at("id").get<std::string>();
          check(specials.contains(name), "tokenizer", "TemplateProcessing: special token '{}' is not defined", name);
          p.kind = TemplatePiece::Kind::Special;
          p.type_id = s.contains("type_id") ? static_cast<int>(checked_id(s["type_id"], "TemplateProcessing type")) : 0;
          for (const json& id : specials[name].at("ids"))
            p.ids.push_back(checked_id(id, fmt::format("TemplateProcessing: special token '{}'", name)));
        }
        pieces.push_back(std::move(p));
      }
      return pieces;
    };
    PostTemplate t;
    t.single = parse_side(j.at("single"), false);
    if (j.contains("pair") && !j["pair"].is_null()) {
      t.pair = parse_side(j["pair"], true);
    } else {
      t.pair = t.single;
      t.pair.push_back({TemplatePiece::Kind::Second, 1, {}});
    }
    return t;
  }
  if (type == "BertProcessing" || type == "RobertaProcessing") {
    const int32_t cls = token_id(impl, j.at("cls").at(0).get<std::string>(), type);
    const int32_t sep = token_id(impl, j.at("sep").at(0).get<std::string>(), type);
    return type == "BertProcessing" ? bert_template(cls, sep) : roberta_template(cls, sep);
  }
  if (type == "ByteLevel") return std::nullopt;  // only adjusts offsets
  if (type == "Sequence") {
    std::optional<PostTemplate> found;
    for (const json& part : j.at("processors")) {
      if (auto t = parse_post_processor(part, impl)) found = std::move(t);
    }
    return found;
  }
  fail("tokenizer", "unsupported post_processor type '{}'", type);
}

DecoderPtr parse_decoder(const json& j) {
  if (j.is_null()) return nullptr;
  const std::string type = type_of(j, "decoder");
  if (type == "WordPiece") return make_wordpiece_decoder(j.value("prefix", std::string("##")), j.value("cleanup", true));
  if (type == "ByteLevel") return make_byte_level_decoder();
  if (type == "ByteFallback") return make_byte_fallback_decoder();
  if (type == "Fuse") return make_fuse_decoder();
  if (type == "Strip") {
    return make_strip_decoder(j.at("content").get<std::string>(), count_or(j, "start", 0), count_or(j, "stop", 0));
  }
  if (type == "Replace") {
    return make_replace_decoder(literal_pattern(j.at("pattern"), "Replace decoder"), j.at("content").get<std::string>());
  }
  if (type == "Metaspace") {
    return make_metaspace_decoder(j.value("replacement", std::string(kMetaspace)), parse_prefix_scheme(j) != PrefixScheme::Never);
  }
  if (type == "BPEDecoder") return make_bpe_suffix_decoder(j.value("suffix", std::string("</w>")));
  if (type == "Sequence") {
    std::vector<DecoderPtr> parts;
    for (const json& part : j.at("decoders")) {
      if (auto p = parse_decoder(part)) parts.push_back(std::move(p));
    }
    return make_sequence_decoder(std::move(parts));
  }
  fail("tokenizer", "unsupported decoder type '{}'", type);
}

void parse_configured_options(const json& root, Tokenizer::Impl& impl) {
  EncodeOptions& o = impl.configured;
  if (root.contains("truncation") && !root["truncation"].is_null()) {
    const json& t = root["truncation"];
    o.max_length = t.contains("max_length") ? integer(t["max_length"], "truncation.max_length") : 512;
    const std::string strategy = t.value("strategy", std::string("LongestFirst"));
    o.truncation = strategy == "OnlyFirst" ? Truncation::OnlyFirst
                   : strategy == "OnlySecond" ? Truncation::OnlySecond
                                              : Truncation::LongestFirst;
    o.truncation_side = t.value("direction", std::string("Right")) == "Left" ? Side::Left : Side::Right;
  }
  if (root.contains("padding") && !root["padding"].is_null()) {
    const json& p = root["padding"];
    o.padding = Padding::Longest;
    if (p.contains("strategy") && p["strategy"].is_object() && p["strategy"].contains("Fixed")) {
      o.padding = Padding::MaxLength;
      o.max_length = integer(p["strategy"]["Fixed"], "padding.strategy.Fixed");
    }
    o.padding_side = p.value("direction", std::string("Right")) == "Left" ? Side::Left : Side::Right;
    if (p.contains("pad_to_multiple_of") && !p["pad_to_multiple_of"].is_null()) {
      o.pad_to_multiple_of = integer(p["pad_to_multiple_of"], "padding.pad_to_multiple_of");
    }
    if (p.contains("pad_id")) o.pad_id = integer(p["pad_id"], "padding.pad_id");
  }
}

// Special ids by the names tokenizers conventionally use.
void guess_special_ids(Tokenizer::Impl& impl) {
  auto first_of = [&](std::initializer_list<std::string_view> names) -> std::optional<int64_t> {
    for (std::string_view name : names) {
      if (auto id = impl.added.find(name)) return *id;
      if (auto id = impl.model->vocab().find(name)) return *id;
    }
    return std::nullopt;
  };
  SpecialTokenIds& s = impl.special;
  s.pad = first_of({"[PAD]", "<pad>", "<|pad|>", "<|padding|>"});
  s.unk = first_of({"[UNK]", "<unk>", "<|unk|>"});
  s.cls = first_of({"[CLS]", "<s>", "<cls>"});
  s.sep = first_of({"[SEP]", "</s>", "<sep>"});
  s.mask = first_of({"[MASK]", "<mask>"});
  s.bos = first_of({"<s>", "<|begin_of_text|>", "<|startoftext|>", "<bos>", "<|endoftext|>"});
  s.eos = first_of({"</s>", "<|end_of_text|>", "<eos>", "<|endoftext|>"});
  if (!s.pad && impl.configured.pad_id) s.pad = impl.configured.pad_id;
}

}  // namespace

std::shared_ptr<Tokenizer::Impl> parse_tokenizer_json(std::string_view text, std::string_view origin) {
  return with_origin(origin, [&] {
    const json root = parse_json(text, origin);
    check(root.is_object(), "tokenizer", "top level must be an object");
    check(root.contains("model") && !root["model"].is_null(), "tokenizer", "has no \"model\"");
    auto impl = std::make_shared<Tokenizer::Impl>();
    impl->model = parse_model(root["model"]);
    if (root.contains("added_tokens") && !root["added_tokens"].is_null()) {
      for (const json& t : root["added_tokens"]) {
        AddedToken a;
        a.content = t.at("content").get<std::string>();
        a.id = checked_id(t.at("id"), fmt::format("added token '{}'", a.content));
        a.special = t.value("special", false);
        a.lstrip = t.value("lstrip", false);
        a.rstrip = t.value("rstrip", false);
        a.single_word = t.value("single_word", false);
        impl->added.add(std::move(a));
      }
    }
    impl->normalizer = parse_normalizer(root.value("normalizer", json()));
    impl->pre_tokenizer = parse_pre_tokenizer(root.value("pre_tokenizer", json()));
    if (auto post = parse_post_processor(root.value("post_processor", json()), *impl)) impl->post = std::move(*post);
    impl->decoder = parse_decoder(root.value("decoder", json()));
    parse_configured_options(root, *impl);
    guess_special_ids(*impl);
    impl->finish();
    return impl;
  });
}

}  // namespace octet::text
