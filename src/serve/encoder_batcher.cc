// Dynamic batching for encoders (see encoder_batcher.h).
#include "serve/encoder_batcher.h"

#include <algorithm>
#include <chrono>
#include <exception>

#include "octet/error.h"
#include "octet/log.h"

namespace octet::serve {

using Clock = std::chrono::steady_clock;

struct EncoderBatcher::Job {
  EncoderTask task;
  std::vector<EncoderInput> inputs;
  std::promise<EncoderReply> promise;
  Clock::time_point arrived;
};

EncoderBatcher::EncoderBatcher(const Model& model, const Tokenizer& tokenizer, EncoderBatcherOptions options,
                               Metrics* metrics)
    : model_(model), tokenizer_(tokenizer), options_(options), metrics_(metrics) {
  check(options_.max_batch >= 1, "serve", "--max-batch must be >= 1, got {}", options_.max_batch);
  check(options_.batch_wait_ms >= 0, "serve", "--batch-wait-ms must be >= 0, got {}", options_.batch_wait_ms);
  if (options_.max_length <= 0) options_.max_length = model_.info().max_positions;
  if (options_.max_length <= 0) options_.max_length = 512;
  thread_ = std::thread([this] { loop(); });
}

EncoderBatcher::~EncoderBatcher() { stop(); }

void EncoderBatcher::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

int64_t EncoderBatcher::waiting() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queued_inputs_;
}

std::future<EncoderReply> EncoderBatcher::submit(EncoderTask task, std::vector<EncoderInput> inputs) {
  auto job = std::make_shared<Job>();
  job->task = task;
  job->inputs = std::move(inputs);
  job->arrived = Clock::now();
  std::future<EncoderReply> f = job->promise.get_future();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ || queued_inputs_ + int64_t(job->inputs.size()) > options_.max_queue) return {};
    queued_inputs_ += int64_t(job->inputs.size());
    queue_.push_back(std::move(job));
  }
  cv_.notify_all();
  return f;
}

void EncoderBatcher::loop() {
  for (;;) {
    std::vector<std::shared_ptr<Job>> batch;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_ && queue_.empty()) return;
      // Wait for company until the oldest input has waited batch_wait_ms or max_batch inputs are here.
      const auto deadline = queue_.front()->arrived + std::chrono::milliseconds(options_.batch_wait_ms);
      cv_.wait_until(lock, deadline, [&] { return stopping_ || queued_inputs_ >= options_.max_batch; });
      // Whole requests, up to max_batch inputs (a larger request runs alone, in slices).
      int64_t inputs = 0;
      while (!queue_.empty()) {
        const int64_t n = int64_t(queue_.front()->inputs.size());
        if (!batch.empty() && inputs + n > options_.max_batch) break;
        inputs += n;
        queued_inputs_ -= n;
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    run_batch(batch);
  }
}

void EncoderBatcher::run_batch(std::vector<std::shared_ptr<Job>>& jobs) {
  std::vector<Encoding> encodings;
  std::vector<std::pair<size_t, size_t>> owner;  // (job, input) per encoding
  std::vector<EncoderReply> replies(jobs.size());
  EncodeOptions eo;
  eo.max_length = options_.max_length;
  eo.truncation = Truncation::LongestFirst;
  for (size_t j = 0; j < jobs.size(); ++j) {
    for (size_t i = 0; i < jobs[j]->inputs.size(); ++i) {
      Encoding e;
      if (const auto* text = std::get_if<std::string>(&jobs[j]->inputs[i])) {
        e = tokenizer_.encode(*text, eo);
      } else {
        e.ids = std::get<std::vector<int64_t>>(jobs[j]->inputs[i]);
        if (int64_t(e.ids.size()) > options_.max_length) e.ids.resize(size_t(options_.max_length));
      }
      if (e.ids.empty()) e.ids.push_back(tokenizer_.special_ids().unk.value_or(0));
      replies[j].tokens += int64_t(e.ids.size());
      encodings.push_back(std::move(e));
      owner.emplace_back(j, i);
      replies[j].rows.emplace_back();
    }
  }
  const int64_t pad = padding_token_id(model_, tokenizer_);
  const int64_t vocab = model_.info().vocab_size;
  // Slices of max_batch inputs (only a single request larger than max_batch needs more than one).
  std::string error;
  for (size_t begin = 0; begin < encodings.size() && error.empty(); begin += size_t(options_.max_batch)) {
    const size_t end = std::min(encodings.size(), begin + size_t(options_.max_batch));
    std::vector<const Encoding*> rows;
    for (size_t r = begin; r < end; ++r) rows.push_back(&encodings[r]);
    const ModelInputs in = pad_encodings(rows, pad);
    try {
      for (size_t r = begin; r < end; ++r)
        for (const int64_t id : encodings[r].ids)
          check(id >= 0 && (vocab <= 0 || id < vocab), "serve", "token id {} is outside the vocabulary of {}", id,
                vocab);
      const NamedTensors out = model_.forward(in);
      if (metrics_) metrics_->observe_batch_size(int64_t(rows.size()));
      // A slice may mix classify and embed jobs: probabilities and pooled states
      // are each computed once, when some row needs them.
      Tensor probs, pooled;
      for (size_t r = begin; r < end; ++r) {
        const auto [j, i] = owner[r];
        std::vector<float>& row = replies[j].rows[i];
        if (jobs[j]->task == EncoderTask::Classify) {
          if (!probs.defined()) probs = softmax_rows(out.at("logits"));
          const int64_t c = probs.dim(1);
          row.assign(probs.data<float>() + int64_t(r - begin) * c, probs.data<float>() + int64_t(r - begin + 1) * c);
        } else {
          if (!pooled.defined()) pooled = pool_embeddings(out.at("last_hidden_state"), in.attention_mask, options_.pooling);
          const int64_t h = pooled.dim(1);
          row.assign(pooled.data<float>() + int64_t(r - begin) * h, pooled.data<float>() + int64_t(r - begin + 1) * h);
        }
      }
    } catch (const std::exception& e) {
      log_warn("serve: encoder batch failed: {}", e.what());
      error = e.what();
    }
  }
  for (size_t j = 0; j < jobs.size(); ++j) {
    if (!error.empty()) replies[j] = EncoderReply{.rows = {}, .tokens = 0, .error = error};
    if (metrics_) {
      metrics_->add_prompt_tokens(replies[j].tokens);
      metrics_->observe_request_latency(std::chrono::duration<double>(Clock::now() - jobs[j]->arrived).count());
    }
    jobs[j]->promise.set_value(std::move(replies[j]));
  }
}

}  // namespace octet::serve
