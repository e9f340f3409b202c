// Hugging Face tokenizer folders: which file to load, the slow tokenizers'
// own files (vocab.txt, vocab.json + merges.txt) and their options from
// tokenizer_config.json / special_tokens_map.json.
#include <fstream>
#include <sstream>

#include "octet/error.h"
#include "text/files.h"
#include "text/loaders.h"
#include "text/presets.h"

namespace octet::text {

namespace fs = std::filesystem;
using nlohmann::json;

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  check(in.good(), "tokenizer", "cannot read {}", path.string());
  std::ostringstream buffer;
  buffer << in.rdbuf();
  check(!in.bad(), "tokenizer", "error reading {}", path.string());
  return std::move(buffer).str();
}

json parse_json(std::string_view text, std::string_view origin) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {  // parse_error, and out_of_range for a number past double (1e400)
    fail("tokenizer", "{}: invalid JSON: {}", origin, e.what());
  }
}

std::optional<json> read_json_if_exists(const fs::path& path) {
  if (!fs::is_regular_file(path)) return std::nullopt;
  const std::string origin = path.string();
  return with_origin(origin, [&] { return parse_json(read_file(path), origin); });
}

namespace {

// A value as the error messages quote it, cut short: a fuzzed or broken
// config can hold megabytes in one field.
std::string quoted_value(const json& value) {
  std::string text = value.dump();
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return text;
}

// tokenizer_config.json's boolean settings: nullopt when absent or null (how
// transformers treats both), an Error naming the key for anything but a bool.
std::optional<bool> config_bool(const json& config, const char* key) {
  const auto it = config.find(key);
  if (it == config.end() || it->is_null()) return std::nullopt;
  check(it->is_boolean(), "tokenizer", "tokenizer_config.json: \"{}\" must be true or false, got {}", key,
        quoted_value(*it));
  return it->get<bool>();
}

// tokenizer_config.json's "tokenizer_class" ("" when absent or null).
std::string tokenizer_class(const json& config) {
  const auto it = config.find("tokenizer_class");
  if (it == config.end() || it->is_null()) return {};
  check(it->is_string(), "tokenizer", "tokenizer_config.json: \"tokenizer_class\" must be a string, got {}",
        quoted_value(*it));
  return it->get<std::string>();
}

// A JSON file of the folder that must hold an object when present.
std::optional<json> read_json_object_if_exists(const fs::path& path) {
  std::optional<json> j = read_json_if_exists(path);
  check(!j || j->is_object(), "tokenizer", "{}: expected a JSON object, got {}", path.string(),
        j ? quoted_value(*j) : std::string());
  return j;
}

}  // namespace

// A special token is a string or an AddedToken object {"content": "...", ...}.
std::optional<std::string> json_token(const json& object, std::string_view key) {
  if (!object.is_object()) return std::nullopt;
  auto it = object.find(std::string(key));
  if (it == object.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("content")) {
    const json& content = (*it)["content"];
    check(content.is_string(), "tokenizer", "\"{}\": \"content\" must be a string, got {}", key, quoted_value(content));
    return content.get<std::string>();
  }
  return std::nullopt;
}

std::optional<std::string> HfConfig::token(std::string_view key) const {
  if (auto t = json_token(special_tokens_map, key)) return t;
  return json_token(tokenizer_config, key);
}

HfConfig read_hf_config(const fs::path& folder) {
  HfConfig c;
  if (auto j = read_json_object_if_exists(folder / "tokenizer_config.json")) c.tokenizer_config = std::move(*j);
  if (auto j = read_json_object_if_exists(folder / "special_tokens_map.json")) c.special_tokens_map = std::move(*j);
  return c;
}

void apply_hf_config(Tokenizer::Impl& impl, const HfConfig& config) {
  auto lookup = [&](std::string_view key, std::optional<int64_t>& slot) {
    auto token = config.token(key);
    if (!token) return;
    if (auto id = impl.added.find(*token)) {
      slot = *id;
    } else if (auto vid = impl.model->vocab().find(*token)) {
      slot = *vid;
    }
  };
  SpecialTokenIds& s = impl.special;
  lookup("pad_token", s.pad);
  lookup("unk_token", s.unk);
  lookup("cls_token", s.cls);
  lookup("sep_token", s.sep);
  lookup("mask_token", s.mask);
  lookup("bos_token", s.bos);
  lookup("eos_token", s.eos);
  const json& tc = config.tokenizer_config;
  // transformers writes a huge sentinel (int(1e30)) when there is no limit.
  if (tc.contains("model_max_length") && tc["model_max_length"].is_number_integer()) {
    const auto n = tc["model_max_length"].get<int64_t>();
    if (n > 0 && n < (int64_t{1} << 40)) impl.model_max_length = n;
  }
}

