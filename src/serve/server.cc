// `octet serve` (see octet/serve.h): HTTP routing, limits, streaming and
// draining around the LLM engine and the encoder batcher.
#include "octet/serve.h"

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <optional>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

#include "octet/error.h"
#include "octet/eval.h"
#include "octet/generate.h"
#include "octet/log.h"
#include "octet/model.h"
#include "octet/precision.h"
#include "octet/thread_pool.h"
#include "octet/tokenizer.h"
#include "serve/chat_template.h"
#include "serve/encoder_batcher.h"
#include "serve/llm_engine.h"
#include "serve/metrics.h"
#include "serve/openai_api.h"

namespace octet {

using json = nlohmann::json;
using serve::ApiError;
using Clock = std::chrono::steady_clock;

namespace {

const char* kJson = "application/json";

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

void send_error(httplib::Response& res, const ApiError& e) {
  res.status = e.status;
  res.set_content(serve::error_body(e).dump(), kJson);
}

// An error the client may retry (503 while loading or draining, 429 on a full queue): Retry-After: 1.
void send_retry_later(httplib::Response& res, const ApiError& e) {
  res.set_header("Retry-After", "1");
  send_error(res, e);
}

ApiError api_error(int status, std::string message, std::string type = "invalid_request_error", std::string param = "") {
  return ApiError{status, std::move(message), std::move(type), std::move(param)};
}

// The endpoints, for 405s and the metrics label (unknown paths count as "other").
struct Route {
  const char* path;
  const char* method;
};
constexpr Route kRoutes[] = {{"/v1/completions", "POST"}, {"/v1/chat/completions", "POST"},
                             {"/v1/embeddings", "POST"},  {"/v1/classify", "POST"},
                             {"/health", "GET"},          {"/v1/models", "GET"},
                             {"/metrics", "GET"}};

std::string endpoint_label(const std::string& path) {
  for (const Route& r : kRoutes)
    if (path == r.path) return path;
  return "other";
}

}  // namespace

struct Server::Impl {
  ServeOptions o;
  serve::Metrics metrics;
  std::unique_ptr<CausalLM> llm;
  std::unique_ptr<Model> encoder;
  std::optional<Tokenizer> tokenizer;
  std::optional<serve::ChatTemplate> chat;
  std::string chat_missing;  // why there is no chat template
  std::unique_ptr<serve::LlmEngine> engine;
  std::unique_ptr<serve::EncoderBatcher> batcher;
  httplib::Server http;
  std::thread listener;
  int port = 0;
  std::string model_id;
  int64_t created = unix_now();
  std::atomic<bool> ready{false}, draining{false}, stopped{false};
  bool finished = false;  // stop() is complete (guarded by stop_mu)
  std::atomic<int64_t> in_flight{0};
  std::atomic<uint64_t> next_id{1};
  std::mutex stop_mu;
  std::condition_variable stop_cv;

  void load();
  void routes();
  std::string new_id(const char* prefix) {
    return fmt::format("{}-{:x}{:06x}", prefix, uint64_t(unix_now()), next_id.fetch_add(1));
  }
  // Common checks of POST handlers; false when `res` already holds the error.
  bool admit_request(httplib::Response& res);
  std::optional<ApiError> check_token_ids(const std::vector<int64_t>& ids, const char* field) const;

