// Request parsing (every documented rule, and hostile bodies: malformed,
// deeply nested, huge, invalid UTF-8, numbers out of range) and the response
// shapes of the OpenAI-compatible endpoints.
#include "serve/openai_api.h"

#include <gtest/gtest.h>

#include <limits>
#include <random>

#include <fmt/format.h>

namespace octet::serve {
namespace {

using Json = nlohmann::json;

template <typename T>
T accepted(const std::variant<T, ApiError>& result, std::string_view body) {
  if (const auto* e = std::get_if<ApiError>(&result)) {
    ADD_FAILURE() << "refused " << body << ": " << e->message << " (param " << e->param << ")";
    return T{};
  }
  return std::get<T>(result);
}

// The body is refused with 400, naming `param`, with `text` in the message;
// the error body must serialize (valid UTF-8 whatever the input was).
template <typename T>
void expect_refused(const std::variant<T, ApiError>& result, std::string_view body, std::string_view param,
                    std::string_view text = "") {
  const auto* e = std::get_if<ApiError>(&result);
  ASSERT_NE(e, nullptr) << "accepted: " << body.substr(0, 200);
  EXPECT_EQ(e->status, 400) << body.substr(0, 200);
  EXPECT_EQ(e->type, "invalid_request_error");
  EXPECT_EQ(e->param, param) << body.substr(0, 200) << " -> " << e->message;
  EXPECT_NE(e->message.find(text), std::string::npos) << "message: " << e->message << " lacks: " << text;
  EXPECT_NO_THROW((void)error_body(*e).dump());
}

CompletionRequest completion(std::string_view body) { return accepted(parse_completion_request(body), body); }
ChatRequest chat(std::string_view body) { return accepted(parse_chat_request(body), body); }

void bad_completion(std::string_view body, std::string_view param, std::string_view text = "") {
  expect_refused(parse_completion_request(body), body, param, text);
}
void bad_chat(std::string_view body, std::string_view param, std::string_view text = "") {
  expect_refused(parse_chat_request(body), body, param, text);
}
void bad_embedding(std::string_view body, std::string_view param, std::string_view text = "") {
  expect_refused(parse_embedding_request(body), body, param, text);
}
void bad_classify(std::string_view body, std::string_view param, std::string_view text = "") {
  expect_refused(parse_classify_request(body), body, param, text);
}

// A completion body with `field` added to a valid prompt.
std::string with(std::string_view field) { return "{\"prompt\": \"hi\", " + std::string(field) + "}"; }
std::string chat_with(std::string_view field) {
  return R"({"messages": [{"role": "user", "content": "hi"}], )" + std::string(field) + "}";
}

// ---- /v1/completions --------------------------------------------------------

TEST(CompletionRequest, DefaultsAreOpenAIs) {
  const auto r = completion(R"({"prompt": "Once upon a time"})");
  EXPECT_EQ(std::get<std::string>(r.prompt), "Once upon a time");
  EXPECT_EQ(r.model, "");
  EXPECT_FALSE(r.echo);
  EXPECT_EQ(r.sampling.max_tokens, 16);
  EXPECT_EQ(r.sampling.temperature, 1.0f);
  EXPECT_EQ(r.sampling.top_p, 1.0f);
  EXPECT_EQ(r.sampling.top_k, 0);
  EXPECT_EQ(r.sampling.repetition_penalty, 1.0f);
  EXPECT_FALSE(r.sampling.seed.has_value());
  EXPECT_TRUE(r.sampling.stop.empty());
  EXPECT_FALSE(r.sampling.stream);
  EXPECT_FALSE(r.sampling.include_usage);
}

TEST(CompletionRequest, EveryFieldParses) {
  const auto r = completion(R"({"model": "kjv", "prompt": "In the beginning", "max_tokens": 7, "temperature": 0,
      "top_p": 0.9, "top_k": 40, "repetition_penalty": 1.1, "seed": 1234, "stop": ["\n", "END"], "stream": true,
      "stream_options": {"include_usage": true}, "n": 1, "echo": true, "logprobs": null, "best_of": 1})");
  EXPECT_EQ(r.model, "kjv");
  EXPECT_EQ(r.sampling.max_tokens, 7);
  EXPECT_EQ(r.sampling.temperature, 0.0f);
  EXPECT_FLOAT_EQ(r.sampling.top_p, 0.9f);
  EXPECT_EQ(r.sampling.top_k, 40);
  EXPECT_FLOAT_EQ(r.sampling.repetition_penalty, 1.1f);
  EXPECT_EQ(r.sampling.seed, 1234u);
  EXPECT_EQ(r.sampling.stop, (std::vector<std::string>{"\n", "END"}));
  EXPECT_TRUE(r.sampling.stream);
  EXPECT_TRUE(r.sampling.include_usage);
  EXPECT_TRUE(r.echo);
}

TEST(CompletionRequest, PromptForms) {
  EXPECT_EQ(std::get<std::string>(completion(R"({"prompt": ["one"]})").prompt), "one");
  EXPECT_EQ(std::get<std::vector<int64_t>>(completion(R"({"prompt": [1, 0, 4095]})").prompt),
            (std::vector<int64_t>{1, 0, 4095}));
  EXPECT_EQ(std::get<std::vector<int64_t>>(completion(R"({"prompt": [[5, 6]]})").prompt), (std::vector<int64_t>{5, 6}));
  // Unicode survives (escaped and raw).
  EXPECT_EQ(std::get<std::string>(completion(R"({"prompt": "caf\u00e9 \u2603 ü"})").prompt), "café ☃ ü");
}

TEST(CompletionRequest, UnknownFieldsAreIgnoredAndNullIsAbsent) {
  const auto r = completion(R"({"prompt": "x", "user": "me", "frequency_penalty": 0.5, "logit_bias": {"1": 2},
      "future_thing": [[[1]]], "max_tokens": null, "temperature": null, "stop": null, "seed": null, "n": null,
      "stream": null, "best_of": null, "echo": null, "model": null})");
  EXPECT_EQ(r.sampling.max_tokens, 16);
  EXPECT_EQ(r.sampling.temperature, 1.0f);
  EXPECT_FALSE(r.sampling.seed.has_value());
}

