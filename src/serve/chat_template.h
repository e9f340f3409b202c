// Chat prompts for POST /v1/chat/completions. octet does not run Jinja: a
// model's chat_template is recognized by its markers as one of the formats
// the field uses, each described as data (role prefixes/suffixes, how a
// system message is placed), and rendered here. Unknown templates are
// refused (400 naming the model) rather than guessed.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "serve/openai_api.h"

namespace octet::serve {

class ChatTemplate {
 public:
  // The format a Jinja chat_template text implements, recognized by its
  // markers (ChatML "<|im_start|>", Llama-2 "[INST]" + "<<SYS>>", Mistral
  // "[INST]" without a system block, Llama-3 "<|start_header_id|>", Zephyr
  // "<|user|>"); nullopt when none matches. Look-alikes are refused: Phi-3
  // (<|user|> with <|end|>), Mistral v0.3's tool template ([AVAILABLE_TOOLS])
  // and [SYSTEM_PROMPT] templates.
  static std::optional<ChatTemplate> from_jinja(std::string_view text);
  // By name: one of names(); throws octet::Error("serve") listing them otherwise.
  static ChatTemplate named(std::string_view name);
  static std::vector<std::string> names();

  const std::string& name() const { return name_; }
  // The prompt for `messages` followed by the assistant's generation prompt.
  // Begins without the BOS token (the tokenizer's encode() adds it where the
  // model expects one). Throws octet::Error("serve") for messages the format
  // cannot hold (e.g. Llama-2: roles must alternate user/assistant after an
  // optional system message; the last must be the user's).
  std::string render(const std::vector<ChatMessage>& messages) const;
  // Text that ends the assistant's turn besides EOS ("<|im_end|>", "<|eot_id|>").
  const std::vector<std::string>& stop_strings() const { return stop_; }

  struct Format;  // the data describing one format (chat_template.cc)

 private:
  explicit ChatTemplate(const Format* format);
  const Format* format_ = nullptr;
  std::string name_;
  std::vector<std::string> stop_;
};

// The chat template that comes with a model: tokenizer_config.json's
// "chat_template" (a string, or a list of {"name", "template"} where "default"
// is used) in the model's folder (the file's folder for a GGUF or other file),
// else a GGUF file's "tokenizer.chat_template" metadata. nullopt when there is
// none or octet does not recognize it; *why (when given) then says which.
// Also nullopt (not a throw) for a tokenizer_config.json that is not JSON, a
// chat_template of the wrong shape or a list without "default", and an
// unreadable GGUF: *why names the file and the problem.
std::optional<ChatTemplate> load_chat_template(const std::filesystem::path& model, std::string* why = nullptr);

}  // namespace octet::serve