  void completions(const httplib::Request& req, httplib::Response& res, bool chat_api);
  void run_llm(serve::LlmJob job, const std::string& prefix_text, bool chat_api, const serve::SamplingRequest& s,
               httplib::Response& res);
  void encoder_endpoint(const httplib::Request& req, httplib::Response& res, serve::EncoderTask task);
};

// RAII count of requests in progress (drain() waits for them).
struct InFlight {
  std::atomic<int64_t>& n;
  explicit InFlight(std::atomic<int64_t>& count) : n(count) { ++n; }
  ~InFlight() { --n; }
};

void Server::Impl::load() {
  model_id = o.model_name.empty() ? std::filesystem::path(o.model).filename().string() : o.model_name;
  if (model_id.empty()) model_id = std::filesystem::path(o.model).parent_path().filename().string();
  std::unique_ptr<Model> model = load_model(o.model);
  const ModelInfo info = model->info();
  check(!info.is_encoder_decoder, "serve", "{}: encoder-decoder models (T5, BART) are not served yet", o.model);
  tokenizer = load_model_tokenizer(o.model);
  // Encoders: fp32 weights packed once for the GEMM (octet/precision.h); same results, fewer cycles per request.
  if (!info.is_decoder) use_packed_fp32_kernels(*model);
  if (info.is_decoder) {
    llm = as_causal_lm(std::move(model), o.model);
    use_decode_kernels(*llm);
    serve::LlmEngineOptions eo;
    eo.max_batch = o.max_batch, eo.max_queue = o.max_queue, eo.context = o.context;
    eo.kv_budget_bytes = o.kv_budget_bytes, eo.prefill_chunk = o.prefill_chunk;
    engine = std::make_unique<serve::LlmEngine>(*llm, *tokenizer, eo, &metrics);
    if (!o.chat_template.empty()) {
      chat = serve::ChatTemplate::named(o.chat_template);
    } else {
      chat = serve::load_chat_template(o.model, &chat_missing);
    }
    log_info("serve: {} ({}), context {} tokens, KV cache {} bytes per token, budget {} MiB, chat template: {}",
             model_id, info.model_type, engine->context(), engine->kv_bytes_per_token(),
             engine->kv_budget_bytes() >> 20, chat ? chat->name() : "none (" + chat_missing + ")");
  } else {
    encoder = std::move(model);
    serve::EncoderBatcherOptions bo;
    bo.max_batch = o.max_batch, bo.batch_wait_ms = o.batch_wait_ms, bo.max_queue = std::max<int64_t>(o.max_queue, 1);
    bo.pooling = parse_pooling(o.pooling);
    batcher = std::make_unique<serve::EncoderBatcher>(*encoder, *tokenizer, bo, &metrics);
    log_info("serve: {} ({} encoder{}), dynamic batches of up to {} inputs, {} ms window", model_id, info.model_type,
             info.head == ModelHead::SequenceClassification ? ", classifier" : "", bo.max_batch, bo.batch_wait_ms);
  }
}

bool Server::Impl::admit_request(httplib::Response& res) {
  if (!ready || draining) {
    send_retry_later(res, api_error(503, draining ? "the server is shutting down" : "the model is still loading",
                                    "service_unavailable"));
    return false;
  }
  return true;
}

std::optional<ApiError> Server::Impl::check_token_ids(const std::vector<int64_t>& ids, const char* field) const {
  const int64_t vocab = (llm ? llm->info() : encoder->info()).vocab_size;
  for (const int64_t id : ids)
    if (id < 0 || (vocab > 0 && id >= vocab))
      return api_error(400, fmt::format("token id {} in '{}' is outside the vocabulary of {} tokens", id, field, vocab),
                   "invalid_request_error", field);
  return std::nullopt;
}

void Server::Impl::completions(const httplib::Request& req, httplib::Response& res, bool chat_api) {
  InFlight guard(in_flight);
  if (!admit_request(res)) return;
  if (!llm) return send_error(res, api_error(400, fmt::format("'{}' is an encoder: use /v1/embeddings{}", model_id,
                                                           encoder->info().head == ModelHead::SequenceClassification
                                                               ? " or /v1/classify"
                                                               : ""), "invalid_request_error", "model"));
  serve::LlmJob job;
  serve::SamplingRequest s;
  std::string prefix_text;  // echo
  if (chat_api) {
    auto parsed = serve::parse_chat_request(req.body);
    if (auto* e = std::get_if<ApiError>(&parsed)) return send_error(res, *e);
    auto& r = std::get<serve::ChatRequest>(parsed);
    if (!chat)
      return send_error(res, api_error(400, fmt::format("'{}' has no chat template octet can render ({}); use "
                                                    "/v1/completions or start the server with --chat-template",
                                                    model_id, chat_missing),
                                   "invalid_request_error", "messages"));
    std::string prompt;
    try {
      prompt = chat->render(r.messages);
    } catch (const Error& e) {
      return send_error(res, api_error(400, e.what(), "invalid_request_error", "messages"));
    }
    job.prompt = tokenizer->encode(prompt).ids;
    job.stop_strings = chat->stop_strings();
    for (const std::string& stop : chat->stop_strings()) {
      const int64_t id = tokenizer->token_to_id(stop);
      if (id >= 0) job.stop_ids.push_back(id);
    }
    s = r.sampling;
  } else {
    auto parsed = serve::parse_completion_request(req.body);
    if (auto* e = std::get_if<ApiError>(&parsed)) return send_error(res, *e);
    auto& r = std::get<serve::CompletionRequest>(parsed);
    if (const auto* text = std::get_if<std::string>(&r.prompt)) {
      job.prompt = tokenizer->encode(*text).ids;
      if (r.echo) prefix_text = *text;
    } else {
      job.prompt = std::get<std::vector<int64_t>>(r.prompt);
      if (auto e = check_token_ids(job.prompt, "prompt")) return send_error(res, *e);
      if (r.echo) prefix_text = tokenizer->decode(job.prompt);
    }
    if (job.prompt.empty() && llm->info().bos_token_id >= 0) job.prompt.push_back(llm->info().bos_token_id);
    s = r.sampling;
  }
  if (job.prompt.empty()) return send_error(res, api_error(400, "the prompt encodes to no tokens", "invalid_request_error", "prompt"));
  const int64_t ctx = engine->context(), n = int64_t(job.prompt.size());
  if (n >= ctx)
    return send_error(res, api_error(400, fmt::format("the prompt has {} tokens; the context is {} tokens (room for at "
                                                  "least one new token is needed)", n, ctx),
                                 "invalid_request_error", chat_api ? "messages" : "prompt"));
  if (s.max_tokens >= 0 && n + s.max_tokens > ctx)
    return send_error(res, api_error(400, fmt::format("the context is {} tokens, but {} were requested ({} in the prompt, "
                                                  "{} in max_tokens)", ctx, n + s.max_tokens, n, s.max_tokens),
                                 "invalid_request_error", "max_tokens"));
  job.max_tokens = s.max_tokens;
  job.ignore_eos = s.ignore_eos;
  job.stream = s.stream;
  job.sampling.temperature = s.temperature;
  job.sampling.top_k = s.top_k;
  job.sampling.top_p = s.top_p;
  job.sampling.repetition_penalty = s.repetition_penalty;
  job.sampling.seed = s.seed ? *s.seed : std::random_device{}();
  job.stop_strings.insert(job.stop_strings.end(), s.stop.begin(), s.stop.end());
  run_llm(std::move(job), prefix_text, chat_api, s, res);
}

void Server::Impl::run_llm(serve::LlmJob job, const std::string& prefix_text, bool chat_api,
                           const serve::SamplingRequest& s, httplib::Response& res) {
  auto stream = std::make_shared<serve::LlmStream>();
  const auto admission = engine->submit(std::move(job), stream);
  if (admission == serve::LlmEngine::Admission::QueueFull) {
    return send_retry_later(
        res, api_error(429, fmt::format("the queue is full ({} requests waiting); retry later", o.max_queue),
                       "rate_limit_exceeded"));
  }
  if (admission == serve::LlmEngine::Admission::TooLarge)
    return send_error(res, api_error(400, fmt::format("the request needs more KV cache than the server's whole budget of "
                                                  "{} bytes; lower max_tokens", engine->kv_budget_bytes()),
                                 "invalid_request_error", "max_tokens"));
  const std::string id = new_id(chat_api ? "chatcmpl" : "cmpl");
  const int64_t created_at = unix_now();
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(o.timeout_seconds));
  if (!s.stream) {
    std::string text = prefix_text;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      std::optional<serve::LlmEvent> e = left.count() > 0 ? stream->next(left) : std::nullopt;
      if (!e) {
        stream->cancel();
        return send_error(res, api_error(408, fmt::format("the request did not finish within {} s", o.timeout_seconds),
                                     "timeout"));
      }
      text += e->text;
      if (!e->final) continue;
      if (e->finish_reason == "error") return send_error(res, api_error(500, e->error, "server_error"));
      if (e->finish_reason == "cancelled")
        return send_error(res, api_error(503, "the server is shutting down", "service_unavailable"));
      const serve::Usage usage{e->prompt_tokens, e->completion_tokens};
      const json body = chat_api ? serve::chat_response(id, created_at, model_id, text, e->finish_reason, usage)
                                 : serve::completion_response(id, created_at, model_id, text, e->finish_reason, usage);
      res.set_content(body.dump(), kJson);
      return;
    }
  }
  // Streaming: server-sent events until the final event. The provider runs on
  // this connection's thread; a failed write means the client left: cancel.
  ++in_flight;  // held until the stream's releaser runs
  struct State {
    bool first = true, done = false;
    std::string echo;
  };
  auto state = std::make_shared<State>();
  state->echo = prefix_text;
  const std::string model = model_id;
  const bool usage_wanted = s.include_usage;
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream",
      [this, stream, state, id, created_at, model, chat_api, usage_wanted, deadline](size_t, httplib::DataSink& sink) {
        if (state->done) return false;
        auto write = [&](const std::string& data) {
          if (!sink.write(data.data(), data.size())) {
            stream->cancel();
            return false;
          }
          return true;
        };
        if (Clock::now() > deadline) {
          stream->cancel();
          ApiError e = api_error(408, fmt::format("the request did not finish within {} s", o.timeout_seconds), "timeout");
          write(serve::sse_event(serve::error_body(e)));
          state->done = true;
          sink.done();
          return true;
        }
        std::vector<serve::LlmEvent> events = stream->next_all(std::chrono::milliseconds(200));
        if (events.empty()) return sink.is_writable() ? true : (stream->cancel(), false);
        // Every queued event in one write: fewer syscalls when tokens come faster than the client reads.
        std::string out;
        for (serve::LlmEvent& e : events) {
          std::string text = std::move(e.text);
          if (state->first && !state->echo.empty()) text = state->echo + text, state->echo.clear();
          if (!e.final) {
            if (text.empty()) continue;
            const json chunk = chat_api ? serve::chat_chunk(id, created_at, model, state->first, text, std::nullopt)
                                        : serve::completion_chunk(id, created_at, model, text, std::nullopt);
            state->first = false;
            out += serve::sse_event(chunk);
            continue;
          }
          if (e.finish_reason == "error" || e.finish_reason == "cancelled") {
            const ApiError err = e.finish_reason == "error" ? api_error(500, e.error, "server_error")
                                                            : api_error(503, "the server is shutting down", "service_unavailable");
            out += serve::sse_event(serve::error_body(err));
          } else {
            const json chunk = chat_api ? serve::chat_chunk(id, created_at, model, state->first, text, e.finish_reason)
                                        : serve::completion_chunk(id, created_at, model, text, e.finish_reason);
            out += serve::sse_event(chunk);
            if (usage_wanted) {
              const serve::Usage usage{e.prompt_tokens, e.completion_tokens};
              out += serve::sse_event(serve::usage_chunk(id, created_at, model,
                                                         chat_api ? "chat.completion.chunk" : "text_completion", usage));
            }
            out += serve::sse_done();
          }
          state->done = true;
          break;
        }
        if (!out.empty() && !write(out)) return false;
        if (state->done) sink.done();
        return true;
      },
      [this, stream](bool) {
        stream->cancel();  // no-op when finished; frees the sequence when the client left early
        --in_flight;
      });
}