TEST(CompletionRequest, PromptRules) {
  bad_completion(R"({})", "prompt", "'prompt' is required");
  bad_completion(R"({"prompt": null})", "prompt", "required");
  bad_completion(R"({"prompt": 5})", "prompt", "must be a string or an array of token ids");
  bad_completion(R"({"prompt": {"text": "x"}})", "prompt");
  bad_completion(R"({"prompt": true})", "prompt");
  bad_completion(R"({"prompt": ""})", "prompt", "must not be empty");
  bad_completion(R"({"prompt": []})", "prompt", "must not be empty");
  bad_completion(R"({"prompt": [""]})", "prompt", "must not be empty");
  bad_completion(R"({"prompt": [[]]})", "prompt", "must not be empty");
  bad_completion(R"({"prompt": ["a", "b"]})", "prompt", "batched prompts are not supported");
  bad_completion(R"({"prompt": [[1], [2]]})", "prompt", "batched");
  bad_completion(R"({"prompt": [1, -2]})", "prompt", "token ids must be >= 0");
  bad_completion(R"({"prompt": [1, 2.5]})", "prompt", "token ids (integers)");
  bad_completion(R"({"prompt": [1, "a"]})", "prompt");
  bad_completion(R"({"prompt": [1, null]})", "prompt");
  bad_completion(R"({"prompt": [9223372036854775808]})", "prompt", "out of range");
  bad_completion(R"({"prompt": [1e30]})", "prompt");
}

TEST(CompletionRequest, MaxTokensRules) {
  EXPECT_EQ(completion(with(R"("max_tokens": 0)")).sampling.max_tokens, 0);
  EXPECT_EQ(completion(with(R"("max_tokens": 9223372036854775807)")).sampling.max_tokens,
            std::numeric_limits<int64_t>::max());
  bad_completion(with(R"("max_tokens": -1)"), "max_tokens", "'max_tokens' must be >= 0");
  bad_completion(with(R"("max_tokens": "10")"), "max_tokens", "'max_tokens' must be an integer");
  bad_completion(with(R"("max_tokens": 1.5)"), "max_tokens", "must be an integer, got a non-integer number");
  bad_completion(with(R"("max_tokens": 10.0)"), "max_tokens", "must be an integer");
  bad_completion(with(R"("max_tokens": true)"), "max_tokens", "must be an integer, got boolean");
  bad_completion(with(R"("max_tokens": [1])"), "max_tokens", "must be an integer");
  // Out of int64: nlohmann keeps 2^63..2^64-1 unsigned, larger values and
  // large negatives as floats.
  bad_completion(with(R"("max_tokens": 9223372036854775808)"), "max_tokens", "out of range");
  bad_completion(with(R"("max_tokens": 18446744073709551616)"), "max_tokens", "must be an integer");
  bad_completion(with(R"("max_tokens": -9223372036854775809)"), "max_tokens", "must be an integer");
  bad_completion(with(R"("max_tokens": 1e30)"), "max_tokens", "must be an integer");
}

