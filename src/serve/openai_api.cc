#include "serve/openai_api.h"

#include <cmath>
#include <exception>
#include <limits>
#include <new>
#include <utility>

#include <fmt/format.h>

namespace octet::serve {
namespace {

using Json = nlohmann::json;

// Deeper bodies are refused before parsing: no OpenAI request nests more than
// a few levels, and a bound keeps every later walk over the tree (including
// nlohmann's recursive dump and comparison) shallow.
constexpr int kMaxDepth = 64;
// Longest value echoed back in an error message.
constexpr size_t kMaxEcho = 64;

// Thrown inside the parsers and caught at their boundary; the public
// functions return it instead.
[[noreturn]] void refuse(std::string param, std::string message) {
  throw ApiError{400, std::move(message), "invalid_request_error", std::move(param)};
}

// The bracket depth of a JSON text, ignoring brackets inside strings. Linear
// and allocation-free, so it is safe on any input, valid or not.
int max_depth(std::string_view text) {
  int depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

// Only printable ASCII from the parser's message: it may quote the offending
// bytes, which need not be UTF-8 and would make the error body undumpable.
std::string printable(std::string_view text) {
  std::string out;
  for (const char c : text.substr(0, 200)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return out;
}

Json parse_object(std::string_view body) {
  if (max_depth(body) > kMaxDepth) refuse("", fmt::format("The request body nests deeper than {} levels.", kMaxDepth));
  Json parsed;
  try {
    parsed = Json::parse(body);
  } catch (const Json::exception& e) {
    refuse("", "We could not parse the JSON body of your request: " + printable(e.what()));
  }
  if (!parsed.is_object()) refuse("", fmt::format("The request body must be a JSON object, got {}.", parsed.type_name()));
  return parsed;
}

// "number", "string", ... for messages.
std::string kind(const Json& v) { return v.is_number_float() ? "a non-integer number" : std::string(v.type_name()); }

// Field access on the request object. A field that is absent or null is
// "not given" (OpenAI's optional fields all accept null).
// `prefix` names nested objects in messages and params ("messages[2].").
class Fields {
 public:
  explicit Fields(const Json& object, std::string prefix = "") : object_(object), prefix_(std::move(prefix)) {}

  std::string param(const std::string& key) const { return prefix_ + key; }

  const Json* get(const std::string& key) const {
    auto it = object_.find(key);
    return it == object_.end() || it->is_null() ? nullptr : &*it;
  }

  // The field, or a 400 naming it as required.
  const Json& required(const std::string& key) const {
    const Json* v = get(key);
    if (!v) refuse(param(key), fmt::format("'{}' is required.", param(key)));
    return *v;
  }

  std::optional<int64_t> integer(const std::string& key, int64_t min = std::numeric_limits<int64_t>::min()) const {
    const Json* v = get(key);
    if (!v) return std::nullopt;
    const int64_t i = as_int64(*v, param(key));
    if (i < min) refuse(param(key), fmt::format("'{}' must be >= {}, got {}.", param(key), min, i));
    return i;
  }

  std::optional<double> number(const std::string& key) const {
    const Json* v = get(key);
    if (!v) return std::nullopt;
    if (!v->is_number()) refuse(param(key), fmt::format("'{}' must be a number, got {}.", param(key), v->type_name()));
    const double d = v->get<double>();
    if (!std::isfinite(d)) refuse(param(key), fmt::format("'{}' must be a finite number.", param(key)));
    return d;
  }

  std::optional<bool> boolean(const std::string& key) const {
    const Json* v = get(key);
    if (!v) return std::nullopt;
    if (!v->is_boolean()) refuse(param(key), fmt::format("'{}' must be a boolean, got {}.", param(key), kind(*v)));
    return v->get<bool>();
  }

  std::optional<std::string> string(const std::string& key) const {
    const Json* v = get(key);
    if (!v) return std::nullopt;
    if (!v->is_string()) refuse(param(key), fmt::format("'{}' must be a string, got {}.", param(key), kind(*v)));
    return v->get<std::string>();
  }

  // A JSON integer that fits int64 (nlohmann keeps 2^63..2^64-1 unsigned and
  // anything larger as a float, which is refused as not an integer).
  static int64_t as_int64(const Json& v, const std::string& param) {
    if (!v.is_number_integer()) refuse(param, fmt::format("'{}' must be an integer, got {}.", param, kind(v)));
    if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      refuse(param, fmt::format("'{}' is out of range.", param));
    return v.get<int64_t>();
  }

 private:
  const Json& object_;
  std::string prefix_;
};

std::string echo(std::string_view text) {
  if (text.size() <= kMaxEcho) return std::string(text);
  // Cut at a character boundary so the message stays valid UTF-8.
  size_t cut = kMaxEcho;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return std::string(text.substr(0, cut)) + "...";
}

// Refuses a field octet cannot honour unless it is absent, null or `allowed`.
void only(const Fields& f, const std::string& key, const Json& allowed, const std::string& why) {
  const Json* v = f.get(key);
  if (v && *v != allowed) refuse(f.param(key), fmt::format("'{}' {}.", f.param(key), why));
}

void refuse_present(const Fields& f, const std::string& key, const std::string& why) {
  if (f.get(key)) refuse(f.param(key), fmt::format("'{}' is not supported: {}.", f.param(key), why));
}

std::vector<std::string> parse_stop(const Fields& f) {
  const Json* v = f.get("stop");
  if (!v) return {};
  std::vector<std::string> stop;
  if (v->is_string()) {
    stop.push_back(v->get<std::string>());
  } else if (v->is_array()) {
    if (v->size() > 4) refuse("stop", fmt::format("'stop' may hold at most 4 strings, got {}.", v->size()));
    for (const Json& s : *v) {
      if (!s.is_string()) refuse("stop", fmt::format("'stop' must be a string or an array of strings, got an array holding {}.", kind(s)));
      stop.push_back(s.get<std::string>());
    }
  } else {
    refuse("stop", fmt::format("'stop' must be a string or an array of strings, got {}.", kind(*v)));
  }
  for (const std::string& s : stop)
    if (s.empty()) refuse("stop", "'stop' strings must not be empty.");
  return stop;
}

// The knobs shared by both generation endpoints; max_tokens is the caller's.
SamplingRequest parse_sampling(const Fields& f) {
  SamplingRequest s;
  if (auto t = f.number("temperature")) {
    if (*t < 0 || *t > 2) refuse("temperature", fmt::format("'temperature' must be between 0 and 2, got {}.", *t));
    s.temperature = static_cast<float>(*t);
  }
  if (auto p = f.number("top_p")) {
    if (!(*p > 0 && *p <= 1)) refuse("top_p", fmt::format("'top_p' must be in (0, 1], got {}.", *p));
    s.top_p = static_cast<float>(*p);
  }
  if (auto k = f.integer("top_k", 0)) s.top_k = *k;
  if (auto r = f.number("repetition_penalty")) {
    // Also bounded above so the float cast stays finite.
    if (!(*r > 0 && *r <= 1e6)) refuse("repetition_penalty", fmt::format("'repetition_penalty' must be > 0, got {}.", *r));
    s.repetition_penalty = static_cast<float>(*r);
  }
  if (const Json* seed = f.get("seed")) {
    // Negative seeds are accepted and reinterpreted (two's complement), as
    // the whole 64-bit range is a valid seed.
    if (!seed->is_number_integer()) refuse("seed", fmt::format("'seed' must be an integer, got {}.", kind(*seed)));
    s.seed = seed->is_number_unsigned() ? seed->get<uint64_t>() : static_cast<uint64_t>(seed->get<int64_t>());
  }
  s.stop = parse_stop(f);
  s.ignore_eos = f.boolean("ignore_eos").value_or(false);
  s.stream = f.boolean("stream").value_or(false);
  if (const Json* options = f.get("stream_options")) {
    if (!options->is_object()) refuse("stream_options", fmt::format("'stream_options' must be an object, got {}.", kind(*options)));
    const Fields o(*options, "stream_options.");
    const bool usage = o.boolean("include_usage").value_or(false);
    // Without streaming the usage is in the response anyway.
    s.include_usage = s.stream && usage;
  }
  if (const Json* n = f.get("n")) {
    if (Fields::as_int64(*n, "n") != 1) refuse("n", "'n' must be 1: several choices per request are not supported.");
  }
  return s;
}

std::variant<std::string, std::vector<int64_t>> parse_token_ids(const Json& array, const std::string& param) {
  std::vector<int64_t> ids;
  ids.reserve(array.size());
  for (const Json& id : array) {
    if (!id.is_number_integer())
      refuse(param, fmt::format("'{}' must be a string or an array of token ids (integers), got an array holding {}.", param, kind(id)));
    const int64_t i = Fields::as_int64(id, param);
    if (i < 0) refuse(param, fmt::format("'{}' token ids must be >= 0, got {}.", param, i));
    ids.push_back(i);
  }
  return ids;
}

// One string, or one array of token ids; never empty.
std::variant<std::string, std::vector<int64_t>> parse_one_input(const Json& v, const std::string& param) {
  if (v.is_string()) {
    if (v.get_ref<const std::string&>().empty()) refuse(param, fmt::format("'{}' must not be empty.", param));
    return v.get<std::string>();
  }
  if (v.is_array()) {
    if (v.empty()) refuse(param, fmt::format("'{}' must not be empty.", param));
    return parse_token_ids(v, param);
  }
  refuse(param, fmt::format("'{}' must be a string or an array of token ids, got {}.", param, kind(v)));
}

template <typename T>
std::variant<T, ApiError> guarded(T (*parse)(const Json&), std::string_view body) {
  try {
    return parse(parse_object(body));
  } catch (const ApiError& e) {
    return e;
  } catch (const std::bad_alloc&) {
    return ApiError{413, "The request body is too large to process.", "invalid_request_error", ""};
  } catch (const std::exception& e) {
    return ApiError{400, "Invalid request: " + printable(e.what()), "invalid_request_error", ""};
  }
}

CompletionRequest completion_from(const Json& body) {
  const Fields f(body);
  CompletionRequest r;
  r.model = f.string("model").value_or("");
  const Json* prompt = &f.required("prompt");
  if (prompt->is_array() && !prompt->empty() && ((*prompt)[0].is_string() || (*prompt)[0].is_array())) {
    // A list of prompts: only a list of one is taken (batching is the server's job, not the client's).
    if (prompt->size() != 1) refuse("prompt", "'prompt' must hold one prompt: batched prompts are not supported.");
    r.prompt = parse_one_input((*prompt)[0], "prompt");
  } else {
    r.prompt = parse_one_input(*prompt, "prompt");
  }
  r.sampling = parse_sampling(f);
  r.sampling.max_tokens = f.integer("max_tokens", 0).value_or(16);
  r.echo = f.boolean("echo").value_or(false);
  if (const Json* best_of = f.get("best_of")) {
    if (Fields::as_int64(*best_of, "best_of") != 1) refuse("best_of", "'best_of' must be 1: it is not supported.");
  }
  refuse_present(f, "logprobs", "log probabilities are not returned");
  refuse_present(f, "suffix", "insertion is not supported");
  return r;
}

std::string message_content(const Json& content, const std::string& param) {
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array())
    refuse(param, fmt::format("'{}' must be a string or an array of text parts, got {}.", param, kind(content)));
  std::string text;
  for (size_t i = 0; i < content.size(); ++i) {
    const Json& part = content[i];
    const std::string where = fmt::format("{}[{}]", param, i);
    if (!part.is_object()) refuse(where, fmt::format("'{}' must be an object, got {}.", where, kind(part)));
    const Fields p(part, where + ".");
    const std::string type = p.string("type").value_or("");
    if (type != "text")
      refuse(where + ".type", fmt::format("'{}.type' must be \"text\": only text content is supported, got \"{}\".", where, echo(type)));
    p.required("text");
    const auto part_text = p.string("text");
    // Parts are joined by newlines, as vLLM does.
    if (i > 0) text += '\n';
    text += *part_text;
  }
  return text;
}

ChatRequest chat_from(const Json& body) {
  const Fields f(body);
  ChatRequest r;
  r.model = f.string("model").value_or("");
  const Json* messages = &f.required("messages");
  if (!messages->is_array()) refuse("messages", fmt::format("'messages' must be an array, got {}.", kind(*messages)));
  if (messages->empty()) refuse("messages", "'messages' must not be empty.");
  for (size_t i = 0; i < messages->size(); ++i) {
    const Json& m = (*messages)[i];
    const std::string where = fmt::format("messages[{}]", i);
    if (!m.is_object()) refuse(where, fmt::format("'{}' must be an object, got {}.", where, kind(m)));
    const Fields mf(m, where + ".");
    mf.required("role");
    const auto role = mf.string("role");
    if (*role != "system" && *role != "user" && *role != "assistant")
      refuse(where + ".role",
             fmt::format("'{}.role' must be one of system, user, assistant, got \"{}\".", where, echo(*role)));
    refuse_present(mf, "tool_calls", "tools are not supported");
    refuse_present(mf, "function_call", "functions are not supported");
    const Json* content = &mf.required("content");
    r.messages.push_back({*role, message_content(*content, where + ".content")});
  }
  r.sampling = parse_sampling(f);
  // max_completion_tokens supersedes the deprecated max_tokens; neither: up to the context.
  auto limit = f.integer("max_completion_tokens", 0);
  if (!limit) limit = f.integer("max_tokens", 0);
  r.sampling.max_tokens = limit.value_or(-1);
  for (const char* key : {"tools", "tool_choice", "functions", "function_call"})
    refuse_present(f, key, "tools and functions are not supported");
  only(f, "logprobs", false, "is not supported: log probabilities are not returned");
  refuse_present(f, "top_logprobs", "log probabilities are not returned");
  if (const Json* format = f.get("response_format")) {
    const Json* type = format->is_object() ? Fields(*format).get("type") : nullptr;
    if (!type || *type != "text") refuse("response_format", "'response_format' must be {\"type\": \"text\"}: structured output is not supported.");
  }
  return r;
}

EmbeddingRequest embedding_from(const Json& body) {
  const Fields f(body);
  EmbeddingRequest r;
  r.model = f.string("model").value_or("");
  const Json* input = &f.required("input");
  if (input->is_array() && !input->empty() && ((*input)[0].is_string() || (*input)[0].is_array())) {
    // A list of strings or of token-id lists; each element names itself.
    for (size_t i = 0; i < input->size(); ++i) {
      const Json& one = (*input)[i];
      const std::string where = fmt::format("input[{}]", i);
      if (!one.is_string() && !one.is_array())
        refuse("input", fmt::format("'{}' must be a string or an array of token ids, got {}.", where, kind(one)));
      r.inputs.push_back(parse_one_input(one, "input"));
    }
  } else {
    r.inputs.push_back(parse_one_input(*input, "input"));
  }
  if (auto format = f.string("encoding_format")) {
    if (*format != "float")
      refuse("encoding_format", fmt::format("'encoding_format' must be \"float\", got \"{}\".", echo(*format)));
  }
  refuse_present(f, "dimensions", "the model's embedding size is fixed");
  return r;
}

ClassifyRequest classify_from(const Json& body) {
  const Fields f(body);
  ClassifyRequest r;
  r.model = f.string("model").value_or("");
  const Json* input = &f.required("input");
  const auto add = [&](const Json& v) {
    if (!v.is_string()) refuse("input", fmt::format("'input' must be a string or an array of strings, got {}.", kind(v)));
    if (v.get_ref<const std::string&>().empty()) refuse("input", "'input' must not be empty.");
    r.inputs.push_back(v.get<std::string>());
  };
  if (input->is_array()) {
    if (input->empty()) refuse("input", "'input' must not be empty.");
    for (const Json& one : *input) add(one);
  } else {
    add(*input);
  }
  return r;
}

Json base(const std::string& id, const std::string& object, int64_t created, const std::string& model) {
  return Json{{"id", id}, {"object", object}, {"created", created}, {"model", model}};
}

Json reason(const std::optional<std::string>& finish_reason) {
  return finish_reason ? Json(*finish_reason) : Json(nullptr);
}

}  // namespace

nlohmann::json error_body(const ApiError& error) {
  return Json{{"error",
               {{"message", error.message},
                {"type", error.type},
                {"param", error.param.empty() ? Json(nullptr) : Json(error.param)},
                {"code", nullptr}}}};
}

std::variant<CompletionRequest, ApiError> parse_completion_request(std::string_view body) {
  return guarded(&completion_from, body);
}
std::variant<ChatRequest, ApiError> parse_chat_request(std::string_view body) { return guarded(&chat_from, body); }
std::variant<EmbeddingRequest, ApiError> parse_embedding_request(std::string_view body) {
  return guarded(&embedding_from, body);
}
std::variant<ClassifyRequest, ApiError> parse_classify_request(std::string_view body) {
  return guarded(&classify_from, body);
}

nlohmann::json usage_json(const Usage& usage) {
  return Json{{"prompt_tokens", usage.prompt_tokens},
              {"completion_tokens", usage.completion_tokens},
              {"total_tokens", usage.prompt_tokens + usage.completion_tokens}};
}

nlohmann::json completion_response(const std::string& id, int64_t created, const std::string& model,
                                   const std::string& text, const std::string& finish_reason, const Usage& usage) {
  Json r = base(id, "text_completion", created, model);
  r["choices"] = Json::array({{{"index", 0}, {"text", text}, {"logprobs", nullptr}, {"finish_reason", finish_reason}}});
  r["usage"] = usage_json(usage);
  return r;
}

nlohmann::json completion_chunk(const std::string& id, int64_t created, const std::string& model,
                                const std::string& text, const std::optional<std::string>& finish_reason) {
  Json r = base(id, "text_completion", created, model);
  r["choices"] =
      Json::array({{{"index", 0}, {"text", text}, {"logprobs", nullptr}, {"finish_reason", reason(finish_reason)}}});
  return r;
}

nlohmann::json chat_response(const std::string& id, int64_t created, const std::string& model,
                             const std::string& content, const std::string& finish_reason, const Usage& usage) {
  Json r = base(id, "chat.completion", created, model);
  r["choices"] = Json::array({{{"index", 0},
                               {"message", {{"role", "assistant"}, {"content", content}}},
                               {"logprobs", nullptr},
                               {"finish_reason", finish_reason}}});
  r["usage"] = usage_json(usage);
  return r;
}

nlohmann::json chat_chunk(const std::string& id, int64_t created, const std::string& model, bool first,
                          const std::string& delta_text, const std::optional<std::string>& finish_reason) {
  Json delta = Json::object();
  if (first) delta["role"] = "assistant";
  // OpenAI's last chunk has an empty delta; the first always carries content ("").
  if (first || !delta_text.empty() || !finish_reason) delta["content"] = delta_text;
  Json r = base(id, "chat.completion.chunk", created, model);
  r["choices"] =
      Json::array({{{"index", 0}, {"delta", delta}, {"logprobs", nullptr}, {"finish_reason", reason(finish_reason)}}});
  return r;
}

nlohmann::json usage_chunk(const std::string& id, int64_t created, const std::string& model, const std::string& object,
                           const Usage& usage) {
  Json r = base(id, object, created, model);
  r["choices"] = Json::array();
  r["usage"] = usage_json(usage);
  return r;
}

std::string sse_event(const nlohmann::json& chunk) {
  // Streamed text can end inside a multi-byte character (a token boundary);
  // replace such bytes with U+FFFD rather than throw mid-stream.
  return "data: " + chunk.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n\n";
}

std::string sse_done() { return "data: [DONE]\n\n"; }

}  // namespace octet::serve