void Server::Impl::encoder_endpoint(const httplib::Request& req, httplib::Response& res, serve::EncoderTask task) {
  InFlight guard(in_flight);
  if (!admit_request(res)) return;
  const bool classify = task == serve::EncoderTask::Classify;
  if (!encoder)
    return send_error(res, api_error(400, fmt::format("'{}' is a decoder LLM: use /v1/completions", model_id),
                                 "invalid_request_error", "model"));
  if (classify && encoder->info().head != ModelHead::SequenceClassification)
    return send_error(res, api_error(400, fmt::format("'{}' has no sequence-classification head: use /v1/embeddings", model_id),
                                 "invalid_request_error", "model"));
  std::vector<serve::EncoderInput> inputs;
  if (classify) {
    auto parsed = serve::parse_classify_request(req.body);
    if (auto* e = std::get_if<ApiError>(&parsed)) return send_error(res, *e);
    for (auto& t : std::get<serve::ClassifyRequest>(parsed).inputs) inputs.emplace_back(std::move(t));
  } else {
    auto parsed = serve::parse_embedding_request(req.body);
    if (auto* e = std::get_if<ApiError>(&parsed)) return send_error(res, *e);
    for (auto& in : std::get<serve::EmbeddingRequest>(parsed).inputs) {
      if (const auto* ids = std::get_if<std::vector<int64_t>>(&in))
        if (auto e = check_token_ids(*ids, "input")) return send_error(res, *e);
      inputs.push_back(std::move(in));
    }
  }
  const size_t count = inputs.size();
  std::future<serve::EncoderReply> f = batcher->submit(task, std::move(inputs));
  if (!f.valid()) {
    return send_retry_later(res, api_error(429, "the queue is full; retry later", "rate_limit_exceeded"));
  }
  if (f.wait_for(std::chrono::duration<double>(o.timeout_seconds)) != std::future_status::ready)
    return send_error(res, api_error(408, fmt::format("the request did not finish within {} s", o.timeout_seconds), "timeout"));
  const serve::EncoderReply reply = f.get();
  if (!reply.error.empty()) return send_error(res, api_error(500, reply.error, "server_error"));
  json data = json::array();
  const std::vector<std::string>& labels = encoder->info().labels;
  for (size_t i = 0; i < count; ++i) {
    const std::vector<float>& row = reply.rows[i];
    if (classify) {
      size_t best = 0;
      json probs = json::object();
      for (size_t c = 0; c < row.size(); ++c) {
        if (row[c] > row[best]) best = c;
        probs[c < labels.size() ? labels[c] : fmt::format("LABEL_{}", c)] = row[c];
      }
      data.push_back({{"index", i}, {"label", best < labels.size() ? labels[best] : fmt::format("LABEL_{}", best)},
                      {"label_id", best}, {"probabilities", probs}});
    } else {
      data.push_back({{"object", "embedding"}, {"index", i}, {"embedding", row}});
    }
  }
  json body = {{"object", classify ? "classification" : "list"}, {"model", model_id}, {"data", data},
               {"usage", {{"prompt_tokens", reply.tokens}, {"total_tokens", reply.tokens}}}};
  if (classify) body["id"] = new_id("classify");
  res.set_content(body.dump(), kJson);
}