TEST(CompletionRequest, TemperatureTopPTopKPenaltyRules) {
  EXPECT_EQ(completion(with(R"("temperature": 2)")).sampling.temperature, 2.0f);
  EXPECT_EQ(completion(with(R"("temperature": 0.0)")).sampling.temperature, 0.0f);
  bad_completion(with(R"("temperature": -0.1)"), "temperature", "between 0 and 2");
  bad_completion(with(R"("temperature": 2.01)"), "temperature", "between 0 and 2");
  bad_completion(with(R"("temperature": "hot")"), "temperature", "'temperature' must be a number, got string");
  bad_completion(with(R"("temperature": 1e308)"), "temperature", "between 0 and 2");

  EXPECT_EQ(completion(with(R"("top_p": 1)")).sampling.top_p, 1.0f);
  EXPECT_FLOAT_EQ(completion(with(R"("top_p": 1e-9)")).sampling.top_p, 1e-9f);
  bad_completion(with(R"("top_p": 0)"), "top_p", "(0, 1]");
  bad_completion(with(R"("top_p": -0.5)"), "top_p", "(0, 1]");
  bad_completion(with(R"("top_p": 1.0001)"), "top_p", "(0, 1]");
  bad_completion(with(R"("top_p": [0.5])"), "top_p", "must be a number");

  EXPECT_EQ(completion(with(R"("top_k": 0)")).sampling.top_k, 0);
  bad_completion(with(R"("top_k": -1)"), "top_k", "'top_k' must be >= 0");
  bad_completion(with(R"("top_k": 4.5)"), "top_k", "'top_k' must be an integer");

  bad_completion(with(R"("repetition_penalty": 0)"), "repetition_penalty", "must be > 0");
  bad_completion(with(R"("repetition_penalty": -1.2)"), "repetition_penalty", "must be > 0");
  bad_completion(with(R"("repetition_penalty": 1e300)"), "repetition_penalty", "must be > 0");
  bad_completion(with(R"("repetition_penalty": "1.1")"), "repetition_penalty", "must be a number");
}

