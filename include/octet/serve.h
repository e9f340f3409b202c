// `octet serve`: an HTTP inference server with OpenAI-compatible endpoints.
//
//   octet::ServeOptions o;
//   o.model = "models/kjv-llama";
//   octet::Server server(o);      // loads the model, binds the port
//   server.run();                 // serves until drain() or stop()
//
// Decoder LLMs: POST /v1/completions and /v1/chat/completions (when the
// model has a chat template octet can render), continuous batching across
// requests. Encoders: POST /v1/embeddings and, for sequence classifiers,
// /v1/classify, with dynamic batching. Always: GET /health, /v1/models,
// /metrics (Prometheus). Errors are OpenAI's JSON error bodies with the
// status codes docs/serving.md lists. See docs/serving.md.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace octet {

struct ServeOptions {
  std::string model;                 // HF folder, octet-quantized folder, GGUF file
  std::string model_name;            // the id /v1/models reports (default: the path's last component)
  std::string host = "127.0.0.1";
  int port = 8080;                   // 0: an ephemeral port (see Server::port())
  int threads = 0;                   // compute threads (0: all cores)
  int http_threads = 0;              // connection threads (0: max_batch + max_queue + 16)
  int64_t max_batch = 16;            // LLM: sequences per decode step; encoder: inputs per forward
  int64_t max_queue = 64;            // waiting requests (encoder: inputs) before 429
  int64_t context = 0;               // LLM tokens per sequence (0: the model's context)
  int64_t kv_budget_bytes = 0;       // all KV caches (0: max_batch full-context caches)
  int64_t prefill_chunk = 256;       // LLM prompt tokens per scheduler step
  int64_t batch_wait_ms = 5;         // encoder dynamic batching window
  std::string pooling = "mean";      // embeddings: mean | cls
  std::string chat_template;         // override: a ChatTemplate name (default: the model's own)
  std::string api_key;               // when set: "Authorization: Bearer KEY" required (not for /health)
  int64_t max_body_bytes = 1 << 20;  // larger bodies: 413
  double timeout_seconds = 600;      // a request running longer is cancelled (408 / stream error)
  double grace_seconds = 30;         // drain(): how long running requests may finish
};

class Server {
 public:
  // Loads the model and tokenizer and binds host:port. Throws octet::Error
  // for a model or option it cannot serve, or a port it cannot bind.
  explicit Server(ServeOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  int port() const;  // the bound port
  // Serves on the calling thread until stop() or a finished drain().
  void run();
  // Stops accepting (503 + /health 503), lets running requests finish for up
  // to grace_seconds, then makes run() return. Safe from any thread, once.
  void drain();
  // Stops at once: running requests end as cancelled; run() returns.
  void stop();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace octet