void Server::Impl::routes() {
  http.Post("/v1/completions", [this](const httplib::Request& q, httplib::Response& r) { completions(q, r, false); });
  http.Post("/v1/chat/completions", [this](const httplib::Request& q, httplib::Response& r) { completions(q, r, true); });
  http.Post("/v1/embeddings", [this](const httplib::Request& q, httplib::Response& r) {
    encoder_endpoint(q, r, serve::EncoderTask::Embed);
  });
  http.Post("/v1/classify", [this](const httplib::Request& q, httplib::Response& r) {
    encoder_endpoint(q, r, serve::EncoderTask::Classify);
  });
  http.Get("/health", [this](const httplib::Request&, httplib::Response& r) {
    const char* status = draining ? "draining" : ready ? "ok" : "loading";
    r.status = ready && !draining ? 200 : 503;
    r.set_content(json{{"status", status}}.dump(), kJson);
  });
  http.Get("/v1/models", [this](const httplib::Request&, httplib::Response& r) {
    // load() sets model_id and the model while the listener already answers: read them only once `ready`
    // (an atomic store after load()) says they are complete.
    if (!ready) return send_retry_later(r, api_error(503, "the model is still loading", "service_unavailable"));
    json m = {{"id", model_id}, {"object", "model"}, {"created", created}, {"owned_by", "octet"}};
    if (llm) m["context_length"] = engine->context();
    json body = {{"object", "list"}, {"data", json::array({m})}};
    r.set_content(body.dump(), kJson);
  });
  http.Get("/metrics", [this](const httplib::Request&, httplib::Response& r) {
    r.set_content(metrics.render(), "text/plain; version=0.0.4");
  });
  // A known path with another method: 405 with the method it takes.
  for (const Route& route : kRoutes) {
    const std::string allow = route.method;
    auto wrong = [allow](const httplib::Request& q, httplib::Response& r) {
      r.set_header("Allow", allow);
      send_error(r, api_error(405, fmt::format("{} {} is not allowed; use {}", q.method, q.path, allow)));
    };
    if (allow != "GET") http.Get(route.path, wrong);
    if (allow != "POST") http.Post(route.path, wrong);
    http.Put(route.path, wrong);
    http.Delete(route.path, wrong);
    http.Patch(route.path, wrong);
  }
  // Authentication before routing (the probe endpoint stays open).
  http.set_pre_routing_handler([this](const httplib::Request& q, httplib::Response& r) {
    if (o.api_key.empty() || q.path == "/health") return httplib::Server::HandlerResponse::Unhandled;
    if (q.get_header_value("Authorization") == "Bearer " + o.api_key) return httplib::Server::HandlerResponse::Unhandled;
    r.set_header("WWW-Authenticate", "Bearer");
    send_error(r, api_error(401, q.has_header("Authorization") ? "invalid API key" : "missing API key (Authorization: Bearer KEY)",
                        "authentication_error"));
    return httplib::Server::HandlerResponse::Handled;
  });
  // Statuses httplib sets itself (404 unknown path, 413 body too large, 400 bad request line) get JSON bodies too.
  http.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& q, httplib::Response& r) {
    if (!r.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    std::string message = r.status == 404   ? fmt::format("no endpoint {} {}", q.method, q.path)
                          : r.status == 413 ? std::string("the request body is too large")
                                            : fmt::format("HTTP {}", r.status);
    r.set_content(serve::error_body(api_error(r.status, message)).dump(), kJson);
    return httplib::Server::HandlerResponse::Handled;
  }));
  http.set_exception_handler([](const httplib::Request&, httplib::Response& r, std::exception_ptr ep) {
    std::string what = "internal error";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    log_warn("serve: handler failed: {}", what);
    send_error(r, api_error(500, what, "server_error"));
  });
  http.set_logger([this](const httplib::Request& q, const httplib::Response& r) {
    metrics.count_request(endpoint_label(q.path), r.status);
  });
}