TEST(CompletionRequest, SeedRules) {
  EXPECT_EQ(completion(with(R"("seed": 0)")).sampling.seed, 0u);
  EXPECT_EQ(completion(with(R"("seed": -1)")).sampling.seed, std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(completion(with(R"("seed": -9223372036854775808)")).sampling.seed, uint64_t{1} << 63);
  EXPECT_EQ(completion(with(R"("seed": 18446744073709551615)")).sampling.seed, std::numeric_limits<uint64_t>::max());
  bad_completion(with(R"("seed": 1.5)"), "seed", "'seed' must be an integer");
  bad_completion(with(R"("seed": "42")"), "seed", "'seed' must be an integer, got string");
  bad_completion(with(R"("seed": 18446744073709551616)"), "seed", "must be an integer");
}

TEST(CompletionRequest, StopRules) {
  EXPECT_EQ(completion(with(R"("stop": "\n\n")")).sampling.stop, (std::vector<std::string>{"\n\n"}));
  EXPECT_TRUE(completion(with(R"("stop": [])")).sampling.stop.empty());
  EXPECT_EQ(completion(with(R"("stop": ["a", "b", "c", "d"])")).sampling.stop.size(), 4u);
  bad_completion(with(R"("stop": ["a", "b", "c", "d", "e"])"), "stop", "at most 4");
  bad_completion(with(R"("stop": "")"), "stop", "must not be empty");
  bad_completion(with(R"("stop": ["a", ""])"), "stop", "must not be empty");
  bad_completion(with(R"("stop": [1])"), "stop", "string or an array of strings");
  bad_completion(with(R"("stop": [null])"), "stop", "string or an array of strings");
  bad_completion(with(R"("stop": 3)"), "stop", "string or an array of strings");
  bad_completion(with(R"("stop": {"s": "x"})"), "stop", "string or an array of strings");
}

TEST(CompletionRequest, StreamRules) {
  EXPECT_FALSE(completion(with(R"("stream": false, "stream_options": {"include_usage": true})")).sampling.include_usage);
  EXPECT_FALSE(completion(with(R"("stream": true, "stream_options": {})")).sampling.include_usage);
  EXPECT_FALSE(completion(with(R"("stream": true, "stream_options": null)")).sampling.include_usage);
  bad_completion(with(R"("stream": "true")"), "stream", "'stream' must be a boolean, got string");
  bad_completion(with(R"("stream": 1)"), "stream", "must be a boolean");
  bad_completion(with(R"("stream": true, "stream_options": true)"), "stream_options", "must be an object");
  bad_completion(with(R"("stream": true, "stream_options": {"include_usage": "yes"})"), "stream_options.include_usage",
                 "must be a boolean");
}

TEST(CompletionRequest, UnsupportedFeatures) {
  bad_completion(with(R"("n": 2)"), "n", "'n' must be 1");
  bad_completion(with(R"("n": 0)"), "n", "'n' must be 1");
  bad_completion(with(R"("n": "1")"), "n", "'n' must be an integer");
  bad_completion(with(R"("best_of": 2)"), "best_of", "'best_of' must be 1");
  bad_completion(with(R"("best_of": 1.5)"), "best_of", "must be an integer");
  bad_completion(with(R"("logprobs": 0)"), "logprobs", "not supported");
  bad_completion(with(R"("logprobs": 5)"), "logprobs", "not supported");
  bad_completion(with(R"("logprobs": true)"), "logprobs", "not supported");
  bad_completion(with(R"("suffix": "end")"), "suffix", "not supported");
  bad_completion(with(R"("echo": "yes")"), "echo", "'echo' must be a boolean");
  bad_completion(with(R"("model": 5)"), "model", "'model' must be a string");
}

// ---- hostile bodies ---------------------------------------------------------

TEST(RequestBody, MalformedJsonAndNonObjects) {
  for (const char* body : {"", " ", "{", "}", "{\"prompt\": \"x\"", "{\"prompt\": \"x\"}}", "{\"prompt\": \"x\",}",
                           "{'prompt': 'x'}", "{\"prompt\": NaN}", "{\"prompt\": Infinity}", "{\"max_tokens\": 1e400}",
                           "{\"temperature\": -1e400}", "{\"prompt\": \"x\"} trailing", "\xEF\xBB\xBF\x01",
                           "{\"prompt\": \"\\ud800\"}", "{\"prompt\": \"\\u12\"}", "{\"prompt\": \"a\tb\"}"}) {
    bad_completion(body, "", "could not parse the JSON body");
  }
  for (const char* body : {"[]", "[{\"prompt\": \"x\"}]", "\"prompt\"", "42", "null", "true"})
    bad_completion(body, "", "must be a JSON object");
}

TEST(RequestBody, InvalidUtf8IsRefusedNotThrown) {
  // Stray continuation byte, overlong "/", a truncated sequence, an encoded surrogate, beyond U+10FFFF.
  for (const std::string bad : {"\x80", "\xC0\xAF", "\xE2\x82", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xFF"}) {
    bad_completion("{\"prompt\": \"a" + bad + "b\"}", "", "could not parse");
    bad_chat("{\"messages\": [{\"role\": \"user\", \"content\": \"" + bad + "\"}]}", "", "could not parse");
    bad_completion("{\"" + bad + "\": 1, \"prompt\": \"x\"}", "", "could not parse");
  }
}

TEST(RequestBody, DeepNestingIsRefusedBeforeParsing) {
  for (const size_t depth : {65u, 1000u, 1000000u}) {
    const std::string deep = "{\"prompt\": \"x\", \"extra\": " + std::string(depth, '[') + std::string(depth, ']') + "}";
    bad_completion(deep, "", "nests deeper than 64");
    bad_chat(std::string(depth, '['), "", "nests deeper");  // unbalanced too
    bad_embedding(std::string(depth, '{'), "", "nests deeper");
  }
  // Brackets inside strings do not count; moderate nesting in unknown fields is fine.
  completion(R"({"prompt": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"[[["})");
  completion(R"({"prompt": "x", "extra": [[[[[[[[[[{"a": [[[1]]]}]]]]]]]]]]})");
}

TEST(RequestBody, HugeBodiesParse) {
  const std::string long_prompt(8 << 20, 'a');
  EXPECT_EQ(std::get<std::string>(completion("{\"prompt\": \"" + long_prompt + "\"}").prompt).size(), long_prompt.size());
  std::string ids = "[";
  for (int i = 0; i < 200000; ++i) {
    if (i) ids += ',';
    ids += std::to_string(i);
  }
  ids += "]";
  EXPECT_EQ(std::get<std::vector<int64_t>>(completion("{\"prompt\": " + ids + "}").prompt).size(), 200000u);
  // A long bad value is echoed shortened (and stays valid UTF-8).
  const auto r = parse_chat_request(R"({"messages": [{"role": ")" + std::string(10000, 'x') + "\u00e9" +
                                    R"(", "content": "hi"}]})");
  ASSERT_TRUE(std::holds_alternative<ApiError>(r));
  EXPECT_LT(std::get<ApiError>(r).message.size(), 300u);
}

TEST(RequestBody, NeverThrowsOnMutatedBodies) {
  const std::string valid =
      R"({"model": "m", "prompt": [1, 2], "max_tokens": 5, "temperature": 0.5, "stop": ["x"], "seed": -3,)"
      R"( "stream": true, "stream_options": {"include_usage": true}, "messages": [{"role": "user", "content": [{"type": "text", "text": "hé"}]}], "input": [[1], "a"]})";
  std::mt19937 rng(7);
  for (int trial = 0; trial < 3000; ++trial) {
    std::string body = valid;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      const size_t at = rng() % body.size();
      switch (rng() % 3) {
        case 0: body[at] = static_cast<char>(rng() % 256); break;
        case 1: body.erase(at, 1 + rng() % 8); break;
        default: body.insert(at, 1, "[]{}\",:0-e.\\\x80"[rng() % 13]); break;
      }
      if (body.empty()) body.push_back('{');
    }
    EXPECT_NO_THROW({
      const auto a = parse_completion_request(body);
      const auto b = parse_chat_request(body);
      const auto c = parse_embedding_request(body);
      const auto d = parse_classify_request(body);
      for (const ApiError* error : {std::get_if<ApiError>(&a), std::get_if<ApiError>(&b), std::get_if<ApiError>(&c),
                                    std::get_if<ApiError>(&d)})
        if (error) (void)error_body(*error).dump();
    }) << body;
  }
  for (size_t cut = 0; cut < valid.size(); ++cut) {
    EXPECT_NO_THROW((void)parse_completion_request(valid.substr(0, cut)));
    EXPECT_NO_THROW((void)parse_chat_request(valid.substr(0, cut)));
  }
}

