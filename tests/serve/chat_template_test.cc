// Chat formats: recognition of the model families' Hugging Face Jinja
// templates, exact multi-turn renders, loading from tokenizer_config.json and
// GGUF metadata, and that the markers the real Llama-2 tokenizer knows come
// out as single special tokens.
//
// /work/shared holds no tokenizer_config.json with a chat_template (kjv-llama
// has none), so the Jinja texts below are the families' published templates
// (tokenizer_config.json of Llama-2-7b-chat-hf, Mistral-7B-Instruct-v0.1,
// Meta-Llama-3-8B-Instruct, zephyr-7b-beta, and the common ChatML one), as
// the decoded JSON strings.
#include "serve/chat_template.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include "octet/error.h"
#include "octet/gguf.h"
#include "octet/tokenizer.h"
#include "support/shared_data.h"

namespace octet::serve {
namespace {

namespace fs = std::filesystem;

const std::string kChatmlJinja =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + "
    "'\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

const std::string kLlama2Jinja =
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = "
    "messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}"
    "{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ "
    "raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if "
    "loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + "
    "'\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if "
    "message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] "
    "== 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}";

const std::string kMistralJinja =
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ "
    "raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if "
    "message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == "
    "'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles are "
    "supported!') }}{% endif %}{% endfor %}";

const std::string kLlama3Jinja =
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + "
    "message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 "
    "%}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ "
    "'<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";

const std::string kZephyrJinja =
    "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\\n' + message['content'] + "
    "eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\\n' + message['content'] + eos_token }}\n"
    "{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\\n'  + message['content'] + eos_token }}\n{% endif "
    "%}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}";

// Templates of other formats that share markers with the ones above.
const std::string kPhi3Jinja =
    "{% for message in messages %}{% if message['role'] == 'system' %}{{'<|system|>\\n' + message['content'] + "
    "'<|end|>\\n'}}{% elif message['role'] == 'user' %}{{'<|user|>\\n' + message['content'] + '<|end|>\\n'}}{% elif "
    "message['role'] == 'assistant' %}{{'<|assistant|>\\n' + message['content'] + '<|end|>\\n'}}{% endif %}{% endfor "
    "%}{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% else %}{{ eos_token }}{% endif %}";
const std::string kMistralV3ToolsJinja =
    "{%- for message in loop_messages %}{%- if message[\"role\"] == \"user\" %}{%- if tools is not none and "
    "(message == user_messages[-1]) %}{{- \"[AVAILABLE_TOOLS] [\" }}{%- endif %}{%- if loop.last and system_message "
    "is defined %}{{- \"[INST] \" + system_message + \"\\n\\n\" + message[\"content\"] + \"[/INST]\" }}{%- else %}"
    "{{- \"[INST] \" + message[\"content\"] + \"[/INST]\" }}{%- endif %}{%- endif %}{%- endfor %}";
const std::string kGemmaJinja =
    "{{ bos_token }}{% for message in messages %}{{ '<start_of_turn>' + message['role'] + '\\n' + "
    "message['content'] | trim + '<end_of_turn>\\n' }}{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>"
    "model\\n'}}{% endif %}";

const std::vector<ChatMessage> kConversation = {
    {"system", "You are terse."},
    {"user", "Hello!"},
    {"assistant", "Hi there."},
    {"user", "Tell me a joke."},
};
const std::vector<ChatMessage> kNoSystem(kConversation.begin() + 1, kConversation.end());

std::string render(const std::string& jinja, const std::vector<ChatMessage>& messages) {
  const auto t = ChatTemplate::from_jinja(jinja);
  if (!t) throw std::runtime_error("template not recognized");
  return t->render(messages);
}

void write_text(const fs::path& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

TEST(ChatTemplate, RecognizesEachFamilysJinja) {
  EXPECT_EQ(ChatTemplate::from_jinja(kChatmlJinja)->name(), "chatml");
  EXPECT_EQ(ChatTemplate::from_jinja(kLlama2Jinja)->name(), "llama2");
  EXPECT_EQ(ChatTemplate::from_jinja(kMistralJinja)->name(), "mistral");
  EXPECT_EQ(ChatTemplate::from_jinja(kLlama3Jinja)->name(), "llama3");
  EXPECT_EQ(ChatTemplate::from_jinja(kZephyrJinja)->name(), "zephyr");
}

TEST(ChatTemplate, RefusesLookAlikesAndUnknownTemplates) {
  EXPECT_FALSE(ChatTemplate::from_jinja(kPhi3Jinja).has_value());            // <|user|> but <|end|>, not zephyr
  EXPECT_FALSE(ChatTemplate::from_jinja(kMistralV3ToolsJinja).has_value());  // [INST] but a different layout
  EXPECT_FALSE(ChatTemplate::from_jinja(kGemmaJinja).has_value());
  EXPECT_FALSE(ChatTemplate::from_jinja("").has_value());
  EXPECT_FALSE(ChatTemplate::from_jinja("{{ messages[0]['content'] }}").has_value());
}

TEST(ChatTemplate, NamesAndNamed) {
  EXPECT_EQ(ChatTemplate::names(), (std::vector<std::string>{"chatml", "llama3", "zephyr", "llama2", "mistral"}));
  for (const std::string& name : ChatTemplate::names()) EXPECT_EQ(ChatTemplate::named(name).name(), name);
  try {
    ChatTemplate::named("vicuna");
    FAIL() << "no throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.tag(), "serve");
    EXPECT_NE(std::string(e.what()).find("vicuna"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("chatml, llama3, zephyr, llama2, mistral"), std::string::npos);
  }
  EXPECT_EQ(ChatTemplate::named("chatml").stop_strings(), (std::vector<std::string>{"<|im_end|>"}));
  EXPECT_EQ(ChatTemplate::named("llama3").stop_strings(), (std::vector<std::string>{"<|eot_id|>"}));
  EXPECT_TRUE(ChatTemplate::named("llama2").stop_strings().empty());  // its turns end with EOS
}

TEST(ChatTemplate, ChatmlMultiTurn) {
  EXPECT_EQ(render(kChatmlJinja, kConversation),
            "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nHello!<|im_end|>\n"
            "<|im_start|>assistant\nHi there.<|im_end|>\n<|im_start|>user\nTell me a joke.<|im_end|>\n"
            "<|im_start|>assistant\n");
  // Content is kept as given (no strip).
  EXPECT_EQ(render(kChatmlJinja, {{"user", " x \n"}}), "<|im_start|>user\n x \n<|im_end|>\n<|im_start|>assistant\n");
}

TEST(ChatTemplate, Llama2MultiTurn) {
  // HF renders "<s>[INST] ..." with a BOS before every user turn; the first is
  // the tokenizer's, the inner "</s><s>" is part of the text.
  EXPECT_EQ(render(kLlama2Jinja, kConversation),
            "[INST] <<SYS>>\nYou are terse.\n<</SYS>>\n\nHello! [/INST] Hi there. </s><s>[INST] Tell me a joke. [/INST]");
  EXPECT_EQ(render(kLlama2Jinja, kNoSystem), "[INST] Hello! [/INST] Hi there. </s><s>[INST] Tell me a joke. [/INST]");
  EXPECT_EQ(render(kLlama2Jinja, {{"user", "Hi"}}), "[INST] Hi [/INST]");
  // content.strip() applies to the merged "<<SYS>>...<</SYS>>\n\n" + user text
  // as a whole (the user's leading space stays), and to every other turn.
  EXPECT_EQ(render(kLlama2Jinja, {{"system", " sys "}, {"user", " q \n"}, {"assistant", "\ta "}, {"user", "  r"}}),
            "[INST] <<SYS>>\n sys \n<</SYS>>\n\n q [/INST] a </s><s>[INST] r [/INST]");
  // An empty system message still gets its block (Jinja: '' != false).
  EXPECT_EQ(render(kLlama2Jinja, {{"system", ""}, {"user", "q"}}), "[INST] <<SYS>>\n\n<</SYS>>\n\nq [/INST]");
}

TEST(ChatTemplate, MistralMultiTurn) {
  EXPECT_EQ(render(kMistralJinja, kNoSystem), "[INST] Hello! [/INST]Hi there.</s>[INST] Tell me a joke. [/INST]");
  EXPECT_EQ(render(kMistralJinja, kConversation),
            "[INST] You are terse.\n\nHello! [/INST]Hi there.</s>[INST] Tell me a joke. [/INST]");
}

TEST(ChatTemplate, Llama3MultiTurn) {
  EXPECT_EQ(render(kLlama3Jinja, kConversation),
            "<|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHello!<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\nHi there.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nTell me a joke.<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
  // `| trim` on each content; any order of roles is allowed.
  EXPECT_EQ(render(kLlama3Jinja, {{"user", "  a\n"}, {"user", "b"}}),
            "<|start_header_id|>user<|end_header_id|>\n\na<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nb"
            "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
}

TEST(ChatTemplate, ZephyrMultiTurn) {
  EXPECT_EQ(render(kZephyrJinja, kConversation),
            "<|system|>\nYou are terse.</s>\n<|user|>\nHello!</s>\n<|assistant|>\nHi there.</s>\n"
            "<|user|>\nTell me a joke.</s>\n<|assistant|>\n");
}

TEST(ChatTemplate, RefusesConversationsTheFormatCannotHold) {
  const auto refused = [](const std::string& name, const std::vector<ChatMessage>& messages, const char* text) {
    try {
      (void)ChatTemplate::named(name).render(messages);
      ADD_FAILURE() << name << ": rendered";
    } catch (const Error& e) {
      EXPECT_EQ(e.tag(), "serve");
      EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
    }
  };
  for (const char* name : {"chatml", "llama3", "zephyr", "llama2", "mistral"}) refused(name, {}, "no messages");
  for (const char* name : {"llama2", "mistral"}) {
    refused(name, {{"user", "a"}, {"user", "b"}}, "roles must alternate");
    refused(name, {{"assistant", "a"}, {"user", "b"}}, "roles must alternate");
    refused(name, {{"user", "a"}, {"assistant", "b"}}, "the last message must be the user's");
    refused(name, {{"system", "s"}}, "needs a user message");
    refused(name, {{"user", "a"}, {"system", "s"}}, "may only come first");
    refused(name, {{"system", "s"}, {"system", "t"}, {"user", "u"}}, "may only come first");
  }
  for (const char* name : {"chatml", "llama3", "zephyr", "llama2"}) refused(name, {{"tool", "x"}}, "unsupported role");
  // Formats with their own system turn take any order.
  EXPECT_NO_THROW((void)ChatTemplate::named("chatml").render({{"user", "a"}, {"system", "s"}, {"assistant", "b"}}));
}

// ---- loading ------------------------------------------------------------------

TEST(LoadChatTemplate, TokenizerConfigString) {
  const fs::path dir = octet::testing::temp_dir();
  write_text(dir / "tokenizer_config.json", nlohmann::json{{"chat_template", kLlama2Jinja}}.dump());
  std::string why;
  const auto t = load_chat_template(dir, &why);
  ASSERT_TRUE(t.has_value()) << why;
  EXPECT_EQ(t->name(), "llama2");
  // A file in the folder (the weights) finds the same config.
  write_text(dir / "model.safetensors", "");
  EXPECT_EQ(load_chat_template(dir / "model.safetensors")->name(), "llama2");
  EXPECT_EQ(load_chat_template(dir / "tokenizer_config.json")->name(), "llama2");
}

TEST(LoadChatTemplate, TokenizerConfigListUsesDefault) {
  const fs::path dir = octet::testing::temp_dir();
  nlohmann::json config = {{"chat_template",
                            {{{"name", "tool_use"}, {"template", kMistralV3ToolsJinja}},
                             {{"name", "default"}, {"template", kChatmlJinja}},
                             {{"name", "rag"}, {"template", kGemmaJinja}}}}};
  write_text(dir / "tokenizer_config.json", config.dump());
  EXPECT_EQ(load_chat_template(dir)->name(), "chatml");

  config["chat_template"].erase(1);
  write_text(dir / "tokenizer_config.json", config.dump());
  std::string why;
  EXPECT_FALSE(load_chat_template(dir, &why).has_value());
  EXPECT_NE(why.find("\"default\""), std::string::npos) << why;
}

TEST(LoadChatTemplate, NoneUnknownOrBroken) {
  std::string why;
  // A real model folder whose tokenizer_config.json has no chat_template.
  EXPECT_FALSE(load_chat_template(octet::testing::shared_path("models/kjv-llama"), &why).has_value());
  EXPECT_NE(why.find("has no chat template"), std::string::npos) << why;
  // A real GGUF without tokenizer.chat_template.
  why.clear();
  EXPECT_FALSE(load_chat_template(octet::testing::shared_path("models/stories260K/stories260K.gguf"), &why).has_value());
  EXPECT_NE(why.find("GGUF metadata"), std::string::npos) << why;

  const fs::path dir = octet::testing::temp_dir();
  why.clear();
  EXPECT_FALSE(load_chat_template(dir, &why).has_value());
  EXPECT_NE(why.find("has no chat template"), std::string::npos) << why;

  write_text(dir / "tokenizer_config.json", nlohmann::json{{"chat_template", kGemmaJinja}}.dump());
  EXPECT_FALSE(load_chat_template(dir, &why).has_value());
  EXPECT_NE(why.find("not one octet recognizes"), std::string::npos) << why;

  write_text(dir / "tokenizer_config.json", "{\"chat_template\": ");
  EXPECT_FALSE(load_chat_template(dir, &why).has_value());
  EXPECT_NE(why.find("not a JSON object"), std::string::npos) << why;

  write_text(dir / "tokenizer_config.json", "{\"chat_template\": 5}");
  EXPECT_FALSE(load_chat_template(dir, &why).has_value());
  EXPECT_NE(why.find("must be a string or a list"), std::string::npos) << why;
  EXPECT_FALSE(load_chat_template(dir).has_value());  // why is optional
}

TEST(LoadChatTemplate, GgufMetadata) {
  const fs::path dir = octet::testing::temp_dir();
  const fs::path gguf = dir / "chat.gguf";
  write_gguf(gguf,
             {{"general.architecture", GgufValue(std::string("llama"))},
              {"tokenizer.chat_template", GgufValue(kZephyrJinja)}},
             {GgufTensorToWrite("t", Tensor::zeros({2, 32}, DType::F32))});
  std::string why;
  const auto t = load_chat_template(gguf, &why);
  ASSERT_TRUE(t.has_value()) << why;
  EXPECT_EQ(t->name(), "zephyr");
  // tokenizer_config.json next to the file comes first.
  write_text(dir / "tokenizer_config.json", nlohmann::json{{"chat_template", kLlama3Jinja}}.dump());
  EXPECT_EQ(load_chat_template(gguf)->name(), "llama3");
  // A config without chat_template falls through to the GGUF.
  write_text(dir / "tokenizer_config.json", "{\"bos_token\": \"<s>\"}");
  EXPECT_EQ(load_chat_template(gguf)->name(), "zephyr");
}

// ---- tokenization of the rendered markers ------------------------------------

// The real Llama-2 tokenizer (the 32000-piece model) has <s>/</s> as control
// tokens: the renders of the formats built on it must carry them as single
// ids, with one BOS (the tokenizer's) at the start.
TEST(ChatTemplateTokens, Llama2MarkersAreSingleTokens) {
  const Tokenizer tok = Tokenizer::load(octet::testing::shared_path("fixtures/tokenizers/llama2"));
  const int64_t bos = *tok.special_ids().bos, eos = *tok.special_ids().eos;
  ASSERT_EQ(tok.id_to_token(bos), "<s>");
  ASSERT_EQ(tok.id_to_token(eos), "</s>");
  const auto count = [](const std::vector<int64_t>& ids, int64_t id) { return std::count(ids.begin(), ids.end(), id); };

  const Encoding llama2 = tok.encode(ChatTemplate::named("llama2").render(kConversation));
  EXPECT_EQ(llama2.ids.front(), bos);
  EXPECT_NE(llama2.ids[1], bos);  // no doubled BOS
  EXPECT_EQ(count(llama2.ids, bos), 2);  // the tokenizer's and the second turn's
  EXPECT_EQ(count(llama2.ids, eos), 1);
  const auto eos_at = std::find(llama2.ids.begin(), llama2.ids.end(), eos);
  ASSERT_NE(eos_at + 1, llama2.ids.end());
  EXPECT_EQ(*(eos_at + 1), bos);  // "</s><s>" is two tokens, adjacent
  const size_t at = static_cast<size_t>(eos_at - llama2.ids.begin());
  EXPECT_EQ(llama2.tokens[at], "</s>");
  EXPECT_EQ(llama2.tokens[at + 1], "<s>");
  // (Decoding is not an exact round trip: the legacy Llama tokenizer starts
  // the text after <s> with "\u2581", as HF's does, so "<s>[INST]" decodes
  // as "<s> [INST]".)

  for (const char* name : {"mistral", "zephyr"}) {
    const Encoding e = tok.encode(ChatTemplate::named(name).render(kConversation));
    EXPECT_EQ(count(e.ids, bos), 1) << name;
    EXPECT_EQ(count(e.ids, eos), std::string(name) == "zephyr" ? 4 : 1) << name;
  }
  // "[INST]" is plain text to this tokenizer (several pieces, none special).
  const Encoding inst = tok.encode("[INST]", {.add_special_tokens = false});
  EXPECT_GT(inst.ids.size(), 1u);
  for (const int64_t id : inst.ids) EXPECT_FALSE(tok.is_special(id));
}

}  // namespace
}  // namespace octet::serve