Server::Server(ServeOptions options) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.o = std::move(options);
  const ServeOptions& o = m.o;
  check(o.port >= 0 && o.port <= 65535, "serve", "--port must be in [0, 65535], got {}", o.port);
  check(o.max_body_bytes > 0, "serve", "--max-body must be > 0");
  check(o.timeout_seconds > 0, "serve", "--timeout must be > 0");
  check(o.grace_seconds >= 0, "serve", "--grace must be >= 0");
  parse_pooling(o.pooling);
  if (!o.chat_template.empty()) serve::ChatTemplate::named(o.chat_template);
  if (o.threads > 0) set_num_threads(o.threads);
  m.routes();
  const int http_threads = o.http_threads > 0 ? o.http_threads : int(o.max_batch + o.max_queue + 16);
  m.http.new_task_queue = [http_threads] { return new httplib::ThreadPool(size_t(http_threads)); };
  m.http.set_payload_max_length(size_t(o.max_body_bytes));
  m.http.set_read_timeout(30, 0);
  m.http.set_write_timeout(30, 0);
  m.http.set_keep_alive_max_count(1000);
  m.http.set_keep_alive_timeout(2);
  // Headers and body go out in separate writes: with Nagle's algorithm the
  // body waits for the client's delayed ACK (40 ms per response on Linux).
  m.http.set_tcp_nodelay(true);
  m.port = o.port == 0 ? m.http.bind_to_any_port(o.host) : (m.http.bind_to_port(o.host, o.port) ? o.port : -1);
  check(m.port > 0, "serve", "cannot listen on {}:{} (in use, or not an address of this machine)", o.host, o.port);
  // Listening starts before the model loads, so /health answers 503 meanwhile.
  m.listener = std::thread([&m] { m.http.listen_after_bind(); });
  // httplib's stop() is a no-op until the listener runs: wait for it, so a
  // failed load (or an early stop()) cannot leave the listener running forever.
  for (int i = 0; i < 5000 && !m.http.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  try {
    m.load();
  } catch (...) {
    m.http.stop();
    m.listener.join();
    throw;
  }
  m.ready = true;
}