// ---- /v1/chat/completions ---------------------------------------------------

TEST(ChatRequest, MessagesAndDefaults) {
  const auto r = chat(R"({"model": "m", "messages": [
      {"role": "system", "content": "Be brief."},
      {"role": "user", "content": "Hi", "name": "ann"},
      {"role": "assistant", "content": ""},
      {"role": "user", "content": [{"type": "text", "text": "Part one."}, {"type": "text", "text": "Part two."}]}]})");
  ASSERT_EQ(r.messages.size(), 4u);
  EXPECT_EQ(r.messages[0].role, "system");
  EXPECT_EQ(r.messages[0].content, "Be brief.");
  EXPECT_EQ(r.messages[2].content, "");
  EXPECT_EQ(r.messages[3].content, "Part one.\nPart two.");
  EXPECT_EQ(r.sampling.max_tokens, -1);  // no limit given: up to the context
  EXPECT_EQ(r.sampling.temperature, 1.0f);
  EXPECT_EQ(r.model, "m");
}

TEST(ChatRequest, MaxTokensAndMaxCompletionTokens) {
  EXPECT_EQ(chat(chat_with(R"("max_tokens": 12)")).sampling.max_tokens, 12);
  EXPECT_EQ(chat(chat_with(R"("max_completion_tokens": 20)")).sampling.max_tokens, 20);
  EXPECT_EQ(chat(chat_with(R"("max_tokens": 12, "max_completion_tokens": 20)")).sampling.max_tokens, 20);
  EXPECT_EQ(chat(chat_with(R"("max_tokens": 12, "max_completion_tokens": null)")).sampling.max_tokens, 12);
  bad_chat(chat_with(R"("max_tokens": -1)"), "max_tokens", "must be >= 0");
  bad_chat(chat_with(R"("max_completion_tokens": "5")"), "max_completion_tokens", "must be an integer");
  bad_chat(chat_with(R"("max_completion_tokens": -5)"), "max_completion_tokens", ">= 0");
}

