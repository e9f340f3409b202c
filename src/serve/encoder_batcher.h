// Dynamic batching for encoders (POST /v1/classify, /v1/embeddings): inputs
// from concurrent requests are collected for up to batch_wait_ms or until
// max_batch inputs wait, tokenized, right-padded into one batch, run once,
// and answered per request. Padding is masked, so each input's result is
// what it gets alone up to floating-point summation order.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "octet/eval.h"
#include "octet/model.h"
#include "octet/tokenizer.h"
#include "serve/metrics.h"

namespace octet::serve {

struct EncoderBatcherOptions {
  int64_t max_batch = 32;      // inputs per forward pass
  int64_t batch_wait_ms = 5;   // how long the first input of a batch waits for company
  int64_t max_queue = 1024;    // waiting inputs before 429
  int64_t max_length = 0;      // tokens per input, truncated (0: the model's positions)
  Pooling pooling = Pooling::Mean;
};

enum class EncoderTask { Classify, Embed };

using EncoderInput = std::variant<std::string, std::vector<int64_t>>;

struct EncoderReply {
  std::vector<std::vector<float>> rows;  // per input: class probabilities (Classify) or the embedding (Embed)
  int64_t tokens = 0;                    // tokens of all inputs after truncation
  std::string error;                     // non-empty: the batch failed (500)
};

class EncoderBatcher {
 public:
  // `model` and `tokenizer` must outlive the batcher.
  EncoderBatcher(const Model& model, const Tokenizer& tokenizer, EncoderBatcherOptions options, Metrics* metrics);
  ~EncoderBatcher();

  // nullopt-like: an invalid future when the queue is full (answer 429).
  // Classify needs a sequence-classification head (checked by the caller).
  std::future<EncoderReply> submit(EncoderTask task, std::vector<EncoderInput> inputs);
  int64_t waiting() const;
  void stop();

 private:
  struct Job;
  void loop();
  void run_batch(std::vector<std::shared_ptr<Job>>& jobs);

  const Model& model_;
  const Tokenizer& tokenizer_;
  EncoderBatcherOptions options_;
  Metrics* metrics_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Job>> queue_;
  int64_t queued_inputs_ = 0;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace octet::serve
