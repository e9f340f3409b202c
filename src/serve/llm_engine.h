// Continuous batching for a causal LM (the scheduler behind `octet serve`).
//
// One engine thread owns the model. Each iteration it
//   1. admits waiting requests while fewer than max_batch run and their KV
//      caches fit the budget (each request gets its own cache of batch 1,
//      sized prompt + max_tokens, freed when it finishes);
//   2. prefills one chunk (prefill_chunk tokens) of the oldest request still
//      prefilling, so a long prompt delays running streams by one chunk per
//      step, not by its whole length;
//   3. runs one decode step for every running sequence together
//      (CausalLM::decode_ragged: one product of M = running sequences per
//      Linear), samples each row and streams the new text.
// Chunk boundaries depend only on the request's own prompt and each row of a
// decode step equals that sequence's single step bit for bit, so a request's
// greedy output is the same alone or batched.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "octet/generate.h"
#include "octet/tokenizer.h"
#include "serve/metrics.h"

namespace octet::serve {

struct LlmEngineOptions {
  int64_t max_batch = 16;        // sequences decoded together
  int64_t max_queue = 64;        // waiting requests before 429
  int64_t context = 0;           // per sequence (0: the model's context length)
  int64_t kv_budget_bytes = 0;   // all KV caches together (0: max_batch full-context caches)
  int64_t prefill_chunk = 256;   // prompt tokens per prefill step
};

// What a request asks for (already validated and tokenized).
struct LlmJob {
  std::vector<int64_t> prompt;  // non-empty
  int64_t max_tokens = 16;      // new tokens; -1: up to the context
  SamplingOptions sampling;
  std::vector<std::string> stop_strings;
  std::vector<int64_t> stop_ids;  // besides the model's EOS (e.g. a chat format's end-of-turn token)
  bool ignore_eos = false;        // the model's EOS is generated like any token (benchmarks)
  // false: no text events, the whole text arrives with the final event (and
  // without stop strings the text is decoded once, at the end).
  bool stream = true;
};

// Events one request receives, in order: zero or more text deltas, then one final event.
struct LlmEvent {
  std::string text;             // new text (may be empty); a non-streamed job's final event: all of it
  bool final = false;
  std::string finish_reason;    // final: "stop" | "length" | "cancelled" | "error"
  std::string error;            // finish_reason "error": what failed
  int64_t prompt_tokens = 0, completion_tokens = 0;  // final
};

// A request's mailbox: the engine pushes, the HTTP handler pops. Cancelling
// (client gone, timeout) makes the engine drop the sequence at its next step.
class LlmStream {
 public:
  // Waits up to `timeout` for the next event; nullopt on timeout.
  std::optional<LlmEvent> next(std::chrono::milliseconds timeout);
  // Waits up to `timeout` for events and takes all that are queued (empty on timeout).
  std::vector<LlmEvent> next_all(std::chrono::milliseconds timeout);
  void cancel() { cancelled_ = true; }
  bool cancelled() const { return cancelled_; }
  void push(LlmEvent event);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<LlmEvent> events_;
  std::atomic<bool> cancelled_{false};
};

class LlmEngine {
 public:
  // `model` and `tokenizer` must outlive the engine. Throws Error("serve") for bad options.
  LlmEngine(const CausalLM& model, const Tokenizer& tokenizer, LlmEngineOptions options, Metrics* metrics);
  ~LlmEngine();

  enum class Admission { Accepted, QueueFull, TooLarge };
  // Queues a job; its events arrive on `stream`. QueueFull: max_queue waiting
  // (answer 429); TooLarge: its cache alone exceeds the KV budget (400).
  Admission submit(LlmJob job, std::shared_ptr<LlmStream> stream);

  int64_t context() const { return context_; }
  int64_t kv_bytes_per_token() const { return kv_bytes_per_token_; }
  int64_t kv_budget_bytes() const { return options_.kv_budget_bytes; }
  // KV bytes a job's cache takes (capacity prompt + max_tokens, at most the context).
  int64_t kv_bytes_for(const LlmJob& job) const;
  int64_t waiting() const;
  int64_t running() const;
  // Stops the engine thread; unfinished requests end with finish_reason "cancelled".
  void stop();

 private:
  struct Sequence;
  void loop();
  void admit();
  void prefill_one();
  void decode_all();
  // Samples the next token from `logits` for `s`, streams its text, and
  // returns false when the sequence is finished (its final event sent).
  bool advance(Sequence& s, std::span<float> logits);
  void finish(Sequence& s, const std::string& reason, const std::string& error = {});
  void update_gauges();

  const CausalLM& model_;
  const Tokenizer& tokenizer_;
  LlmEngineOptions options_;
  Metrics* metrics_;
  int64_t context_ = 0, kv_bytes_per_token_ = 0, kv_in_use_ = 0;
  int64_t eos_ = -1;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Sequence>> waiting_;
  bool stopping_ = false;
  // Owned by the engine thread.
  std::vector<std::unique_ptr<Sequence>> prefilling_, running_;
  std::atomic<int64_t> running_count_{0};
  std::thread thread_;
};

}  // namespace octet::serve