TEST(ChatRequest, SharedSamplingRules) {
  const auto r = chat(chat_with(R"("temperature": 0.2, "top_p": 0.5, "stop": "###", "seed": 9, "stream": true,
      "stream_options": {"include_usage": true}, "logprobs": false, "response_format": {"type": "text"})"));
  EXPECT_FLOAT_EQ(r.sampling.temperature, 0.2f);
  EXPECT_EQ(r.sampling.stop, (std::vector<std::string>{"###"}));
  EXPECT_TRUE(r.sampling.include_usage);
  bad_chat(chat_with(R"("temperature": 3)"), "temperature");
  bad_chat(chat_with(R"("top_p": 0)"), "top_p");
  bad_chat(chat_with(R"("stop": ["", "x"])"), "stop");
  bad_chat(chat_with(R"("n": 3)"), "n");
  bad_chat(chat_with(R"("seed": "x")"), "seed");
}

TEST(ChatRequest, MessageRules) {
  bad_chat(R"({})", "messages", "'messages' is required");
  bad_chat(R"({"messages": null})", "messages", "required");
  bad_chat(R"({"messages": "hi"})", "messages", "must be an array, got string");
  bad_chat(R"({"messages": {"role": "user"}})", "messages", "must be an array");
  bad_chat(R"({"messages": []})", "messages", "must not be empty");
  bad_chat(R"({"messages": ["hi"]})", "messages[0]", "'messages[0]' must be an object");
  bad_chat(R"({"messages": [{"content": "hi"}]})", "messages[0].role", "required");
  bad_chat(R"({"messages": [{"role": 1, "content": "hi"}]})", "messages[0].role", "must be a string");
  for (const char* role : {"tool", "function", "developer", "User", ""})
    bad_chat(fmt::format(R"({{"messages": [{{"role": "user", "content": "a"}}, {{"role": "{}", "content": "hi"}}]}})", role),
             "messages[1].role", "must be one of system, user, assistant");
  bad_chat(R"({"messages": [{"role": "user"}]})", "messages[0].content", "'messages[0].content' is required");
  bad_chat(R"({"messages": [{"role": "assistant", "content": null}]})", "messages[0].content", "required");
  bad_chat(R"({"messages": [{"role": "user", "content": 5}]})", "messages[0].content",
           "must be a string or an array of text parts, got number");
  bad_chat(R"({"messages": [{"role": "user", "content": {"type": "text"}}]})", "messages[0].content");
  bad_chat(R"({"messages": [{"role": "user", "content": ["hi"]}]})", "messages[0].content[0]", "must be an object");
  bad_chat(R"({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]})",
           "messages[0].content[0].type", "only text content is supported");
  bad_chat(R"({"messages": [{"role": "user", "content": [{"type": "input_audio"}]}]})", "messages[0].content[0].type");
  bad_chat(R"({"messages": [{"role": "user", "content": [{"text": "no type"}]}]})", "messages[0].content[0].type");
  bad_chat(R"({"messages": [{"role": "user", "content": [{"type": "text"}]}]})", "messages[0].content[0].text",
           "required");
  bad_chat(R"({"messages": [{"role": "user", "content": [{"type": "text", "text": 7}]}]})", "messages[0].content[0].text",
           "must be a string");
  bad_chat(R"({"messages": [{"role": "assistant", "content": "x", "tool_calls": [{"id": "1"}]}]})", "messages[0].tool_calls",
           "not supported");
}

TEST(ChatRequest, ToolsAndUnsupportedFeatures) {
  bad_chat(chat_with(R"("tools": [{"type": "function", "function": {"name": "f"}}])"), "tools", "not supported");
  bad_chat(chat_with(R"("tool_choice": "auto")"), "tool_choice", "not supported");
  bad_chat(chat_with(R"("functions": [{"name": "f"}])"), "functions", "not supported");
  bad_chat(chat_with(R"("function_call": "auto")"), "function_call", "not supported");
  bad_chat(chat_with(R"("logprobs": true)"), "logprobs", "not supported");
  bad_chat(chat_with(R"("top_logprobs": 2)"), "top_logprobs", "not supported");
  bad_chat(chat_with(R"("response_format": {"type": "json_object"})"), "response_format", "not supported");
  bad_chat(chat_with(R"("response_format": "text")"), "response_format");
  // An empty tools list counts as present: the client asked for tool use.
  bad_chat(chat_with(R"("tools": [])"), "tools");
}

// ---- /v1/embeddings and /v1/classify ----------------------------------------

TEST(EmbeddingRequest, InputForms) {
  const auto one = accepted(parse_embedding_request(R"({"input": "hello", "model": "e"})"), "");
  ASSERT_EQ(one.inputs.size(), 1u);
  EXPECT_EQ(std::get<std::string>(one.inputs[0]), "hello");
  EXPECT_EQ(one.encoding_format, "float");
  EXPECT_EQ(one.model, "e");
  const auto many = accepted(parse_embedding_request(R"({"input": ["a", "b", "c"], "encoding_format": "float"})"), "");
  EXPECT_EQ(many.inputs.size(), 3u);
  const auto ids = accepted(parse_embedding_request(R"({"input": [101, 7, 102]})"), "");
  ASSERT_EQ(ids.inputs.size(), 1u);
  EXPECT_EQ(std::get<std::vector<int64_t>>(ids.inputs[0]), (std::vector<int64_t>{101, 7, 102}));
  const auto id_lists = accepted(parse_embedding_request(R"({"input": [[1, 2], [3]]})"), "");
  ASSERT_EQ(id_lists.inputs.size(), 2u);
  EXPECT_EQ(std::get<std::vector<int64_t>>(id_lists.inputs[1]), (std::vector<int64_t>{3}));
}

TEST(EmbeddingRequest, Rules) {
  bad_embedding(R"({})", "input", "'input' is required");
  bad_embedding(R"({"input": null})", "input", "required");
  bad_embedding(R"({"input": ""})", "input", "must not be empty");
  bad_embedding(R"({"input": []})", "input", "must not be empty");
  bad_embedding(R"({"input": ["a", ""]})", "input", "must not be empty");
  bad_embedding(R"({"input": [[1], []]})", "input", "must not be empty");
  bad_embedding(R"({"input": 5})", "input", "must be a string or an array of token ids");
  bad_embedding(R"({"input": {"text": "a"}})", "input");
  bad_embedding(R"({"input": [1, -1]})", "input", ">= 0");
  bad_embedding(R"({"input": [1, 1.5]})", "input", "integers");
  bad_embedding(R"({"input": ["a", 3]})", "input", "'input[1]' must be a string or an array of token ids");
  bad_embedding(R"({"input": [[1, "a"]]})", "input");
  bad_embedding(R"({"input": "a", "encoding_format": "base64"})", "encoding_format", "must be \"float\"");
  bad_embedding(R"({"input": "a", "encoding_format": 1})", "encoding_format", "must be a string");
  bad_embedding(R"({"input": "a", "dimensions": 64})", "dimensions", "not supported");
  bad_embedding(R"({"input": "a", "model": ["m"]})", "model");
  bad_embedding("[1]", "", "JSON object");
}

TEST(ClassifyRequest, InputFormsAndRules) {
  EXPECT_EQ(accepted(parse_classify_request(R"({"input": "great film"})"), "").inputs,
            (std::vector<std::string>{"great film"}));
  EXPECT_EQ(accepted(parse_classify_request(R"({"input": ["a", "b"], "model": "sst2"})"), "").inputs,
            (std::vector<std::string>{"a", "b"}));
  bad_classify(R"({})", "input", "required");
  bad_classify(R"({"input": ""})", "input", "must not be empty");
  bad_classify(R"({"input": []})", "input", "must not be empty");
  bad_classify(R"({"input": ["a", ""]})", "input", "must not be empty");
  bad_classify(R"({"input": [1, 2]})", "input", "must be a string or an array of strings, got number");
  bad_classify(R"({"input": [["a"]]})", "input", "got array");
  bad_classify(R"({"input": 1})", "input", "must be a string or an array of strings");
  bad_classify("{\"input\": \"\xC3\"}", "", "could not parse");
}

// ---- responses --------------------------------------------------------------

TEST(Responses, ErrorBody) {
  const Json body = error_body({400, "'n' must be 1", "invalid_request_error", "n"});
  EXPECT_EQ(body, Json::parse(R"({"error": {"message": "'n' must be 1", "type": "invalid_request_error",
      "param": "n", "code": null}})"));
  EXPECT_TRUE(error_body({400, "bad", "invalid_request_error", ""})["error"]["param"].is_null());
}

