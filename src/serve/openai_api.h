// OpenAI-compatible request parsing and response shapes for `octet serve`
// (POST /v1/completions, /v1/chat/completions, /v1/embeddings, /v1/classify).
//
// Parsing is a pure function of the body text: it never throws for bad input,
// it returns an ApiError naming the field (HTTP 400) so the server answers
// with OpenAI's error body. Limits that depend on the model (context length,
// prompt tokens) are checked by the server after tokenizing.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

namespace octet::serve {

// An error answered as {"error": {"message", "type", "param", "code"}}.
struct ApiError {
  int status = 400;
  std::string message;
  std::string type = "invalid_request_error";  // OpenAI's error types
  std::string param;                            // the offending field ("max_tokens"), may be empty
};
nlohmann::json error_body(const ApiError& error);

// Sampling and stopping knobs shared by completions and chat completions.
struct SamplingRequest {
  // OpenAI's default for /v1/completions is 16. Chat requests without
  // max_tokens / max_completion_tokens get -1: "up to the context" (the
  // server stops at the model's context length).
  int64_t max_tokens = 16;
  float temperature = 1.0f;    // 0: greedy
  float top_p = 1.0f;
  int64_t top_k = 0;           // extension (llama.cpp / vLLM accept it); 0: off
  float repetition_penalty = 1.0f;  // extension
  std::optional<uint64_t> seed;
  std::vector<std::string> stop;  // "stop": a string or up to 4 strings
  bool ignore_eos = false;     // extension (vLLM's): EOS does not end the text (benchmarks)
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
};

// POST /v1/completions. "prompt": a string, an array of one string, or an
// array of token ids (an array of several prompts is refused: n and batched
// prompts are not supported, 400).
struct CompletionRequest {
  std::string model;  // optional; echoed back
  std::variant<std::string, std::vector<int64_t>> prompt;
  bool echo = false;
  SamplingRequest sampling;
};

struct ChatMessage {
  std::string role;     // system | user | assistant (| tool: refused)
  std::string content;  // a string, or the concatenated "text" parts of an array
};

// POST /v1/chat/completions.
struct ChatRequest {
  std::string model;
  std::vector<ChatMessage> messages;
  SamplingRequest sampling;
};

// POST /v1/embeddings: "input" a string or an array of strings (or token-id arrays).
struct EmbeddingRequest {
  std::string model;
  std::vector<std::variant<std::string, std::vector<int64_t>>> inputs;
  std::string encoding_format = "float";  // float only ("base64": 400)
};

// POST /v1/classify (octet's extension): "input" a string or array of strings.
struct ClassifyRequest {
  std::string model;
  std::vector<std::string> inputs;
};

// Each returns the request or an ApiError (status 400) naming the field:
// malformed JSON, a body that is not an object, a wrong type ("max_tokens
// must be an integer"), out-of-range values (temperature < 0 or > 2, top_p
// not in (0, 1], max_tokens < 0, n != 1, more than 4 stop strings, empty
// messages/input, unknown role), unsupported features (n > 1, logprobs,
// best_of > 1, tools). Unknown fields are ignored, as OpenAI's server does.
// A field that is null counts as absent. Integers must be JSON integers that
// fit int64 (5.0 is refused); numbers must be finite. Bodies nesting deeper
// than 64 levels are refused before parsing; invalid UTF-8 is a parse error.
// Chat content given as text parts is joined with "\n" (as vLLM does).
// stream_options.include_usage only takes effect with "stream": true.
// Also refused: "suffix" (completions), "logprobs": true / "top_logprobs" /
// a non-text "response_format" (chat), "dimensions" (embeddings), and
// messages carrying tool_calls / function_call.
std::variant<CompletionRequest, ApiError> parse_completion_request(std::string_view body);
std::variant<ChatRequest, ApiError> parse_chat_request(std::string_view body);
std::variant<EmbeddingRequest, ApiError> parse_embedding_request(std::string_view body);
std::variant<ClassifyRequest, ApiError> parse_classify_request(std::string_view body);

// ---- responses ------------------------------------------------------------------

struct Usage {
  int64_t prompt_tokens = 0, completion_tokens = 0;
};
nlohmann::json usage_json(const Usage& usage);  // adds total_tokens

// "stop" | "length" (OpenAI's finish_reason values).
// A whole completion: {"id", "object": "text_completion", "created", "model",
// "choices": [{"index": 0, "text", "finish_reason", "logprobs": null}], "usage"}.
nlohmann::json completion_response(const std::string& id, int64_t created, const std::string& model,
                                   const std::string& text, const std::string& finish_reason, const Usage& usage);
// One streamed chunk (finish_reason null until the last one; usage only when given).
nlohmann::json completion_chunk(const std::string& id, int64_t created, const std::string& model,
                                const std::string& text, const std::optional<std::string>& finish_reason);
// {"object": "chat.completion", "choices": [{"index": 0, "message": {"role": "assistant", "content"}, "finish_reason"}], ...}
nlohmann::json chat_response(const std::string& id, int64_t created, const std::string& model,
                             const std::string& content, const std::string& finish_reason, const Usage& usage);
// {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {...}, "finish_reason"}]};
// the first chunk's delta carries "role": "assistant".
nlohmann::json chat_chunk(const std::string& id, int64_t created, const std::string& model, bool first,
                          const std::string& delta_text, const std::optional<std::string>& finish_reason);
// A final usage-only chunk for stream_options.include_usage ("choices": []).
nlohmann::json usage_chunk(const std::string& id, int64_t created, const std::string& model, const std::string& object,
                           const Usage& usage);
// Server-sent event framing: "data: <json>\n\n"; sse_done() is "data: [DONE]\n\n".
// Invalid UTF-8 in the chunk's strings (a stream cut inside a multi-byte
// character) is written as U+FFFD instead of throwing.
std::string sse_event(const nlohmann::json& chunk);
std::string sse_done();

}  // namespace octet::serve
