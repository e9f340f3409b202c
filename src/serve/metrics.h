// Prometheus metrics for `octet serve` (GET /metrics, text exposition format
// 0.0.4). Thread-safe: the HTTP handlers and the scheduler thread update it.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace octet::serve {

// Cumulative histogram with fixed upper bounds (+Inf implied); bounds must be
// finite and strictly increasing (else octet::Error("serve")). NaN
// observations are dropped. Not synchronized itself: Metrics locks around it.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double value);
  // "<name>_bucket{le=\"...\"} n" lines, then _sum and _count.
  std::string render(std::string_view name) const;
  int64_t count() const { return count_; }
  double sum() const { return sum_; }

 private:
  std::vector<double> bounds_;
  std::vector<int64_t> counts_;  // per bucket, not cumulative
  int64_t count_ = 0;
  double sum_ = 0.0;
};

class Metrics {
 public:
  Metrics();
  // octet_requests_total{endpoint="/v1/completions",status="200"}. The
  // endpoint is escaped but should be a route name, not the raw request path
  // (every distinct value is a time series kept forever).
  void count_request(std::string_view endpoint, int status);
  void add_prompt_tokens(int64_t n);      // octet_prompt_tokens_total
  void add_generated_tokens(int64_t n);   // octet_generated_tokens_total
  void set_queue_length(int64_t n);       // octet_queue_length (gauge)
  void set_active_sequences(int64_t n);   // octet_active_sequences (gauge)
  void set_kv_cache_bytes(int64_t n);     // octet_kv_cache_bytes (gauge)
  void observe_time_to_first_token(double seconds);  // octet_time_to_first_token_seconds
  void observe_time_per_token(double seconds);       // octet_time_per_output_token_seconds
  void observe_request_latency(double seconds);      // octet_request_duration_seconds
  void observe_batch_size(int64_t rows);             // octet_batch_size (rows per model step)
  // The whole exposition, with # HELP and # TYPE lines for every metric.
  std::string render() const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, int64_t> requests_;
  int64_t prompt_tokens_ = 0, generated_tokens_ = 0;
  int64_t queue_length_ = 0, active_ = 0, kv_bytes_ = 0;
  Histogram ttft_, per_token_, latency_, batch_;
};

}  // namespace octet::serve