TEST(Responses, CompletionShapes) {
  EXPECT_EQ(usage_json({10, 5}), Json::parse(R"({"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15})"));
  EXPECT_EQ(completion_response("cmpl-1", 1700000000, "kjv", "And God said", "length", {4, 3}),
            Json::parse(R"({"id": "cmpl-1", "object": "text_completion", "created": 1700000000, "model": "kjv",
                "choices": [{"index": 0, "text": "And God said", "logprobs": null, "finish_reason": "length"}],
                "usage": {"prompt_tokens": 4, "completion_tokens": 3, "total_tokens": 7}})"));
  EXPECT_EQ(completion_chunk("cmpl-1", 1700000000, "kjv", " God", std::nullopt),
            Json::parse(R"({"id": "cmpl-1", "object": "text_completion", "created": 1700000000, "model": "kjv",
                "choices": [{"index": 0, "text": " God", "logprobs": null, "finish_reason": null}]})"));
  EXPECT_EQ(completion_chunk("cmpl-1", 1, "kjv", "", "stop")["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(usage_chunk("cmpl-1", 1, "kjv", "text_completion", {2, 1}),
            Json::parse(R"({"id": "cmpl-1", "object": "text_completion", "created": 1, "model": "kjv", "choices": [],
                "usage": {"prompt_tokens": 2, "completion_tokens": 1, "total_tokens": 3}})"));
}

TEST(Responses, ChatShapes) {
  EXPECT_EQ(chat_response("chatcmpl-9", 1700000001, "m", "Hello!", "stop", {12, 2}),
            Json::parse(R"({"id": "chatcmpl-9", "object": "chat.completion", "created": 1700000001, "model": "m",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello!"}, "logprobs": null,
                             "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 12, "completion_tokens": 2, "total_tokens": 14}})"));
  const auto chunk = [](bool first, const std::string& text, std::optional<std::string> finish) {
    return chat_chunk("chatcmpl-9", 5, "m", first, text, finish);
  };
  EXPECT_EQ(chunk(true, "", std::nullopt),
            Json::parse(R"({"id": "chatcmpl-9", "object": "chat.completion.chunk", "created": 5, "model": "m",
                "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": null,
                             "finish_reason": null}]})"));
  EXPECT_EQ(chunk(false, "Hel", std::nullopt)["choices"][0]["delta"], Json::parse(R"({"content": "Hel"})"));
  EXPECT_EQ(chunk(false, "", "length")["choices"][0]["delta"], Json::object());
  EXPECT_EQ(chunk(false, "", "length")["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(chunk(false, "!", "stop")["choices"][0]["delta"], Json::parse(R"({"content": "!"})"));
  EXPECT_EQ(chunk(true, "Hi", "stop")["choices"][0]["delta"], Json::parse(R"({"role": "assistant", "content": "Hi"})"));
  EXPECT_EQ(usage_chunk("chatcmpl-9", 5, "m", "chat.completion.chunk", {1, 1})["object"], "chat.completion.chunk");
}

TEST(Responses, ServerSentEvents) {
  const Json chunk = completion_chunk("cmpl-2", 3, "m", "a\nb", std::nullopt);
  const std::string event = sse_event(chunk);
  ASSERT_TRUE(event.starts_with("data: "));
  ASSERT_TRUE(event.ends_with("\n\n"));
  const std::string payload = event.substr(6, event.size() - 8);
  EXPECT_EQ(payload.find('\n'), std::string::npos);  // one line: the text's newline is escaped
  EXPECT_EQ(Json::parse(payload), chunk);
  EXPECT_EQ(sse_done(), "data: [DONE]\n\n");
  // A stream cut inside a multi-byte character: replaced, not thrown.
  std::string broken_event;
  EXPECT_NO_THROW(broken_event = sse_event(completion_chunk("cmpl-2", 3, "m", "caf\xC3", std::nullopt)));
  EXPECT_EQ(Json::parse(broken_event.substr(6))["choices"][0]["text"], "caf\xEF\xBF\xBD");
}

}  // namespace
}  // namespace octet::serve