Server::~Server() { stop(); }

int Server::port() const { return impl_->port; }

void Server::run() {
  std::unique_lock<std::mutex> lock(impl_->stop_mu);
  impl_->stop_cv.wait(lock, [&] { return impl_->finished; });
}

void Server::drain() {
  Impl& m = *impl_;
  if (m.draining.exchange(true)) return;
  log_info("serve: draining ({} requests in progress, up to {} s)", m.in_flight.load(), m.o.grace_seconds);
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(m.o.grace_seconds));
  while (m.in_flight > 0 && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  if (m.in_flight > 0) log_warn("serve: {} requests still running after {} s; cancelling them", m.in_flight.load(), m.o.grace_seconds);
  stop();
}

void Server::stop() {
  Impl& m = *impl_;
  if (m.stopped.exchange(true)) {
    // Another thread is stopping: return once it is done.
    std::unique_lock<std::mutex> lock(m.stop_mu);
    m.stop_cv.wait(lock, [&] { return m.finished; });
    return;
  }
  if (m.engine) m.engine->stop();
  if (m.batcher) m.batcher->stop();
  m.http.stop();
  if (m.listener.joinable()) m.listener.join();
  {
    std::lock_guard<std::mutex> lock(m.stop_mu);
    m.finished = true;
  }
  m.stop_cv.notify_all();
}

}  // namespace octet
