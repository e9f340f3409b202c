#include "serve/chat_template.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include <fmt/ranges.h>

#include "core/error_tags.h"
#include "octet/error.h"
#include "octet/gguf.h"

namespace octet::serve {

namespace fs = std::filesystem;

namespace {

struct Turn {
  std::string_view prefix{}, suffix{};
};

enum class SystemPlacement {
  OwnTurn,       // a turn of its own, like the others
  IntoFirstUser  // wrapped in system_open/system_close and put before the first user message
};

}  // namespace

// One chat format, as data. render() is the same loop for every format; what
// differs between the models' Jinja templates is captured here.
struct ChatTemplate::Format {
  std::string_view name{};
  // Recognition: every marker must appear in the Jinja text and no excluded
  // one (a marker of a different format that shares these).
  std::vector<std::string_view> markers{}, excluded{};
  Turn system{}, user{}, assistant{};
  SystemPlacement system_placement = SystemPlacement::OwnTurn;
  std::string_view system_open{}, system_close{};  // IntoFirstUser only
  // Python's str.strip() on each message's content (after the system text is
  // merged in): Llama-2's content.strip(), Llama-3's `| trim`.
  bool strip = false;
  // raise_exception('Conversation roles must alternate user/assistant/...'),
  // and the conversation must end with the user (the template has no
  // generation prompt: the assistant's turn starts right after [/INST]).
  bool alternate = false;
  // The BOS the template writes first; cut from the rendered text because
  // the tokenizer adds it (later ones, between turns, stay).
  std::string_view leading_bos{};
  std::string_view generation_prompt{};
  std::vector<std::string> stop{};
};

namespace {

using Format = ChatTemplate::Format;

// Checked in order: the more specific markers first ("[INST]" + "<<SYS>>"
// is Llama-2 before bare "[INST]" is Mistral).
const std::vector<Format>& formats() {
  static const std::vector<Format> table = {
      {
          .name = "chatml",
          .markers = {"<|im_start|>", "<|im_end|>"},
          .system = {"<|im_start|>system\n", "<|im_end|>\n"},
          .user = {"<|im_start|>user\n", "<|im_end|>\n"},
          .assistant = {"<|im_start|>assistant\n", "<|im_end|>\n"},
          .generation_prompt = "<|im_start|>assistant\n",
          .stop = {"<|im_end|>"},
      },
      {
          .name = "llama3",
          .markers = {"<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"},
          .system = {"<|start_header_id|>system<|end_header_id|>\n\n", "<|eot_id|>"},
          .user = {"<|start_header_id|>user<|end_header_id|>\n\n", "<|eot_id|>"},
          .assistant = {"<|start_header_id|>assistant<|end_header_id|>\n\n", "<|eot_id|>"},
          .strip = true,
          .generation_prompt = "<|start_header_id|>assistant<|end_header_id|>\n\n",
          .stop = {"<|eot_id|>"},
      },
      {
          .name = "zephyr",
          // Phi-3 also writes <|user|> / <|assistant|> but ends turns with <|end|>.
          .markers = {"<|user|>", "<|assistant|>"},
          .excluded = {"<|end|>"},
          .system = {"<|system|>\n", "</s>\n"},
          .user = {"<|user|>\n", "</s>\n"},
          .assistant = {"<|assistant|>\n", "</s>\n"},
          .generation_prompt = "<|assistant|>\n",
      },
      {
          .name = "llama2",
          .markers = {"[INST]", "<<SYS>>"},
          .user = {"<s>[INST] ", " [/INST]"},
          .assistant = {" ", " </s>"},
          .system_placement = SystemPlacement::IntoFirstUser,
          .system_open = "<<SYS>>\n",
          .system_close = "\n<</SYS>>\n\n",
          .strip = true,
          .alternate = true,
          .leading_bos = "<s>",
      },
      {
          .name = "mistral",
          // v0.3's tool template ([AVAILABLE_TOOLS]) puts the system text
          // before the last user message and drops the space before [/INST];
          // later ones have a [SYSTEM_PROMPT] block: different formats.
          .markers = {"[INST]"},
          .excluded = {"<<SYS>>", "[AVAILABLE_TOOLS]", "[SYSTEM_PROMPT]"},
          .user = {"[INST] ", " [/INST]"},
          .assistant = {"", "</s>"},
          .system_placement = SystemPlacement::IntoFirstUser,
          .system_close = "\n\n",
          .alternate = true,
      },
  };
  return table;
}

std::string_view strip(std::string_view s) {
  constexpr std::string_view kSpace = " \t\n\r\f\v";
  const size_t begin = s.find_first_not_of(kSpace);
  if (begin == std::string_view::npos) return {};
  return s.substr(begin, s.find_last_not_of(kSpace) - begin + 1);
}

bool contains(std::string_view text, std::string_view marker) { return text.find(marker) != std::string_view::npos; }

std::optional<std::string> read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return std::move(buffer).str();
}

void say(std::string* why, std::string text) {
  if (why) *why = std::move(text);
}

// tokenizer_config.json's chat_template: nullopt when the key is absent;
// throws Error for a value of the wrong shape.
std::optional<std::string> config_template(const fs::path& config) {
  const auto text = read_text(config);
  check(text.has_value(), kServeTag, "{}: cannot read", config.string());
  const auto json = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  check(!json.is_discarded() && json.is_object(), kServeTag, "{}: not a JSON object", config.string());
  const auto it = json.find("chat_template");
  if (it == json.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  // Several named templates ("default", "tool_use", "rag"): the default one.
  check(it->is_array(), kServeTag, "{}: 'chat_template' must be a string or a list of {{name, template}}",
        config.string());
  for (const auto& entry : *it) {
    if (!entry.is_object()) continue;
    const auto name = entry.find("name"), body = entry.find("template");
    if (name != entry.end() && *name == "default" && body != entry.end() && body->is_string())
      return body->get<std::string>();
  }
  fail(kServeTag, "{}: 'chat_template' lists no template named \"default\"", config.string());
}

}  // namespace

ChatTemplate::ChatTemplate(const Format* format) : format_(format), name_(format->name), stop_(format->stop) {}

std::optional<ChatTemplate> ChatTemplate::from_jinja(std::string_view text) {
  for (const Format& f : formats()) {
    const bool all = std::all_of(f.markers.begin(), f.markers.end(), [&](auto m) { return contains(text, m); });
    const bool none = std::none_of(f.excluded.begin(), f.excluded.end(), [&](auto m) { return contains(text, m); });
    if (all && none) return ChatTemplate(&f);
  }
  return std::nullopt;
}

ChatTemplate ChatTemplate::named(std::string_view name) {
  for (const Format& f : formats())
    if (f.name == name) return ChatTemplate(&f);
  fail(kServeTag, "unknown chat template '{}' (known: {})", name, fmt::join(names(), ", "));
}

std::vector<std::string> ChatTemplate::names() {
  std::vector<std::string> out;
  for (const Format& f : formats()) out.emplace_back(f.name);
  return out;
}

std::string ChatTemplate::render(const std::vector<ChatMessage>& messages) const {
  const Format& f = *format_;
  check(!messages.empty(), kServeTag, "chat template {}: no messages", f.name);
  size_t first = 0;
  std::string system;  // IntoFirstUser: waiting for the first user message
  if (f.system_placement == SystemPlacement::IntoFirstUser && messages[0].role == "system") {
    system = std::string(f.system_open) + messages[0].content + std::string(f.system_close);
    first = 1;
    check(first < messages.size(), kServeTag, "chat template {}: a system message needs a user message after it",
          f.name);
  }
  std::string out;
  for (size_t i = first; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    const Turn* turn = m.role == "user" ? &f.user : m.role == "assistant" ? &f.assistant : m.role == "system" ? &f.system : nullptr;
    check(turn != nullptr, kServeTag, "chat template {}: unsupported role '{}'", f.name, m.role);
    if (f.system_placement == SystemPlacement::IntoFirstUser)
      check(m.role != "system", kServeTag, "chat template {}: a system message may only come first", f.name);
    if (f.alternate)
      check((m.role == "user") == ((i - first) % 2 == 0), kServeTag,
            "chat template {}: roles must alternate user/assistant/user/... (message {} is '{}')", f.name, i, m.role);
    std::string content = i == first ? system + m.content : m.content;
    if (f.strip) content = std::string(strip(content));
    out.append(turn->prefix).append(content).append(turn->suffix);
  }
  if (f.alternate)
    check(messages.back().role == "user", kServeTag, "chat template {}: the last message must be the user's", f.name);
  out += f.generation_prompt;
  if (!f.leading_bos.empty() && out.starts_with(f.leading_bos)) out.erase(0, f.leading_bos.size());
  return out;
}

std::optional<ChatTemplate> load_chat_template(const fs::path& model, std::string* why) {
  std::error_code ec;
  const fs::path folder = fs::is_directory(model, ec) ? model : model.parent_path();
  const fs::path config = folder / "tokenizer_config.json";
  try {
    std::optional<std::string> jinja;
    std::string source;
    if (fs::is_regular_file(config, ec)) {
      jinja = config_template(config);
      source = config.string();
    }
    if (!jinja && is_gguf_file(model)) {
      const GgufFile gguf = GgufFile::open(model);
      if (const GgufValue* value = gguf.find("tokenizer.chat_template")) {
        jinja = value->as_string("tokenizer.chat_template");
        source = model.string() + " (tokenizer.chat_template)";
      }
    }
    if (!jinja) {
      say(why, fmt::format("{} has no chat template (no 'chat_template' in tokenizer_config.json{})", model.string(),
                           is_gguf_file(model) ? " or the GGUF metadata" : ""));
      return std::nullopt;
    }
    auto found = ChatTemplate::from_jinja(*jinja);
    if (!found)
      say(why, fmt::format("the chat template of {} is not one octet recognizes (known: {})", source,
                           fmt::join(ChatTemplate::names(), ", ")));
    return found;
  } catch (const Error& e) {
    say(why, e.what());
    return std::nullopt;
  }
}

}  // namespace octet::serve
