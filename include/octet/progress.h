// A progress bar for long loops (calibration, evaluation, conversion).
//
//   octet::ProgressBar bar(batches.size(), "calibrating");
//   for (auto& b : batches) { run(b); bar.advance(); }
//   bar.finish();
//
// It draws on stderr only when stderr is a terminal, and then prints nothing
// at all otherwise (logs and pipes stay clean). Redraws are throttled (100 ms
// by default) and the first one comes only after one interval, so short loops
// never flash a bar. The line shows count/total, percent, rate and ETA, and is
// erased on finish(). advance() may be called from several threads at once.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>

namespace octet {

struct ProgressOptions {
  using Clock = std::chrono::steady_clock;
  std::ostream* stream = nullptr;       // nullptr: std::cerr
  std::optional<bool> is_tty;           // unset: isatty(stderr) when writing to std::cerr, else false
  std::function<Clock::time_point()> clock;  // unset: Clock::now
  std::chrono::milliseconds redraw_interval{100};
  int width = 0;            // columns; 0: $COLUMNS, the terminal's width, or 80
  std::string unit = "it";  // shown in the rate: "12.3 it/s"
};

class ProgressBar {
 public:
  // total <= 0 means unknown: the bar shows the count and rate only.
  ProgressBar(int64_t total, std::string label, ProgressOptions options = {});
  ~ProgressBar();  // finish()
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  void advance(int64_t n = 1);
  // Erases the bar if it is on screen; later advance() calls draw nothing. Idempotent.
  void finish();

  int64_t count() const { return count_.load(std::memory_order_relaxed); }
  int64_t total() const { return total_; }
  // Whether this bar draws at all (its stream is a terminal).
  bool drawing() const { return drawing_; }

  // The text of one bar line (no control characters), at most width - 1
  // columns so the terminal never wraps it.
  static std::string render(std::string_view label, int64_t count, int64_t total, double elapsed_seconds, int width,
                            std::string_view unit = "it");

 private:
  void draw_locked(ProgressOptions::Clock::time_point now);

  const int64_t total_;
  const std::string label_;
  ProgressOptions options_;
  std::ostream* stream_;
  bool drawing_;
  int width_;
  ProgressOptions::Clock::time_point start_;
  std::atomic<int64_t> count_{0};
  std::atomic<int64_t> next_draw_ns_;  // clock time (ns since its epoch) before which advance() does not redraw
  bool finished_ = false;              // guarded by detail::terminal_mutex()
};

}  // namespace octet
