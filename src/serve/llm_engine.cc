// Continuous batching (see llm_engine.h).
#include "serve/llm_engine.h"

#include <algorithm>
#include <exception>

#include "octet/error.h"
#include "octet/log.h"
#include "serve/text_stream.h"

namespace octet::serve {

using Clock = std::chrono::steady_clock;

namespace {
LlmEvent text_event(std::string text) {
  LlmEvent e;
  e.text = std::move(text);
  return e;
}
LlmEvent final_event(std::string reason) {
  LlmEvent e;
  e.final = true;
  e.finish_reason = std::move(reason);
  return e;
}
}  // namespace


// ---- LlmStream -----------------------------------------------------------------------

void LlmStream::push(LlmEvent event) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(std::move(event));
  }
  cv_.notify_all();
}

std::optional<LlmEvent> LlmStream::next(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!cv_.wait_for(lock, timeout, [&] { return !events_.empty(); })) return std::nullopt;
  LlmEvent e = std::move(events_.front());
  events_.pop_front();
  return e;
}

std::vector<LlmEvent> LlmStream::next_all(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  std::vector<LlmEvent> out;
  if (!cv_.wait_for(lock, timeout, [&] { return !events_.empty(); })) return out;
  out.assign(std::make_move_iterator(events_.begin()), std::make_move_iterator(events_.end()));
  events_.clear();
  return out;
}

// ---- the engine ------------------------------------------------------------------------

struct LlmEngine::Sequence {
  LlmJob job;
  std::shared_ptr<LlmStream> stream;
  KVCache cache;
  int64_t capacity = 0, kv_bytes = 0;
  int64_t prefilled = 0;            // prompt tokens in the cache
  std::vector<int64_t> history;     // prompt + generated (the sampler's penalty window)
  int64_t generated = 0;
  int64_t next_token = -1;          // chosen, not yet in the cache
  std::optional<Sampler> sampler;
  std::optional<TextStream> text;
  Clock::time_point arrived, last_token;
};

LlmEngine::LlmEngine(const CausalLM& model, const Tokenizer& tokenizer, LlmEngineOptions options, Metrics* metrics)
    : model_(model), tokenizer_(tokenizer), options_(options), metrics_(metrics) {
  check(options_.max_batch >= 1 && options_.max_batch <= 256, "serve", "--max-batch must be in [1, 256], got {}",
        options_.max_batch);
  check(options_.max_queue >= 0, "serve", "--max-queue must be >= 0, got {}", options_.max_queue);
  check(options_.prefill_chunk >= 1, "serve", "the prefill chunk must be >= 1 token, got {}", options_.prefill_chunk);
  const int64_t model_ctx = model_.context_length();
  context_ = options_.context > 0 ? options_.context : model_ctx;
  check(context_ > 0, "serve", "the model states no context length; give --ctx");
  check(model_ctx <= 0 || context_ <= model_ctx, "serve", "--ctx {} exceeds the model's context of {} tokens",
        context_, model_ctx);
  // Bytes per cached token, from a one-token cache (f32 or quantized codes + scales).
  kv_bytes_per_token_ = int64_t(model_.make_cache(1, 1).bytes());
  const int64_t full = kv_bytes_per_token_ * context_ * options_.max_batch;
  if (options_.kv_budget_bytes <= 0) options_.kv_budget_bytes = full;
  check(options_.kv_budget_bytes >= kv_bytes_per_token_ * 2, "serve",
        "--kv-budget {} bytes is below two tokens of KV cache ({} bytes each)", options_.kv_budget_bytes,
        kv_bytes_per_token_);
  eos_ = model_.info().eos_token_id;
  thread_ = std::thread([this] { loop(); });
}

LlmEngine::~LlmEngine() { stop(); }

void LlmEngine::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

int64_t LlmEngine::kv_bytes_for(const LlmJob& job) const {
  const int64_t want = job.max_tokens < 0 ? context_ : int64_t(job.prompt.size()) + std::max<int64_t>(job.max_tokens, 1);
  return kv_bytes_per_token_ * std::min(want, context_);
}

int64_t LlmEngine::waiting() const {
  std::lock_guard<std::mutex> lock(mu_);
  return int64_t(waiting_.size());
}

