// `octet serve MODEL`: the HTTP inference server (octet/serve.h, docs/serving.md).
// SIGTERM or SIGINT drains: /health turns 503, new requests get 503, running
// ones finish within --grace seconds, then the process exits 0.
#include <signal.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include "command.h"
#include "octet/error.h"
#include "octet/log.h"
#include "octet/serve.h"
#include "output.h"

namespace octet::cli::serve_command {
namespace {

// The signal that asked to stop (0: none yet); set by the handler, read by the waiter thread.
// An atomic, not a volatile sig_atomic_t: that is safe between a handler and its own thread
// only, and ThreadSanitizer reported the handler's write against the waiter's read as a race.
std::atomic<int> g_stop_signal{0};
static_assert(std::atomic<int>::is_always_lock_free, "the signal handler needs a lock-free atomic");

struct Options {
  ServeOptions serve;
  std::string kv_budget;  // bytes, or with a unit: 512MiB, 2GiB, 1.5GB
  std::string max_body = "1MiB";
};

// "4096", "512KiB", "512MiB", "2GiB", "1.5GB", "100MB" -> bytes.
int64_t parse_size(const std::string& text, const char* flag) {
  size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::logic_error&) {
    fail("cli", "{} '{}': expected a size such as 4096, 512MiB or 2GiB", flag, text);
  }
  std::string unit = text.substr(used);
  for (char& c : unit) c = char(std::tolower(static_cast<unsigned char>(c)));
  double scale = 0;
  if (unit.empty() || unit == "b") scale = 1;
  if (unit == "k" || unit == "kib") scale = 1024.0;
  if (unit == "m" || unit == "mib") scale = 1024.0 * 1024;
  if (unit == "g" || unit == "gib") scale = 1024.0 * 1024 * 1024;
  if (unit == "kb") scale = 1e3;
  if (unit == "mb") scale = 1e6;
  if (unit == "gb") scale = 1e9;
  check(scale > 0 && value >= 0 && value * scale < 9e18, "cli", "{} '{}': expected a size such as 4096, 512MiB or 2GiB",
        flag, text);
  return int64_t(value * scale);
}

void run(Options o) {
  if (!o.kv_budget.empty()) o.serve.kv_budget_bytes = parse_size(o.kv_budget, "--kv-budget");
  o.serve.max_body_bytes = parse_size(o.max_body, "--max-body");
  // A handler, not sigwait: OpenBLAS and the thread pool start threads before
  // this command runs, and any of them may receive the signal.
  struct sigaction action {};
  action.sa_handler = [](int sig) { g_stop_signal = sig; };
  sigemptyset(&action.sa_mask);
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
  std::signal(SIGPIPE, SIG_IGN);  // a client gone mid-write is an error return, not a kill
  Server server(o.serve);
  std::fprintf(stderr, "octet serve: listening on http://%s:%d\n", o.serve.host.c_str(), server.port());
  std::atomic<bool> done{false};
  std::thread waiter([&] {
    while (!done) {
      if (const int sig = g_stop_signal.load()) {
        log_info("serve: {} received", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        server.drain();
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  server.run();
  done = true;
  waiter.join();
  std::fprintf(stderr, "octet serve: stopped\n");
}

const CommandRegistration registration{{
    "serve",
    "HTTP server with OpenAI-compatible endpoints, continuous batching for LLMs, dynamic batching for encoders",
    [](CLI::App& sub) {
      auto o = std::make_shared<Options>();
      ServeOptions& s = o->serve;
      sub.add_option("model", s.model, "Model folder (HF or octet-quantized) or .gguf file")->required();
      sub.add_option("--host", s.host, "Address to bind (0.0.0.0: all interfaces)")->capture_default_str();
      sub.add_option("--port", s.port, "Port (0: any free port, printed at start)")->capture_default_str();
      sub.add_option("--model-name", s.model_name, "Model id reported by /v1/models (default: the folder name)");
      sub.add_option("--max-batch", s.max_batch,
                     "LLM: sequences decoded together; encoder: inputs per forward pass")->capture_default_str();
      sub.add_option("--max-queue", s.max_queue, "Waiting requests (encoder: inputs) before 429")->capture_default_str();
      sub.add_option("--ctx", s.context, "LLM: tokens per sequence (default: the model's context)");
      sub.add_option("--kv-budget", o->kv_budget,
                     "LLM: memory for all KV caches, e.g. 512MiB (default: max-batch full-context caches)");
      sub.add_option("--prefill-chunk", s.prefill_chunk, "LLM: prompt tokens per scheduler step")->capture_default_str();
      sub.add_option("--batch-wait-ms", s.batch_wait_ms, "Encoder: how long a batch waits to fill")->capture_default_str();
      sub.add_option("--pooling", s.pooling, "Embeddings: mean or cls")->capture_default_str();
      sub.add_option("--chat-template", s.chat_template,
                     "Chat format when the model has none octet recognizes: chatml, llama2, llama3, mistral, zephyr");
      sub.add_option("--api-key", s.api_key, "Require 'Authorization: Bearer KEY' (all endpoints but /health)");
      sub.add_option("--max-body", o->max_body, "Largest request body (413 above)")->capture_default_str();
      sub.add_option("--timeout", s.timeout_seconds, "Seconds a request may run before it is cancelled")
          ->capture_default_str();
      sub.add_option("--grace", s.grace_seconds, "Seconds running requests may finish after SIGTERM")
          ->capture_default_str();
      sub.add_option("--http-threads", s.http_threads, "Connection threads (default: max-batch + max-queue + 16)");
      add_common_options(sub);
      sub.callback([o] { run(*o); });
    },
}};

}  // namespace
}  // namespace octet::cli::serve_command
