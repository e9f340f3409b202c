#include "octet/progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <mutex>

#include <fmt/format.h>

#include "octet/log.h"

namespace octet {
namespace {

using Clock = ProgressOptions::Clock;

int64_t to_ns(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

int detect_width(bool is_stderr) {
  if (is_stderr) {
    winsize ws{};
    if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  }
  if (const char* env = std::getenv("COLUMNS")) {
    const int columns = std::atoi(env);
    if (columns > 0) return columns;
  }
  return 80;
}

// "0:54", "12:03", "1:02:03"; "--:--" when unknown.
std::string format_clock(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "--:--";
  if (seconds >= 100 * 3600.0) return ">99h";
  const auto s = static_cast<int64_t>(seconds);
  if (s < 3600) return fmt::format("{}:{:02}", s / 60, s % 60);
  return fmt::format("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60);
}

// Three significant digits with k/M/G suffixes: "0.25", "12.3", "456", "7.89k".
std::string format_rate(double per_second, std::string_view unit) {
  static constexpr const char* kSuffixes[] = {"", "k", "M", "G", "T"};
  int i = 0;
  while (per_second >= 999.5 && i < 4) {
    per_second /= 1000;
    ++i;
  }
  const int decimals = per_second >= 99.95 ? 0 : per_second >= 9.995 ? 1 : 2;
  return fmt::format("{:.{}f}{} {}/s", per_second, decimals, kSuffixes[i], unit);
}

// Cuts `text` to at most `max_bytes` without splitting a UTF-8 sequence.
void truncate_utf8(std::string& text, size_t max_bytes) {
  if (text.size() <= max_bytes) return;
  size_t cut = max_bytes;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  text.resize(cut);
}

}  // namespace

std::string ProgressBar::render(std::string_view label, int64_t count, int64_t total, double elapsed_seconds,
                                int width, std::string_view unit) {
  const double rate = elapsed_seconds > 0 ? static_cast<double>(count) / elapsed_seconds : 0.0;
  const std::string rate_text = elapsed_seconds > 0 ? format_rate(rate, unit) : fmt::format("-- {}/s", unit);
  // Terminals wrap a line that fills the last column, which would break the
  // carriage-return redraw; so keep one column free.
  const size_t max_columns = static_cast<size_t>(std::max(width - 1, 1));
  std::string line;
  if (total <= 0) {
    line = fmt::format("{} {} {} {} {}", label, count, unit, rate_text, format_clock(elapsed_seconds));
  } else {
    const double fraction = std::clamp(static_cast<double>(count) / static_cast<double>(total), 0.0, 1.0);
    const double eta = rate > 0 ? static_cast<double>(std::max<int64_t>(total - count, 0)) / rate : -1.0;
    // Floor, so 100% appears only when the work is done.
    const auto percent = static_cast<int>(std::floor(fraction * 100.0));
    const std::string tail =
        fmt::format("{}/{} {:3}% {} ETA {}", count, total, percent, rate_text, format_clock(eta));
    const size_t fixed = label.size() + tail.size() + 4;  // "label [" + "] " around the bar
    constexpr size_t kMinBar = 5;
    if (fixed + kMinBar <= max_columns) {
      const size_t bar_width = std::min<size_t>(max_columns - fixed, 40);
      const auto filled = static_cast<size_t>(std::floor(fraction * static_cast<double>(bar_width)));
      line = fmt::format("{} [{}{}] {}", label, std::string(filled, '#'), std::string(bar_width - filled, '-'), tail);
    } else {
      line = fmt::format("{} {}", label, tail);
    }
  }
  truncate_utf8(line, max_columns);
  return line;
}

ProgressBar::ProgressBar(int64_t total, std::string label, ProgressOptions options)
    : total_(total), label_(std::move(label)), options_(std::move(options)) {
  const bool is_stderr = options_.stream == nullptr || options_.stream == &std::cerr;
  stream_ = options_.stream ? options_.stream : &std::cerr;
  drawing_ = options_.is_tty.value_or(is_stderr && ::isatty(STDERR_FILENO) == 1);
  if (!options_.clock) options_.clock = [] { return Clock::now(); };
  width_ = options_.width > 0 ? options_.width : (drawing_ ? detect_width(is_stderr) : 80);
  start_ = options_.clock();
  next_draw_ns_.store(to_ns(start_ + options_.redraw_interval), std::memory_order_relaxed);
}

ProgressBar::~ProgressBar() {
  try {
    finish();
  } catch (...) {
    // A failing stream must not escape a destructor; the bar is cosmetic.
  }
}

void ProgressBar::advance(int64_t n) {
  count_.fetch_add(n, std::memory_order_relaxed);
  if (!drawing_) return;
  const Clock::time_point now = options_.clock();
  const int64_t now_ns = to_ns(now);
  if (now_ns < next_draw_ns_.load(std::memory_order_relaxed)) return;
  // Whoever holds the terminal is drawing or logging; skipping one redraw is fine.
  std::unique_lock<std::mutex> lock(detail::terminal_mutex(), std::try_to_lock);
  if (!lock.owns_lock() || finished_) return;
  if (now_ns < next_draw_ns_.load(std::memory_order_relaxed)) return;  // another thread just drew
  next_draw_ns_.store(to_ns(now + options_.redraw_interval), std::memory_order_relaxed);
  draw_locked(now);
}

void ProgressBar::draw_locked(Clock::time_point now) {
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const std::string line = render(label_, count(), total_, elapsed, width_, options_.unit);
  // \r returns to column 0; \033[K clears what a longer previous line left behind.
  *stream_ << '\r' << line << "\033[K" << std::flush;
  detail::status_line_stream() = stream_;
}

void ProgressBar::finish() {
  std::lock_guard<std::mutex> lock(detail::terminal_mutex());
  if (finished_) return;
  finished_ = true;
  if (drawing_ && detail::status_line_stream() == stream_) {
    *stream_ << "\r\033[K" << std::flush;
    detail::status_line_stream() = nullptr;
  }
}

}  // namespace octet