int64_t LlmEngine::running() const { return running_count_.load(); }

LlmEngine::Admission LlmEngine::submit(LlmJob job, std::shared_ptr<LlmStream> stream) {
  check(!job.prompt.empty(), "serve", "empty prompt");
  check(int64_t(job.prompt.size()) < context_, "serve", "prompt of {} tokens does not fit the context of {}",
        job.prompt.size(), context_);
  auto s = std::make_unique<Sequence>();
  s->kv_bytes = kv_bytes_for(job);
  if (s->kv_bytes > options_.kv_budget_bytes) return Admission::TooLarge;
  s->capacity = s->kv_bytes / kv_bytes_per_token_;
  s->job = std::move(job);
  s->stream = std::move(stream);
  s->arrived = Clock::now();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ || int64_t(waiting_.size()) >= options_.max_queue) return Admission::QueueFull;
    waiting_.push_back(std::move(s));
    if (metrics_) metrics_->set_queue_length(int64_t(waiting_.size()));
  }
  cv_.notify_all();
  return Admission::Accepted;
}

void LlmEngine::update_gauges() {
  running_count_ = int64_t(prefilling_.size() + running_.size());
  if (!metrics_) return;
  metrics_->set_active_sequences(running_count_);
  metrics_->set_kv_cache_bytes(kv_in_use_);
  std::lock_guard<std::mutex> lock(mu_);
  metrics_->set_queue_length(int64_t(waiting_.size()));
}

void LlmEngine::admit() {
  std::lock_guard<std::mutex> lock(mu_);
  // First come, first served: a request that does not fit yet blocks those behind it
  // (so a large one is not starved by a stream of small ones).
  while (!waiting_.empty() && int64_t(prefilling_.size() + running_.size()) < options_.max_batch) {
    Sequence& s = *waiting_.front();
    if (s.stream->cancelled()) {
      s.stream->push(final_event("cancelled"));
      waiting_.pop_front();
      continue;
    }
    if (kv_in_use_ + s.kv_bytes > options_.kv_budget_bytes) break;
    kv_in_use_ += s.kv_bytes;
    prefilling_.push_back(std::move(waiting_.front()));
    waiting_.pop_front();
  }
}

void LlmEngine::finish(Sequence& s, const std::string& reason, const std::string& error) {
  LlmEvent e;
  if (s.text && reason != "error" && reason != "cancelled") {
    e.text = s.text->finish();
    if (!s.job.stream) e.text = s.text->text();  // everything, nothing was streamed
  }
  e.final = true;
  e.finish_reason = reason;
  e.error = error;
  e.prompt_tokens = int64_t(s.job.prompt.size());
  e.completion_tokens = s.generated;
  s.stream->push(std::move(e));
  if (metrics_) {
    metrics_->observe_request_latency(std::chrono::duration<double>(Clock::now() - s.arrived).count());
    metrics_->add_prompt_tokens(int64_t(s.job.prompt.size()));
  }
  kv_in_use_ -= s.kv_bytes;
  s.cache = KVCache();  // frees the memory now
}

bool LlmEngine::advance(Sequence& s, std::span<float> logits) {
  const int64_t token = s.sampler->next(logits, s.history);
  const auto now = Clock::now();
  if (metrics_) {
    if (s.generated == 0)
      metrics_->observe_time_to_first_token(std::chrono::duration<double>(now - s.arrived).count());
    else
      metrics_->observe_time_per_token(std::chrono::duration<double>(now - s.last_token).count());
    metrics_->add_generated_tokens(1);
  }
  s.last_token = now;
  ++s.generated;
  s.history.push_back(token);
  const bool stop_id = (token == eos_ && !s.job.ignore_eos) || std::find(s.job.stop_ids.begin(), s.job.stop_ids.end(), token) !=
                                             s.job.stop_ids.end();
  if (stop_id) {
    finish(s, "stop");
    return false;
  }
  if (!s.job.stream && s.job.stop_strings.empty()) {
    s.text->append(token);  // decoded once, at the end
  } else {
    std::string delta = s.text->push(token);
    const bool stopped = s.text->stopped();
    if (!delta.empty() && s.job.stream) s.stream->push(text_event(std::move(delta)));
    if (stopped) {
      finish(s, "stop");
      return false;
    }
  }
  const int64_t total = int64_t(s.job.prompt.size()) + s.generated;
  const bool at_limit = s.job.max_tokens >= 0 && s.generated >= s.job.max_tokens;
  if (at_limit || total >= s.capacity) {
    finish(s, "length");
    return false;
  }
  s.next_token = token;
  return true;
}

