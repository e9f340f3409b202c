#include "serve/metrics.h"

#include <cmath>

#include <fmt/format.h>

#include "octet/error.h"

namespace octet::serve {
namespace {

// Bucket bounds. A CPU server's first token ranges from milliseconds (short
// prompt, small model) to a minute (long prompt, 7B); a decode step from
// about a millisecond to seconds; batches are the power-of-two row counts the
// scheduler steps with.
const std::vector<double> kLatencyBounds = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
const std::vector<double> kPerTokenBounds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
const std::vector<double> kBatchBounds = {1, 2, 4, 8, 16, 32, 64, 128};

// Label values escape backslash, double quote and newline (exposition format 0.0.4).
std::string escape_label(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (const char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

// Shortest round-trip text ("0.005", "60", "1e-05"): Prometheus parses Go floats.
std::string number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  return fmt::format("{}", v);
}

void header(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

void sample(std::string& out, std::string_view name, int64_t value) { out += fmt::format("{} {}\n", name, value); }

}  // namespace

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {
  for (size_t i = 0; i < bounds_.size(); ++i) {
    check(std::isfinite(bounds_[i]), "serve", "histogram bound {} is not finite", bounds_[i]);
    // Not one check(i == 0 || ..., bounds_[i - 1]): check()'s arguments are evaluated before it tests its
    // condition, so at i == 0 that formed bounds_[-1] (UBSan, serve tests under scripts/sanitize.sh).
    if (i > 0)
      check(bounds_[i] > bounds_[i - 1], "serve", "histogram bounds must increase ({} after {})", bounds_[i],
            bounds_[i - 1]);
  }
}

void Histogram::observe(double value) {
  // A NaN would poison _sum for the life of the process; drop it.
  if (std::isnan(value)) return;
  size_t i = 0;
  while (i < bounds_.size() && value > bounds_[i]) ++i;  // le: value <= bound
  ++counts_[i];
  ++count_;
  sum_ += value;
}

std::string Histogram::render(std::string_view name) const {
  std::string out;
  int64_t cumulative = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, number(bounds_[i]), cumulative);
  }
  out += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n", name, count_);
  out += fmt::format("{}_sum {}\n{}_count {}\n", name, number(sum_), name, count_);
  return out;
}

Metrics::Metrics()
    : ttft_(kLatencyBounds), per_token_(kPerTokenBounds), latency_(kLatencyBounds), batch_(kBatchBounds) {}

void Metrics::count_request(std::string_view endpoint, int status) {
  std::lock_guard lock(mu_);
  ++requests_[{std::string(endpoint), status}];
}

void Metrics::add_prompt_tokens(int64_t n) {
  std::lock_guard lock(mu_);
  prompt_tokens_ += n;
}

void Metrics::add_generated_tokens(int64_t n) {
  std::lock_guard lock(mu_);
  generated_tokens_ += n;
}

void Metrics::set_queue_length(int64_t n) {
  std::lock_guard lock(mu_);
  queue_length_ = n;
}

void Metrics::set_active_sequences(int64_t n) {
  std::lock_guard lock(mu_);
  active_ = n;
}

void Metrics::set_kv_cache_bytes(int64_t n) {
  std::lock_guard lock(mu_);
  kv_bytes_ = n;
}

void Metrics::observe_time_to_first_token(double seconds) {
  std::lock_guard lock(mu_);
  ttft_.observe(seconds);
}

void Metrics::observe_time_per_token(double seconds) {
  std::lock_guard lock(mu_);
  per_token_.observe(seconds);
}

void Metrics::observe_request_latency(double seconds) {
  std::lock_guard lock(mu_);
  latency_.observe(seconds);
}

void Metrics::observe_batch_size(int64_t rows) {
  std::lock_guard lock(mu_);
  batch_.observe(static_cast<double>(rows));
}

std::string Metrics::render() const {
  std::lock_guard lock(mu_);
  std::string out;
  header(out, "octet_requests_total", "counter", "HTTP requests answered, by endpoint and status code.");
  for (const auto& [key, n] : requests_)
    out += fmt::format("octet_requests_total{{endpoint=\"{}\",status=\"{}\"}} {}\n", escape_label(key.first),
                       key.second, n);
  header(out, "octet_prompt_tokens_total", "counter", "Prompt tokens processed.");
  sample(out, "octet_prompt_tokens_total", prompt_tokens_);
  header(out, "octet_generated_tokens_total", "counter", "Tokens generated.");
  sample(out, "octet_generated_tokens_total", generated_tokens_);
  header(out, "octet_queue_length", "gauge", "Requests waiting to be scheduled.");
  sample(out, "octet_queue_length", queue_length_);
  header(out, "octet_active_sequences", "gauge", "Sequences being generated.");
  sample(out, "octet_active_sequences", active_);
  header(out, "octet_kv_cache_bytes", "gauge", "Bytes held by the KV cache.");
  sample(out, "octet_kv_cache_bytes", kv_bytes_);
  const std::pair<const char*, std::pair<const Histogram*, const char*>> histograms[] = {
      {"octet_time_to_first_token_seconds", {&ttft_, "Seconds from a request's arrival to its first generated token."}},
      {"octet_time_per_output_token_seconds", {&per_token_, "Seconds between successive generated tokens of a sequence."}},
      {"octet_request_duration_seconds", {&latency_, "Seconds from a request's arrival to its last byte."}},
      {"octet_batch_size", {&batch_, "Rows per model step."}},
  };
  for (const auto& [name, h] : histograms) {
    header(out, name, "histogram", h.second);
    out += h.first->render(name);
  }
  return out;
}

}  // namespace octet::serve