namespace {

// Lines without their '\n' (and a '\r' before it); no entry after a final newline.
std::vector<std::string> read_lines(const fs::path& path) {
  const std::string text = read_file(path);
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
    start = end + 1;
  }
  return lines;
}

WordPieceOptions wordpiece_options(const HfConfig& c) {
  WordPieceOptions o;
  const json& tc = c.tokenizer_config;
  if (auto v = config_bool(tc, "do_lower_case")) o.lowercase = *v;
  if (auto v = config_bool(tc, "strip_accents")) o.strip_accents = *v;
  if (auto v = config_bool(tc, "tokenize_chinese_chars")) o.tokenize_chinese_chars = *v;
  if (auto t = c.token("unk_token")) o.unk_token = *t;
  if (auto t = c.token("cls_token")) o.cls_token = *t;
  if (auto t = c.token("sep_token")) o.sep_token = *t;
  if (auto t = c.token("pad_token")) o.pad_token = *t;
  if (auto t = c.token("mask_token")) o.mask_token = *t;
  return o;
}

BpeOptions bpe_options(const HfConfig& c, const Vocab& vocab) {
  BpeOptions o;
  const json& tc = c.tokenizer_config;
  const std::string cls = tokenizer_class(tc);
  if (cls.find("Roberta") != std::string::npos || cls.find("Bart") != std::string::npos) {
    o.roberta_template = true;
    o.bos_token = "<s>", o.eos_token = "</s>", o.pad_token = "<pad>", o.unk_token = "<unk>";
  } else if (vocab.find("<|endoftext|>")) {
    o.bos_token = o.eos_token = o.unk_token = "<|endoftext|>";  // GPT2Tokenizer's defaults
  }
  if (auto v = config_bool(tc, "add_prefix_space")) o.add_prefix_space = *v;
  if (auto v = config_bool(tc, "add_bos_token")) o.add_bos = *v;
  if (auto t = c.token("bos_token")) o.bos_token = *t;
  if (auto t = c.token("eos_token")) o.eos_token = *t;
  if (auto t = c.token("pad_token")) o.pad_token = *t;
  if (auto t = c.token("unk_token")) o.unk_token = *t;
  if (o.unk_token && !vocab.find(*o.unk_token)) o.unk_token.reset();
  return o;
}

}  // namespace

SentencePieceOptions sentencepiece_options(const HfConfig& c) {
  SentencePieceOptions o;
  const json& tc = c.tokenizer_config;
  if (tokenizer_class(tc).find("T5") != std::string::npos) {
    o.add_bos = false, o.add_eos = true;
  }
  if (auto v = config_bool(tc, "add_bos_token")) o.add_bos = *v;
  if (auto v = config_bool(tc, "add_eos_token")) o.add_eos = *v;
  // LlamaTokenizer treats a missing or null "legacy" as true.
  if (auto v = config_bool(tc, "legacy")) o.legacy = *v;
  return o;
}

namespace {

Vocab read_vocab_txt(const fs::path& path) {
  std::vector<std::string> lines = read_lines(path);
  check(!lines.empty(), "tokenizer", "{} is empty", path.string());
  return Vocab(std::move(lines));
}

Vocab read_vocab_json(const fs::path& path) {
  const std::string origin = path.string();
  return with_origin(origin, [&] {
    const json j = parse_json(read_file(path), origin);
    check(j.is_object(), "tokenizer", "expected an object of token -> id");
    std::vector<std::pair<std::string, int64_t>> entries;
    entries.reserve(j.size());
    for (const auto& [token, id] : j.items()) {
      check(id.is_number_integer(), "tokenizer", "token '{}' id must be an integer, got {}", token, id.dump());
      entries.emplace_back(token, id.get<int64_t>());
    }
    return Vocab::from_entries(entries);
  });
}

MergeList read_merges_txt(const fs::path& path) {
  MergeList merges;
  const std::vector<std::string> lines = read_lines(path);
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    if (line.empty() || (i == 0 && line.starts_with("#version"))) continue;
    const size_t space = line.find(' ');
    check(space != std::string::npos && space > 0 && space + 1 < line.size() &&
              line.find(' ', space + 1) == std::string::npos,
          "tokenizer", "{} line {}: expected two tokens separated by one space, got '{}'", path.string(), i + 1, line);
    merges.emplace_back(line.substr(0, space), line.substr(space + 1));
  }
  return merges;
}

Tokenizer load_tokenizer_json(const fs::path& file, const HfConfig& config) {
  auto impl = parse_tokenizer_json(read_file(file), file.string());
  with_origin(file.string(), [&] { apply_hf_config(*impl, config); });
  return Tokenizer(std::move(impl));
}

Tokenizer load_vocab_txt(const fs::path& file, const HfConfig& config) {
  return with_origin(file.string(), [&] {
    auto impl = build_wordpiece(read_vocab_txt(file), wordpiece_options(config));
    apply_hf_config(*impl, config);
    return Tokenizer(std::move(impl));
  });
}