void LlmEngine::prefill_one() {
  if (prefilling_.empty()) return;
  Sequence& s = *prefilling_.front();
  auto drop = [&](const std::string& reason, const std::string& error) {
    finish(s, reason, error);
    prefilling_.erase(prefilling_.begin());
  };
  if (s.stream->cancelled()) return drop("cancelled", "");
  try {
    if (!s.cache.layers().size()) {
      s.cache = model_.make_cache(1, s.capacity);
      s.history = s.job.prompt;
      s.sampler.emplace(s.job.sampling);
      s.text.emplace([this](std::span<const int64_t> ids) { return tokenizer_.decode(ids); }, s.job.prompt,
                     s.job.stop_strings);
    }
    if (s.job.max_tokens == 0) return drop("length", "");
    const int64_t n = int64_t(s.job.prompt.size());
    const int64_t end = std::min(n, s.prefilled + options_.prefill_chunk);
    std::vector<int64_t> chunk(s.job.prompt.begin() + s.prefilled, s.job.prompt.begin() + end);
    ModelInputs in;
    in.input_ids = Tensor::from_vector(chunk, {1, end - s.prefilled});
    Tensor logits = model_.forward_cached(in, s.cache, /*last_only=*/true);
    s.prefilled = end;
    if (metrics_) metrics_->observe_batch_size(1);
    if (end < n) return;
    // The prompt is in: the first token; the sequence moves to the decode set.
    const bool more = advance(s, std::span<float>(logits.data<float>(), size_t(logits.numel())));
    std::unique_ptr<Sequence> owned = std::move(prefilling_.front());
    prefilling_.erase(prefilling_.begin());
    if (more) running_.push_back(std::move(owned));
  } catch (const std::exception& e) {
    log_warn("serve: request failed in prefill: {}", e.what());
    drop("error", e.what());
  }
}

void LlmEngine::decode_all() {
  // Cancelled sequences leave before the step.
  for (auto it = running_.begin(); it != running_.end();) {
    if ((*it)->stream->cancelled()) {
      finish(**it, "cancelled");
      it = running_.erase(it);
    } else {
      ++it;
    }
  }
  if (running_.empty()) return;
  const int64_t n = int64_t(running_.size());
  std::vector<int64_t> tokens;
  std::vector<KVCache*> caches;
  for (auto& s : running_) {
    tokens.push_back(s->next_token);
    caches.push_back(&s->cache);
  }
  Tensor logits;
  try {
    logits = model_.decode_ragged(tokens, caches);
  } catch (const std::exception& e) {
    log_warn("serve: decode step failed: {}", e.what());
    for (auto& s : running_) finish(*s, "error", e.what());
    running_.clear();
    return;
  }
  if (metrics_) metrics_->observe_batch_size(n);
  const int64_t vocab = logits.dim(-1);
  std::vector<std::unique_ptr<Sequence>> still;
  for (int64_t i = 0; i < n; ++i) {
    std::span<float> row(logits.data<float>() + i * vocab, size_t(vocab));
    if (advance(*running_[size_t(i)], row)) still.push_back(std::move(running_[size_t(i)]));
  }
  running_ = std::move(still);
}

void LlmEngine::loop() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !waiting_.empty() || !prefilling_.empty() || !running_.empty(); });
      if (stopping_) break;
    }
    admit();
    prefill_one();
    decode_all();
    update_gauges();
  }
  // Stopping: everyone still here ends as cancelled.
  for (auto& s : prefilling_) finish(*s, "cancelled");
  for (auto& s : running_) finish(*s, "cancelled");
  prefilling_.clear();
  running_.clear();
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& s : waiting_) s->stream->push(final_event("cancelled"));
  waiting_.clear();
}

}  // namespace octet::serve