Tokenizer load_bpe_files(const fs::path& vocab_json, const fs::path& merges_txt, const HfConfig& config) {
  Vocab vocab = read_vocab_json(vocab_json);
  const BpeOptions options = with_origin(vocab_json.string(), [&] { return bpe_options(config, vocab); });
  MergeList merges = read_merges_txt(merges_txt);
  return with_origin(merges_txt.string(), [&] {
    auto impl = build_bpe(std::move(vocab), merges, options);
    apply_hf_config(*impl, config);
    return Tokenizer(std::move(impl));
  });
}

Tokenizer load_sentencepiece(const fs::path& file, const SentencePieceOptions& options) {
  const std::string origin = file.string();
  SentencePieceFile parsed = parse_sentencepiece_model(read_file(file), origin, options);
  return with_origin(origin, [&] { return Tokenizer(build_sentencepiece(std::move(parsed.table), parsed.options)); });
}

}  // namespace

}  // namespace octet::text

namespace octet {

namespace fs = std::filesystem;

Tokenizer Tokenizer::load(const fs::path& folder_or_file) {
  using namespace text;
  const fs::path& p = folder_or_file;
  if (fs::is_directory(p)) {
    const HfConfig config = read_hf_config(p);
    if (fs::is_regular_file(p / "tokenizer.json")) return load_tokenizer_json(p / "tokenizer.json", config);
    if (fs::is_regular_file(p / "vocab.txt")) return load_vocab_txt(p / "vocab.txt", config);
    const bool has_vocab_json = fs::is_regular_file(p / "vocab.json");
    const bool has_merges = fs::is_regular_file(p / "merges.txt");
    if (has_vocab_json && has_merges) return load_bpe_files(p / "vocab.json", p / "merges.txt", config);
    if (fs::is_regular_file(p / "tokenizer.model")) {
      return with_origin((p / "tokenizer.model").string(), [&] {
        return load_sentencepiece(p / "tokenizer.model", sentencepiece_options(config));
      });
    }
    std::string why;
    if (has_vocab_json) why = " (vocab.json is there but merges.txt is missing)";
    if (has_merges) why = " (merges.txt is there but vocab.json is missing)";
    fail("tokenizer", "no tokenizer files in {}: looked for tokenizer.json, vocab.txt, vocab.json + merges.txt, tokenizer.model{}",
         p.string(), why);
  }
  check(fs::is_regular_file(p), "tokenizer", "{} does not exist (expected a tokenizer folder or file)", p.string());
  const HfConfig config = read_hf_config(p.parent_path());
  const std::string name = p.filename().string();
  if (p.extension() == ".model") return load_sentencepiece(p, sentencepiece_options(config));
  if (name == "vocab.json" || name == "merges.txt") {
    const fs::path vocab = p.parent_path() / "vocab.json";
    const fs::path merges = p.parent_path() / "merges.txt";
    const fs::path& other = name == "vocab.json" ? merges : vocab;
    check(fs::is_regular_file(other), "tokenizer", "{} needs {} next to it", p.string(), other.string());
    return load_bpe_files(vocab, merges, config);
  }
  if (p.extension() == ".json") return load_tokenizer_json(p, config);
  if (p.extension() == ".txt") return load_vocab_txt(p, config);
  fail("tokenizer", "{}: unknown tokenizer file (expected tokenizer.json, vocab.txt, vocab.json or tokenizer.model)", p.string());
}

Tokenizer Tokenizer::from_tokenizer_json(const fs::path& file) {
  return Tokenizer(text::parse_tokenizer_json(text::read_file(file), file.string()));
}

Tokenizer Tokenizer::from_tokenizer_json_text(std::string_view json, std::string_view origin) {
  return Tokenizer(text::parse_tokenizer_json(json, origin));
}

Tokenizer Tokenizer::from_wordpiece_vocab_file(const fs::path& vocab_txt, const WordPieceOptions& options) {
  return text::with_origin(vocab_txt.string(), [&] {
    return Tokenizer(text::build_wordpiece(text::read_vocab_txt(vocab_txt), options));
  });
}

Tokenizer Tokenizer::from_bpe_files(const fs::path& vocab_json, const fs::path& merges_txt, const BpeOptions& options) {
  text::Vocab vocab = text::read_vocab_json(vocab_json);
  text::MergeList merges = text::read_merges_txt(merges_txt);
  return text::with_origin(merges_txt.string(), [&] {
    return Tokenizer(text::build_bpe(std::move(vocab), merges, options));
  });
}

Tokenizer Tokenizer::from_sentencepiece_model(const fs::path& tokenizer_model, const SentencePieceOptions& options) {
  return text::load_sentencepiece(tokenizer_model, options);
}

}  // namespace octet
